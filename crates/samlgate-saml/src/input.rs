//! Input detection: raw XML, or the base64 SAMLResponse form value.

use base64::Engine;
use samlgate_xml::Reason;

use crate::error::fail;
use crate::SamlError;

/// Turns what a user handed us into XML bytes: raw XML when it starts with
/// `<` after an optional BOM and whitespace, otherwise base64 with
/// whitespace ignored. The decoded size is bounded by `max_bytes`
/// (`too_large`), checked before decoding allocates.
pub fn decode_input(data: &[u8], max_bytes: usize) -> Result<Vec<u8>, SamlError> {
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
        return Ok(body.get(start..).unwrap_or(&[]).to_vec());
    }
    // The common case (a form value, or a file without line breaks) has no
    // whitespace: decode it in place, without the filtering copy.
    if !body.iter().any(u8::is_ascii_whitespace) {
        if body.len() / 4 * 3 > max_bytes + 3 {
            return fail(
                Reason::TooLarge,
                format!("decoded input is larger than {max_bytes} bytes"),
            );
        }
        if body.is_empty() {
            return fail(Reason::MalformedInput, "input is empty");
        }
        return finish_base64(body, max_bytes);
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
    finish_base64(&compact, max_bytes)
}

fn finish_base64(compact: &[u8], max_bytes: usize) -> Result<Vec<u8>, SamlError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| {
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
