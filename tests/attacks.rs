//! Crafted attack fixtures (tests/attacks, made by gen.py with xmlsec1) per
//! class of ../shared/ATTACKS.md, in each signing mode, through the built
//! `samlgate verify`; plus the two inputs too large to keep as files.

mod common;

use std::process::Command;

use common::run_corpus;

#[test]
fn attack_fixtures() {
    run_corpus("attacks/cases", 112);
}

fn verify_bytes(name: &str, data: &[u8]) -> serde_json::Value {
    let path = std::env::temp_dir().join(format!("samlgate-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("write temp input");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/attacks/cases/s00-control-assertion");
    let out = Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .current_dir(dir)
        .args([
            "verify",
            "--idp-cert",
            "idp-cert.pem",
            "--now",
            "2024-06-01T12:01:00Z",
        ])
        .arg(&path)
        .output()
        .expect("run samlgate");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// ATTACKS.md §20: a validly signed Response padded to 10 MB is refused on
/// size, before parsing (the limit is 1 MiB decoded).
#[test]
fn ten_megabyte_input_is_too_large() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/attacks/cases/s00-control-assertion");
    let signed = std::fs::read(dir.join("response.xml")).expect("control fixture");
    let mut data = signed.clone();
    data.extend(std::iter::repeat_n(b' ', 10 * 1024 * 1024 - signed.len()));
    assert_eq!(verify_bytes("10mb.xml", &data)["reason"], "too_large");
    // The same as base64 (the form value), still too large once decoded.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    assert_eq!(
        verify_bytes("10mb.b64", b64.as_bytes())["reason"],
        "too_large"
    );
}
