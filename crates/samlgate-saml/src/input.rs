//! Input detection: raw XML, or the base64 SAMLResponse form value.

use std::borrow::Cow;

use samlgate_dsig::has_ascii_whitespace;
use samlgate_xml::Reason;

use crate::error::fail;
use crate::SamlError;

/// Turns what a user handed us into XML bytes: raw XML when it starts with
/// `<` after an optional BOM and whitespace (borrowed from `data`, not
/// copied), otherwise base64 with whitespace ignored. The decoded size is
/// bounded by `max_bytes` (`too_large`), checked before decoding allocates.
pub fn decode_input(data: &[u8], max_bytes: usize) -> Result<Cow<'_, [u8]>, SamlError> {
    let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    if body.get(start) == Some(&b'<') {
        if data.len() > max_bytes {
            return fail(
                Reason::TooLarge,
                format!("document is larger than {max_bytes} bytes"),
            );
        }
        // The form value may carry whitespace (and a BOM) before the XML
        // declaration; the document proper starts at the first `<`.
        return Ok(Cow::Borrowed(body.get(start..).unwrap_or(&[])));
    }
    // The common case (a form value, or a file without line breaks) has no
    // whitespace: decode it in place, without the filtering copy.
    if !has_ascii_whitespace(body) {
        if body.len() / 4 * 3 > max_bytes + 3 {
            return fail(
                Reason::TooLarge,
                format!("decoded input is larger than {max_bytes} bytes"),
            );
        }
        if body.is_empty() {
            return fail(Reason::MalformedInput, "input is empty");
        }
        return finish_base64(body, max_bytes).map(Cow::Owned);
    }
    let significant = body.iter().filter(|b| !b.is_ascii_whitespace()).count();
    if significant / 4 * 3 > max_bytes + 3 {
        return fail(
            Reason::TooLarge,
            format!("decoded input is larger than {max_bytes} bytes"),
        );
    }
    let mut compact = Vec::with_capacity(significant);
    compact.extend(body.iter().copied().filter(|b| !b.is_ascii_whitespace()));
    if compact.is_empty() {
        return fail(Reason::MalformedInput, "input is empty");
    }
    finish_base64(&compact, max_bytes).map(Cow::Owned)
}

fn finish_base64(compact: &[u8], max_bytes: usize) -> Result<Vec<u8>, SamlError> {
    // Canonical standard base64 only: padding required, no stray bits in
    // the last character (the same strictness as `base64`'s STANDARD, which
    // the differential test below holds it to).
    let decoded = base64_simd::STANDARD.decode_to_vec(compact).map_err(|e| {
        SamlError::new(
            Reason::MalformedInput,
            format!("input is neither xml nor valid base64: {e}"),
        )
    })?;
    if decoded.len() > max_bytes {
        return fail(
            Reason::TooLarge,
            format!("decoded input is larger than {max_bytes} bytes"),
        );
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_found_at_every_position_across_chunks() {
        let plain = vec![b'A'; 200];
        assert!(!has_ascii_whitespace(&plain));
        assert!(!has_ascii_whitespace(&[]));
        for ws in [b' ', b'\t', b'\n', b'\r', 0x0C] {
            for at in 0..plain.len() {
                let mut bytes = plain.clone();
                bytes[at] = ws;
                assert!(has_ascii_whitespace(&bytes), "{ws:#x} at {at}");
            }
        }
        // Bytes that are not ASCII whitespace (vertical tab, NUL, 0xA0).
        assert!(!has_ascii_whitespace(&[0x0B, 0x00, 0xA0, 0x85]));
    }

    /// The SIMD decoder accepts and refuses exactly what the reference
    /// decoder does, and decodes to the same bytes: every length around
    /// the SIMD block sizes, every padding position, stray trailing bits,
    /// characters from outside the alphabet (URL-safe ones included).
    #[test]
    fn simd_base64_agrees_with_the_reference_decoder() {
        use base64::Engine as _;
        let reference = |input: &[u8]| base64::engine::general_purpose::STANDARD.decode(input).ok();
        let simd = |input: &[u8]| base64_simd::STANDARD.decode_to_vec(input).ok();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .%";
        // A deterministic generator (no extra crates).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for len in 0..200usize {
            for _ in 0..40 {
                let mut input: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next() as usize;
                        // Mostly valid characters, sometimes anything.
                        if r % 50 == 0 {
                            alphabet[r / 50 % alphabet.len()]
                        } else {
                            alphabet[r / 50 % 64]
                        }
                    })
                    .collect();
                // Often valid: encode random bytes, then maybe flip one.
                if next() % 2 == 0 {
                    let raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    input = base64::engine::general_purpose::STANDARD
                        .encode(&raw)
                        .into_bytes();
                    if next() % 3 == 0 && !input.is_empty() {
                        let at = next() as usize % input.len();
                        input[at] = alphabet[next() as usize % alphabet.len()];
                    }
                }
                assert_eq!(
                    simd(&input),
                    reference(&input),
                    "{:?}",
                    String::from_utf8_lossy(&input)
                );
                checked += 1;
            }
        }
        // Stray bits in the last character before the padding.
        for bad in ["QR==", "QUF=", "QUJDRA=", "AB==", "AAB="] {
            assert_eq!(simd(bad.as_bytes()), reference(bad.as_bytes()), "{bad}");
        }
        assert!(checked > 7000);
    }

    #[test]
    fn base64_with_or_without_line_breaks_decodes_the_same() {
        use base64::Engine as _;
        let xml =
            b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>".repeat(4);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
        let wrapped: Vec<u8> = b64
            .as_bytes()
            .chunks(76)
            .flat_map(|line| line.iter().copied().chain(*b"\r\n"))
            .collect();
        assert_eq!(decode_input(b64.as_bytes(), 1 << 20).unwrap(), xml);
        assert_eq!(decode_input(&wrapped, 1 << 20).unwrap(), xml);
        let raw = [b"\xEF\xBB\xBF \n".as_slice(), &xml].concat();
        assert!(matches!(decode_input(&raw, 1 << 20).unwrap(), Cow::Borrowed(x) if x == xml));
    }
}
