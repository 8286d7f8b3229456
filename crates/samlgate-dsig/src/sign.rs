//! Enveloped signing (rsa-sha256, exc-c14n) for AuthnRequests, metadata and
//! the demo IdP's assertions.

use openssl::hash::{Hasher, MessageDigest};
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;
use samlgate_xml::{canonicalize, C14nMethod, C14nOptions, Document, Limits, NodeId};

use crate::algorithms::{ENVELOPED, EXC_C14N};
use crate::{DigestAlgorithm, DsigError, SignatureAlgorithm, DSIG_NS};

/// A private key with its certificate, for signing.
#[derive(Clone)]
pub struct SigningKey {
    key: PKey<Private>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// A key and certificate from PEM text.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, String> {
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| format!("cannot read private key: {e}"))?;
        let cert = X509::from_pem(cert_pem).map_err(|e| format!("cannot read certificate: {e}"))?;
        if !cert
            .public_key()
            .map(|p| p.public_eq(&key))
            .unwrap_or(false)
        {
            return Err("the certificate does not match the private key".into());
        }
        let cert_der = cert.to_der().map_err(|e| e.to_string())?;
        Ok(SigningKey { key, cert_der })
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Both signers label their output rsa-sha256: another key type would
    /// produce a signature under the wrong algorithm URI.
    fn require_rsa(&self) -> Result<(), DsigError> {
        if self.key.id() != openssl::pkey::Id::RSA {
            return Err(DsigError::Unsupported(
                "samlgate signs with RSA keys only (rsa-sha256)".into(),
            ));
        }
        Ok(())
    }

    /// A detached rsa-sha256 signature over `data`: the HTTP-Redirect
    /// binding signs its query string this way (SAML bindings §3.4.4.1).
    pub fn sign_rsa_sha256(&self, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        self.require_rsa()?;
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)
            .map_err(|e| DsigError::Unsupported(e.to_string()))?;
        signer
            .sign_oneshot_to_vec(data)
            .map_err(|e| DsigError::Unsupported(e.to_string()))
    }
}

/// Signs the element with `ID="id"` in `xml` and returns the new document.
/// The Signature is inserted after the element's first child element when
/// that is a SAML Issuer (schema position), otherwise as its first child.
pub fn sign_enveloped(xml: &[u8], id: &str, key: &SigningKey) -> Result<Vec<u8>, DsigError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    key.require_rsa()?;
    let doc = Document::parse(xml, &Limits::default())?;
    let target = doc
        .elements()
        .find(|e| doc.attr(*e, "ID") == Some(id))
        .ok_or_else(|| DsigError::Reference(format!("no element with ID {id}")))?;

    let mut hasher =
        Hasher::new(MessageDigest::sha256()).map_err(|e| DsigError::Unsupported(e.to_string()))?;
    canonicalize(
        &doc,
        Some(target),
        &C14nOptions::new(C14nMethod::Exclusive),
        &mut hasher,
    )
    .map_err(|e| DsigError::Shape(e.to_string()))?;
    let digest = hasher
        .finish()
        .map_err(|e| DsigError::Unsupported(e.to_string()))?;

    let signed_info = format!(
        "<ds:SignedInfo xmlns:ds=\"{DSIG_NS}\"><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
<ds:SignatureMethod Algorithm=\"{}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        SignatureAlgorithm::RSA_SHA256.uri(),
        DigestAlgorithm::Sha256.uri(),
        b64.encode(digest),
    );
    // SignedInfo declares its only prefix itself, so its exclusive
    // canonical form is the same standalone as inside the document.
    let si_doc = Document::parse(signed_info.as_bytes(), &Limits::default())?;
    let si_c14n =
        samlgate_xml::canonicalize_to_vec(&si_doc, None, &C14nOptions::new(C14nMethod::Exclusive));
    let mut signer = Signer::new(MessageDigest::sha256(), &key.key)
        .map_err(|e| DsigError::Unsupported(e.to_string()))?;
    let value = signer
        .sign_oneshot_to_vec(&si_c14n)
        .map_err(|e| DsigError::Unsupported(e.to_string()))?;
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{}<ds:SignatureValue>{}</ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        // Drop the redundant declaration inside the Signature element.
        signed_info.replacen(&format!(" xmlns:ds=\"{DSIG_NS}\""), "", 1),
        b64.encode(&value),
        b64.encode(&key.cert_der),
    );

    let at = insertion_point(&doc, target, xml);
    let mut out = Vec::with_capacity(xml.len() + signature.len());
    out.extend_from_slice(xml.get(..at).unwrap_or(xml));
    out.extend_from_slice(signature.as_bytes());
    out.extend_from_slice(xml.get(at..).unwrap_or(&[]));
    Ok(out)
}

/// Byte offset where the Signature goes: after a leading Issuer element,
/// else right after the start tag.
fn insertion_point(doc: &Document<'_>, target: NodeId, xml: &[u8]) -> usize {
    let bom = if xml.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    if let Some(first) = doc.child_elements(target).next() {
        if doc.local_name(first) == "Issuer" {
            return doc.span(first).end + bom;
        }
    }
    // End of the start tag: the first child's start, or for an empty
    // element this cannot happen in SAML messages (they have children).
    doc.children(target)
        .next()
        .map(|c| doc.span(c).start + bom)
        .unwrap_or_else(|| doc.span(target).end + bom)
}
