//! The gateway's cookies (both ways) and the forwarding headers, as the
//! recording backend receives them; a backend that fails after its head.

use super::*;
use crate::gateway::recording::{self, Recorded, BACKEND_SET_COOKIES, DIES};
use crate::gateway::*;

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
    let resp = recording::get(port, "/app/cookies", &[&cookie]);
    assert_eq!(resp.status, 200, "{resp:?}");
    let got = s.main.since(before);
    assert_eq!(got[0].header("x-remote-user"), ["alice"]);
    assert_eq!(got[0].header("cookie"), [others.join("; ")]);

    // Every spelling of the gateway's names goes, also on a public route
    // and without a valid session.
    let before = s.main.count();
    recording::get(
        port,
        "/public/cookies",
        &["Cookie: Samlgate_Session=x; keep=1; __Host-samlgate_session=y; __Secure-samlgate_session_login_2=z; samlgate_session_9=w; samlgate_session =v; samlgate_session; other=2"],
    );
    assert_eq!(
        s.main.since(before)[0].header("cookie"),
        ["keep=1; other=2"]
    );
    // Only gateway cookies: no Cookie header at all.
    let before = s.main.count();
    recording::get(
        port,
        "/public/only",
        &[&format!("Cookie: {session}; {login_state}")],
    );
    assert!(s.main.since(before)[0].header("cookie").is_empty());
    // Two Cookie headers: joined, gateway cookies out.
    let before = s.main.count();
    recording::get(
        port,
        "/public/two",
        &["Cookie: a=1; samlgate_session=x", "Cookie: b=2"],
    );
    assert_eq!(s.main.since(before)[0].header("cookie"), ["a=1; b=2"]);

    // A route that opts in gets the header as sent.
    let before = s.main.count();
    let sent = format!("theme=dark; {session}; {login_state}; z=1");
    recording::get(port, "/passthru/x", &[&format!("Cookie: {sent}")]);
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
        let resp = recording::get(port, target, &extra);
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
    let resp = recording::get(s.h.gateway, "/public/xff", headers);
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
// A backend that fails after its head.

#[test]
fn an_upstream_that_fails_after_its_head_cuts_the_client_connection() {
    let s = path_setup(Options::default());
    for (path, dies) in DIES {
        let target = format!("/public{path}");
        let raw = recording::exchange_bytes(
            s.h.gateway,
            format!(
                "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                s.h.gateway
            )
            .as_bytes(),
        );
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{dies:?}: no head: {text:?}"));
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{dies:?}: {text:?}");
        let head = head.to_ascii_lowercase();
        // What the backend sent got through, and nothing else: no error
        // page appended to the body already started.
        assert!(body.contains("<p>partial"), "{dies:?}: {text:?}");
        assert!(
            !body.contains("upstream_") && !body.contains("<h1>"),
            "{dies:?}: an error page inside the body: {text:?}"
        );
        // And the message is not complete: a client cannot take the cut
        // page for the whole page.
        if head.contains("transfer-encoding: chunked") {
            // One chunk (hex size in either case), no last chunk.
            assert_eq!(
                body.to_ascii_lowercase(),
                "a\r\n<p>partial\r\n",
                "{dies:?}: {text:?}"
            );
        } else {
            assert!(head.contains("content-length: 100"), "{dies:?}: {text:?}");
            assert_eq!(body, "<p>partial", "{dies:?}: {text:?}");
        }
    }
    // A real client sees an error, not a page.
    for (path, dies) in DIES {
        let resp = plain_client()
            .get(s.h.url(&format!("/public{path}")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.text().is_err(),
            "{dies:?}: the cut body read as complete"
        );
    }
}
