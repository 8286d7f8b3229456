//! SAML 2.0 Web Browser SSO for samlgate: the Response and Assertion model,
//! the validation policy (verify, then use only what was verified), IdP
//! metadata in, input decoding, the replay-check trait, and Single Logout
//! messages both ways (HTTP-Redirect and HTTP-POST). No HTTP server
//! and no async runtime: usable as a library on its own.
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

mod assertion;
mod authn_request;
mod binding;
mod conditions;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod logout;
mod logout_validate;
mod logout_verified;
mod metadata;
pub mod ns;
mod replay;
mod sp_metadata;
mod time;
mod trust;
mod validate;

pub use assertion::VerifiedAssertion;
pub use authn_request::{inflate_redirect_message, AcsTarget, AuthnRequest, MAX_INFLATED};
pub use error::SamlError;
pub use input::decode_input;
pub use logout::{LogoutRequest, LogoutResponse, LogoutStatus, NameId};
pub use logout_validate::LogoutValidator;
pub use logout_verified::{
    ReceivedStatus, VerifiedLogout, VerifiedLogoutRequest, VerifiedLogoutResponse,
};
pub use metadata::{
    load_idp_metadata, metadata_limits, parse_idp_metadata, IdpMetadata, MetadataError,
    MetadataPolicy,
};
pub use replay::ReplayCache;
pub use samlgate_xml::Reason;
pub use sp_metadata::{
    xml_escape, AcsEndpoint, SpMetadata, SpMetadataError, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT,
};
pub use time::{parse_duration_seconds, Clock, FixedClock, Instant, SystemClock};
pub use trust::{Endpoint, IdpEntity, Trust};
pub use validate::{claimed_issuer, Validator};

#[cfg(test)]
mod tests;
