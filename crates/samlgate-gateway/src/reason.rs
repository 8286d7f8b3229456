//! Why the gateway refused or could not serve a request: one enum for the
//! code (metric label, log field, page), the HTTP status and the sentence
//! the page shows. The engine's codes (the `samlgate verify` contract) are
//! one variant; the rest are the gateway's own, listed in README.md's
//! "Gateway reason codes" table (a test keeps the two equal).

use samlgate_saml::Reason;

/// A refusal or failure of the gateway, with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayReason {
    /// A refusal by the validation engine.
    Engine(Reason),
    /// RelayState too long or not ours.
    RelayStateInvalid,
    /// A verified value that cannot go into a header (CR, LF, NUL).
    InvalidAttributeValue,
    /// A route's attribute rule failed.
    AccessDenied,
    /// The replay and revocation store could not answer.
    StoreUnavailable,
    /// A logout (IdP LogoutRequest, or an admin revocation) for this
    /// subject or SessionIndex came before this assertion (SAML core
    /// §3.7.3.1).
    LoggedOut,
    /// The session outgrew the cookie budget.
    SessionTooLarge,
    /// The request path is not one the gateway can route safely.
    PathInvalid,
    /// An absolute-form request target names another host than `Host`.
    HostMismatch,
    /// No session (API clients get 401 instead of a redirect).
    Unauthenticated,
    /// No route for this host and path.
    NotFound,
    /// The endpoint does not take this method.
    MethodNotAllowed,
    /// The request could not be forwarded as sent.
    BadRequest,
    /// The backend could not be reached.
    UpstreamUnavailable,
    /// The backend did not answer in time.
    UpstreamTimeout,
    /// The IdP's metadata is not loaded.
    IdpUnavailable,
    /// The IdP's metadata has no endpoint for the configured binding.
    IdpEndpointMissing,
    /// Something failed inside the gateway.
    Internal,
}

impl GatewayReason {
    /// Every code of the gateway's own (the engine's are `Reason::ALL`).
    pub const OWN: [GatewayReason; 17] = [
        GatewayReason::RelayStateInvalid,
        GatewayReason::InvalidAttributeValue,
        GatewayReason::AccessDenied,
        GatewayReason::StoreUnavailable,
        GatewayReason::LoggedOut,
        GatewayReason::SessionTooLarge,
        GatewayReason::PathInvalid,
        GatewayReason::HostMismatch,
        GatewayReason::Unauthenticated,
        GatewayReason::NotFound,
        GatewayReason::MethodNotAllowed,
        GatewayReason::BadRequest,
        GatewayReason::UpstreamUnavailable,
        GatewayReason::UpstreamTimeout,
        GatewayReason::IdpUnavailable,
        GatewayReason::IdpEndpointMissing,
        GatewayReason::Internal,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            GatewayReason::Engine(r) => r.as_str(),
            GatewayReason::RelayStateInvalid => "relay_state_invalid",
            GatewayReason::InvalidAttributeValue => "invalid_attribute_value",
            GatewayReason::AccessDenied => "access_denied",
            GatewayReason::StoreUnavailable => "store_unavailable",
            GatewayReason::LoggedOut => "logged_out",
            GatewayReason::SessionTooLarge => "session_too_large",
            GatewayReason::PathInvalid => "path_invalid",
            GatewayReason::HostMismatch => "host_mismatch",
            GatewayReason::Unauthenticated => "unauthenticated",
            GatewayReason::NotFound => "not_found",
            GatewayReason::MethodNotAllowed => "method_not_allowed",
            GatewayReason::BadRequest => "bad_request",
            GatewayReason::UpstreamUnavailable => "upstream_unavailable",
            GatewayReason::UpstreamTimeout => "upstream_timeout",
            GatewayReason::IdpUnavailable => "idp_unavailable",
            GatewayReason::IdpEndpointMissing => "idp_endpoint_missing",
            GatewayReason::Internal => "internal",
        }
    }

    /// The HTTP status of the page.
    pub fn status(self) -> u16 {
        match self {
            GatewayReason::Engine(
                Reason::MalformedInput | Reason::MalformedXml | Reason::ForbiddenDtd,
            ) => 400,
            GatewayReason::Engine(Reason::TooLarge) => 413,
            GatewayReason::Engine(_) => 403,
            GatewayReason::RelayStateInvalid
            | GatewayReason::SessionTooLarge
            | GatewayReason::PathInvalid
            | GatewayReason::HostMismatch
            | GatewayReason::BadRequest => 400,
            GatewayReason::InvalidAttributeValue
            | GatewayReason::AccessDenied
            | GatewayReason::LoggedOut => 403,
            GatewayReason::Unauthenticated => 401,
            GatewayReason::NotFound => 404,
            GatewayReason::MethodNotAllowed => 405,
            GatewayReason::UpstreamUnavailable => 502,
            GatewayReason::UpstreamTimeout => 504,
            GatewayReason::StoreUnavailable
            | GatewayReason::IdpUnavailable
            | GatewayReason::IdpEndpointMissing => 503,
            GatewayReason::Internal => 500,
        }
    }

    /// The sentence the page shows: what happened, in words; never keys,
    /// parser detail or message content.
    pub fn explanation(self) -> &'static str {
        match self {
            GatewayReason::Engine(r) => match r {
                Reason::Replayed => "This sign-in response was already used. Please sign in again.",
                Reason::Expired | Reason::NotYetValid => {
                    "The sign-in response is outside its validity period. Check that the clocks of the identity provider and this server agree, then sign in again."
                }
                Reason::UnknownIssuer => "The sign-in response comes from an identity provider that this service does not trust.",
                Reason::AudienceMismatch | Reason::DestinationMismatch | Reason::RecipientMismatch => {
                    "The sign-in response was meant for another service."
                }
                Reason::InResponseToMismatch => {
                    "The sign-in response does not match a sign-in started in this browser. Please start again from the application."
                }
                Reason::TooLarge => "The request is too large.",
                Reason::MalformedInput | Reason::MalformedXml | Reason::SchemaViolation => {
                    "The sign-in response could not be read."
                }
                Reason::Unsigned => "The sign-in response is not signed. The identity provider must sign the response or the assertion.",
                Reason::UntrustedKey | Reason::SignatureInvalid | Reason::DigestMismatch => {
                    "The sign-in response's signature could not be verified with the keys this service trusts for the identity provider."
                }
                Reason::DecryptionFailed => "The sign-in response could not be decrypted with this service's keys.",
                Reason::NameidFormatMismatch => "The identity provider sent a different kind of user identifier than this service requires.",
                Reason::StatusNotSuccess => "The identity provider did not sign you in.",
                _ => "The sign-in response was rejected.",
            },
            GatewayReason::RelayStateInvalid => {
                "The sign-in response does not match a sign-in started in this browser. Please start again from the application."
            }
            GatewayReason::InvalidAttributeValue => {
                "Your account data contains characters that cannot be passed on to the application."
            }
            GatewayReason::AccessDenied => "You are signed in, but not allowed to use this application.",
            GatewayReason::StoreUnavailable => "This could not be checked right now. Please try again in a moment; if you were signing in, start again from the application (the identity provider's answer can be used only once, so sending it again would not work).",
            GatewayReason::LoggedOut => {
                "This sign-in was ended at the identity provider before it arrived here. Please sign in again."
            }
            GatewayReason::SessionTooLarge => {
                "Your account carries more information (for example group memberships) than fits in a browser session. Ask your administrator to reduce the attributes released to this service."
            }
            GatewayReason::PathInvalid => "This address is not one the gateway can pass on.",
            GatewayReason::HostMismatch => "The request names two different hosts.",
            GatewayReason::Unauthenticated => "Authentication is required.",
            GatewayReason::NotFound => "There is nothing at this address.",
            GatewayReason::MethodNotAllowed => "This address does not accept that method.",
            GatewayReason::BadRequest => "The request could not be read.",
            GatewayReason::UpstreamUnavailable => "The application behind this gateway is not reachable right now.",
            GatewayReason::UpstreamTimeout => "The application behind this gateway did not answer in time.",
            GatewayReason::IdpUnavailable => {
                "The identity provider is not available (its metadata could not be loaded)."
            }
            GatewayReason::IdpEndpointMissing => {
                "The identity provider's metadata has no sign-in address for the way this service is configured to send requests. The administrator must change the binding or the identity provider's metadata."
            }
            GatewayReason::Internal => "Something went wrong inside the gateway.",
        }
    }
}

impl std::fmt::Display for GatewayReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl From<Reason> for GatewayReason {
    fn from(r: Reason) -> Self {
        GatewayReason::Engine(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README lists every code with its meaning; a code added here or
    /// there without the other fails.
    #[test]
    fn the_readme_tables_list_exactly_these_codes() {
        let readme = include_str!("../../../README.md");
        let table = |heading: &str| -> Vec<String> {
            let start = readme
                .find(heading)
                .unwrap_or_else(|| panic!("README has no {heading:?}"));
            readme[start..]
                .lines()
                .skip_while(|l| !l.starts_with('|'))
                .take_while(|l| l.starts_with('|'))
                .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
                .collect()
        };
        let mut engine: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let mut listed = table("### Reason codes");
        engine.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, engine, "README engine reason table");
        let mut own: Vec<&str> = GatewayReason::OWN.iter().map(|r| r.code()).collect();
        let mut listed = table("### Gateway reason codes");
        own.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, own, "README gateway reason table");
    }

    #[test]
    fn codes_are_distinct_and_statuses_are_errors() {
        let mut codes: Vec<&str> = GatewayReason::OWN.iter().map(|r| r.code()).collect();
        codes.extend(Reason::ALL.iter().map(|r| r.as_str()));
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        for r in GatewayReason::OWN {
            assert!(r.status() >= 400, "{r}");
        }
    }
}
