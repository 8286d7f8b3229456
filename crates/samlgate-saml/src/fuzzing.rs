//! Entry points for the cargo-fuzz targets and their stable seed test.

use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, DecryptionPolicy, TrustedKeys};
use samlgate_xml::Limits;

use crate::{decode_input, FixedClock, Instant, Trust, Validator};

/// The key trusted for any issuer while fuzzing: the attack fixtures' IdP,
/// so that inputs built from those fixtures reach signature verification.
const FUZZ_IDP_CERT: &[u8] = include_bytes!("../../../tests/attacks/keys/idp-cert.pem");
/// The SP decryption key of the XML-Enc fixtures, so that decryption runs.
const FUZZ_SP_KEY: &[u8] = include_bytes!("../../samlgate-dsig/tests/data/encrypted/sp-key.pem");

fn fuzz_setup() -> &'static (Trust, DecryptionKeys) {
    static SETUP: std::sync::OnceLock<(Trust, DecryptionKeys)> = std::sync::OnceLock::new();
    SETUP.get_or_init(|| {
        let mut trust = Trust::new();
        let mut keys = TrustedKeys::new();
        if keys.add_pem_certificates(FUZZ_IDP_CERT).is_ok() {
            trust.add_any_issuer_keys(&keys);
        }
        let mut decryption = DecryptionKeys::new();
        let _ = decryption.add_pem(FUZZ_SP_KEY);
        (trust, decryption)
    })
}

/// Runs the whole validation on arbitrary bytes (raw XML or base64): one
/// trusted IdP key, one SP decryption key, a fixed clock; must never panic.
pub fn saml_response(data: &[u8]) {
    let (trust, keys) = fuzz_setup();
    let clock = FixedClock(Instant::from_unix_millis(1_717_243_260_000));
    let validator = Validator {
        trust,
        sp_entity_id: Some("https://sp.attack.test/saml/metadata"),
        acs_url: Some("https://sp.attack.test/saml/acs"),
        in_response_to: None,
        clock: &clock,
        clock_skew_seconds: 180,
        algorithms: AlgorithmPolicy::default(),
        decryption_keys: keys,
        decryption: DecryptionPolicy::default(),
        limits: Limits::default(),
        replay: None,
        refuse_solicited: false,
    };
    if let Ok(xml) = decode_input(data, 1024 * 1024) {
        let _ = validator.validate(&xml);
    }
}

/// Parses IdP metadata; must never panic.
pub fn metadata(data: &[u8]) {
    let _ = crate::parse_idp_metadata(data);
}

/// Runs Single Logout validation on arbitrary bytes: the first byte picks
/// the binding (even: the rest is an HTTP-Redirect query string, odd: an
/// HTTP-POST form body); the attack fixtures' IdP key is trusted, the
/// clock is the SLO vectors'. Must never panic.
pub fn slo_message(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (trust, _) = fuzz_setup();
    let clock = FixedClock(Instant::from_unix_millis(1_768_471_260_000));
    let slo_urls = ["https://sp.slo.test/saml/logout".to_owned()];
    let validator = crate::LogoutValidator {
        trust,
        slo_urls: &slo_urls,
        in_response_to: Some("_sp-lr-1"),
        clock: &clock,
        clock_skew_seconds: 180,
        max_age_seconds: 300,
        algorithms: AlgorithmPolicy::default(),
        limits: Limits::default(),
    };
    if selector % 2 == 0 {
        if let Ok(query) = std::str::from_utf8(rest) {
            let _ = validator.validate_redirect(query);
        }
    } else {
        let _ = validator.validate_post(rest);
    }
}
