//! Entry points for the cargo-fuzz targets and their stable seed test.

use crate::{canonicalize_to_vec, C14nMethod, C14nOptions, Document, Limits, NodeId};

/// Parses arbitrary bytes; must never panic.
pub fn xml_parse(data: &[u8]) {
    let _ = Document::parse(data, &Limits::default());
}

/// Parses, then canonicalizes with every method at every element; must
/// never panic, and the verbatim-copy fast path must agree byte for byte
/// with the piecewise reference (a disagreement panics, so the fuzzer
/// reports it).
pub fn c14n(data: &[u8]) {
    let Ok(doc) = Document::parse(data, &Limits::default()) else {
        return;
    };
    let prefixes = ["#default", "xs", "saml"];
    for method in [
        C14nMethod::Exclusive,
        C14nMethod::Inclusive10,
        C14nMethod::Inclusive11,
    ] {
        for with_comments in [false, true] {
            for inclusive_prefixes in [&prefixes[..], &[]] {
                let options = C14nOptions {
                    method,
                    with_comments,
                    inclusive_prefixes,
                    exclude: None,
                };
                check_fast_path(&doc, None, &options);
                for el in doc.elements().take(32) {
                    check_fast_path(&doc, Some(el), &options);
                    // Each element's first child element stands in for an
                    // enveloped signature.
                    let exclude = doc.child_elements(el).next();
                    let options = C14nOptions { exclude, ..options };
                    check_fast_path(&doc, Some(el), &options);
                }
            }
        }
    }
}

#[allow(clippy::panic)] // the fuzzer's way to report a difference
fn check_fast_path(doc: &Document<'_>, apex: Option<NodeId>, options: &C14nOptions<'_>) {
    let fast = canonicalize_to_vec(doc, apex, options);
    let piecewise = canonicalize_piecewise_to_vec(doc, apex, options);
    if fast != piecewise {
        panic!(
            "c14n fast path differs at {apex:?} with {options:?}:\n fast:      {}\n piecewise: {}",
            String::from_utf8_lossy(&fast).escape_debug(),
            String::from_utf8_lossy(&piecewise).escape_debug()
        );
    }
}

/// Canonicalizes with the fast path; also returns how many output bytes
/// were copied from the input rather than written piece by piece.
pub fn canonicalize_counting_copies(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
) -> (Vec<u8>, usize) {
    let mut v = Vec::new();
    // Writing into a Vec cannot fail.
    let copied = crate::c14n::canonicalize_counting_copies(doc, apex, options, &mut v).unwrap_or(0);
    (v, copied)
}

/// Canonicalizes without copying verbatim input spans: every byte is built
/// from the tree, piece by piece. The reference that the fast path
/// ([`crate::canonicalize`]) is tested against.
pub fn canonicalize_piecewise_to_vec(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
) -> Vec<u8> {
    let mut v = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = crate::c14n::canonicalize_piecewise(doc, apex, options, &mut v);
    v
}
