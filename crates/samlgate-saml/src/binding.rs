//! The HTTP bindings' transport layer, both ways (SAML bindings §3.4 and
//! §3.5). In: the raw query string or form body, parsed by hand so that
//! parameter smuggling cannot work (CVE-2025-27773): every name is
//! percent-decoded before names are compared, a name given twice is
//! refused, only exact names count (`xSAMLRequest` is not `SAMLRequest`),
//! one message per request, no encoding but DEFLATE. The values stay as
//! received, so the Redirect signature is checked over the very octets that
//! were signed and the message is decoded from those same octets. Out: the
//! Redirect URL with its detached signature, and the POST auto-submit form.

use base64::Engine;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use samlgate_dsig::{DsigError, SignatureAlgorithm, SigningKey};
use samlgate_xml::Reason;

use crate::error::fail;
use crate::sp_metadata::xml_escape;
use crate::SamlError;

/// The largest raw query string or form body read, in bytes.
pub(crate) const MAX_RAW_INPUT: usize = 512 * 1024;
/// The most parameters one query or form may carry.
const MAX_PARAMETERS: usize = 64;
/// The only `SAMLEncoding` the Redirect binding defines (and the default).
pub(crate) const DEFLATE_ENCODING: &str =
    "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE";

/// Which protocol message a binding carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    /// `SAMLRequest`.
    Request,
    /// `SAMLResponse`.
    Response,
}

impl MessageKind {
    pub(crate) fn parameter(self) -> &'static str {
        match self {
            MessageKind::Request => "SAMLRequest",
            MessageKind::Response => "SAMLResponse",
        }
    }
}

/// One `name=value` segment: the decoded name, and the segment and value
/// exactly as received.
#[derive(Debug, Clone, Copy)]
struct Segment<'q> {
    raw: &'q str,
    value: &'q str,
}

/// The parameters of one query or form that this layer knows, every other
/// one ignored (never signed, never read).
#[derive(Debug, Default)]
pub(crate) struct BindingParams<'q> {
    request: Option<Segment<'q>>,
    response: Option<Segment<'q>>,
    relay_state: Option<Segment<'q>>,
    sig_alg: Option<Segment<'q>>,
    signature: Option<Segment<'q>>,
    encoding: Option<Segment<'q>>,
}

/// The message of a binding with its raw segment and value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'q> {
    pub(crate) kind: MessageKind,
    segment: &'q str,
    value: &'q str,
}

impl BindingParams<'_> {
    /// Splits `raw` (a query string without `?`, or a form body) and keeps
    /// the known parameters, refusing duplicates of any name.
    pub(crate) fn parse(raw: &str) -> Result<BindingParams<'_>, SamlError> {
        if raw.len() > MAX_RAW_INPUT {
            return fail(
                Reason::TooLarge,
                format!("the query or form is larger than {MAX_RAW_INPUT} bytes"),
            );
        }
        let mut params = BindingParams::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for raw_segment in raw.split('&').filter(|s| !s.is_empty()) {
            let (raw_name, value) = raw_segment.split_once('=').unwrap_or((raw_segment, ""));
            let name = percent_decode(raw_name, true)?;
            if seen.contains(&name) {
                return fail(
                    Reason::MalformedInput,
                    format!(
                        "parameter {:?} is given more than once",
                        clip(&String::from_utf8_lossy(&name))
                    ),
                );
            }
            if seen.len() == MAX_PARAMETERS {
                return fail(
                    Reason::MalformedInput,
                    format!("more than {MAX_PARAMETERS} parameters"),
                );
            }
            let segment = Segment {
                raw: raw_segment,
                value,
            };
            let slot = match name.as_slice() {
                b"SAMLRequest" => &mut params.request,
                b"SAMLResponse" => &mut params.response,
                b"RelayState" => &mut params.relay_state,
                b"SigAlg" => &mut params.sig_alg,
                b"Signature" => &mut params.signature,
                b"SAMLEncoding" => &mut params.encoding,
                _ => {
                    seen.push(name);
                    continue;
                }
            };
            *slot = Some(segment);
            seen.push(name);
        }
        Ok(params)
    }

    /// The one message: `SAMLRequest` or `SAMLResponse`, never both.
    pub(crate) fn message(&self) -> Result<Message<'_>, SamlError> {
        let (kind, segment) = match (self.request, self.response) {
            (Some(_), Some(_)) => {
                return fail(
                    Reason::MalformedInput,
                    "both SAMLRequest and SAMLResponse are present",
                )
            }
            (Some(s), None) => (MessageKind::Request, s),
            (None, Some(s)) => (MessageKind::Response, s),
            (None, None) => {
                return fail(
                    Reason::MalformedInput,
                    "neither SAMLRequest nor SAMLResponse is present",
                )
            }
        };
        if segment.value.is_empty() {
            return fail(
                Reason::MalformedInput,
                format!("{} is empty", kind.parameter()),
            );
        }
        Ok(Message {
            kind,
            segment: segment.raw,
            value: segment.value,
        })
    }

    /// Refuses a `SAMLEncoding` other than DEFLATE.
    pub(crate) fn check_encoding(&self) -> Result<(), SamlError> {
        let Some(encoding) = self.encoding else {
            return Ok(());
        };
        let value = percent_decode_text(encoding.value, true)?;
        if value != DEFLATE_ENCODING {
            return fail(
                Reason::MalformedInput,
                format!("SAMLEncoding {:?} is not DEFLATE", clip(&value)),
            );
        }
        Ok(())
    }

    /// The decoded RelayState (`+` is a space, as in any form value).
    pub(crate) fn relay_state(&self) -> Result<Option<String>, SamlError> {
        self.relay_state
            .map(|s| percent_decode_text(s.value, true))
            .transpose()
    }

    /// The Redirect binding's detached signature: the decoded SigAlg URI,
    /// the Signature value bytes, and the signed octets (message, then
    /// RelayState when present, then SigAlg, each segment as received).
    pub(crate) fn redirect_signature(
        &self,
        message: &Message<'_>,
    ) -> Result<DetachedSignature, SamlError> {
        let (Some(sig_alg), Some(signature)) = (self.sig_alg, self.signature) else {
            let missing = match (self.sig_alg, self.signature) {
                (None, None) => "SigAlg and Signature are missing",
                (None, Some(_)) => "Signature without SigAlg",
                _ => "SigAlg without Signature",
            };
            return fail(
                Reason::Unsigned,
                format!("{missing}: logout messages on the front channel must be signed"),
            );
        };
        let algorithm_uri = percent_decode_text(sig_alg.value, true)?;
        let value = decode_base64_value(signature.value, "Signature")?;
        let mut signed = String::with_capacity(message.segment.len() + 256);
        signed.push_str(message.segment);
        if let Some(relay) = self.relay_state {
            signed.push('&');
            signed.push_str(relay.raw);
        }
        signed.push('&');
        signed.push_str(sig_alg.raw);
        Ok(DetachedSignature {
            algorithm_uri,
            value,
            signed_octets: signed.into_bytes(),
        })
    }
}

/// What the Redirect binding's signature check needs.
#[derive(Debug)]
pub(crate) struct DetachedSignature {
    pub(crate) algorithm_uri: String,
    pub(crate) value: Vec<u8>,
    pub(crate) signed_octets: Vec<u8>,
}

impl Message<'_> {
    /// The Redirect message: base64, then raw DEFLATE bounded to `max`.
    pub(crate) fn inflate(&self, max: usize) -> Result<Vec<u8>, SamlError> {
        let deflated = decode_base64_value(self.value, self.kind.parameter())?;
        inflate_bounded(&deflated, max)
    }

    /// The POST message: base64 of the XML, bounded to `max` bytes.
    pub(crate) fn decode_post(&self, max: usize) -> Result<Vec<u8>, SamlError> {
        if self.value.len() / 4 * 3 > max + 3 {
            return fail(
                Reason::TooLarge,
                format!("decoded message is larger than {max} bytes"),
            );
        }
        let xml = decode_base64_value(self.value, self.kind.parameter())?;
        if xml.len() > max {
            return fail(
                Reason::TooLarge,
                format!("decoded message is larger than {max} bytes"),
            );
        }
        Ok(xml)
    }
}

/// A base64 value of a query or form: percent escapes decoded, `+` kept as
/// `+` (base64 has no spaces, and senders that leave `+` and `/` unescaped
/// exist), whitespace (wrapped lines) ignored.
fn decode_base64_value(raw: &str, what: &str) -> Result<Vec<u8>, SamlError> {
    let mut text = percent_decode(raw, false)?;
    text.retain(|b| !b.is_ascii_whitespace());
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| SamlError::new(Reason::MalformedInput, format!("{what} is not base64: {e}")))
}

/// Percent-decodes `raw`; `%` must be followed by two hex digits (either
/// case: Entra and ADFS send `%2f`).
fn percent_decode(raw: &str, plus_is_space: bool) -> Result<Vec<u8>, SamlError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |k: usize| bytes.get(k).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return fail(
                        Reason::MalformedInput,
                        format!("invalid percent escape at byte {i}"),
                    );
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn percent_decode_text(raw: &str, plus_is_space: bool) -> Result<String, SamlError> {
    String::from_utf8(percent_decode(raw, plus_is_space)?)
        .map_err(|_| SamlError::new(Reason::MalformedInput, "a parameter is not UTF-8"))
}

/// Inflates raw DEFLATE (RFC 1951) into at most `max` bytes: more is
/// `too_large` (a deflate bomb stops at `max + 1`), a stream that does not
/// end, or that is followed by anything, is `malformed_input`.
pub(crate) fn inflate_bounded(deflated: &[u8], max: usize) -> Result<Vec<u8>, SamlError> {
    let cap = max.saturating_add(1);
    let mut inflater = Decompress::new(false);
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(deflated.len().saturating_mul(4).max(1024)));
    loop {
        if out.len() >= cap {
            return fail(
                Reason::TooLarge,
                format!("the message inflates to more than {max} bytes"),
            );
        }
        if out.len() == out.capacity() {
            out.reserve_exact((cap - out.len()).min(out.len().max(4096)));
        }
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let input = deflated.get(consumed..).unwrap_or(&[]);
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| {
                SamlError::new(Reason::MalformedInput, format!("not raw DEFLATE data: {e}"))
            })?;
        if status == Status::StreamEnd {
            break;
        }
        if (inflater.total_in(), inflater.total_out()) == before {
            return fail(Reason::MalformedInput, "the DEFLATE stream is truncated");
        }
    }
    if out.len() > max {
        return fail(
            Reason::TooLarge,
            format!("the message inflates to more than {max} bytes"),
        );
    }
    if usize::try_from(inflater.total_in()).ok() != Some(deflated.len()) {
        return fail(
            Reason::MalformedInput,
            "data follows the end of the DEFLATE stream",
        );
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The HTTP-Redirect binding URL for `xml` sent as `parameter` to
/// `destination`. With a key, SigAlg (rsa-sha256) and Signature over
/// `parameter=…&RelayState=…&SigAlg=…` exactly as they appear in the URL.
pub(crate) fn redirect_url(
    destination: &str,
    parameter: &str,
    xml: &[u8],
    relay_state: Option<&str>,
    key: Option<&SigningKey>,
) -> Result<String, DsigError> {
    use std::io::Write;
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater
        .write_all(xml)
        .map_err(|e| DsigError::Shape(e.to_string()))?;
    let deflated = deflater
        .finish()
        .map_err(|e| DsigError::Shape(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair(parameter, &b64.encode(deflated));
    if let Some(rs) = relay_state {
        query.append_pair("RelayState", rs);
    }
    if let Some(key) = key {
        query.append_pair("SigAlg", SignatureAlgorithm::RSA_SHA256.uri());
        let signed_part = query.finish();
        let signature = key.sign_rsa_sha256(signed_part.as_bytes())?;
        let mut full = form_urlencoded::Serializer::new(signed_part);
        full.append_pair("Signature", &b64.encode(signature));
        query = full;
    }
    let separator = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{separator}{}", query.finish()))
}

/// The HTTP-POST binding: an auto-submitting HTML form that posts
/// `message` (XML, base64-encoded here) as `parameter` to `destination`.
pub(crate) fn post_form(
    destination: &str,
    parameter: &str,
    message: &[u8],
    relay_state: Option<&str>,
    title: &str,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(message);
    let relay = relay_state
        .map(|rs| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\"/>",
                xml_escape(rs)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
<body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">\
<input type=\"hidden\" name=\"{parameter}\" value=\"{b64}\"/>{relay}\
<noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        xml_escape(destination)
    )
}

#[cfg(test)]
#[path = "binding_tests.rs"]
mod tests;
