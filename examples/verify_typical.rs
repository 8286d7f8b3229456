//! The `verify/full_typical` bench's work (the same 7.8 KB Response, key
//! and checks), outside criterion: a stable second opinion on a noisy host.
//!
//! ```text
//! cargo build --profile bench --example verify_typical
//! target/release/examples/verify_typical ratio 30
//! valgrind --tool=callgrind --toggle-collect='verify_typical::run*' \
//!     target/release/examples/verify_typical full 200
//! ```
//!
//! - `full|floor|parse|signature|digest|walk COUNT`: that many iterations
//!   of one part in `run` (for callgrind, which counts only inside it, so
//!   key generation and signing are left out; or for perf):
//!   `full` is decode + validate, `floor` the bench's bare RSA-2048
//!   verify, `parse` the parse, `signature` the assertion's signature check
//!   on a parsed tree, `digest` its Reference digest (exclusive c14n into
//!   SHA-256), `walk` that canonicalization into a sink.
//! - `ratio ROUNDS`: each part over the floor, timed paired (see
//!   `paired_ratio`).
//! - `openssl ROUNDS`: how much of the floor is OpenSSL setup: an RSA
//!   verify on a context made once, and on one made per call.
//! - `dump 0`: the Response, to stdout.
//!
//! Under callgrind OpenSSL takes other code paths than on the host (no
//! SHA-NI, no ADX/BMI2 big-number code), so instruction counts compare our
//! code between builds, not our code with RSA.

use openssl::hash::MessageDigest;
use openssl::sign::{Signer, Verifier};
use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, SigningKey, TrustedKeys};
use samlgate_saml::{decode_input, FixedClock, Instant, Trust, Validator};
use samlgate_xml::{C14nMethod, C14nOptions, Limits};

#[path = "../benches/support/mod.rs"]
mod support;
use support::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, count) = match args.as_slice() {
        [mode, count] => (mode.as_str(), count.parse::<u32>().unwrap_or(0)),
        _ => {
            eprintln!(
                "usage: verify_typical full|floor|parse|signature|digest|walk|ratio|openssl|dump COUNT"
            );
            std::process::exit(2);
        }
    };
    let idp = idp();
    let key_pem = idp.key.private_key_to_pem_pkcs8().unwrap();
    let cert_pem = idp.cert.to_pem().unwrap();
    let signer = SigningKey::from_pem(&key_pem, &cert_pem).unwrap();
    let typical =
        samlgate_dsig::sign_enveloped(response_xml(10, 1).as_bytes(), "_a1", &signer).unwrap();
    let mut keys = TrustedKeys::new();
    keys.add_pem_certificates(&cert_pem).unwrap();
    let mut trust = Trust::new();
    trust.add_any_issuer_keys(&keys);
    let clock = FixedClock(Instant::parse(NOW).unwrap());
    let decryption_keys = DecryptionKeys::new();
    let validator = Validator {
        trust: &trust,
        sp_entity_id: Some(SP),
        acs_url: Some(ACS),
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
    let data = [7u8; 32];
    let floor_signature = Signer::new(MessageDigest::sha256(), &idp.key)
        .unwrap()
        .sign_oneshot_to_vec(&data)
        .unwrap();
    let public = idp.cert.public_key().unwrap();
    let mut full = || {
        decode_input(std::hint::black_box(&typical), 1 << 20)
            .and_then(|xml| validator.validate(&xml))
            .is_ok()
    };
    let mut floor = || {
        Verifier::new(MessageDigest::sha256(), &public)
            .and_then(|mut v| v.verify_oneshot(&floor_signature, std::hint::black_box(&data)))
            .unwrap_or(false)
    };
    let mut parse = || {
        samlgate_xml::Document::parse(std::hint::black_box(&typical), &Limits::default()).is_ok()
    };
    // The parts of `full`: the parse, the assertion's signature check
    // (on the parsed tree), and within it the digest of the assertion
    // (exclusive c14n into SHA-256) and SHA-256 alone over the same
    // canonical bytes.
    let doc = samlgate_xml::Document::parse(&typical, &Limits::default()).unwrap();
    let assertion = doc
        .elements()
        .find(|e| doc.local_name(*e) == "Assertion")
        .unwrap();
    let sig = samlgate_dsig::signature_child(&doc, assertion)
        .unwrap()
        .unwrap();
    let c14n_options = C14nOptions {
        exclude: Some(sig),
        ..C14nOptions::new(C14nMethod::Exclusive)
    };
    let canonical = samlgate_xml::canonicalize_to_vec(&doc, Some(assertion), &c14n_options);
    let mut signature = || {
        samlgate_dsig::verify_enveloped(&doc, assertion, sig, &keys, &AlgorithmPolicy::default())
            .is_ok()
    };
    let mut digest = || {
        let mut sha = ShaWriter(openssl::sha::Sha256::new());
        samlgate_xml::canonicalize(&doc, Some(assertion), &c14n_options, &mut sha).unwrap();
        sha.0.finish() != [0; 32]
    };
    let mut parse_and_signature = || {
        let doc = samlgate_xml::Document::parse(std::hint::black_box(&typical), &Limits::default())
            .unwrap();
        let assertion = doc
            .elements()
            .find(|e| doc.local_name(*e) == "Assertion")
            .unwrap();
        let sig = samlgate_dsig::signature_child(&doc, assertion)
            .unwrap()
            .unwrap();
        samlgate_dsig::verify_enveloped(&doc, assertion, sig, &keys, &AlgorithmPolicy::default())
            .is_ok()
    };
    let mut walk = || {
        samlgate_xml::canonicalize(&doc, Some(assertion), &c14n_options, std::io::sink()).is_ok()
    };
    let mut sha = || openssl::sha::sha256(std::hint::black_box(&canonical)) != [0; 32];
    // How much of the floor is OpenSSL setup rather than RSA: a verify on
    // a context made once, and one made per call with a fetched digest.
    let sha256_md = openssl::md::Md::fetch(None, "SHA2-256", None).unwrap();
    let mut cached_ctx = openssl::pkey_ctx::PkeyCtx::new(&public).unwrap();
    cached_ctx.verify_init().unwrap();
    cached_ctx
        .set_rsa_padding(openssl::rsa::Padding::PKCS1)
        .unwrap();
    cached_ctx.set_signature_md(&sha256_md).unwrap();
    let mut rsa_cached_ctx = || {
        let digest = openssl::sha::sha256(std::hint::black_box(&data));
        cached_ctx
            .verify(&digest, &floor_signature)
            .unwrap_or(false)
    };
    let mut rsa_fresh_ctx = || {
        let digest = openssl::sha::sha256(std::hint::black_box(&data));
        let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&public).unwrap();
        ctx.verify_init().unwrap();
        ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1).unwrap();
        ctx.set_signature_md(&sha256_md).unwrap();
        ctx.verify(&digest, &floor_signature).unwrap_or(false)
    };
    if mode == "openssl" {
        paired_ratio(
            count,
            &mut floor,
            &mut [
                ("rsa, context made once", &mut rsa_cached_ctx),
                ("rsa, context per call", &mut rsa_fresh_ctx),
            ],
        );
        return;
    }
    if mode == "ratio" {
        paired_ratio(
            count,
            &mut floor,
            &mut [
                ("full", &mut full),
                ("parse", &mut parse),
                ("parse + signature", &mut parse_and_signature),
                ("signature", &mut signature),
                ("digest", &mut digest),
                ("c14n walk", &mut walk),
                ("sha256", &mut sha),
            ],
        );
        return;
    }
    let ok = match mode {
        "full" => run(count, &mut full),
        "parse" => run(count, &mut parse),
        "signature" => run(count, &mut signature),
        "digest" => run(count, &mut digest),
        "walk" => run(count, &mut walk),
        "floor" => run(count, &mut floor),
        "dump" => {
            std::io::Write::write_all(&mut std::io::stdout(), &typical).unwrap();
            return;
        }
        _ => count,
    };
    assert_eq!(ok, count, "every iteration must verify");
    println!("mode={mode} verified={ok} bytes={}", typical.len());
}

/// The counted loop: `--toggle-collect='verify_typical::run*'` restricts
/// callgrind to it, so key generation and signing are not counted.
#[inline(never)]
fn run(count: u32, once: &mut impl FnMut() -> bool) -> u32 {
    (0..count).map(|_| u32::from(once())).sum()
}

/// Each of `parts` over the floor, measured paired: `rounds` rounds, each
/// timing a batch of floors then a batch of each part back to back, so a
/// change in the host's load affects both sides of a ratio alike. Prints
/// the median of the per-round ratios with their quartiles, and the ratio
/// of the fastest batches (on a shared host, the batch that was never
/// preempted).
fn paired_ratio(
    rounds: u32,
    floor: &mut dyn FnMut() -> bool,
    parts: &mut [(&str, &mut dyn FnMut() -> bool)],
) {
    const BATCH: u32 = 100;
    let time = |f: &mut dyn FnMut() -> bool| {
        let started = std::time::Instant::now();
        let ok = (0..BATCH).filter(|_| f()).count() as u32;
        assert_eq!(ok, BATCH, "every iteration must verify");
        started.elapsed().as_secs_f64() / f64::from(BATCH)
    };
    let mut floors = Vec::new();
    let mut times: Vec<Vec<f64>> = parts.iter().map(|_| Vec::new()).collect();
    for round in 0..=rounds.max(1) {
        let floor_s = time(floor);
        for ((_, part), times) in parts.iter_mut().zip(&mut times) {
            let part_s = time(*part);
            // Round 0 warms up.
            if round > 0 {
                times.push(part_s);
            }
        }
        if round > 0 {
            floors.push(floor_s);
        }
    }
    let quartiles = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.0), at(0.25), at(0.5), at(0.75))
    };
    let mut ratios: Vec<Vec<f64>> = times
        .iter()
        .map(|t| t.iter().zip(&floors).map(|(p, f)| p / f).collect())
        .collect();
    let (floor_min, _, floor_median, _) = quartiles(&mut floors);
    println!(
        "rounds={rounds} floor_median_us={:.2} floor_min_us={:.2}",
        floor_median * 1e6,
        floor_min * 1e6
    );
    for (((name, _), ratios), times) in parts.iter().zip(&mut ratios).zip(&mut times) {
        let (_, q1, median, q3) = quartiles(ratios);
        let (fastest, ..) = quartiles(times);
        println!(
            "  {name} / floor: median={median:.3} q1={q1:.3} q3={q3:.3} fastest={:.3}",
            fastest / floor_min
        );
    }
}

/// SHA-256 as the engine streams a Reference digest into it.
struct ShaWriter(openssl::sha::Sha256);

impl std::io::Write for ShaWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
