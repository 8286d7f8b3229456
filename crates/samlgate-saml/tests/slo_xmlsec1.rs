//! Cross-checks of the logout messages samlgate signs, by independent
//! verifiers: Debian's xmlsec1 verifies the enveloped signature of the
//! HTTP-POST LogoutRequest and LogoutResponse, and the openssl command line
//! verifies the HTTP-Redirect detached signature over the octets that the
//! URL carries (`SAMLRequest=…&RelayState=…&SigAlg=…`). Each also refuses
//! the same message with one signed byte changed, so the checks can fail.
//! xmlsec1 and openssl are required (scripts/deps.sh installs them); the
//! test fails without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use samlgate_dsig::SigningKey;
use samlgate_saml::{Instant, LogoutRequest, LogoutResponse, LogoutStatus, NameId};

const XMLSEC1: &str = "/usr/bin/xmlsec1";

fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/attacks/keys")
}

fn key() -> SigningKey {
    let read = |n: &str| std::fs::read(keys().join(n)).unwrap();
    SigningKey::from_pem(&read("sp-key.pem"), &read("sp-cert.pem")).unwrap()
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("samlgate-slo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn xmlsec1_verify(xml: &[u8], root: &str, dir: &Path, name: &str) -> std::process::Output {
    assert!(
        Path::new(XMLSEC1).exists(),
        "{XMLSEC1} is missing: install xmlsec1 (scripts/deps.sh)"
    );
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    Command::new(XMLSEC1)
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(keys().join("sp-cert.pem"))
        .args([
            "--id-attr:ID",
            &format!("urn:oasis:names:tc:SAML:2.0:protocol:{root}"),
        ])
        .arg(&file)
        .output()
        .expect("run xmlsec1")
}

fn name_id() -> NameId {
    NameId {
        value: "8f2c-alice".into(),
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
        name_qualifier: Some("https://idp.example.test/idp".into()),
        sp_name_qualifier: Some("https://sp.example.test/saml/metadata".into()),
    }
}

fn at() -> Instant {
    Instant::parse("2026-01-15T10:00:00Z").unwrap()
}

#[test]
fn xmlsec1_verifies_the_signed_post_messages() {
    let dir = work_dir("xmlsec1");
    let name_id = name_id();
    let sessions = vec!["_s1".to_owned()];
    let request = LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: "https://idp.example.test/slo",
        issuer: "https://sp.example.test/saml/metadata",
        name_id: &name_id,
        session_indexes: &sessions,
        not_on_or_after: Some(at().plus_seconds(300)),
        reason: None,
    }
    .signed_xml(&key())
    .unwrap();
    let response = LogoutResponse {
        id: "_lresp-1",
        issue_instant: at(),
        destination: "https://idp.example.test/slo",
        issuer: "https://sp.example.test/saml/metadata",
        in_response_to: Some("_idp-lr-1"),
        status: LogoutStatus::PartialLogout,
        status_message: None,
    }
    .signed_xml(&key())
    .unwrap();
    for (root, xml, from, to) in [
        ("LogoutRequest", request, "8f2c-alice", "8f2c-mallo"),
        ("LogoutResponse", response, "_idp-lr-1", "_idp-lr-2"),
    ] {
        let out = xmlsec1_verify(&xml, root, &dir, &format!("{root}.xml"));
        assert!(
            out.status.success(),
            "xmlsec1 refused our {root}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(xml).unwrap();
        assert_eq!(text.matches(from).count(), 1);
        let tampered = text.replace(from, to);
        let out = xmlsec1_verify(
            tampered.as_bytes(),
            root,
            &dir,
            &format!("{root}-tampered.xml"),
        );
        assert!(!out.status.success(), "xmlsec1 accepted a tampered {root}");
    }
}

#[test]
fn openssl_verifies_the_redirect_signature_over_the_sent_octets() {
    let dir = work_dir("openssl");
    let name_id = name_id();
    let url = LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: "https://idp.example.test/slo",
        issuer: "https://sp.example.test/saml/metadata",
        name_id: &name_id,
        session_indexes: &[],
        not_on_or_after: None,
        reason: None,
    }
    .redirect_url(Some("back to /app"), &key())
    .unwrap();
    let query = url.split_once('?').unwrap().1;
    let (signed, signature) = query.split_once("&Signature=").unwrap();
    assert!(signed.starts_with("SAMLRequest="));
    assert!(signed.contains("&RelayState=back+to+%2Fapp&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"));
    let signature: String = form_urlencoded::parse(format!("s={signature}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap();
    std::fs::write(dir.join("sig.bin"), signature).unwrap();
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(keys().join("sp-cert.pem"))
        .output()
        .expect("run openssl");
    assert!(pubkey.status.success());
    std::fs::write(dir.join("pub.pem"), &pubkey.stdout).unwrap();
    for (data, expect_ok) in [
        (signed.to_owned(), true),
        (signed.replace("RelayState=back", "RelayState=bach"), false),
    ] {
        std::fs::write(dir.join("signed.txt"), &data).unwrap();
        let out = Command::new("openssl")
            .current_dir(&dir)
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.bin",
                "signed.txt",
            ])
            .output()
            .expect("run openssl dgst");
        assert_eq!(
            out.status.success(),
            expect_ok,
            "openssl dgst on {data}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
