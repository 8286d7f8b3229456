//! The signature layer's error type.

use samlgate_xml::{Reason, XmlError};
use thiserror::Error;

/// Why a signature (or an encrypted element) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DsigError {
    /// The Signature element is not shaped as the profile requires.
    #[error("signature shape: {0}")]
    Shape(String),
    /// The Reference is not exactly `#` + the parent's ID.
    #[error("reference: {0}")]
    Reference(String),
    /// An algorithm, transform or key type outside the allow-list.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// An algorithm or key weaker than the policy allows.
    #[error("weak algorithm: {0}")]
    Weak(String),
    /// The digest of the referenced content does not match DigestValue.
    #[error("digest of the referenced element does not match")]
    DigestMismatch,
    /// No trusted key verifies the signature value.
    #[error("signature value does not verify with any trusted key")]
    SignatureInvalid,
    /// The signature was made with a key outside the trusted set.
    #[error("the signing key is not trusted: {0}")]
    UntrustedKey(String),
    /// Decryption failed. Deliberately carries no detail: padding, key and
    /// format errors must be indistinguishable (CBC and Bleichenbacher
    /// oracles).
    #[error("the encrypted element could not be decrypted")]
    DecryptionFailed,
    /// The document (or decrypted plaintext) failed to parse.
    #[error(transparent)]
    Xml(#[from] XmlError),
}

impl DsigError {
    /// The stable reason code for this error.
    pub fn reason(&self) -> Reason {
        match self {
            DsigError::Shape(_) => Reason::SchemaViolation,
            DsigError::Reference(_) => Reason::ReferenceInvalid,
            DsigError::Unsupported(_) => Reason::UnsupportedAlgorithm,
            DsigError::Weak(_) => Reason::WeakAlgorithm,
            DsigError::DigestMismatch => Reason::DigestMismatch,
            DsigError::SignatureInvalid => Reason::SignatureInvalid,
            DsigError::UntrustedKey(_) => Reason::UntrustedKey,
            DsigError::DecryptionFailed => Reason::DecryptionFailed,
            DsigError::Xml(e) => e.reason(),
        }
    }
}
