//! Issue 11 end to end, over real sockets: a real `samlgate run`, the demo
//! IdP, and backends that record every request line and header they
//! receive. Requests go out as raw bytes on a `TcpStream` where a client
//! library would normalise them itself (reqwest folds `..` and `//`).
//!
//! - Route rules cannot be bypassed through path spellings: every form of
//!   the issue and every vector of `path/vectors.txt`, for a user the rule
//!   refuses and for a request without a session, is refused with its
//!   reason code or forwarded as the canonical path the rule allowed.
//! - Absolute-form targets: another host is refused, the same host goes on
//!   in origin form.
//! - The gateway's cookies stay the gateway's, both ways.
//! - X-Forwarded-For is replaced unless the peer is a trusted proxy;
//!   `Forwarded` and `X-Real-IP` never reach a backend.
//! - A full memory replay store still refuses every replay of what it
//!   admitted.
//! - check-config refuses plain-http metadata without a signing cert, an
//!   empty separator and the old `[replay]` table.
//! - A solicited Response without its login cookie is refused even where
//!   IdP-initiated login is allowed, and the refusal changes nothing.
//! - Under TLS: `__Host-` session cookie, `__Secure-` login states on the
//!   ACS path, at most four per browser.

mod gateway;

use std::sync::Arc;

use base64::Engine;
use gateway::raw::{self, Recorded, RecordingBackend, BACKEND_SET_COOKIES};
use gateway::*;
use reqwest::cookie::CookieStore;

const VECTORS: &str = include_str!("../crates/samlgate-gateway/src/path/vectors.txt");

// ---------------------------------------------------------------------
// The path harness and a model of its routes.

/// A gateway whose routes go to two recording backends: `main` (every
/// route of the standard harness plus `/a` with matrix parameters and
/// `/passthru` with the gateway's cookies) and `iis`, a case-insensitive
/// backend behind the admin-only `/iis` route.
struct PathSetup {
    h: Harness,
    main: RecordingBackend,
    iis: RecordingBackend,
}

fn path_setup(options: Options) -> PathSetup {
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
enum Kind {
    /// `policy = "sso"`, no rule.
    Sso,
    Public,
    /// Only `groups` containing `admins`.
    AdminOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Main,
    Iis,
}

struct RouteModel {
    prefix: &'static str,
    kind: Kind,
    case_insensitive: bool,
    matrix: bool,
    backend: Backend,
}

/// The routes of `path_setup`, written out again (not read from the
/// gateway): the test's own idea of what each rule allows.
const ROUTES: [RouteModel; 6] = [
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
fn windows_segment(segment: &str) -> String {
    let decoded = percent_decode(segment);
    let name = decoded.split(':').next().unwrap_or_default();
    name.trim_end_matches(['.', ' ']).to_ascii_uppercase()
}

fn percent_decode(s: &str) -> String {
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
fn under(path: &str, prefix: &str, case_insensitive: bool) -> bool {
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
fn route_for(routing_path: &str) -> &'static RouteModel {
    ROUTES
        .iter()
        .filter(|r| under(routing_path, r.prefix, r.case_insensitive))
        .max_by_key(|r| r.prefix.len())
        .expect("the / route matches everything")
}

/// The path without `;params` in each segment (what a servlet container
/// routes on).
fn without_params(path: &str) -> String {
    path.split('/')
        .map(|s| s.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// An admin-only path in the model's terms: one that bob and anonymous
/// requests must never get to a backend.
fn is_admin_path(target: &str) -> bool {
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
fn looks_canonical(target: &str) -> Result<(), String> {
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
enum User {
    /// Signed in, not in `admins`.
    Bob,
    /// No session at all.
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused(u16, &'static str),
    /// A bare 400 from the HTTP/1.1 parser, before the gateway's handler
    /// (no reason code): bytes no request target may carry raw.
    ParserRefused,
    Forwarded(Backend, String),
}

/// hyper refuses a request target with these bytes (or one that is
/// neither origin, absolute, authority nor asterisk form) before any of
/// the gateway's code runs.
fn parser_refuses(raw: &str) -> bool {
    raw.starts_with(['?', '\\']) || raw.contains(['"', '<', '>', '{', '}', '|', '^', '`'])
}

const PATH_INVALID: Outcome = Outcome::Refused(400, "path_invalid");
const DENIED: Outcome = Outcome::Refused(403, "access_denied");
const UNAUTHENTICATED: Outcome = Outcome::Refused(401, "unauthenticated");

/// What the model expects for a canonical target (`forwarded`, routed on
/// `routing`, with `;` in the raw path when `params`).
fn expected_for(forwarded: &str, routing: &str, params: bool, user: User) -> Outcome {
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
fn check_target(s: &PathSetup, bob: &str, user: User, raw_target: &str, want: &Outcome) {
    let cookie = format!("Cookie: {bob}");
    let extra: Vec<&str> = match user {
        User::Bob => vec![cookie.as_str()],
        User::Anonymous => Vec::new(),
    };
    let (main_before, iis_before) = (s.main.count(), s.iis.count());
    let resp = raw::get(s.h.gateway, raw_target, &extra);
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
fn login_bob(h: &Harness) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::blocking::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers({
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::ACCEPT, "text/html".parse().unwrap());
            headers
        })
        .build()
        .unwrap();
    let (landed, _) = login(h, &client, "/", "bob");
    assert_eq!(landed.status(), 200);
    let cookies = jar
        .cookies(&reqwest::Url::parse(&h.url("/")).unwrap())
        .expect("bob's session cookie");
    cookies.to_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------
// Route rules and path spellings.

#[test]
fn no_path_spelling_gets_past_a_route_rule() {
    let s = path_setup(Options::default());
    let bob = login_bob(&s.h);
    let main = |t: &str| Outcome::Forwarded(Backend::Main, t.to_owned());

    // Control: the plain forms do what the rules say.
    check_target(&s, &bob, User::Bob, "/admin/", &DENIED);
    check_target(&s, &bob, User::Anonymous, "/admin/", &UNAUTHENTICATED);
    check_target(&s, &bob, User::Bob, "/app/x", &main("/app/x"));
    check_target(&s, &bob, User::Anonymous, "/public/x", &main("/public/x"));
    // Prefixes match on segment boundaries.
    check_target(
        &s,
        &bob,
        User::Bob,
        "/administrator",
        &main("/administrator"),
    );
    check_target(&s, &bob, User::Anonymous, "/publicity", &UNAUTHENTICATED);

    // The issue's forms, for bob (refused by the admins rule) and for a
    // request without a session (through the public route). Each is
    // refused with its reason code or forwarded canonical.
    let table: [(&str, Outcome, Outcome); 22] = [
        ("//admin/", DENIED, UNAUTHENTICATED),
        ("/admin;x/", PATH_INVALID, PATH_INVALID),
        ("/%61dmin/", DENIED, UNAUTHENTICATED),
        ("/public/../admin/", DENIED, UNAUTHENTICATED),
        ("/./admin/", DENIED, UNAUTHENTICATED),
        ("/admin/./", DENIED, UNAUTHENTICATED),
        ("/%2e%2e/", PATH_INVALID, PATH_INVALID),
        ("/public/%2e%2e/admin/", PATH_INVALID, PATH_INVALID),
        ("/public/..%2fadmin/", PATH_INVALID, PATH_INVALID),
        ("/public;/../admin/", PATH_INVALID, PATH_INVALID),
        ("/public/..;/admin/", PATH_INVALID, PATH_INVALID),
        ("/admin%3b/", PATH_INVALID, PATH_INVALID),
        ("/public/%252e%252e/admin/", PATH_INVALID, PATH_INVALID),
        ("/%2561dmin/", PATH_INVALID, PATH_INVALID),
        ("/public/./x/../y", main("/public/y"), main("/public/y")),
        ("//public//%7ex", main("/public/~x"), main("/public/~x")),
        // Mixed case: the case-sensitive /admin rule does not cover
        // /ADMIN/ (the / route does: bob may, anonymous may not) ...
        ("/ADMIN/", main("/ADMIN/"), UNAUTHENTICATED),
        // ... while on the case-insensitive backend every spelling that
        // backend folds to /iis is the rule's.
        ("/IIS/", DENIED, UNAUTHENTICATED),
        ("/public/../iIs/x", DENIED, UNAUTHENTICATED),
        ("/%49is/", DENIED, UNAUTHENTICATED),
        ("/iis./x", DENIED, UNAUTHENTICATED),
        ("/iis::$INDEX_ALLOCATION/", DENIED, UNAUTHENTICATED),
    ];
    for (target, for_bob, for_anonymous) in &table {
        check_target(&s, &bob, User::Bob, target, for_bob);
        check_target(&s, &bob, User::Anonymous, target, for_anonymous);
    }
    // A backslash is never a path separator: refused, by the gateway
    // inside a path, by the HTTP parser at the start of the target.
    for user in [User::Bob, User::Anonymous] {
        check_target(&s, &bob, user, "/\\admin", &PATH_INVALID);
        check_target(&s, &bob, user, "/public/..\\admin/", &PATH_INVALID);
        check_target(&s, &bob, user, "\\admin", &Outcome::ParserRefused);
    }

    // Every backend request of this test: canonical, never admin-only.
    assert_backends_saw_only_canonical_non_admin_paths(&s);
    let m = s.h.metrics();
    assert!(sample(&m, "samlgate_rejections_total{reason=\"path_invalid\"}") >= 20.0);
}

fn assert_backends_saw_only_canonical_non_admin_paths(s: &PathSetup) {
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
struct Vector<'a> {
    raw: &'a str,
    /// `=TARGET`: the forwarded target, the routing path, `params`.
    accepted: Option<(&'a str, String, bool)>,
}

fn vectors() -> Vec<Vector<'static>> {
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

#[test]
fn every_path_vector_is_refused_or_forwarded_canonical_over_the_wire() {
    let s = path_setup(Options::default());
    let bob = login_bob(&s.h);
    let vectors = vectors();
    assert!(vectors.len() > 100, "{}", vectors.len());
    let (mut forwarded, mut refused) = (0, 0);
    for v in &vectors {
        for user in [User::Bob, User::Anonymous] {
            let want = match &v.accepted {
                _ if parser_refuses(v.raw) => Outcome::ParserRefused,
                // hyper drops a fragment (`#...`, never sent by browsers)
                // before the gateway sees the target: what is left is
                // routed and forwarded (here it is already canonical).
                _ if v.raw.contains('#') => {
                    let kept = v.raw.split('#').next().unwrap_or_default();
                    looks_canonical(kept).unwrap();
                    let routing = without_params(kept.split('?').next().unwrap_or_default());
                    expected_for(kept, &routing, false, user)
                }
                Some((target, routing, params)) => expected_for(target, routing, *params, user),
                // Not origin form: hyper takes `admin` for an authority and
                // `http://host/admin` for an absolute-form target; either
                // names another host than Host.
                None if !v.raw.starts_with(['/', '*']) => Outcome::Refused(400, "host_mismatch"),
                None => PATH_INVALID,
            };
            match want {
                Outcome::Forwarded(..) => forwarded += 1,
                _ => refused += 1,
            }
            check_target(&s, &bob, user, v.raw, &want);
        }
    }
    // The sweep went both ways.
    assert!(forwarded >= 30 && refused >= 150, "{forwarded} {refused}");
    assert_backends_saw_only_canonical_non_admin_paths(&s);
}

#[test]
fn absolute_form_targets_must_name_the_host_they_are_sent_to() {
    let s = path_setup(Options::default());
    let port = s.h.gateway;
    let request = |target: &str, host: &str| {
        let before = s.main.count();
        let resp = raw::exchange(
            port,
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        (resp, s.main.since(before))
    };
    let ours = format!("127.0.0.1:{port}");
    for (target, host) in [
        ("http://other/".to_owned(), ours.clone()),
        ("http://other.example/public/x".to_owned(), ours.clone()),
        (
            format!("http://127.0.0.1:{port}/public/x"),
            "other".to_owned(),
        ),
        ("http://127.0.0.1:1/public/x".to_owned(), ours.clone()),
        (format!("http://x@127.0.0.1:{port}/public/x"), ours.clone()),
    ] {
        let (resp, got) = request(&target, &host);
        assert_eq!(resp.status, 400, "{target} Host: {host}");
        assert_eq!(resp.error_code(), "host_mismatch", "{target} Host: {host}");
        assert!(got.is_empty(), "{target}: forwarded {got:?}");
    }
    // The same host: forwarded in origin form, canonical, query untouched.
    for (target, forwarded) in [
        (
            format!("http://127.0.0.1:{port}/public/x?q=%2e%2e"),
            "/public/x?q=%2e%2e",
        ),
        (format!("http://127.0.0.1:{port}//public/./y"), "/public/y"),
        (format!("HTTP://127.0.0.1:{port}/public/z"), "/public/z"),
    ] {
        let (resp, got) = request(&target, &ours);
        assert_eq!(resp.status, 200, "{target}");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].request_line, format!("GET {forwarded} HTTP/1.1"));
    }
    // The route rules hold for absolute-form targets too.
    let (resp, got) = request(&format!("http://127.0.0.1:{port}/public/../admin/"), &ours);
    assert_eq!(
        (resp.status, resp.error_code().as_str()),
        (401, "unauthenticated")
    );
    assert!(got.is_empty());
}

// ---------------------------------------------------------------------
// Cookies.

/// `name=value` of a Set-Cookie header.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

#[test]
fn the_gateways_cookies_never_reach_a_backend_and_a_backend_cannot_set_them() {
    let s = path_setup(Options::default());
    let port = s.h.gateway;
    // alice's real session, and a real login-state cookie (a login started
    // in the same browser and not finished).
    let client = browser();
    login(&s.h, &client, "/", "alice");
    let started = browser_no_redirect().get(s.h.url("/")).send().unwrap();
    assert_eq!(started.status(), 302);
    let login_state = cookie_pair(started.headers()["set-cookie"].to_str().unwrap()).to_owned();
    assert!(
        login_state.starts_with("samlgate_session_login_"),
        "{login_state}"
    );
    let session = session_cookie_of(&s.h, "alice");
    assert!(session.starts_with("samlgate_session="), "{session}");

    // Signed in: the session opens (identity headers), then goes; the
    // user's other cookies stay byte for byte, in order.
    let others = ["theme=dark", "q=\"a b\"", "enc=%41%2F", "empty=", "z=1"];
    let cookie = format!(
        "Cookie: {}; {session}; {}; {login_state}; {}; {}; {}",
        others[0], others[1], others[2], others[3], others[4]
    );
    let before = s.main.count();
    let resp = raw::get(port, "/app/cookies", &[&cookie]);
    assert_eq!(resp.status, 200, "{resp:?}");
    let got = s.main.since(before);
    assert_eq!(got[0].header("x-remote-user"), ["alice"]);
    assert_eq!(got[0].header("cookie"), [others.join("; ")]);

    // Every spelling of the gateway's names goes, also on a public route
    // and without a valid session.
    let before = s.main.count();
    raw::get(
        port,
        "/public/cookies",
        &["Cookie: Samlgate_Session=x; keep=1; __Host-samlgate_session=y; __Secure-samlgate_session_login_2=z; samlgate_session_9=w; other=2"],
    );
    assert_eq!(
        s.main.since(before)[0].header("cookie"),
        ["keep=1; other=2"]
    );
    // Only gateway cookies: no Cookie header at all.
    let before = s.main.count();
    raw::get(
        port,
        "/public/only",
        &[&format!("Cookie: {session}; {login_state}")],
    );
    assert!(s.main.since(before)[0].header("cookie").is_empty());
    // Two Cookie headers: joined, gateway cookies out.
    let before = s.main.count();
    raw::get(
        port,
        "/public/two",
        &["Cookie: a=1; samlgate_session=x", "Cookie: b=2"],
    );
    assert_eq!(s.main.since(before)[0].header("cookie"), ["a=1; b=2"]);

    // A route that opts in gets the header as sent.
    let before = s.main.count();
    let sent = format!("theme=dark; {session}; {login_state}; z=1");
    raw::get(port, "/passthru/x", &[&format!("Cookie: {sent}")]);
    assert_eq!(s.main.since(before)[0].header("cookie"), [sent]);

    // A backend's Set-Cookie naming the gateway's cookies (any case, any
    // prefix, chunks, login states) is dropped; its own cookies pass.
    let own: Vec<&str> = BACKEND_SET_COOKIES
        .iter()
        .copied()
        .filter(|c| !c.to_ascii_lowercase().contains("samlgate_session"))
        .collect();
    assert_eq!(own, ["app=1; Path=/", "pref=dark; Path=/; Max-Age=60"]);
    for (target, extra) in [
        ("/public/setcookies", Vec::new()),
        ("/setcookies", vec![format!("Cookie: {session}")]),
        ("/passthru/setcookies", Vec::new()),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let resp = raw::get(port, target, &extra);
        assert_eq!(resp.status, 200, "{target}");
        assert_eq!(resp.header("set-cookie"), own, "{target}");
    }
    // Through a real browser: the jar still holds alice's own session.
    let echo = client
        .get(s.h.url("/public/setcookies"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(echo, "recorded");
    let before = s.main.count();
    let back = client.get(s.h.url("/app/after")).send().unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(s.main.since(before)[0].header("x-remote-user"), ["alice"]);
    assert!(s
        .h
        .log_text()
        .contains("a backend tried to set the gateway's cookies"));
}

/// The session cookie of a fresh login of `user`: the Set-Cookie of the
/// ACS's 303, as `name=value`.
fn session_cookie_of(h: &Harness, user: &str) -> String {
    let client = browser_no_redirect();
    let page = client.get(h.url("/")).send().unwrap();
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    let idp_page = client.get(location).send().unwrap().text().unwrap();
    let (_, mut fields) = form_fields(&idp_page);
    fields.push(("username".into(), user.into()));
    fields.push(("password".into(), user.into()));
    let posted = client
        .post(format!("http://127.0.0.1:{}/sso", h.idp_port))
        .form(&fields)
        .send()
        .unwrap();
    let (action, acs_fields) = form_fields(&posted.text().unwrap());
    let landed = client.post(action).form(&acs_fields).send().unwrap();
    assert_eq!(landed.status(), 303);
    landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| cookie_pair(v.to_str().unwrap()).to_owned())
        .find(|c| c.starts_with("samlgate_session="))
        .expect("a session cookie")
}

// ---------------------------------------------------------------------
// Forwarding headers.

fn xff_request(s: &PathSetup, headers: &[&str]) -> Recorded {
    let before = s.main.count();
    let resp = raw::get(s.h.gateway, "/public/xff", headers);
    assert_eq!(resp.status, 200);
    let got = s.main.since(before);
    assert_eq!(got.len(), 1);
    got[0].clone()
}

#[test]
fn x_forwarded_for_is_replaced_unless_the_peer_is_a_trusted_proxy() {
    let s = path_setup(Options::default());
    let spoofed = [
        "X-Forwarded-For: 6.6.6.6",
        "Forwarded: for=6.6.6.6;proto=https",
        "X-Real-IP: 6.6.6.6",
        "x-real-ip: 6.6.6.7",
    ];
    let check_stripped = |r: &Recorded| {
        assert!(r.header("forwarded").is_empty(), "{r:?}");
        assert!(r.header("x-real-ip").is_empty(), "{r:?}");
    };
    // Not trusted: the client's value is replaced by the peer's address.
    let r = xff_request(&s, &spoofed);
    assert_eq!(r.header("x-forwarded-for"), ["127.0.0.1"]);
    check_stripped(&r);
    let r = xff_request(&s, &[]);
    assert_eq!(r.header("x-forwarded-for"), ["127.0.0.1"]);

    // Trust loopback (SIGHUP with server.trusted_proxies): the chain is
    // kept and extended with the peer.
    let text = std::fs::read_to_string(&s.h.config_path).unwrap();
    let trusted = text.replacen(
        "threads = 2",
        "threads = 2\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.0/8\"]",
        1,
    );
    assert_ne!(text, trusted);
    std::fs::write(&s.h.config_path, trusted).unwrap();
    sighup(&s.h);
    let r = xff_request(&s, &spoofed);
    assert_eq!(r.header("x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
    check_stripped(&r);
    let r = xff_request(
        &s,
        &[
            "X-Forwarded-For: 1.1.1.1",
            "X-Forwarded-For: 2.2.2.2, 3.3.3.3",
        ],
    );
    assert_eq!(
        r.header("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]
    );
    let r = xff_request(&s, &[]);
    assert_eq!(r.header("x-forwarded-for"), ["127.0.0.1"]);

    // Back to no trusted proxy: replaced again.
    std::fs::write(&s.h.config_path, text).unwrap();
    sighup(&s.h);
    let r = xff_request(&s, &spoofed);
    assert_eq!(r.header("x-forwarded-for"), ["127.0.0.1"]);
}

/// Sends SIGHUP and waits until the reload is counted.
fn sighup(h: &Harness) {
    let series = "samlgate_config_reloads_total{outcome=\"ok\"}";
    let before = sample(&h.metrics(), series);
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &h.pid().to_string()])
        .status()
        .unwrap()
        .success());
    wait_for(|| sample(&h.metrics(), series) > before);
}

fn wait_for(mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("condition not reached in 15 s");
}

// ---------------------------------------------------------------------
// The replay store at capacity.

#[test]
fn a_full_memory_replay_store_refuses_every_replay_of_what_it_admitted() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        extra_toml: "[store]\nbackend = \"memory\"\nmax_entries = 1000\n".into(),
        ..Options::default()
    });
    let client = plain_client();
    let post = |response: &str| {
        let resp = client
            .post(h.acs_url())
            .header("accept", "application/json")
            .form(&[("SAMLResponse", response)])
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let code = if status == 303 {
            String::new()
        } else {
            resp.json::<serde_json::Value>().unwrap()["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        (status, code)
    };
    // Fill it: 1,000 distinct assertions, each accepted once.
    for i in 0..1000 {
        assert_eq!(
            post(&h.response_b64(None)),
            (303, String::new()),
            "fill {i}"
        );
    }
    // Full: every new assertion is admitted, and its replay refused at
    // once, although admitting it had to evict another entry.
    for i in 0..100 {
        let response = h.response_b64(None);
        assert_eq!(post(&response), (303, String::new()), "new {i}");
        assert_eq!(post(&response), (403, "replayed".to_owned()), "replay {i}");
    }
    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"accepted\",reason=\"none\"}"
        ),
        1100.0
    );
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"rejected\",reason=\"replayed\"}"
        ),
        100.0
    );
    // The evictions are visible to the operator.
    assert_eq!(sample(&m, "samlgate_replay_store_evictions_total"), 100.0);
}

// ---------------------------------------------------------------------
// check-config.

fn check_config(text: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!(
        "samlgate-reqpath-check-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("samlgate.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CHECK_BASE: &str = r#"
[sp]
entity_id = "https://app.example.com/saml/metadata"
base_url = "https://app.example.com"
[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:8000"]
[session]
keys = ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]
"#;

#[test]
fn check_config_refuses_unsafe_metadata_an_empty_separator_and_the_old_replay_table() {
    let idp = |lines: &str| format!("{CHECK_BASE}\n[[idp]]\nname = \"corp\"\n{lines}\n");
    // Plain http metadata without a signing cert: anyone on the path
    // could swap the IdP's keys.
    let (code, err) = check_config(&idp("metadata_url = \"http://idp.example.com/md\""));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("idp[0].metadata_url:") && err.contains("plain http://"),
        "{err}"
    );
    // Accepted when explicitly allowed, and over https.
    for ok in [
        "metadata_url = \"http://127.0.0.1:8081/md\"\nallow_insecure_metadata = true",
        "metadata_url = \"https://idp.example.com/md\"",
    ] {
        let (code, err) = check_config(&idp(ok));
        assert_eq!(code, 0, "{ok}: {err}");
    }
    let https_idp = idp("metadata_url = \"https://idp.example.com/md\"");
    // An empty separator would run several values together.
    let (code, err) = check_config(&format!("{https_idp}\n[headers]\nseparator = \"\"\n"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("headers.separator:"), "{err}");
    // The old [replay] table: refused with the rename message.
    let (code, err) = check_config(&format!("{https_idp}\n[replay]\nmax_entries = 5000\n"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("replay:") && err.contains("now [store]"),
        "{err}"
    );
}

// ---------------------------------------------------------------------
// A solicited Response in another browser.

#[test]
fn a_solicited_response_without_its_login_cookie_is_refused_even_with_idp_initiated_allowed() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    // The genuine browser starts a login and signs in at the IdP.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let genuine = reqwest::blocking::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers({
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::ACCEPT, "text/html".parse().unwrap());
            headers
        })
        .build()
        .unwrap();
    let page = genuine.get(h.url("/mine")).send().unwrap();
    let (_, mut fields) = form_fields(&page.text().unwrap());
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), "alice".into()));
    let posted = genuine
        .post(format!("http://127.0.0.1:{}/sso", h.idp_port))
        .form(&fields)
        .send()
        .unwrap();
    let (action, acs_fields) = form_fields(&posted.text().unwrap());
    let response_xml = acs_fields
        .iter()
        .find(|(k, _)| k == "SAMLResponse")
        .map(|(_, v)| base64::engine::general_purpose::STANDARD.decode(v).unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&response_xml).contains("InResponseTo="));

    // Another browser (no login-state cookie) posts it first, with and
    // without the RelayState: refused, not taken as unsolicited.
    let without_relay: Vec<(String, String)> = acs_fields
        .iter()
        .filter(|(k, _)| k == "SAMLResponse")
        .cloned()
        .collect();
    for form in [&acs_fields, &without_relay] {
        let stolen = plain_client()
            .post(h.acs_url())
            .header("accept", "application/json")
            .form(form)
            .send()
            .unwrap();
        assert_eq!(stolen.status(), 403);
        assert!(stolen.headers().get("set-cookie").is_none());
        let body: serde_json::Value = stolen.json().unwrap();
        assert_eq!(body["error"], "in_response_to_mismatch");
    }
    // The refusals wrote nothing: the genuine browser still signs in.
    let landed = genuine.post(&action).form(&acs_fields).send().unwrap();
    assert_eq!(landed.status(), 200);
    assert_eq!(landed.url().as_str(), h.url("/mine"));
    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"rejected\",reason=\"in_response_to_mismatch\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"accepted\",reason=\"none\"}"
        ),
        1.0
    );
}

// ---------------------------------------------------------------------
// Cookie names under TLS.

#[test]
fn under_tls_the_session_is_a_host_cookie_and_login_states_are_few_and_scoped_to_the_acs() {
    let h = Harness::start(Options {
        tls: true,
        allow_idp_initiated: true,
        ..Options::default()
    });
    let resp = plain_client()
        .post(h.acs_url())
        .form(&[("SAMLResponse", h.response_b64(None).as_str())])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let set: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-samlgate_session="))
        .unwrap_or_else(|| panic!("{set:?}"));
    // What the __Host- prefix requires of it.
    assert!(
        session.contains("; Secure") && session.contains("; Path=/"),
        "{session}"
    );
    assert!(
        !session.to_ascii_lowercase().contains("domain="),
        "{session}"
    );

    // A real login over TLS works with those names.
    let client = browser();
    let (landed, _) = login(&h, &client, "/tls", "alice");
    assert_eq!(landed.status(), 200);

    // Ten logins started in one browser: each login state is __Secure-,
    // on the ACS path only, and the browser keeps at most four.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let many = reqwest::blocking::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let mut names = std::collections::BTreeSet::new();
    for i in 0..10 {
        let resp = many
            .get(h.url(&format!("/page/{i}")))
            .header("accept", "text/html")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 302);
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            assert!(
                c.starts_with("__Secure-samlgate_session_login_")
                    && c.contains("; Path=/saml/acs")
                    && c.contains("; Secure"),
                "{c}"
            );
            names.insert(c.split('=').next().unwrap().to_owned());
        }
    }
    assert!((1..=4).contains(&names.len()), "{names:?}");
    let at_acs = jar
        .cookies(&reqwest::Url::parse(&h.acs_url()).unwrap())
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let held = at_acs.split("; ").filter(|c| c.contains("_login_")).count();
    assert!((1..=4).contains(&held), "{at_acs}");
    // Not sent anywhere but the ACS.
    assert!(jar
        .cookies(&reqwest::Url::parse(&h.url("/page/0")).unwrap())
        .is_none());
}
