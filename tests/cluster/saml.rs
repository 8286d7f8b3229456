//! SAML messages the tests make or change: IdP LogoutRequests signed with
//! a demo IdP's key (HTTP-Redirect), their unsigned and mis-signed
//! variants, a Response with one signed byte changed, a signed assertion
//! re-wrapped in a new Response; and the check of the gateway's signed
//! LogoutResponse, with samlgate's own `LogoutValidator` trusting the SP
//! certificate (as an IdP would).

use samlgate_dsig::{AlgorithmPolicy, TrustedKey, TrustedKeys};
use samlgate_gateway::demo::idp::DemoIdp;
use samlgate_saml::{
    IdpEntity, Instant, LogoutRequest, LogoutValidator, NameId, SystemClock, Trust, VerifiedLogout,
};
use samlgate_xml::Limits;

use super::fleet::Fleet;

pub(crate) const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
pub(crate) const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

pub(crate) fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// An IdP-initiated LogoutRequest (HTTP-Redirect, signed with `signer`'s
/// key, Issuer `issuer`'s entity ID).
pub(crate) struct IdpLogout<'a> {
    pub(crate) issuer: &'a DemoIdp,
    pub(crate) signer: &'a DemoIdp,
    pub(crate) name_id: &'a str,
    pub(crate) format: &'a str,
    pub(crate) session_indexes: Vec<String>,
    pub(crate) issued: Instant,
}

impl<'a> IdpLogout<'a> {
    /// From `idp` for `name_id` (unspecified format), issued now.
    pub(crate) fn new(idp: &'a DemoIdp, name_id: &'a str, session_indexes: &[&str]) -> Self {
        IdpLogout {
            issuer: idp,
            signer: idp,
            name_id,
            format: UNSPECIFIED,
            session_indexes: session_indexes.iter().map(|s| (*s).to_owned()).collect(),
            issued: samlgate_saml::Clock::now(&SystemClock),
        }
    }

    /// The request ID and the query string of the Redirect binding.
    pub(crate) fn query(&self, fleet: &Fleet) -> (String, String) {
        let id = random_id("_idp-lr-");
        let name_id = NameId {
            value: self.name_id.to_owned(),
            format: Some(self.format.to_owned()),
            ..NameId::default()
        };
        let slo = fleet.slo_url();
        let url = LogoutRequest {
            id: &id,
            issue_instant: self.issued,
            destination: &slo,
            issuer: &self.issuer.entity_id,
            name_id: &name_id,
            session_indexes: &self.session_indexes,
            not_on_or_after: Some(self.issued.plus_seconds(300)),
            reason: None,
        }
        .redirect_url(Some("relay-1"), &self.signer.key)
        .unwrap();
        let query = url.split_once('?').unwrap().1.to_owned();
        (id, query)
    }
}

/// The query without its `SigAlg` and `Signature` (an unsigned request).
pub(crate) fn strip_signature(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.starts_with("SigAlg=") && !p.starts_with("Signature="))
        .collect::<Vec<_>>()
        .join("&")
}

/// The same Response with one byte of the signed NameID changed.
pub(crate) fn forge_name_id(xml: &str, name_id: &str) -> String {
    let from = format!(">{name_id}</saml:NameID>");
    let mut changed = name_id.as_bytes().to_vec();
    let last = changed.len() - 1;
    changed[last] += 1;
    let to = format!(">{}</saml:NameID>", String::from_utf8(changed).unwrap());
    assert!(xml.contains(&from), "NameID {name_id} in the Response");
    xml.replacen(&from, &to, 1)
}

/// The Response's signed Assertion, verbatim, in a new unsigned Response
/// envelope with a new ID.
pub(crate) fn rewrap(xml: &str) -> String {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let head = &xml[..start];
    let id_at = head.find(" ID=\"").unwrap() + " ID=\"".len();
    let id_end = id_at + head[id_at..].find('"').unwrap();
    let new_head = format!(
        "{}{}{}",
        &head[..id_at],
        random_id("_rewrapped"),
        &head[id_end..]
    );
    assert_ne!(new_head, head);
    format!("{new_head}{}{}", &xml[start..end], &xml[end..])
}

/// Checks the gateway's answer to an IdP LogoutRequest: a redirect to
/// `idp`'s SingleLogoutService with a LogoutResponse signed by the SP key,
/// InResponseTo the request; returns whether its status is Success.
pub(crate) fn logout_response_success(
    fleet: &Fleet,
    idp: &DemoIdp,
    location: &str,
    request_id: &str,
) -> bool {
    let (endpoint, query) = location.split_once('?').expect("a Redirect-binding URL");
    assert_eq!(endpoint, format!("{}/slo", idp.base_url));
    let mut keys = TrustedKeys::default();
    keys.add(TrustedKey::from_cert_der(&fleet.sp_cert_der).unwrap());
    let mut trust = Trust::new();
    trust.add_idp(IdpEntity {
        entity_id: format!("{}/saml/metadata", fleet.base_url),
        signing_keys: keys,
        ..IdpEntity::default()
    });
    let urls = [endpoint.to_owned()];
    let verified = LogoutValidator {
        trust: &trust,
        slo_urls: &urls,
        in_response_to: Some(request_id),
        clock: &SystemClock,
        clock_skew_seconds: 60,
        max_age_seconds: 120,
        algorithms: AlgorithmPolicy::default(),
        limits: Limits::default(),
    }
    .validate_redirect(query)
    .unwrap_or_else(|e| panic!("the gateway's LogoutResponse does not verify: {e}"));
    let VerifiedLogout::Response(response) = verified else {
        panic!("not a LogoutResponse: {location}");
    };
    assert_eq!(response.relay_state(), Some("relay-1"));
    response.ensure_success().is_ok()
}
