//! Single Logout interop with a real SAML IdP library, both directions:
//! Debian's python3-pysaml2 (tests/pysaml2/slo.py, run with
//! /usr/bin/python3) reads the SP metadata that `samlgate metadata` writes
//! (signing certificate, SingleLogoutService for HTTP-Redirect and
//! HTTP-POST) and
//! - verifies samlgate's signed LogoutRequest in both bindings (the
//!   Redirect query signature with pysaml2's verify_redirect_signature, the
//!   POST enveloped signature through xmlsec1) and parses it (Destination,
//!   IssueInstant, NameID with its qualifiers, SessionIndex), and refuses
//!   the same messages with one signed byte changed;
//! - answers with its own signed LogoutResponse, and sends its own signed
//!   IdP-initiated LogoutRequest, in both bindings, which samlgate's
//!   `LogoutValidator` must accept with the IdP metadata pysaml2 wrote (and
//!   refuse once altered);
//! - verifies samlgate's LogoutResponse to that request, in both bindings.
//!
//! Keys are made per run by the openssl command line in a temporary
//! directory that is kept for inspection. pysaml2, xmlsec1 and openssl are
//! required (scripts/deps.sh); the test fails, not skips, without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use samlgate_dsig::{AlgorithmPolicy, SigningKey};
use samlgate_saml::{
    parse_idp_metadata, Clock, Instant, LogoutRequest, LogoutResponse, LogoutStatus,
    LogoutValidator, NameId, SystemClock, Trust, VerifiedLogout, VerifiedLogoutRequest,
};
use samlgate_xml::Limits;
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";
const XMLSEC1: &str = "/usr/bin/xmlsec1";
const SP_ENTITY_ID: &str = "https://sp.example.test/saml";
const ACS_URL: &str = "https://sp.example.test/saml/acs";
const SLO_URL: &str = "https://sp.example.test/saml/logout";
const IDP_ENTITY_ID: &str = "https://idp.example.test/idp";
const IDP_SLO_REDIRECT: &str = "https://idp.example.test/slo/redirect";
const IDP_SLO_POST: &str = "https://idp.example.test/slo/post";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const NAME_ID: &str = "8f2c6c1e-alice-persistent";
const PYSAML2_SESSION: &str = "_pysaml2-session-1";
const OUR_REQUEST_REDIRECT: &str = "_samlgate-lr-redirect";
const OUR_REQUEST_POST: &str = "_samlgate-lr-post";

fn output_text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", output_text(&out));
    out
}

fn require_tools() {
    let out = Command::new(PYTHON).args(["-c", "import saml2"]).output();
    match out {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "{PYTHON} cannot import saml2 ({other:?}): install Debian's python3-pysaml2 (scripts/deps.sh)"
        ),
    }
    assert!(
        Path::new(XMLSEC1).exists(),
        "{XMLSEC1} is missing: install xmlsec1 (scripts/deps.sh)"
    );
}

fn key_and_cert(dir: &Path, name: &str) {
    run(
        Command::new("openssl")
            .current_dir(dir)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", &format!("/CN={name}.example.test")])
            .args(["-keyout", &format!("{name}.key")])
            .args(["-out", &format!("{name}.crt")]),
        &format!("openssl req ({name})"),
    );
}

fn sp_key(dir: &Path) -> SigningKey {
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    SigningKey::from_pem(&read("sp-sign.key"), &read("sp-sign.crt")).unwrap()
}

fn now() -> Instant {
    SystemClock.now()
}

fn name_id() -> NameId {
    NameId {
        value: NAME_ID.into(),
        format: Some(PERSISTENT.into()),
        name_qualifier: Some(IDP_ENTITY_ID.into()),
        sp_name_qualifier: Some(SP_ENTITY_ID.into()),
    }
}

fn pysaml2(dir: &Path, args: &[&str], what: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pysaml2/slo.py");
    let out = run(
        Command::new(PYTHON)
            .current_dir(dir)
            .arg(script)
            .args(["--sp-metadata", "sp.xml", "--idp-key", "idp.key"])
            .args(["--idp-cert", "idp.crt", "--out-dir", "out"])
            .args(args),
        what,
    );
    eprintln!("{what}: {}", String::from_utf8_lossy(&out.stdout));
}

/// Writes samlgate's LogoutRequests, runs pysaml2's phase 1.
fn set_up() -> PathBuf {
    require_tools();
    let dir = std::env::temp_dir().join(format!("samlgate-pysaml2-slo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    for name in ["sp-sign", "idp"] {
        key_and_cert(&dir, name);
    }
    run(
        Command::new(env!("CARGO_BIN_EXE_samlgate"))
            .current_dir(&dir)
            .args([
                "metadata",
                "--entity-id",
                SP_ENTITY_ID,
                "--acs-url",
                ACS_URL,
            ])
            .args(["--slo-url", SLO_URL, "--signing-cert", "sp-sign.crt"])
            .args(["-o", "sp.xml"]),
        "samlgate metadata",
    );
    let key = sp_key(&dir);
    let name_id = name_id();
    let sessions = vec!["_idp-session-7".to_owned()];
    let request = |id, destination| LogoutRequest {
        id,
        issue_instant: now(),
        destination,
        issuer: SP_ENTITY_ID,
        name_id: &name_id,
        session_indexes: &sessions,
        not_on_or_after: Some(now().plus_seconds(300)),
        reason: Some("urn:oasis:names:tc:SAML:2.0:logout:user"),
    };
    let url = request(OUR_REQUEST_REDIRECT, IDP_SLO_REDIRECT)
        .redirect_url(Some("samlgate relay/1"), &key)
        .unwrap();
    let query = url.split_once('?').unwrap().1;
    std::fs::write(dir.join("out/samlgate-request.query"), query).unwrap();
    let html = request(OUR_REQUEST_POST, IDP_SLO_POST)
        .post_form(Some("samlgate relay/2"), &key)
        .unwrap();
    std::fs::write(dir.join("out/samlgate-request.form"), form_body(&html)).unwrap();
    pysaml2(
        &dir,
        &[
            "--samlgate-request-redirect",
            "out/samlgate-request.query",
            "--samlgate-request-post",
            "out/samlgate-request.form",
        ],
        "slo.py phase 1",
    );
    dir
}

fn work() -> &'static Path {
    static WORK: OnceLock<PathBuf> = OnceLock::new();
    WORK.get_or_init(set_up)
}

/// The body a browser posts from our auto-submit form.
fn form_body(html: &str) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for field in ["SAMLRequest", "SAMLResponse", "RelayState"] {
        let marker = format!("name=\"{field}\" value=\"");
        if let Some(start) = html.find(&marker) {
            let rest = &html[start + marker.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            body.append_pair(field, value);
        }
    }
    body.finish()
}

fn read_json(name: &str) -> Value {
    let path = work().join("out").join(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn read_out(name: &str) -> String {
    std::fs::read_to_string(work().join("out").join(name)).unwrap()
}

fn trust() -> Trust {
    let xml = std::fs::read(work().join("out/idp.xml")).unwrap();
    let mut trust = Trust::new();
    for idp in parse_idp_metadata(&xml).unwrap() {
        trust.add_idp(idp);
    }
    trust
}

fn validate(
    in_response_to: Option<&str>,
    f: impl FnOnce(&LogoutValidator<'_>) -> Result<VerifiedLogout, samlgate_saml::SamlError>,
) -> Result<VerifiedLogout, samlgate_saml::SamlError> {
    let trust = trust();
    let urls = [SLO_URL.to_owned()];
    let validator = LogoutValidator {
        trust: &trust,
        slo_urls: &urls,
        in_response_to,
        clock: &SystemClock,
        clock_skew_seconds: 180,
        max_age_seconds: 300,
        algorithms: AlgorithmPolicy::default(),
        limits: Limits::default(),
    };
    f(&validator)
}

#[test]
fn pysaml2_verifies_samlgates_logout_requests() {
    let checked = read_json("checked-requests.json");
    for (binding, id, destination, relay) in [
        (
            "redirect",
            OUR_REQUEST_REDIRECT,
            IDP_SLO_REDIRECT,
            "samlgate relay/1",
        ),
        ("post", OUR_REQUEST_POST, IDP_SLO_POST, "samlgate relay/2"),
    ] {
        let c = &checked[binding];
        assert_eq!(c["signature_ok"], true, "{binding}: {c}");
        assert_ne!(c["tampered_signature_ok"], true, "{binding}: {c}");
        assert_eq!(c["id"], id, "{binding}: {c}");
        assert_eq!(c["issuer"], SP_ENTITY_ID, "{c}");
        assert_eq!(c["destination"], destination, "{c}");
        assert_eq!(c["name_id"], NAME_ID, "{c}");
        assert_eq!(c["format"], PERSISTENT, "{c}");
        assert_eq!(c["name_qualifier"], IDP_ENTITY_ID, "{c}");
        assert_eq!(c["sp_name_qualifier"], SP_ENTITY_ID, "{c}");
        assert_eq!(
            c["session_indexes"],
            serde_json::json!(["_idp-session-7"]),
            "{c}"
        );
        assert_eq!(c["relay_state"], relay, "{c}");
        assert!(c["not_on_or_after"].is_string(), "{c}");
    }
}

#[test]
fn samlgate_verifies_pysaml2s_logout_responses() {
    for (file, expected_in_response_to, relay) in [
        (
            "idp-response.query",
            OUR_REQUEST_REDIRECT,
            "pysaml2-relay-query",
        ),
        ("idp-response.form", OUR_REQUEST_POST, "pysaml2-relay-form"),
    ] {
        let raw = read_out(file);
        let got = validate(Some(expected_in_response_to), |v| {
            if file.ends_with(".query") {
                v.validate_redirect(&raw)
            } else {
                v.validate_post(raw.as_bytes())
            }
        });
        let Ok(VerifiedLogout::Response(r)) = got else {
            panic!("{file} (in {}): {got:?}", work().display());
        };
        assert_eq!(r.issuer(), IDP_ENTITY_ID);
        assert_eq!(r.in_response_to(), expected_in_response_to);
        r.ensure_success().unwrap();
        assert_eq!(r.relay_state(), Some(relay));
        // It answers that request only.
        let err = validate(Some("_another"), |v| {
            if file.ends_with(".query") {
                v.validate_redirect(&raw)
            } else {
                v.validate_post(raw.as_bytes())
            }
        })
        .unwrap_err();
        assert_eq!(err.reason().as_str(), "in_response_to_mismatch", "{file}");
    }
}

fn pysaml2_request(file: &str) -> VerifiedLogoutRequest {
    let raw = read_out(file);
    let got = validate(None, |v| {
        if file.ends_with(".query") {
            v.validate_redirect(&raw)
        } else {
            v.validate_post(raw.as_bytes())
        }
    });
    match got {
        Ok(VerifiedLogout::Request(r)) => r,
        other => panic!("{file} (in {}): {other:?}", work().display()),
    }
}

#[test]
fn samlgate_verifies_pysaml2s_idp_initiated_logout_requests() {
    for (file, relay) in [
        ("idp-request.query", "pysaml2 relay query"),
        ("idp-request.form", "pysaml2 relay form"),
    ] {
        let r = pysaml2_request(file);
        let ext = file.rsplit('.').next().unwrap();
        assert_eq!(r.id(), read_out(&format!("idp-request-id.{ext}")).trim());
        assert_eq!(r.issuer(), IDP_ENTITY_ID);
        assert_eq!(r.name_id(), &name_id(), "{file}");
        assert_eq!(r.session_indexes(), [PYSAML2_SESSION]);
        assert!(r.not_on_or_after().is_some());
        assert_eq!(r.relay_state(), Some(relay));
    }
    // Altered after pysaml2 signed them.
    let query = read_out("idp-request.query");
    let altered = query.replacen("RelayState=pysaml2", "RelayState=pysaml3", 1);
    assert_ne!(altered, query);
    let err = validate(None, |v| v.validate_redirect(&altered)).unwrap_err();
    assert_eq!(err.reason().as_str(), "signature_invalid");
    let form = read_out("idp-request.form");
    let params: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(b64.decode(&params[0].1).unwrap()).unwrap();
    let evil = xml.replacen(NAME_ID, "8f2c6c1e-mallo-persistent", 1);
    assert_ne!(evil, xml);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &b64.encode(evil))
        .finish();
    let err = validate(None, |v| v.validate_post(body.as_bytes())).unwrap_err();
    assert_eq!(err.reason().as_str(), "digest_mismatch");
}

#[test]
fn pysaml2_verifies_samlgates_logout_responses() {
    let key = sp_key(work());
    let answered_redirect = pysaml2_request("idp-request.query");
    let answered_post = pysaml2_request("idp-request.form");
    let response = |id, destination, in_response_to| LogoutResponse {
        id,
        issue_instant: now(),
        destination,
        issuer: SP_ENTITY_ID,
        in_response_to: Some(in_response_to),
        status: LogoutStatus::Success,
        status_message: None,
    };
    let url = response(
        "_samlgate-lresp-redirect",
        IDP_SLO_REDIRECT,
        answered_redirect.id(),
    )
    .redirect_url(answered_redirect.relay_state(), &key)
    .unwrap();
    std::fs::write(
        work().join("out/samlgate-response.query"),
        url.split_once('?').unwrap().1,
    )
    .unwrap();
    let html = response("_samlgate-lresp-post", IDP_SLO_POST, answered_post.id())
        .post_form(answered_post.relay_state(), &key)
        .unwrap();
    std::fs::write(work().join("out/samlgate-response.form"), form_body(&html)).unwrap();
    pysaml2(
        work(),
        &[
            "--samlgate-response-redirect",
            "out/samlgate-response.query",
            "--samlgate-response-post",
            "out/samlgate-response.form",
        ],
        "slo.py phase 2",
    );
    let checked = read_json("checked-responses.json");
    for (binding, id, in_response_to, destination) in [
        (
            "redirect",
            "_samlgate-lresp-redirect",
            answered_redirect.id(),
            IDP_SLO_REDIRECT,
        ),
        (
            "post",
            "_samlgate-lresp-post",
            answered_post.id(),
            IDP_SLO_POST,
        ),
    ] {
        let c = &checked[binding];
        assert_eq!(c["parsed"], true, "{binding}: {c}");
        assert_eq!(c["signature_ok"], true, "{binding}: {c}");
        assert_ne!(c["tampered_signature_ok"], true, "{binding}: {c}");
        assert_eq!(c["id"], id, "{c}");
        assert_eq!(c["issuer"], SP_ENTITY_ID, "{c}");
        assert_eq!(c["in_response_to"], in_response_to, "{c}");
        assert_eq!(c["destination"], destination, "{c}");
        assert_eq!(
            c["status"], "urn:oasis:names:tc:SAML:2.0:status:Success",
            "{c}"
        );
    }
}
