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
/// expanded. Borrowed when the input needed no change. The flag is true
/// when `raw` is also its own canonical form: nothing to decode and no `>`
/// (canonical XML writes `&gt;`; `<` cannot occur in raw text), so c14n
/// may copy it from the input.
pub(crate) fn decode_text(raw: &str) -> Result<(Cow<'_, str>, bool), DecodeError> {
    // One branch-free fold (vectorized) answers both questions: bit 0 is
    // "needs decoding", bit 1 "holds a `>`".
    let scan = raw.bytes().fold(0u8, |acc, b| {
        acc | u8::from(b == b'&') | u8::from(b == b'\r') | (u8::from(b == b'>') << 1)
    });
    if scan & 1 == 0 {
        return Ok((Cow::Borrowed(raw), scan == 0));
    }
    Ok((decode(raw, false)?, false))
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
    // A branch-free fold (no early exit) so that the compiler vectorizes it:
    // nearly every value needs no work and is returned borrowed.
    let needs_work = raw.bytes().fold(false, |acc, b| {
        acc | (b == b'&') | (b == b'\r') | (attribute & ((b == b'\t') | (b == b'\n') | (b == b'<')))
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
    // ASCII names (all of SAML's) are checked with one class check per
    // byte; anything else takes the full Unicode path below.
    let bytes = s.as_bytes();
    if let Some((&first, rest)) = bytes.split_first() {
        let start = ascii_name_class(first);
        let ascii_name_char = |b: &u8| matches!(ascii_name_class(*b), NAME_START | NAME_CHAR);
        if start == NAME_START && rest.iter().all(ascii_name_char) {
            return true;
        }
        if start != NON_ASCII && rest.is_ascii() {
            return false;
        }
    }
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    is_name_start(first) && chars.all(|c| is_name_start(c) || is_name_char_extra(c))
}

const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const NON_ASCII: u8 = 3;

/// The NCName class of one byte: 0 invalid, [`NAME_START`], [`NAME_CHAR`]
/// (digits, `-`, `.`), [`NON_ASCII`] (a UTF-8 lead or continuation byte,
/// which sends the check to the Unicode path).
#[inline]
fn ascii_name_class(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'_' => NAME_START,
        b'0'..=b'9' | b'-' | b'.' => NAME_CHAR,
        0x80.. => NON_ASCII,
        _ => 0,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Unicode path alone, as the reference for the ASCII fast path.
    fn is_ncname_reference(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(is_name_start)
            && chars.all(|c| is_name_start(c) || is_name_char_extra(c))
    }

    #[test]
    fn ncname_fast_path_agrees_with_unicode_rules() {
        for name in [
            "",
            "a",
            "_",
            "ab",
            "a.b-c_9",
            "1a",
            "-a",
            ".a",
            "a:b",
            "a b",
            "a×",
            "é",
            "aé",
            "Zoë",
            "a\u{300}",
            "\u{300}a",
            "a\u{B7}",
            "a/",
            "a>",
            "A1",
            "\u{10000}x",
            "a\u{FFFE}",
        ] {
            assert_eq!(is_ncname(name), is_ncname_reference(name), "{name:?}");
        }
        for b in 0u8..=0x7f {
            let one = char::from(b).to_string();
            assert_eq!(is_ncname(&one), is_ncname_reference(&one), "{b:#x}");
            let two = format!("a{}", char::from(b));
            assert_eq!(is_ncname(&two), is_ncname_reference(&two), "{b:#x}");
        }
    }
}
