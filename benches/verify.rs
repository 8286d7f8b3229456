//! Criterion benches of the validation engine.
//!
//! Group `verify` compares, in one run, the full `samlgate verify` path on a
//! typical and a large Response against the floor: one bare openssl
//! RSA-2048 SHA-256 verification of 32 bytes. Report `full_typical /
//! floor_rsa2048`, not absolute times (these machines are noisy).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use openssl::hash::{Hasher, MessageDigest};
use openssl::sign::{Signer, Verifier};
use samlgate_dsig::{
    signature_child, verify_enveloped, AlgorithmPolicy, DecryptionKeys, SigningKey, TrustedKeys,
};
use samlgate_saml::{decode_input, FixedClock, Instant, Trust, Validator};
use samlgate_xml::{canonicalize, C14nMethod, C14nOptions, Document, Limits};

mod support;
use support::*;

struct Fixture {
    typical: Vec<u8>,
    large: Vec<u8>,
    trust: Trust,
    keys: TrustedKeys,
    idp: Idp,
}

fn fixture() -> Fixture {
    let idp = idp();
    let key_pem = idp.key.private_key_to_pem_pkcs8().unwrap();
    let cert_pem = idp.cert.to_pem().unwrap();
    let signer = SigningKey::from_pem(&key_pem, &cert_pem).unwrap();
    let typical =
        samlgate_dsig::sign_enveloped(response_xml(10, 1).as_bytes(), "_a1", &signer).unwrap();
    let large =
        samlgate_dsig::sign_enveloped(response_xml(20, 10).as_bytes(), "_a1", &signer).unwrap();
    let mut keys = TrustedKeys::new();
    keys.add_pem_certificates(&cert_pem).unwrap();
    let mut trust = Trust::new();
    trust.add_any_issuer_keys(&keys);
    Fixture {
        typical,
        large,
        trust,
        keys,
        idp,
    }
}

fn validate(f: &Fixture, input: &[u8]) -> bool {
    let clock = FixedClock(Instant::parse(NOW).unwrap());
    let dk = DecryptionKeys::new();
    let v = Validator {
        trust: &f.trust,
        sp_entity_id: Some(SP),
        acs_url: Some(ACS),
        in_response_to: None,
        clock: &clock,
        clock_skew_seconds: 180,
        algorithms: AlgorithmPolicy::default(),
        decryption_keys: &dk,
        decryption: Default::default(),
        limits: Limits::default(),
        replay: None,
        refuse_solicited: false,
    };
    decode_input(input, 1 << 20)
        .and_then(|x| v.validate(&x))
        .is_ok()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    assert!(validate(&f, &f.typical), "typical fixture must verify");
    assert!(validate(&f, &f.large), "large fixture must verify");
    eprintln!(
        "typical response: {} bytes, large response: {} bytes",
        f.typical.len(),
        f.large.len()
    );

    let data = [7u8; 32];
    let sig = {
        let mut s = Signer::new(MessageDigest::sha256(), &f.idp.key).unwrap();
        s.sign_oneshot_to_vec(&data).unwrap()
    };
    let public = f.idp.cert.public_key().unwrap();

    let mut g = c.benchmark_group("verify");
    g.bench_function("floor_rsa2048", |b| {
        b.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            assert!(v.verify_oneshot(black_box(&sig), black_box(&data)).unwrap());
        })
    });
    g.throughput(Throughput::Bytes(f.typical.len() as u64));
    g.bench_function("full_typical", |b| {
        b.iter(|| assert!(validate(&f, black_box(&f.typical))))
    });
    g.throughput(Throughput::Bytes(f.large.len() as u64));
    g.bench_function("full_large", |b| {
        b.iter(|| assert!(validate(&f, black_box(&f.large))))
    });
    g.finish();

    let mut g = c.benchmark_group("parts");
    g.throughput(Throughput::Bytes(f.typical.len() as u64));
    g.bench_function("parse_typical", |b| {
        b.iter(|| {
            Document::parse(black_box(&f.typical), &Limits::default())
                .unwrap()
                .node_count()
        })
    });
    // References for the two byte-proportional costs: quick-xml's tokenizer
    // alone (what our parse builds on) and SHA-256 over the raw input.
    g.bench_function("quick_xml_events_typical", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_reader(black_box(&f.typical[..]));
            let mut events = 0usize;
            loop {
                match reader.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                        events += e.attributes().count();
                    }
                    Ok(_) => events += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            events
        })
    });
    g.bench_function("sha256_typical", |b| {
        b.iter(|| openssl::hash::hash(MessageDigest::sha256(), black_box(&f.typical)).unwrap())
    });
    let doc = Document::parse(&f.typical, &Limits::default()).unwrap();
    let assertion = doc
        .elements()
        .find(|e| doc.local_name(*e) == "Assertion")
        .unwrap();
    let sig = signature_child(&doc, assertion).unwrap().unwrap();
    g.bench_function("exc_c14n_sha256_assertion", |b| {
        b.iter(|| {
            let mut h = Hasher::new(MessageDigest::sha256()).unwrap();
            let opts = C14nOptions {
                exclude: Some(sig),
                ..C14nOptions::new(C14nMethod::Exclusive)
            };
            canonicalize(&doc, Some(assertion), &opts, &mut h).unwrap();
            h.finish().unwrap()
        })
    });
    g.bench_function("signature_verify_assertion", |b| {
        b.iter(|| {
            verify_enveloped(&doc, assertion, sig, &f.keys, &AlgorithmPolicy::default()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(name = verify; config = Criterion::default().sample_size(60).measurement_time(std::time::Duration::from_secs(4)); targets = benches);
criterion_main!(verify);
