//! Parsed IdP keys, cached by certificate SHA-256 fingerprint (moka).

use moka::sync::Cache;
use openssl::hash::{hash, MessageDigest};
use samlgate_dsig::{KeyCache, TrustedKey};

/// A bounded cache of certificate → key. Metadata refreshes hand the same
/// certificates over again; only new ones are parsed.
#[derive(Clone)]
pub struct FingerprintKeyCache {
    keys: Cache<[u8; 32], TrustedKey>,
}

impl std::fmt::Debug for FingerprintKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FingerprintKeyCache({} keys)", self.keys.entry_count())
    }
}

impl FingerprintKeyCache {
    /// A cache holding at most `capacity` keys (large federations: tens of
    /// thousands of certificates).
    pub fn new(capacity: u64) -> Self {
        FingerprintKeyCache {
            keys: Cache::new(capacity),
        }
    }

    /// How many keys are cached now.
    pub fn len(&self) -> u64 {
        self.keys.run_pending_tasks();
        self.keys.entry_count()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KeyCache for FingerprintKeyCache {
    fn key_for_cert_der(&self, der: &[u8]) -> Result<TrustedKey, String> {
        let digest = hash(MessageDigest::sha256(), der).map_err(|e| e.to_string())?;
        let fingerprint: [u8; 32] = digest
            .as_ref()
            .try_into()
            .map_err(|_| "SHA-256 digest is not 32 bytes".to_owned())?;
        if let Some(key) = self.keys.get(&fingerprint) {
            return Ok(key);
        }
        // A certificate that fails to parse is not cached: the error is
        // reported each time, and a bad entry cannot crowd out good ones.
        let key = TrustedKey::from_cert_der(der)?;
        self.keys.insert(fingerprint, key.clone());
        Ok(key)
    }
}
