//! Why a request target is refused: one reason code, a precise detail.

/// The reason code of every refused path (HTTP 400).
pub const REASON: &str = "path_invalid";

/// Why a request target has no safe canonical form. `at` is a byte offset
/// in the raw target (the start of the segment for segment-wide checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// An empty request target.
    #[error("empty request target")]
    Empty,
    /// `*` (asterisk-form, OPTIONS to the server itself): nothing to proxy.
    #[error("asterisk-form request target (*) is not proxied")]
    Asterisk,
    /// A target that does not start with `/` (absolute-form targets are
    /// split by the caller, which passes the path).
    #[error("the request target does not start with /")]
    NotAbsolute,
    /// `%` not followed by two hex digits.
    #[error("broken percent-escape at byte {at}")]
    BrokenEscape {
        /// Offset of the `%`.
        at: usize,
    },
    /// `%2F`: a slash the gateway would not split on and a decoding
    /// backend would.
    #[error("encoded slash (%2F) at byte {at}")]
    EncodedSlash {
        /// Offset of the escape.
        at: usize,
    },
    /// `\`: a separator on Windows backends and some frameworks.
    #[error("backslash at byte {at}")]
    Backslash {
        /// Offset of the backslash.
        at: usize,
    },
    /// `%5C`, an encoded backslash.
    #[error("encoded backslash (%5C) at byte {at}")]
    EncodedBackslash {
        /// Offset of the escape.
        at: usize,
    },
    /// `%3B`, `%3F`, `%23`: a `;`, `?` or `#` that a framework decoding
    /// before it splits would treat as a delimiter.
    #[error("encoded delimiter {:?} at byte {at}", char::from(*.byte))]
    EncodedDelimiter {
        /// Offset of the escape.
        at: usize,
        /// The decoded delimiter.
        byte: u8,
    },
    /// `%25`: an escaped `%`, i.e. double encoding.
    #[error("escaped percent sign (%25, double encoding) at byte {at}")]
    DoubleEncoding {
        /// Offset of the escape.
        at: usize,
    },
    /// A raw control character, space or DEL in the path.
    #[error("control character or space 0x{byte:02X} at byte {at}")]
    Control {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// An escaped C0 control or DEL (`%00`, `%0A`, `%7F`).
    #[error("escaped control character 0x{byte:02X} at byte {at}")]
    EscapedControl {
        /// Offset of the escape.
        at: usize,
        /// The decoded byte.
        byte: u8,
    },
    /// A raw `#`.
    #[error("number sign (#) at byte {at}")]
    NumberSign {
        /// Offset of the `#`.
        at: usize,
    },
    /// `.` or `..` written with an escape (`%2e`, `.%2E`).
    #[error("dot segment written with escapes at byte {at}")]
    EscapedDotSegment {
        /// Start of the segment.
        at: usize,
    },
    /// A segment of only dots and spaces other than `.` and `..`.
    #[error("segment of only dots and spaces at byte {at}")]
    DotLikeSegment {
        /// Start of the segment.
        at: usize,
    },
    /// The decoded bytes of a segment are not UTF-8 (overlong forms).
    #[error("decoded segment is not UTF-8 at byte {at}")]
    NotUtf8 {
        /// Start of the segment.
        at: usize,
    },
    /// A character whose compatibility form (NFKC) contains ASCII.
    #[error("character U+{code_point:04X} normalizes to ASCII (segment at byte {at})")]
    AsciiLookalike {
        /// Start of the segment.
        at: usize,
        /// The character.
        code_point: u32,
    },
    /// A Unicode control character (C1), raw or escaped.
    #[error("control character U+{code_point:04X} (segment at byte {at})")]
    UnicodeControl {
        /// Start of the segment.
        at: usize,
        /// The character.
        code_point: u32,
    },
    /// An invisible format character (soft hyphen, zero-width, bidi
    /// control, BOM), raw or escaped.
    #[error("invisible character U+{code_point:04X} (segment at byte {at})")]
    Invisible {
        /// Start of the segment.
        at: usize,
        /// The character.
        code_point: u32,
    },
    /// A control character, space, DEL or `#` in the query.
    #[error("byte 0x{byte:02X} not allowed in the query at byte {at}")]
    QueryByte {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// `;` parameters on a route that does not allow them.
    #[error("matrix parameters (;) are not allowed on this route")]
    MatrixParams,
}

impl PathError {
    /// The stable reason code: [`REASON`].
    pub fn reason(&self) -> &'static str {
        REASON
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        400
    }
}
