//! The algorithm allow-list: URIs to typed algorithms, and the policy that
//! decides which of them are acceptable.

use openssl::hash::MessageDigest;
use samlgate_xml::C14nMethod;

use crate::DsigError;

/// Which algorithms and key sizes verification accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Accept SHA-1 digests and rsa-sha1/ecdsa-sha1 signatures.
    pub allow_sha1: bool,
    /// Smallest RSA modulus accepted, in bits.
    pub min_rsa_bits: u32,
    /// Smallest EC field size accepted, in bits.
    pub min_ec_bits: u32,
}

impl Default for AlgorithmPolicy {
    fn default() -> Self {
        AlgorithmPolicy {
            allow_sha1: false,
            min_rsa_bits: 2048,
            min_ec_bits: 256,
        }
    }
}

/// A digest algorithm of DigestMethod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// SHA-1 (weak; policy decides).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Parses a DigestMethod URI.
    pub fn from_uri(uri: &str) -> Result<Self, DsigError> {
        Ok(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => DigestAlgorithm::Sha1,
            "http://www.w3.org/2001/04/xmldsig-more#sha224" => DigestAlgorithm::Sha224,
            "http://www.w3.org/2001/04/xmlenc#sha256" => DigestAlgorithm::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => DigestAlgorithm::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => DigestAlgorithm::Sha512,
            other => {
                return Err(DsigError::Unsupported(format!(
                    "digest method {}",
                    short(other)
                )))
            }
        })
    }

    /// The URI of this algorithm.
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            DigestAlgorithm::Sha224 => "http://www.w3.org/2001/04/xmldsig-more#sha224",
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestAlgorithm::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            DigestAlgorithm::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    /// The openssl digest.
    pub fn message_digest(self) -> MessageDigest {
        match self {
            DigestAlgorithm::Sha1 => MessageDigest::sha1(),
            DigestAlgorithm::Sha224 => MessageDigest::sha224(),
            DigestAlgorithm::Sha256 => MessageDigest::sha256(),
            DigestAlgorithm::Sha384 => MessageDigest::sha384(),
            DigestAlgorithm::Sha512 => MessageDigest::sha512(),
        }
    }

    /// Refuses SHA-1 unless the policy allows it.
    pub(crate) fn check(self, policy: &AlgorithmPolicy) -> Result<(), DsigError> {
        if self == DigestAlgorithm::Sha1 && !policy.allow_sha1 {
            return Err(DsigError::Weak(
                "sha1 digest (allow it with --allow-sha1)".into(),
            ));
        }
        Ok(())
    }
}

/// Key type of a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA PKCS#1 v1.5.
    Rsa,
    /// ECDSA.
    Ec,
}

/// A SignatureMethod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureAlgorithm {
    /// The key type the algorithm needs.
    pub key_type: KeyType,
    /// The hash inside the signature.
    pub digest: DigestAlgorithm,
}

impl SignatureAlgorithm {
    /// rsa-sha256, the algorithm samlgate signs with.
    pub const RSA_SHA256: SignatureAlgorithm = SignatureAlgorithm {
        key_type: KeyType::Rsa,
        digest: DigestAlgorithm::Sha256,
    };

    /// Parses a SignatureMethod URI. HMAC, DSA, MD5 and anything unknown are
    /// unsupported: only asymmetric methods with a trusted public key exist.
    pub fn from_uri(uri: &str) -> Result<Self, DsigError> {
        use DigestAlgorithm::*;
        use KeyType::*;
        let (key_type, digest) = match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (Rsa, Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224" => (Rsa, Sha224),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (Rsa, Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (Rsa, Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (Rsa, Sha512),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => (Ec, Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224" => (Ec, Sha224),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (Ec, Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (Ec, Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (Ec, Sha512),
            other => {
                return Err(DsigError::Unsupported(format!(
                    "signature method {}",
                    short(other)
                )))
            }
        };
        Ok(SignatureAlgorithm { key_type, digest })
    }

    /// The URI of this algorithm.
    pub fn uri(self) -> &'static str {
        use DigestAlgorithm::*;
        match (self.key_type, self.digest) {
            (KeyType::Rsa, Sha1) => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            (KeyType::Rsa, Sha224) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224",
            (KeyType::Rsa, Sha256) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            (KeyType::Rsa, Sha384) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            (KeyType::Rsa, Sha512) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            (KeyType::Ec, Sha1) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            (KeyType::Ec, Sha224) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224",
            (KeyType::Ec, Sha256) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            (KeyType::Ec, Sha384) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            (KeyType::Ec, Sha512) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        }
    }

    pub(crate) fn check(self, policy: &AlgorithmPolicy) -> Result<(), DsigError> {
        if self.digest == DigestAlgorithm::Sha1 && !policy.allow_sha1 {
            return Err(DsigError::Weak(
                "sha1 signature method (allow it with --allow-sha1)".into(),
            ));
        }
        Ok(())
    }
}

/// A canonicalization URI, as CanonicalizationMethod or as a Transform.
/// The `#WithComments` variants are refused: with a same-document
/// Reference they would re-open comment-truncation differentials.
pub(crate) fn c14n_from_uri(uri: &str) -> Option<C14nMethod> {
    match uri {
        "http://www.w3.org/2001/10/xml-exc-c14n#" => Some(C14nMethod::Exclusive),
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" => Some(C14nMethod::Inclusive10),
        "http://www.w3.org/2006/12/xml-c14n11" => Some(C14nMethod::Inclusive11),
        _ => None,
    }
}

/// The exclusive c14n URI.
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform URI.
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// At most 80 characters of an attacker-supplied URI, for error text.
pub(crate) fn short(s: &str) -> String {
    s.chars().take(80).collect()
}
