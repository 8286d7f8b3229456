//! The canonical request path: decided once, before any routing, and the
//! only path the gateway routes on and forwards.
//!
//! A route rule is only as good as the agreement between the path the
//! gateway matched and the path the backend serves. nginx, Tomcat, IIS and
//! most frameworks fold `//`, `;params`, `%61` and `..` before they route,
//! so a rule matched on the raw path is bypassed by `//admin/`,
//! `/admin;x/`, `/%61dmin/` or `/public/../admin/`. [`canonical_path`]
//! therefore rewrites a request target into one spelling, or refuses it
//! (400, reason [`REASON`] = `path_invalid`) when no single spelling is
//! safe:
//!
//! - **Kept, rewritten:** escapes of unreserved characters (`ALPHA DIGIT -
//!   . _ ~`) are decoded, other escapes get upper-case hex; raw bytes that
//!   may not appear in a path (non-ASCII, `"`, `<`, `>`, `` ` ``, `^`, `{`,
//!   `|`, `}`, `[`, `]`) are percent-encoded, so a raw `é` and `%C3%A9` are
//!   the same path; repeated slashes are merged; dot segments are removed
//!   (RFC 3986 §5.2.4, after merging slashes, as nginx and Tomcat do).
//! - **Refused:** encoded `/` (`%2F`), `\` raw or as `%5C`, encoded `;`
//!   `?` `#` (a framework that decodes before it splits would see a
//!   parameter, a query or a fragment the gateway did not), any escape of
//!   `%` itself (`%252e%252e`, `%2561dmin`: a backend decoding twice would
//!   resolve them; IIS refuses double escapes by default), dot segments
//!   written with escapes (`%2e`, `.%2E`) and segments of only dots and
//!   spaces (`...`, `..%20`: Windows trims trailing dots and spaces), broken
//!   escapes (`%`, `%4`, `%zz`), NUL, controls and spaces raw or escaped
//!   (C1 controls too) and invisible format characters (soft hyphen,
//!   zero-width and bidi controls), escaped bytes that are not UTF-8 (the
//!   overlong `%C0%AE` that old decoders took for `.`), and characters that
//!   compatibility normalization (NFKC) turns into ASCII (`／` U+FF0F,
//!   `‥` U+2025, fullwidth `ａｄｍｉｎ`): a framework that normalizes
//!   would route them as the ASCII the rules are written in. A raw `#` is
//!   refused (not valid in a request target).
//! - **The query** is not part of routing and is kept byte for byte; a raw
//!   control character, space or `#` in it is refused.
//!
//! The result is idempotent (canonicalizing it again changes nothing), and
//! decoding it once or twice never yields a dot segment or a slash that was
//! not a separator, which the tests check over a generated sweep. A target
//! that already is canonical (the usual case) is checked in one pass and
//! borrowed, not copied ([`CanonicalPath::is_unchanged`]: forward the
//! request's URI as it is). Route prefixes are matched on the routing path
//! by [`prefix_matches`], on segment boundaries.
//!
//! ## Matrix parameters and the route that is not yet known
//!
//! Whether `;params` are allowed is a route setting, but the route is only
//! known once the path is canonical. So canonicalization always parses
//! them, without deciding: the `;...` part of each segment is ignored for
//! routing (as Tomcat does: `..;/` is still a dot segment, `/admin;x/`
//! routes as `/admin/`), and [`CanonicalPath::has_params`] says whether
//! the raw path carried any `;`. The caller routes on
//! [`CanonicalPath::routing_path`], then calls
//! [`CanonicalPath::check_params`] with the matched route's
//! `allow_matrix_params` (the gateway's own endpoints pass `false`):
//!
//! ```
//! # use samlgate_gateway::path::canonical_path;
//! let target = canonical_path("/app;jsessionid=1/x/../page?q=1").unwrap();
//! assert_eq!(target.routing_path(), "/app/page");
//! // ... route on routing_path(); this route allows matrix parameters:
//! target.check_params(true).unwrap();
//! assert_eq!(target.target(), "/app;jsessionid=1/page?q=1"); // forwarded
//! assert!(target.check_params(false).is_err()); // a route that does not
//! ```
//!
//! What is forwarded then keeps each kept segment's parameters on the
//! canonical structure ([`CanonicalPath::target`]); a segment with an empty
//! name (`/;x/`) is dropped like an empty segment, and a dot segment goes
//! with its parameters. A backend that strips parameters (servlet
//! containers, Spring) then sees exactly the routing path; this is why the
//! setting exists per route and is off by default: a backend that takes
//! `;` literally would see a name the rule did not match. Without `;` in
//! the path, the routed and the forwarded path are the same string.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

mod error;
mod prefix;
#[cfg(test)]
mod tests;

pub use error::{PathError, REASON};
pub use prefix::prefix_matches;

/// A request target in its one canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    /// Forwarded path, then `?query` if the target had one.
    target: Cow<'a, str>,
    /// Where the path ends in `target`.
    path_end: usize,
    /// The path without `;params`, when kept segments carry some.
    routing: Option<String>,
    /// The raw path had a `;`.
    params: bool,
}

impl<'a> CanonicalPath<'a> {
    /// The target to forward upstream: the canonical path, then the query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The canonical path that is forwarded (with kept `;params`).
    pub fn path(&self) -> &str {
        self.target.get(..self.path_end).unwrap_or("/")
    }

    /// The query, without its `?`, byte for byte as received.
    pub fn query(&self) -> Option<&str> {
        self.target.get(self.path_end..)?.strip_prefix('?')
    }

    /// The path to route on: [`Self::path`] without `;params`.
    pub fn routing_path(&self) -> &str {
        self.routing.as_deref().unwrap_or_else(|| self.path())
    }

    /// True when the raw path carried `;` parameters (even on a segment
    /// that a `..` then removed).
    pub fn has_params(&self) -> bool {
        self.params
    }

    /// Refuses the target when it has `;` parameters and the route does
    /// not allow them ([`PathError::MatrixParams`]).
    pub fn check_params(&self, allowed: bool) -> Result<(), PathError> {
        if self.params && !allowed {
            return Err(PathError::MatrixParams);
        }
        Ok(())
    }

    /// True when the raw target already was canonical: the request can be
    /// forwarded with its URI untouched.
    pub fn is_unchanged(&self) -> bool {
        matches!(self.target, Cow::Borrowed(_))
    }

    /// Detaches the result from the raw target.
    pub fn into_owned(self) -> CanonicalPath<'static> {
        CanonicalPath {
            target: Cow::Owned(self.target.into_owned()),
            path_end: self.path_end,
            routing: self.routing,
            params: self.params,
        }
    }
}

/// The canonical form of an origin-form request target (`/path?query`),
/// or why it has none. See the module documentation for the rules.
pub fn canonical_path(raw: &str) -> Result<CanonicalPath<'_>, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if raw == "*" {
        return Err(PathError::Asterisk);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let (path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    if let Some(query) = query {
        check_query(query, path.len() + 1)?;
    }
    let params = path.contains(';');
    if !params && already_canonical(path) {
        return Ok(CanonicalPath {
            target: Cow::Borrowed(raw),
            path_end: path.len(),
            routing: None,
            params,
        });
    }
    let (mut forward, routing) = rebuild(path)?;
    let path_end = forward.len();
    let target = if forward == path {
        // Nothing to rewrite (a path with escapes or params that already
        // was canonical): keep the raw target.
        Cow::Borrowed(raw)
    } else {
        if let Some(query) = query {
            forward.push('?');
            forward.push_str(query);
        }
        Cow::Owned(forward)
    };
    Ok(CanonicalPath {
        target,
        path_end,
        routing,
        params,
    })
}

fn check_query(query: &str, offset: usize) -> Result<(), PathError> {
    match query
        .bytes()
        .position(|b| b <= b' ' || b == 0x7F || b == b'#')
    {
        Some(i) => Err(PathError::QueryByte {
            at: offset + i,
            byte: query.as_bytes().get(i).copied().unwrap_or(0),
        }),
        None => Ok(()),
    }
}

/// Unreserved characters (RFC 3986 §2.3): their escapes are decoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Bytes kept raw in a path segment: unreserved, sub-delims but `;`
/// (parameters are parsed apart), `:` and `@` (RFC 3986 `pchar`).
fn is_plain(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// The common case, checked without allocating: only plain bytes, no
/// empty interior segment and no segment of only dots.
fn already_canonical(path: &str) -> bool {
    let mut segment_len = 0usize;
    let mut only_dots = true;
    for b in path.bytes().skip(1) {
        if b == b'/' {
            if segment_len == 0 || only_dots {
                return false;
            }
            segment_len = 0;
            only_dots = true;
        } else if is_plain(b) {
            segment_len += 1;
            only_dots &= b == b'.';
        } else {
            return false;
        }
    }
    segment_len == 0 || !only_dots
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `%XX`, upper-case hex (RFC 3986 §6.2.2.1).
fn push_escape(out: &mut String, b: u8) {
    let digit = |n: u8| {
        char::from_digit(u32::from(n), 16)
            .unwrap_or('0')
            .to_ascii_uppercase()
    };
    out.push('%');
    out.push(digit(b >> 4));
    out.push(digit(b & 0xF));
}

/// `.` and `%20` only (spaces are escaped in rewritten text, dots not).
fn only_dots_and_spaces(name: &str) -> bool {
    let mut rest = name;
    while !rest.is_empty() {
        rest = match rest.strip_prefix('.').or_else(|| rest.strip_prefix("%20")) {
            Some(r) => r,
            None => return false,
        };
    }
    true
}

/// One segment, rewritten.
#[derive(Default)]
struct Segment {
    /// Canonical text, parameters included.
    text: String,
    /// Decoded bytes (for the UTF-8 and Unicode checks).
    decoded: Vec<u8>,
    /// Where the name ends in `text` (the first `;`).
    name_end: Option<usize>,
    /// An escape was decoded inside the name.
    escaped_name: bool,
    non_ascii: bool,
}

impl Segment {
    fn name(&self) -> &str {
        match self.name_end {
            Some(end) => self.text.get(..end).unwrap_or_default(),
            None => &self.text,
        }
    }

    /// Rewrites `raw` (one segment, no `/`), which starts at `at`.
    fn read(&mut self, raw: &str, at: usize) -> Result<(), PathError> {
        self.text.clear();
        self.decoded.clear();
        self.name_end = None;
        self.escaped_name = false;
        self.non_ascii = false;
        let bytes = raw.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let here = at + i;
            i += 1;
            let value = match b {
                b'%' => {
                    let value = match (
                        bytes.get(i).copied().and_then(hex_value),
                        bytes.get(i + 1).copied().and_then(hex_value),
                    ) {
                        (Some(hi), Some(lo)) => hi << 4 | lo,
                        _ => return Err(PathError::BrokenEscape { at: here }),
                    };
                    i += 2;
                    self.escaped(value, here)?;
                    value
                }
                b';' => {
                    self.name_end.get_or_insert(self.text.len());
                    self.text.push(';');
                    b
                }
                b'\\' => return Err(PathError::Backslash { at: here }),
                b'#' => return Err(PathError::NumberSign { at: here }),
                0..=0x20 | 0x7F => return Err(PathError::Control { at: here, byte: b }),
                _ if is_plain(b) => {
                    self.text.push(char::from(b));
                    b
                }
                _ => {
                    push_escape(&mut self.text, b);
                    b
                }
            };
            self.non_ascii |= value >= 0x80;
            self.decoded.push(value);
        }
        if self.non_ascii {
            self.check_unicode(at)?;
        }
        Ok(())
    }

    /// An escape that decoded to `value`.
    fn escaped(&mut self, value: u8, at: usize) -> Result<(), PathError> {
        match value {
            b'/' => Err(PathError::EncodedSlash { at }),
            b'\\' => Err(PathError::EncodedBackslash { at }),
            b'%' => Err(PathError::DoubleEncoding { at }),
            b';' | b'?' | b'#' => Err(PathError::EncodedDelimiter { at, byte: value }),
            0..=0x1F | 0x7F => Err(PathError::EscapedControl { at, byte: value }),
            _ if is_unreserved(value) => {
                self.text.push(char::from(value));
                self.escaped_name |= self.name_end.is_none();
                Ok(())
            }
            _ => {
                push_escape(&mut self.text, value);
                Ok(())
            }
        }
    }

    fn check_unicode(&self, at: usize) -> Result<(), PathError> {
        let text = std::str::from_utf8(&self.decoded).map_err(|_| PathError::NotUtf8 { at })?;
        for c in text.chars().filter(|c| !c.is_ascii()) {
            let code_point = u32::from(c);
            if c.is_control() {
                return Err(PathError::UnicodeControl { at, code_point });
            }
            if is_invisible(c) {
                return Err(PathError::Invisible { at, code_point });
            }
            if std::iter::once(c).nfkc().any(|n| n.is_ascii()) {
                return Err(PathError::AsciiLookalike { at, code_point });
            }
        }
        Ok(())
    }

    /// What the segment's name is, for dot-segment removal.
    fn kind(&self, at: usize) -> Result<Kind, PathError> {
        let name = self.name();
        if name.is_empty() {
            return Ok(Kind::Empty);
        }
        if !only_dots_and_spaces(name) {
            return Ok(Kind::Name);
        }
        match (name, self.escaped_name) {
            (".", false) => Ok(Kind::Dot),
            ("..", false) => Ok(Kind::DotDot),
            ("." | "..", true) => Err(PathError::EscapedDotSegment { at }),
            _ => Err(PathError::DotLikeSegment { at }),
        }
    }
}

/// Invisible format characters that mapping steps (UTS 46, some
/// frameworks and WAFs) drop, so `/ad\u{AD}min` could become `/admin`
/// after the gateway routed it; they also hide text in logs.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

enum Kind {
    Empty,
    Dot,
    DotDot,
    Name,
}

/// The slow path: rewrites every segment, merges slashes, removes dot
/// segments. Returns the forwarded path and, when kept segments carry
/// parameters, the routing path.
fn rebuild(path: &str) -> Result<(String, Option<String>), PathError> {
    let mut forward = String::with_capacity(path.len() + 8);
    let mut routing = String::with_capacity(path.len());
    let mut segment = Segment::default();
    let mut trailing_slash = false;
    // Skip the empty piece before the leading `/`.
    let mut at = 1;
    let mut pieces = path.split('/').skip(1).peekable();
    while let Some(raw) = pieces.next() {
        let last = pieces.peek().is_none();
        segment.read(raw, at)?;
        match segment.kind(at)? {
            Kind::Name => {
                forward.push('/');
                forward.push_str(&segment.text);
                routing.push('/');
                routing.push_str(segment.name());
            }
            kind => {
                if matches!(kind, Kind::DotDot) {
                    forward.truncate(forward.rfind('/').unwrap_or(0));
                    routing.truncate(routing.rfind('/').unwrap_or(0));
                }
                trailing_slash |= last;
            }
        }
        at += raw.len() + 1;
    }
    if trailing_slash || forward.is_empty() {
        forward.push('/');
        routing.push('/');
    }
    let routing = (routing != forward).then_some(routing);
    Ok((forward, routing))
}
