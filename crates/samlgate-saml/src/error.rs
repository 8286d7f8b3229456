//! The SAML layer's error type.

use samlgate_dsig::DsigError;
use samlgate_xml::{Reason, XmlError};
use thiserror::Error;

/// Why a SAML message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SamlError {
    /// The transport encoding or the XML failed.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A signature or decryption failed.
    #[error(transparent)]
    Dsig(#[from] DsigError),
    /// A SAML rule failed.
    #[error("{detail}")]
    Policy {
        /// The stable code.
        reason: Reason,
        /// Text for a human.
        detail: String,
    },
    /// The replay store could not be asked. The reason code is `replayed`
    /// (fail closed: an assertion that cannot be checked is refused, within
    /// the `verify` contract's codes); a gateway can tell this case apart
    /// by the variant and report its own `store_unavailable`.
    #[error("replay store unavailable: {detail}")]
    ReplayStoreUnavailable {
        /// What the store reported.
        detail: String,
    },
}

impl SamlError {
    /// The stable reason code for this error.
    pub fn reason(&self) -> Reason {
        match self {
            SamlError::Xml(e) => e.reason(),
            SamlError::Dsig(e) => e.reason(),
            SamlError::Policy { reason, .. } => *reason,
            SamlError::ReplayStoreUnavailable { .. } => Reason::Replayed,
        }
    }

    /// A policy failure with a reason and a message.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        SamlError::Policy {
            reason,
            detail: detail.into(),
        }
    }
}

/// Shorthand for a policy failure.
pub(crate) fn fail<T>(reason: Reason, detail: impl Into<String>) -> Result<T, SamlError> {
    Err(SamlError::new(reason, detail))
}
