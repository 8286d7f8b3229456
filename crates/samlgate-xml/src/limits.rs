//! Hard limits applied while parsing hostile input.

/// Bounds on what the parser accepts; every one is checked before the
/// allocation it guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_document_bytes: usize,
    /// Deepest element nesting accepted (the root element is depth 1).
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes_per_element: usize,
    /// Most nodes (elements, text, comments, PIs) in one document.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 1024 * 1024,
            max_depth: 64,
            max_attributes_per_element: 256,
            max_nodes: 200_000,
        }
    }
}
