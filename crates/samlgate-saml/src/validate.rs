//! Response validation: DESIGN.md steps 1-6 in one pass over one tree.

use samlgate_dsig::{
    content_is_authenticated, decrypt_encrypted_data, signature_child, verify_enveloped,
    AlgorithmPolicy, DecryptionKeys, DecryptionPolicy, DsigError, Verified, XENC_NS,
};
use samlgate_xml::{Document, Limits, NodeId, Reason};

use crate::assertion::{build, extract, Identity, VerifiedAssertion};
use crate::conditions::{
    check_conditions, check_in_response_to, check_subject_confirmation, Expectations,
};
use crate::error::fail;
use crate::ns::{ASSERTION, PROTOCOL, STATUS_SUCCESS};
use crate::replay::ReplayCache;
use crate::time::{Clock, Instant};
use crate::trust::Trust;
use crate::SamlError;

/// Everything a validation needs besides the message.
pub struct Validator<'c> {
    /// Trusted IdPs and keys.
    pub trust: &'c Trust,
    /// Expected Audience (the SP entity ID); None skips the check.
    pub sp_entity_id: Option<&'c str>,
    /// Expected Destination and Recipient (the ACS URL); None skips them.
    pub acs_url: Option<&'c str>,
    /// Expected InResponseTo; None accepts unsolicited responses.
    pub in_response_to: Option<&'c str>,
    /// The clock for time conditions.
    pub clock: &'c dyn Clock,
    /// Allowed clock skew in seconds.
    pub clock_skew_seconds: i64,
    /// Algorithm and key-size policy.
    pub algorithms: AlgorithmPolicy,
    /// SP decryption keys for EncryptedAssertion.
    pub decryption_keys: &'c DecryptionKeys,
    /// Decryption algorithm policy.
    pub decryption: DecryptionPolicy,
    /// Parser limits, for the message and for decrypted plaintext.
    pub limits: Limits,
    /// Replay store; None skips the replay check.
    pub replay: Option<&'c dyn ReplayCache>,
    /// With `in_response_to` None: refuse a Response that carries
    /// InResponseTo (a solicited Response is never taken as unsolicited;
    /// the gateway sets this when the browser has no matching login
    /// state). `samlgate verify` leaves it false.
    pub refuse_solicited: bool,
}

impl std::fmt::Debug for Validator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("sp_entity_id", &self.sp_entity_id)
            .field("acs_url", &self.acs_url)
            .field("in_response_to", &self.in_response_to)
            .finish_non_exhaustive()
    }
}

/// The Response-level facts that the assertion checks need (borrowed from
/// the Response's tree).
struct ResponseFacts<'d> {
    issuer: Option<String>,
    destination: Option<&'d str>,
    in_response_to: Option<&'d str>,
    /// The Response signature verified (it covers the assertion).
    signed: Option<Verified>,
}

impl Validator<'_> {
    /// Validates a SAML Response (XML bytes, already base64-decoded).
    pub fn validate(&self, xml: &[u8]) -> Result<VerifiedAssertion, SamlError> {
        let doc = Document::parse(xml, &self.limits)?;
        let root = doc.root();
        if !doc.is(root, PROTOCOL, "Response") {
            return fail(
                Reason::SchemaViolation,
                "root element is not samlp:Response",
            );
        }
        check_version_and_id(&doc, root, "Response")?;
        check_unique_ids(&doc)?;
        check_status(&doc, root)?;
        let assertion = single_assertion(&doc, root)?;

        let issuer = issuer_of(&doc, root)?;
        let encrypted = doc.local_name(assertion) == "EncryptedAssertion";
        // The key lookup needs an issuer: the assertion's when readable, else
        // the Response's (an encrypted assertion is read after decryption).
        let lookup_issuer = if encrypted {
            issuer.clone()
        } else {
            Some(required_issuer(&doc, assertion)?)
        };
        if let (Some(r), Some(a)) = (&issuer, &lookup_issuer) {
            if r != a {
                return fail(
                    Reason::IssuerMismatch,
                    "Response and Assertion issuers differ",
                );
            }
        }
        let keys = self.trust.keys_for(lookup_issuer.as_deref())?;

        let signed = match signature_child(&doc, root)? {
            Some(sig) => Some(verify_enveloped(&doc, root, sig, &keys, &self.algorithms)?),
            None => None,
        };
        let facts = ResponseFacts {
            issuer,
            destination: doc.attr(root, "Destination"),
            in_response_to: doc.attr(root, "InResponseTo"),
            signed,
        };

        if !encrypted {
            return self.check_assertion(&doc, assertion, &facts, &keys);
        }
        let (plaintext, authenticated) = self.decrypt(&doc, assertion)?;
        let wrapped = wrap_in_scope(&doc, assertion, &plaintext);
        // With CBC (no integrity), plaintext that is not one well-formed
        // element is reported exactly like a failed decryption: a tampered
        // ciphertext can pass the padding check and yield garbage, and a
        // distinct reason for "decrypted but unparseable" would tell an
        // attacker that the padding was right (ATTACKS §15). GCM plaintext
        // is authenticated, so its parse errors (a DOCTYPE: forbidden_dtd,
        // ATTACKS §11) are reported as they are.
        let opaque = || SamlError::from(DsigError::DecryptionFailed);
        let inner = match Document::parse(&wrapped, &self.limits) {
            Ok(inner) => inner,
            Err(e) if authenticated => return Err(e.into()),
            Err(_) => return Err(opaque()),
        };
        let wrapper = inner.root();
        let mut children = inner.child_elements(wrapper);
        let (Some(decrypted), None) = (children.next(), children.next()) else {
            return Err(opaque());
        };
        if !inner.is(decrypted, ASSERTION, "Assertion") {
            return fail(
                Reason::SchemaViolation,
                "decrypted content is not a saml:Assertion",
            );
        }
        check_unique_ids(&inner)?;
        if inner
            .descendants(decrypted)
            .skip(1)
            .any(|n| is_assertion_element(&inner, n))
        {
            return fail(
                Reason::MultipleAssertions,
                "decrypted assertion contains another assertion",
            );
        }
        let inner_issuer = required_issuer(&inner, decrypted)?;
        if facts.issuer.as_deref().is_some_and(|r| r != inner_issuer) {
            return fail(
                Reason::IssuerMismatch,
                "Response and Assertion issuers differ",
            );
        }
        let keys = if facts.issuer.is_some() {
            keys
        } else {
            self.trust.keys_for(Some(&inner_issuer))?
        };
        self.check_assertion(&inner, decrypted, &facts, &keys)
    }

    fn decrypt(
        &self,
        doc: &Document<'_>,
        encrypted_assertion: NodeId,
    ) -> Result<(Vec<u8>, bool), SamlError> {
        let data = doc
            .first_child_named(encrypted_assertion, XENC_NS, "EncryptedData")
            .ok_or_else(|| {
                SamlError::new(
                    Reason::DecryptionFailed,
                    "EncryptedAssertion has no EncryptedData",
                )
            })?;
        if self.decryption_keys.is_empty() {
            return fail(
                Reason::DecryptionFailed,
                "the assertion is encrypted and no decryption key is configured",
            );
        }
        let plaintext = decrypt_encrypted_data(doc, data, self.decryption_keys, &self.decryption)?;
        Ok((plaintext, content_is_authenticated(doc, data)))
    }

    fn check_assertion(
        &self,
        doc: &Document<'_>,
        assertion: NodeId,
        response: &ResponseFacts<'_>,
        keys: &samlgate_dsig::TrustedKeys,
    ) -> Result<VerifiedAssertion, SamlError> {
        check_version_and_id(doc, assertion, "Assertion")?;
        let issuer = required_issuer(doc, assertion)?;
        let own = match signature_child(doc, assertion)? {
            Some(sig) => Some(verify_enveloped(
                doc,
                assertion,
                sig,
                keys,
                &self.algorithms,
            )?),
            None => None,
        };
        // Verify-then-use: the covering signature is the assertion's own, or
        // the Response's, which covers the assertion as a direct child.
        let covering = match (&own, &response.signed) {
            (Some(v), _) => v,
            (None, Some(v)) => v,
            (None, None) => {
                return fail(
                    Reason::Unsigned,
                    "neither the Response nor the Assertion is signed",
                )
            }
        };
        let assertion_id = doc.attr(assertion, "ID").unwrap_or_default().to_owned();

        if let (Some(expected), Some(destination)) = (self.acs_url, response.destination) {
            if destination != expected {
                return fail(
                    Reason::DestinationMismatch,
                    format!("Destination {:?} is not the ACS URL", clip(destination)),
                );
            }
        }
        let expect = Expectations {
            sp_entity_id: self.sp_entity_id,
            acs_url: self.acs_url,
            in_response_to: self.in_response_to,
            response_in_response_to: response.in_response_to,
            refuse_solicited: self.refuse_solicited,
            now: self.clock.now(),
            skew_seconds: self.clock_skew_seconds,
        };
        let subject = single_child(doc, assertion, "Subject")?
            .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "Assertion has no Subject"))?;
        check_in_response_to(doc, subject, &expect)?;
        let conditions_expiry = check_conditions(doc, assertion, &expect)?;
        let confirmation_expiry = check_subject_confirmation(doc, subject, &expect)?;
        let extracted = extract(doc, assertion, subject)?;
        let not_on_or_after = match (conditions_expiry, confirmation_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(replay) = self.replay {
            let until = not_on_or_after
                .unwrap_or(expect.now)
                .plus_seconds(self.clock_skew_seconds);
            match replay.check_and_insert(&issuer, &assertion_id, until) {
                Ok(true) => {}
                Ok(false) => return fail(Reason::Replayed, "this assertion was already used"),
                Err(detail) => return Err(SamlError::ReplayStoreUnavailable { detail }),
            }
        }
        Ok(build(
            Identity {
                issuer,
                assertion_id,
                not_on_or_after,
                signing_key: covering.key_fingerprint().to_owned(),
            },
            extracted,
        ))
    }
}

pub(crate) fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

pub(crate) fn check_version_and_id(
    doc: &Document<'_>,
    el: NodeId,
    what: &str,
) -> Result<(), SamlError> {
    if doc.attr(el, "Version") != Some("2.0") {
        return fail(
            Reason::SchemaViolation,
            format!("{what} Version is not 2.0"),
        );
    }
    match doc.attr(el, "ID") {
        Some(id) if is_ncname_like(id) => {}
        _ => return fail(Reason::SchemaViolation, format!("{what} has no valid ID")),
    }
    match doc.attr(el, "IssueInstant").map(Instant::parse) {
        Some(Some(_)) => Ok(()),
        _ => fail(
            Reason::SchemaViolation,
            format!("{what} IssueInstant is missing or invalid"),
        ),
    }
}

/// xs:ID should be an NCName, but deployed IdPs send UUIDs with a leading
/// digit; what matters for reference safety is an exact, unambiguous token:
/// non-empty, bounded, no whitespace, control characters or `#`.
fn is_ncname_like(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 1024
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
}

/// IDs must be unique document-wide, or a Reference could resolve to a
/// different element than the one used (XSW7/8, CVE-2024-45409).
pub(crate) fn check_unique_ids(doc: &Document<'_>) -> Result<(), SamlError> {
    // A message has a handful of IDs: sorting them costs less than hashing
    // (and is O(n log n) for a hostile one with many).
    let mut ids: Vec<&str> = doc.unqualified_attribute_values("ID").collect();
    ids.sort_unstable();
    match ids.windows(2).find(|pair| pair.first() == pair.last()) {
        Some(pair) => fail(
            Reason::ReferenceInvalid,
            format!(
                "duplicate ID {:?}",
                clip(pair.first().copied().unwrap_or(""))
            ),
        ),
        None => Ok(()),
    }
}

fn check_status(doc: &Document<'_>, root: NodeId) -> Result<(), SamlError> {
    let status = single_child_in(doc, root, PROTOCOL, "Status")?
        .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "Response has no Status"))?;
    let code = single_child_in(doc, status, PROTOCOL, "StatusCode")?
        .ok_or_else(|| SamlError::new(Reason::SchemaViolation, "Status has no StatusCode"))?;
    match doc.attr(code, "Value") {
        Some(STATUS_SUCCESS) => Ok(()),
        Some(other) => fail(
            Reason::StatusNotSuccess,
            format!("status is {}", clip(other)),
        ),
        None => fail(Reason::SchemaViolation, "StatusCode has no Value"),
    }
}

fn is_assertion_element(doc: &Document<'_>, n: NodeId) -> bool {
    doc.is(n, ASSERTION, "Assertion") || doc.is(n, ASSERTION, "EncryptedAssertion")
}

/// Exactly one Assertion or EncryptedAssertion in the whole document, and it
/// is a direct child of the Response: none in Extensions, StatusDetail,
/// Advice, Object or foreign wrappers.
fn single_assertion(doc: &Document<'_>, root: NodeId) -> Result<NodeId, SamlError> {
    let mut found = doc.elements().filter(|n| is_assertion_element(doc, *n));
    let Some(first) = found.next() else {
        return fail(Reason::NoAssertion, "the Response carries no assertion");
    };
    if found.next().is_some() {
        return fail(
            Reason::MultipleAssertions,
            "the Response carries more than one assertion",
        );
    }
    if doc.parent(first) != Some(root) {
        return fail(
            Reason::SchemaViolation,
            "the assertion is not a direct child of the Response",
        );
    }
    Ok(first)
}

fn single_child(
    doc: &Document<'_>,
    parent: NodeId,
    local: &str,
) -> Result<Option<NodeId>, SamlError> {
    single_child_in(doc, parent, ASSERTION, local)
}

pub(crate) fn single_child_in(
    doc: &Document<'_>,
    parent: NodeId,
    ns: &str,
    local: &str,
) -> Result<Option<NodeId>, SamlError> {
    let mut it = doc.children_named(parent, ns, local);
    let first = it.next();
    if it.next().is_some() {
        return fail(Reason::SchemaViolation, format!("more than one {local}"));
    }
    Ok(first)
}

fn issuer_of(doc: &Document<'_>, el: NodeId) -> Result<Option<String>, SamlError> {
    Ok(single_child(doc, el, "Issuer")?.map(|i| doc.text_content(i).trim().to_owned()))
}

fn required_issuer(doc: &Document<'_>, assertion: NodeId) -> Result<String, SamlError> {
    match issuer_of(doc, assertion)? {
        Some(i) if !i.is_empty() => Ok(i),
        _ => fail(Reason::SchemaViolation, "Assertion has no Issuer"),
    }
}

/// Decrypted plaintext is a fragment serialized without the namespace
/// declarations of its context; re-parse it inside a wrapper that declares
/// what is in scope at the EncryptedAssertion (XML-Enc "parse in context").
fn wrap_in_scope(doc: &Document<'_>, at: NodeId, plaintext: &[u8]) -> Vec<u8> {
    let body = strip_xml_declaration(plaintext);
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"<samlgate-decrypted");
    let mut seen: Vec<&str> = Vec::new();
    let mut cur = Some(at);
    while let Some(c) = cur {
        for d in doc.namespace_decls(c) {
            if seen.contains(&d.prefix()) {
                continue;
            }
            seen.push(d.prefix());
            if d.prefix().is_empty() {
                out.extend_from_slice(b" xmlns=\"");
            } else {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(d.prefix().as_bytes());
                out.extend_from_slice(b"=\"");
            }
            for ch in d.uri().chars() {
                match ch {
                    '"' => out.extend_from_slice(b"&quot;"),
                    '&' => out.extend_from_slice(b"&amp;"),
                    '<' => out.extend_from_slice(b"&lt;"),
                    c => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            out.push(b'"');
        }
        cur = doc.parent(c);
    }
    out.push(b'>');
    out.extend_from_slice(body);
    out.extend_from_slice(b"</samlgate-decrypted>");
    out
}

fn strip_xml_declaration(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    if b.starts_with(b"<?xml") && b.get(5).is_some_and(|c| c.is_ascii_whitespace()) {
        if let Some(end) = b.windows(2).position(|w| w == b"?>") {
            return b.get(end + 2..).unwrap_or(&[]);
        }
    }
    b
}

/// The Issuer a Response claims (the Response's, else its Assertion's),
/// read WITHOUT verification: only for labelling a refusal in logs and
/// metrics with the IdP it names, never for trust or for any decision.
/// None when the message does not parse or names none.
pub fn claimed_issuer(xml: &[u8], limits: &Limits) -> Option<String> {
    let doc = Document::parse(xml, limits).ok()?;
    let root = doc.root();
    if let Ok(Some(issuer)) = issuer_of(&doc, root) {
        if !issuer.is_empty() {
            return Some(issuer);
        }
    }
    let assertion = doc.first_child_named(root, ASSERTION, "Assertion")?;
    issuer_of(&doc, assertion)
        .ok()
        .flatten()
        .filter(|i| !i.is_empty())
}
