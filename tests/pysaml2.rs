//! Interop with a real SAML IdP library: Debian's python3-pysaml2 reads the
//! SP metadata that `samlgate metadata` writes, and issues signed (and
//! signed-then-encrypted) Responses to the ACS URL and encryption
//! certificate it found there; `samlgate verify` must accept them with the
//! IdP metadata that pysaml2 wrote, and refuse them with the wrong
//! decryption key or after their signed content is altered.
//!
//! Everything is made fresh per run in a temporary directory: keys and
//! certificates by the openssl command line, the Responses by
//! tests/pysaml2/idp.py run with /usr/bin/python3 (the Debian interpreter
//! that sees python3-pysaml2, whatever `python3` is on PATH). pysaml2 signs
//! and encrypts through /usr/bin/xmlsec1. scripts/deps.sh installs both;
//! when they are missing the tests fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const PYTHON: &str = "/usr/bin/python3";
const XMLSEC1: &str = "/usr/bin/xmlsec1";
const SP_ENTITY_ID: &str = "https://sp.example.test/saml";
const ACS_URL: &str = "https://sp.example.test/saml/acs";
const IDP_ENTITY_ID: &str = "https://idp.example.test/idp";
const REQUEST_ID: &str = "_samlgate-interop-authnrequest-1";
const NAME_ID: &str = "8f2c6c1e-alice-persistent";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const UID: &str = "urn:oid:0.9.2342.19200300.100.1.1";
const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const AFFILIATION: &str = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1";
const DISPLAY_NAME: &str = "urn:oid:2.16.840.1.113730.3.1.241";

/// The working directory, once made: keys, sp.xml, and pysaml2's output
/// (out/idp.xml, out/<case>.b64, out/<case>.xml). Kept after the run so a
/// failure can be looked at; its path is in every failure message.
fn work() -> &'static Path {
    static WORK: OnceLock<PathBuf> = OnceLock::new();
    WORK.get_or_init(set_up)
}

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

/// pysaml2 and xmlsec1 are required: CI installs them (scripts/deps.sh).
fn require_tools() {
    let saml2 = Command::new(PYTHON)
        .args([
            "-c",
            "import saml2, importlib.metadata as m; print(m.version('pysaml2'))",
        ])
        .output();
    match saml2 {
        Ok(out) if out.status.success() => {
            eprintln!("pysaml2 {}", String::from_utf8_lossy(&out.stdout).trim());
        }
        Ok(out) => panic!(
            "{PYTHON} cannot import saml2: install Debian's python3-pysaml2 \
             (scripts/deps.sh does): {}",
            output_text(&out)
        ),
        Err(e) => panic!("cannot run {PYTHON} ({e}): install python3-pysaml2 (scripts/deps.sh)"),
    }
    assert!(
        Path::new(XMLSEC1).exists(),
        "{XMLSEC1} is missing: pysaml2 signs and encrypts with it; \
         install xmlsec1 (scripts/deps.sh does)"
    );
}

/// A self-signed RSA 2048 certificate and its key: NAME.key, NAME.crt.
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

fn set_up() -> PathBuf {
    require_tools();
    let dir = std::env::temp_dir().join(format!("samlgate-pysaml2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the work directory");
    for name in ["sp-sign", "sp-enc", "idp", "other"] {
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
            .args(["--signing-cert", "sp-sign.crt"])
            .args(["--encryption-cert", "sp-enc.crt"])
            .args(["-o", "sp.xml"]),
        "samlgate metadata",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pysaml2/idp.py");
    let out = run(
        Command::new(PYTHON)
            .current_dir(&dir)
            .arg(script)
            .args(["--sp-metadata", "sp.xml"])
            .args(["--idp-key", "idp.key", "--idp-cert", "idp.crt"])
            .args(["--out-dir", "out", "--in-response-to", REQUEST_ID]),
        "tests/pysaml2/idp.py",
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}:\n{printed}", dir.display());
    // pysaml2 found our SP, and the ACS URL, in the metadata we wrote.
    assert!(
        printed.contains(&format!("SP {SP_ENTITY_ID}, ACS {ACS_URL}")),
        "{printed}"
    );
    dir
}

fn verify_with(extra: &[&str], response: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .current_dir(work())
        .args(["verify", "--idp-metadata", "out/idp.xml"])
        .args(["--sp-entity-id", SP_ENTITY_ID, "--acs-url", ACS_URL])
        .args(["--in-response-to", REQUEST_ID])
        .args(extra)
        .arg(response)
        .output()
        .expect("run samlgate verify")
}

/// Verifies out/CASE.b64 (the form value pysaml2 would POST) with the SP's
/// decryption key.
fn verify(case: &str) -> Output {
    verify_with(
        &["--decryption-key", "sp-enc.key"],
        &format!("out/{case}.b64"),
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {} (files in {})",
            output_text(out),
            work().display()
        )
    })
}

fn assert_accepted(case: &str) {
    let out = verify(case);
    let v = json(&out);
    let xml = work().join(format!("out/{case}.xml"));
    assert_eq!(
        (out.status.code(), &v["valid"]),
        (Some(0), &serde_json::Value::Bool(true)),
        "samlgate verify rejected pysaml2's {case} Response: {v}\nResponse XML: {}",
        xml.display()
    );
    assert_eq!(v["issuer"], IDP_ENTITY_ID, "{v}");
    assert_eq!(v["name_id"], NAME_ID, "{v}");
    assert_eq!(v["name_id_format"], PERSISTENT, "{v}");
    let attributes = &v["attributes"];
    for (name, values) in [
        (UID, &["alice"][..]),
        (MAIL, &["alice@example.test"]),
        (AFFILIATION, &["member", "staff"]),
        (DISPLAY_NAME, &["Alice Example"]),
    ] {
        assert_eq!(
            attributes[name],
            serde_json::json!(values),
            "attribute {name} in {v}"
        );
    }
    assert!(v["session_index"].is_string(), "{v}");
}

fn assert_rejected(out: &Output, reason: &str, what: &str) {
    let v = json(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {v}");
    assert_eq!(v["valid"], false, "{what}: {v}");
    assert_eq!(v["reason"], reason, "{what}: {v}");
}

/// The pysaml2 Response with `from` replaced by `to` (exactly once),
/// written as XML beside it; returns its path relative to the work dir.
fn altered(case: &str, from: &str, to: &str, name: &str) -> String {
    let xml = std::fs::read_to_string(work().join(format!("out/{case}.xml")))
        .expect("read pysaml2's Response XML");
    assert_eq!(xml.matches(from).count(), 1, "{from:?} once in {case}.xml");
    let path = format!("out/{case}-{name}.xml");
    std::fs::write(work().join(&path), xml.replace(from, to)).expect("write altered Response");
    path
}

#[test]
fn response_and_assertion_signed() {
    assert_accepted("signed-both");
}

#[test]
fn only_the_response_signed() {
    assert_accepted("response-signed");
}

#[test]
fn only_the_assertion_signed() {
    assert_accepted("assertion-signed");
}

#[test]
fn signed_assertion_encrypted_with_aes256_cbc() {
    assert_accepted("encrypted-aes256");
}

/// pysaml2's stock encryption, what an unmodified pysaml2 IdP (SATOSA,
/// djangosaml2idp, ...) sends: tripledes-cbc content, rsa-oaep-mgf1p key.
#[test]
fn signed_assertion_encrypted_by_stock_pysaml2_triple_des() {
    assert_accepted("encrypted-3des");
}

#[test]
fn encrypted_assertion_needs_the_sp_decryption_key() {
    for case in ["encrypted-aes256", "encrypted-3des"] {
        let file = format!("out/{case}.b64");
        assert_rejected(
            &verify_with(&[], &file),
            "decryption_failed",
            &format!("{case} without --decryption-key"),
        );
        assert_rejected(
            &verify_with(&["--decryption-key", "other.key"], &file),
            "decryption_failed",
            &format!("{case} with another key"),
        );
        // The IdP's key is not the SP's either.
        assert_rejected(
            &verify_with(&["--decryption-key", "idp.key"], &file),
            "decryption_failed",
            &format!("{case} with the IdP's key"),
        );
    }
}

#[test]
fn altered_signed_content_is_rejected() {
    // The XML as pysaml2 wrote it verifies, so the failures below come
    // from the alteration alone.
    for case in ["signed-both", "response-signed", "assertion-signed"] {
        let out = verify_with(&[], &format!("out/{case}.xml"));
        assert_eq!(json(&out)["valid"], true, "{case}.xml: {}", json(&out));
    }
    for (case, from, to, name) in [
        (
            "signed-both",
            ">8f2c6c1e-alice-persistent<",
            ">8f2c6c1e-mallory-persistent<",
            "name-id",
        ),
        (
            "signed-both",
            ">alice@example.test<",
            ">mallory@example.test<",
            "mail",
        ),
        (
            "response-signed",
            ">8f2c6c1e-alice-persistent<",
            ">8f2c6c1e-mallory-persistent<",
            "name-id",
        ),
        (
            "assertion-signed",
            ">8f2c6c1e-alice-persistent<",
            ">8f2c6c1e-mallory-persistent<",
            "name-id",
        ),
    ] {
        let path = altered(case, from, to, name);
        assert_rejected(
            &verify_with(&[], &path),
            "digest_mismatch",
            &format!("{case} with {from} changed to {to}"),
        );
    }
}
