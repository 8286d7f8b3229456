//! Hashing for signature verification: the Reference digest and the
//! SignedInfo, streamed into by canonicalization.

use openssl::hash::Hasher;

use crate::{DigestAlgorithm, DsigError};

/// The canonical SignedInfo as the signature check needs it.
pub(crate) enum SignedData {
    /// rsa-sha256: its SHA-256.
    Sha256([u8; 32]),
    /// Any other algorithm: the bytes.
    Bytes(Vec<u8>),
}

/// A Reference digest that canonicalization streams into. SHA-256 (the
/// digest of nearly every SAML signature) uses OpenSSL's SHA-256 context
/// directly, without the per-message algorithm fetch and context
/// allocation of the EVP interface; the other digests go through EVP.
pub(crate) enum Digester {
    Sha256(openssl::sha::Sha256),
    Evp(Hasher),
}

impl Digester {
    pub(crate) fn new(algorithm: DigestAlgorithm) -> Result<Self, DsigError> {
        Ok(match algorithm {
            DigestAlgorithm::Sha256 => Digester::Sha256(openssl::sha::Sha256::new()),
            other => Digester::Evp(
                Hasher::new(other.message_digest())
                    .map_err(|e| DsigError::Unsupported(e.to_string()))?,
            ),
        })
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, DsigError> {
        match self {
            Digester::Sha256(sha) => Ok(sha.finish().to_vec()),
            Digester::Evp(mut hasher) => hasher
                .finish()
                .map(|d| d.to_vec())
                .map_err(|_| DsigError::DigestMismatch),
        }
    }
}

impl std::io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Digester::Sha256(sha) => sha.update(buf),
            Digester::Evp(hasher) => hasher.update(buf).map_err(std::io::Error::other)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
