//! `samlgate run` end to end over real sockets: SP-initiated login through
//! a real IdP, replay, header spoofing, session tampering, RelayState,
//! malformed and hostile ACS posts, backend failure, SIGHUP reload, and the
//! metrics that count all of it.

mod gateway;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use gateway::*;
use samlgate_gateway::demo::idp::{DemoIdp, ResponseSpec};
use samlgate_gateway::seal::KeyRing;
use samlgate_gateway::session::{CookieSettings, Session};
use samlgate_saml::{Clock, SystemClock};

fn json_echo(
    client: &reqwest::blocking::Client,
    url: &str,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut req = client.get(url).header("accept", "application/json");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[test]
fn sp_initiated_login_reaches_the_backend_with_verified_headers() {
    let h = Harness::start(Options::default());
    let client = browser();
    let (landed, _) = login(&h, &client, "/app/page?x=1", "alice");
    assert_eq!(landed.status(), 200);
    assert_eq!(
        landed.url().as_str(),
        h.url("/app/page?x=1"),
        "back to the original URL"
    );

    let (status, echo) = json_echo(&client, &h.url("/app/page"), &[]);
    assert_eq!(status, 200);
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-remote-user"), ["alice"]);
    assert_eq!(header(&headers, "x-remote-groups"), ["staff;admins"]);
    assert_eq!(header(&headers, "x-remote-email"), ["alice@example.org"]);
    assert_eq!(header(&headers, "x-forwarded-proto"), ["http"]);
    assert_eq!(header(&headers, "x-forwarded-for"), ["127.0.0.1"]);
    // The gateway's cookies stay the gateway's: the backend never sees
    // the session (a bearer credential for the user).
    assert!(
        header(&headers, "cookie")
            .iter()
            .all(|c| !c.contains("samlgate_session")),
        "{headers:?}"
    );

    // The attribute rule: alice is in admins; bob is not.
    let (status, _) = json_echo(&client, &h.url("/admin/"), &[]);
    assert_eq!(status, 200);
    let bob = browser();
    let (landed, _) = login(&h, &bob, "/", "bob");
    assert_eq!(landed.status(), 200);
    let (status, page) = json_echo(&bob, &h.url("/admin/"), &[]);
    assert_eq!(status, 403);
    assert_eq!(page["error"], "access_denied");

    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"accepted\",reason=\"none\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(&m, "samlgate_sessions_issued_total{idp=\"corp\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "samlgate_login_redirects_total{idp=\"corp\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "samlgate_rejections_total{reason=\"access_denied\"}"),
        1.0
    );
}

#[test]
fn the_same_response_posted_twice_is_replayed() {
    // An attacker who captured a user's ACS post, login-state cookie
    // included, posts it again: replayed. The user's own login went first.
    let h = Harness::start(Options::default());
    let (client, jar) = browser_with_jar();
    let (action, acs_fields) = sign_in_at_idp(&h, &client, "/", "alice");
    use reqwest::cookie::CookieStore;
    let login_cookie = jar
        .cookies(&reqwest::Url::parse(&action).unwrap())
        .expect("the login-state cookie, sent to the ACS path");
    let landed = client.post(&action).form(&acs_fields).send().unwrap();
    assert_eq!(landed.status(), 200);
    let again = plain_client()
        .post(h.acs_url())
        .header("accept", "application/json")
        .header("cookie", login_cookie)
        .form(&acs_fields)
        .send()
        .unwrap();
    assert_eq!(again.status(), 403);
    let body: serde_json::Value = again.json().unwrap();
    assert_eq!(body["error"], "replayed");
    let id = body["request_id"].as_str().unwrap().to_owned();
    // The same request ID is in the log line (read from the process's
    // stderr by another thread: poll).
    wait_for(|| h.log_text().contains(&id));
    let log = h.log_text();
    let line = log.lines().find(|l| l.contains(&id)).unwrap();
    assert!(line.contains("replayed"), "{line}");
    // Without the login-state cookie the same Response is refused before
    // the replay store is asked (it answers a login this browser did not
    // start).
    let stranger = plain_client()
        .post(h.acs_url())
        .header("accept", "application/json")
        .form(&acs_fields)
        .send()
        .unwrap();
    assert_eq!(stranger.status(), 403);
    let body: serde_json::Value = stranger.json().unwrap();
    assert_eq!(body["error"], "in_response_to_mismatch");
}

#[test]
fn spoofed_identity_headers_never_reach_the_backend() {
    let h = Harness::start(Options::default());
    let spoof = [
        ("X-Remote-User", "mallory"),
        ("x_remote_user", "mallory"),
        ("REMOTE-USER", "mallory"),
        ("Remote_User", "mallory"),
        ("X-Forwarded-User", "mallory"),
        ("x-remote-groups", "admins"),
        ("X_Remote_Email", "mallory@evil"),
        // Hop-by-hop trick: ask the next hop to drop the injected header.
        ("Connection", "X-Remote-User"),
        // Headers the gateway sets for the backend are replaced, not kept.
        ("X-Request-Id", "mallory-id"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "mallory.example"),
    ];
    // Public route, no session: every spelling stripped, nothing injected.
    let anonymous = plain_client();
    let (status, echo) = json_echo(&anonymous, &h.url("/public/x"), &spoof);
    assert_eq!(status, 200);
    let headers = echoed_headers(&echo);
    for (name, _) in &headers {
        let folded = name.to_ascii_lowercase().replace('_', "-");
        assert!(
            ![
                "x-remote-user",
                "remote-user",
                "x-forwarded-user",
                "x-remote-groups",
                "x-remote-email"
            ]
            .contains(&folded.as_str()),
            "{name} reached the backend"
        );
    }
    // With a session: only the verified values.
    let client = browser();
    login(&h, &client, "/", "bob");
    let (status, echo) = json_echo(&client, &h.url("/app"), &spoof);
    assert_eq!(status, 200);
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-remote-user"), ["bob"]);
    assert_eq!(header(&headers, "x-remote-groups"), ["staff"]);
    assert!(header(&headers, "x_remote_user").is_empty());
    assert!(
        header(&headers, "remote-user").is_empty() && header(&headers, "remote_user").is_empty()
    );
    let request_ids = header(&headers, "x-request-id");
    assert_eq!(request_ids.len(), 1, "{echo}");
    assert_eq!(header(&headers, "x-forwarded-proto"), ["http"]);
    let host = h
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(header(&headers, "x-forwarded-host"), [host]);
    assert!(!echo.to_string().contains("mallory"), "{echo}");
}

#[test]
fn tampered_or_expired_sessions_go_back_to_the_idp() {
    let h = Harness::start(Options::default());
    let ring = KeyRing::new(&[SESSION_KEY]).unwrap();
    let settings = CookieSettings {
        name: "samlgate_session".into(),
        max_bytes: 16 * 1024,
        secure: false,
        acs_path: "/saml/acs".into(),
        slo_path: "/saml/logout".into(),
    };
    let now = SystemClock.now().unix_millis() / 1000;
    let session = |expires: i64| Session {
        idp: "corp".into(),
        issuer: h.idp.entity_id.clone(),
        name_id: "alice".into(),
        name_id_format: None,
        session_index: None,
        attributes: Vec::new(),
        issued: now - 100,
        expires,
        name_qualifier: None,
        sp_name_qualifier: None,
        session_id: String::new(),
        assertion_issued_ms: (now - 100) * 1000,
    };
    let cookie_header = |set: Vec<String>| {
        set.iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let client = plain_client();
    // Control: a session sealed with the configured key is accepted.
    let good = cookie_header(
        settings
            .session_cookies(&ring, &session(now + 600), 600)
            .unwrap(),
    );
    let resp = client
        .get(h.url("/"))
        .header("cookie", &good)
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Expired inside the seal.
    let expired = cookie_header(
        settings
            .session_cookies(&ring, &session(now - 1), 600)
            .unwrap(),
    );
    // Tampered: one character of the sealed value changed.
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // Sealed under another key.
    let other = KeyRing::new(&[[7; 32]]).unwrap();
    let foreign = cookie_header(
        settings
            .session_cookies(&other, &session(now + 600), 600)
            .unwrap(),
    );
    for cookie in [expired, tampered, foreign] {
        let resp = client
            .get(h.url("/"))
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 302, "{cookie}");
        let location = resp.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(&format!("http://127.0.0.1:{}/sso?SAMLRequest=", h.idp_port)),
            "{location}"
        );
        // An API client gets 401, not a redirect.
        let api = client
            .get(h.url("/"))
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .send()
            .unwrap();
        assert_eq!(api.status(), 401);
        assert!(api.headers().contains_key("www-authenticate"));
    }
}

#[test]
fn unsolicited_relay_state_off_host_is_ignored() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    let client = plain_client();
    let cases = [
        ("https://evil.example/steal", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("///evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("https:\\\\evil.example", "/"),
        ("http:evil.example", "/"),
        ("https://127.0.0.1@evil.example/", "/"),
        ("https://evil.example%2f@127.0.0.1/", "/"),
        ("https://127.0.0.1.evil.example/", "/"),
        ("/ok\r\nLocation: https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("data:text/html,<script>alert(1)</script>", "/"),
        ("/local/path?a=1", "/local/path?a=1"),
        (
            &*format!("http://127.0.0.1:{}/deep/link", h.gateway),
            "/deep/link",
        ),
    ];
    for (relay, expected) in cases {
        let resp = client
            .post(h.acs_url())
            .form(&[
                ("SAMLResponse", h.response_b64(None).as_str()),
                ("RelayState", relay),
            ])
            .send()
            .unwrap();
        assert_eq!(resp.status(), 303, "{relay}");
        assert_eq!(resp.headers()["location"], expected, "{relay}");
    }
    // A return path like //evil.example from the request line is not kept
    // through an SP-initiated login.
    let raw = browser_no_redirect();
    let resp = raw.get(h.url("//evil.example/x")).send().unwrap();
    assert_eq!(resp.status(), 302);
    {
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let relay = reqwest::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "RelayState")
            .unwrap()
            .1
            .into_owned();
        let request_id = {
            let url = reqwest::Url::parse(&location).unwrap();
            let encoded = url
                .query_pairs()
                .find(|(k, _)| k == "SAMLRequest")
                .unwrap()
                .1
                .into_owned();
            let xml = samlgate_saml::inflate_redirect_message(&encoded).unwrap();
            let text = String::from_utf8(xml).unwrap();
            let start = text.find(" ID=\"").unwrap() + 5;
            text[start..start + text[start..].find('"').unwrap()].to_owned()
        };
        let resp = raw
            .post(h.acs_url())
            .form(&[
                ("SAMLResponse", h.response_b64(Some(&request_id)).as_str()),
                ("RelayState", &relay),
            ])
            .send()
            .unwrap();
        assert_eq!(resp.status(), 303);
        // The request path was made canonical (`//` merged) before it was
        // kept: a path on this gateway, never `//evil.example`.
        assert_eq!(resp.headers()["location"], "/evil.example/x");
    }
    // Without allow_idp_initiated the same Response is refused: see
    // hostile_acs_posts_get_the_right_status_page_and_metric.
}

#[test]
fn hostile_acs_posts_get_the_right_status_page_and_metric() {
    let h = Harness::start(Options::default());
    let client = plain_client();
    let post = |body: Vec<(&str, String)>| {
        let resp = client
            .post(h.acs_url())
            .header("accept", "application/json")
            .form(&body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().unwrap();
        (status, v["error"].as_str().unwrap_or("").to_owned())
    };
    let now = SystemClock.now();
    // A second IdP that nobody trusts, and a trusted IdP speaking to
    // another SP.
    let stranger = DemoIdp::new("http://127.0.0.1:1", "x", &h.acs_url()).unwrap();
    let foreign = stranger
        .response_for(&samlgate_gateway::demo::idp::USERS[0], None, now)
        .unwrap();
    let wrong_audience = ResponseSpec {
        issuer: &h.idp.entity_id,
        audience: "https://another-sp.example/",
        acs_url: &h.acs_url(),
        in_response_to: None,
        name_id: "alice",
        attributes: &[],
        now,
        lifetime_seconds: 300,
    }
    .signed_xml(&h.idp.key)
    .unwrap();
    let expired = ResponseSpec {
        issuer: &h.idp.entity_id,
        audience: &format!("http://127.0.0.1:{}/saml/metadata", h.gateway),
        acs_url: &h.acs_url(),
        in_response_to: None,
        name_id: "alice",
        attributes: &[],
        now: now.plus_seconds(-3600),
        lifetime_seconds: 300,
    }
    .signed_xml(&h.idp.key)
    .unwrap();
    let b64 = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
    type Case<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("RelayState", "x".into())], 400, "malformed_input"),
        (
            vec![("SAMLResponse", "%%% not base64 %%%".into())],
            400,
            "malformed_input",
        ),
        (
            vec![("SAMLResponse", b64(b"<samlp:Response"))],
            400,
            "malformed_xml",
        ),
        (vec![("SAMLResponse", b64(&foreign))], 403, "unknown_issuer"),
        (
            vec![("SAMLResponse", b64(&wrong_audience))],
            403,
            "audience_mismatch",
        ),
        (vec![("SAMLResponse", b64(&expired))], 403, "expired"),
        // Trusted and valid, but unsolicited while IdP-initiated is off.
        (
            vec![("SAMLResponse", h.response_b64(None))],
            403,
            "in_response_to_mismatch",
        ),
        (
            vec![
                ("SAMLResponse", h.response_b64(None)),
                ("RelayState", "r".repeat(81)),
            ],
            400,
            "relay_state_invalid",
        ),
    ];
    for (body, status, reason) in &cases {
        assert_eq!(
            post(body.clone()),
            (*status, reason.to_string()),
            "{body:?}"
        );
    }
    // The same field twice, and a body that is not a urlencoded form.
    let twice = format!(
        "SAMLResponse={}&SAMLResponse={}",
        h.response_b64(None),
        h.response_b64(None)
    );
    let resp = client
        .post(h.acs_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(twice.replace('+', "%2B"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().unwrap()["error"],
        "malformed_input"
    );
    let resp = client
        .post(h.acs_url())
        .header("content-type", "multipart/form-data; boundary=x")
        .body(
            "--x\r\nContent-Disposition: form-data; name=\"SAMLResponse\"\r\n\r\nabc\r\n--x--\r\n",
        )
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Oversized body: refused before it is read.
    let big = "A".repeat(300 * 1024);
    let resp = client
        .post(h.acs_url())
        .form(&[("SAMLResponse", big.as_str())])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 413);
    let html = resp.text().unwrap();
    assert!(
        html.contains("too_large") && html.contains("Request ID"),
        "{html}"
    );
    // GET on the ACS.
    assert_eq!(client.get(h.acs_url()).send().unwrap().status(), 405);

    let m = h.metrics();
    for (reason, n) in [
        ("malformed_input", 4.0),
        ("malformed_xml", 1.0),
        ("unknown_issuer", 1.0),
        ("audience_mismatch", 1.0),
        ("expired", 1.0),
        ("too_large", 1.0),
    ] {
        let got: f64 = m
            .lines()
            .filter(|l| {
                l.starts_with("samlgate_acs_total{") && l.contains(&format!("reason=\"{reason}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(got, n, "{reason}\n{m}");
    }
    // The error page leaks nothing about keys or the message.
    let resp = client
        .post(h.acs_url())
        .form(&[("SAMLResponse", b64(&foreign))])
        .send()
        .unwrap();
    let page = resp.text().unwrap();
    assert!(
        !page.contains("BEGIN") && !page.contains("sha256:") && !page.contains("Signature"),
        "{page}"
    );
}

#[test]
fn backend_down_is_502_and_counted() {
    let h = Harness::start(Options::default());
    let client = browser();
    login(&h, &client, "/", "alice");
    let (status, body) = json_echo(&client, &h.url("/down/x"), &[]);
    assert_eq!(status, 502);
    assert_eq!(body["error"], "upstream_unavailable");
    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_upstream_errors_total{kind=\"connect\",route=\"*/down\"}"
        ),
        1.0,
        "{m}"
    );
}

#[test]
fn sighup_with_an_invalid_config_keeps_serving_and_a_valid_one_applies() {
    let h = Harness::start(Options::default());
    let client = browser();
    login(&h, &client, "/", "alice");
    let good = std::fs::read_to_string(&h.config_path).unwrap();
    std::fs::write(
        &h.config_path,
        good.replace("threads = 2", "threads = \"many\""),
    )
    .unwrap();
    let hup = |pid: u32| {
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    hup(h.pid());
    wait_for(|| {
        sample(
            &h.metrics(),
            "samlgate_config_reloads_total{outcome=\"failed\"}",
        ) == 1.0
    });
    let (status, echo) = json_echo(&client, &h.url("/"), &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&echoed_headers(&echo), "x-remote-user"), ["alice"]);

    // A valid change: the user header gets another name.
    std::fs::write(
        &h.config_path,
        good.replace("name = \"X-Remote-User\"", "name = \"X-Auth-User\""),
    )
    .unwrap();
    hup(h.pid());
    wait_for(|| {
        sample(
            &h.metrics(),
            "samlgate_config_reloads_total{outcome=\"ok\"}",
        ) == 1.0
    });
    let (_, echo) = json_echo(&client, &h.url("/"), &[]);
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-auth-user"), ["alice"], "{echo}");
    assert!(
        header(&headers, "x-remote-user").is_empty(),
        "still stripped by default"
    );
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let h = Harness::start(Options::default());
    let client = browser();
    login(&h, &client, "/", "alice");
    let m = h.metrics();
    for line in m.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("samlgate_"), "{line}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
    }
    for family in [
        "samlgate_requests_total",
        "samlgate_acs_total",
        "samlgate_acs_validation_seconds_bucket",
        "samlgate_replay_store_entries",
        "samlgate_sessions_issued_total",
        "samlgate_upstream_seconds_bucket",
        "samlgate_idp_metadata_age_seconds",
        "samlgate_build_info",
    ] {
        assert!(m.contains(family), "{family} missing:\n{m}");
    }
    assert_eq!(sample(&m, "samlgate_replay_store_entries"), 1.0);
    // promtool (Debian prometheus) lints the exposition as Prometheus does.
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(m.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool (apt-get install prometheus; scripts/deps.sh does)");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_real_prometheus_scrapes_the_admin_listener_and_the_rules_load() {
    let h = Harness::start(Options::default());
    let client = browser();
    login(&h, &client, "/", "alice");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus/alerts.yml");
    let check = std::process::Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
        .expect("promtool");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let dir = h.dir.join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(rules, dir.join("alerts.yml")).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: samlgate\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            h.admin
        ),
    )
    .unwrap();
    let port = free_port();
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus (apt-get install prometheus)");
    let query = |q: &str| -> Option<f64> {
        let v: serde_json::Value = plain_client()
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", q)])
            .send()
            .ok()?
            .json()
            .ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        seen = query("samlgate_sessions_issued_total{idp=\"corp\"}");
        if seen.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let up = query("up{job=\"samlgate\"}");
    let rules_loaded: serde_json::Value = plain_client()
        .get(format!("http://127.0.0.1:{port}/api/v1/rules"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(seen, Some(1.0), "Prometheus scraped the session counter");
    assert_eq!(up, Some(1.0));
    let groups = rules_loaded["data"]["groups"].as_array().unwrap();
    let loaded: usize = groups
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    let written = std::fs::read_to_string(rules)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert!(written > 0);
    assert_eq!(loaded, written, "every rule of alerts.yml loaded");
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

fn group_ids(n: usize) -> Vec<String> {
    // GUID-like object IDs, as Entra sends group claims: they barely compress.
    (0..n)
        .map(|i| {
            let h = openssl::sha::sha256(&(i as u64).to_le_bytes());
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
        })
        .collect()
}

fn unsolicited_with_groups(h: &Harness, groups: Vec<String>) -> String {
    let attributes = [("groups", groups)];
    let xml = ResponseSpec {
        issuer: &h.idp.entity_id,
        audience: &format!("http://127.0.0.1:{}/saml/metadata", h.gateway),
        acs_url: &h.acs_url(),
        in_response_to: None,
        name_id: "carol",
        attributes: &attributes,
        now: SystemClock.now(),
        lifetime_seconds: 300,
    }
    .signed_xml(&h.idp.key)
    .unwrap();
    base64::engine::general_purpose::STANDARD.encode(xml)
}

#[test]
fn sessions_with_many_group_claims_span_several_cookies_and_past_the_cap_fail_clearly() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    // 150 group GUIDs: ~6 KB of claims, more than one 4 KB cookie.
    let client = browser_no_redirect();
    let resp = client
        .post(h.acs_url())
        .form(&[
            (
                "SAMLResponse",
                unsolicited_with_groups(&h, group_ids(150)).as_str(),
            ),
            ("RelayState", "/groups"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let set: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|c| !c.contains("Max-Age=0"))
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("samlgate_session_1=")),
        "chunked: {set:?}"
    );
    let (status, echo) = json_echo(&client, &h.url("/groups"), &[]);
    assert_eq!(status, 200);
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-remote-user"), ["carol"]);
    let groups = header(&headers, "x-remote-groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].split(';').count(), 150);
    assert_eq!(groups[0], group_ids(150).join(";"));
    // The chunks opened together, and none of them went to the backend.
    assert!(header(&headers, "cookie")
        .iter()
        .all(|c| !c.contains("samlgate_session")));

    // 1,000 groups (~40 KB of claims) is past the 16 KiB cookie cap: a clear
    // page and a metric, no cookie and no redirect.
    let raw = plain_client();
    let resp = raw
        .post(h.acs_url())
        .form(&[(
            "SAMLResponse",
            unsolicited_with_groups(&h, group_ids(1000)).as_str(),
        )])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("samlgate_session=")));
    let page = resp.text().unwrap();
    assert!(
        page.contains("session_too_large") && page.contains("group memberships"),
        "{page}"
    );
    assert_eq!(
        sample(&h.metrics(), "samlgate_sessions_too_large_total"),
        1.0
    );
}

#[test]
fn check_config_reports_every_problem_with_its_path() {
    let dir = std::env::temp_dir().join(format!("samlgate-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
threads = 0
[sp]
entity_id = ""
base_url = "app.example.com"
[[idp]]
name = "corp"
metadata_file = "missing.xml"
[[route]]
upstreams = ["nohost"]
idp = "other"
[session]
keys = ["short"]
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "server.threads:",
        "sp.entity_id:",
        "sp.base_url:",
        "route[0].upstreams[0]:",
        "route[0].idp:",
        "session.keys[0]:",
    ] {
        assert!(stderr.contains(expected), "{expected} missing:\n{stderr}");
    }
    // Once it parses, missing files are reported with their paths too.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("threads = 0", "threads = 1")
        .replace(
            "entity_id = \"\"",
            "entity_id = \"https://app.example.com/saml\"",
        )
        .replace("\"app.example.com\"", "\"https://app.example.com\"")
        .replace("nohost", "127.0.0.1:8000")
        .replace("idp = \"other\"", "idp = \"corp\"")
        .replace("short", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    std::fs::write(&path, fixed).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("idp[0].metadata_file:") && stderr.contains("missing.xml"),
        "{stderr}"
    );
    std::fs::write(dir.join("missing.xml"), "<x/>").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --deep loads the metadata: "<x/>" is not metadata.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .args(["check-config", "--deep"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("idp[0] (corp)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_listener_sets_secure_cookies_and_the_login_survives_the_cross_site_post() {
    let h = Harness::start(Options {
        tls: true,
        ..Options::default()
    });
    let raw = browser_no_redirect();
    let resp = raw.get(h.url("/tls")).send().unwrap();
    assert_eq!(resp.status(), 302);
    let login_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        login_cookie.contains("Secure")
            && login_cookie.contains("SameSite=None")
            && login_cookie.contains("HttpOnly"),
        "{login_cookie}"
    );
    let client = browser();
    let (landed, fields) = login(&h, &client, "/tls", "alice");
    assert_eq!(landed.status(), 200);
    assert!(landed.url().as_str().starts_with("https://"));
    let (_, echo) = json_echo(&client, &h.url("/tls"), &[]);
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-remote-user"), ["alice"]);
    assert_eq!(header(&headers, "x-forwarded-proto"), ["https"]);
    // The session cookie itself: replay the Response on a fresh client to
    // read the Set-Cookie of the 303 (the first use consumed it: replayed).
    let again = plain_client()
        .post(h.acs_url())
        .form(&fields)
        .send()
        .unwrap();
    assert_eq!(again.status(), 403);
}

#[test]
fn session_cookie_flags_over_http() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    let resp = plain_client()
        .post(h.acs_url())
        .form(&[("SAMLResponse", h.response_b64(None).as_str())])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookies: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("samlgate_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && !session.contains("Secure"),
        "{session}"
    );
    let max_age: i64 = session
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 0 && max_age <= 8 * 3600, "{max_age}");
}

#[test]
fn slow_backend_is_504_and_sigterm_drains_in_flight_requests() {
    let mut h = Harness::start(Options::default());
    let client = browser();
    login(&h, &client, "/", "alice");
    // upstream_read_timeout_seconds = 2 in the harness.
    let (status, body) = json_echo(&client, &h.url("/slow?sleep_ms=3000"), &[]);
    assert_eq!(status, 504);
    assert_eq!(body["error"], "upstream_timeout");

    // A request in flight when SIGTERM arrives still completes.
    // The read timeout is 2 s: the request takes 1.8 s, SIGTERM comes after
    // 0.8 s (slack for a loaded machine), the grace period is 2 s.
    // A fresh connection on a public route: the request is surely being
    // processed (not a pooled keep-alive connection the shutdown closes
    // while idle) when the signal comes.
    let url = h.url("/public/drain?sleep_ms=1800");
    let c2 = plain_client();
    let inflight = std::thread::spawn(move || {
        let r = c2
            .get(url)
            .header("accept", "application/json")
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let pid = h.pid();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let (status, text) = inflight.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("/public/drain"), "{text}");
    let exited = h.wait_exit(std::time::Duration::from_secs(15));
    assert!(exited, "the gateway exits after draining");
}

#[test]
fn several_idps_and_none_named_show_a_discovery_page() {
    let h = Harness::start(Options::default().with_second_idp());
    let client = browser_no_redirect();
    let resp = client.get(h.url("/reports?q=1")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().unwrap();
    assert!(
        page.contains("Partner &amp; Co") && page.contains("?samlgate_idp=corp"),
        "{page}"
    );
    let resp = client
        .get(h.url("/reports?q=1&samlgate_idp=corp"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("http://127.0.0.1:{}/sso?", h.idp_port)),
        "{location}"
    );
}

#[test]
fn signed_authn_requests_verify_with_the_sp_certificate() {
    let dir = std::env::temp_dir().join(format!("samlgate-spkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("sp.key"), dir.join("sp.crt"));
    assert!(std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sp"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
    let h = Harness::start(Options {
        sp_extra: format!(
            "signing_key = \"{}\"\nsigning_cert = \"{}\"\n",
            key.display(),
            cert.display()
        ),
        ..Options::default()
    });
    let resp = browser_no_redirect().get(h.url("/x")).send().unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let query = location.split_once('?').unwrap().1;
    // The signed part is the query as sent, up to &Signature=.
    let (signed, signature) = query.split_once("&Signature=").unwrap();
    assert!(
        signed.contains("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"),
        "{signed}"
    );
    assert!(!signature.contains('&'), "Signature comes last");
    let url = reqwest::Url::parse(&location).unwrap();
    let signature = url
        .query_pairs()
        .find(|(k, _)| k == "Signature")
        .unwrap()
        .1
        .into_owned();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap();
    let x509 = openssl::x509::X509::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let public = x509.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
    assert!(
        verifier
            .verify_oneshot(&signature, signed.as_bytes())
            .unwrap(),
        "signature over the query verifies"
    );
    // The SP metadata is signed with the same key and announces it.
    let metadata = plain_client()
        .get(h.url("/saml/metadata"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metadata.contains("AuthnRequestsSigned=\"true\"") && metadata.contains("<ds:Signature"),
        "{metadata}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_signed_attribute_with_crlf_is_never_injected() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    let attributes = [(
        "email",
        vec!["bob@example.org\r\nX-Remote-User: admin".to_owned()],
    )];
    let xml = ResponseSpec {
        issuer: &h.idp.entity_id,
        audience: &format!("http://127.0.0.1:{}/saml/metadata", h.gateway),
        acs_url: &h.acs_url(),
        in_response_to: None,
        name_id: "bob",
        attributes: &attributes,
        now: SystemClock.now(),
        lifetime_seconds: 300,
    }
    .signed_xml(&h.idp.key)
    .unwrap();
    let client = browser();
    let resp = client
        .post(h.acs_url())
        .header("accept", "application/json")
        .form(&[(
            "SAMLResponse",
            base64::engine::general_purpose::STANDARD
                .encode(xml)
                .as_str(),
        )])
        .send()
        .unwrap();
    // The login itself succeeds (the value is signed), but no request with
    // it is ever proxied.
    assert_eq!(
        resp.status(),
        403,
        "the 303 is followed to a refused request"
    );
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"], "invalid_attribute_value");
    assert_eq!(
        sample(
            &h.metrics(),
            "samlgate_rejections_total{reason=\"invalid_attribute_value\"}"
        ),
        1.0
    );
}

/// A keep-alive backend that answers the first request on each connection
/// (echoing the X-Remote-User it received) and closes the connection,
/// without answering, on the second. The gateway pools the connection
/// after the first answer; reusing it fails, and pingora retries the
/// request on a new connection. Returns the port and a count of the
/// connections dropped that way.
fn flaky_keepalive_backend() -> (u16, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = dropped.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut answered = false;
                loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    if answered {
                        // The second request on this connection: hang up.
                        counter.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    let user = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-remote-user"))
                        .map_or("-".to_owned(), |(_, v)| v.trim().to_owned());
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{user}",
                        user.len()
                    );
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                    answered = true;
                }
            });
        }
    });
    (port, dropped)
}

#[test]
fn a_request_retried_on_a_fresh_upstream_connection_keeps_its_identity_headers() {
    let (port, dropped) = flaky_keepalive_backend();
    let h = Harness::start(Options {
        extra_toml: format!(
            "[[route]]\npath_prefix = \"/flaky\"\nupstreams = [\"127.0.0.1:{port}\"]\n"
        ),
        ..Options::default()
    });
    let client = browser();
    login(&h, &client, "/", "alice");
    // Keep going until the gateway has reused a pooled connection that the
    // backend then dropped (at least once), so the retry path really ran.
    for i in 0..40 {
        let response = client
            .get(h.url(&format!("/flaky/{i}")))
            .header("accept", "text/plain")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(response.text().unwrap(), "alice", "request {i}");
        if dropped.load(Ordering::SeqCst) >= 2 {
            return;
        }
    }
    panic!("the backend never saw a reused connection: the retry path did not run");
}
