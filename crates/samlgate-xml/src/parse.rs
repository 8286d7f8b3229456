//! Building a [`Document`] from bytes, under [`Limits`]: the tokens of
//! `lexer.rs` become an arena of nodes, with names checked, namespaces
//! resolved and references expanded on the way.

use std::borrow::Cow;

use crate::lexer::{self, Lexer, Name, TagItem, Token};
use crate::scan::{same_bytes, same_str, scan_characters, split_name, Scan};
use crate::text::{self, DecodeError};
use crate::tree::{
    Attribute, Document, NamespaceDecl, Node, NodeKind, EMPTY_TAG, NONE, NO_NS, RAW_END, RAW_TEXT,
    XML_NS_DECL,
};
use crate::{Limits, XmlError, XML_NAMESPACE};

const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

impl<'a> Document<'a> {
    /// Parses `input` (UTF-8, optionally with a BOM) under `limits`.
    ///
    /// Any DOCTYPE is refused; only the five predefined entities and
    /// character references are expanded; namespaces are resolved and
    /// checked. Nodes borrow from `input`.
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Document<'a>, XmlError> {
        // Positions are kept as u32 (and c14n copies input bytes by them),
        // so no limit lets a document past 4 GiB through.
        let limit = limits.max_document_bytes.min(u32::MAX as usize);
        if input.len() > limit {
            return Err(XmlError::TooLarge {
                what: "document size in bytes",
                limit,
            });
        }
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let text = std::str::from_utf8(input)
            .map_err(|e| XmlError::malformed("input is not valid utf-8", e.valid_up_to()))?;
        let line_controls = match scan_characters(input) {
            Scan::Forbidden(pos) => {
                return Err(XmlError::malformed(
                    "control character or non-character not allowed in xml",
                    pos,
                ))
            }
            Scan::Clean { line_controls } => line_controls,
        };
        Parser::new(text, limits).run(line_controls)
    }
}

struct Parser<'a, 'l> {
    input: &'a str,
    limits: &'l Limits,
    doc: Document<'a>,
    /// Open elements, with their names as written.
    stack: Vec<(u32, &'a str)>,
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
            // Small requests (grown if the document is deeper): a large one
            // costs glibc's malloc a sweep of its freed small blocks.
            stack: Vec::with_capacity(16),
            scope: vec![("xml", XML_NS_DECL)],
            scope_marks: Vec::with_capacity(16),
            seen_root: false,
        }
    }

    fn run(mut self, line_controls: bool) -> Result<Document<'a>, XmlError> {
        let mut lexer = if line_controls {
            Lexer::new(self.input)
        } else {
            Lexer::without_line_controls(self.input)
        };
        while let Some(token) = lexer.next_token(self.stack.last().map_or("", |(_, name)| name))? {
            match token {
                Token::Doctype => return Err(XmlError::ForbiddenDtd),
                Token::Decl {
                    pseudo_attributes,
                    start,
                } => {
                    if start != 0 {
                        return Err(XmlError::malformed("xml declaration not at start", start));
                    }
                    check_declaration(pseudo_attributes, start)?;
                }
                Token::StartTag { name, start } => self.start_element(&mut lexer, name, start)?,
                Token::EndTag {
                    name,
                    start,
                    end,
                    exact,
                } => self.end_tag(name, start, end, exact)?,
                Token::Text { raw, start } => {
                    let end = start + raw.len();
                    if self.stack.is_empty() {
                        if raw
                            .bytes()
                            .any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                        {
                            return Err(XmlError::malformed(
                                "text outside the root element",
                                start,
                            ));
                        }
                        continue;
                    }
                    let (value, canonical) =
                        text::decode_text(raw).map_err(|e| decode_error(e, start))?;
                    let flags = if canonical { RAW_TEXT } else { 0 };
                    self.push_leaf(NodeKind::Text, "", value, start, end, flags)?;
                }
                Token::CData { body, start, end } => {
                    if self.stack.is_empty() {
                        return Err(XmlError::malformed("cdata outside the root element", start));
                    }
                    let value = text::normalize_line_ends(body);
                    self.push_leaf(NodeKind::Text, "", value, start, end, 0)?;
                }
                Token::Comment { body, start, end } => {
                    if body.ends_with('-') {
                        return Err(XmlError::malformed("comment ends with '-'", start));
                    }
                    let value = text::normalize_line_ends(body);
                    self.push_leaf(NodeKind::Comment, "", value, start, end, 0)?;
                }
                Token::Pi {
                    content,
                    start,
                    end,
                } => {
                    let split = content
                        .find([' ', '\t', '\n', '\r'])
                        .unwrap_or(content.len());
                    let (target, data) = content.split_at(split);
                    if !text::is_ncname(target) || target.eq_ignore_ascii_case("xml") {
                        return Err(XmlError::malformed(
                            "invalid processing instruction target",
                            start,
                        ));
                    }
                    let data = data.trim_start_matches([' ', '\t', '\n', '\r']);
                    let value = text::normalize_line_ends(data);
                    self.push_leaf(
                        NodeKind::ProcessingInstruction,
                        target,
                        value,
                        start,
                        end,
                        0,
                    )?;
                }
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

    /// Appends a node under the innermost open element (or at the top
    /// level), filled in place by `fill`.
    #[inline(always)]
    fn alloc_node(&mut self, fill: impl FnOnce(&mut Node<'a>)) -> Result<u32, XmlError> {
        if self.doc.nodes.len() >= self.limits.max_nodes {
            return Err(XmlError::TooLarge {
                what: "node count",
                limit: self.limits.max_nodes,
            });
        }
        let id = self.doc.nodes.len() as u32;
        let parent = self.parent();
        self.doc.nodes.push(Node::BLANK);
        if let Some(node) = self.doc.nodes.last_mut() {
            node.parent = parent;
            fill(node);
        }
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
        self.alloc_node(|node| {
            node.kind = kind;
            node.prefix = target;
            node.text = text;
            node.span_start = at as u32;
            node.span_end = end as u32;
            node.start_tag_end = end as u32;
            node.flags = flags;
        })?;
        Ok(())
    }

    fn start_element(
        &mut self,
        lexer: &mut Lexer<'a>,
        name: Name<'a>,
        at: usize,
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
        let qname = name.text;
        let (prefix, local) = split_name(name).ok_or_else(|| {
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
        let (end, empty) = loop {
            let (name, raw, plain, item, exact) = match lexer.tag_item()? {
                TagItem::End { empty, end } => break (end, empty),
                TagItem::Attribute {
                    name,
                    value,
                    plain,
                    item,
                    exact,
                } => (name, value, plain, item, exact),
            };
            count += 1;
            if count > self.limits.max_attributes_per_element {
                return Err(XmlError::TooLarge {
                    what: "attributes per element",
                    limit: self.limits.max_attributes_per_element,
                });
            }
            let value = if plain {
                // Nothing to decode (see TagItem::Attribute).
                Cow::Borrowed(raw)
            } else {
                text::decode_attribute(raw).map_err(|e| decode_error(e, at))?
            };
            let (aprefix, alocal) = split_name(name).ok_or_else(|| {
                XmlError::malformed(
                    format!("invalid attribute name {:?}", truncate(name.text)),
                    at,
                )
            })?;
            // Written ` name="value"` with a value that needs no decoding
            // (then none of the characters c14n escapes occurs in it either):
            // c14n may copy the item.
            let item = if exact && matches!(value, Cow::Borrowed(_)) {
                (item.0 as u32, item.1 as u32)
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
        };
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

        let parent = self.parent();
        let id = self.alloc_node(|node| {
            node.prefix = prefix;
            node.local = local;
            node.ns = ns;
            node.attrs_start = attrs_start;
            node.attrs_end = attrs_end;
            node.decls_start = decls_start;
            node.decls_end = decls_end;
            node.span_start = at as u32;
            node.span_end = end as u32;
            node.start_tag_end = end as u32;
            node.flags = if empty { EMPTY_TAG } else { 0 };
        })?;
        if parent == NONE {
            self.doc.root = id;
        }
        self.stack.push((id, qname));
        if empty {
            self.end_element(false, end)?;
        }
        Ok(())
    }

    /// The innermost open element, or NONE at the top level.
    fn parent(&self) -> u32 {
        self.stack.last().map_or(NONE, |(id, _)| *id)
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
            .any(|(p, _)| same_str(p, prefix))
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
        match self.scope.iter().rev().find(|(p, _)| same_str(p, prefix)) {
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
            let same_namespace =
                |b: &Attribute<'_>| a.ns == b.ns || self.doc.ns_uri(a.ns) == self.doc.ns_uri(b.ns);
            if attrs
                .iter()
                .skip(i + 1)
                .any(|b| same_str(b.local, a.local) && same_namespace(b))
            {
                return Err(XmlError::malformed("duplicate attribute", at));
            }
        }
        Ok(())
    }

    /// `</name>`: it must close the innermost open element.
    fn end_tag(
        &mut self,
        name: &str,
        start: usize,
        end: usize,
        exact: bool,
    ) -> Result<(), XmlError> {
        match self.stack.last() {
            Some((_, open)) if same_bytes(open.as_bytes(), name.as_bytes()) => {
                self.end_element(exact, end)
            }
            Some(_) => Err(XmlError::malformed(
                format!("end tag {:?} does not match its start tag", truncate(name)),
                start,
            )),
            None => Err(XmlError::malformed("unexpected end tag", start)),
        }
    }

    /// Closes the open element at `end`; `exact_end_tag` when it closed
    /// with exactly `</qname>` (not `/>`, no whitespace).
    fn end_element(&mut self, exact_end_tag: bool, end: usize) -> Result<(), XmlError> {
        let (id, _) = self
            .stack
            .pop()
            .ok_or_else(|| XmlError::malformed("unexpected end tag", end))?;
        if let Some(mark) = self.scope_marks.pop() {
            self.scope.truncate(mark);
        }
        if let Some(n) = self.doc.nodes.get_mut(id as usize) {
            n.span_end = end as u32;
            if exact_end_tag {
                n.flags |= RAW_END;
            }
        }
        Ok(())
    }
}

/// The XML declaration: `version` first and 1.0 or 1.1; an `encoding`, if
/// any, UTF-8.
fn check_declaration(pseudo_attributes: &str, at: usize) -> Result<(), XmlError> {
    let items = lexer::pseudo_attributes(pseudo_attributes, at)?;
    match items.first() {
        Some(("version", "1.0" | "1.1")) => {}
        Some(("version", _)) => return Err(XmlError::malformed("unsupported xml version", at)),
        _ => return Err(XmlError::malformed("xml declaration without version", at)),
    }
    if let Some((_, encoding)) = items.iter().find(|(name, _)| *name == "encoding") {
        if !encoding.eq_ignore_ascii_case("utf-8") && !encoding.eq_ignore_ascii_case("utf8") {
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
