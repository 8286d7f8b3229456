//! The replay store at capacity, check-config's refusals, a solicited
//! Response in another browser, the cookie names under TLS, and logout
//! CSRF (the confirmation form).

use std::sync::Arc;

use base64::Engine;
use reqwest::cookie::CookieStore;

use crate::gateway::*;

// ---------------------------------------------------------------------
// The replay store at capacity.

#[test]
fn a_full_memory_replay_store_refuses_new_logins_and_every_replay_of_what_it_admitted() {
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
    let accepted: Vec<String> = (0..1000)
        .map(|i| {
            let response = h.response_b64(None);
            assert_eq!(post(&response), (303, String::new()), "fill {i}");
            response
        })
        .collect();
    // Full of live entries: a new login is refused (503) rather than an
    // entry forgotten, and the refusal wrote nothing.
    for i in 0..100 {
        assert_eq!(
            post(&h.response_b64(None)),
            (503, "store_unavailable".to_owned()),
            "new {i}"
        );
    }
    // Every accepted assertion is refused on its second post.
    for (i, response) in accepted.iter().enumerate() {
        assert_eq!(post(response), (403, "replayed".to_owned()), "replay {i}");
    }
    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"accepted\",reason=\"none\"}"
        ),
        1000.0
    );
    assert_eq!(
        sample(
            &m,
            "samlgate_acs_total{idp=\"corp\",outcome=\"rejected\",reason=\"replayed\"}"
        ),
        1000.0
    );
    // The refusals are visible to the operator.
    assert_eq!(sample(&m, "samlgate_replay_store_full_total"), 100.0);
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
    let genuine = browser();
    let (action, acs_fields) = sign_in_at_idp(&h, &genuine, "/mine", "alice");
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

// ---------------------------------------------------------------------
// Logout CSRF: another site cannot end a session.

/// The session cookies of a real login as `user`.
fn session_of(h: &Harness, user: &str) -> String {
    let (client, jar) = browser_with_jar();
    let (landed, _) = login(h, &client, "/", user);
    assert_eq!(landed.status(), 200);
    jar.cookies(&reqwest::Url::parse(&h.url("/")).unwrap())
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The hidden `confirm` token of the "Sign out?" page.
fn confirm_token(page: &str) -> String {
    let start = page
        .find("name=\"confirm\" value=\"")
        .unwrap_or_else(|| panic!("no confirmation form: {page}"))
        + "name=\"confirm\" value=\"".len();
    let len = page[start..].find('"').unwrap();
    page[start..start + len].to_owned()
}

#[test]
fn logout_takes_a_same_origin_get_or_the_confirmation_form_of_this_very_session() {
    let h = Harness::start(Options::default());
    let bob = session_of(&h, "bob");
    let alice = session_of(&h, "alice");
    let signed_in = |cookie: &str| {
        plain_client()
            .get(h.url("/whoami"))
            .header("cookie", cookie)
            .send()
            .unwrap()
            .status()
            == 200
    };
    let logout_get = |cookie: &str, site: &str| {
        plain_client()
            .get(h.url("/saml/logout"))
            .header("cookie", cookie)
            .header("sec-fetch-site", site)
            .send()
            .unwrap()
    };
    let logout_post = |cookie: &str, body: String| {
        plain_client()
            .post(h.url("/saml/logout"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap()
    };
    let is_confirmation = |resp: reqwest::blocking::Response| {
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("set-cookie").is_none());
        let page = resp.text().unwrap();
        assert!(page.contains("Sign out?"), "{page}");
        page
    };

    // A link followed from another site (or a browser that does not say):
    // the confirmation page, nothing ended.
    let bob_token = confirm_token(&is_confirmation(logout_get(&bob, "cross-site")));
    let alice_token = confirm_token(&is_confirmation(logout_get(&alice, "same-site")));
    assert!(signed_in(&bob) && signed_in(&alice));

    // A POST without the form's token, with a made-up one, or with the
    // token of another user's session: the confirmation page again.
    for body in [
        String::new(),
        "confirm=AAAA".to_owned(),
        format!("confirm={alice_token}"),
        format!("confirm={bob_token}x"),
    ] {
        is_confirmation(logout_post(&bob, body));
        assert!(signed_in(&bob), "bob was signed out");
    }
    // alice's token in her own browser works only for her.
    assert!(signed_in(&alice));

    // bob's own form: signed out, his cookie cleared, and a copy of it no
    // longer opens the session; alice's session is untouched.
    let out = logout_post(&bob, format!("confirm={bob_token}"));
    let cleared: Vec<String> = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    // This harness's IdP publishes no SingleLogoutService: a local logout
    // and the gateway's own page.
    assert_eq!(out.status(), 200);
    let page = out.text().unwrap();
    assert!(page.contains("You are signed out"), "{page}");
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("samlgate_session=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(!signed_in(&bob));
    assert!(signed_in(&alice));
}
