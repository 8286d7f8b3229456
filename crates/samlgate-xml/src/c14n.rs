//! Canonicalization: Exclusive XML C14N 1.0, Canonical XML 1.0 and 1.1,
//! each with or without comments, over a whole document or the subtree of
//! one element (optionally minus one excluded subtree: the enveloped
//! signature). Output streams into any writer through a small buffer, so a
//! hasher sees large updates and no intermediate document is built.
//!
//! Where the input is already canonical, its bytes are passed on instead of
//! being rebuilt. Canonicalization decides, as always, what to write and in
//! which order: which namespace declarations an element renders, its
//! attributes sorted, its text escaped. But each piece whose canonical form
//! the parser saw written verbatim in the input is copied from there: the
//! `<qname` of a start tag; a declaration or attribute written exactly
//! ` name="value"` with a value that needs no escaping (`item` of
//! [`NamespaceDecl`](crate::NamespaceDecl) and of attributes); an end tag
//! written `</qname>` ([`RAW_END`]); text with nothing to escape
//! ([`RAW_TEXT`]). Adjacent copies merge into one span, so a signed subtree
//! that needs little rewriting reaches the hasher in a few large slices of
//! the input. With copying off (`canonicalize_piecewise`) the same code
//! writes every piece itself: the reference of the differential tests
//! (`tests/c14n_fast_path.rs`, the `c14n` fuzz target).

use std::io::{self, Write};

use crate::c14n_output::Output;
use crate::scan::same_str;
use crate::tree::{Attribute, Document, NodeId, NodeKind, EMPTY_TAG, NONE, RAW_END, RAW_TEXT};
use crate::XML_NAMESPACE;

/// Which canonicalization algorithm to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C14nMethod {
    /// Exclusive XML Canonicalization 1.0 (`xml-exc-c14n#`).
    Exclusive,
    /// Canonical XML 1.0 (`REC-xml-c14n-20010315`).
    Inclusive10,
    /// Canonical XML 1.1 (`xml-c14n11`).
    Inclusive11,
}

/// How to canonicalize.
#[derive(Debug, Clone, Copy)]
pub struct C14nOptions<'p> {
    /// The algorithm.
    pub method: C14nMethod,
    /// Keep comments.
    pub with_comments: bool,
    /// Exclusive only: the InclusiveNamespaces PrefixList (`#default` names
    /// the default namespace).
    pub inclusive_prefixes: &'p [&'p str],
    /// A subtree left out of the output (the enveloped Signature).
    pub exclude: Option<NodeId>,
}

impl C14nOptions<'static> {
    /// Options for `method` without comments, prefixes or exclusion.
    pub fn new(method: C14nMethod) -> Self {
        C14nOptions {
            method,
            with_comments: false,
            inclusive_prefixes: &[],
            exclude: None,
        }
    }
}

/// Canonicalizes the subtree rooted at `apex` (or the whole document when
/// `apex` is None) into `out`.
pub fn canonicalize<W: Write>(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
    out: W,
) -> io::Result<()> {
    run(doc, apex, options, out, true).map(|_| ())
}

/// The canonicalizer without the verbatim-copy fast path: every byte is
/// written piece by piece from the tree. The reference for the
/// differential tests.
pub(crate) fn canonicalize_piecewise<W: Write>(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
    out: W,
) -> io::Result<()> {
    run(doc, apex, options, out, false).map(|_| ())
}

/// Canonicalizes into `out` with the fast path and returns how many of the
/// bytes written were copied from the input (for tests).
pub(crate) fn canonicalize_counting_copies<W: Write>(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
    out: W,
) -> io::Result<usize> {
    run(doc, apex, options, out, true)
}

fn run<W: Write>(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
    out: W,
    copy_verbatim: bool,
) -> io::Result<usize> {
    let mut c = Canonicalizer {
        doc,
        options,
        copy_verbatim,
        out: Output::new(out, doc.input.as_bytes()),
        rendered: Vec::with_capacity(16),
        marks: Vec::with_capacity(16),
        decl_scratch: Vec::with_capacity(8),
        attr_scratch: Vec::with_capacity(16),
    };
    match apex {
        Some(apex) => c.subtree(apex)?,
        None => c.document()?,
    }
    c.out.flush()?;
    Ok(c.out.copied())
}

/// Canonicalizes into a new vector.
pub fn canonicalize_to_vec(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
) -> Vec<u8> {
    let mut v = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = canonicalize(doc, apex, options, &mut v);
    v
}

struct Canonicalizer<'d, 'a, 'o, 'p, W: Write> {
    doc: &'d Document<'a>,
    options: &'o C14nOptions<'p>,
    /// Copy input spans the parser flagged as canonical (off only for the
    /// differential tests' reference output).
    copy_verbatim: bool,
    out: Output<'a, W>,
    /// Namespace declarations rendered by open output elements.
    rendered: Vec<(&'d str, &'d str)>,
    /// Length of `rendered` before each open element.
    marks: Vec<usize>,
    /// Reused per start tag, so that canonicalizing allocates only once.
    decl_scratch: Vec<(&'d str, &'d str)>,
    attr_scratch: Vec<OutAttr<'d, 'a>>,
}

struct OutAttr<'d, 'a> {
    /// The namespace URI ("" for none), the first sort key.
    ns: &'d str,
    attr: &'d Attribute<'a>,
    /// An attribute of an ancestor (inherited by an inclusive apex): always
    /// written, never copied.
    inherited: bool,
}

impl<'d, 'a, W: Write> Canonicalizer<'d, 'a, '_, '_, W> {
    fn document(&mut self) -> io::Result<()> {
        let root = self.doc.root();
        let mut after_root = false;
        for id in self.doc.top_level() {
            if id == root {
                self.subtree(root)?;
                after_root = true;
                continue;
            }
            let kind = self.doc.kind(id);
            if kind == Some(NodeKind::Comment) && !self.options.with_comments {
                continue;
            }
            if after_root {
                self.out.put(b"\n")?;
            }
            self.leaf(id)?;
            if !after_root {
                self.out.put(b"\n")?;
            }
        }
        Ok(())
    }

    fn subtree(&mut self, apex: NodeId) -> io::Result<()> {
        let nodes = &self.doc.nodes;
        let mut cur = apex;
        'outer: loop {
            if self.enter(cur, cur == apex)? {
                if let Some(n) = nodes.get(cur.index()) {
                    cur = NodeId(n.first_child);
                    continue;
                }
            }
            loop {
                if cur == apex {
                    break 'outer;
                }
                let Some(n) = nodes.get(cur.index()) else {
                    break 'outer;
                };
                if n.next_sibling != NONE {
                    cur = NodeId(n.next_sibling);
                    continue 'outer;
                }
                if n.parent == NONE {
                    break 'outer;
                }
                cur = NodeId(n.parent);
                self.end_tag(cur)?;
            }
        }
        Ok(())
    }

    /// Writes a node's opening; returns true when its children follow.
    fn enter(&mut self, id: NodeId, is_apex: bool) -> io::Result<bool> {
        let Some(n) = self.doc.nodes.get(id.index()) else {
            return Ok(false);
        };
        if n.kind != NodeKind::Element {
            self.leaf(id)?;
            return Ok(false);
        }
        if self.options.exclude == Some(id) {
            return Ok(false);
        }
        self.start_tag(id, is_apex)?;
        if n.first_child == NONE {
            self.end_tag(id)?;
            return Ok(false);
        }
        Ok(true)
    }

    fn leaf(&mut self, id: NodeId) -> io::Result<()> {
        let Some(n) = self.doc.nodes.get(id.index()) else {
            return Ok(());
        };
        match n.kind {
            NodeKind::Text if self.copy_verbatim && n.flags & RAW_TEXT != 0 => {
                // The text is its own canonical form (see RAW_TEXT).
                self.out.copy(n.span_start as usize..n.span_end as usize)
            }
            NodeKind::Text => escape_text(&mut self.out, &n.text),
            NodeKind::Comment if self.options.with_comments => {
                self.out.put(b"<!--")?;
                self.out.put(n.text.as_bytes())?;
                self.out.put(b"-->")
            }
            NodeKind::Comment | NodeKind::Element => Ok(()),
            NodeKind::ProcessingInstruction => {
                self.out.put(b"<?")?;
                self.out.put(n.prefix.as_bytes())?;
                if !n.text.is_empty() {
                    self.out.put(b" ")?;
                    self.out.put(n.text.as_bytes())?;
                }
                self.out.put(b"?>")
            }
        }
    }

    fn write_qname(&mut self, prefix: &str, local: &str) -> io::Result<()> {
        if !prefix.is_empty() {
            self.out.put(prefix.as_bytes())?;
            self.out.put(b":")?;
        }
        self.out.put(local.as_bytes())
    }

    fn end_tag(&mut self, id: NodeId) -> io::Result<()> {
        let doc: &'d Document<'a> = self.doc;
        if let Some(n) = doc.node(id) {
            if self.copy_verbatim && n.flags & RAW_END != 0 {
                // The input ends the element with exactly `</qname>`.
                let end = n.span_end as usize;
                let len = n.prefix.len() + usize::from(!n.prefix.is_empty()) + n.local.len() + 3;
                self.out.copy(end.saturating_sub(len)..end)?;
            } else {
                self.out.put(b"</")?;
                self.write_qname(n.prefix, n.local)?;
                self.out.put(b">")?;
            }
        }
        if let Some(mark) = self.marks.pop() {
            self.rendered.truncate(mark);
        }
        Ok(())
    }

    fn rendered_uri(&self, prefix: &str) -> Option<&'d str> {
        self.rendered
            .iter()
            .rev()
            .find(|(p, _)| same_str(p, prefix))
            .map(|(_, u)| *u)
    }

    /// Adds `(prefix, uri)` to `decls` when the output context does not
    /// already bind it so.
    fn consider(&self, decls: &mut Vec<(&'d str, &'d str)>, prefix: &'d str, uri: &'d str) {
        if prefix == "xml" || decls.iter().any(|(p, _)| same_str(p, prefix)) {
            return;
        }
        let current = self.rendered_uri(prefix);
        let needed = if prefix.is_empty() && uri.is_empty() {
            current.is_some_and(|u| !u.is_empty())
        } else {
            !current.is_some_and(|c| same_str(c, uri))
        };
        if needed {
            decls.push((prefix, uri));
        }
    }

    fn start_tag(&mut self, id: NodeId, is_apex: bool) -> io::Result<()> {
        let doc: &'d Document<'a> = self.doc;
        let Some(n) = doc.nodes.get(id.index()) else {
            return Ok(());
        };
        let mut decls = std::mem::take(&mut self.decl_scratch);
        decls.clear();
        match self.options.method {
            C14nMethod::Exclusive => {
                self.consider(&mut decls, n.prefix, doc.ns_uri(n.ns).unwrap_or(""));
                for a in doc
                    .attrs
                    .get(n.attrs_start as usize..n.attrs_end as usize)
                    .unwrap_or(&[])
                {
                    if !a.prefix.is_empty() {
                        self.consider(&mut decls, a.prefix, doc.ns_uri(a.ns).unwrap_or(""));
                    }
                }
                for p in self.options.inclusive_prefixes {
                    let prefix = if *p == "#default" { "" } else { p };
                    if let Some((bound, uri)) = in_scope(doc, id, prefix) {
                        self.consider(&mut decls, bound, uri);
                    }
                }
            }
            C14nMethod::Inclusive10 | C14nMethod::Inclusive11 => {
                if is_apex {
                    let mut cur = Some(id);
                    let mut seen: Vec<&'d str> = Vec::new();
                    while let Some(c) = cur {
                        for d in doc.namespace_decls(c) {
                            if !seen.contains(&d.prefix) {
                                seen.push(d.prefix);
                                self.consider(&mut decls, d.prefix, d.uri.as_ref());
                            }
                        }
                        cur = doc.parent(c);
                    }
                } else {
                    for d in doc.namespace_decls(id) {
                        self.consider(&mut decls, d.prefix, d.uri.as_ref());
                    }
                }
            }
        }
        if !decls.is_sorted_by(|a, b| a.0 <= b.0) {
            decls.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }

        let mut attrs = std::mem::take(&mut self.attr_scratch);
        attrs.clear();
        attrs.extend(
            doc.attrs
                .get(n.attrs_start as usize..n.attrs_end as usize)
                .unwrap_or(&[])
                .iter()
                .map(|attr| OutAttr {
                    ns: doc.ns_uri(attr.ns).unwrap_or(""),
                    attr,
                    inherited: false,
                }),
        );
        if is_apex && self.options.method != C14nMethod::Exclusive {
            self.inherit_xml_attributes(id, &mut attrs);
        }
        // Most elements arrive with their attributes already in canonical
        // order; checking is cheaper than sorting.
        if !attrs.is_sorted_by(|a, b| attribute_order(a, b).is_le()) {
            attrs.sort_unstable_by(attribute_order);
        }

        self.marks.push(self.rendered.len());
        let copy = self.copy_verbatim;
        // `<qname`: the parser's start tags always begin so.
        if copy {
            let start = n.span_start as usize;
            let len = n.prefix.len() + usize::from(!n.prefix.is_empty()) + n.local.len();
            self.out.copy(start..start + 1 + len)?;
        } else {
            self.out.put(b"<")?;
            self.write_qname(n.prefix, n.local)?;
        }
        for &(prefix, uri) in &decls {
            // A rendered declaration that this tag carries is the innermost
            // binding of its prefix, so it is the written one with this
            // prefix and URI; one that comes from an ancestor is not.
            let written = doc
                .namespace_decls(id)
                .iter()
                .find(|w| same_str(w.prefix, prefix) && same_str(&w.uri, uri))
                .map_or(0..0, |w| w.item.0 as usize..w.item.1 as usize);
            if copy && !written.is_empty() {
                self.out.copy(written)?;
            } else {
                self.write_declaration(prefix, uri)?;
            }
            self.rendered.push((prefix, uri));
        }
        for a in &attrs {
            // Written exactly ` qname="value"` with nothing to escape.
            let (from, to) = (a.attr.item.0 as usize, a.attr.item.1 as usize);
            if copy && from < to && !a.inherited {
                self.out.copy(from..to)?;
            } else {
                self.out.put(b" ")?;
                self.write_qname(a.attr.prefix, a.attr.local)?;
                self.out.put(b"=\"")?;
                escape_attr(&mut self.out, &a.attr.value)?;
                self.out.put(b"\"")?;
            }
        }
        self.decl_scratch = decls;
        self.attr_scratch = attrs;
        if copy && n.flags & EMPTY_TAG == 0 {
            // A start tag that is not `/>` ends with this `>`.
            let end = n.start_tag_end as usize;
            self.out.copy(end.saturating_sub(1)..end)
        } else {
            self.out.put(b">")
        }
    }

    fn write_declaration(&mut self, prefix: &str, uri: &str) -> io::Result<()> {
        if prefix.is_empty() {
            self.out.put(b" xmlns=\"")?;
        } else {
            self.out.put(b" xmlns:")?;
            self.out.put(prefix.as_bytes())?;
            self.out.put(b"=\"")?;
        }
        escape_attr(&mut self.out, uri)?;
        self.out.put(b"\"")
    }

    /// Canonical XML applied to a document subset copies the `xml:*`
    /// attributes of omitted ancestors onto the apex (1.1 only `xml:lang`
    /// and `xml:space`; its `xml:base` fix-up is not implemented, so
    /// `xml:base` is not inherited there).
    fn inherit_xml_attributes(&self, id: NodeId, attrs: &mut Vec<OutAttr<'d, 'a>>) {
        let doc: &'d Document<'a> = self.doc;
        let mut cur = doc.parent(id);
        while let Some(c) = cur {
            let own = doc
                .node(c)
                .map_or(0..0, |n| n.attrs_start as usize..n.attrs_end as usize);
            for attr in doc.attrs.get(own).unwrap_or(&[]) {
                // The xml prefix is bound to XML_NAMESPACE and to nothing
                // else (the parser refuses any other binding of either).
                if doc.ns_uri(attr.ns) != Some(XML_NAMESPACE) {
                    continue;
                }
                if self.options.method == C14nMethod::Inclusive11
                    && !matches!(attr.local, "lang" | "space")
                {
                    continue;
                }
                if attrs
                    .iter()
                    .any(|x| x.ns == XML_NAMESPACE && x.attr.local == attr.local)
                {
                    continue;
                }
                attrs.push(OutAttr {
                    ns: XML_NAMESPACE,
                    attr,
                    inherited: true,
                });
            }
            cur = doc.parent(c);
        }
    }
}

/// Canonical attribute order: namespace URI, then local name.
#[inline]
fn attribute_order(a: &OutAttr<'_, '_>, b: &OutAttr<'_, '_>) -> std::cmp::Ordering {
    let by_ns = if same_str(a.ns, b.ns) {
        std::cmp::Ordering::Equal
    } else {
        a.ns.cmp(b.ns)
    };
    by_ns.then_with(|| compare_bytes(a.attr.local.as_bytes(), b.attr.local.as_bytes()))
}

/// Lexicographic byte order, written out for short names (the slice
/// `cmp` calls `memcmp`).
#[inline]
fn compare_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .find(|(x, y)| x != y)
        .map_or_else(|| a.len().cmp(&b.len()), |(x, y)| x.cmp(y))
}

/// The in-scope binding of `prefix` at `id`, if any; for the default
/// namespace an empty URI is reported as bound to "".
fn in_scope<'d>(doc: &'d Document<'_>, id: NodeId, prefix: &str) -> Option<(&'d str, &'d str)> {
    let mut cur = Some(id);
    while let Some(c) = cur {
        if let Some(d) = doc.namespace_decls(c).iter().find(|d| d.prefix == prefix) {
            return Some((d.prefix, d.uri.as_ref()));
        }
        cur = doc.parent(c);
    }
    if prefix.is_empty() {
        Some(("", ""))
    } else {
        None
    }
}

fn escape_text<W: Write>(out: &mut Output<'_, W>, s: &str) -> io::Result<()> {
    // Branch-free scan first (vectorized): most text needs no escaping.
    let plain = !s.bytes().fold(false, |acc, b| {
        acc | (b == b'&') | (b == b'<') | (b == b'>') | (b == b'\r')
    });
    if plain {
        return out.put(s.as_bytes());
    }
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

fn escape_attr<W: Write>(out: &mut Output<'_, W>, s: &str) -> io::Result<()> {
    let plain = !s.bytes().fold(false, |acc, b| {
        acc | (b == b'&') | (b == b'<') | (b == b'"') | (b < 0x20)
    });
    if plain {
        return out.put(s.as_bytes());
    }
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

#[inline]
fn escape<W: Write>(
    out: &mut Output<'_, W>,
    s: &str,
    replacement: impl Fn(u8) -> Option<&'static [u8]>,
) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if let Some(rep) = replacement(*b) {
            out.put(bytes.get(start..i).unwrap_or(&[]))?;
            out.put(rep)?;
            start = i + 1;
        }
    }
    out.put(bytes.get(start..).unwrap_or(&[]))
}
