//! XML-DSig verification and signing, and XML-Enc decryption, for samlgate.
//!
//! Verification follows a strict profile: one Reference to the parent
//! element's ID, enveloped-signature plus one canonicalization as the only
//! transforms, an allow-list of algorithms, keys only from the trusted set.
//! The result is a [`Verified`] handle to the node that was digested. This
//! crate knows XML-DSig and XML-Enc, not SAML.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod algorithms;
mod decrypt;
mod detached;
mod digest;
mod error;
mod keys;
mod sign;
mod verify;

pub use algorithms::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
pub use decrypt::{
    content_is_authenticated, decrypt_encrypted_data, DecryptionKeys, DecryptionPolicy,
};
pub use detached::{detached_algorithm, verify_detached, DetachedVerified};
pub use error::DsigError;
pub use keys::{KeyCache, TrustedKey, TrustedKeys};
pub use samlgate_xml::Reason;
pub use sign::{sign_enveloped, SigningKey};
pub use verify::{signature_child, verify_enveloped, Verified};

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The XML-Enc namespace.
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// The XML-Enc 1.1 namespace.
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";

/// True when `bytes` holds an ASCII whitespace byte (space, tab, LF, CR,
/// FF). It runs over every byte of every posted Response and of base64
/// element text, so it folds fixed-size chunks without an early exit,
/// which the compiler vectorizes; a byte-wise `any` cost more than the
/// base64 decoding after it.
pub fn has_ascii_whitespace(bytes: &[u8]) -> bool {
    bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0C)
        })
    })
}

/// Decodes base64 as it appears in XML-DSig/XML-Enc element text:
/// whitespace anywhere is ignored.
pub fn decode_base64_text(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let engine = &base64::engine::general_purpose::STANDARD;
    if !has_ascii_whitespace(text.as_bytes()) {
        return engine.decode(text).ok();
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    engine.decode(compact).ok()
}

#[cfg(test)]
mod tests;
