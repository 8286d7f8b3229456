//! Detached signatures over raw bytes: the SAML HTTP-Redirect binding signs
//! its query string this way (SigAlg URI plus a Signature value), with no
//! XML around it. Same trusted keys, same key-strength policy as enveloped
//! verification; a narrower algorithm list.

use crate::algorithms::{short, KeyType};
use crate::digest::SignedData;
use crate::verify::{check_key_strength, verify_value};
use crate::{AlgorithmPolicy, DigestAlgorithm, DsigError, SignatureAlgorithm, TrustedKeys};

/// Proof that a detached signature verified: which key and algorithm.
/// Only [`verify_detached`] creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedVerified {
    key_fingerprint: String,
    algorithm: SignatureAlgorithm,
}

impl DetachedVerified {
    /// SHA-256 fingerprint (hex) of the key that verified.
    pub fn key_fingerprint(&self) -> &str {
        &self.key_fingerprint
    }
    /// The signature algorithm that was used.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

/// Reads a detached-signature algorithm URI under `policy`: rsa-sha256,
/// rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512, and
/// rsa-sha1 only when SHA-1 is allowed (`weak_algorithm` otherwise).
/// Everything else (HMAC above all: keyed with a public certificate it is
/// a forgery, SSPSA 201802-01; DSA, MD5, SHA-224, ecdsa-sha1, unknown URIs)
/// is `unsupported_algorithm`.
pub fn detached_algorithm(
    uri: &str,
    policy: &AlgorithmPolicy,
) -> Result<SignatureAlgorithm, DsigError> {
    let unsupported = || DsigError::Unsupported(format!("signature algorithm {}", short(uri)));
    let algorithm = SignatureAlgorithm::from_uri(uri).map_err(|_| unsupported())?;
    match (algorithm.key_type, algorithm.digest) {
        (_, DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512) => {}
        (KeyType::Rsa, DigestAlgorithm::Sha1) => algorithm.check(policy)?,
        _ => return Err(unsupported()),
    }
    Ok(algorithm)
}

/// Verifies `signature` over `data` with the algorithm named by
/// `algorithm_uri` against the trusted `keys`. ECDSA values are `r || s`,
/// as XML-DSig (and so the SAML bindings) encode them. The key that
/// verifies must also meet the policy's size minimum.
pub fn verify_detached(
    data: &[u8],
    algorithm_uri: &str,
    signature: &[u8],
    keys: &TrustedKeys,
    policy: &AlgorithmPolicy,
) -> Result<DetachedVerified, DsigError> {
    let algorithm = detached_algorithm(algorithm_uri, policy)?;
    if keys.is_empty() {
        return Err(DsigError::UntrustedKey(
            "no trusted keys are configured".into(),
        ));
    }
    if signature.is_empty() {
        return Err(DsigError::SignatureInvalid);
    }
    // The query string is short and verified once: no digest fast path.
    let signed = SignedData::Bytes(data.to_vec());
    for key in keys.iter() {
        if verify_value(key, algorithm, &signed, signature) {
            check_key_strength(key, policy)?;
            return Ok(DetachedVerified {
                key_fingerprint: key.fingerprint(),
                algorithm,
            });
        }
    }
    Err(DsigError::SignatureInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrustedKey;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;

    fn rsa(bits: u32) -> PKey<openssl::pkey::Private> {
        PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
    }

    fn trusted(key: &PKey<openssl::pkey::Private>) -> TrustedKeys {
        let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
        let mut keys = TrustedKeys::new();
        keys.add(TrustedKey::from_public_key(public).unwrap());
        keys
    }

    fn sign(key: &PKey<openssl::pkey::Private>, md: MessageDigest, data: &[u8]) -> Vec<u8> {
        Signer::new(md, key)
            .unwrap()
            .sign_oneshot_to_vec(data)
            .unwrap()
    }

    const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    const DATA: &[u8] = b"SAMLRequest=abc&RelayState=x&SigAlg=http%3A%2F%2Fwww.w3.org";

    #[test]
    fn rsa_sha256_verifies_and_reports_the_key() {
        let key = rsa(2048);
        let keys = trusted(&key);
        let sig = sign(&key, MessageDigest::sha256(), DATA);
        let v =
            verify_detached(DATA, RSA_SHA256, &sig, &keys, &AlgorithmPolicy::default()).unwrap();
        assert_eq!(
            v.key_fingerprint(),
            keys.iter().next().unwrap().fingerprint()
        );
        assert_eq!(v.algorithm(), SignatureAlgorithm::RSA_SHA256);
        // One byte of the signed octets changed.
        let mut other = DATA.to_vec();
        other[5] ^= 1;
        assert_eq!(
            verify_detached(&other, RSA_SHA256, &sig, &keys, &AlgorithmPolicy::default()),
            Err(DsigError::SignatureInvalid)
        );
    }

    #[test]
    fn sha384_sha512_and_ecdsa_verify() {
        let key = rsa(2048);
        let keys = trusted(&key);
        for (uri, md) in [
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
                MessageDigest::sha384(),
            ),
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
                MessageDigest::sha512(),
            ),
        ] {
            let sig = sign(&key, md, DATA);
            verify_detached(DATA, uri, &sig, &keys, &AlgorithmPolicy::default()).unwrap();
        }
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let der = sign(&ec, MessageDigest::sha256(), DATA);
        let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        let uri = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
        verify_detached(DATA, uri, &raw, &trusted(&ec), &AlgorithmPolicy::default()).unwrap();
        // The RSA URI with an EC key (and the reverse) never verifies.
        assert_eq!(
            verify_detached(
                DATA,
                RSA_SHA256,
                &raw,
                &trusted(&ec),
                &AlgorithmPolicy::default()
            ),
            Err(DsigError::SignatureInvalid)
        );
    }

    #[test]
    fn hmac_and_unknown_algorithms_are_unsupported_even_keyed_with_the_certificate() {
        let key = rsa(2048);
        let keys = trusted(&key);
        // The SSPSA 201802-01 forgery: HMAC keyed with public key bytes.
        let public_der = key.public_key_to_der().unwrap();
        let hmac_key = PKey::hmac(&public_der).unwrap();
        let forged = sign(&hmac_key, MessageDigest::sha256(), DATA);
        for uri in [
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            "",
        ] {
            let policy = AlgorithmPolicy {
                allow_sha1: true,
                ..AlgorithmPolicy::default()
            };
            let err = verify_detached(DATA, uri, &forged, &keys, &policy).unwrap_err();
            assert!(matches!(err, DsigError::Unsupported(_)), "{uri}: {err:?}");
        }
    }

    #[test]
    fn rsa_sha1_only_when_allowed_and_small_keys_are_weak() {
        let key = rsa(2048);
        let keys = trusted(&key);
        let sig = sign(&key, MessageDigest::sha1(), DATA);
        let uri = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
        let err = verify_detached(DATA, uri, &sig, &keys, &AlgorithmPolicy::default());
        assert!(matches!(err, Err(DsigError::Weak(_))), "{err:?}");
        let allow = AlgorithmPolicy {
            allow_sha1: true,
            ..AlgorithmPolicy::default()
        };
        verify_detached(DATA, uri, &sig, &keys, &allow).unwrap();

        let small = rsa(1024);
        let sig = sign(&small, MessageDigest::sha256(), DATA);
        let err = verify_detached(DATA, RSA_SHA256, &sig, &trusted(&small), &allow);
        assert!(matches!(err, Err(DsigError::Weak(_))), "{err:?}");
    }

    #[test]
    fn no_keys_or_an_empty_value_never_verify() {
        let key = rsa(2048);
        let sig = sign(&key, MessageDigest::sha256(), DATA);
        let none = TrustedKeys::new();
        assert!(matches!(
            verify_detached(DATA, RSA_SHA256, &sig, &none, &AlgorithmPolicy::default()),
            Err(DsigError::UntrustedKey(_))
        ));
        assert_eq!(
            verify_detached(
                DATA,
                RSA_SHA256,
                &[],
                &trusted(&key),
                &AlgorithmPolicy::default()
            ),
            Err(DsigError::SignatureInvalid)
        );
    }
}
