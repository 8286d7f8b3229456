//! Decoding of character data: line-end normalization, attribute-value
//! normalization and the five predefined entities plus character references.
//! Nothing else is expanded: there is no DTD, so there are no other entities.

use std::borrow::Cow;

/// Why a piece of character data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// An `&name;` that is not one of the five predefined entities.
    UnknownEntity(String),
    /// A malformed or out-of-range character reference, or a bare `&`.
    BadReference,
    /// A literal `<` inside an attribute value.
    LtInAttribute,
}

/// Decodes text content: `\r\n` and lone `\r` become `\n`, references are
/// expanded. Borrowed when the input needed no change.
pub(crate) fn decode_text(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(raw, false)
}

/// Decodes an attribute value: line ends normalized, then literal tab, LF
/// and CR become spaces (XML 1.0 §3.3.3 for CDATA attributes); references
/// are expanded afterwards, so `&#10;` stays a line feed.
pub(crate) fn decode_attribute(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(raw, true)
}

/// Normalizes line ends only (comments, CDATA sections, PIs).
pub(crate) fn normalize_line_ends(raw: &str) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'\r') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn decode(raw: &str, attribute: bool) -> Result<Cow<'_, str>, DecodeError> {
    let needs_work = raw.bytes().any(|b| match b {
        b'&' | b'\r' => true,
        b'\t' | b'\n' | b'<' => attribute,
        _ => false,
    });
    if !needs_work {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        match c {
            '&' => {
                let end = rest.find(';').ok_or(DecodeError::BadReference)?;
                let name = rest.get(1..end).ok_or(DecodeError::BadReference)?;
                out.push(expand_reference(name)?);
                rest = rest.get(end + 1..).unwrap_or("");
                continue;
            }
            '\r' => {
                if rest.as_bytes().get(1) == Some(&b'\n') {
                    rest = rest.get(1..).unwrap_or("");
                }
                out.push(if attribute { ' ' } else { '\n' });
            }
            '\t' | '\n' if attribute => out.push(' '),
            '<' if attribute => return Err(DecodeError::LtInAttribute),
            other => out.push(other),
        }
        rest = rest.get(c.len_utf8()..).unwrap_or("");
    }
    Ok(Cow::Owned(out))
}

fn expand_reference(name: &str) -> Result<char, DecodeError> {
    match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "apos" => return Ok('\''),
        "quot" => return Ok('"'),
        _ => {}
    }
    let code = if let Some(hex) = name.strip_prefix("#x") {
        parse_digits(hex, 16)?
    } else if let Some(dec) = name.strip_prefix('#') {
        parse_digits(dec, 10)?
    } else {
        return Err(DecodeError::UnknownEntity(name.chars().take(64).collect()));
    };
    let c = char::from_u32(code).ok_or(DecodeError::BadReference)?;
    if is_xml_char(c) {
        Ok(c)
    } else {
        Err(DecodeError::BadReference)
    }
}

fn parse_digits(digits: &str, radix: u32) -> Result<u32, DecodeError> {
    if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(DecodeError::BadReference);
    }
    u32::from_str_radix(digits, radix).map_err(|_| DecodeError::BadReference)
}

/// The XML 1.0 `Char` production.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// A conservative check of the XML `Name` production without colons
/// (an NCName), as namespaces require for prefixes and local names.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    is_name_start(first) && chars.all(|c| is_name_start(c) || is_name_char_extra(c))
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char_extra(c: char) -> bool {
    matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}
