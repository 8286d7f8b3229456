//! Single Logout messages out (SAML core §3.7, profiles §4.4): the
//! LogoutRequest an SP (or the demo IdP) sends, and the LogoutResponse that
//! answers one, each in the HTTP-Redirect binding (detached rsa-sha256
//! signature over the query) or the HTTP-POST binding (enveloped
//! signature). Logout messages on the front channel are always signed, so
//! every sender here takes a key.

use samlgate_dsig::{sign_enveloped, DsigError, SigningKey};

use crate::binding;
use crate::ns::{
    ASSERTION, PROTOCOL, STATUS_PARTIAL_LOGOUT, STATUS_REQUESTER, STATUS_REQUEST_DENIED,
    STATUS_RESPONDER, STATUS_SUCCESS,
};
use crate::sp_metadata::xml_escape;
use crate::time::Instant;

/// A SAML NameID with its qualifiers. A LogoutRequest must name the
/// principal exactly as the assertion did (core §3.7.1: value, Format,
/// NameQualifier and SPNameQualifier), so all four travel together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NameId {
    /// The identifier (element text; comments dropped, all text kept).
    pub value: String,
    /// The Format attribute.
    pub format: Option<String>,
    /// The NameQualifier attribute.
    pub name_qualifier: Option<String>,
    /// The SPNameQualifier attribute.
    pub sp_name_qualifier: Option<String>,
}

impl NameId {
    /// The `saml:NameID` element (prefix `saml`).
    pub fn to_xml(&self) -> String {
        let mut attrs = String::new();
        for (name, value) in [
            ("Format", &self.format),
            ("NameQualifier", &self.name_qualifier),
            ("SPNameQualifier", &self.sp_name_qualifier),
        ] {
            if let Some(v) = value {
                attrs.push_str(&format!(" {name}=\"{}\"", xml_escape(v)));
            }
        }
        format!(
            "<saml:NameID{attrs}>{}</saml:NameID>",
            xml_escape(&self.value)
        )
    }
}

/// A LogoutRequest to build and send.
#[derive(Debug, Clone)]
pub struct LogoutRequest<'a> {
    /// Request ID (an NCName: start with `_`); the LogoutResponse's
    /// expected InResponseTo.
    pub id: &'a str,
    /// IssueInstant.
    pub issue_instant: Instant,
    /// The recipient's SingleLogoutService Location.
    pub destination: &'a str,
    /// The sender's entity ID.
    pub issuer: &'a str,
    /// The principal, exactly as the assertion named it.
    pub name_id: &'a NameId,
    /// The SessionIndex values to end; empty: every session of the
    /// principal (core §3.7.3.2).
    pub session_indexes: &'a [String],
    /// Until when the request may be acted upon.
    pub not_on_or_after: Option<Instant>,
    /// The Reason attribute (`urn:oasis:names:tc:SAML:2.0:logout:user`...).
    pub reason: Option<&'a str>,
}

impl LogoutRequest<'_> {
    /// The XML text.
    pub fn to_xml(&self) -> String {
        let not_on_or_after = self
            .not_on_or_after
            .map(|t| format!(" NotOnOrAfter=\"{t}\""))
            .unwrap_or_default();
        let reason = self
            .reason
            .map(|r| format!(" Reason=\"{}\"", xml_escape(r)))
            .unwrap_or_default();
        let sessions: String = self
            .session_indexes
            .iter()
            .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(s)))
            .collect();
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"{}\" \
Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"{not_on_or_after}{reason}>\
<saml:Issuer>{}</saml:Issuer>{}{sessions}</samlp:LogoutRequest>",
            xml_escape(self.id),
            self.issue_instant,
            xml_escape(self.destination),
            xml_escape(self.issuer),
            self.name_id.to_xml(),
        )
    }

    /// The HTTP-Redirect binding URL: `SAMLRequest`, `RelayState` when
    /// given, `SigAlg` (rsa-sha256) and `Signature` over the first three
    /// exactly as they appear in the URL.
    pub fn redirect_url(
        &self,
        relay_state: Option<&str>,
        key: &SigningKey,
    ) -> Result<String, DsigError> {
        binding::redirect_url(
            self.destination,
            "SAMLRequest",
            self.to_xml().as_bytes(),
            relay_state,
            Some(key),
        )
    }

    /// The LogoutRequest with an enveloped signature (after the Issuer).
    pub fn signed_xml(&self, key: &SigningKey) -> Result<Vec<u8>, DsigError> {
        sign_enveloped(self.to_xml().as_bytes(), self.id, key)
    }

    /// The HTTP-POST binding: an auto-submitting HTML form carrying the
    /// signed LogoutRequest.
    pub fn post_form(
        &self,
        relay_state: Option<&str>,
        key: &SigningKey,
    ) -> Result<String, DsigError> {
        Ok(binding::post_form(
            self.destination,
            "SAMLRequest",
            &self.signed_xml(key)?,
            relay_state,
            "Signing out",
        ))
    }
}

/// The outcome a LogoutResponse reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutStatus {
    /// Every session the request named was ended.
    Success,
    /// Not all of them could be ended (`Responder` / `PartialLogout`): the
    /// gateway's answer when the revocation could not be stored.
    PartialLogout,
    /// The request was understood and refused (`Requester` /
    /// `RequestDenied`).
    RequestDenied,
}

impl LogoutStatus {
    /// The top-level StatusCode Value.
    pub fn top_level(self) -> &'static str {
        match self {
            LogoutStatus::Success => STATUS_SUCCESS,
            LogoutStatus::PartialLogout => STATUS_RESPONDER,
            LogoutStatus::RequestDenied => STATUS_REQUESTER,
        }
    }

    /// The second-level StatusCode Value, if any.
    pub fn second_level(self) -> Option<&'static str> {
        match self {
            LogoutStatus::Success => None,
            LogoutStatus::PartialLogout => Some(STATUS_PARTIAL_LOGOUT),
            LogoutStatus::RequestDenied => Some(STATUS_REQUEST_DENIED),
        }
    }
}

/// A LogoutResponse to build and send.
#[derive(Debug, Clone)]
pub struct LogoutResponse<'a> {
    /// Response ID (an NCName: start with `_`).
    pub id: &'a str,
    /// IssueInstant.
    pub issue_instant: Instant,
    /// Where it goes: the recipient's SingleLogoutService ResponseLocation
    /// when its metadata gives one, else its Location
    /// ([`crate::Endpoint::response_url`]).
    pub destination: &'a str,
    /// The sender's entity ID.
    pub issuer: &'a str,
    /// The ID of the LogoutRequest answered.
    pub in_response_to: Option<&'a str>,
    /// The outcome.
    pub status: LogoutStatus,
    /// A StatusMessage for a human, if any.
    pub status_message: Option<&'a str>,
}

impl LogoutResponse<'_> {
    /// The XML text.
    pub fn to_xml(&self) -> String {
        let in_response_to = self
            .in_response_to
            .map(|id| format!(" InResponseTo=\"{}\"", xml_escape(id)))
            .unwrap_or_default();
        let top = self.status.top_level();
        let code = match self.status.second_level() {
            Some(second) => format!(
                "<samlp:StatusCode Value=\"{top}\"><samlp:StatusCode Value=\"{second}\"/></samlp:StatusCode>"
            ),
            None => format!("<samlp:StatusCode Value=\"{top}\"/>"),
        };
        let message = self
            .status_message
            .map(|m| {
                format!(
                    "<samlp:StatusMessage>{}</samlp:StatusMessage>",
                    xml_escape(m)
                )
            })
            .unwrap_or_default();
        format!(
            "<samlp:LogoutResponse xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"{}\" \
Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"{in_response_to}>\
<saml:Issuer>{}</saml:Issuer><samlp:Status>{code}{message}</samlp:Status></samlp:LogoutResponse>",
            xml_escape(self.id),
            self.issue_instant,
            xml_escape(self.destination),
            xml_escape(self.issuer),
        )
    }

    /// The HTTP-Redirect binding URL: `SAMLResponse`, `RelayState` when
    /// given (echo the request's), `SigAlg` and `Signature`.
    pub fn redirect_url(
        &self,
        relay_state: Option<&str>,
        key: &SigningKey,
    ) -> Result<String, DsigError> {
        binding::redirect_url(
            self.destination,
            "SAMLResponse",
            self.to_xml().as_bytes(),
            relay_state,
            Some(key),
        )
    }

    /// The LogoutResponse with an enveloped signature (after the Issuer).
    pub fn signed_xml(&self, key: &SigningKey) -> Result<Vec<u8>, DsigError> {
        sign_enveloped(self.to_xml().as_bytes(), self.id, key)
    }

    /// The HTTP-POST binding: an auto-submitting HTML form carrying the
    /// signed LogoutResponse.
    pub fn post_form(
        &self,
        relay_state: Option<&str>,
        key: &SigningKey,
    ) -> Result<String, DsigError> {
        Ok(binding::post_form(
            self.destination,
            "SAMLResponse",
            &self.signed_xml(key)?,
            relay_state,
            "Signing out",
        ))
    }
}

#[cfg(test)]
#[path = "logout_tests.rs"]
mod tests;
