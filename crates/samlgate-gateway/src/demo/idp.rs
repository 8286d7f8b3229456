//! The demo IdP: its own RSA key, a login form with `alice` and `bob`
//! (password = user name), and real signed assertions with uid, email and
//! groups. It only answers the SP it was made for (entity ID and ACS URL
//! checked), like a real IdP with one registered relying party. It keeps a
//! session per browser (a cookie) and does Single Logout both ways with
//! that SP (see the `slo` module).

mod slo;
mod sp;

pub use sp::SpRegistration;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use samlgate_dsig::{sign_enveloped, SigningKey};
use samlgate_saml::ns::{ASSERTION, PROTOCOL};
use samlgate_saml::{
    inflate_redirect_message, xml_escape, Instant, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT,
};
use samlgate_xml::{Document, Limits};

use super::{html, serve as serve_http};
use crate::demo::random_hex;

/// A demo user.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// Login name (also the password).
    pub uid: &'static str,
    /// Email.
    pub email: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Group memberships.
    pub groups: &'static [&'static str],
}

/// The users of the demo IdP.
pub const USERS: [DemoUser; 2] = [
    DemoUser {
        uid: "alice",
        email: "alice@example.org",
        name: "Alice Example",
        groups: &["staff", "admins"],
    },
    DemoUser {
        uid: "bob",
        email: "bob@example.org",
        name: "Bob Example",
        groups: &["staff"],
    },
];

/// A key and self-signed certificate made at start (nothing on disk).
pub fn generate_signing_key(common_name: &str) -> Result<(SigningKey, Vec<u8>), String> {
    let (key_pem, cert_pem) = generate_signing_key_pem(common_name)?;
    let signing = SigningKey::from_pem(&key_pem, &cert_pem)?;
    let cert_der = X509::from_pem(&cert_pem)
        .and_then(|c| c.to_der())
        .map_err(|e| e.to_string())?;
    Ok((signing, cert_der))
}

/// A new RSA-2048 key (PKCS#8 PEM) and its self-signed certificate (PEM),
/// for callers that keep the IdP's key on disk (the load test's comparison
/// signs Responses for several SPs with one IdP key, one run after another).
pub fn generate_signing_key_pem(common_name: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let err = |e: openssl::error::ErrorStack| e.to_string();
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(err)?).map_err(err)?;
    let mut name = X509NameBuilder::new().map_err(err)?;
    name.append_entry_by_text("CN", common_name).map_err(err)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(err)?;
    b.set_version(2).map_err(err)?;
    let serial = BigNum::from_u32(1)
        .and_then(|n| n.to_asn1_integer())
        .map_err(err)?;
    b.set_serial_number(&serial).map_err(err)?;
    b.set_subject_name(&name).map_err(err)?;
    b.set_issuer_name(&name).map_err(err)?;
    b.set_pubkey(&key).map_err(err)?;
    let not_before = Asn1Time::days_from_now(0).map_err(err)?;
    let not_after = Asn1Time::days_from_now(3650).map_err(err)?;
    b.set_not_before(&not_before).map_err(err)?;
    b.set_not_after(&not_after).map_err(err)?;
    b.sign(&key, MessageDigest::sha256()).map_err(err)?;
    let cert = b.build();
    let key_pem = key.private_key_to_pem_pkcs8().map_err(err)?;
    let cert_pem = cert.to_pem().map_err(err)?;
    Ok((key_pem, cert_pem))
}

/// Everything a Response needs; [`ResponseSpec::signed_xml`] writes it.
#[derive(Debug, Clone)]
pub struct ResponseSpec<'a> {
    /// IdP entity ID.
    pub issuer: &'a str,
    /// SP entity ID (Audience).
    pub audience: &'a str,
    /// ACS URL (Destination, Recipient).
    pub acs_url: &'a str,
    /// The AuthnRequest ID answered; None: unsolicited.
    pub in_response_to: Option<&'a str>,
    /// NameID.
    pub name_id: &'a str,
    /// Attributes.
    pub attributes: &'a [(&'a str, Vec<String>)],
    /// IssueInstant (and the base of the validity window).
    pub now: Instant,
    /// Assertion lifetime in seconds.
    pub lifetime_seconds: i64,
}

impl ResponseSpec<'_> {
    /// The Response with a signed Assertion (a random SessionIndex).
    pub fn signed_xml(&self, key: &SigningKey) -> Result<Vec<u8>, String> {
        self.signed_xml_with_session(key, &format!("_s{}", random_hex(8)))
    }

    /// The Response with a signed Assertion whose AuthnStatement carries
    /// `session_index` (the IdP session it belongs to, for logout).
    pub fn signed_xml_with_session(
        &self,
        key: &SigningKey,
        session_index: &str,
    ) -> Result<Vec<u8>, String> {
        let assertion_id = format!("_a{}", random_hex(16));
        let irt = self
            .in_response_to
            .map(|id| format!(" InResponseTo=\"{}\"", xml_escape(id)))
            .unwrap_or_default();
        let now = self.now;
        let until = now.plus_seconds(self.lifetime_seconds);
        let mut attributes = String::new();
        for (name, values) in self.attributes {
            attributes.push_str(&format!(
                "<saml:Attribute Name=\"{}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\">",
                xml_escape(name)
            ));
            for v in values {
                attributes.push_str(&format!(
                    "<saml:AttributeValue>{}</saml:AttributeValue>",
                    xml_escape(v)
                ));
            }
            attributes.push_str("</saml:Attribute>");
        }
        let (issuer, audience, acs) = (
            xml_escape(self.issuer),
            xml_escape(self.audience),
            xml_escape(self.acs_url),
        );
        let xml = format!(
            "<samlp:Response xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"_r{}\" Version=\"2.0\" \
IssueInstant=\"{now}\" Destination=\"{acs}\"{irt}><saml:Issuer>{issuer}</saml:Issuer>\
<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
<saml:Assertion ID=\"{assertion_id}\" Version=\"2.0\" IssueInstant=\"{now}\"><saml:Issuer>{issuer}</saml:Issuer>\
<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">{}</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData{irt} \
NotOnOrAfter=\"{until}\" Recipient=\"{acs}\"/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{}\" NotOnOrAfter=\"{until}\"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience>\
</saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant=\"{now}\" SessionIndex=\"{}\">\
<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>\
</saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement>\
</saml:Assertion></samlp:Response>",
            random_hex(16),
            xml_escape(self.name_id),
            now.plus_seconds(-60),
            xml_escape(session_index),
        );
        sign_enveloped(xml.as_bytes(), &assertion_id, key).map_err(|e| e.to_string())
    }
}

/// The demo IdP's fixed facts.
#[derive(Debug)]
pub struct DemoIdp {
    /// Its entity ID (`http://host:port/idp`).
    pub entity_id: String,
    /// Its base URL.
    pub base_url: String,
    /// The SP it serves.
    pub sp_entity_id: String,
    /// The SP's ACS URL (the only one it posts to).
    pub sp_acs_url: String,
    /// Signs assertions.
    pub key: SigningKey,
    cert_der: Vec<u8>,
    /// Signed-in browsers: session cookie value to session.
    sessions: Mutex<HashMap<String, slo::IdpSession>>,
    /// What the IdP knows of its SP for logout (keys, SLO endpoints).
    sp: Mutex<SpRegistration>,
    /// Where to read the SP metadata when nothing is registered yet.
    sp_metadata_url: Mutex<Option<String>>,
}

impl DemoIdp {
    /// A new IdP at `base_url` for one SP.
    pub fn new(base_url: &str, sp_entity_id: &str, sp_acs_url: &str) -> Result<Self, String> {
        let (key, cert_der) = generate_signing_key("samlgate demo idp")?;
        Ok(Self::with_key(
            base_url,
            sp_entity_id,
            sp_acs_url,
            key,
            cert_der,
        ))
    }

    /// An IdP at `base_url` for one SP, signing with `key` (whose
    /// certificate is `cert_der`, published in [`DemoIdp::metadata`]).
    pub fn with_key(
        base_url: &str,
        sp_entity_id: &str,
        sp_acs_url: &str,
        key: SigningKey,
        cert_der: Vec<u8>,
    ) -> Self {
        DemoIdp {
            entity_id: format!("{base_url}/idp"),
            base_url: base_url.to_owned(),
            sp_entity_id: sp_entity_id.to_owned(),
            sp_acs_url: sp_acs_url.to_owned(),
            key,
            cert_der,
            sessions: Mutex::new(HashMap::new()),
            sp: Mutex::new(SpRegistration::default()),
            sp_metadata_url: Mutex::new(None),
        }
    }

    /// Its metadata.
    pub fn metadata(&self) -> String {
        let cert = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
        format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{}\">\
<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
<md:SingleLogoutService Binding=\"{BINDING_HTTP_REDIRECT}\" Location=\"{base}/slo\"/>\
<md:SingleLogoutService Binding=\"{BINDING_HTTP_POST}\" Location=\"{base}/slo\"/>\
<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>\
<md:SingleSignOnService Binding=\"{BINDING_HTTP_REDIRECT}\" Location=\"{base}/sso\"/>\
<md:SingleSignOnService Binding=\"{BINDING_HTTP_POST}\" Location=\"{base}/sso\"/>\
</md:IDPSSODescriptor></md:EntityDescriptor>",
            xml_escape(&self.entity_id),
            base = xml_escape(&self.base_url),
        )
    }

    /// A signed Response for `user` (a random SessionIndex).
    pub fn response_for(
        &self,
        user: &DemoUser,
        in_response_to: Option<&str>,
        now: Instant,
    ) -> Result<Vec<u8>, String> {
        self.response_for_session(user, in_response_to, now, &format!("_s{}", random_hex(8)))
    }

    /// A signed Response for `user` in the IdP session `session_index`.
    pub fn response_for_session(
        &self,
        user: &DemoUser,
        in_response_to: Option<&str>,
        now: Instant,
        session_index: &str,
    ) -> Result<Vec<u8>, String> {
        let attributes = [
            ("uid", vec![user.uid.to_owned()]),
            ("email", vec![user.email.to_owned()]),
            ("displayName", vec![user.name.to_owned()]),
            (
                "groups",
                user.groups.iter().map(|g| (*g).to_owned()).collect(),
            ),
        ];
        ResponseSpec {
            issuer: &self.entity_id,
            audience: &self.sp_entity_id,
            acs_url: &self.sp_acs_url,
            in_response_to,
            name_id: user.uid,
            attributes: &attributes,
            now,
            lifetime_seconds: 300,
        }
        .signed_xml_with_session(&self.key, session_index)
    }

    /// Serves the IdP on `listener` until the runtime stops.
    pub fn serve(self: Arc<Self>, listener: std::net::TcpListener) -> Result<SocketAddr, String> {
        serve_http(listener, move |req| {
            let idp = self.clone();
            async move { Ok::<_, Infallible>(idp.handle(req).await) }
        })
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/") => self.home(&req),
            (&Method::GET | &Method::POST, "/slo") => self.single_logout(req).await,
            (&Method::POST, "/slo/initiate") => self.initiate_logout(&req).await,
            (&Method::GET, "/idp/metadata" | "/metadata") => text(
                StatusCode::OK,
                "application/samlmetadata+xml",
                self.metadata(),
            ),
            (&Method::GET, "/sso") => {
                let query: HashMap<String, String> = req
                    .uri()
                    .query()
                    .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                    .unwrap_or_default();
                self.login_form(&query, None)
            }
            (&Method::POST, "/sso") => {
                let Ok(body) = Limited::new(req.into_body(), 512 * 1024).collect().await else {
                    return text(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "text/plain",
                        "too large".into(),
                    );
                };
                let form: HashMap<String, String> = form_urlencoded::parse(&body.to_bytes())
                    .into_owned()
                    .collect();
                if !form.contains_key("username") {
                    // The HTTP-POST binding: the AuthnRequest arrives in a form.
                    return self.login_form(&form, None);
                }
                self.login(&form)
            }
            _ => text(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
        }
    }

    /// Reads an AuthnRequest (deflated for Redirect, plain for POST) and
    /// checks that it comes from our SP and names its ACS.
    fn read_request(&self, form: &HashMap<String, String>) -> Result<Option<String>, String> {
        let Some(encoded) = form.get("SAMLRequest") else {
            return Ok(None);
        };
        let xml = inflate_redirect_message(encoded)
            .or_else(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
            })
            .ok_or("SAMLRequest is neither deflated nor plain base64")?;
        let doc = Document::parse(&xml, &Limits::default()).map_err(|e| e.to_string())?;
        let root = doc.root();
        if !doc.is(root, PROTOCOL, "AuthnRequest") {
            return Err("not an AuthnRequest".into());
        }
        let issuer = doc
            .first_child_named(root, ASSERTION, "Issuer")
            .map(|i| doc.text_content(i).trim().to_owned())
            .unwrap_or_default();
        if issuer != self.sp_entity_id {
            return Err(format!("unknown SP {issuer:?}"));
        }
        match doc.attr(root, "AssertionConsumerServiceURL") {
            Some(url) if url != self.sp_acs_url => {
                return Err(format!("ACS URL {url:?} is not registered"))
            }
            _ => {}
        }
        Ok(doc.attr(root, "ID").map(str::to_owned))
    }

    fn login_form(
        &self,
        form: &HashMap<String, String>,
        error: Option<&str>,
    ) -> Response<Full<Bytes>> {
        if let Err(e) = self.read_request(form) {
            return text(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("demo IdP: {e}\n"),
            );
        }
        let hidden = ["SAMLRequest", "RelayState"]
            .iter()
            .filter_map(|k| {
                form.get(*k).map(|v| {
                    format!(
                        "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                        xml_escape(v)
                    )
                })
            })
            .collect::<String>();
        let error = error
            .map(|e| format!("<p class=\"error\">{}</p>", xml_escape(e)))
            .unwrap_or_default();
        let users = USERS
            .iter()
            .map(|u| format!("<code>{}</code>", u.uid))
            .collect::<Vec<_>>()
            .join(" or ");
        html(
            StatusCode::OK,
            &format!(
                "<h1>samlgate demo IdP</h1>{error}<p>Sign in as {users}; the password is the user name.</p>\
<form method=\"post\" action=\"/sso\">{hidden}<p><label>User <input name=\"username\" autofocus></label></p>\
<p><label>Password <input name=\"password\" type=\"password\"></label></p><p><button type=\"submit\">Sign in</button></p></form>"
            ),
        )
    }

    fn login(&self, form: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let request_id = match self.read_request(form) {
            Ok(id) => id,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("demo IdP: {e}\n"),
                )
            }
        };
        let username = form.get("username").map(String::as_str).unwrap_or("");
        let password = form.get("password").map(String::as_str).unwrap_or("");
        let Some(user) = USERS
            .iter()
            .find(|u| u.uid == username && password == u.uid)
        else {
            return self.login_form(form, Some("Unknown user or wrong password."));
        };
        let now = samlgate_saml::Clock::now(&samlgate_saml::SystemClock);
        let (session_id, session_index) = self.start_session(user.uid);
        let response =
            match self.response_for_session(user, request_id.as_deref(), now, &session_index) {
                Ok(r) => r,
                Err(e) => {
                    return text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("demo IdP: {e}\n"),
                    )
                }
            };
        let b64 = base64::engine::general_purpose::STANDARD.encode(response);
        let relay = form
            .get("RelayState")
            .map(|r| {
                format!(
                    "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
                    xml_escape(r)
                )
            })
            .unwrap_or_default();
        let mut page = html(
            StatusCode::OK,
            &format!(
                "<p>Signed in as {}. Returning to the application…</p>\
<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"{b64}\">{relay}\
<noscript><button type=\"submit\">Continue</button></noscript></form>\
<script>document.forms[0].submit()</script>",
                xml_escape(user.uid),
                xml_escape(&self.sp_acs_url)
            ),
        );
        slo::set_cookie(&mut page, &slo::session_cookie(&session_id));
        page
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}
