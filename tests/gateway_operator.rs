//! Issue 13 end to end: what an operator sees must be true. A real
//! `samlgate run` process, the demo IdP (or a metadata file made from it),
//! the echo backend, reqwest as the browser.
//!
//! - An IdP whose metadata lacks the configured SSO binding is named by
//!   `check-config --deep`, `/readyz`, the login page and the metrics
//!   (`idp_endpoint_missing`, not `idp_unavailable`).
//! - Refusals are attributed to the configured IdP the Issuer names (an
//!   unknown Issuer stays `unknown`), in the log line and the metrics.
//! - `require_name_id_format` refuses another NameID format; the SP
//!   metadata lists the format; `check-config --deep` warns about mapping a
//!   transient NameID.
//! - Shutdown (in `operator/shutdown.rs`): `/readyz` 503 while the data
//!   listener still serves for the delay, then new connections refused,
//!   in-flight requests finished, the admin listener answering until the
//!   process exits, which is as soon as nothing is in flight.
//! - A login-state cookie lost over plain HTTP is explained (page and log);
//!   not over HTTPS; `check-config` warns about the setup that causes it.

mod gateway;
#[path = "operator/shutdown.rs"]
mod shutdown;

use std::time::{Duration, Instant};

use base64::Engine;
use gateway::*;
use samlgate_gateway::demo::idp::{generate_signing_key, DemoIdp, ResponseSpec, USERS};
use samlgate_saml::{Clock, SystemClock, BINDING_HTTP_POST};

const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "samlgate-operator-{label}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `samlgate check-config [--deep] path`: exit code and stderr.
fn check_config(path: &std::path::Path, deep: bool) -> (i32, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_samlgate"));
    command.arg("check-config");
    if deep {
        command.arg("--deep");
    }
    let out = command.arg(path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A harness configuration, written to `dir` without starting anything
/// (for check-config).
fn write_config(dir: &std::path::Path, options: &Options) -> std::path::PathBuf {
    let ports = HarnessPorts {
        gateway: free_port(),
        admin: free_port(),
        idp: free_port(),
        backend: free_port(),
        dead: free_port(),
    };
    let path = dir.join("samlgate.toml");
    std::fs::write(&path, config_text(&ports, options)).unwrap();
    path
}

/// A demo IdP's metadata, changed by `edit`, in a file.
fn metadata_file(dir: &std::path::Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let idp = DemoIdp::new(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/saml/metadata",
        "http://127.0.0.1:9/saml/acs",
    )
    .unwrap();
    let original = idp.metadata();
    let edited = edit(original.clone());
    assert_ne!(edited, original, "the edit changed nothing");
    let path = dir.join("idp-metadata.xml");
    std::fs::write(&path, edited).unwrap();
    path
}

fn post_acs_json(h: &Harness, response_xml: &[u8]) -> (u16, serde_json::Value) {
    let resp = plain_client()
        .post(h.acs_url())
        .header("accept", "application/json")
        .form(&[(
            "SAMLResponse",
            base64::engine::general_purpose::STANDARD.encode(response_xml),
        )])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(serde_json::Value::Null))
}

/// The gateway's JSON log line that carries `request_id`.
fn log_line(h: &Harness, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = h
            .log_text()
            .lines()
            .filter(|l| l.contains(request_id))
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        if let Some(line) = found {
            return line;
        }
        assert!(Instant::now() < deadline, "no log line for {request_id}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A field of a JSON log line (tracing puts them under `fields`).
fn field<'v>(line: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    &line["fields"][name]
}

/// The XML without its enveloped signature.
fn strip_signature(xml: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let start = text.find("<ds:Signature").expect("a signature");
    let end = text.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &text[..start], &text[end..]).into_bytes()
}

// ---------------------------------------------------------------------
// 1. An IdP that cannot be used: named everywhere.

#[test]
fn an_idp_without_the_configured_sso_binding_is_named_by_check_config_readyz_and_the_login_page() {
    let dir = temp_dir("endpoint");
    let post_sso = format!(
        "<md:SingleSignOnService Binding=\"{BINDING_HTTP_POST}\" Location=\"http://127.0.0.1:9/sso\"/>"
    );
    let metadata = metadata_file(&dir, |m| m.replace(&post_sso, ""));
    let h = Harness::start(Options {
        idp_metadata_file: Some(metadata),
        idp_extra: "authn_request_binding = \"post\"".into(),
        expect_unready: true,
        ..Options::default()
    });

    // check-config --deep: an error naming the IdP and the cause.
    let (code, err) = check_config(&h.config_path, true);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("idp[0] (corp)")
            && err.contains("idp_endpoint_missing")
            && err.contains("HTTP-POST"),
        "{err}"
    );
    // With the binding the metadata offers, the same file passes.
    let redirect = dir.join("redirect.toml");
    let text = std::fs::read_to_string(&h.config_path).unwrap();
    std::fs::write(
        &redirect,
        text.replace(
            "authn_request_binding = \"post\"",
            "authn_request_binding = \"redirect\"",
        ),
    )
    .unwrap();
    let (code, err) = check_config(&redirect, true);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("idp_endpoint_missing"), "{err}");

    // /readyz: 503, and which IdP cannot be used and why.
    let ready = plain_client().get(h.admin_url("/readyz")).send().unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().unwrap();
    assert_eq!(body["status"], "idp_not_usable", "{body}");
    let idp = &body["idps"][0];
    assert_eq!(idp["name"], "corp", "{body}");
    assert_eq!(idp["status"], "idp_endpoint_missing", "{body}");
    assert!(
        idp["detail"].as_str().unwrap().contains("HTTP-POST"),
        "{body}"
    );

    // A browser's login: the page names the cause, not "unavailable".
    let page = browser_no_redirect().get(h.url("/app")).send().unwrap();
    assert_eq!(page.status(), 503);
    let request_id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = page.text().unwrap();
    assert!(html.contains("idp_endpoint_missing"), "{html}");
    assert!(
        !html.contains("idp_unavailable") && !html.contains("could not be loaded"),
        "{html}"
    );
    let line = log_line(&h, &request_id);
    assert_eq!(field(&line, "reason"), "idp_endpoint_missing", "{line}");
    assert_eq!(field(&line, "idp"), "corp", "{line}");
    let m = h.metrics();
    assert_eq!(
        sample(
            &m,
            "samlgate_rejections_total{reason=\"idp_endpoint_missing\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&m, "samlgate_rejections_total{reason=\"idp_unavailable\"}"),
        0.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// 2. Refusals keep their IdP.

#[test]
fn signature_refusals_are_attributed_to_the_idp_the_issuer_names() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        ..Options::default()
    });
    let now = SystemClock.now();
    let (other_key, _) = generate_signing_key("not the corp idp").unwrap();
    let audience = format!("http://127.0.0.1:{}/saml/metadata", h.gateway);
    let acs = h.acs_url();
    let signed_by_other_key = |issuer: &str| {
        ResponseSpec {
            issuer,
            audience: &audience,
            acs_url: &acs,
            in_response_to: None,
            name_id: "mallory",
            attributes: &[],
            now,
            lifetime_seconds: 300,
        }
        .signed_xml(&other_key)
        .unwrap()
    };
    let tampered = String::from_utf8(h.idp.response_for(&USERS[1], None, now).unwrap())
        .unwrap()
        .replace(">bob</saml:NameID>", ">alice</saml:NameID>")
        .into_bytes();
    let cases: [(&str, Vec<u8>, &str, &str); 4] = [
        // The configured IdP's entity ID, no signature.
        (
            "unsigned",
            strip_signature(&h.idp.response_for(&USERS[0], None, now).unwrap()),
            "corp",
            "corp",
        ),
        // The configured IdP's entity ID, signed by another key (a key
        // rollover the metadata does not know yet looks like this).
        (
            "untrusted_key",
            signed_by_other_key(&h.idp.entity_id),
            "corp",
            "corp",
        ),
        // Signed by the IdP, then changed.
        ("digest_mismatch", tampered, "corp", "corp"),
        // An Issuer that is no configured IdP: a bounded label.
        (
            "unknown_issuer",
            signed_by_other_key("https://stranger.example/idp"),
            "unknown",
            "unknown",
        ),
    ];
    for (reason, xml, log_idp, metric_idp) in &cases {
        let (status, body) = post_acs_json(&h, xml);
        assert_eq!(status, 403, "{reason}: {body}");
        assert_eq!(body["error"], *reason, "{body}");
        let line = log_line(&h, body["request_id"].as_str().unwrap());
        assert_eq!(field(&line, "idp"), *log_idp, "{reason}: {line}");
        assert_eq!(field(&line, "reason"), *reason, "{line}");
        let series = format!(
            "samlgate_acs_total{{idp=\"{metric_idp}\",outcome=\"rejected\",reason=\"{reason}\"}}"
        );
        assert_eq!(sample(&h.metrics(), &series), 1.0, "{series}");
    }
    let m = h.metrics();
    assert!(!m.contains("stranger.example"), "label values stay bounded");
    assert!(!m.contains("idp=\"-\""));
}

// ---------------------------------------------------------------------
// 3. NameID format.

/// The demo IdP's Response for alice with another NameID format and
/// value, signed again with the IdP's key.
fn response_with_name_id(h: &Harness, format: &str, value: &str) -> Vec<u8> {
    let signed = h
        .idp
        .response_for(&USERS[0], None, SystemClock.now())
        .unwrap();
    let unsigned = String::from_utf8(strip_signature(&signed)).unwrap();
    let from = format!("<saml:NameID Format=\"{UNSPECIFIED}\">alice</saml:NameID>");
    assert!(unsigned.contains(&from));
    let xml = unsigned.replace(
        &from,
        &format!("<saml:NameID Format=\"{format}\">{value}</saml:NameID>"),
    );
    let id_at = xml.find("<saml:Assertion ID=\"").unwrap() + "<saml:Assertion ID=\"".len();
    let id = &xml[id_at..id_at + xml[id_at..].find('"').unwrap()];
    samlgate_dsig::sign_enveloped(xml.as_bytes(), id, &h.idp.key).unwrap()
}

#[test]
fn a_required_name_id_format_is_enforced_and_published() {
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        idp_extra: format!("name_id_format = \"{EMAIL}\"\nrequire_name_id_format = true"),
        ..Options::default()
    });
    // Another format (what SimpleSAMLphp returned): refused, attributed.
    for (format, value) in [(TRANSIENT, "_8f3a0c"), (UNSPECIFIED, "alice")] {
        let (status, body) = post_acs_json(&h, &response_with_name_id(&h, format, value));
        assert_eq!(status, 403, "{format}: {body}");
        assert_eq!(body["error"], "nameid_format_mismatch", "{body}");
    }
    assert_eq!(
        sample(
            &h.metrics(),
            "samlgate_acs_total{idp=\"corp\",outcome=\"rejected\",reason=\"nameid_format_mismatch\"}"
        ),
        2.0
    );
    // The required format: accepted, and the header carries it.
    let client = browser();
    let resp = client
        .post(h.acs_url())
        .form(&[(
            "SAMLResponse",
            base64::engine::general_purpose::STANDARD.encode(response_with_name_id(
                &h,
                EMAIL,
                "alice@example.org",
            )),
        )])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: serde_json::Value = client
        .get(h.url("/who"))
        .header("accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        header(&echoed_headers(&echo), "x-remote-user"),
        ["alice@example.org"]
    );
    // The SP metadata says what it wants.
    let metadata = plain_client()
        .get(h.url("/saml/metadata"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metadata.contains(&format!("<md:NameIDFormat>{EMAIL}</md:NameIDFormat>")),
        "{metadata}"
    );
}

#[test]
fn check_config_warns_when_name_id_is_mapped_but_the_idp_offers_only_transient() {
    let unspecified = format!("<md:NameIDFormat>{UNSPECIFIED}</md:NameIDFormat>");
    let warning = "offers only transient NameIDs";
    for (offered, warned) in [(TRANSIENT, true), (EMAIL, false)] {
        let dir = temp_dir("transient");
        let metadata = metadata_file(&dir, |m| {
            m.replace(
                &unspecified,
                &format!("<md:NameIDFormat>{offered}</md:NameIDFormat>"),
            )
        });
        // The harness maps X-Remote-User from name_id.
        let options = Options {
            idp_metadata_file: Some(metadata),
            ..Options::default()
        };
        let path = write_config(&dir, &options);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("from = \"name_id\""));
        let (code, err) = check_config(&path, true);
        assert_eq!(code, 0, "{err}");
        assert_eq!(err.contains(warning), warned, "{offered}: {err}");
        if warned {
            assert!(
                err.contains("warning: idp[0] (corp).name_id_format:"),
                "{err}"
            );
        }
        // The static check cannot know: no such warning without --deep.
        let (code, err) = check_config(&path, false);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains(warning), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------
// 4. The plain-HTTP hint.

/// Starts a login in a browser, signs in at the IdP, and returns the ACS
/// form the IdP answered with (the browser keeps its login-state cookie).
fn acs_form_of_a_started_login(h: &Harness) -> Vec<(String, String)> {
    let (_, acs_fields) = sign_in_at_idp(h, &browser(), "/wanted", "alice");
    assert!(acs_fields.iter().any(|(k, _)| k == "RelayState"));
    acs_fields
}

/// Posts the form as a browser that lost the login-state cookie: the
/// page, and the JSON answer's hint and log line.
fn post_without_cookie(h: &Harness, form: &[(String, String)]) -> (String, serde_json::Value) {
    let page = plain_client()
        .post(h.acs_url())
        .header("accept", "text/html")
        .form(form)
        .send()
        .unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().unwrap();
    assert!(html.contains("in_response_to_mismatch"), "{html}");
    let json = plain_client()
        .post(h.acs_url())
        .header("accept", "application/json")
        .form(form)
        .send()
        .unwrap();
    assert_eq!(json.status(), 403);
    let body: serde_json::Value = json.json().unwrap();
    assert_eq!(body["error"], "in_response_to_mismatch");
    let line = log_line(h, body["request_id"].as_str().unwrap());
    (html, serde_json::json!({"body": body, "log": line}))
}

#[test]
fn a_login_cookie_lost_over_plain_http_is_explained_and_not_over_https() {
    const HINT: &str = "login_cookie_not_sent_over_http";
    let plain = Harness::start(Options::default());
    let form = acs_form_of_a_started_login(&plain);
    let (html, json) = post_without_cookie(&plain, &form);
    assert!(html.contains(HINT), "{html}");
    assert_eq!(json["body"]["hint"], HINT, "{json}");
    // What to change, on the page and in the JSON answer.
    for text in [html.as_str(), json["body"]["remedy"].as_str().unwrap_or("")] {
        assert!(
            text.contains("Serve the gateway over HTTPS") && text.contains("https:// sp.base_url"),
            "{text}"
        );
    }
    assert_eq!(field(&json["log"], "hint"), HINT, "{json}");
    assert_eq!(field(&json["log"], "idp"), "corp", "{json}");
    drop(plain);

    let tls = Harness::start(Options {
        tls: true,
        ..Options::default()
    });
    let form = acs_form_of_a_started_login(&tls);
    let (html, json) = post_without_cookie(&tls, &form);
    assert!(!html.contains(HINT), "{html}");
    assert!(json["body"].get("hint").is_none(), "{json}");
    assert!(field(&json["log"], "hint").is_null(), "{json}");
}

#[test]
fn check_config_warns_when_plain_http_logins_cross_sites() {
    let hint = "login_cookie_not_sent_over_http";
    let warned = |metadata_url: &str, https_base: bool| {
        let dir = temp_dir("cross-site");
        let path = write_config(
            &dir,
            &Options {
                idp_metadata_url: Some(metadata_url.to_owned()),
                ..Options::default()
            },
        );
        if https_base {
            // Behind a TLS load balancer: https URLs, plain listener.
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("\"http://127.0.0.1:", "\"https://127.0.0.1:");
            std::fs::write(&path, text).unwrap();
        }
        let (code, err) = check_config(&path, false);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(code, 0, "{err}");
        if err.contains(hint) {
            assert!(err.contains("warning: idp[0].metadata_url:"), "{err}");
        }
        err.contains(hint)
    };
    // The IdP on another host, base_url plain http: warned.
    assert!(warned("http://localhost:8081/metadata", false));
    assert!(warned("https://idp.example.com/metadata", false));
    // Same host, or an https base_url: nothing to warn about.
    assert!(!warned("http://127.0.0.1:8081/metadata", false));
    assert!(!warned("https://idp.example.com/metadata", true));
}
