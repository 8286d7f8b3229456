//! Single Logout messages in: a LogoutRequest or LogoutResponse received
//! at the SP's SingleLogoutService, over HTTP-Redirect (detached signature
//! over the raw query) or HTTP-POST (enveloped signature). Signed or
//! refused (profiles §4.4.3.x, saml2int SDP-SP28/SP33), checked for
//! Destination, Issuer, freshness and InResponseTo, then read only from the
//! root element that the verified signature covered.

use samlgate_dsig::{
    detached_algorithm, signature_child, verify_detached, verify_enveloped, AlgorithmPolicy,
};
use samlgate_xml::{Document, Limits, NodeId, Reason};

use crate::binding::{BindingParams, MessageKind};
use crate::error::fail;
use crate::logout::NameId;
use crate::logout_verified::{
    ReceivedStatus, VerifiedLogout, VerifiedLogoutRequest, VerifiedLogoutResponse,
};
use crate::ns::{ASSERTION, NAMEID_FORMAT_ENTITY, PROTOCOL};
use crate::sp_metadata::{BINDING_HTTP_POST, BINDING_HTTP_REDIRECT};
use crate::time::{Clock, Instant};
use crate::trust::Trust;
use crate::validate::{check_unique_ids, check_version_and_id, clip, single_child_in};
use crate::{SamlError, MAX_INFLATED};

/// The most SessionIndex elements one LogoutRequest may name.
const MAX_SESSION_INDEXES: usize = 64;

/// Everything the validation of a logout message needs besides the message.
pub struct LogoutValidator<'c> {
    /// Trusted IdPs and their keys: the Issuer must be one of them.
    pub trust: &'c Trust,
    /// This endpoint's URLs: Destination must equal one of them exactly
    /// (bindings §3.4.5.2, §3.5.5.2). Several when one SP answers at
    /// per-node URLs.
    pub slo_urls: &'c [String],
    /// The ID of the LogoutRequest this browser has outstanding (from its
    /// login-state binding); None: any LogoutResponse is refused as
    /// `in_response_to_mismatch`.
    pub in_response_to: Option<&'c str>,
    /// The clock for IssueInstant and NotOnOrAfter.
    pub clock: &'c dyn Clock,
    /// Allowed clock skew in seconds.
    pub clock_skew_seconds: i64,
    /// The oldest IssueInstant accepted, in seconds before now (plus skew):
    /// a logout message is acted on at once, so a few minutes is plenty.
    pub max_age_seconds: i64,
    /// Algorithm and key-size policy (SHA-1 only with `allow_sha1`).
    pub algorithms: AlgorithmPolicy,
    /// Parser limits for the message.
    pub limits: Limits,
}

impl std::fmt::Debug for LogoutValidator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutValidator")
            .field("slo_urls", &self.slo_urls)
            .field("in_response_to", &self.in_response_to)
            .field("max_age_seconds", &self.max_age_seconds)
            .finish_non_exhaustive()
    }
}

/// What the signature step established.
struct Signed {
    issuer: String,
    signing_key: String,
    relay_state: Option<String>,
    binding: &'static str,
}

impl LogoutValidator<'_> {
    /// Validates an HTTP-Redirect logout message from the raw query string
    /// (without `?`, percent escapes as received).
    pub fn validate_redirect(&self, raw_query: &str) -> Result<VerifiedLogout, SamlError> {
        let params = BindingParams::parse(raw_query)?;
        let message = params.message()?;
        params.check_encoding()?;
        let detached = params.redirect_signature(&message)?;
        // Policy before any work on the message: HMAC and friends stop here.
        detached_algorithm(&detached.algorithm_uri, &self.algorithms)?;
        let relay_state = params.relay_state()?;
        // The message is decoded from the very value that is part of the
        // signed octets; nothing in it is used before the signature
        // verifies, except the Issuer that selects the keys.
        let max = self.limits.max_document_bytes.min(MAX_INFLATED as usize);
        let xml = message.inflate(max)?;
        let doc = Document::parse(&xml, &self.limits)?;
        let root = message_root(&doc, message.kind)?;
        let issuer = message_issuer(&doc, root)?;
        let keys = self.trust.keys_for(Some(&issuer))?;
        let verified = verify_detached(
            &detached.signed_octets,
            &detached.algorithm_uri,
            &detached.value,
            &keys,
            &self.algorithms,
        )?;
        let signed = Signed {
            issuer,
            signing_key: verified.key_fingerprint().to_owned(),
            relay_state,
            binding: BINDING_HTTP_REDIRECT,
        };
        self.read(&doc, root, message.kind, signed)
    }

    /// Validates an HTTP-POST logout message from the raw
    /// `application/x-www-form-urlencoded` body.
    pub fn validate_post(&self, form_body: &[u8]) -> Result<VerifiedLogout, SamlError> {
        let body = std::str::from_utf8(form_body)
            .map_err(|_| SamlError::new(Reason::MalformedInput, "the form body is not UTF-8"))?;
        let params = BindingParams::parse(body)?;
        let message = params.message()?;
        let relay_state = params.relay_state()?;
        let xml = message.decode_post(self.limits.max_document_bytes)?;
        let doc = Document::parse(&xml, &self.limits)?;
        let root = message_root(&doc, message.kind)?;
        let issuer = message_issuer(&doc, root)?;
        let keys = self.trust.keys_for(Some(&issuer))?;
        let Some(signature) = signature_child(&doc, root)? else {
            return fail(
                Reason::Unsigned,
                format!(
                    "the {} has no ds:Signature: logout messages on the front channel must be signed",
                    doc.local_name(root)
                ),
            );
        };
        // The signature must be the root's own child and reference the
        // root's ID: a copy wrapped elsewhere is never what gets read.
        let verified = verify_enveloped(&doc, root, signature, &keys, &self.algorithms)?;
        let signed = Signed {
            issuer,
            signing_key: verified.key_fingerprint().to_owned(),
            relay_state,
            binding: BINDING_HTTP_POST,
        };
        self.read(&doc, verified.element(), message.kind, signed)
    }

    fn read(
        &self,
        doc: &Document<'_>,
        root: NodeId,
        kind: MessageKind,
        signed: Signed,
    ) -> Result<VerifiedLogout, SamlError> {
        self.check_destination(doc, root)?;
        let issue_instant = self.check_issue_instant(doc, root)?;
        let id = doc.attr(root, "ID").unwrap_or_default().to_owned();
        match kind {
            MessageKind::Request => {
                let not_on_or_after = self.check_not_on_or_after(doc, root)?;
                let (name_id, session_indexes) = read_subject(doc, root)?;
                Ok(VerifiedLogout::Request(VerifiedLogoutRequest {
                    issuer: signed.issuer,
                    id,
                    issue_instant,
                    not_on_or_after,
                    name_id,
                    session_indexes,
                    relay_state: signed.relay_state,
                    signing_key: signed.signing_key,
                    binding: signed.binding,
                }))
            }
            MessageKind::Response => {
                let in_response_to = self.check_in_response_to(doc, root)?;
                let status = read_status(doc, root)?;
                Ok(VerifiedLogout::Response(VerifiedLogoutResponse {
                    issuer: signed.issuer,
                    id,
                    issue_instant,
                    in_response_to,
                    status,
                    relay_state: signed.relay_state,
                    signing_key: signed.signing_key,
                    binding: signed.binding,
                }))
            }
        }
    }

    fn check_destination(&self, doc: &Document<'_>, root: NodeId) -> Result<(), SamlError> {
        match doc.attr(root, "Destination") {
            Some(d) if self.slo_urls.iter().any(|u| u == d) => Ok(()),
            Some(d) => fail(
                Reason::DestinationMismatch,
                format!("Destination {:?} is not this SingleLogoutService", clip(d)),
            ),
            None => fail(
                Reason::DestinationMismatch,
                "a signed logout message must carry a Destination",
            ),
        }
    }

    fn check_issue_instant(&self, doc: &Document<'_>, root: NodeId) -> Result<Instant, SamlError> {
        let issued = time_attr(doc, root, "IssueInstant")?
            .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "IssueInstant is missing"))?;
        let now = self.clock.now();
        if issued > now.plus_seconds(self.clock_skew_seconds) {
            return fail(
                Reason::NotYetValid,
                format!("IssueInstant {issued} is in the future"),
            );
        }
        let max_age = self.max_age_seconds.saturating_add(self.clock_skew_seconds);
        if issued.plus_seconds(max_age) < now {
            return fail(
                Reason::Expired,
                format!(
                    "IssueInstant {issued} is older than {} seconds",
                    self.max_age_seconds
                ),
            );
        }
        Ok(issued)
    }

    fn check_not_on_or_after(
        &self,
        doc: &Document<'_>,
        root: NodeId,
    ) -> Result<Option<Instant>, SamlError> {
        let noa = time_attr(doc, root, "NotOnOrAfter")?;
        if let Some(t) = noa {
            if self.clock.now().plus_seconds(-self.clock_skew_seconds) >= t {
                return fail(Reason::Expired, format!("NotOnOrAfter {t} has passed"));
            }
        }
        Ok(noa)
    }

    fn check_in_response_to(&self, doc: &Document<'_>, root: NodeId) -> Result<String, SamlError> {
        let Some(got) = doc.attr(root, "InResponseTo") else {
            return fail(
                Reason::InResponseToMismatch,
                "the LogoutResponse has no InResponseTo",
            );
        };
        match self.in_response_to {
            Some(expected) if expected == got => Ok(got.to_owned()),
            Some(_) => fail(
                Reason::InResponseToMismatch,
                "InResponseTo does not name the outstanding LogoutRequest",
            ),
            None => fail(
                Reason::InResponseToMismatch,
                "no LogoutRequest is outstanding for this browser",
            ),
        }
    }
}

fn time_attr(doc: &Document<'_>, el: NodeId, name: &str) -> Result<Option<Instant>, SamlError> {
    doc.attr(el, name)
        .map(|v| {
            Instant::parse(v).ok_or_else(|| {
                SamlError::new(
                    Reason::SchemaViolation,
                    format!("{name} is not a valid dateTime"),
                )
            })
        })
        .transpose()
}

/// The root element, which must be the message its parameter announced;
/// then Version, ID, IssueInstant and document-wide unique IDs.
fn message_root(doc: &Document<'_>, kind: MessageKind) -> Result<NodeId, SamlError> {
    let root = doc.root();
    let expected = match kind {
        MessageKind::Request => "LogoutRequest",
        MessageKind::Response => "LogoutResponse",
    };
    if !doc.is(root, PROTOCOL, expected) {
        return fail(
            Reason::SchemaViolation,
            format!(
                "{} carries {}, not samlp:{expected}",
                kind.parameter(),
                clip(doc.local_name(root))
            ),
        );
    }
    check_version_and_id(doc, root, expected)?;
    check_unique_ids(doc)?;
    Ok(root)
}

/// The message's one Issuer (required: it selects the keys).
fn message_issuer(doc: &Document<'_>, root: NodeId) -> Result<String, SamlError> {
    let Some(issuer) = single_child_in(doc, root, ASSERTION, "Issuer")? else {
        return fail(Reason::SchemaViolation, "the logout message has no Issuer");
    };
    if doc
        .attr(issuer, "Format")
        .is_some_and(|f| f != NAMEID_FORMAT_ENTITY)
    {
        return fail(
            Reason::SchemaViolation,
            "the Issuer Format is not the entity format",
        );
    }
    let value = doc.text_content(issuer).trim().to_owned();
    if value.is_empty() {
        return fail(Reason::SchemaViolation, "the Issuer is empty");
    }
    Ok(value)
}

/// Text of a leaf element; a child element inside is a schema violation.
fn leaf_text(doc: &Document<'_>, el: NodeId, what: &str) -> Result<String, SamlError> {
    if doc.child_elements(el).next().is_some() {
        return fail(
            Reason::SchemaViolation,
            format!("{what} contains an element"),
        );
    }
    let text = doc.text_content(el).into_owned();
    if text.is_empty() {
        return fail(Reason::SchemaViolation, format!("{what} is empty"));
    }
    Ok(text)
}

/// The NameID and SessionIndex children of a LogoutRequest root.
fn read_subject(doc: &Document<'_>, root: NodeId) -> Result<(NameId, Vec<String>), SamlError> {
    let mut name_id = None;
    let mut session_indexes = Vec::new();
    for child in doc.child_elements(root) {
        match (doc.namespace(child), doc.local_name(child)) {
            (Some(ASSERTION), "NameID") if name_id.replace(child).is_some() => {
                return fail(
                    Reason::SchemaViolation,
                    "LogoutRequest has more than one NameID",
                );
            }
            (Some(ASSERTION), local @ ("BaseID" | "EncryptedID")) => {
                return fail(
                    Reason::NameidFormatMismatch,
                    format!("LogoutRequest carries {local}, which is not supported"),
                );
            }
            (Some(PROTOCOL), "SessionIndex") => {
                if session_indexes.len() == MAX_SESSION_INDEXES {
                    return fail(
                        Reason::SchemaViolation,
                        format!("more than {MAX_SESSION_INDEXES} SessionIndex elements"),
                    );
                }
                session_indexes.push(leaf_text(doc, child, "SessionIndex")?);
            }
            _ => {}
        }
    }
    let Some(el) = name_id else {
        return fail(Reason::SchemaViolation, "LogoutRequest has no NameID");
    };
    let attr = |name: &str| doc.attr(el, name).map(str::to_owned);
    let name_id = NameId {
        value: leaf_text(doc, el, "NameID")?,
        format: attr("Format"),
        name_qualifier: attr("NameQualifier"),
        sp_name_qualifier: attr("SPNameQualifier"),
    };
    Ok((name_id, session_indexes))
}

/// The Status of a LogoutResponse: one StatusCode with a Value, at most one
/// StatusCode nested in it, an optional StatusMessage.
fn read_status(doc: &Document<'_>, root: NodeId) -> Result<ReceivedStatus, SamlError> {
    let status = single_child_in(doc, root, PROTOCOL, "Status")?
        .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "LogoutResponse has no Status"))?;
    let code = single_child_in(doc, status, PROTOCOL, "StatusCode")?
        .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "Status has no StatusCode"))?;
    let value = |el: NodeId| {
        doc.attr(el, "Value")
            .map(str::to_owned)
            .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "StatusCode has no Value"))
    };
    let top_level = value(code)?;
    let second_level = single_child_in(doc, code, PROTOCOL, "StatusCode")?
        .map(value)
        .transpose()?;
    let message = single_child_in(doc, status, PROTOCOL, "StatusMessage")?
        .map(|m| doc.text_content(m).into_owned());
    Ok(ReceivedStatus {
        top_level,
        second_level,
        message,
    })
}
