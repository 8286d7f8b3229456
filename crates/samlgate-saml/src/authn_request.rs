//! The SP's AuthnRequest and the HTTP-Redirect binding (SAML bindings
//! §3.4): DEFLATE, base64, URL-encode, and an optional detached signature
//! over the query string.

use base64::Engine;
use samlgate_dsig::{sign_enveloped, DsigError, SigningKey};

use crate::binding;
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
        binding::redirect_url(
            self.destination,
            "SAMLRequest",
            self.to_xml().as_bytes(),
            relay_state,
            key,
        )
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
        Ok(binding::post_form(
            self.destination,
            "SAMLRequest",
            &xml,
            relay_state,
            "Signing in",
        ))
    }
}

/// Decodes an HTTP-Redirect `SAMLRequest`/`SAMLResponse` value (already
/// URL-decoded): base64 (whitespace ignored), then raw DEFLATE, bounded to
/// [`MAX_INFLATED`]. None for anything else, a bomb included.
pub fn inflate_redirect_message(value: &str) -> Option<Vec<u8>> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    binding::inflate_bounded(&deflated, MAX_INFLATED as usize).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use flate2::Compression;
    use samlgate_xml::{Document, Limits};
    use std::io::Write;

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
