//! The verified results of Single Logout validation: private fields,
//! filled only by [`crate::LogoutValidator`] from the element that the
//! verified signature covered.

use samlgate_xml::Reason;

use crate::error::fail;
use crate::logout::NameId;
use crate::time::Instant;
use crate::validate::clip;
use crate::SamlError;

/// A verified logout message: which of the two arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifiedLogout {
    /// A LogoutRequest (IdP-initiated logout).
    Request(VerifiedLogoutRequest),
    /// A LogoutResponse (the answer to our LogoutRequest).
    Response(VerifiedLogoutResponse),
}

/// A LogoutRequest whose signature verified and whose Issuer, Destination
/// and times passed. Built only from the element the signature covered.
/// Replay of its ID is for the caller to check (through its store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogoutRequest {
    pub(crate) issuer: String,
    pub(crate) id: String,
    pub(crate) issue_instant: Instant,
    pub(crate) not_on_or_after: Option<Instant>,
    pub(crate) name_id: NameId,
    pub(crate) session_indexes: Vec<String>,
    pub(crate) relay_state: Option<String>,
    pub(crate) signing_key: String,
    pub(crate) binding: &'static str,
}

impl VerifiedLogoutRequest {
    /// The Issuer (the IdP's entity ID).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The request ID: the replay key (with the issuer), and the
    /// LogoutResponse's InResponseTo.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// IssueInstant.
    pub fn issue_instant(&self) -> Instant {
        self.issue_instant
    }
    /// NotOnOrAfter: until when assertions for this principal issued
    /// before the logout must be refused (core §3.7.3.1).
    pub fn not_on_or_after(&self) -> Option<Instant> {
        self.not_on_or_after
    }
    /// The principal, with its qualifiers as sent.
    pub fn name_id(&self) -> &NameId {
        &self.name_id
    }
    /// The SessionIndex values; empty: every session of the principal.
    pub fn session_indexes(&self) -> &[String] {
        &self.session_indexes
    }
    /// The decoded RelayState, to echo in the LogoutResponse. Covered by
    /// the signature in the Redirect binding; not in the POST binding,
    /// which signs only the XML.
    pub fn relay_state(&self) -> Option<&str> {
        self.relay_state.as_deref()
    }
    /// Fingerprint of the key that verified the signature.
    pub fn signing_key(&self) -> &str {
        &self.signing_key
    }
    /// The binding it arrived on (BINDING_HTTP_REDIRECT or BINDING_HTTP_POST).
    pub fn binding(&self) -> &'static str {
        self.binding
    }
}

/// The status a LogoutResponse carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedStatus {
    /// The top-level StatusCode Value.
    pub top_level: String,
    /// The nested StatusCode Value, if any (PartialLogout, RequestDenied…).
    pub second_level: Option<String>,
    /// The StatusMessage, if any.
    pub message: Option<String>,
}

impl ReceivedStatus {
    /// Top-level Success with no second-level code (a Success with
    /// PartialLogout under it is not a full logout).
    pub fn is_success(&self) -> bool {
        self.top_level == crate::ns::STATUS_SUCCESS && self.second_level.is_none()
    }
}

/// A LogoutResponse whose signature verified and whose Issuer,
/// Destination, IssueInstant and InResponseTo passed. Its status may still
/// say the IdP did not log out everywhere: see
/// [`VerifiedLogoutResponse::ensure_success`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogoutResponse {
    pub(crate) issuer: String,
    pub(crate) id: String,
    pub(crate) issue_instant: Instant,
    pub(crate) in_response_to: String,
    pub(crate) status: ReceivedStatus,
    pub(crate) relay_state: Option<String>,
    pub(crate) signing_key: String,
    pub(crate) binding: &'static str,
}

impl VerifiedLogoutResponse {
    /// The Issuer (the IdP's entity ID).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The response ID.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// IssueInstant.
    pub fn issue_instant(&self) -> Instant {
        self.issue_instant
    }
    /// The ID of our LogoutRequest that it answers (already checked).
    pub fn in_response_to(&self) -> &str {
        &self.in_response_to
    }
    /// The status codes and message.
    pub fn status(&self) -> &ReceivedStatus {
        &self.status
    }
    /// `status_not_success` unless the IdP reports a complete logout.
    pub fn ensure_success(&self) -> Result<(), SamlError> {
        if self.status.is_success() {
            return Ok(());
        }
        let second = self
            .status
            .second_level
            .as_deref()
            .map(|s| format!(" / {}", clip(s)))
            .unwrap_or_default();
        fail(
            Reason::StatusNotSuccess,
            format!("logout status is {}{second}", clip(&self.status.top_level)),
        )
    }
    /// The decoded RelayState (signed in the Redirect binding only).
    pub fn relay_state(&self) -> Option<&str> {
        self.relay_state.as_deref()
    }
    /// Fingerprint of the key that verified the signature.
    pub fn signing_key(&self) -> &str {
        &self.signing_key
    }
    /// The binding it arrived on.
    pub fn binding(&self) -> &'static str {
        self.binding
    }
}
