//! Unit tests of the binding transport layer: parameter parsing, percent
//! decoding and the bounded inflate. The signed end-to-end cases live in
//! tests/slo_vectors.rs (data files).

use super::*;
use flate2::write::DeflateEncoder;
use std::io::Write;

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn reason<T: std::fmt::Debug>(r: Result<T, SamlError>) -> Reason {
    r.unwrap_err().reason()
}

#[test]
fn duplicates_are_refused_after_decoding_names() {
    for q in [
        "SAMLRequest=a&SAMLRequest=a",
        "SAMLRequest=a&SAML%52equest=b",
        "SAML%52equest=b&SAMLRequest=a",
        "SAMLRequest=a&RelayState=x&RelayState=x",
        "SAMLRequest=a&SigAlg=x&Sig%41lg=x",
        "SAMLRequest=a&foo=1&foo=2",
        "SAMLRequest=a&Signature&Signature=",
    ] {
        assert_eq!(
            reason(BindingParams::parse(q)),
            Reason::MalformedInput,
            "{q}"
        );
    }
}

#[test]
fn decoys_are_other_names_and_never_the_message() {
    let p = BindingParams::parse("xSAMLRequest=A&SAMLRequestX=B&samlrequest=C").unwrap();
    assert_eq!(reason(p.message()), Reason::MalformedInput);
    let p = BindingParams::parse("xSAMLRequest=A&SAMLRequest=B&SAMLRequestX=C").unwrap();
    let m = p.message().unwrap();
    assert_eq!(
        (m.kind, m.segment, m.value),
        (MessageKind::Request, "SAMLRequest=B", "B")
    );
}

#[test]
fn one_message_per_request() {
    let p = BindingParams::parse("SAMLRequest=a&SAMLResponse=b").unwrap();
    assert_eq!(reason(p.message()), Reason::MalformedInput);
    let p = BindingParams::parse("SAMLRequest=&RelayState=x").unwrap();
    assert_eq!(reason(p.message()), Reason::MalformedInput);
    let p = BindingParams::parse("SAMLResponse=b").unwrap();
    assert_eq!(p.message().unwrap().kind, MessageKind::Response);
}

#[test]
fn only_deflate_encoding_is_accepted() {
    let ok = format!(
        "SAMLRequest=a&SAMLEncoding={}",
        DEFLATE_ENCODING.replace(':', "%3a")
    );
    BindingParams::parse(&ok).unwrap().check_encoding().unwrap();
    for other in [
        "SAMLRequest=a&SAMLEncoding=urn%3Aoasis%3Anames%3Atc%3ASAML%3A2.0%3Abindings%3AURL-Encoding%3ANONE",
        "SAMLRequest=a&SAMLEncoding=",
    ] {
        let p = BindingParams::parse(other).unwrap();
        assert_eq!(reason(p.check_encoding()), Reason::MalformedInput, "{other}");
    }
}

#[test]
fn signed_octets_are_the_raw_segments_in_the_binding_order() {
    // SigAlg first, lowercase escapes, an unsigned extra parameter.
    let q =
        "SigAlg=http%3a%2f%2fx&extra=1&Signature=AAAA&RelayState=a+b%2fc&SAMLRequest=Zm9v%2bYmFy";
    let p = BindingParams::parse(q).unwrap();
    let m = p.message().unwrap();
    let d = p.redirect_signature(&m).unwrap();
    assert_eq!(
        d.signed_octets,
        b"SAMLRequest=Zm9v%2bYmFy&RelayState=a+b%2fc&SigAlg=http%3a%2f%2fx".to_vec()
    );
    assert_eq!(d.algorithm_uri, "http://x");
    assert_eq!(d.value, vec![0, 0, 0]);
    assert_eq!(p.relay_state().unwrap().as_deref(), Some("a b/c"));
    // Without RelayState the signed octets skip it; an empty one is kept.
    let p = BindingParams::parse("SAMLRequest=x&SigAlg=y&Signature=AAAA").unwrap();
    let d = p.redirect_signature(&p.message().unwrap()).unwrap();
    assert_eq!(d.signed_octets, b"SAMLRequest=x&SigAlg=y".to_vec());
    let p = BindingParams::parse("SAMLRequest=x&RelayState=&SigAlg=y&Signature=AAAA").unwrap();
    let d = p.redirect_signature(&p.message().unwrap()).unwrap();
    assert_eq!(
        d.signed_octets,
        b"SAMLRequest=x&RelayState=&SigAlg=y".to_vec()
    );
    assert_eq!(p.relay_state().unwrap().as_deref(), Some(""));
}

#[test]
fn a_missing_half_of_the_signature_is_unsigned() {
    for q in [
        "SAMLRequest=x",
        "SAMLRequest=x&SigAlg=y",
        "SAMLRequest=x&Signature=AAAA",
    ] {
        let p = BindingParams::parse(q).unwrap();
        assert_eq!(
            reason(p.redirect_signature(&p.message().unwrap())),
            Reason::Unsigned,
            "{q}"
        );
    }
}

#[test]
fn base64_values_keep_plus_and_accept_escapes_of_either_case() {
    assert_eq!(
        decode_base64_value("a+b/", "x").unwrap(),
        decode_base64_value("a%2Bb%2f", "x").unwrap()
    );
    assert_eq!(
        decode_base64_value("a%2bb%2F", "x").unwrap(),
        vec![0x6b, 0xe6, 0xff]
    );
    // Wrapped lines (encoded newlines) are ignored.
    assert_eq!(
        decode_base64_value("a%2b%0D%0Ab%2F", "x").unwrap(),
        vec![0x6b, 0xe6, 0xff]
    );
    for bad in ["%zz", "abc%4", "%", "!!!!"] {
        assert_eq!(
            reason(decode_base64_value(bad, "x")),
            Reason::MalformedInput,
            "{bad}"
        );
    }
}

#[test]
fn inflate_accepts_raw_deflate_only_and_is_bounded() {
    let xml = b"<samlp:LogoutRequest/>".repeat(10);
    assert_eq!(inflate_bounded(&deflate(&xml), 1024).unwrap(), xml);
    // Exactly at the bound is fine, one byte over is a bomb.
    let zeros = vec![0u8; 4096];
    assert_eq!(inflate_bounded(&deflate(&zeros), 4096).unwrap().len(), 4096);
    assert_eq!(
        reason(inflate_bounded(&deflate(&zeros), 4095)),
        Reason::TooLarge
    );
    // 64 MiB of zeros in about 64 KiB: stopped at the bound, not inflated.
    let bomb = deflate(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 128 * 1024);
    assert_eq!(reason(inflate_bounded(&bomb, 256 * 1024)), Reason::TooLarge);
    // zlib and gzip wrappers, trailing data, truncation, empty input.
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
    zlib.write_all(&xml).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&xml).unwrap();
    let mut trailing = deflate(&xml);
    trailing.extend_from_slice(b"garbage");
    let full = deflate(&xml);
    let truncated = &full[..full.len() / 2];
    for (what, data) in [
        ("zlib", zlib.finish().unwrap()),
        ("gzip", gz.finish().unwrap()),
        ("trailing", trailing),
        ("truncated", truncated.to_vec()),
        ("empty", Vec::new()),
    ] {
        assert_eq!(
            reason(inflate_bounded(&data, 1024)),
            Reason::MalformedInput,
            "{what}"
        );
    }
}

#[test]
fn oversized_input_is_too_large() {
    let q = format!("SAMLRequest={}", "A".repeat(MAX_RAW_INPUT));
    assert_eq!(reason(BindingParams::parse(&q)), Reason::TooLarge);
    let many: Vec<String> = (0..=MAX_PARAMETERS).map(|i| format!("p{i}=1")).collect();
    assert_eq!(
        reason(BindingParams::parse(&many.join("&"))),
        Reason::MalformedInput
    );
}
