//! The SP's AuthnRequest and the HTTP-Redirect binding (SAML bindings
//! §3.4): DEFLATE, base64, URL-encode, and an optional detached signature
//! over the query string.

use std::io::{Read, Write};

use base64::Engine;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use samlgate_dsig::{sign_enveloped, DsigError, SignatureAlgorithm, SigningKey};

use crate::ns::{ASSERTION, PROTOCOL};
use crate::sp_metadata::{xml_escape, BINDING_HTTP_POST};
use crate::time::Instant;

/// Where the IdP must send its Response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcsTarget<'a> {
    /// AssertionConsumerServiceURL with the HTTP-POST ProtocolBinding.
    Url(&'a str),
    /// AssertionConsumerServiceIndex of the SP metadata (Citrix ADC, CUCM).
    Index(u32),
}

/// An AuthnRequest to build.
#[derive(Debug, Clone)]
pub struct AuthnRequest<'a> {
    /// Request ID (an NCName: start with `_`); the expected InResponseTo.
    pub id: &'a str,
    /// IssueInstant.
    pub issue_instant: Instant,
    /// The IdP's SingleSignOnService location.
    pub destination: &'a str,
    /// The SP entity ID.
    pub issuer: &'a str,
    /// Where the Response goes.
    pub acs: AcsTarget<'a>,
    /// NameIDPolicy Format, when the SP asks for one.
    pub name_id_format: Option<&'a str>,
    /// Ask the IdP to authenticate again.
    pub force_authn: bool,
}

/// The largest inflated message [`inflate_redirect_message`] returns.
pub const MAX_INFLATED: u64 = 256 * 1024;

impl AuthnRequest<'_> {
    /// The XML text.
    pub fn to_xml(&self) -> String {
        let acs = match self.acs {
            AcsTarget::Url(url) => format!(
                " AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{BINDING_HTTP_POST}\"",
                xml_escape(url)
            ),
            AcsTarget::Index(i) => format!(" AssertionConsumerServiceIndex=\"{i}\""),
        };
        let force = if self.force_authn {
            " ForceAuthn=\"true\""
        } else {
            ""
        };
        let policy = match self.name_id_format {
            Some(f) => format!(
                "<samlp:NameIDPolicy Format=\"{}\" AllowCreate=\"true\"/>",
                xml_escape(f)
            ),
            None => "<samlp:NameIDPolicy AllowCreate=\"true\"/>".to_owned(),
        };
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"{}\" \
Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"{acs}{force}>\
<saml:Issuer>{}</saml:Issuer>{policy}</samlp:AuthnRequest>",
            xml_escape(self.id),
            self.issue_instant,
            xml_escape(self.destination),
            xml_escape(self.issuer),
        )
    }

    /// The HTTP-Redirect binding URL. With a key the query carries SigAlg
    /// and Signature over `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as
    /// sent (the binding signs the URL-encoded form, not the XML).
    pub fn redirect_url(
        &self,
        relay_state: Option<&str>,
        key: Option<&SigningKey>,
    ) -> Result<String, DsigError> {
        let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
        deflater
            .write_all(self.to_xml().as_bytes())
            .and_then(|()| deflater.flush())
            .map_err(|e| DsigError::Shape(e.to_string()))?;
        let deflated = deflater
            .finish()
            .map_err(|e| DsigError::Shape(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("SAMLRequest", &b64.encode(deflated));
        if let Some(rs) = relay_state {
            query.append_pair("RelayState", rs);
        }
        if let Some(key) = key {
            query.append_pair("SigAlg", SignatureAlgorithm::RSA_SHA256.uri());
            let signed_part = query.finish();
            let signature = key.sign_rsa_sha256(signed_part.as_bytes())?;
            let mut full = form_urlencoded::Serializer::new(signed_part);
            full.append_pair("Signature", &b64.encode(signature));
            query = full;
        }
        let separator = if self.destination.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{separator}{}", self.destination, query.finish()))
    }

    /// The HTTP-POST binding: an auto-submitting HTML form. With a key the
    /// AuthnRequest carries an enveloped signature.
    pub fn post_form(
        &self,
        relay_state: Option<&str>,
        key: Option<&SigningKey>,
    ) -> Result<String, DsigError> {
        let xml = self.to_xml().into_bytes();
        let xml = match key {
            Some(key) => sign_enveloped(&xml, self.id, key)?,
            None => xml,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        let relay = relay_state
            .map(|rs| {
                format!(
                    "<input type=\"hidden\" name=\"RelayState\" value=\"{}\"/>",
                    xml_escape(rs)
                )
            })
            .unwrap_or_default();
        Ok(format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\
<body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">\
<input type=\"hidden\" name=\"SAMLRequest\" value=\"{b64}\"/>{relay}\
<noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
            xml_escape(self.destination)
        ))
    }
}

/// Decodes an HTTP-Redirect `SAMLRequest`/`SAMLResponse` value (already
/// URL-decoded): base64, then raw DEFLATE, bounded to [`MAX_INFLATED`].
pub fn inflate_redirect_message(value: &str) -> Option<Vec<u8>> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let mut out = Vec::new();
    DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 <= MAX_INFLATED).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use samlgate_xml::{Document, Limits};

    fn request(acs: AcsTarget<'_>) -> AuthnRequest<'_> {
        AuthnRequest {
            id: "_req1",
            issue_instant: Instant::from_unix_millis(1_700_000_000_000),
            destination: "https://idp.example.test/sso?tenant=a&x=\"y\"",
            issuer: "https://sp.example.test/saml",
            acs,
            name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
            force_authn: true,
        }
    }

    #[test]
    fn redirect_binding_round_trips_and_escapes() {
        let r = request(AcsTarget::Url("https://sp.example.test/saml/acs?a=1&b=2"));
        let url = r.redirect_url(Some("tok"), None).unwrap();
        assert!(
            url.starts_with("https://idp.example.test/sso?tenant=a&x=\"y\"&SAMLRequest="),
            "{url}"
        );
        let value = url
            .split('&')
            .find_map(|p| p.strip_prefix("SAMLRequest="))
            .unwrap();
        let decoded: String = form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        let xml = inflate_redirect_message(&decoded).unwrap();
        let doc = Document::parse(&xml, &Limits::default()).unwrap();
        let root = doc.root();
        assert!(doc.is(root, PROTOCOL, "AuthnRequest"));
        assert_eq!(doc.attr(root, "ID"), Some("_req1"));
        assert_eq!(
            doc.attr(root, "AssertionConsumerServiceURL"),
            Some("https://sp.example.test/saml/acs?a=1&b=2")
        );
        assert_eq!(doc.attr(root, "ProtocolBinding"), Some(BINDING_HTTP_POST));
        assert_eq!(doc.attr(root, "ForceAuthn"), Some("true"));
        assert_eq!(doc.attr(root, "IssueInstant"), Some("2023-11-14T22:13:20Z"));
        assert!(url.ends_with("&RelayState=tok"));
    }

    #[test]
    fn an_acs_index_replaces_the_url() {
        let xml = request(AcsTarget::Index(3)).to_xml();
        assert!(xml.contains("AssertionConsumerServiceIndex=\"3\""));
        assert!(!xml.contains("AssertionConsumerServiceURL") && !xml.contains("ProtocolBinding"));
    }

    #[test]
    fn inflate_is_bounded() {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![b'a'; (MAX_INFLATED + 10) as usize])
            .unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap());
        assert!(inflate_redirect_message(&bomb).is_none());
        assert!(inflate_redirect_message("not base64!").is_none());
    }
}
