//! XML-Enc decryption of EncryptedData (being written; see the helper task).

use openssl::pkey::{PKey, Private};
use samlgate_xml::{Document, NodeId};

use crate::DsigError;

/// The SP's private decryption keys; several at once during key rollover.
#[derive(Clone, Default)]
pub struct DecryptionKeys {
    keys: Vec<PKey<Private>>,
}

impl std::fmt::Debug for DecryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptionKeys({} keys)", self.keys.len())
    }
}

impl DecryptionKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds every private key found in PEM text.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let key =
            PKey::private_key_from_pem(pem).map_err(|e| format!("cannot read private key: {e}"))?;
        self.keys.push(key);
        Ok(())
    }
    /// True when no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Which decryption algorithms are allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptionPolicy {
    /// Accept rsa-1_5 key transport (a padding-oracle risk; off by default).
    pub allow_rsa_1_5: bool,
}

/// Decrypts an `xenc:EncryptedData` element and returns the plaintext.
pub fn decrypt_encrypted_data(
    _doc: &Document<'_>,
    _encrypted_data: NodeId,
    _keys: &DecryptionKeys,
    _policy: &DecryptionPolicy,
) -> Result<Vec<u8>, DsigError> {
    Err(DsigError::DecryptionFailed)
}
