//! SP metadata out: the EntityDescriptor an operator hands to the IdP
//! (ADFS relying-party trust, Entra enterprise app, Okta, Citrix ADC, the
//! CUCM/Expressway "export SP metadata" step).

use std::fmt::Write as _;

use samlgate_dsig::{sign_enveloped, SigningKey, DSIG_NS};

use crate::ns::MD;
use crate::Instant;

/// The HTTP-POST binding (the only ACS binding samlgate serves; also
/// SingleLogoutService).
pub const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding (SingleLogoutService).
pub const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// One AssertionConsumerService entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsEndpoint {
    /// The `index` attribute (what an AuthnRequest's
    /// AssertionConsumerServiceIndex names).
    pub index: u16,
    /// The ACS URL.
    pub url: String,
    /// `isDefault="true"` on this entry.
    pub is_default: bool,
}

/// Everything the SP metadata says.
#[derive(Debug, Clone, Default)]
pub struct SpMetadata {
    /// The SP entityID (the Audience IdPs will put in assertions).
    pub entity_id: String,
    /// ACS endpoints: one cluster-wide, or one per gateway node (the CUCM
    /// per-node pattern: index 0..n).
    pub acs: Vec<AcsEndpoint>,
    /// SingleLogoutService URLs, each listed for the HTTP-Redirect and the
    /// HTTP-POST binding (the endpoint takes both).
    pub slo: Vec<String>,
    /// DER certificates for KeyDescriptor use="signing".
    pub signing_certs: Vec<Vec<u8>>,
    /// DER certificates for KeyDescriptor use="encryption" (several during
    /// key rollover).
    pub encryption_certs: Vec<Vec<u8>>,
    /// NameIDFormat entries, in preference order.
    pub name_id_formats: Vec<String>,
    /// AuthnRequestsSigned.
    pub authn_requests_signed: bool,
    /// WantAssertionsSigned.
    pub want_assertions_signed: bool,
    /// validUntil of the EntityDescriptor.
    pub valid_until: Option<Instant>,
    /// The EntityDescriptor ID (needed to sign it); derived from the entity
    /// ID when empty.
    pub id: String,
}

/// Algorithms advertised for encryption keys, strongest first (IdPs such as
/// Shibboleth pick from this list): content encryption, then key transport.
const ENCRYPTION_METHODS: [&str; 6] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

/// Why SP metadata could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sp metadata: {0}")]
pub struct SpMetadataError(pub String);

impl SpMetadata {
    fn check(&self) -> Result<(), SpMetadataError> {
        let fail = |m: &str| Err(SpMetadataError(m.to_owned()));
        if self.entity_id.is_empty() {
            return fail("the entity ID is empty");
        }
        if self.acs.is_empty() {
            return fail("at least one AssertionConsumerService URL is needed");
        }
        for (i, a) in self.acs.iter().enumerate() {
            if self.acs.iter().skip(i + 1).any(|b| b.index == a.index) {
                return Err(SpMetadataError(format!(
                    "AssertionConsumerService index {} is used twice",
                    a.index
                )));
            }
        }
        if self.acs.iter().filter(|a| a.is_default).count() > 1 {
            return fail("more than one AssertionConsumerService is the default");
        }
        Ok(())
    }

    /// The EntityDescriptor ID: the configured one, or one derived from the
    /// entity ID (stable across runs, an NCName).
    pub fn descriptor_id(&self) -> String {
        if !self.id.is_empty() {
            return self.id.clone();
        }
        let mut id = String::from("_sp-");
        for c in self.entity_id.chars() {
            id.push(if c.is_ascii_alphanumeric() { c } else { '-' });
        }
        id
    }

    /// The unsigned EntityDescriptor.
    pub fn to_xml(&self) -> Result<String, SpMetadataError> {
        self.check()?;
        let mut x = String::with_capacity(4096);
        let _ = write!(
            x,
            "<md:EntityDescriptor xmlns:md=\"{MD}\" xmlns:ds=\"{DSIG_NS}\" entityID=\"{}\" ID=\"{}\"",
            xml_escape(&self.entity_id),
            xml_escape(&self.descriptor_id())
        );
        if let Some(until) = self.valid_until {
            let _ = write!(x, " validUntil=\"{until}\"");
        }
        x.push_str(">\n");
        let _ = writeln!(
            x,
            "  <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
AuthnRequestsSigned=\"{}\" WantAssertionsSigned=\"{}\">",
            self.authn_requests_signed, self.want_assertions_signed
        );
        for cert in &self.signing_certs {
            key_descriptor(&mut x, "signing", cert, &[]);
        }
        for cert in &self.encryption_certs {
            key_descriptor(&mut x, "encryption", cert, &ENCRYPTION_METHODS);
        }
        for url in &self.slo {
            for binding in [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST] {
                let _ = writeln!(
                    x,
                    "    <md:SingleLogoutService Binding=\"{binding}\" Location=\"{}\"/>",
                    xml_escape(url)
                );
            }
        }
        for format in &self.name_id_formats {
            let _ = writeln!(
                x,
                "    <md:NameIDFormat>{}</md:NameIDFormat>",
                xml_escape(format)
            );
        }
        for acs in &self.acs {
            let _ = write!(
                x,
                "    <md:AssertionConsumerService Binding=\"{BINDING_HTTP_POST}\" Location=\"{}\" index=\"{}\"",
                xml_escape(&acs.url),
                acs.index
            );
            if acs.is_default {
                x.push_str(" isDefault=\"true\"");
            }
            x.push_str("/>\n");
        }
        x.push_str("  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
        Ok(x)
    }

    /// The EntityDescriptor signed with `key` (rsa-sha256, exc-c14n, the
    /// Signature as its first child, as the schema wants).
    pub fn to_signed_xml(&self, key: &SigningKey) -> Result<Vec<u8>, SpMetadataError> {
        let xml = self.to_xml()?;
        sign_enveloped(xml.as_bytes(), &self.descriptor_id(), key)
            .map_err(|e| SpMetadataError(format!("cannot sign: {e}")))
    }
}

fn key_descriptor(x: &mut String, usage: &str, cert_der: &[u8], methods: &[&str]) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert_der);
    let _ = write!(
        x,
        "    <md:KeyDescriptor use=\"{usage}\">\n      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
    );
    // 64-column lines, as PEM and most metadata tools write them.
    for (i, chunk) in b64.as_bytes().chunks(64).enumerate() {
        if i > 0 {
            x.push('\n');
        }
        x.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    x.push_str("</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\n");
    for m in methods {
        let _ = writeln!(x, "      <md:EncryptionMethod Algorithm=\"{m}\"/>");
    }
    x.push_str("    </md:KeyDescriptor>\n");
}

/// Escapes text for an attribute value or element content (also for the
/// messages the gateway and the demo IdP write).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}
