//! The trusted signing keys: the only keys a signature may verify with.

use openssl::hash::{hash, MessageDigest};
use openssl::md::Md;
use openssl::pkey::{Id, PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::x509::X509;
use std::sync::{Arc, Mutex};

/// How many rsa-sha256 verification contexts a key keeps for reuse (one
/// per verifying thread is enough; more are dropped after use).
const POOLED_CONTEXTS: usize = 16;

/// Parses certificates into keys, possibly remembering earlier results.
/// Metadata refreshes hand the same certificates over and over; a cache
/// keyed by the certificate's SHA-256 fingerprint (the gateway's, on moka)
/// skips the X.509 and public-key parse for the unchanged ones.
pub trait KeyCache: Send + Sync {
    /// The key of a DER certificate, parsed or remembered.
    fn key_for_cert_der(&self, der: &[u8]) -> Result<TrustedKey, String>;
}

/// One trusted signing key, usually from a certificate in metadata or
/// configuration. The certificate is only a key container: its validity
/// dates and issuer are not checked (explicit-key trust).
///
/// Cloning is cheap (shared): key sets are assembled per verification.
#[derive(Clone)]
pub struct TrustedKey(Arc<KeyMaterial>);

struct KeyMaterial {
    cert_der: Option<Vec<u8>>,
    public_key: PKey<Public>,
    spki_sha256: [u8; 32],
    /// rsa-sha256 verification contexts, set up on first use and reused:
    /// setting one up (allocations, provider fetches) is about 7% of an
    /// RSA-2048 verification.
    rsa_sha256: Mutex<Vec<PkeyCtx<Public>>>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey(sha256:{})", self.fingerprint())
    }
}

impl TrustedKey {
    /// A key from a DER X.509 certificate.
    pub fn from_cert_der(der: &[u8]) -> Result<Self, String> {
        let cert = X509::from_der(der).map_err(|e| format!("cannot read certificate: {e}"))?;
        let public_key = cert
            .public_key()
            .map_err(|e| format!("cannot read certificate public key: {e}"))?;
        Self::new(Some(der.to_vec()), public_key)
    }

    /// A bare public key.
    pub fn from_public_key(public_key: PKey<Public>) -> Result<Self, String> {
        Self::new(None, public_key)
    }

    fn new(cert_der: Option<Vec<u8>>, public_key: PKey<Public>) -> Result<Self, String> {
        match public_key.id() {
            Id::RSA | Id::EC => {}
            _ => return Err("only RSA and EC keys are supported".into()),
        }
        let spki = public_key
            .public_key_to_der()
            .map_err(|e| format!("cannot encode public key: {e}"))?;
        let digest = hash(MessageDigest::sha256(), &spki).map_err(|e| e.to_string())?;
        let mut spki_sha256 = [0u8; 32];
        spki_sha256.copy_from_slice(&digest);
        Ok(TrustedKey(Arc::new(KeyMaterial {
            cert_der,
            public_key,
            spki_sha256,
            rsa_sha256: Mutex::new(Vec::new()),
        })))
    }

    /// The public key.
    pub fn public_key(&self) -> &PKey<Public> {
        &self.0.public_key
    }

    /// The certificate, when the key came from one.
    pub fn cert_der(&self) -> Option<&[u8]> {
        self.0.cert_der.as_deref()
    }

    /// Verifies an RSASSA-PKCS1-v1_5 signature with SHA-256 (rsa-sha256),
    /// given the SHA-256 of the signed data: the same check as an EVP
    /// digest-verify (the signature must decrypt to exactly the DigestInfo
    /// of SHA-256 with this digest), on a reused context. False for a
    /// non-RSA key and on any error.
    pub(crate) fn verify_rsa_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        if self.0.public_key.id() != Id::RSA {
            return false;
        }
        let Some(mut ctx) = self.rsa_sha256_context() else {
            return false;
        };
        let valid = ctx.verify(digest, signature).unwrap_or(false);
        if let Ok(mut pool) = self.0.rsa_sha256.lock() {
            if pool.len() < POOLED_CONTEXTS {
                pool.push(ctx);
            }
        }
        valid
    }

    /// A pooled context, or a new one: verify, PKCS#1 v1.5 padding, and
    /// SHA-256 as the digest named in the DigestInfo.
    fn rsa_sha256_context(&self) -> Option<PkeyCtx<Public>> {
        if let Some(ctx) = self
            .0
            .rsa_sha256
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
        {
            return Some(ctx);
        }
        let mut ctx = PkeyCtx::new(&self.0.public_key).ok()?;
        ctx.verify_init().ok()?;
        ctx.set_rsa_padding(Padding::PKCS1).ok()?;
        ctx.set_signature_md(Md::sha256()).ok()?;
        Some(ctx)
    }

    /// Hex SHA-256 of the SubjectPublicKeyInfo: a stable key identifier.
    pub fn fingerprint(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for &b in &self.0.spki_sha256 {
            for nibble in [b >> 4, b & 0x0f] {
                out.push(char::from(
                    HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
        out
    }
}

/// The set of keys trusted for one verification.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key unless an identical public key is already present.
    pub fn add(&mut self, key: TrustedKey) {
        if !self
            .keys
            .iter()
            .any(|k| k.0.spki_sha256 == key.0.spki_sha256)
        {
            self.keys.push(key);
        }
    }

    /// Adds every certificate in PEM text; returns how many were added.
    pub fn add_pem_certificates(&mut self, pem: &[u8]) -> Result<usize, String> {
        let certs =
            X509::stack_from_pem(pem).map_err(|e| format!("cannot read PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate found in PEM input".into());
        }
        let n = certs.len();
        for cert in certs {
            let der = cert.to_der().map_err(|e| e.to_string())?;
            self.add(TrustedKey::from_cert_der(&der)?);
        }
        Ok(n)
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Finds the trusted key of a certificate taken from KeyInfo: the same
    /// certificate bytes, or a certificate for the same public key.
    pub(crate) fn find_by_cert(&self, der: &[u8]) -> Option<usize> {
        if let Some(i) = self
            .keys
            .iter()
            .position(|k| k.0.cert_der.as_deref() == Some(der))
        {
            return Some(i);
        }
        let spki = X509::from_der(der)
            .ok()?
            .public_key()
            .ok()?
            .public_key_to_der()
            .ok()?;
        let digest = hash(MessageDigest::sha256(), &spki).ok()?;
        self.keys
            .iter()
            .position(|k| k.0.spki_sha256[..] == digest[..])
    }

    pub(crate) fn get(&self, i: usize) -> Option<&TrustedKey> {
        self.keys.get(i)
    }
}
