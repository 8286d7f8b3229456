//! The quick-xml based parser that `lexer.rs` replaced, kept (for tests
//! only) as the reference of the parse differential in `tests.rs`: same
//! tree builder, quick-xml 0.37's reader and attribute iterator in front.
//! The RAW_* flags are derived here independently, from quick-xml's slice
//! positions.
#![allow(dead_code)]

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::text::{self, DecodeError};
use crate::tree::{
    Attribute, Document, NamespaceDecl, Node, NodeKind, EMPTY_TAG, NONE, NO_NS, RAW_END, RAW_TEXT,
    XML_NS_DECL,
};
use crate::{Limits, XmlError, XML_NAMESPACE};

const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// Parses `input` as `Document::parse` did before the lexer.
pub(crate) fn parse_with_quick_xml<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<Document<'a>, XmlError> {
    if input.len() > limits.max_document_bytes {
        return Err(XmlError::TooLarge {
            what: "document size in bytes",
            limit: limits.max_document_bytes,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input)
        .map_err(|e| XmlError::malformed("input is not valid utf-8", e.valid_up_to()))?;
    if let Some(pos) = crate::scan::find_forbidden_character(input) {
        return Err(XmlError::malformed(
            "control character or non-character not allowed in xml",
            pos,
        ));
    }
    Parser::new(text, limits).run()
}

struct Parser<'a, 'l> {
    input: &'a str,
    limits: &'l Limits,
    doc: Document<'a>,
    /// Open elements.
    stack: Vec<u32>,
    /// In-scope prefix bindings: (prefix, declaration index), innermost last.
    scope: Vec<(&'a str, u32)>,
    /// Length of `scope` when each open element was entered.
    scope_marks: Vec<usize>,
    seen_root: bool,
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(input: &'a str, limits: &'l Limits) -> Self {
        let mut decls = Vec::with_capacity(16);
        decls.push(NamespaceDecl {
            prefix: "xml",
            uri: Cow::Borrowed(XML_NAMESPACE),
            item: (0, 0),
        });
        Parser {
            input,
            limits,
            doc: Document {
                input,
                nodes: Vec::with_capacity(input.len() / 24 + 4),
                attrs: Vec::with_capacity(input.len() / 64 + 4),
                decls,
                top_level: Vec::new(),
                root: NONE,
            },
            stack: Vec::with_capacity(limits.max_depth.min(64)),
            scope: vec![("xml", XML_NS_DECL)],
            scope_marks: Vec::with_capacity(limits.max_depth.min(64)),
            seen_root: false,
        }
    }

    /// Maps a slice that quick-xml handed out back to the input string.
    fn sub(&self, bytes: &[u8], at: usize) -> Result<&'a str, XmlError> {
        self.located(bytes, at).map(|(text, _)| text)
    }

    /// Like [`Self::sub`], with the slice's byte offset in the input.
    fn located(&self, bytes: &[u8], at: usize) -> Result<(&'a str, usize), XmlError> {
        let base = self.input.as_ptr() as usize;
        let start = (bytes.as_ptr() as usize).wrapping_sub(base);
        self.input
            .get(start..start.wrapping_add(bytes.len()))
            .filter(|_| start <= self.input.len())
            .map(|text| (text, start))
            .ok_or_else(|| XmlError::malformed("invalid utf-8 boundary", at))
    }

    fn run(mut self) -> Result<Document<'a>, XmlError> {
        let mut reader = Reader::from_str(self.input);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        let mut first_event = true;
        loop {
            let at = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| {
                XmlError::malformed(e.to_string(), reader.buffer_position() as usize)
            })?;
            let end = reader.buffer_position() as usize;
            let is_first = std::mem::replace(&mut first_event, false);
            match event {
                Event::DocType(_) => return Err(XmlError::ForbiddenDtd),
                Event::Decl(decl) => {
                    if !is_first {
                        return Err(XmlError::malformed("xml declaration not at start", at));
                    }
                    check_declaration(&decl, at)?;
                }
                Event::Start(start) => self.start_element(&start, at, end, false)?,
                Event::Empty(start) => self.start_element(&start, at, end, true)?,
                Event::End(_) => self.end_element(Some(at), end)?,
                Event::Text(t) => {
                    let (raw, offset) = self.located(&t, at)?;
                    if self.stack.is_empty() {
                        if raw
                            .bytes()
                            .any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                        {
                            return Err(XmlError::malformed("text outside the root element", at));
                        }
                        continue;
                    }
                    let (value, canonical) =
                        text::decode_text(raw).map_err(|e| decode_error(e, at))?;
                    // The span must be exactly the text for c14n to copy it.
                    let raw_text = canonical && offset == at && raw.len() == end - at;
                    let flags = if raw_text { RAW_TEXT } else { 0 };
                    self.push_leaf(NodeKind::Text, "", value, at, end, flags)?;
                }
                Event::CData(c) => {
                    if self.stack.is_empty() {
                        return Err(XmlError::malformed("cdata outside the root element", at));
                    }
                    let raw = self.sub(&c, at)?;
                    let value = text::normalize_line_ends(raw);
                    self.push_leaf(NodeKind::Text, "", value, at, end, 0)?;
                }
                Event::Comment(c) => {
                    let raw = self.sub(&c, at)?;
                    if raw.ends_with('-') {
                        return Err(XmlError::malformed("comment ends with '-'", at));
                    }
                    let value = text::normalize_line_ends(raw);
                    self.push_leaf(NodeKind::Comment, "", value, at, end, 0)?;
                }
                Event::PI(pi) => {
                    let raw = self.sub(&pi, at)?;
                    let split = raw.find([' ', '\t', '\n', '\r']).unwrap_or(raw.len());
                    let (target, data) = raw.split_at(split);
                    if !text::is_ncname(target) || target.eq_ignore_ascii_case("xml") {
                        return Err(XmlError::malformed(
                            "invalid processing instruction target",
                            at,
                        ));
                    }
                    let data = data.trim_start_matches([' ', '\t', '\n', '\r']);
                    let value = text::normalize_line_ends(data);
                    self.push_leaf(NodeKind::ProcessingInstruction, target, value, at, end, 0)?;
                }
                Event::Eof => break,
            }
        }
        if !self.stack.is_empty() {
            return Err(XmlError::malformed("unclosed element", self.input.len()));
        }
        if !self.seen_root {
            return Err(XmlError::malformed("no root element", self.input.len()));
        }
        Ok(self.doc)
    }

    fn alloc_node(&mut self, node: Node<'a>) -> Result<u32, XmlError> {
        if self.doc.nodes.len() >= self.limits.max_nodes {
            return Err(XmlError::TooLarge {
                what: "node count",
                limit: self.limits.max_nodes,
            });
        }
        let id = self.doc.nodes.len() as u32;
        let parent = node.parent;
        self.doc.nodes.push(node);
        if parent == NONE {
            self.doc.top_level.push(id);
        } else if let Some(p) = self.doc.nodes.get(parent as usize).map(|p| p.last_child) {
            if p == NONE {
                if let Some(pn) = self.doc.nodes.get_mut(parent as usize) {
                    pn.first_child = id;
                }
            } else if let Some(prev) = self.doc.nodes.get_mut(p as usize) {
                prev.next_sibling = id;
            }
            if let Some(pn) = self.doc.nodes.get_mut(parent as usize) {
                pn.last_child = id;
            }
        }
        Ok(id)
    }

    fn push_leaf(
        &mut self,
        kind: NodeKind,
        target: &'a str,
        text: Cow<'a, str>,
        at: usize,
        end: usize,
        flags: u8,
    ) -> Result<(), XmlError> {
        let parent = self.stack.last().copied().unwrap_or(NONE);
        self.alloc_node(Node {
            kind,
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            prefix: target,
            local: "",
            ns: NO_NS,
            attrs_start: 0,
            attrs_end: 0,
            decls_start: 0,
            decls_end: 0,
            text,
            span_start: at as u32,
            span_end: end as u32,
            start_tag_end: end as u32,
            flags,
        })?;
        Ok(())
    }

    fn start_element(
        &mut self,
        start: &BytesStart<'_>,
        at: usize,
        end: usize,
        empty: bool,
    ) -> Result<(), XmlError> {
        if self.stack.is_empty() {
            if self.seen_root {
                return Err(XmlError::malformed("more than one root element", at));
            }
            self.seen_root = true;
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(XmlError::TooLarge {
                what: "element depth",
                limit: self.limits.max_depth,
            });
        }
        let (qname, name_offset) = self.located(start.name().as_ref(), at)?;
        let (prefix, local) = split_qname(qname).ok_or_else(|| {
            XmlError::malformed(format!("invalid element name {:?}", truncate(qname)), at)
        })?;
        if prefix == "xmlns" {
            return Err(XmlError::malformed(
                "element uses the reserved xmlns prefix",
                at,
            ));
        }

        // First pass: namespace declarations, so attributes can be resolved.
        self.scope_marks.push(self.scope.len());
        let decls_start = self.doc.decls.len() as u32;
        let attrs_start = self.doc.attrs.len() as u32;
        let mut count = 0usize;
        // Which items are written exactly ` key="value"`, followed item by
        // item: `layout.next` is where the previous item ended.
        let mut layout = TagLayout {
            input: self.input.as_bytes(),
            next: name_offset + qname.len(),
        };
        let mut attributes = start.attributes();
        // Duplicates are checked below on expanded names (which also covers
        // lexical duplicates); quick-xml's own check allocates per element.
        attributes.with_checks(false);
        for attr in attributes {
            let attr = attr.map_err(|e| XmlError::malformed(e.to_string(), at))?;
            count += 1;
            if count > self.limits.max_attributes_per_element {
                return Err(XmlError::TooLarge {
                    what: "attributes per element",
                    limit: self.limits.max_attributes_per_element,
                });
            }
            let (key, key_offset) = self.located(attr.key.as_ref(), at)?;
            let (raw, raw_offset) = self.located(&attr.value, at)?;
            let value = text::decode_attribute(raw).map_err(|e| decode_error(e, at))?;
            let (aprefix, alocal) = split_qname(key).ok_or_else(|| {
                XmlError::malformed(format!("invalid attribute name {:?}", truncate(key)), at)
            })?;
            let item_start = layout.next;
            let exact = layout.item(
                key_offset..key_offset + key.len(),
                raw_offset..raw_offset + raw.len(),
            );
            let item = if exact && matches!(value, Cow::Borrowed(_)) {
                (item_start as u32, layout.next as u32)
            } else {
                (0, 0)
            };
            if aprefix.is_empty() && alocal == "xmlns" {
                self.declare("", value, item, at)?;
            } else if aprefix == "xmlns" {
                self.declare(alocal, value, item, at)?;
            } else {
                self.doc.attrs.push(Attribute {
                    prefix: aprefix,
                    local: alocal,
                    ns: NO_NS,
                    value,
                    item,
                });
            }
        }
        let decls_end = self.doc.decls.len() as u32;
        let attrs_end = self.doc.attrs.len() as u32;

        // Resolve the element and attribute prefixes.
        let ns = self.resolve(prefix, true, at)?;
        for i in attrs_start..attrs_end {
            let aprefix = self.doc.attrs.get(i as usize).map_or("", |a| a.prefix);
            let resolved = if aprefix.is_empty() {
                NO_NS
            } else {
                self.resolve(aprefix, false, at)?
            };
            if let Some(a) = self.doc.attrs.get_mut(i as usize) {
                a.ns = resolved;
            }
        }
        self.check_unique_expanded_names(attrs_start, attrs_end, at)?;

        let parent = self.stack.last().copied().unwrap_or(NONE);
        let id = self.alloc_node(Node {
            kind: NodeKind::Element,
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            prefix,
            local,
            ns,
            attrs_start,
            attrs_end,
            decls_start,
            decls_end,
            text: Cow::Borrowed(""),
            span_start: at as u32,
            span_end: end as u32,
            start_tag_end: end as u32,
            flags: if empty { EMPTY_TAG } else { 0 },
        })?;
        if parent == NONE {
            self.doc.root = id;
        }
        self.stack.push(id);
        if empty {
            self.end_element(None, end)?;
        }
        Ok(())
    }

    fn declare(
        &mut self,
        prefix: &'a str,
        uri: Cow<'a, str>,
        item: (u32, u32),
        at: usize,
    ) -> Result<(), XmlError> {
        if prefix == "xml" {
            if uri != XML_NAMESPACE {
                return Err(XmlError::malformed("the xml prefix cannot be rebound", at));
            }
        } else if prefix == "xmlns" {
            return Err(XmlError::malformed(
                "the xmlns prefix cannot be declared",
                at,
            ));
        } else if uri == XML_NAMESPACE || uri == XMLNS_NAMESPACE {
            return Err(XmlError::malformed(
                "reserved namespace bound to another prefix",
                at,
            ));
        } else if !prefix.is_empty() && uri.is_empty() {
            return Err(XmlError::malformed(
                format!("prefix {:?} undeclared with an empty uri", truncate(prefix)),
                at,
            ));
        }
        let mark = self.scope_marks.last().copied().unwrap_or(0);
        if self
            .scope
            .get(mark..)
            .unwrap_or(&[])
            .iter()
            .any(|(p, _)| *p == prefix)
        {
            return Err(XmlError::malformed("namespace prefix declared twice", at));
        }
        let idx = self.doc.decls.len() as u32;
        self.doc.decls.push(NamespaceDecl { prefix, uri, item });
        self.scope.push((prefix, idx));
        Ok(())
    }

    fn resolve(&self, prefix: &str, element: bool, at: usize) -> Result<u32, XmlError> {
        if prefix.is_empty() && !element {
            return Ok(NO_NS);
        }
        match self.scope.iter().rev().find(|(p, _)| *p == prefix) {
            Some((_, idx)) => {
                let empty = self
                    .doc
                    .decls
                    .get(*idx as usize)
                    .is_none_or(|d| d.uri.is_empty());
                Ok(if empty { NO_NS } else { *idx })
            }
            None if prefix.is_empty() => Ok(NO_NS),
            None => Err(XmlError::malformed(
                format!("undeclared namespace prefix {:?}", truncate(prefix)),
                at,
            )),
        }
    }

    fn check_unique_expanded_names(&self, start: u32, end: u32, at: usize) -> Result<(), XmlError> {
        let attrs = self
            .doc
            .attrs
            .get(start as usize..end as usize)
            .unwrap_or(&[]);
        for (i, a) in attrs.iter().enumerate() {
            let a_ns = self.doc.ns_uri(a.ns);
            if attrs
                .iter()
                .skip(i + 1)
                .any(|b| b.local == a.local && self.doc.ns_uri(b.ns) == a_ns)
            {
                return Err(XmlError::malformed("duplicate attribute", at));
            }
        }
        Ok(())
    }

    /// Closes the open element; `end_tag_at` is where its end tag starts
    /// (None for the empty-element form).
    fn end_element(&mut self, end_tag_at: Option<usize>, end: usize) -> Result<(), XmlError> {
        let id = self
            .stack
            .pop()
            .ok_or_else(|| XmlError::malformed("unexpected end tag", end))?;
        if let Some(mark) = self.scope_marks.pop() {
            self.scope.truncate(mark);
        }
        if let Some(n) = self.doc.nodes.get_mut(id as usize) {
            n.span_end = end as u32;
            // quick-xml checked that the end tag names the open element, so
            // `</qname>` with nothing else is exactly this long.
            let qname_len = n.local.len() + n.prefix.len() + usize::from(!n.prefix.is_empty());
            if end_tag_at.is_some_and(|at| end.checked_sub(at) == Some(qname_len + 3)) {
                n.flags |= RAW_END;
            }
        }
        Ok(())
    }
}

/// Follows a start tag item by item to decide whether it is laid out
/// exactly as canonical XML writes one (see [`RAW_START`]). All offsets are
/// byte positions in `input`; any doubt leaves `canonical` false, which only
/// costs c14n speed, never correctness.
struct TagLayout<'i> {
    input: &'i [u8],
    /// Where the previous item (or the element name) ended.
    next: usize,
}

impl TagLayout<'_> {
    /// One attribute or namespace declaration; true when it is written
    /// exactly ` key="value"` right after the previous item.
    fn item(&mut self, key: std::ops::Range<usize>, value: std::ops::Range<usize>) -> bool {
        let at = |i: usize| self.input.get(i).copied();
        let exact = at(self.next) == Some(b' ')
            && key.start == self.next + 1
            && at(key.end) == Some(b'=')
            && at(key.end + 1) == Some(b'"')
            && value.start == key.end + 2
            && at(value.end) == Some(b'"');
        self.next = value.end + 1;
        exact
    }
}

fn split_qname(name: &str) -> Option<(&str, &str)> {
    match name.split_once(':') {
        Some((p, l)) if text::is_ncname(p) && text::is_ncname(l) => Some((p, l)),
        Some(_) => None,
        None if text::is_ncname(name) => Some(("", name)),
        None => None,
    }
}

fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>, at: usize) -> Result<(), XmlError> {
    let version = decl
        .version()
        .map_err(|e| XmlError::malformed(e.to_string(), at))?;
    if !matches!(version.as_ref(), b"1.0" | b"1.1") {
        return Err(XmlError::malformed("unsupported xml version", at));
    }
    if let Some(encoding) = decl.encoding() {
        let encoding = encoding.map_err(|e| XmlError::malformed(e.to_string(), at))?;
        if !encoding.eq_ignore_ascii_case(b"utf-8") && !encoding.eq_ignore_ascii_case(b"utf8") {
            return Err(XmlError::malformed("only utf-8 documents are accepted", at));
        }
    }
    Ok(())
}

fn decode_error(e: DecodeError, at: usize) -> XmlError {
    match e {
        DecodeError::UnknownEntity(name) => {
            XmlError::malformed(format!("undefined entity &{name};"), at)
        }
        DecodeError::BadReference => {
            XmlError::malformed("invalid character or entity reference", at)
        }
        DecodeError::LtInAttribute => XmlError::malformed("'<' in attribute value", at),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
