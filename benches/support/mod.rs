//! Bench inputs: a fresh RSA-2048 IdP key and Responses of a given shape,
//! signed by samlgate's own signer (exc-c14n, rsa-sha256).

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

pub(crate) const SP: &str = "https://sp.bench.example.com/saml/metadata";
pub(crate) const ACS: &str = "https://sp.bench.example.com/saml/acs";
pub(crate) const IDP: &str = "https://idp.bench.example.net/saml2";
pub(crate) const NOW: &str = "2024-05-01T12:01:00Z";

pub(crate) struct Idp {
    pub key: PKey<Private>,
    pub cert: X509,
}

pub(crate) fn idp() -> Idp {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "bench idp").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(3650).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    Idp {
        key,
        cert: b.build(),
    }
}

/// An unsigned Response whose assertion carries `attributes` attributes with
/// `values_per_attribute` values each.
pub(crate) fn response_xml(attributes: usize, values_per_attribute: usize) -> String {
    let mut attrs = String::new();
    for a in 0..attributes {
        attrs.push_str(&format!(
            "<saml:Attribute Name=\"urn:oid:1.3.6.1.4.1.5923.1.1.1.{a}\" FriendlyName=\"attr{a}\" \
NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
        ));
        for v in 0..values_per_attribute {
            attrs.push_str(&format!(
                "<saml:AttributeValue xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xs:string\">CN=app-role-{a}-{v}-members,OU=Application Roles,OU=Regional Access,OU=EMEA Tenants,OU=Groups,DC=corp,DC=example,DC=com</saml:AttributeValue>"
            ));
        }
        attrs.push_str("</saml:Attribute>");
    }
    format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r1\" Version=\"2.0\" \
IssueInstant=\"2024-05-01T12:00:00Z\" Destination=\"{ACS}\" InResponseTo=\"_req1\">\
<saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode \
Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
<saml:Assertion ID=\"_a1\" Version=\"2.0\" IssueInstant=\"2024-05-01T12:00:00Z\">\
<saml:Issuer>{IDP}</saml:Issuer><saml:Subject><saml:NameID \
Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">alice@example.com</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
<saml:SubjectConfirmationData InResponseTo=\"_req1\" NotOnOrAfter=\"2024-05-01T12:05:00Z\" \
Recipient=\"{ACS}\"/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"2024-05-01T11:59:00Z\" NotOnOrAfter=\"2024-05-01T12:05:00Z\">\
<saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"2024-05-01T12:00:00Z\" SessionIndex=\"_s1\">\
<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport\
</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion></samlp:Response>"
    )
}
