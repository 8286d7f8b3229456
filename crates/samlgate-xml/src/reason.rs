//! The stable reason codes shared by every layer of samlgate.
//!
//! The codes live in the lowest crate of the dependency chain so that the XML
//! parser, the signature verifier and the SAML policy all report failures in
//! one vocabulary. The same string is the `reason` of `samlgate verify`, the
//! `reason` label of the metrics and the `reason` field of the log line.

use std::fmt;

/// A stable, machine-readable classification of why an input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The transport encoding (base64, form) could not be decoded.
    MalformedInput,
    /// The document is not well-formed, namespace-valid XML.
    MalformedXml,
    /// The document contains a DOCTYPE declaration.
    ForbiddenDtd,
    /// A size, depth or count limit was exceeded.
    TooLarge,
    /// The document is well-formed but not shaped as SAML requires.
    SchemaViolation,
    /// The Response's top-level status is not Success.
    StatusNotSuccess,
    /// The Issuer is not a configured identity provider.
    UnknownIssuer,
    /// The Response and Assertion issuers differ.
    IssuerMismatch,
    /// The Response Destination is not this SP's ACS URL.
    DestinationMismatch,
    /// InResponseTo does not name the outstanding request.
    InResponseToMismatch,
    /// The Response carries no assertion.
    NoAssertion,
    /// The Response carries more than one assertion.
    MultipleAssertions,
    /// No signature covers the assertion.
    Unsigned,
    /// A signature value does not verify.
    SignatureInvalid,
    /// A Reference digest does not match the referenced content.
    DigestMismatch,
    /// The signing key is not in the trusted set.
    UntrustedKey,
    /// An algorithm or transform is not supported.
    UnsupportedAlgorithm,
    /// An algorithm or key is too weak for the policy.
    WeakAlgorithm,
    /// A signature Reference does not point at its parent element, or IDs clash.
    ReferenceInvalid,
    /// An EncryptedAssertion could not be decrypted.
    DecryptionFailed,
    /// The assertion is past its NotOnOrAfter.
    Expired,
    /// The assertion is before its NotBefore.
    NotYetValid,
    /// The Audience is not this SP.
    AudienceMismatch,
    /// The bearer Recipient is not this SP's ACS URL.
    RecipientMismatch,
    /// No usable bearer SubjectConfirmation.
    SubjectConfirmationInvalid,
    /// The assertion was seen before.
    Replayed,
    /// A required attribute is missing.
    MissingAttribute,
    /// The NameID format is not allowed by policy.
    NameidFormatMismatch,
}

impl Reason {
    /// Every reason code, in the order DESIGN.md lists them.
    pub const ALL: [Reason; 28] = [
        Reason::MalformedInput,
        Reason::MalformedXml,
        Reason::ForbiddenDtd,
        Reason::TooLarge,
        Reason::SchemaViolation,
        Reason::StatusNotSuccess,
        Reason::UnknownIssuer,
        Reason::IssuerMismatch,
        Reason::DestinationMismatch,
        Reason::InResponseToMismatch,
        Reason::NoAssertion,
        Reason::MultipleAssertions,
        Reason::Unsigned,
        Reason::SignatureInvalid,
        Reason::DigestMismatch,
        Reason::UntrustedKey,
        Reason::UnsupportedAlgorithm,
        Reason::WeakAlgorithm,
        Reason::ReferenceInvalid,
        Reason::DecryptionFailed,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::AudienceMismatch,
        Reason::RecipientMismatch,
        Reason::SubjectConfirmationInvalid,
        Reason::Replayed,
        Reason::MissingAttribute,
        Reason::NameidFormatMismatch,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedInput => "malformed_input",
            Reason::MalformedXml => "malformed_xml",
            Reason::ForbiddenDtd => "forbidden_dtd",
            Reason::TooLarge => "too_large",
            Reason::SchemaViolation => "schema_violation",
            Reason::StatusNotSuccess => "status_not_success",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::DestinationMismatch => "destination_mismatch",
            Reason::InResponseToMismatch => "in_response_to_mismatch",
            Reason::NoAssertion => "no_assertion",
            Reason::MultipleAssertions => "multiple_assertions",
            Reason::Unsigned => "unsigned",
            Reason::SignatureInvalid => "signature_invalid",
            Reason::DigestMismatch => "digest_mismatch",
            Reason::UntrustedKey => "untrusted_key",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::WeakAlgorithm => "weak_algorithm",
            Reason::ReferenceInvalid => "reference_invalid",
            Reason::DecryptionFailed => "decryption_failed",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::RecipientMismatch => "recipient_mismatch",
            Reason::SubjectConfirmationInvalid => "subject_confirmation_invalid",
            Reason::Replayed => "replayed",
            Reason::MissingAttribute => "missing_attribute",
            Reason::NameidFormatMismatch => "nameid_format_mismatch",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
