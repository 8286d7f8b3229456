//! Entry points for the cargo-fuzz targets and their stable seed test.

use crate::{canonicalize_to_vec, C14nMethod, C14nOptions, Document, Limits};

/// Parses arbitrary bytes; must never panic.
pub fn xml_parse(data: &[u8]) {
    let _ = Document::parse(data, &Limits::default());
}

/// Parses, then canonicalizes with every method at every element; must
/// never panic.
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
            let options = C14nOptions {
                method,
                with_comments,
                inclusive_prefixes: &prefixes,
                exclude: None,
            };
            let _ = canonicalize_to_vec(&doc, None, &options);
            for el in doc.elements().take(32) {
                let _ = canonicalize_to_vec(&doc, Some(el), &options);
            }
        }
    }
}
