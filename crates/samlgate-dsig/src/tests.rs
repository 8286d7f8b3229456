//! Unit tests of signing and verification.

use crate::{sign_enveloped, DsigError, SigningKey};

/// samlgate labels what it signs rsa-sha256, so an EC signing key is
/// refused instead of producing ECDSA under the RSA URI.
#[test]
fn signing_refuses_keys_that_are_not_rsa() {
    let ec = SigningKey::from_pem(
        include_bytes!("../../../tests/attacks/keys/ec256-key.pem"),
        include_bytes!("../../../tests/attacks/keys/ec256-cert.pem"),
    )
    .unwrap();
    assert!(matches!(
        ec.sign_rsa_sha256(b"data"),
        Err(DsigError::Unsupported(_))
    ));
    assert!(matches!(
        sign_enveloped(b"<r ID=\"_x\"><a/></r>", "_x", &ec),
        Err(DsigError::Unsupported(_))
    ));
    let rsa = SigningKey::from_pem(
        include_bytes!("../../../tests/attacks/keys/sp-key.pem"),
        include_bytes!("../../../tests/attacks/keys/sp-cert.pem"),
    )
    .unwrap();
    assert_eq!(rsa.sign_rsa_sha256(b"data").unwrap().len(), 256);
    sign_enveloped(b"<r ID=\"_x\"><a/></r>", "_x", &rsa).unwrap();
}
