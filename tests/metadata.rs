//! Metadata exchange through the built binary: IdP metadata in (key
//! rollover, validUntil, signed metadata) with `samlgate verify`, SP
//! metadata out with `samlgate metadata`, checked by independent tools
//! (xmllint against the OASIS schemas, xmlsec1 for the signature).
//! Fixtures: tests/metadata/gen.sh (openssl + xmlsec1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metadata")
}

fn verify(extra: &[&str], response: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .current_dir(dir())
        .arg("verify")
        .args([
            "--sp-entity-id",
            "https://sp.metadata.test/saml/metadata",
            "--acs-url",
            "https://sp.metadata.test/saml/acs",
            "--now",
            "2024-03-01T10:01:00Z",
        ])
        .args(extra)
        .arg(format!("data/{response}"))
        .output()
        .expect("run samlgate")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_valid(out: &Output, name_id: &str) {
    let v = json(out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["name_id"], name_id);
}

fn assert_config_error(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "no JSON on a configuration error");
    assert!(
        stderr.contains(message),
        "stderr {stderr:?} lacks {message:?}"
    );
}

#[test]
fn two_signing_certificates_both_trusted_a_third_is_not() {
    let md = ["--idp-metadata", "data/idp-two-keys.xml"];
    assert_valid(
        &verify(&md, "response-signed-by-old-key.xml"),
        "carol@metadata.test",
    );
    assert_valid(
        &verify(&md, "response-signed-by-new-key.xml"),
        "carol@metadata.test",
    );
    let out = verify(&md, "response-signed-by-stranger.xml");
    assert_eq!(out.status.code(), Some(1));
    // The stranger's certificate is in the metadata, but for encryption
    // only: it must not be trusted for signatures.
    assert_eq!(json(&out)["reason"], "untrusted_key");
}

#[test]
fn expired_metadata_is_refused() {
    assert_config_error(
        &verify(
            &["--idp-metadata", "data/idp-expired.xml"],
            "response-signed-by-old-key.xml",
        ),
        "metadata expired: validUntil 2024-02-01T00:00:00Z has passed",
    );
}

#[test]
fn valid_until_required_only_by_policy() {
    let md = ["--idp-metadata", "data/idp-no-valid-until.xml"];
    assert_valid(
        &verify(&md, "response-signed-by-old-key.xml"),
        "carol@metadata.test",
    );
    let strict = [md[0], md[1], "--require-metadata-valid-until"];
    assert_config_error(
        &verify(&strict, "response-signed-by-old-key.xml"),
        "metadata has no validUntil, and the policy requires one",
    );
}

#[test]
fn signed_metadata_verifies_with_the_configured_certificate() {
    let args = [
        "--idp-metadata",
        "data/idp-signed.xml",
        "--metadata-signing-cert",
        "keys/federation-cert.pem",
    ];
    assert_valid(
        &verify(&args, "response-signed-by-new-key.xml"),
        "carol@metadata.test",
    );
}

#[test]
fn bad_metadata_signatures_are_refused() {
    for (file, message) in [
        (
            "data/idp-signed-tampered.xml",
            "metadata signature does not verify with the configured signing certificate (digest_mismatch)",
        ),
        (
            "data/idp-signed-by-impostor.xml",
            "metadata signature does not verify with the configured signing certificate (signature_invalid)",
        ),
        (
            "data/idp-two-keys.xml",
            "metadata is unsigned, but a metadata signing certificate is configured",
        ),
    ] {
        let args = [
            "--idp-metadata",
            file,
            "--metadata-signing-cert",
            "keys/federation-cert.pem",
        ];
        assert_config_error(&verify(&args, "response-signed-by-old-key.xml"), message);
    }
}

fn sp_metadata(extra: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .current_dir(dir())
        .args([
            "metadata",
            "--entity-id",
            "https://sp.metadata.test/saml/metadata",
            "--acs-url",
            "https://cucm1.metadata.test:8443/ssosp/saml/SSO/alias/cucm1",
            "--acs-url",
            "https://cucm2.metadata.test:8443/ssosp/saml/SSO/alias/cucm2",
            "--acs-url",
            "https://cucm3.metadata.test:8443/ssosp/saml/SSO/alias/cucm3",
            "--slo-url",
            "https://sp.metadata.test/saml/logout",
            "--signing-cert",
            "keys/federation-cert.pem",
            "--encryption-cert",
            "keys/idp-old-cert.pem",
            "--encryption-cert",
            "keys/idp-new-cert.pem",
            "--name-id-format",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "--name-id-format",
            "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            "--valid-days",
            "30",
        ])
        .args(extra)
        .output()
        .expect("run samlgate metadata");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn write_temp(name: &str, data: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("samlgate-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("write temp file");
    path
}

/// xmllint against the OASIS metadata schema of Debian's opensaml-schemas,
/// with the XML-DSig/XML-Enc schemas of xmltooling-schemas (no network).
fn assert_schema_valid(path: &Path) {
    let out = Command::new("xmllint")
        .env(
            "XML_CATALOG_FILES",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/catalog.xml"),
        )
        .args([
            "--noout",
            "--nonet",
            "--schema",
            "/usr/share/xml/opensaml/saml-schema-metadata-2.0.xsd",
        ])
        .arg(path)
        .output()
        .expect("xmllint (scripts/deps.sh installs libxml2-utils and opensaml-schemas)");
    assert!(
        out.status.success(),
        "schema validation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sp_metadata_is_schema_valid_with_one_acs_per_node() {
    let xml = sp_metadata(&[]);
    let text = String::from_utf8_lossy(&xml);
    for (index, node) in ["cucm1", "cucm2", "cucm3"].iter().enumerate() {
        assert!(
            text.contains(&format!("/alias/{node}\" index=\"{index}\"")),
            "{text}"
        );
    }
    assert!(text.contains("AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\""));
    assert_eq!(text.matches("use=\"encryption\"").count(), 2);
    assert!(text.contains("validUntil=\""));
    let path = write_temp("sp-metadata.xml", &xml);
    assert_schema_valid(&path);
    let _ = std::fs::remove_file(path);
}

#[test]
fn signed_sp_metadata_verifies_with_xmlsec1_and_stays_schema_valid() {
    let xml = sp_metadata(&["--sign-key", "keys/federation-key.pem"]);
    let path = write_temp("sp-metadata-signed.xml", &xml);
    assert_schema_valid(&path);
    let out = Command::new("xmlsec1")
        .current_dir(dir())
        .args([
            "--verify",
            "--pubkey-cert-pem",
            "keys/federation-cert.pem",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&path)
        .output()
        .expect("xmlsec1");
    assert!(
        out.status.success(),
        "xmlsec1 refused our signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And a different key does not verify it (the check is real).
    let out = Command::new("xmlsec1")
        .current_dir(dir())
        .args([
            "--verify",
            "--pubkey-cert-pem",
            "keys/impostor-cert.pem",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&path)
        .output()
        .expect("xmlsec1");
    assert!(!out.status.success());
    let _ = std::fs::remove_file(path);
}

#[test]
fn sp_metadata_usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .current_dir(dir())
        .args([
            "metadata",
            "--entity-id",
            "https://sp.metadata.test/",
            "--acs-url",
            "https://sp.metadata.test/acs",
            "--signing-cert",
            "keys/does-not-exist.pem",
        ])
        .output()
        .expect("run samlgate metadata");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys/does-not-exist.pem"));
}

/// The demo IdP's metadata (SingleLogoutService, NameIDFormat and
/// SingleSignOnService in the schema's order): Shibboleth SP validates
/// metadata against the schema and refuses it otherwise
/// (loadtest/compare loads this IdP).
#[test]
fn demo_idp_metadata_is_schema_valid() {
    let idp = samlgate_gateway::demo::idp::DemoIdp::new(
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8080/saml/metadata",
        "http://127.0.0.1:8080/saml/acs",
    )
    .unwrap();
    let path = write_temp("demo-idp-metadata.xml", idp.metadata().as_bytes());
    assert_schema_valid(&path);
}
