//! Hardened, zero-copy XML for samlgate.
//!
//! One parse, by a single-pass tokenizer of our own, into an arena of nodes
//! that borrow from the input; namespace resolution; hard limits; no DTDs; canonicalization
//! (Exclusive XML C14N 1.0, Canonical XML 1.0 and 1.1) that streams into any
//! writer. This crate knows nothing of signatures or SAML.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod c14n;
mod c14n_output;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod lexer;
mod limits;
mod parse;
#[cfg(test)]
mod parse_differential;
mod reason;
#[cfg(test)]
mod reference_parse;
mod scan;
mod text;
mod tree;

pub use c14n::{canonicalize, canonicalize_to_vec, C14nMethod, C14nOptions};
pub use error::XmlError;
pub use limits::Limits;
pub use reason::Reason;
pub use tree::{AttrRef, Children, Document, NamespaceDecl, NodeId, NodeKind, XML_NAMESPACE};

#[cfg(test)]
mod tests;
