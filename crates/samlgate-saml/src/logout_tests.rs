//! Round trips: what the builders send, the validator accepts with every
//! field intact, in both bindings; and what they write is shaped as SAML
//! core §3.7 says.

use super::*;
use crate::{FixedClock, IdpEntity, LogoutValidator, Trust, VerifiedLogout};
use samlgate_dsig::{AlgorithmPolicy, TrustedKeys};
use samlgate_xml::{Document, Limits};

const KEY: &[u8] = include_bytes!("../../../tests/attacks/keys/sp-key.pem");
const CERT: &[u8] = include_bytes!("../../../tests/attacks/keys/sp-cert.pem");
const SENDER: &str = "https://sp.example.test/saml/metadata";
const IDP_SLO: &str = "https://idp.example.test/slo?tenant=a";

fn key() -> SigningKey {
    SigningKey::from_pem(KEY, CERT).unwrap()
}

fn trust() -> Trust {
    let mut keys = TrustedKeys::new();
    keys.add_pem_certificates(CERT).unwrap();
    let mut trust = Trust::new();
    trust.add_idp(IdpEntity {
        entity_id: SENDER.into(),
        signing_keys: keys,
        ..IdpEntity::default()
    });
    trust
}

fn at() -> Instant {
    Instant::parse("2026-01-15T10:00:00Z").unwrap()
}

fn validate(
    in_response_to: Option<&str>,
    f: impl FnOnce(&LogoutValidator<'_>) -> Result<VerifiedLogout, crate::SamlError>,
) -> Result<VerifiedLogout, crate::SamlError> {
    let trust = trust();
    let clock = FixedClock(at().plus_seconds(5));
    let urls = [IDP_SLO.to_owned()];
    let validator = LogoutValidator {
        trust: &trust,
        slo_urls: &urls,
        in_response_to,
        clock: &clock,
        clock_skew_seconds: 60,
        max_age_seconds: 120,
        algorithms: AlgorithmPolicy::default(),
        limits: Limits::default(),
    };
    f(&validator)
}

fn name_id() -> NameId {
    NameId {
        value: "alice <&> \"o'neil\"".into(),
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
        name_qualifier: Some("https://idp.example.test/idp".into()),
        sp_name_qualifier: Some(SENDER.into()),
    }
}

fn request(name_id: &NameId, sessions: &[String]) -> String {
    LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: IDP_SLO,
        issuer: SENDER,
        name_id,
        session_indexes: sessions,
        not_on_or_after: Some(at().plus_seconds(300)),
        reason: Some(crate::ns::LOGOUT_REASON_USER),
    }
    .to_xml()
}

/// The query of a Redirect URL, after the destination's own query.
fn query_of(url: &str) -> &str {
    url.strip_prefix(IDP_SLO)
        .unwrap()
        .strip_prefix('&')
        .unwrap()
}

/// The form body a browser would post from our auto-submit page.
fn form_body(html: &str) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for field in ["SAMLRequest", "SAMLResponse", "RelayState"] {
        let marker = format!("name=\"{field}\" value=\"");
        if let Some(start) = html.find(&marker) {
            let rest = &html[start + marker.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            body.append_pair(field, &value.replace("&amp;", "&").replace("&quot;", "\""));
        }
    }
    body.finish()
}

#[test]
fn a_logout_request_round_trips_in_both_bindings() {
    let name_id = name_id();
    let sessions = vec!["_s1".to_owned(), "_s 2&".to_owned()];
    let built = LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: IDP_SLO,
        issuer: SENDER,
        name_id: &name_id,
        session_indexes: &sessions,
        not_on_or_after: Some(at().plus_seconds(300)),
        reason: None,
    };
    let relay = "back to /app?x=1&y=2";
    let url = built.redirect_url(Some(relay), &key()).unwrap();
    let form = built.post_form(Some(relay), &key()).unwrap();
    for (binding, got) in [
        (
            "redirect",
            validate(None, |v| v.validate_redirect(query_of(&url))),
        ),
        (
            "post",
            validate(None, |v| v.validate_post(form_body(&form).as_bytes())),
        ),
    ] {
        let Ok(VerifiedLogout::Request(r)) = got else {
            panic!("{binding}: {got:?}");
        };
        assert_eq!(r.issuer(), SENDER);
        assert_eq!(r.id(), "_lr-1");
        assert_eq!(r.issue_instant(), at());
        assert_eq!(r.not_on_or_after(), Some(at().plus_seconds(300)));
        assert_eq!(r.name_id(), &name_id, "{binding}");
        assert_eq!(r.session_indexes(), sessions);
        assert_eq!(r.relay_state(), Some(relay));
    }
}

#[test]
fn a_logout_response_round_trips_with_each_status() {
    for status in [
        LogoutStatus::Success,
        LogoutStatus::PartialLogout,
        LogoutStatus::RequestDenied,
    ] {
        let built = LogoutResponse {
            id: "_lresp-1",
            issue_instant: at(),
            destination: IDP_SLO,
            issuer: SENDER,
            in_response_to: Some("_lr-9"),
            status,
            status_message: Some("done <ok>"),
        };
        let url = built.redirect_url(None, &key()).unwrap();
        let form = built.post_form(Some("r"), &key()).unwrap();
        for got in [
            validate(Some("_lr-9"), |v| v.validate_redirect(query_of(&url))),
            validate(Some("_lr-9"), |v| {
                v.validate_post(form_body(&form).as_bytes())
            }),
        ] {
            let Ok(VerifiedLogout::Response(r)) = got else {
                panic!("{status:?}: {got:?}");
            };
            assert_eq!(r.in_response_to(), "_lr-9");
            assert_eq!(r.status().top_level, status.top_level());
            assert_eq!(r.status().second_level.as_deref(), status.second_level());
            assert_eq!(r.status().message.as_deref(), Some("done <ok>"));
            assert_eq!(r.ensure_success().is_ok(), status == LogoutStatus::Success);
            if status != LogoutStatus::Success {
                assert_eq!(
                    r.ensure_success().unwrap_err().reason(),
                    crate::Reason::StatusNotSuccess
                );
            }
        }
        // Answering another request, or none outstanding.
        for expected in [Some("_lr-8"), None] {
            let err = validate(expected, |v| v.validate_redirect(query_of(&url))).unwrap_err();
            assert_eq!(err.reason(), crate::Reason::InResponseToMismatch);
        }
    }
}

#[test]
fn the_request_is_shaped_as_core_says() {
    let xml = request(&name_id(), &["_s1".to_owned()]);
    let doc = Document::parse(xml.as_bytes(), &Limits::default()).unwrap();
    let root = doc.root();
    assert!(doc.is(root, PROTOCOL, "LogoutRequest"));
    assert_eq!(
        doc.attr(root, "Reason"),
        Some(crate::ns::LOGOUT_REASON_USER)
    );
    assert_eq!(doc.attr(root, "NotOnOrAfter"), Some("2026-01-15T10:05:00Z"));
    let kids: Vec<&str> = doc
        .child_elements(root)
        .map(|c| doc.local_name(c))
        .collect();
    assert_eq!(kids, ["Issuer", "NameID", "SessionIndex"]);
    let nid = doc.first_child_named(root, ASSERTION, "NameID").unwrap();
    assert_eq!(doc.text_content(nid), "alice <&> \"o'neil\"");
    assert_eq!(doc.attr(nid, "SPNameQualifier"), Some(SENDER));
    // A bare NameID has no attributes at all.
    let bare = NameId {
        value: "bob".into(),
        ..NameId::default()
    };
    assert_eq!(bare.to_xml(), "<saml:NameID>bob</saml:NameID>");
    // The enveloped signature goes right after the Issuer (schema order).
    let signed = LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: IDP_SLO,
        issuer: SENDER,
        name_id: &bare,
        session_indexes: &[],
        not_on_or_after: None,
        reason: None,
    }
    .signed_xml(&key())
    .unwrap();
    let doc = Document::parse(&signed, &Limits::default()).unwrap();
    let kids: Vec<&str> = doc
        .child_elements(doc.root())
        .map(|c| doc.local_name(c))
        .collect();
    assert_eq!(kids, ["Issuer", "Signature", "NameID"]);
}

#[test]
fn a_response_goes_to_the_response_location_when_there_is_one() {
    let mut endpoint = crate::Endpoint {
        binding: crate::BINDING_HTTP_REDIRECT.into(),
        location: "https://idp/slo".into(),
        response_location: None,
    };
    assert_eq!(endpoint.response_url(), "https://idp/slo");
    endpoint.response_location = Some("https://idp/slo-return".into());
    assert_eq!(endpoint.response_url(), "https://idp/slo-return");
    let idp = IdpEntity {
        slo: vec![
            crate::Endpoint {
                binding: crate::BINDING_HTTP_POST.into(),
                location: "https://idp/slo-post".into(),
                response_location: None,
            },
            endpoint,
        ],
        ..IdpEntity::default()
    };
    assert_eq!(idp.logout_endpoint().unwrap().location, "https://idp/slo");
    assert!(IdpEntity::default().logout_endpoint().is_none());
}

#[test]
fn a_redirect_signature_covers_the_message_the_relay_state_and_the_algorithm() {
    let name_id = name_id();
    let url = LogoutRequest {
        id: "_lr-1",
        issue_instant: at(),
        destination: IDP_SLO,
        issuer: SENDER,
        name_id: &name_id,
        session_indexes: &[],
        not_on_or_after: None,
        reason: None,
    }
    .redirect_url(Some("tok"), &key())
    .unwrap();
    let query = query_of(&url);
    validate(None, |v| v.validate_redirect(query)).unwrap();
    for tampered in [
        query.replace("RelayState=tok", "RelayState=tol"),
        query.replace("&RelayState=tok", ""),
        query.replace("rsa-sha256", "rsa-sha512"),
    ] {
        let err = validate(None, |v| v.validate_redirect(&tampered)).unwrap_err();
        assert_eq!(err.reason(), crate::Reason::SignatureInvalid, "{tampered}");
    }
}
