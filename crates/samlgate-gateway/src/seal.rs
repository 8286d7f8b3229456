//! Sealed cookie values: AES-256-GCM under a key ring (the first key seals,
//! every key opens, so keys rotate without logging everyone out).
//!
//! Layout, base64url without padding:
//! `version (1) | key id (4) | nonce (12) | ciphertext | tag (16)`.
//! The key id is the first four bytes of SHA-256 of the key: it picks the
//! key without trial decryption and reveals nothing about it. The purpose
//! (`session`, `login`) is authenticated as associated data, so a value
//! sealed for one cookie never opens as another.

use std::cell::RefCell;
use std::sync::OnceLock;

use base64::Engine;
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::CipherCtx;
use openssl::error::ErrorStack;
use openssl::hash::{hash, MessageDigest};
use openssl::rand::rand_bytes;

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
        let nonce = next_nonce().map_err(|e| KeyError(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&first.id);
        out.extend_from_slice(&nonce);
        let sealed = (|| -> Result<(), ErrorStack> {
            let mut ctx = CipherCtx::new()?;
            ctx.encrypt_init(Some(aes_256_gcm()?), Some(&first.key), Some(&nonce))?;
            ctx.cipher_update(purpose.as_bytes(), None)?;
            ctx.cipher_update_vec(plaintext, &mut out)?;
            ctx.cipher_final_vec(&mut out)?;
            let mut tag = [0u8; TAG];
            ctx.tag(&mut tag)?;
            out.extend_from_slice(&tag);
            Ok(())
        })();
        sealed.map_err(|e| KeyError(e.to_string()))?;
        Ok(b64url(&out))
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
        let opened = (|| -> Result<Vec<u8>, ErrorStack> {
            let mut ctx = CipherCtx::new()?;
            ctx.decrypt_init(Some(aes_256_gcm()?), Some(&key.key), Some(nonce))?;
            ctx.cipher_update(purpose.as_bytes(), None)?;
            let mut plaintext = Vec::with_capacity(ciphertext.len() + TAG);
            ctx.cipher_update_vec(ciphertext, &mut plaintext)?;
            ctx.set_tag(tag)?;
            // Fails unless the tag matches: nothing unauthenticated leaves.
            ctx.cipher_final_vec(&mut plaintext)?;
            Ok(plaintext)
        })();
        opened.ok()
    }
}

/// AES-256-GCM, fetched from the provider once: OpenSSL 3 otherwise
/// looks the algorithm up by name (a locked store) on every seal and open.
fn aes_256_gcm() -> Result<&'static CipherRef, ErrorStack> {
    static CIPHER: OnceLock<Cipher> = OnceLock::new();
    if let Some(cipher) = CIPHER.get() {
        return Ok(cipher);
    }
    let fetched = Cipher::fetch(None, "AES-256-GCM", None)?;
    Ok(CIPHER.get_or_init(|| fetched))
}

/// Unpadded base64url, vectorized (the same text as `base64`'s
/// `URL_SAFE_NO_PAD`, which `open` decodes: a test compares the two).
fn b64url(bytes: &[u8]) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// A fresh random 96-bit nonce. The random bytes are drawn from OpenSSL's
/// generator a few hundred at a time per thread: one RAND_bytes call per
/// seal cost more than the encryption. A buffer drawn before a fork is
/// never used after it (the process ID is checked), so parent and child
/// cannot seal with the same nonce.
fn next_nonce() -> Result<[u8; NONCE], ErrorStack> {
    const BATCH: usize = 64;
    struct Pool {
        pid: u32,
        nonces: [[u8; NONCE]; BATCH],
        next: usize,
    }
    thread_local! {
        static POOL: RefCell<Pool> = const {
            RefCell::new(Pool { pid: 0, nonces: [[0; NONCE]; BATCH], next: BATCH })
        };
    }
    POOL.with(|cell| {
        let mut pool = cell.borrow_mut();
        let pid = std::process::id();
        if pool.next >= BATCH || pool.pid != pid {
            rand_bytes(pool.nonces.as_flattened_mut())?;
            pool.pid = pid;
            pool.next = 0;
        }
        let index = pool.next;
        pool.next += 1;
        // Taken, not copied: a handed-out nonce does not stay in memory.
        pool.nonces
            .get_mut(index)
            .map(std::mem::take)
            .ok_or_else(ErrorStack::get)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorized_base64url_matches_the_base_crate() {
        let bytes: Vec<u8> = (0..3_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..=130).chain([255, 256, 257, 1_000, 2_999, 3_000]) {
            let slice = &bytes[..len];
            assert_eq!(
                b64url(slice),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(slice),
                "length {len}"
            );
        }
    }

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
    fn nonces_do_not_repeat_across_batches() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(next_nonce().unwrap()), "a nonce came twice");
        }
        // Two seals of the same plaintext differ (fresh nonce each).
        let ring = KeyRing::new(&[[9; 32]]).unwrap();
        assert_ne!(
            ring.seal("session", b"x").unwrap(),
            ring.seal("session", b"x").unwrap()
        );
    }

    /// A value sealed with the one-shot `openssl::symm` API (what sealed
    /// sessions before this code) opens, and ours opens with it: the
    /// layout and AAD handling did not change.
    #[test]
    fn sealed_values_match_the_one_shot_api() {
        use openssl::symm::{decrypt_aead, encrypt_aead, Cipher as SymmCipher};
        let key = [5u8; 32];
        let ring = KeyRing::new(&[key]).unwrap();
        let nonce = [7u8; NONCE];
        let mut tag = [0u8; TAG];
        let ciphertext = encrypt_aead(
            SymmCipher::aes_256_gcm(),
            &key,
            Some(&nonce),
            b"session",
            b"hello",
            &mut tag,
        )
        .unwrap();
        let mut raw = vec![VERSION];
        raw.extend_from_slice(&ring.keys[0].id);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        raw.extend_from_slice(&tag);
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(ring.open("session", &text).unwrap(), b"hello");

        let ours = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(ring.seal("login", b"world").unwrap())
            .unwrap();
        let (header, rest) = ours.split_at(HEADER);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG);
        let opened = decrypt_aead(
            SymmCipher::aes_256_gcm(),
            &key,
            Some(&header[5..]),
            b"login",
            ciphertext,
            tag,
        )
        .unwrap();
        assert_eq!(opened, b"world");
    }

    #[test]
    fn keys_parse_only_at_32_bytes() {
        assert!(parse_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
        assert!(parse_key("c2hvcnQ=").is_err());
        assert!(parse_key("not base64!").is_err());
    }
}
