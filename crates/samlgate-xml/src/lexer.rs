//! The tokenizer: one forward pass over the document, handing the tree
//! builder (`parse.rs`) one piece of text or markup at a time, with its byte
//! positions. It knows XML's lexical shapes only; names are validated,
//! namespaces resolved, references expanded and limits applied by the
//! builder.
//!
//! It replaces quick-xml's reader plus its attribute iterator, which walked
//! each start tag twice (once to find its end, once for the attributes):
//! here a start tag is read once, attribute by attribute, and the facts
//! canonicalization needs (is this attribute written exactly ` name="value"`,
//! this end tag exactly `</name>`?) fall out of the same pass. Where XML
//! leaves no choice the grammar is XML 1.0's; where quick-xml 0.37 decided
//! an edge (what a DOCTYPE or a comment ends at), this does the same, so
//! that verdicts and reason codes do not change (`parse_differential.rs`
//! compares the two on every corpus document and thousands of mutations of
//! them). It is stricter than quick-xml in three places, all ill-formed
//! XML: attributes not separated by whitespace (`a="1"b="2"`), a second
//! byte-order mark, and XML-declaration pseudo-attributes not written
//! `S name Eq value`.

use memchr::{memchr, memchr2_iter, memchr3, memmem};

use crate::scan::{is_name_byte, same_bytes, scan_name};
use crate::XmlError;

/// One piece of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Character data up to the next `<` or the end (never empty).
    Text { raw: &'a str, start: usize },
    /// `<` and an element name (unchecked, maybe empty); the attributes and
    /// the end of the tag follow through [`Lexer::tag_item`].
    StartTag { name: Name<'a>, start: usize },
    /// `</name S?>`; `exact` when there is no whitespace, so the tag is
    /// `</name>` byte for byte.
    EndTag {
        name: &'a str,
        start: usize,
        end: usize,
        exact: bool,
    },
    /// `<!--body-->`, `body` holding no `--`.
    Comment {
        body: &'a str,
        start: usize,
        end: usize,
    },
    /// `<![CDATA[body]]>`.
    CData {
        body: &'a str,
        start: usize,
        end: usize,
    },
    /// `<?content?>` other than the XML declaration.
    Pi {
        content: &'a str,
        start: usize,
        end: usize,
    },
    /// `<?xml S ...?>`: `pseudo_attributes` is what follows `xml`.
    Decl {
        pseudo_attributes: &'a str,
        start: usize,
    },
    /// A document type declaration (never processed).
    Doctype,
}

/// What follows inside a start tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagItem<'a> {
    /// `name = "value"` (or single-quoted), value still raw; `item` is
    /// its byte range, from the whitespace before it to the closing quote.
    /// `plain` when the value is known to hold none of `& < TAB LF CR`
    /// (nothing to decode); false means unknown.
    Attribute {
        name: Name<'a>,
        value: &'a str,
        plain: bool,
        item: (usize, usize),
        /// Written exactly ` name="value"`: one space before it, nothing
        /// around `=`, double quotes.
        exact: bool,
    },
    /// `>`, or `/>` when `empty`; `end` is one past it.
    End { empty: bool, end: usize },
}

/// A run of name bytes as scanned (maybe empty, maybe invalid), with what
/// the scan learned about its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name<'a> {
    pub(crate) text: &'a str,
    /// All ASCII with at most one colon: every byte is then an ASCII name
    /// character or that colon, so each part is an NCName exactly when it
    /// is non-empty and starts with a letter or `_`.
    pub(crate) simple: bool,
    /// Where the first colon is.
    pub(crate) colon: Option<usize>,
}

/// A cursor over the document text.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// The document holds no tab, LF or CR: then an attribute value needs
    /// decoding only if it holds `&` or `<`, which one search for the
    /// closing quote also finds.
    no_line_controls: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer {
            text,
            pos: 0,
            no_line_controls: false,
        }
    }

    /// A lexer for a document known to hold no tab, LF or CR.
    pub(crate) fn without_line_controls(text: &'a str) -> Self {
        Lexer {
            no_line_controls: true,
            ..Lexer::new(text)
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline(always)]
    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes().get(at).copied()
    }

    /// The text between two offsets found at ASCII delimiters (so they are
    /// character boundaries; the error cannot happen on valid UTF-8).
    #[inline(always)]
    fn slice(&self, start: usize, end: usize) -> Result<&'a str, XmlError> {
        self.text
            .get(start..end)
            .ok_or_else(|| XmlError::malformed("invalid utf-8 boundary", start))
    }

    #[inline(always)]
    fn rest(&self, from: usize) -> &'a [u8] {
        self.bytes().get(from..).unwrap_or(&[])
    }

    /// The next token, or None at the end of the input. `open` is the name
    /// of the innermost open element, which an end tag most likely repeats:
    /// it is compared instead of scanned.
    #[inline(always)]
    pub(crate) fn next_token(&mut self, open: &str) -> Result<Option<Token<'a>>, XmlError> {
        let start = self.pos;
        let Some(first) = self.byte(start) else {
            return Ok(None);
        };
        if first != b'<' {
            let end = memchr(b'<', self.rest(start)).map_or(self.text.len(), |i| start + i);
            self.pos = end;
            let raw = self.slice(start, end)?;
            return Ok(Some(Token::Text { raw, start }));
        }
        match self.byte(start + 1) {
            Some(b'/') => self.end_tag(start, open).map(Some),
            Some(b'!') => self.bang(start).map(Some),
            Some(b'?') => self.question(start).map(Some),
            _ => {
                self.pos = start + 1;
                let name = self.name()?;
                Ok(Some(Token::StartTag { name, start }))
            }
        }
    }

    /// The next attribute of the start tag being read, or its end.
    #[inline(always)]
    pub(crate) fn tag_item(&mut self) -> Result<TagItem<'a>, XmlError> {
        let space_at = self.pos;
        self.skip_whitespace();
        let space = self.pos - space_at;
        match self.byte(self.pos) {
            Some(b'>') => {
                self.pos += 1;
                Ok(TagItem::End {
                    empty: false,
                    end: self.pos,
                })
            }
            Some(b'/') if self.byte(self.pos + 1) == Some(b'>') => {
                self.pos += 2;
                Ok(TagItem::End {
                    empty: true,
                    end: self.pos,
                })
            }
            Some(b'/') => Err(XmlError::malformed("expected '>' after '/'", self.pos)),
            None => Err(XmlError::malformed("unclosed start tag", self.pos)),
            Some(_) if space == 0 => Err(XmlError::malformed(
                "attributes must be separated by whitespace",
                self.pos,
            )),
            Some(_) => {
                let name = self.name()?;
                let before_eq = self.skip_whitespace();
                if self.byte(self.pos) != Some(b'=') {
                    return Err(XmlError::malformed(
                        "expected '=' after attribute name",
                        self.pos,
                    ));
                }
                self.pos += 1;
                let after_eq = self.skip_whitespace();
                let quote = match self.byte(self.pos) {
                    Some(q @ (b'"' | b'\'')) => q,
                    _ => {
                        return Err(XmlError::malformed(
                            "attribute value must be quoted",
                            self.pos,
                        ))
                    }
                };
                let value_start = self.pos + 1;
                let rest = self.rest(value_start);
                // Without tabs and line ends in the document, the first of
                // the quote, `&` and `<` tells whether the value is plain.
                let first_special = if self.no_line_controls {
                    memchr3(quote, b'&', b'<', rest)
                } else {
                    None
                };
                let plain = first_special.is_some_and(|i| rest.get(i) == Some(&quote));
                let value_end = first_special
                    .filter(|_| plain)
                    .or_else(|| memchr(quote, rest))
                    .map(|i| value_start + i)
                    .ok_or_else(|| XmlError::malformed("unclosed attribute value", self.pos))?;
                let value = self.slice(value_start, value_end)?;
                self.pos = value_end + 1;
                let exact = space == 1
                    && self.byte(space_at) == Some(b' ')
                    && !before_eq
                    && !after_eq
                    && quote == b'"';
                Ok(TagItem::Attribute {
                    name,
                    value,
                    plain,
                    item: (space_at, self.pos),
                    exact,
                })
            }
        }
    }

    /// Skips XML whitespace; true when there was some.
    #[inline(always)]
    fn skip_whitespace(&mut self) -> bool {
        let from = self.pos;
        while matches!(self.byte(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.pos > from
    }

    /// The run of name bytes at the cursor (maybe empty): ASCII name
    /// characters, `:`, and any non-ASCII byte. Whether it is a valid
    /// (qualified) name is the builder's check.
    #[inline(always)]
    fn name(&mut self) -> Result<Name<'a>, XmlError> {
        let from = self.pos;
        let shape = scan_name(self.rest(from));
        let text = self.slice(from, from + shape.len)?;
        self.pos = from + shape.len;
        Ok(Name {
            text,
            simple: shape.simple,
            colon: shape.colon,
        })
    }

    fn end_tag(&mut self, start: usize, open: &str) -> Result<Token<'a>, XmlError> {
        let after = start + 2;
        let name_end = after + open.len();
        let name = match self.rest(after).get(..open.len()) {
            Some(candidate)
                if same_bytes(candidate, open.as_bytes())
                    && !self.byte(name_end).is_some_and(is_name_byte) =>
            {
                self.pos = name_end;
                self.slice(after, name_end)?
            }
            _ => {
                self.pos = after;
                self.name()?.text
            }
        };
        let space = self.skip_whitespace();
        if self.byte(self.pos) != Some(b'>') {
            return Err(XmlError::malformed("malformed end tag", start));
        }
        self.pos += 1;
        Ok(Token::EndTag {
            name,
            start,
            end: self.pos,
            exact: !space,
        })
    }

    /// `<!`: a comment, a CDATA section or a DOCTYPE.
    fn bang(&mut self, start: usize) -> Result<Token<'a>, XmlError> {
        let after = self.rest(start + 2);
        if after.starts_with(b"--") {
            // The first `--` ends the comment and must be followed by `>`.
            let body_start = start + 4;
            let dashes = memmem::find(self.rest(body_start), b"--")
                .map(|i| body_start + i)
                .ok_or_else(|| XmlError::malformed("unclosed comment", start))?;
            if self.byte(dashes + 2) != Some(b'>') {
                return Err(XmlError::malformed("'--' inside a comment", dashes));
            }
            self.pos = dashes + 3;
            let body = self.slice(body_start, dashes)?;
            return Ok(Token::Comment {
                body,
                start,
                end: self.pos,
            });
        }
        if after.starts_with(b"[CDATA[") {
            let body_start = start + 9;
            let close = memmem::find(self.rest(body_start), b"]]>")
                .map(|i| body_start + i)
                .ok_or_else(|| XmlError::malformed("unclosed cdata section", start))?;
            self.pos = close + 3;
            let body = self.slice(body_start, close)?;
            return Ok(Token::CData {
                body,
                start,
                end: self.pos,
            });
        }
        if matches!(after.first(), Some(b'D' | b'd')) {
            return self.doctype(start);
        }
        Err(XmlError::malformed("invalid markup after '<!'", start))
    }

    /// Any `<!D`: a DOCTYPE when, as quick-xml reads it, it closes (the
    /// first `>` that balances the `<`s after it) and reads `DOCTYPE`
    /// (any case) then a name; otherwise the markup is malformed. Either
    /// way the document is refused.
    fn doctype(&mut self, start: usize) -> Result<Token<'a>, XmlError> {
        let body = self.rest(start + 1);
        let mut depth = 0usize;
        for i in memchr2_iter(b'<', b'>', body) {
            if body.get(i) == Some(&b'<') {
                depth += 1;
                continue;
            }
            if depth > 0 {
                depth -= 1;
                continue;
            }
            let declaration = body.get(..i).unwrap_or(&[]);
            let keyword = declaration.get(..8).unwrap_or(&[]);
            let has_name = declaration
                .get(8..)
                .unwrap_or(&[])
                .iter()
                .any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            if keyword.eq_ignore_ascii_case(b"!DOCTYPE") && has_name {
                return Ok(Token::Doctype);
            }
            return Err(XmlError::malformed("invalid markup after '<!'", start));
        }
        Err(XmlError::malformed("unclosed doctype", start))
    }

    /// `<?`: the XML declaration (`<?xml` then whitespace or `?>`), or a
    /// processing instruction. Both end at the first `?>` after `<?`.
    fn question(&mut self, start: usize) -> Result<Token<'a>, XmlError> {
        let close = memmem::find(self.rest(start + 1), b"?>")
            .filter(|i| *i > 0)
            .map(|i| start + 1 + i)
            .ok_or_else(|| XmlError::malformed("unclosed processing instruction", start))?;
        let content = self.slice(start + 2, close)?;
        self.pos = close + 2;
        let is_decl = content
            .strip_prefix("xml")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']));
        if is_decl {
            return Ok(Token::Decl {
                pseudo_attributes: content.get(3..).unwrap_or(""),
                start,
            });
        }
        Ok(Token::Pi {
            content,
            start,
            end: self.pos,
        })
    }
}

/// Reads the XML declaration's pseudo-attributes (`version`, `encoding`,
/// `standalone`), in order; `at` is the declaration's offset, for errors.
pub(crate) fn pseudo_attributes(text: &str, at: usize) -> Result<Vec<(&str, &str)>, XmlError> {
    let mut lexer = Lexer::new(text);
    let mut out = Vec::with_capacity(3);
    loop {
        let space = lexer.skip_whitespace();
        if lexer.pos >= text.len() {
            return Ok(out);
        }
        if !space {
            return Err(XmlError::malformed("malformed xml declaration", at));
        }
        let name = lexer.name()?.text;
        lexer.skip_whitespace();
        if name.is_empty() || lexer.byte(lexer.pos) != Some(b'=') {
            return Err(XmlError::malformed("malformed xml declaration", at));
        }
        lexer.pos += 1;
        lexer.skip_whitespace();
        let Some(quote @ (b'"' | b'\'')) = lexer.byte(lexer.pos) else {
            return Err(XmlError::malformed("malformed xml declaration", at));
        };
        let value_start = lexer.pos + 1;
        let value_end = memchr(quote, lexer.rest(value_start))
            .map(|i| value_start + i)
            .ok_or_else(|| XmlError::malformed("malformed xml declaration", at))?;
        out.push((name, lexer.slice(value_start, value_end)?));
        lexer.pos = value_end + 1;
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
