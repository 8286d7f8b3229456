//! The verified assertion: the identity, read only from the verified node.

use samlgate_xml::{Document, NodeId, Reason};

use crate::error::fail;
use crate::logout::NameId;
use crate::ns::ASSERTION;
use crate::time::Instant;
use crate::SamlError;

/// The outcome of a successful validation. Its fields are private and it is
/// only built from the assertion element that a verified signature covered
/// (directly, or through the enclosing Response), so holding one is proof
/// that every value in it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    issuer: String,
    name_id: String,
    name_id_format: Option<String>,
    name_qualifier: Option<String>,
    sp_name_qualifier: Option<String>,
    assertion_id: String,
    session_index: Option<String>,
    not_on_or_after: Option<Instant>,
    session_not_on_or_after: Option<Instant>,
    issue_instant: Option<Instant>,
    attributes: Vec<(String, Vec<String>)>,
    signing_key: String,
}

impl VerifiedAssertion {
    /// The assertion's Issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The NameID text (comments dropped, all text kept).
    pub fn name_id(&self) -> &str {
        &self.name_id
    }
    /// The NameID Format attribute.
    pub fn name_id_format(&self) -> Option<&str> {
        self.name_id_format.as_deref()
    }
    /// The NameID NameQualifier attribute.
    pub fn name_qualifier(&self) -> Option<&str> {
        self.name_qualifier.as_deref()
    }
    /// The NameID SPNameQualifier attribute.
    pub fn sp_name_qualifier(&self) -> Option<&str> {
        self.sp_name_qualifier.as_deref()
    }
    /// The NameID with its Format and qualifiers, as a LogoutRequest must
    /// repeat it.
    pub fn subject_name_id(&self) -> NameId {
        NameId {
            value: self.name_id.clone(),
            format: self.name_id_format.clone(),
            name_qualifier: self.name_qualifier.clone(),
            sp_name_qualifier: self.sp_name_qualifier.clone(),
        }
    }
    /// The assertion ID (with the issuer, the replay key).
    pub fn assertion_id(&self) -> &str {
        &self.assertion_id
    }
    /// The AuthnStatement SessionIndex.
    pub fn session_index(&self) -> Option<&str> {
        self.session_index.as_deref()
    }
    /// The earliest NotOnOrAfter of the Conditions and the bearer
    /// confirmation: until when the assertion may be used.
    pub fn not_on_or_after(&self) -> Option<Instant> {
        self.not_on_or_after
    }
    /// The AuthnStatement SessionNotOnOrAfter.
    pub fn session_not_on_or_after(&self) -> Option<Instant> {
        self.session_not_on_or_after
    }
    /// The assertion's IssueInstant (validation already requires a valid
    /// one; the gateway bounds the age of what it accepts with it).
    pub fn issue_instant(&self) -> Option<Instant> {
        self.issue_instant
    }
    /// Attributes by Name, values in document order; statements merged.
    pub fn attributes(&self) -> &[(String, Vec<String>)] {
        &self.attributes
    }
    /// The values of one attribute.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
    /// Fingerprint of the key that verified the covering signature.
    pub fn signing_key(&self) -> &str {
        &self.signing_key
    }
}

/// The identity fields of an assertion whose signature coverage the caller
/// has established; everything is read below `assertion` only.
pub(crate) struct Extracted {
    pub(crate) name_id: String,
    pub(crate) name_id_format: Option<String>,
    pub(crate) name_qualifier: Option<String>,
    pub(crate) sp_name_qualifier: Option<String>,
    pub(crate) session_index: Option<String>,
    pub(crate) session_not_on_or_after: Option<Instant>,
    pub(crate) issue_instant: Option<Instant>,
    pub(crate) attributes: Vec<(String, Vec<String>)>,
}

pub(crate) fn extract(
    doc: &Document<'_>,
    assertion: NodeId,
    subject: NodeId,
) -> Result<Extracted, SamlError> {
    let mut name_id = None;
    for child in doc.child_elements(subject) {
        match (doc.namespace(child), doc.local_name(child)) {
            (Some(ASSERTION), "NameID") if name_id.replace(child).is_some() => {
                return fail(Reason::SchemaViolation, "Subject has more than one NameID");
            }
            (Some(ASSERTION), "BaseID" | "EncryptedID") => {
                return fail(
                    Reason::NameidFormatMismatch,
                    format!(
                        "Subject carries {}, which is not supported",
                        doc.local_name(child)
                    ),
                )
            }
            _ => {}
        }
    }
    let Some(name_id) = name_id else {
        return fail(Reason::SchemaViolation, "Subject has no NameID");
    };
    let name_id_format = doc.attr(name_id, "Format").map(str::to_owned);
    let name_qualifier = doc.attr(name_id, "NameQualifier").map(str::to_owned);
    let sp_name_qualifier = doc.attr(name_id, "SPNameQualifier").map(str::to_owned);
    let name_id_text = doc.text_content(name_id).into_owned();

    let mut session_index = None;
    let mut session_not_on_or_after = None;
    if let Some(authn) = doc.first_child_named(assertion, ASSERTION, "AuthnStatement") {
        session_index = doc.attr(authn, "SessionIndex").map(str::to_owned);
        if let Some(t) = doc.attr(authn, "SessionNotOnOrAfter") {
            session_not_on_or_after = Some(Instant::parse(t).ok_or_else(|| {
                SamlError::new(
                    Reason::SchemaViolation,
                    "SessionNotOnOrAfter is not a valid dateTime",
                )
            })?);
        }
    }

    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for statement in doc.children_named(assertion, ASSERTION, "AttributeStatement") {
        for attr in doc.children_named(statement, ASSERTION, "Attribute") {
            let Some(name) = doc.attr(attr, "Name") else {
                return fail(Reason::SchemaViolation, "Attribute without Name");
            };
            let values: Vec<String> = doc
                .children_named(attr, ASSERTION, "AttributeValue")
                .map(|v| doc.text_content(v).into_owned())
                .collect();
            // Names are URIs that share long prefixes: compare from the end.
            let same_name =
                |n: &str| n.len() == name.len() && n.bytes().rev().eq(name.bytes().rev());
            match attributes.iter_mut().find(|(n, _)| same_name(n)) {
                Some((_, existing)) => existing.extend(values),
                None => attributes.push((name.to_owned(), values)),
            }
        }
    }
    let issue_instant = doc.attr(assertion, "IssueInstant").and_then(Instant::parse);
    Ok(Extracted {
        name_id: name_id_text,
        issue_instant,
        name_id_format,
        name_qualifier,
        sp_name_qualifier,
        session_index,
        session_not_on_or_after,
        attributes,
    })
}

pub(crate) struct Identity {
    pub(crate) issuer: String,
    pub(crate) assertion_id: String,
    pub(crate) not_on_or_after: Option<Instant>,
    pub(crate) signing_key: String,
}

pub(crate) fn build(identity: Identity, extracted: Extracted) -> VerifiedAssertion {
    VerifiedAssertion {
        issuer: identity.issuer,
        name_id: extracted.name_id,
        name_id_format: extracted.name_id_format,
        name_qualifier: extracted.name_qualifier,
        sp_name_qualifier: extracted.sp_name_qualifier,
        assertion_id: identity.assertion_id,
        session_index: extracted.session_index,
        not_on_or_after: identity.not_on_or_after,
        session_not_on_or_after: extracted.session_not_on_or_after,
        issue_instant: extracted.issue_instant,
        attributes: extracted.attributes,
        signing_key: identity.signing_key,
    }
}
