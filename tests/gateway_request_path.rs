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
//!
//! The path tests are here; the harness and the route model in
//! `request_path/mod.rs`; cookies and forwarding headers in
//! `request_path/headers.rs`; the rest in `request_path/sessions.rs`.

mod gateway;
mod request_path;

use gateway::recording;
use gateway::*;
use request_path::*;

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

    // The forms, for bob (refused by the admins rule) and for a
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
        let resp = recording::exchange(
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
