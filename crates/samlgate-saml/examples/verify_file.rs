//! Verifies a SAML Response file with the library, without the CLI.
//!
//! ```text
//! cargo run -p samlgate-saml --example verify_file -- idp-cert.pem response.xml 2023-11-07T14:31:00Z [repeat]
//! valid: alice@public.example.com (issuer https://idp.pub.example.net/saml2/metadata)
//! ```
//! With `repeat`, validates the file that many times (a profiling loop).

use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, TrustedKeys};
use samlgate_saml::{decode_input, FixedClock, Instant, Trust, Validator};
use samlgate_xml::Limits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, cert, response, now, rest @ ..] = args.as_slice() else {
        eprintln!("usage: verify_file CERT.pem RESPONSE NOW [REPEAT]");
        std::process::exit(2);
    };
    let repeat: usize = rest.first().map_or(Ok(1), |r| r.parse())?;
    let mut keys = TrustedKeys::new();
    keys.add_pem_certificates(&std::fs::read(cert)?)?;
    let mut trust = Trust::new();
    trust.add_any_issuer_keys(&keys);
    let clock = FixedClock(Instant::parse(now).ok_or("bad --now")?);
    let decryption_keys = DecryptionKeys::new();
    let validator = Validator {
        trust: &trust,
        sp_entity_id: None,
        acs_url: None,
        in_response_to: None,
        clock: &clock,
        clock_skew_seconds: 180,
        algorithms: AlgorithmPolicy::default(),
        decryption_keys: &decryption_keys,
        decryption: Default::default(),
        limits: Limits::default(),
        replay: None,
        refuse_solicited: false,
    };
    let data = std::fs::read(response)?;
    for _ in 1..repeat {
        let xml = decode_input(&data, 1 << 20)?;
        validator.validate(&xml)?;
    }
    let xml = decode_input(&data, 1 << 20)?;
    match validator.validate(&xml) {
        Ok(a) => println!("valid: {} (issuer {})", a.name_id(), a.issuer()),
        Err(e) => println!("invalid: {} ({e})", e.reason()),
    }
    Ok(())
}
