//! Unit tests of signing and verification.

use std::io::Write;

use crate::digest::Digester;
use crate::DigestAlgorithm;
use crate::{sign_enveloped, DsigError, SigningKey};
use openssl::hash::MessageDigest;

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

/// The Reference digest gives, for every algorithm and however the bytes
/// are split into writes, what a one-shot EVP digest gives.
#[test]
fn digester_matches_evp_for_every_algorithm() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for algorithm in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha224,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let expected = openssl::hash::hash(algorithm.message_digest(), &data).unwrap();
        for split in [0, 1, 63, 64, 65, 4999, 5000] {
            let mut digester = Digester::new(algorithm).unwrap();
            digester.write_all(&data[..split]).unwrap();
            digester.write_all(&data[split..]).unwrap();
            assert_eq!(
                digester.finish().unwrap(),
                &expected[..],
                "{algorithm:?} {split}"
            );
        }
    }
}

/// The pooled rsa-sha256 check accepts and refuses exactly what an EVP
/// digest-verify with SHA-256 accepts and refuses, also when contexts are
/// reused after failures.
#[test]
fn pooled_rsa_sha256_agrees_with_evp_verify() {
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::sign::{Signer, Verifier};

    let private = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let public = PKey::public_key_from_der(&private.public_key_to_der().unwrap()).unwrap();
    let key = crate::TrustedKey::from_public_key(public.clone()).unwrap();
    let spki_sha256 = openssl::sha::sha256(&public.public_key_to_der().unwrap());
    let hex: String = spki_sha256.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(key.fingerprint(), hex);
    let data = b"<ds:SignedInfo>...</ds:SignedInfo>".to_vec();
    let sign = |md: MessageDigest, data: &[u8]| {
        let mut signer = Signer::new(md, &private).unwrap();
        signer.sign_oneshot_to_vec(data).unwrap()
    };
    let good = sign(MessageDigest::sha256(), &data);
    let mut flipped = good.clone();
    flipped[100] ^= 1;
    let mut candidates: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("valid", data.clone(), good.clone()),
        ("other data", b"other".to_vec(), good.clone()),
        ("flipped bit", data.clone(), flipped),
        (
            "sha1 DigestInfo",
            data.clone(),
            sign(MessageDigest::sha1(), &data),
        ),
        (
            "sha512 DigestInfo",
            data.clone(),
            sign(MessageDigest::sha512(), &data),
        ),
        ("truncated", data.clone(), good[..255].to_vec()),
        ("empty", data.clone(), Vec::new()),
        ("too long", data.clone(), [good.clone(), vec![0]].concat()),
        ("zeros", data.clone(), vec![0; 256]),
        ("valid again", data.clone(), good.clone()),
    ];
    candidates.extend(candidates.clone());
    for (what, data, signature) in candidates {
        let expected = Verifier::new(MessageDigest::sha256(), &public)
            .unwrap()
            .verify_oneshot(&signature, &data)
            .unwrap_or(false);
        let digest = openssl::sha::sha256(&data);
        assert_eq!(
            key.verify_rsa_sha256(&digest, &signature),
            expected,
            "{what}"
        );
        assert_eq!(expected, what.starts_with("valid"), "{what}");
    }

    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let ec_public =
        PKey::public_key_from_der(&PKey::from_ec_key(ec).unwrap().public_key_to_der().unwrap())
            .unwrap();
    let ec_key = crate::TrustedKey::from_public_key(ec_public).unwrap();
    assert!(!ec_key.verify_rsa_sha256(&openssl::sha::sha256(&data), &good));
}
