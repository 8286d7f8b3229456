//! Protocol checks on the signed assertion: InResponseTo, Conditions
//! (time window and audience), bearer SubjectConfirmation.

use samlgate_xml::{Document, NodeId, Reason};

use crate::error::fail;
use crate::ns::{ASSERTION, BEARER};
use crate::time::Instant;
use crate::SamlError;

/// What the SP expects, and when "now" is.
pub(crate) struct Expectations<'a> {
    pub(crate) sp_entity_id: Option<&'a str>,
    pub(crate) acs_url: Option<&'a str>,
    pub(crate) in_response_to: Option<&'a str>,
    pub(crate) response_in_response_to: Option<&'a str>,
    /// Without an outstanding request: refuse a Response that answers one.
    pub(crate) refuse_solicited: bool,
    pub(crate) now: Instant,
    pub(crate) skew_seconds: i64,
}

impl Expectations<'_> {
    fn check_not_before(&self, not_before: Instant, what: &str) -> Result<(), SamlError> {
        if self.now.plus_seconds(self.skew_seconds) < not_before {
            return fail(
                Reason::NotYetValid,
                format!("{what} NotBefore {not_before} is in the future"),
            );
        }
        Ok(())
    }

    fn check_not_on_or_after(&self, not_on_or_after: Instant, what: &str) -> Result<(), SamlError> {
        if self.now.plus_seconds(-self.skew_seconds) >= not_on_or_after {
            return fail(
                Reason::Expired,
                format!("{what} NotOnOrAfter {not_on_or_after} has passed"),
            );
        }
        Ok(())
    }
}

fn time_attr(doc: &Document<'_>, el: NodeId, name: &str) -> Result<Option<Instant>, SamlError> {
    match doc.attr(el, name) {
        None => Ok(None),
        Some(v) => Instant::parse(v).map(Some).ok_or_else(|| {
            SamlError::new(
                Reason::SchemaViolation,
                format!("{name} is not a valid dateTime"),
            )
        }),
    }
}

fn bearer_data<'d>(
    doc: &'d Document<'_>,
    subject: NodeId,
) -> impl Iterator<Item = Option<NodeId>> + 'd {
    doc.children_named(subject, ASSERTION, "SubjectConfirmation")
        .filter(move |sc| doc.attr(*sc, "Method") == Some(BEARER))
        .map(move |sc| doc.first_child_named(sc, ASSERTION, "SubjectConfirmationData"))
}

/// InResponseTo on the Response and on the bearer confirmation data must
/// agree with each other and, when a request is outstanding, with it.
pub(crate) fn check_in_response_to(
    doc: &Document<'_>,
    subject: NodeId,
    expect: &Expectations<'_>,
) -> Result<(), SamlError> {
    let mut values: Vec<&str> = expect.response_in_response_to.into_iter().collect();
    values.extend(
        bearer_data(doc, subject)
            .flatten()
            .filter_map(|d| doc.attr(d, "InResponseTo")),
    );
    match expect.in_response_to {
        Some(expected) => {
            if values.is_empty() {
                return fail(
                    Reason::InResponseToMismatch,
                    "the response is unsolicited but a request is outstanding",
                );
            }
            if values.iter().any(|v| *v != expected) {
                return fail(
                    Reason::InResponseToMismatch,
                    "InResponseTo does not match the outstanding request",
                );
            }
        }
        None => {
            if expect.refuse_solicited && !values.is_empty() {
                return fail(
                    Reason::InResponseToMismatch,
                    "the response answers a request that was not started in this browser",
                );
            }
            if values.windows(2).any(|w| w.first() != w.get(1)) {
                return fail(
                    Reason::InResponseToMismatch,
                    "Response and assertion InResponseTo differ",
                );
            }
        }
    }
    Ok(())
}

/// Conditions: the time window with skew, then the audience (OR within one
/// AudienceRestriction, AND across several; exact string match). Returns
/// the Conditions NotOnOrAfter.
pub(crate) fn check_conditions(
    doc: &Document<'_>,
    assertion: NodeId,
    expect: &Expectations<'_>,
) -> Result<Option<Instant>, SamlError> {
    let mut all = doc.children_named(assertion, ASSERTION, "Conditions");
    let conditions = all.next();
    if all.next().is_some() {
        return fail(Reason::SchemaViolation, "more than one Conditions");
    }
    let mut not_on_or_after = None;
    if let Some(c) = conditions {
        if let Some(t) = time_attr(doc, c, "NotBefore")? {
            expect.check_not_before(t, "Conditions")?;
        }
        not_on_or_after = time_attr(doc, c, "NotOnOrAfter")?;
        if let Some(t) = not_on_or_after {
            expect.check_not_on_or_after(t, "Conditions")?;
        }
    }
    if let Some(sp) = expect.sp_entity_id {
        let restrictions: Vec<NodeId> = conditions
            .map(|c| {
                doc.children_named(c, ASSERTION, "AudienceRestriction")
                    .collect()
            })
            .unwrap_or_default();
        if restrictions.is_empty() {
            return fail(
                Reason::AudienceMismatch,
                "the assertion has no AudienceRestriction",
            );
        }
        for r in restrictions {
            let ok = doc
                .children_named(r, ASSERTION, "Audience")
                .any(|a| doc.text_content(a).trim() == sp);
            if !ok {
                return fail(
                    Reason::AudienceMismatch,
                    "this SP is not in the assertion's audience",
                );
            }
        }
    }
    Ok(not_on_or_after)
}

/// At least one bearer SubjectConfirmation whose data names our ACS as
/// Recipient and has a NotOnOrAfter still in the future. Returns that
/// NotOnOrAfter. When none passes, the first failure is reported.
pub(crate) fn check_subject_confirmation(
    doc: &Document<'_>,
    subject: NodeId,
    expect: &Expectations<'_>,
) -> Result<Option<Instant>, SamlError> {
    let mut first_error = None;
    for data in bearer_data(doc, subject) {
        match check_bearer(doc, data, expect) {
            Ok(t) => return Ok(Some(t)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        SamlError::new(
            Reason::SubjectConfirmationInvalid,
            "no bearer SubjectConfirmation",
        )
    }))
}

fn check_bearer(
    doc: &Document<'_>,
    data: Option<NodeId>,
    expect: &Expectations<'_>,
) -> Result<Instant, SamlError> {
    let Some(data) = data else {
        return fail(
            Reason::SubjectConfirmationInvalid,
            "bearer confirmation without SubjectConfirmationData",
        );
    };
    if let Some(acs) = expect.acs_url {
        match doc.attr(data, "Recipient") {
            Some(r) if r == acs => {}
            Some(_) => {
                return fail(
                    Reason::RecipientMismatch,
                    "bearer Recipient is not the ACS URL",
                )
            }
            None => {
                return fail(
                    Reason::SubjectConfirmationInvalid,
                    "bearer confirmation has no Recipient",
                )
            }
        }
    }
    if let Some(t) = time_attr(doc, data, "NotBefore")? {
        expect.check_not_before(t, "SubjectConfirmationData")?;
    }
    let Some(t) = time_attr(doc, data, "NotOnOrAfter")? else {
        return fail(
            Reason::SubjectConfirmationInvalid,
            "bearer confirmation has no NotOnOrAfter",
        );
    };
    expect.check_not_on_or_after(t, "SubjectConfirmationData")?;
    Ok(t)
}
