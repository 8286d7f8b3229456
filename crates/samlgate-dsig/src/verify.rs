//! Enveloped XML-DSig verification under a strict signature profile.
//!
//! The profile (after OpenSAML's SignatureProfileValidator and goxmldsig):
//! the Signature is a direct child of the element it signs; it has exactly
//! one SignedInfo, one SignatureValue, at most one KeyInfo and no Object;
//! SignedInfo has exactly one Reference whose URI is `#` + the parent's ID;
//! the transforms are enveloped-signature and at most one canonicalization.
//! Every part of the signature is read as a child of *this* Signature,
//! never by a document-wide search.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::Id;
use openssl::sign::Verifier;
use samlgate_xml::{canonicalize, C14nMethod, C14nOptions, Document, NodeId};

use crate::algorithms::{c14n_from_uri, short, KeyType, ENVELOPED, EXC_C14N};
use crate::digest::{Digester, SignedData};
use crate::{
    decode_base64_text, AlgorithmPolicy, DigestAlgorithm, DsigError, SignatureAlgorithm,
    TrustedKey, TrustedKeys, DSIG_NS,
};

/// Proof that a signature verified: a handle to the element that its single
/// Reference pointed at and that was digested. Only verification creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    element: NodeId,
    signature: NodeId,
    key_fingerprint: String,
    algorithm: SignatureAlgorithm,
}

impl Verified {
    /// The signed element (the Signature's parent).
    pub fn element(&self) -> NodeId {
        self.element
    }
    /// The Signature element.
    pub fn signature(&self) -> NodeId {
        self.signature
    }
    /// SHA-256 fingerprint (hex) of the key that verified.
    pub fn key_fingerprint(&self) -> &str {
        &self.key_fingerprint
    }
    /// The signature algorithm that was used.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

/// The `ds:Signature` child of `parent`, if any. Two are a shape error
/// (the duplicate-element differential of CVE-2020-15216).
pub fn signature_child(doc: &Document<'_>, parent: NodeId) -> Result<Option<NodeId>, DsigError> {
    let mut sigs = doc.children_named(parent, DSIG_NS, "Signature");
    let first = sigs.next();
    if sigs.next().is_some() {
        return Err(DsigError::Shape(
            "more than one Signature on one element".into(),
        ));
    }
    Ok(first)
}

struct SignatureParts {
    signed_info: NodeId,
    signature_value: NodeId,
    key_info: Option<NodeId>,
}

fn signature_parts(doc: &Document<'_>, signature: NodeId) -> Result<SignatureParts, DsigError> {
    let (mut signed_info, mut signature_value, mut key_info) = (None, None, None);
    for child in doc.child_elements(signature) {
        let slot = match (doc.namespace(child), doc.local_name(child)) {
            (Some(DSIG_NS), "SignedInfo") => &mut signed_info,
            (Some(DSIG_NS), "SignatureValue") => &mut signature_value,
            (Some(DSIG_NS), "KeyInfo") => &mut key_info,
            (Some(DSIG_NS), "Object") => {
                return Err(DsigError::Shape(
                    "signature contains an Object element".into(),
                ))
            }
            (_, name) => {
                return Err(DsigError::Shape(format!(
                    "unexpected element {} in Signature",
                    short(name)
                )))
            }
        };
        if slot.replace(child).is_some() {
            return Err(DsigError::Shape(format!(
                "more than one {} in Signature",
                doc.local_name(child)
            )));
        }
    }
    Ok(SignatureParts {
        signed_info: signed_info.ok_or_else(|| DsigError::Shape("missing SignedInfo".into()))?,
        signature_value: signature_value
            .ok_or_else(|| DsigError::Shape("missing SignatureValue".into()))?,
        key_info,
    })
}

/// A canonicalization with its InclusiveNamespaces prefixes.
struct C14nChoice {
    method: C14nMethod,
    prefixes: Vec<String>,
}

impl C14nChoice {
    /// Reads a CanonicalizationMethod or Transform element that must name a
    /// canonicalization.
    fn from_element(doc: &Document<'_>, el: NodeId) -> Result<Self, DsigError> {
        let uri = doc.attr(el, "Algorithm").unwrap_or("");
        let method = c14n_from_uri(uri)
            .ok_or_else(|| DsigError::Unsupported(format!("canonicalization {}", short(uri))))?;
        let mut prefixes = Vec::new();
        for child in doc.child_elements(el) {
            if method == C14nMethod::Exclusive && doc.is(child, EXC_C14N, "InclusiveNamespaces") {
                let list = doc.attr(child, "PrefixList").unwrap_or("");
                prefixes.extend(list.split_ascii_whitespace().take(64).map(str::to_owned));
            } else {
                return Err(DsigError::Unsupported(format!(
                    "unexpected {} in canonicalization method",
                    short(doc.local_name(child))
                )));
            }
        }
        Ok(C14nChoice { method, prefixes })
    }

    fn run<W: std::io::Write>(
        &self,
        doc: &Document<'_>,
        apex: NodeId,
        exclude: Option<NodeId>,
        out: W,
    ) -> Result<(), DsigError> {
        let prefixes: Vec<&str> = self.prefixes.iter().map(String::as_str).collect();
        let options = C14nOptions {
            method: self.method,
            with_comments: false,
            inclusive_prefixes: &prefixes,
            exclude,
        };
        canonicalize(doc, Some(apex), &options, out)
            .map_err(|e| DsigError::Shape(format!("canonicalization failed: {e}")))
    }
}

struct SignedInfoParts {
    c14n: C14nChoice,
    algorithm: SignatureAlgorithm,
    reference: NodeId,
}

fn signed_info_parts(
    doc: &Document<'_>,
    signed_info: NodeId,
    policy: &AlgorithmPolicy,
) -> Result<SignedInfoParts, DsigError> {
    let (mut c14n, mut method, mut references) = (None, None, Vec::new());
    for child in doc.child_elements(signed_info) {
        match (doc.namespace(child), doc.local_name(child)) {
            (Some(DSIG_NS), "CanonicalizationMethod") if c14n.is_none() => c14n = Some(child),
            (Some(DSIG_NS), "SignatureMethod") if method.is_none() => method = Some(child),
            (Some(DSIG_NS), "Reference") => references.push(child),
            (_, name) => {
                return Err(DsigError::Shape(format!(
                    "unexpected {} in SignedInfo",
                    short(name)
                )))
            }
        }
    }
    let c14n = c14n.ok_or_else(|| DsigError::Shape("missing CanonicalizationMethod".into()))?;
    let method = method.ok_or_else(|| DsigError::Shape("missing SignatureMethod".into()))?;
    let c14n = C14nChoice::from_element(doc, c14n)?;
    let algorithm = SignatureAlgorithm::from_uri(doc.attr(method, "Algorithm").unwrap_or(""))?;
    if let Some(child) = doc.child_elements(method).next() {
        // HMACOutputLength and friends: nothing we accept takes parameters.
        return Err(DsigError::Unsupported(format!(
            "signature method parameter {}",
            short(doc.local_name(child))
        )));
    }
    algorithm.check(policy)?;
    let [reference] = references[..] else {
        return Err(DsigError::Reference(format!(
            "SignedInfo must have exactly one Reference, found {}",
            references.len()
        )));
    };
    Ok(SignedInfoParts {
        c14n,
        algorithm,
        reference,
    })
}

struct ReferenceParts {
    c14n: C14nChoice,
    digest: DigestAlgorithm,
    digest_value: Vec<u8>,
}

fn reference_parts(
    doc: &Document<'_>,
    reference: NodeId,
    parent: NodeId,
    policy: &AlgorithmPolicy,
) -> Result<ReferenceParts, DsigError> {
    let id = doc
        .attr(parent, "ID")
        .ok_or_else(|| DsigError::Reference("the signed element has no ID".into()))?;
    match doc.attr(reference, "URI") {
        Some(uri) if uri.strip_prefix('#') == Some(id) && !id.is_empty() => {}
        Some(uri) => {
            return Err(DsigError::Reference(format!(
                "Reference URI {:?} is not #{}",
                short(uri),
                short(id)
            )))
        }
        None => return Err(DsigError::Reference("Reference has no URI".into())),
    }
    let (mut transforms, mut digest_method, mut digest_value) = (None, None, None);
    for child in doc.child_elements(reference) {
        let slot = match (doc.namespace(child), doc.local_name(child)) {
            (Some(DSIG_NS), "Transforms") => &mut transforms,
            (Some(DSIG_NS), "DigestMethod") => &mut digest_method,
            (Some(DSIG_NS), "DigestValue") => &mut digest_value,
            (_, name) => {
                return Err(DsigError::Shape(format!(
                    "unexpected {} in Reference",
                    short(name)
                )))
            }
        };
        if slot.replace(child).is_some() {
            return Err(DsigError::Shape(format!(
                "more than one {} in Reference",
                doc.local_name(child)
            )));
        }
    }
    let transforms = transforms
        .ok_or_else(|| DsigError::Unsupported("enveloped-signature transform required".into()))?;
    let c14n = transform_chain(doc, transforms)?;
    let digest_method =
        digest_method.ok_or_else(|| DsigError::Shape("missing DigestMethod".into()))?;
    let digest = DigestAlgorithm::from_uri(doc.attr(digest_method, "Algorithm").unwrap_or(""))?;
    digest.check(policy)?;
    let digest_value =
        digest_value.ok_or_else(|| DsigError::Shape("missing DigestValue".into()))?;
    let digest_value = decode_base64_text(&doc.text_content(digest_value))
        .ok_or_else(|| DsigError::Shape("DigestValue is not base64".into()))?;
    Ok(ReferenceParts {
        c14n,
        digest,
        digest_value,
    })
}

/// Transforms must be exactly enveloped-signature, optionally followed by
/// one canonicalization (Canonical XML 1.0 is the implicit default).
fn transform_chain(doc: &Document<'_>, transforms: NodeId) -> Result<C14nChoice, DsigError> {
    let mut items = Vec::with_capacity(2);
    for child in doc.child_elements(transforms) {
        if !doc.is(child, DSIG_NS, "Transform") {
            return Err(DsigError::Shape("unexpected element in Transforms".into()));
        }
        if items.len() == 2 {
            return Err(DsigError::Unsupported("more than two transforms".into()));
        }
        items.push(child);
    }
    let Some((&first, rest)) = items.split_first() else {
        return Err(DsigError::Unsupported(
            "enveloped-signature transform required".into(),
        ));
    };
    let first_uri = doc.attr(first, "Algorithm").unwrap_or("");
    if first_uri != ENVELOPED {
        return Err(DsigError::Unsupported(format!(
            "transform {} where enveloped-signature is required",
            short(first_uri)
        )));
    }
    if doc.child_elements(first).next().is_some() {
        return Err(DsigError::Unsupported(
            "enveloped-signature takes no parameters".into(),
        ));
    }
    match rest.first() {
        Some(&second) => C14nChoice::from_element(doc, second),
        None => Ok(C14nChoice {
            method: C14nMethod::Inclusive10,
            prefixes: Vec::new(),
        }),
    }
}

/// What KeyInfo suggested.
struct KeyHint {
    preferred: Option<usize>,
    /// KeyInfo named a key or certificate that is not trusted.
    untrusted: bool,
}

fn key_hint(doc: &Document<'_>, key_info: Option<NodeId>, keys: &TrustedKeys) -> KeyHint {
    let mut hint = KeyHint {
        preferred: None,
        untrusted: false,
    };
    let Some(key_info) = key_info else {
        return hint;
    };
    for child in doc.child_elements(key_info) {
        match (doc.namespace(child), doc.local_name(child)) {
            (Some(DSIG_NS), "X509Data") => {
                for cert in doc.children_named(child, DSIG_NS, "X509Certificate") {
                    let found = decode_base64_text(&doc.text_content(cert))
                        .and_then(|der| keys.find_by_cert(&der));
                    match found {
                        Some(i) => {
                            hint.preferred.get_or_insert(i);
                        }
                        None => hint.untrusted = true,
                    }
                }
            }
            (Some(DSIG_NS), "KeyName") => {}
            // KeyValue, RetrievalMethod, KeyInfoReference, foreign content:
            // never used, and never fetched.
            _ => hint.untrusted = true,
        }
    }
    hint
}

/// Verifies the enveloped `signature`, a direct child of `parent`, against
/// the trusted `keys` under `policy`.
pub fn verify_enveloped(
    doc: &Document<'_>,
    parent: NodeId,
    signature: NodeId,
    keys: &TrustedKeys,
    policy: &AlgorithmPolicy,
) -> Result<Verified, DsigError> {
    if doc.parent(signature) != Some(parent) || !doc.is(signature, DSIG_NS, "Signature") {
        return Err(DsigError::Reference(
            "the Signature is not a child of the signed element".into(),
        ));
    }
    let parts = signature_parts(doc, signature)?;
    let info = signed_info_parts(doc, parts.signed_info, policy)?;
    let reference = reference_parts(doc, info.reference, parent, policy)?;

    // The digest of the referenced element, canonicalized into the hasher.
    let mut hasher = Digester::new(reference.digest)?;
    reference
        .c14n
        .run(doc, parent, Some(signature), &mut hasher)?;
    let digest = hasher.finish()?;
    if digest.len() != reference.digest_value.len()
        || !openssl::memcmp::eq(&digest, &reference.digest_value)
    {
        return Err(DsigError::DigestMismatch);
    }

    // rsa-sha256 needs only the SHA-256 of the canonical SignedInfo:
    // streamed into the hash, never buffered.
    let signed_info =
        if info.algorithm == SignatureAlgorithm::RSA_SHA256 {
            let mut sha = Digester::Sha256(openssl::sha::Sha256::new());
            info.c14n.run(doc, parts.signed_info, None, &mut sha)?;
            let digest = sha.finish()?;
            SignedData::Sha256(<[u8; 32]>::try_from(digest.as_slice()).map_err(|_| {
                DsigError::Unsupported("sha-256 digest of unexpected length".into())
            })?)
        } else {
            let mut bytes = Vec::with_capacity(1024);
            info.c14n.run(doc, parts.signed_info, None, &mut bytes)?;
            SignedData::Bytes(bytes)
        };
    let signature_value = decode_base64_text(&doc.text_content(parts.signature_value))
        .filter(|v| !v.is_empty())
        .ok_or(DsigError::SignatureInvalid)?;

    // KeyInfo only orders the trusted keys, so with one key it is read only
    // to explain a failure.
    let hint = (keys.len() > 1).then(|| key_hint(doc, parts.key_info, keys));
    let preferred = hint.as_ref().and_then(|h| h.preferred);
    let order = preferred
        .into_iter()
        .chain((0..keys.len()).filter(|i| Some(*i) != preferred));
    for i in order {
        let Some(key) = keys.get(i) else { continue };
        if verify_value(key, info.algorithm, &signed_info, &signature_value) {
            check_key_strength(key, policy)?;
            return Ok(Verified {
                element: parent,
                signature,
                key_fingerprint: key.fingerprint(),
                algorithm: info.algorithm,
            });
        }
    }
    if keys.is_empty() {
        return Err(DsigError::UntrustedKey(
            "no trusted keys are configured".into(),
        ));
    }
    let hint = hint.unwrap_or_else(|| key_hint(doc, parts.key_info, keys));
    if hint.untrusted {
        return Err(DsigError::UntrustedKey(
            "KeyInfo names a key that is not trusted, and no trusted key verifies".into(),
        ));
    }
    Err(DsigError::SignatureInvalid)
}

pub(crate) fn verify_value(
    key: &TrustedKey,
    algorithm: SignatureAlgorithm,
    signed: &SignedData,
    value: &[u8],
) -> bool {
    let pkey = key.public_key();
    let data = match signed {
        // The common case, on a context the key keeps for reuse (false for
        // a key that is not RSA).
        SignedData::Sha256(digest) => return key.verify_rsa_sha256(digest, value),
        SignedData::Bytes(data) => data,
    };
    let md = algorithm.digest.message_digest();
    let der;
    let value = match (algorithm.key_type, pkey.id()) {
        (KeyType::Rsa, Id::RSA) => value,
        (KeyType::Ec, Id::EC) => {
            // XML-DSig carries r || s; openssl wants DER.
            let half = value.len() / 2;
            if half == 0 || value.len() % 2 != 0 {
                return false;
            }
            let (r, s) = value.split_at(half);
            let sig = BigNum::from_slice(r)
                .and_then(|r| BigNum::from_slice(s).map(|s| (r, s)))
                .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                .and_then(|sig| sig.to_der());
            match sig {
                Ok(d) => {
                    der = d;
                    &der
                }
                Err(_) => return false,
            }
        }
        _ => return false,
    };
    Verifier::new(md, pkey)
        .and_then(|mut v| v.verify_oneshot(value, data))
        .unwrap_or(false)
}

pub(crate) fn check_key_strength(
    key: &TrustedKey,
    policy: &AlgorithmPolicy,
) -> Result<(), DsigError> {
    let bits = key.public_key().bits();
    match key.public_key().id() {
        Id::RSA if bits < policy.min_rsa_bits => Err(DsigError::Weak(format!(
            "{bits}-bit RSA key is below the {}-bit minimum (--min-rsa-bits)",
            policy.min_rsa_bits
        ))),
        Id::EC if bits < policy.min_ec_bits => {
            Err(DsigError::Weak(format!("{bits}-bit EC key is too small")))
        }
        _ => Ok(()),
    }
}
