//! Unit tests.

use crate::{load_idp_metadata, parse_duration_seconds, Instant, MetadataPolicy};

#[test]
fn durations_as_metadata_uses_them() {
    assert_eq!(parse_duration_seconds("PT6H"), Some(6 * 3600));
    assert_eq!(parse_duration_seconds("P1D"), Some(86_400));
    assert_eq!(parse_duration_seconds("PT1H30M"), Some(5_400));
    assert_eq!(parse_duration_seconds("PT0.5S"), Some(0));
    assert_eq!(
        parse_duration_seconds("P1Y2M3DT4H5M6S"),
        Some(365 * 86_400 + 2 * 30 * 86_400 + 3 * 86_400 + 4 * 3600 + 5 * 60 + 6)
    );
    for bad in [
        "", "P", "PT", "6H", "-PT6H", "PT6", "PTH", "PT1M1H", "PT1H1H", "P1S", "PT1.5H", "PT6H ",
    ] {
        assert_eq!(parse_duration_seconds(bad), None, "{bad:?}");
    }
}

const IDP_METADATA: &str = include_str!("../../../tests/metadata/data/idp-two-keys.xml");

#[test]
fn metadata_model_carries_endpoints_formats_and_hints() {
    let now = Instant::parse("2024-03-01T10:01:00Z").unwrap();
    let md = load_idp_metadata(IDP_METADATA.as_bytes(), &MetadataPolicy::at(now)).unwrap();
    assert_eq!(md.entities.len(), 1);
    let idp = &md.entities[0];
    assert_eq!(idp.entity_id, "https://idp.metadata.test/saml2");
    // Two signing keys (use="signing" and unqualified); the encryption key
    // is not trusted for signatures.
    assert_eq!(idp.signing_keys.len(), 2);
    assert_eq!(idp.sso.len(), 2);
    assert_eq!(
        idp.sso[1].location,
        "https://idp.metadata.test/saml2/sso-post"
    );
    assert_eq!(idp.slo.len(), 1);
    assert!(idp.want_authn_requests_signed);
    assert_eq!(
        idp.name_id_formats,
        ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
    );
    assert_eq!(md.cache_duration_seconds, Some(6 * 3600));
    assert_eq!(md.valid_until, Instant::parse("2099-01-01T00:00:00Z"));
}

#[test]
fn nested_expired_entities_are_left_out_and_named() {
    let now = Instant::parse("2024-03-01T10:01:00Z").unwrap();
    let entity = |id: &str, until: &str| {
        IDP_METADATA
            .replace("https://idp.metadata.test/saml2\"", &format!("{id}\""))
            .replace(
                "validUntil=\"2099-01-01T00:00:00Z\"",
                &format!("validUntil=\"{until}\""),
            )
            .replace(" ID=\"_md1\"", "")
    };
    let aggregate = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}{}</md:EntitiesDescriptor>",
        entity("https://old.example", "2024-01-01T00:00:00Z"),
        entity("https://current.example", "2030-01-01T00:00:00Z")
    );
    let md = load_idp_metadata(aggregate.as_bytes(), &MetadataPolicy::at(now)).unwrap();
    let ids: Vec<_> = md.entities.iter().map(|e| e.entity_id.as_str()).collect();
    assert_eq!(ids, ["https://current.example"]);

    let only_old = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}</md:EntitiesDescriptor>",
        entity("https://old.example", "2024-01-01T00:00:00Z")
    );
    let e = load_idp_metadata(only_old.as_bytes(), &MetadataPolicy::at(now)).unwrap_err();
    assert!(e.to_string().contains("https://old.example"), "{e}");
}

#[test]
fn sp_metadata_refuses_incoherent_input() {
    use crate::{AcsEndpoint, SpMetadata};
    let acs = |index, is_default| AcsEndpoint {
        index,
        url: format!("https://n{index}.example/acs"),
        is_default,
    };
    let base = SpMetadata {
        entity_id: "https://sp.example".into(),
        acs: vec![acs(0, true), acs(1, false)],
        ..SpMetadata::default()
    };
    assert!(base.to_xml().is_ok());
    for bad in [
        SpMetadata {
            entity_id: String::new(),
            ..base.clone()
        },
        SpMetadata {
            acs: vec![],
            ..base.clone()
        },
        SpMetadata {
            acs: vec![acs(0, false), acs(0, false)],
            ..base.clone()
        },
        SpMetadata {
            acs: vec![acs(0, true), acs(1, true)],
            ..base.clone()
        },
    ] {
        assert!(bad.to_xml().is_err(), "{bad:?}");
    }
    // Values are escaped, never spliced raw into markup.
    let tricky = SpMetadata {
        entity_id: "https://sp.example/?a=1&b=\"<x>\"".into(),
        ..base
    };
    let xml = tricky.to_xml().unwrap();
    assert!(xml.contains("entityID=\"https://sp.example/?a=1&amp;b=&quot;&lt;x&gt;&quot;\""));
    samlgate_xml::Document::parse(xml.as_bytes(), &samlgate_xml::Limits::default()).unwrap();
}

#[test]
fn sp_metadata_lists_the_slo_url_for_both_bindings() {
    use crate::{AcsEndpoint, SpMetadata, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT};
    let xml = SpMetadata {
        entity_id: "https://sp.example".into(),
        acs: vec![AcsEndpoint {
            index: 0,
            url: "https://sp.example/acs".into(),
            is_default: true,
        }],
        slo: vec!["https://sp.example/saml/logout".into()],
        ..SpMetadata::default()
    }
    .to_xml()
    .unwrap();
    for binding in [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST] {
        assert!(
            xml.contains(&format!(
                "<md:SingleLogoutService Binding=\"{binding}\" Location=\"https://sp.example/saml/logout\"/>"
            )),
            "{xml}"
        );
    }
}

/// The NameID qualifiers come from the verified assertion, so the gateway
/// can repeat them in a LogoutRequest exactly as received.
#[test]
fn the_verified_assertion_keeps_the_name_id_qualifiers() {
    use crate::{NameId, Trust, Validator};
    use samlgate_dsig::{
        sign_enveloped, AlgorithmPolicy, DecryptionKeys, DecryptionPolicy, SigningKey, TrustedKeys,
    };
    const KEY: &[u8] = include_bytes!("../../../tests/attacks/keys/idp-key.pem");
    const CERT: &[u8] = include_bytes!("../../../tests/attacks/keys/idp-cert.pem");
    let idp = "https://idp.example.test/idp";
    let sp = "https://sp.example.test/saml/metadata";
    let acs = "https://sp.example.test/saml/acs";
    let response = |name_id: &str| {
        format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
ID=\"_r\" Version=\"2.0\" IssueInstant=\"2026-01-15T10:00:00Z\" Destination=\"{acs}\"><saml:Issuer>{idp}</saml:Issuer>\
<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
<saml:Assertion ID=\"_a\" Version=\"2.0\" IssueInstant=\"2026-01-15T10:00:00Z\"><saml:Issuer>{idp}</saml:Issuer>\
<saml:Subject>{name_id}<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
<saml:SubjectConfirmationData NotOnOrAfter=\"2026-01-15T10:05:00Z\" Recipient=\"{acs}\"/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotOnOrAfter=\"2026-01-15T10:05:00Z\"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience>\
</saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant=\"2026-01-15T10:00:00Z\" SessionIndex=\"_s1\"/>\
</saml:Assertion></samlp:Response>"
        )
    };
    let key = SigningKey::from_pem(KEY, CERT).unwrap();
    let mut keys = TrustedKeys::new();
    keys.add_pem_certificates(CERT).unwrap();
    let mut trust = Trust::new();
    trust.add_any_issuer_keys(&keys);
    let clock = crate::FixedClock(Instant::parse("2026-01-15T10:01:00Z").unwrap());
    let decryption_keys = DecryptionKeys::new();
    let validator = Validator {
        trust: &trust,
        sp_entity_id: Some(sp),
        acs_url: Some(acs),
        in_response_to: None,
        clock: &clock,
        clock_skew_seconds: 60,
        algorithms: AlgorithmPolicy::default(),
        decryption_keys: &decryption_keys,
        decryption: DecryptionPolicy::default(),
        limits: samlgate_xml::Limits::default(),
        replay: None,
        refuse_solicited: false,
    };
    let qualified = format!(
        "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\" \
NameQualifier=\"{idp}\" SPNameQualifier=\"{sp}\">8f2c-alice</saml:NameID>"
    );
    let xml = sign_enveloped(response(&qualified).as_bytes(), "_a", &key).unwrap();
    let verified = validator.validate(&xml).unwrap();
    assert_eq!(verified.name_qualifier(), Some(idp));
    assert_eq!(verified.sp_name_qualifier(), Some(sp));
    assert_eq!(
        verified.subject_name_id(),
        NameId {
            value: "8f2c-alice".into(),
            format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
            name_qualifier: Some(idp.into()),
            sp_name_qualifier: Some(sp.into()),
        }
    );
    let bare = sign_enveloped(
        response("<saml:NameID>bob</saml:NameID>").as_bytes(),
        "_a",
        &key,
    )
    .unwrap();
    let verified = validator.validate(&bare).unwrap();
    assert_eq!(
        (verified.name_qualifier(), verified.sp_name_qualifier()),
        (None, None)
    );
}
