//! The parser's error type.

use crate::Reason;
use thiserror::Error;

/// Why a document was refused by the parser.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum XmlError {
    /// A DOCTYPE declaration was found; DTDs are never processed.
    #[error("document type declarations are forbidden")]
    ForbiddenDtd,
    /// A limit was exceeded.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// The document is not well-formed, namespace-valid UTF-8 XML.
    #[error("malformed xml at byte {offset}: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
        /// Byte offset in the input where the problem was noticed.
        offset: usize,
    },
}

impl XmlError {
    /// The stable reason code for this error.
    pub fn reason(&self) -> Reason {
        match self {
            XmlError::ForbiddenDtd => Reason::ForbiddenDtd,
            XmlError::TooLarge { .. } => Reason::TooLarge,
            XmlError::Malformed { .. } => Reason::MalformedXml,
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>, offset: usize) -> Self {
        XmlError::Malformed {
            detail: detail.into(),
            offset,
        }
    }
}
