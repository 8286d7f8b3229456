//! SAML namespace URIs and fixed values.

/// SAML 2.0 assertion namespace.
pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol namespace.
pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 metadata namespace.
pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// The Success status code.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The bearer subject confirmation method.
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The Requester top-level status code.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// The Responder top-level status code.
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
/// The PartialLogout second-level status code.
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
/// The RequestDenied second-level status code.
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
/// The entity NameID format (the only one an Issuer may name).
pub const NAMEID_FORMAT_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// LogoutRequest Reason: the user asked to log out.
pub const LOGOUT_REASON_USER: &str = "urn:oasis:names:tc:SAML:2.0:logout:user";
/// LogoutRequest Reason: an administrator ended the session.
pub const LOGOUT_REASON_ADMIN: &str = "urn:oasis:names:tc:SAML:2.0:logout:admin";
