//! Sealed cookie values: AES-256-GCM under a key ring (the first key seals,
//! every key opens, so keys rotate without logging everyone out).
//!
//! Layout, base64url without padding:
//! `version (1) | key id (4) | nonce (12) | ciphertext | tag (16)`.
//! The key id is the first four bytes of SHA-256 of the key: it picks the
//! key without trial decryption and reveals nothing about it. The purpose
//! (`session`, `login`) is authenticated as associated data, so a value
//! sealed for one cookie never opens as another.

use base64::Engine;
use openssl::hash::{hash, MessageDigest};
use openssl::rand::rand_bytes;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;
const HEADER: usize = 1 + 4 + NONCE;

/// Why a key ring could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("session key: {0}")]
pub struct KeyError(pub String);

/// One 256-bit key from its base64 text.
pub fn parse_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| KeyError(format!("not base64: {e}")))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyError(format!("{} bytes, need 32", bytes.len())))
}

struct RingKey {
    id: [u8; 4],
    key: [u8; 32],
}

/// The session key ring.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} keys)", self.keys.len())
    }
}

impl KeyRing {
    /// A ring from raw keys; the first one seals.
    pub fn new(keys: &[[u8; 32]]) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError("the key ring is empty".into()));
        }
        let keys = keys
            .iter()
            .map(|k| {
                let digest =
                    hash(MessageDigest::sha256(), k).map_err(|e| KeyError(e.to_string()))?;
                let mut id = [0u8; 4];
                for (dst, src) in id.iter_mut().zip(digest.iter()) {
                    *dst = *src;
                }
                Ok(RingKey { id, key: *k })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(KeyRing { keys })
    }

    /// A ring with one fresh random key (the demo: sessions end with the
    /// process).
    pub fn random() -> Result<Self, KeyError> {
        let mut key = [0u8; 32];
        rand_bytes(&mut key).map_err(|e| KeyError(e.to_string()))?;
        KeyRing::new(&[key])
    }

    /// Seals `plaintext` for `purpose`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let first = self
            .keys
            .first()
            .ok_or_else(|| KeyError("the key ring is empty".into()))?;
        let mut nonce = [0u8; NONCE];
        rand_bytes(&mut nonce).map_err(|e| KeyError(e.to_string()))?;
        let mut tag = [0u8; TAG];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &first.key,
            Some(&nonce),
            purpose.as_bytes(),
            plaintext,
            &mut tag,
        )
        .map_err(|e| KeyError(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + ciphertext.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&first.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value; None for anything forged, truncated, sealed
    /// for another purpose or under a key no longer in the ring.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.as_bytes())
            .ok()?;
        if raw.len() < HEADER + TAG || raw.first() != Some(&VERSION) {
            return None;
        }
        let (header, rest) = raw.split_at(HEADER);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG);
        let id = header.get(1..5)?;
        let nonce = header.get(5..HEADER)?;
        let key = self.keys.iter().find(|k| k.id == id)?;
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &key.key,
            Some(nonce),
            purpose.as_bytes(),
            ciphertext,
            tag,
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_rotation() {
        let old = KeyRing::new(&[[1; 32]]).unwrap();
        let sealed = old.seal("session", b"alice").unwrap();
        assert_eq!(old.open("session", &sealed).unwrap(), b"alice");
        // Rotation: a new first key, the old one still opens.
        let rotated = KeyRing::new(&[[2; 32], [1; 32]]).unwrap();
        assert_eq!(rotated.open("session", &sealed).unwrap(), b"alice");
        // The old key removed: the value no longer opens.
        let only_new = KeyRing::new(&[[2; 32]]).unwrap();
        assert!(only_new.open("session", &sealed).is_none());
    }

    #[test]
    fn forged_or_repurposed_values_do_not_open() {
        let ring = KeyRing::new(&[[7; 32]]).unwrap();
        let sealed = ring.seal("login", b"{\"id\":\"_x\"}").unwrap();
        assert!(ring.open("session", &sealed).is_none(), "purpose is bound");
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sealed)
            .unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        assert!(ring.open("login", &flipped).is_none(), "tag checked");
        assert!(ring.open("login", "").is_none());
        assert!(ring.open("login", "!!!").is_none());
        assert!(ring.open("login", &sealed[..20]).is_none());
    }

    #[test]
    fn keys_parse_only_at_32_bytes() {
        assert!(parse_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
        assert!(parse_key("c2hvcnQ=").is_err());
        assert!(parse_key("not base64!").is_err());
    }
}
