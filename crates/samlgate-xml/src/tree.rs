//! The parsed document: an arena of nodes that borrow from the input.

use std::borrow::Cow;

/// The namespace URI bound to the `xml` prefix.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node in its document's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The position of this node in document order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub(crate) const NONE: u32 = u32::MAX;
/// Namespace-declaration index meaning "no namespace".
pub(crate) const NO_NS: u32 = u32::MAX;
/// Namespace-declaration index of the implicit `xml` prefix binding.
pub(crate) const XML_NS_DECL: u32 = 0;

/// Node flag (element): the end tag is exactly `</qname>`.
pub(crate) const RAW_END: u8 = 2;
/// Node flag (text): a plain text run (no CDATA) without `&`, `>` or CR,
/// so its bytes are its canonical form.
pub(crate) const RAW_TEXT: u8 = 4;
/// Node flag (element): written in the empty-element form `<qname .../>`.
pub(crate) const EMPTY_TAG: u8 = 8;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// An element.
    Element,
    /// Character data (text, CDATA, references already expanded).
    Text,
    /// A comment.
    Comment,
    /// A processing instruction.
    ProcessingInstruction,
}

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct Node<'a> {
    pub(crate) kind: NodeKind,
    pub(crate) parent: u32,
    pub(crate) first_child: u32,
    pub(crate) last_child: u32,
    pub(crate) next_sibling: u32,
    /// Element: prefix ("" when none). PI: target.
    pub(crate) prefix: &'a str,
    /// Element: local name.
    pub(crate) local: &'a str,
    /// Element: index of the namespace declaration that binds it, or NO_NS.
    pub(crate) ns: u32,
    pub(crate) attrs_start: u32,
    pub(crate) attrs_end: u32,
    pub(crate) decls_start: u32,
    pub(crate) decls_end: u32,
    /// Text and comment content; PI data.
    pub(crate) text: Cow<'a, str>,
    /// Byte range of the node's markup in the input (for elements: start tag
    /// to end tag inclusive).
    pub(crate) span_start: u32,
    pub(crate) span_end: u32,
    /// Element: one past the `>` of the start tag.
    pub(crate) start_tag_end: u32,
    /// [`RAW_END`], [`RAW_TEXT`], [`EMPTY_TAG`]: facts the parser saw that
    /// let canonicalization copy input bytes instead of rewriting them.
    pub(crate) flags: u8,
}

impl Node<'static> {
    /// Every field empty. The parser pushes this and fills the pushed node
    /// in place: a node built on the stack and then moved into the arena is
    /// written twice and read back between (measurably slower).
    pub(crate) const BLANK: Node<'static> = Node {
        kind: NodeKind::Element,
        parent: NONE,
        first_child: NONE,
        last_child: NONE,
        next_sibling: NONE,
        prefix: "",
        local: "",
        ns: NO_NS,
        attrs_start: 0,
        attrs_end: 0,
        decls_start: 0,
        decls_end: 0,
        text: Cow::Borrowed(""),
        span_start: 0,
        span_end: 0,
        start_tag_end: 0,
        flags: 0,
    };
}

/// An attribute of an element (namespace declarations are kept apart).
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct Attribute<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) local: &'a str,
    pub(crate) ns: u32,
    pub(crate) value: Cow<'a, str>,
    /// Like [`NamespaceDecl`]'s `item`: where ` qname="value"` is written
    /// verbatim, or (0, 0).
    pub(crate) item: (u32, u32),
}

/// A namespace declaration (`xmlns` or `xmlns:p`).
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub struct NamespaceDecl<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) uri: Cow<'a, str>,
    /// Byte range of ` xmlns:p="uri"` in the input when it is written
    /// exactly so (one space before it, nothing around `=`, double quotes)
    /// with a URI that needs no escaping, which is how c14n writes it;
    /// (0, 0) otherwise. c14n copies it from there.
    pub(crate) item: (u32, u32),
}

impl<'a> NamespaceDecl<'a> {
    /// The declared prefix; "" for the default namespace.
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }
    /// The namespace URI; "" undeclares the default namespace.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

/// A parsed, well-formed, namespace-valid XML document.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// The parsed text (after any BOM); node spans index into it.
    pub(crate) input: &'a str,
    pub(crate) nodes: Vec<Node<'a>>,
    pub(crate) attrs: Vec<Attribute<'a>>,
    /// Index 0 is the implicit `xml` binding.
    pub(crate) decls: Vec<NamespaceDecl<'a>>,
    /// Comments, PIs and the root element at document level, in order.
    pub(crate) top_level: Vec<u32>,
    pub(crate) root: u32,
}

/// A view of one attribute together with its document.
#[derive(Debug, Clone, Copy)]
pub struct AttrRef<'d, 'a> {
    doc: &'d Document<'a>,
    attr: &'d Attribute<'a>,
}

impl<'d, 'a> AttrRef<'d, 'a> {
    /// The prefix as written ("" when unqualified).
    pub fn prefix(&self) -> &'a str {
        self.attr.prefix
    }
    /// The local name.
    pub fn local_name(&self) -> &'a str {
        self.attr.local
    }
    /// The namespace URI, if the attribute is qualified.
    pub fn namespace(&self) -> Option<&'d str> {
        self.doc.ns_uri(self.attr.ns)
    }
    /// The normalized, reference-expanded value.
    pub fn value(&self) -> &'d str {
        &self.attr.value
    }
}

impl<'a> Document<'a> {
    /// The root element.
    pub fn root(&self) -> NodeId {
        NodeId(self.root)
    }

    /// Number of nodes in the arena.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node(&self, id: NodeId) -> Option<&Node<'a>> {
        self.nodes.get(id.index())
    }

    pub(crate) fn ns_uri(&self, decl: u32) -> Option<&str> {
        if decl == NO_NS {
            return None;
        }
        self.decls.get(decl as usize).map(|d| d.uri.as_ref())
    }

    /// The kind of a node.
    pub fn kind(&self, id: NodeId) -> Option<NodeKind> {
        self.node(id).map(|n| n.kind)
    }

    /// True when the node is an element.
    pub fn is_element(&self, id: NodeId) -> bool {
        self.kind(id) == Some(NodeKind::Element)
    }

    /// The element's local name ("" for other nodes).
    pub fn local_name(&self, id: NodeId) -> &'a str {
        self.node(id)
            .filter(|n| n.kind == NodeKind::Element)
            .map_or("", |n| n.local)
    }

    /// The element's prefix as written ("" when none).
    pub fn prefix(&self, id: NodeId) -> &'a str {
        self.node(id)
            .filter(|n| n.kind == NodeKind::Element)
            .map_or("", |n| n.prefix)
    }

    /// The element's namespace URI, if any.
    pub fn namespace(&self, id: NodeId) -> Option<&str> {
        self.node(id)
            .filter(|n| n.kind == NodeKind::Element)
            .and_then(|n| self.ns_uri(n.ns))
    }

    /// True when the node is an element with this namespace and local name.
    pub fn is(&self, id: NodeId, namespace: &str, local: &str) -> bool {
        // Called for every child in every lookup by name: one node read,
        // the (short) local name first, without a `memcmp` call.
        self.node(id).is_some_and(|n| {
            n.kind == NodeKind::Element
                && crate::scan::same_bytes(n.local.as_bytes(), local.as_bytes())
                && self.ns_uri(n.ns) == Some(namespace)
        })
    }

    /// The parent node (None for the root element and top-level nodes).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.node(id)
            .map(|n| n.parent)
            .filter(|p| *p != NONE)
            .map(NodeId)
    }

    /// All child nodes in order.
    pub fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children {
            doc: self,
            next: self.node(id).map_or(NONE, |n| n.first_child),
        }
    }

    /// Child elements in order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id).filter(|c| self.is_element(*c))
    }

    /// Child elements with this namespace and local name.
    pub fn children_named<'s>(
        &'s self,
        id: NodeId,
        namespace: &'s str,
        local: &'s str,
    ) -> impl Iterator<Item = NodeId> + 's {
        self.children(id)
            .filter(move |c| self.is(*c, namespace, local))
    }

    /// The first child element with this namespace and local name.
    pub fn first_child_named(&self, id: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
        self.children_named(id, namespace, local).next()
    }

    /// Every node of the subtree rooted at `id` (itself included), in
    /// document order. Nodes are stored in document order, so a subtree is a
    /// contiguous range of the arena.
    pub fn descendants(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let end = self.subtree_end(id);
        (id.0..end).map(NodeId)
    }

    /// Every element in the document in document order.
    pub fn elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|n| self.is_element(*n))
    }

    /// One past the last arena index of the subtree rooted at `id`.
    pub(crate) fn subtree_end(&self, id: NodeId) -> u32 {
        let mut cur = id.0;
        loop {
            let Some(n) = self.nodes.get(cur as usize) else {
                return cur;
            };
            if n.last_child != NONE {
                cur = n.last_child;
            } else {
                return cur + 1;
            }
        }
    }

    /// True when `node` is `ancestor` or lies inside it.
    pub fn is_inside(&self, node: NodeId, ancestor: NodeId) -> bool {
        node.0 >= ancestor.0 && node.0 < self.subtree_end(ancestor)
    }

    /// Depth of a node: 1 for the root element.
    pub fn depth(&self, id: NodeId) -> usize {
        let mut depth = 0;
        let mut cur = Some(id);
        while let Some(c) = cur {
            depth += 1;
            cur = self.parent(c);
        }
        depth
    }

    /// The element's attributes (namespace declarations excluded), in
    /// document order.
    pub fn attributes(&self, id: NodeId) -> impl Iterator<Item = AttrRef<'_, 'a>> + '_ {
        let range = self
            .node(id)
            .filter(|n| n.kind == NodeKind::Element)
            .map_or(0..0, |n| n.attrs_start as usize..n.attrs_end as usize);
        self.attrs
            .get(range)
            .unwrap_or(&[])
            .iter()
            .map(move |attr| AttrRef { doc: self, attr })
    }

    /// The value of the unqualified attribute `local`.
    pub fn attr(&self, id: NodeId, local: &str) -> Option<&str> {
        let n = self.node(id).filter(|n| n.kind == NodeKind::Element)?;
        self.attrs
            .get(n.attrs_start as usize..n.attrs_end as usize)?
            .iter()
            .find(|a| {
                a.ns == NO_NS && crate::scan::same_bytes(a.local.as_bytes(), local.as_bytes())
            })
            .map(|a| a.value.as_ref())
    }

    /// The values of every unqualified attribute named `local`, in the
    /// whole document, in document order (one pass over the attributes).
    pub fn unqualified_attribute_values<'s>(
        &'s self,
        local: &'s str,
    ) -> impl Iterator<Item = &'s str> + 's {
        self.attrs
            .iter()
            .filter(move |a| {
                a.ns == NO_NS && crate::scan::same_bytes(a.local.as_bytes(), local.as_bytes())
            })
            .map(|a| a.value.as_ref())
    }

    /// The value of the attribute `{namespace}local`.
    pub fn attr_ns(&self, id: NodeId, namespace: &str, local: &str) -> Option<&str> {
        self.attributes(id)
            .find(|a| a.attr.local == local && a.namespace() == Some(namespace))
            .map(|a| a.value())
    }

    /// The namespace declarations written on this element.
    pub fn namespace_decls(&self, id: NodeId) -> &[NamespaceDecl<'a>] {
        let range = self
            .node(id)
            .filter(|n| n.kind == NodeKind::Element)
            .map_or(0..0, |n| n.decls_start as usize..n.decls_end as usize);
        self.decls.get(range).unwrap_or(&[])
    }

    /// The URI bound to `prefix` ("" for the default namespace) at this
    /// element; None when unbound (or the default namespace is empty).
    pub fn lookup_namespace(&self, id: NodeId, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NAMESPACE);
        }
        let mut cur = Some(id);
        while let Some(c) = cur {
            if let Some(d) = self.namespace_decls(c).iter().find(|d| d.prefix == prefix) {
                return Some(d.uri.as_ref()).filter(|u| !u.is_empty());
            }
            cur = self.parent(c);
        }
        None
    }

    /// Text, comment or PI content of a non-element node.
    pub fn node_text(&self, id: NodeId) -> &str {
        self.node(id)
            .filter(|n| n.kind != NodeKind::Element)
            .map_or("", |n| n.text.as_ref())
    }

    /// The target of a processing instruction.
    pub fn pi_target(&self, id: NodeId) -> &'a str {
        self.node(id)
            .filter(|n| n.kind == NodeKind::ProcessingInstruction)
            .map_or("", |n| n.prefix)
    }

    /// The element's text: every descendant text node concatenated, comments
    /// and processing instructions skipped. `a<!---->b` is `ab`, never `a`.
    /// Borrowed when there is a single text node.
    pub fn text_content(&self, id: NodeId) -> Cow<'_, str> {
        let mut texts = self
            .descendants(id)
            .filter_map(|n| self.node(n))
            .filter(|n| n.kind == NodeKind::Text);
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        let Some(second) = texts.next() else {
            return Cow::Borrowed(first.text.as_ref());
        };
        let mut out = String::with_capacity(first.text.len() + second.text.len());
        out.push_str(&first.text);
        out.push_str(&second.text);
        for t in texts {
            out.push_str(&t.text);
        }
        Cow::Owned(out)
    }

    /// Byte range of the node's markup in the input.
    pub fn span(&self, id: NodeId) -> std::ops::Range<usize> {
        self.node(id)
            .map_or(0..0, |n| n.span_start as usize..n.span_end as usize)
    }

    /// Top-level nodes (comments, PIs and the root element) in order.
    pub fn top_level(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.top_level.iter().copied().map(NodeId)
    }
}

/// Iterator over the children of a node.
#[derive(Debug, Clone)]
pub struct Children<'d, 'a> {
    doc: &'d Document<'a>,
    next: u32,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let id = NodeId(self.next);
        self.next = self.doc.node(id).map_or(NONE, |n| n.next_sibling);
        Some(id)
    }
}
