//! The path harness of `gateway_request_path`: a gateway in front of two
//! recording backends, the test's own model of its routes (what each rule
//! allows, which paths are canonical), and the vectors of
//! `path/vectors.txt`.

mod headers;
mod sessions;

use reqwest::cookie::CookieStore;

use crate::gateway::recording::{self, Recorded, RecordingBackend};
use crate::gateway::*;

const VECTORS: &str = include_str!("../../crates/samlgate-gateway/src/path/vectors.txt");

// ---------------------------------------------------------------------
// The path harness and a model of its routes.

/// A gateway whose routes go to two recording backends: `main` (every
/// route of the standard harness plus `/a` with matrix parameters and
/// `/passthru` with the gateway's cookies) and `iis`, a case-insensitive
/// backend behind the admin-only `/iis` route.
pub(crate) struct PathSetup {
    pub(crate) h: Harness,
    pub(crate) main: RecordingBackend,
    pub(crate) iis: RecordingBackend,
}

pub(crate) fn path_setup(options: Options) -> PathSetup {
    let main = RecordingBackend::start();
    let iis = RecordingBackend::start();
    let routes = format!(
        r#"
[[route]]
path_prefix = "/iis"
upstreams = ["127.0.0.1:{iis}"]
case_insensitive = true
require = [{{ attribute = "groups", contains = "admins" }}]

[[route]]
path_prefix = "/a"
upstreams = ["127.0.0.1:{main}"]
allow_matrix_params = true

[[route]]
path_prefix = "/passthru"
upstreams = ["127.0.0.1:{main}"]
policy = "public"
pass_gateway_cookies = true
"#,
        iis = iis.port,
        main = main.port,
    );
    let h = Harness::start(Options {
        backend_port: Some(main.port),
        extra_toml: format!("{}\n{routes}", options.extra_toml),
        ..options
    });
    PathSetup { h, main, iis }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `policy = "sso"`, no rule.
    Sso,
    Public,
    /// Only `groups` containing `admins`.
    AdminOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Main,
    Iis,
}

pub(crate) struct RouteModel {
    pub(crate) prefix: &'static str,
    pub(crate) kind: Kind,
    pub(crate) case_insensitive: bool,
    pub(crate) matrix: bool,
    pub(crate) backend: Backend,
}

/// The routes of `path_setup`, written out again (not read from the
/// gateway): the test's own idea of what each rule allows.
pub(crate) const ROUTES: [RouteModel; 6] = [
    RouteModel {
        prefix: "/",
        kind: Kind::Sso,
        case_insensitive: false,
        matrix: false,
        backend: Backend::Main,
    },
    RouteModel {
        prefix: "/public",
        kind: Kind::Public,
        case_insensitive: false,
        matrix: false,
        backend: Backend::Main,
    },
    RouteModel {
        prefix: "/admin",
        kind: Kind::AdminOnly,
        case_insensitive: false,
        matrix: false,
        backend: Backend::Main,
    },
    RouteModel {
        prefix: "/iis",
        kind: Kind::AdminOnly,
        case_insensitive: true,
        matrix: false,
        backend: Backend::Iis,
    },
    RouteModel {
        prefix: "/a",
        kind: Kind::Sso,
        case_insensitive: false,
        matrix: true,
        backend: Backend::Main,
    },
    RouteModel {
        prefix: "/passthru",
        kind: Kind::Public,
        case_insensitive: false,
        matrix: false,
        backend: Backend::Main,
    },
];

/// A path segment as a Windows backend opens it: escapes decoded, an NTFS
/// stream suffix and trailing dots and spaces dropped, upper case.
pub(crate) fn windows_segment(segment: &str) -> String {
    let decoded = percent_decode(segment);
    let name = decoded.split(':').next().unwrap_or_default();
    name.trim_end_matches(['.', ' ']).to_ascii_uppercase()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` is `prefix` or below it, on segment boundaries.
pub(crate) fn under(path: &str, prefix: &str, case_insensitive: bool) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let have: Vec<&str> = path.split('/').collect();
    let want: Vec<&str> = prefix.split('/').collect();
    have.len() >= want.len()
        && want.iter().zip(&have).all(|(w, h)| {
            if case_insensitive {
                windows_segment(h) == windows_segment(w)
            } else {
                h == w
            }
        })
}

/// The route the model picks for a routing path: the longest prefix.
pub(crate) fn route_for(routing_path: &str) -> &'static RouteModel {
    ROUTES
        .iter()
        .filter(|r| under(routing_path, r.prefix, r.case_insensitive))
        .max_by_key(|r| r.prefix.len())
        .expect("the / route matches everything")
}

/// The path without `;params` in each segment (what a servlet container
/// routes on).
pub(crate) fn without_params(path: &str) -> String {
    path.split('/')
        .map(|s| s.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// An admin-only path in the model's terms: one that bob and anonymous
/// requests must never get to a backend.
pub(crate) fn is_admin_path(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or_default();
    let routing = without_params(path);
    ROUTES
        .iter()
        .filter(|r| r.kind == Kind::AdminOnly)
        .any(|r| under(&routing, r.prefix, r.case_insensitive))
}

/// Canonical by the issue's definition, checked without the gateway's
/// code: absolute, no empty, `.` or `..` segment (parameters aside), no
/// backslash, no escape of an unreserved character or of `/ \ % ; ? #`,
/// upper-case hex, no byte a path may not carry raw, and `;` only on the
/// route that allows matrix parameters.
pub(crate) fn looks_canonical(target: &str) -> Result<(), String> {
    let path = target.split('?').next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err("not absolute".into());
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let name = segment.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(format!("dot segment {segment:?}"));
        }
        if segment.is_empty() && i + 1 != segments.len() {
            return Err("empty segment".into());
        }
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' => {
                let hex = path.get(i + 1..i + 3).ok_or("broken escape")?;
                if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                    return Err(format!("lower-case escape %{hex}"));
                }
                let v = u8::from_str_radix(hex, 16).map_err(|_| "broken escape")?;
                if v.is_ascii_alphanumeric() || b"-._~/\\%;?#".contains(&v) {
                    return Err(format!("escape %{hex} of {:?}", v as char));
                }
            }
            0x21..=0x7e if !b"\"<>\\^`{|}[]#".contains(&b) => {}
            _ => return Err(format!("raw byte {b:#04x}")),
        }
    }
    if path.contains(';') && !route_for(&without_params(path)).matrix {
        return Err("matrix parameters on a route that does not allow them".into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum User {
    /// Signed in, not in `admins`.
    Bob,
    /// No session at all.
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Refused(u16, &'static str),
    /// A bare 400 from the HTTP/1.1 parser, before the gateway's handler
    /// (no reason code): bytes no request target may carry raw.
    ParserRefused,
    Forwarded(Backend, String),
}

/// hyper refuses a request target with these bytes (or one that is
/// neither origin, absolute, authority nor asterisk form) before any of
/// the gateway's code runs.
pub(crate) fn parser_refuses(raw: &str) -> bool {
    raw.starts_with(['?', '\\']) || raw.contains(['"', '<', '>', '{', '}', '|', '^', '`'])
}

pub(crate) const PATH_INVALID: Outcome = Outcome::Refused(400, "path_invalid");
pub(crate) const DENIED: Outcome = Outcome::Refused(403, "access_denied");
pub(crate) const UNAUTHENTICATED: Outcome = Outcome::Refused(401, "unauthenticated");

/// What the model expects for a canonical target (`forwarded`, routed on
/// `routing`, with `;` in the raw path when `params`).
pub(crate) fn expected_for(forwarded: &str, routing: &str, params: bool, user: User) -> Outcome {
    let route = route_for(routing);
    if params && !route.matrix {
        return PATH_INVALID;
    }
    match (route.kind, user) {
        (Kind::Public, _) | (Kind::Sso, User::Bob) => {
            Outcome::Forwarded(route.backend, forwarded.to_owned())
        }
        (Kind::AdminOnly, User::Bob) => DENIED,
        (_, User::Anonymous) => UNAUTHENTICATED,
    }
}

/// Sends `raw_target` as `user` and checks the outcome and what each
/// backend received.
pub(crate) fn check_target(s: &PathSetup, bob: &str, user: User, raw_target: &str, want: &Outcome) {
    let cookie = format!("Cookie: {bob}");
    let extra: Vec<&str> = match user {
        User::Bob => vec![cookie.as_str()],
        User::Anonymous => Vec::new(),
    };
    let (main_before, iis_before) = (s.main.count(), s.iis.count());
    let resp = recording::get(s.h.gateway, raw_target, &extra);
    let got_main = s.main.since(main_before);
    let got_iis = s.iis.since(iis_before);
    let context = format!(
        "{user:?} GET {raw_target:?}: {} {}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    match want {
        Outcome::Refused(status, code) => {
            assert_eq!(resp.status, *status, "{context}");
            assert_eq!(resp.error_code(), *code, "{context}");
            assert!(
                got_main.is_empty() && got_iis.is_empty(),
                "{context}: refused but forwarded {got_main:?} {got_iis:?}"
            );
        }
        Outcome::ParserRefused => {
            assert_eq!(resp.status, 400, "{context}");
            assert!(resp.header("x-request-id").is_empty(), "{context}");
            assert!(
                got_main.is_empty() && got_iis.is_empty(),
                "{context}: refused but forwarded {got_main:?} {got_iis:?}"
            );
        }
        Outcome::Forwarded(backend, target) => {
            assert_eq!(resp.status, 200, "{context}");
            let (got, other) = match backend {
                Backend::Main => (&got_main, &got_iis),
                Backend::Iis => (&got_iis, &got_main),
            };
            assert!(other.is_empty(), "{context}: reached the other backend");
            assert_eq!(got.len(), 1, "{context}: {got:?}");
            assert_eq!(&got[0].target, target, "{context}");
            assert_eq!(
                got[0].request_line,
                format!("GET {target} HTTP/1.1"),
                "{context}"
            );
        }
    }
}

/// bob's session cookies, from a real SP-initiated login.
pub(crate) fn login_bob(h: &Harness) -> String {
    let (client, jar) = browser_with_jar();
    let (landed, _) = login(h, &client, "/", "bob");
    assert_eq!(landed.status(), 200);
    let cookies = jar
        .cookies(&reqwest::Url::parse(&h.url("/")).unwrap())
        .expect("bob's session cookie");
    cookies.to_str().unwrap().to_owned()
}

pub(crate) fn assert_backends_saw_only_canonical_non_admin_paths(s: &PathSetup) {
    let all: Vec<Recorded> = s.main.all().into_iter().chain(s.iis.all()).collect();
    assert!(!all.is_empty());
    for r in &all {
        looks_canonical(&r.target).unwrap_or_else(|e| panic!("{}: {e}", r.request_line));
        assert!(
            !is_admin_path(&r.target),
            "an admin-only path reached a backend: {}",
            r.request_line
        );
    }
}

/// One line of `vectors.txt`.
pub(crate) struct Vector<'a> {
    pub(crate) raw: &'a str,
    /// `=TARGET`: the forwarded target, the routing path, `params`.
    pub(crate) accepted: Option<(&'a str, String, bool)>,
}

pub(crate) fn vectors() -> Vec<Vector<'static>> {
    VECTORS
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let raw = fields.next().unwrap();
            let outcome = fields.next().unwrap();
            let extra: Vec<&str> = fields.collect();
            let accepted = outcome.strip_prefix('=').map(|target| {
                let routing = extra
                    .iter()
                    .find_map(|f| f.strip_prefix("route="))
                    .map_or_else(
                        || without_params(target.split('?').next().unwrap_or_default()),
                        |r| r.to_owned(),
                    );
                (target, routing, extra.contains(&"params"))
            });
            Vector { raw, accepted }
        })
        .collect()
}
