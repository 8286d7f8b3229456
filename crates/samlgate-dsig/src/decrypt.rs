//! XML-Enc decryption of an `EncryptedData` element (the content of a SAML
//! EncryptedAssertion).
//!
//! Key transport: rsa-oaep-mgf1p (digest SHA-1/256/384/512, MGF1-SHA1) and
//! xmlenc11 rsa-oaep (digest and MGF1 digest named), optionally with
//! OAEPparams; rsa-1_5 only when the policy enables it, then with implicit
//! rejection. Content: aes128/192/256-cbc and aes128/256-gcm. The
//! EncryptedKey sits in the EncryptedData's KeyInfo, or beside the
//! EncryptedData (named by a KeyInfo RetrievalMethod, or naming the
//! EncryptedData in its ReferenceList, or alone).
//!
//! Every failure, whatever its cause, is the single
//! [`DsigError::DecryptionFailed`] with one fixed message: distinguishing
//! padding errors from others would build a padding oracle.

use openssl::encrypt::Decrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{decrypt_aead, Cipher, Crypter, Mode};
use samlgate_xml::{Document, NodeId};

use crate::{decode_base64_text, DsigError, DSIG_NS, XENC11_NS, XENC_NS};

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
    /// Adds the RSA private key found in PEM text.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let key =
            PKey::private_key_from_pem(pem).map_err(|e| format!("cannot read private key: {e}"))?;
        if key.id() != Id::RSA {
            return Err("only RSA decryption keys are supported".into());
        }
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

const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const ENCRYPTED_KEY_TYPE: &str = "http://www.w3.org/2001/04/xmlenc#EncryptedKey";

/// Most EncryptedKey elements tried for one EncryptedData (each costs one
/// RSA private-key operation per SP key; the document is already
/// size-limited, this bounds the work on a crafted pile of keys).
const MAX_ENCRYPTED_KEYS: usize = 8;

#[derive(Clone, Copy)]
enum Content {
    /// Cipher, key length, block (and IV) length.
    Cbc(Cipher, usize, usize),
    Gcm(Cipher, usize),
}

impl Content {
    fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => {
                Content::Cbc(Cipher::aes_128_cbc(), 16, 16)
            }
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => {
                Content::Cbc(Cipher::aes_192_cbc(), 24, 16)
            }
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => {
                Content::Cbc(Cipher::aes_256_cbc(), 32, 16)
            }
            // XML-Enc 1.0 REQUIRED algorithm, and what stock pysaml2 (and so
            // SATOSA and other Python IdPs) always sends: 3DES is slow and
            // 64-bit-block, but one message per key leaves no Sweet32 room.
            "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" => {
                Content::Cbc(Cipher::des_ede3_cbc(), 24, 8)
            }
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Content::Gcm(Cipher::aes_128_gcm(), 16),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Content::Gcm(Cipher::aes_256_gcm(), 32),
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Content::Cbc(_, n, _) | Content::Gcm(_, n) => n,
        }
    }

    fn decrypt(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Content::Cbc(cipher, _, block) => {
                // IV first; XML-Enc padding: the last byte is the pad length
                // (1..=block), the other pad bytes are arbitrary (not PKCS#7).
                let (iv, body) = (data.get(..block)?, data.get(block..)?);
                if body.is_empty() || body.len() % block != 0 {
                    return None;
                }
                let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).ok()?;
                c.pad(false);
                let mut out = vec![0u8; body.len() + block];
                let mut n = c.update(body, &mut out).ok()?;
                n += c.finalize(out.get_mut(n..)?).ok()?;
                out.truncate(n);
                let pad = usize::from(*out.last()?);
                if pad == 0 || pad > block || pad > out.len() {
                    return None;
                }
                out.truncate(out.len() - pad);
                Some(out)
            }
            Content::Gcm(cipher, _) => {
                // 96-bit IV first, 128-bit tag last.
                if data.len() < 12 + 16 {
                    return None;
                }
                let (iv, rest) = data.split_at(12);
                let (body, tag) = rest.split_at(rest.len() - 16);
                decrypt_aead(cipher, key, Some(iv), &[], body, tag).ok()
            }
        }
    }
}

enum Transport {
    Oaep {
        digest: MessageDigest,
        mgf1: MessageDigest,
        label: Option<Vec<u8>>,
    },
    Pkcs1v15,
}

fn digest_from_uri(uri: &str) -> Option<MessageDigest> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

fn mgf_from_uri(uri: &str) -> Option<MessageDigest> {
    Some(match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha224" => MessageDigest::sha224(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

fn transport(doc: &Document<'_>, method: NodeId, policy: &DecryptionPolicy) -> Option<Transport> {
    let algorithm = doc.attr(method, "Algorithm")?;
    let digest = match doc.first_child_named(method, DSIG_NS, "DigestMethod") {
        Some(d) => digest_from_uri(doc.attr(d, "Algorithm")?)?,
        None => MessageDigest::sha1(),
    };
    let label = match doc.first_child_named(method, XENC_NS, "OAEPparams") {
        Some(p) => Some(decode_base64_text(&doc.text_content(p))?),
        None => None,
    };
    match algorithm {
        RSA_OAEP_MGF1P => Some(Transport::Oaep {
            digest,
            mgf1: MessageDigest::sha1(),
            label,
        }),
        RSA_OAEP_11 => {
            let mgf1 = match doc.first_child_named(method, XENC11_NS, "MGF") {
                Some(m) => mgf_from_uri(doc.attr(m, "Algorithm")?)?,
                None => MessageDigest::sha1(),
            };
            Some(Transport::Oaep {
                digest,
                mgf1,
                label,
            })
        }
        RSA_1_5 if policy.allow_rsa_1_5 => Some(Transport::Pkcs1v15),
        _ => None,
    }
}

/// OAEP unwrap with one SP key; the result must have exactly `key_len` bytes.
fn unwrap_oaep(
    key: &PKey<Private>,
    digest: MessageDigest,
    mgf1: MessageDigest,
    label: Option<&[u8]>,
    wrapped: &[u8],
    key_len: usize,
) -> Option<Vec<u8>> {
    let mut d = Decrypter::new(key).ok()?;
    d.set_rsa_padding(Padding::PKCS1_OAEP).ok()?;
    d.set_rsa_oaep_md(digest).ok()?;
    d.set_rsa_mgf1_md(mgf1).ok()?;
    if let Some(label) = label {
        d.set_rsa_oaep_label(label).ok()?;
    }
    let mut out = vec![0u8; d.decrypt_len(wrapped).ok()?];
    let n = d.decrypt(wrapped, &mut out).ok()?;
    out.truncate(n);
    (out.len() == key_len).then_some(out)
}

/// PKCS#1 v1.5 unwrap with implicit rejection. Every SP key is tried
/// (no early exit), the first that yields a block of exactly `key_len`
/// bytes wins; when none does, the result is a random key of that length,
/// so the content step fails the same way, and in about the same time, as
/// with a well-formed key. The content is then decrypted once, with this
/// one key: trying it with a random key per wrong SP key would let a CBC
/// plaintext with an accidentally valid pad (1 in 16) stop the search
/// before the right SP key during rollover.
fn unwrap_pkcs1(keys: &[PKey<Private>], wrapped: &[u8], key_len: usize) -> Option<Vec<u8>> {
    let mut chosen = vec![0u8; key_len];
    openssl::rand::rand_bytes(&mut chosen).ok()?;
    let mut found = false;
    for key in keys {
        let Ok(mut d) = Decrypter::new(key) else {
            continue;
        };
        if d.set_rsa_padding(Padding::PKCS1).is_err() {
            continue;
        }
        let Ok(len) = d.decrypt_len(wrapped) else {
            continue;
        };
        let mut out = vec![0u8; len];
        if let Ok(n) = d.decrypt(wrapped, &mut out) {
            if n == key_len && !found {
                if let Some(k) = out.get(..n) {
                    chosen.copy_from_slice(k);
                    found = true;
                }
            }
        }
    }
    Some(chosen)
}

/// The EncryptedKey elements that may carry the key of `data`.
fn encrypted_keys(doc: &Document<'_>, data: NodeId) -> Vec<NodeId> {
    let mut found = Vec::new();
    let data_id = doc.attr(data, "Id");
    let siblings: Vec<NodeId> = doc
        .parent(data)
        .map(|p| {
            doc.child_elements(p)
                .filter(|e| doc.is(*e, XENC_NS, "EncryptedKey"))
                .collect()
        })
        .unwrap_or_default();
    // When KeyInfo names its key (inline or by RetrievalMethod), only that
    // key is used; loose siblings are considered only when it names none.
    let mut named = false;
    if let Some(key_info) = doc.first_child_named(data, DSIG_NS, "KeyInfo") {
        for child in doc.child_elements(key_info) {
            if doc.is(child, XENC_NS, "EncryptedKey") {
                named = true;
                found.push(child);
            } else if doc.is(child, DSIG_NS, "RetrievalMethod")
                && doc.attr(child, "Type") == Some(ENCRYPTED_KEY_TYPE)
            {
                named = true;
                // Only a same-document reference to a sibling; never fetched.
                let target = doc.attr(child, "URI").and_then(|u| u.strip_prefix('#'));
                if let Some(target) = target {
                    found.extend(
                        siblings
                            .iter()
                            .filter(|k| doc.attr(**k, "Id") == Some(target)),
                    );
                }
            }
        }
    }
    if !named {
        for &k in &siblings {
            let references: Vec<&str> = doc
                .first_child_named(k, XENC_NS, "ReferenceList")
                .map(|list| {
                    doc.children_named(list, XENC_NS, "DataReference")
                        .filter_map(|r| doc.attr(r, "URI"))
                        .collect()
                })
                .unwrap_or_default();
            let names_data = data_id
                .is_some_and(|id| references.iter().any(|r| r.strip_prefix('#') == Some(id)));
            if references.is_empty() || names_data {
                found.push(k);
            }
        }
    }
    found.truncate(MAX_ENCRYPTED_KEYS);
    found
}

fn cipher_value(doc: &Document<'_>, el: NodeId) -> Option<Vec<u8>> {
    let cipher_data = doc.first_child_named(el, XENC_NS, "CipherData")?;
    let value = doc.first_child_named(cipher_data, XENC_NS, "CipherValue")?;
    decode_base64_text(&doc.text_content(value)).filter(|v| !v.is_empty())
}

fn try_decrypt(
    doc: &Document<'_>,
    data: NodeId,
    keys: &DecryptionKeys,
    policy: &DecryptionPolicy,
) -> Option<Vec<u8>> {
    if !doc.is(data, XENC_NS, "EncryptedData") {
        return None;
    }
    let method = doc.first_child_named(data, XENC_NS, "EncryptionMethod")?;
    let content = Content::from_uri(doc.attr(method, "Algorithm")?)?;
    let ciphertext = cipher_value(doc, data)?;
    for encrypted_key in encrypted_keys(doc, data) {
        let Some(transport) = doc
            .first_child_named(encrypted_key, XENC_NS, "EncryptionMethod")
            .and_then(|m| transport(doc, m, policy))
        else {
            continue;
        };
        let Some(wrapped) = cipher_value(doc, encrypted_key) else {
            continue;
        };
        match &transport {
            Transport::Oaep {
                digest,
                mgf1,
                label,
            } => {
                for key in &keys.keys {
                    let Some(content_key) = unwrap_oaep(
                        key,
                        *digest,
                        *mgf1,
                        label.as_deref(),
                        &wrapped,
                        content.key_len(),
                    ) else {
                        continue;
                    };
                    if let Some(plaintext) = content.decrypt(&content_key, &ciphertext) {
                        return Some(plaintext);
                    }
                }
            }
            Transport::Pkcs1v15 => {
                if keys.keys.is_empty() {
                    continue;
                }
                let content_key = unwrap_pkcs1(&keys.keys, &wrapped, content.key_len())?;
                if let Some(plaintext) = content.decrypt(&content_key, &ciphertext) {
                    return Some(plaintext);
                }
            }
        }
    }
    None
}

/// True when `encrypted_data` names an authenticated content algorithm
/// (AES-GCM). Its plaintext is bound to the key by the tag, so what the
/// plaintext contains (say a DOCTYPE) may be reported without creating a
/// decryption oracle; with CBC it may not.
pub fn content_is_authenticated(doc: &Document<'_>, encrypted_data: NodeId) -> bool {
    doc.first_child_named(encrypted_data, XENC_NS, "EncryptionMethod")
        .and_then(|m| doc.attr(m, "Algorithm"))
        .and_then(Content::from_uri)
        .is_some_and(|c| matches!(c, Content::Gcm(..)))
}

/// Decrypts an `xenc:EncryptedData` element and returns the plaintext.
pub fn decrypt_encrypted_data(
    doc: &Document<'_>,
    encrypted_data: NodeId,
    keys: &DecryptionKeys,
    policy: &DecryptionPolicy,
) -> Result<Vec<u8>, DsigError> {
    try_decrypt(doc, encrypted_data, keys, policy).ok_or(DsigError::DecryptionFailed)
}
