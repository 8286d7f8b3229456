//! Byte-level scanning shared by the lexer and the tree builder: the
//! whole-document character check, name scanning and checking, and byte
//! equality for short names.

use crate::lexer::Name;
use crate::text;

/// What [`scan_characters`] found.
pub(crate) enum Scan {
    /// A byte that makes the document ill-formed, at this offset.
    Forbidden(usize),
    /// None; and whether the document holds any tab, LF or CR.
    Clean { line_controls: bool },
}

/// Looks for a byte that makes the document ill-formed whatever its
/// structure: a C0 control other than tab, LF and CR, or the UTF-8
/// encoding of the non-characters U+FFFE and U+FFFF (EF BF BE, EF BF BF).
/// `input` is valid UTF-8. Also notes whether tab, LF or CR occur at all.
///
/// This runs over every byte of every Response, so the common case is one
/// branch-free fold over the whole input, which the compiler vectorizes;
/// only when it flags a suspect byte (a control, or 0xEF, the lead byte of
/// U+F000..U+FFFF) is the input looked at byte by byte.
pub(crate) fn scan_characters(input: &[u8]) -> Scan {
    let suspect = |b: u8| {
        u8::from(b < 0x20) & u8::from(b != b'\t') & u8::from(b != b'\n') & u8::from(b != b'\r')
            | u8::from(b == 0xEF)
    };
    if input.iter().fold(0u8, |acc, &b| acc | suspect(b)) != 0 {
        if let Some(pos) = find_forbidden_character(input) {
            return Scan::Forbidden(pos);
        }
    }
    Scan::Clean {
        line_controls: memchr::memchr3(b'\t', b'\n', b'\r', input).is_some(),
    }
}

/// The offset of the first byte [`scan_characters`] refuses, if any.
pub(crate) fn find_forbidden_character(input: &[u8]) -> Option<usize> {
    input.iter().enumerate().find_map(|(pos, &b)| {
        let control = b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
        let non_character =
            b == 0xEF && matches!(input.get(pos + 1..pos + 3), Some([0xBF, 0xBE | 0xBF]));
        (control || non_character).then_some(pos)
    })
}

/// What [`scan_name`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameShape {
    pub(crate) len: usize,
    pub(crate) colon: Option<usize>,
    pub(crate) simple: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is not an ASCII letter or digit.
/// Byte-wise range checks on the low seven bits, where no addition carries
/// into the next byte, then any non-ASCII byte added.
#[inline(always)]
fn not_alphanumeric(w: u64) -> u64 {
    let x = w & !HIGH;
    let lower = x | (0x20 * ONES);
    let at_least = |v: u64, lo: u8| v + u64::from(0x80 - lo) * ONES;
    let letter = at_least(lower, b'a') & !at_least(lower, b'z' + 1);
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    !((letter | digit) & !w) & HIGH
}

/// The length of the run of name bytes at the start of `bytes` (ASCII name
/// characters, `:`, any non-ASCII byte), with its first colon and whether
/// it is "simple" (see [`Name`]). Eight bytes at a time while they are
/// letters and digits (most of every name), one at a time otherwise.
#[inline(always)]
pub(crate) fn scan_name(bytes: &[u8]) -> NameShape {
    let (mut len, mut colon, mut simple) = (0, None, true);
    loop {
        match bytes
            .get(len..len + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            Some(word) => {
                let stop = not_alphanumeric(u64::from_le_bytes(word));
                if stop == 0 {
                    len += 8;
                    continue;
                }
                len += (stop.trailing_zeros() / 8) as usize;
            }
            None => {
                while bytes.get(len).is_some_and(u8::is_ascii_alphanumeric) {
                    len += 1;
                }
            }
        }
        let class = bytes
            .get(len)
            .and_then(|b| NAME_CLASS.get(usize::from(*b)))
            .copied()
            .unwrap_or(NOT_NAME);
        if class == NOT_NAME {
            break;
        }
        // Branch-free bookkeeping: which of `_-.`, `:` or a non-ASCII byte
        // stopped the fast scan varies from name to name.
        let first_colon = class == COLON && colon.is_none();
        simple &= class != NON_ASCII && (class != COLON || first_colon);
        colon = if first_colon { Some(len) } else { colon };
        len += 1;
    }
    NameShape { len, colon, simple }
}

/// String equality for names: namespace URIs mostly come from the same
/// declaration, so identity is tried first; otherwise [`same_bytes`].
#[inline]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || same_bytes(a.as_bytes(), b.as_bytes())
}

/// Byte equality for names, without a call to `memcmp` for the usual
/// lengths: up to 16 bytes are two (overlapping) 8-byte words.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    match n {
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Bytes that may continue a name: ASCII name characters, the colon, and
/// any byte of a non-ASCII character (checked in full by the builder).
pub(crate) fn is_name_byte(b: u8) -> bool {
    NAME_CLASS.get(usize::from(b)).copied().unwrap_or(NOT_NAME) != NOT_NAME
}

/// Name byte classes, as bits (a scan ORs them together).
const NOT_NAME: u8 = 0;
/// `A-Z a-z 0-9 _ - .`
const ASCII_NAME: u8 = 1;
const COLON: u8 = 2;
/// Any byte of a multi-byte UTF-8 character.
const NON_ASCII: u8 = 4;

// Built at compile time; an index out of range would fail the build, not a
// parse.
#[allow(clippy::indexing_slicing)]
const NAME_CLASS: [u8; 256] = {
    let mut table = [NOT_NAME; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            ASCII_NAME
        } else if b == b':' {
            COLON
        } else if b >= 0x80 {
            NON_ASCII
        } else {
            NOT_NAME
        };
        i += 1;
    }
    table
};

/// Splits a qualified name into prefix ("" when none) and local part, or
/// None when it is not a valid QName (two NCNames around one colon, or one
/// NCName). The scan's shape spares the full check for ASCII names.
#[inline(always)]
pub(crate) fn split_name(name: Name<'_>) -> Option<(&str, &str)> {
    if !name.simple {
        return split_qname(name.text);
    }
    let starts_ncname =
        |s: &str| matches!(s.as_bytes().first(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'));
    match name.colon {
        Some(i) => {
            let (prefix, local) = (name.text.get(..i)?, name.text.get(i + 1..)?);
            (starts_ncname(prefix) && starts_ncname(local)).then_some((prefix, local))
        }
        None => starts_ncname(name.text).then_some(("", name.text)),
    }
}

/// The reference QName check: any name, in full.
pub(crate) fn split_qname(name: &str) -> Option<(&str, &str)> {
    match name.split_once(':') {
        Some((p, l)) if text::is_ncname(p) && text::is_ncname(l) => Some((p, l)),
        Some(_) => None,
        None if text::is_ncname(name) => Some(("", name)),
        None => None,
    }
}
