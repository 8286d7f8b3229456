//! Entry points for the cargo-fuzz targets and their stable seed test.

use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, DecryptionPolicy};
use samlgate_xml::Limits;

use crate::{decode_input, FixedClock, Instant, Trust, Validator};

/// Runs the whole validation on arbitrary bytes (raw XML or base64) with
/// an empty trust store; must never panic.
pub fn saml_response(data: &[u8]) {
    let trust = Trust::new();
    let keys = DecryptionKeys::new();
    let clock = FixedClock(Instant::from_unix_millis(1_700_000_000_000));
    let validator = Validator {
        trust: &trust,
        sp_entity_id: Some("https://sp.example.com"),
        acs_url: Some("https://sp.example.com/acs"),
        in_response_to: None,
        clock: &clock,
        clock_skew_seconds: 180,
        algorithms: AlgorithmPolicy::default(),
        decryption_keys: &keys,
        decryption: DecryptionPolicy::default(),
        limits: Limits::default(),
        replay: None,
    };
    if let Ok(xml) = decode_input(data, 1024 * 1024) {
        let _ = validator.validate(&xml);
    }
}

/// Parses IdP metadata; must never panic.
pub fn metadata(data: &[u8]) {
    let _ = crate::parse_idp_metadata(data);
}
