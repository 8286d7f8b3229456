//! The Assertion Consumer Service, as plain functions of their inputs (no
//! HTTP types), so that every reject path is testable without sockets.
//!
//! Verify, then use: the engine verifies the Response with no state
//! involved; only a verified assertion that passed every gateway check
//! reaches the store (one call), and only the store's answer turns it
//! into a [`FreshAssertion`], the one thing a session can be made from.
//! Unverified input changes no state: a refused Response neither writes
//! the replay store nor clears the browser's login state.

use std::time::Instant as MonoInstant;

use samlgate_saml::{claimed_issuer, decode_input, Reason, VerifiedAssertion};
use samlgate_store::{Admission, AssertionAdmission, RequestToken, SessionId, SubjectKey};
use samlgate_xml::Limits;

use crate::login::safe_return_to;
use crate::reason::GatewayReason;
use crate::session::{Cookies, LoginState, Session, SessionError};
use crate::state::{Gateway, Shared};

/// Why a refused sign-in over plain HTTP most likely failed, for the page
/// and the log line: the browser did not send the Lax login-state cookie
/// on the IdP's cross-site POST.
pub const HINT_LOGIN_COOKIE_OVER_HTTP: &str = "login_cookie_not_sent_over_http";

/// The answer of the ACS.
#[derive(Debug)]
pub enum AcsOutcome {
    /// 303 to `location` with these `Set-Cookie` values.
    Accepted {
        /// Where the browser goes next.
        location: String,
        /// Session cookies and the cleared login-state cookie.
        set_cookies: Vec<String>,
        /// The configured IdP name.
        idp: String,
        /// NameID, for the log line when configured.
        name_id: String,
        /// The session's handle for `POST /sessions/revoke` (log line).
        session: String,
    },
    /// An error page.
    Rejected {
        /// Reason code, status and page text.
        reason: GatewayReason,
        /// For the log only: never shown to the client.
        detail: String,
        /// The configured IdP the Response names (verified or not: a
        /// label only), when it names one.
        idp: Option<String>,
        /// What to change, when the gateway can tell (page and log).
        hint: Option<&'static str>,
    },
}

fn rejected(
    reason: impl Into<GatewayReason>,
    detail: impl Into<String>,
    idp: Option<String>,
) -> AcsOutcome {
    AcsOutcome::Rejected {
        reason: reason.into(),
        detail: detail.into(),
        idp,
        hint: None,
    }
}

/// Percent-decodes one form value (`+` is a space) in one pass. The
/// general form decoders copy the value three times (plus-replace,
/// percent-decode, UTF-8 repair), which for a 10 KB base64 Response cost
/// more than the rest of the ACS apart from the RSA verification. Runs
/// between escapes are found with SIMD `memchr` and copied at once: a
/// URL-encoded base64 value has an escape every ~16 bytes (`%2B`, `%2F`).
fn form_value(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = memchr::memchr2(b'+', b'%', rest) {
        out.extend_from_slice(rest.get(..at)?);
        if rest.get(at) == Some(&b'+') {
            out.push(b' ');
            rest = rest.get(at + 1..)?;
        } else {
            let (hi, lo) = (rest.get(at + 1)?, rest.get(at + 2)?);
            out.push(hex_value(*hi)? << 4 | hex_value(*lo)?);
            rest = rest.get(at + 3..)?;
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The ACS form: SAMLResponse (bytes; decode_input checks them) and the
/// optional RelayState (UTF-8). A repeated field is refused: two parsers
/// (ours and a logging or WAF layer) could otherwise each pick a different
/// one (ATTACKS §20); so are broken escapes.
pub fn parse_form(body: &[u8]) -> Result<(Vec<u8>, Option<String>), String> {
    let mut saml_response = None;
    let mut relay_state = None;
    // memchr rather than a byte-wise split: the body is ~10 KB.
    let mut rest = Some(body);
    while let Some(remaining) = rest {
        let (pair, after) = match memchr::memchr(b'&', remaining) {
            Some(i) => (remaining.get(..i).unwrap_or(&[]), remaining.get(i + 1..)),
            None => (remaining, None),
        };
        rest = after;
        let (name, value) = match memchr::memchr(b'=', pair) {
            Some(i) => (
                pair.get(..i).unwrap_or(&[]),
                pair.get(i + 1..).unwrap_or(&[]),
            ),
            None => (pair, &[][..]),
        };
        let name = form_value(name).ok_or("a form field name has a broken %-escape")?;
        let slot_is_response = match name.as_slice() {
            b"SAMLResponse" => true,
            b"RelayState" => false,
            _ => continue,
        };
        let value = form_value(value).ok_or("a form value has a broken %-escape")?;
        let field = if slot_is_response {
            "SAMLResponse"
        } else {
            "RelayState"
        };
        let duplicate = if slot_is_response {
            saml_response.replace(value).is_some()
        } else {
            let text =
                String::from_utf8(value).map_err(|_| "RelayState is not UTF-8".to_owned())?;
            relay_state.replace(text).is_some()
        };
        if duplicate {
            return Err(format!("form field {field} given twice"));
        }
    }
    let saml_response = saml_response.ok_or("no SAMLResponse form field")?;
    Ok((saml_response, relay_state))
}

/// SAML caps RelayState at 80 bytes (bindings §3.4.3).
pub const MAX_RELAY_STATE: usize = 80;

/// A verified assertion that passed every gateway check, not yet admitted
/// by the replay store. Only [`admit`] turns it into a [`FreshAssertion`].
#[derive(Debug)]
pub struct PendingAssertion {
    assertion: VerifiedAssertion,
    idp: String,
    subject: SubjectKey,
    /// End of the acceptance window plus skew (unix ms).
    window_end_ms: i64,
}

/// An assertion the replay store has seen for the first time.
#[derive(Debug)]
pub struct FreshAssertion(PendingAssertion);

/// The single store call of an ACS: replay and logout tombstones. A store
/// that cannot answer refuses the login (`store_unavailable`), whatever
/// the policy: with `on_failure = "local"` the store itself answers from
/// its node-local memory instead.
pub async fn admit(
    shared: &Shared,
    pending: PendingAssertion,
) -> Result<FreshAssertion, AcsOutcome> {
    let token = RequestToken::random().map_err(|e| {
        rejected(
            GatewayReason::Internal,
            e.to_string(),
            Some(pending.idp.clone()),
        )
    })?;
    let a = &pending.assertion;
    let admission = AssertionAdmission {
        subject: pending.subject,
        issuer: a.issuer(),
        assertion_id: a.assertion_id(),
        session_index: a.session_index(),
        issue_instant_ms: a.issue_instant().map_or(0, |t| t.unix_millis()),
        expires_ms: pending.window_end_ms,
        token,
    };
    let idp = Some(pending.idp.clone());
    match shared.store.admit(&admission).await {
        Ok(Admission::Fresh) => Ok(FreshAssertion(pending)),
        Ok(Admission::Replayed) => {
            shared.metrics.replay_rejections.inc();
            Err(rejected(
                Reason::Replayed,
                "this assertion was already used",
                idp,
            ))
        }
        Ok(Admission::LoggedOut) => Err(rejected(
            GatewayReason::LoggedOut,
            "a logout for this subject or SessionIndex came before this assertion",
            idp,
        )),
        Err(e) => Err(rejected(
            GatewayReason::StoreUnavailable,
            e.to_string(),
            idp,
        )),
    }
}

/// Handles an ACS POST body (`application/x-www-form-urlencoded`).
pub async fn consume(
    gateway: &Gateway,
    shared: &Shared,
    body: &[u8],
    cookies: &Cookies<'_>,
) -> AcsOutcome {
    let (pending, login, relay_state) = match verify(gateway, shared, body, cookies) {
        Ok(verified) => verified,
        Err(outcome) => return outcome,
    };
    let fresh = match admit(shared, pending).await {
        Ok(fresh) => fresh,
        Err(outcome) => return outcome,
    };
    issue_session(
        gateway,
        shared,
        fresh,
        login,
        relay_state.as_deref(),
        cookies,
    )
}

/// Everything up to the store: form, decoding, the engine, the gateway's
/// own checks. No state changes here.
fn verify(
    gateway: &Gateway,
    shared: &Shared,
    body: &[u8],
    cookies: &Cookies<'_>,
) -> Result<(PendingAssertion, Option<LoginState>, Option<String>), AcsOutcome> {
    let (saml_response, relay_state) =
        parse_form(body).map_err(|detail| rejected(Reason::MalformedInput, detail, None))?;
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err(rejected(
            GatewayReason::RelayStateInvalid,
            "RelayState longer than 80 bytes",
            None,
        ));
    }
    let limits = Limits::default();
    let xml = decode_input(&saml_response, limits.max_document_bytes)
        .map_err(|e| rejected(e.reason(), e.to_string(), None))?;

    let now = shared.clock.now();
    let now_s = now.unix_millis() / 1000;
    let login = relay_state.as_deref().and_then(|rs| {
        gateway
            .cookies
            .read_login(&gateway.ring, cookies, rs, now_s)
    });
    // A refusal names the configured IdP the Response claims to come
    // from (a label for logs and metrics; never trusted for anything).
    let label = |gateway: &Gateway| {
        claimed_issuer(&xml, &limits)
            .and_then(|issuer| gateway.idp_for_issuer(&issuer))
            .map(|idp| idp.config.name.clone())
    };
    let hint = |reason: GatewayReason| {
        (reason == GatewayReason::Engine(Reason::InResponseToMismatch)
            && login.is_none()
            && relay_state.is_some()
            && !gateway.cookies.secure)
            .then_some(HINT_LOGIN_COOKIE_OVER_HTTP)
    };
    let refuse =
        |reason: GatewayReason, detail: String, idp: Option<String>| AcsOutcome::Rejected {
            hint: hint(reason),
            reason,
            detail,
            idp,
        };

    // Without a login state in this browser, a Response that answers a
    // request is refused even where IdP-initiated login is allowed: it
    // was not meant for this browser.
    let trust = gateway.trust();
    let validator = gateway.validator(
        &trust,
        shared.clock.as_ref(),
        login.as_ref().map(|l| l.request_id.as_str()),
        login.is_none(),
    );
    let started = MonoInstant::now();
    let cpu_started = cpu_time::ThreadTime::try_now().ok();
    let result = validator.validate(&xml);
    shared
        .metrics
        .acs_validation_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Some(cpu) = cpu_started.and_then(|t| t.try_elapsed().ok()) {
        shared
            .metrics
            .acs_validation_cpu_seconds
            .observe(cpu.as_secs_f64());
    }
    let assertion = match result {
        Ok(a) => a,
        Err(e) => {
            return Err(refuse(e.reason().into(), e.to_string(), label(gateway)));
        }
    };
    let Some(idp) = gateway.idp_for_issuer(assertion.issuer()) else {
        return Err(rejected(
            Reason::UnknownIssuer,
            "issuer is not a configured IdP",
            None,
        ));
    };
    let idp_name = idp.config.name.clone();
    let fail = |reason: GatewayReason, detail: &str| {
        Err(refuse(reason, detail.to_owned(), Some(idp_name.clone())))
    };

    match &login {
        Some(state) if state.idp != idp_name => {
            return fail(
                Reason::IssuerMismatch.into(),
                "the Response comes from another IdP than the one the login was sent to",
            );
        }
        None if !idp.config.allow_idp_initiated => {
            return fail(
                Reason::InResponseToMismatch.into(),
                "no login in progress for this RelayState in this browser, and IdP-initiated login is not allowed for this IdP",
            );
        }
        _ => {}
    }
    if idp.config.require_name_id_format {
        if let Some(wanted) = &idp.config.name_id_format {
            if assertion.name_id_format() != Some(wanted.as_str()) {
                return fail(
                    Reason::NameidFormatMismatch.into(),
                    &format!(
                        "NameID Format {:?} is not the required {wanted}",
                        assertion.name_id_format().unwrap_or("(none)")
                    ),
                );
            }
        }
    }

    let skew = gateway.config.sp.clock_skew_seconds;
    let max_age = gateway.config.sp.max_response_age_seconds;
    let oldest = now.plus_seconds(-(max_age + skew));
    let issued = match assertion.issue_instant() {
        Some(t) if t >= oldest && t <= now.plus_seconds(skew) => t,
        Some(t) if t > now.plus_seconds(skew) => {
            return fail(
                Reason::NotYetValid.into(),
                "the assertion's IssueInstant is in the future",
            )
        }
        _ => {
            return fail(
                Reason::Expired.into(),
                "the assertion's IssueInstant is older than sp.max_response_age_seconds",
            )
        }
    };
    // The acceptance window ends at the first of NotOnOrAfter and the
    // IssueInstant age limit, plus skew: the replay record lives exactly
    // that long. The age limit bounds it, so no assertion's window can
    // outlive its replay record (nothing is capped silently).
    let by_age = issued.plus_seconds(max_age + skew);
    let window_end = assertion
        .not_on_or_after()
        .map_or(by_age, |t| t.plus_seconds(skew).min(by_age));
    let subject = SubjectKey::new(
        assertion.issuer(),
        assertion.name_id_format(),
        assertion.name_qualifier(),
        assertion.sp_name_qualifier(),
        assertion.name_id(),
    );
    Ok((
        PendingAssertion {
            assertion,
            idp: idp_name,
            subject,
            window_end_ms: window_end.unix_millis(),
        },
        login,
        relay_state,
    ))
}

/// The session cookies for an admitted assertion, and where to go next.
fn issue_session(
    gateway: &Gateway,
    shared: &Shared,
    fresh: FreshAssertion,
    login: Option<LoginState>,
    relay_state: Option<&str>,
    request: &Cookies<'_>,
) -> AcsOutcome {
    let FreshAssertion(pending) = fresh;
    let assertion = pending.assertion;
    let idp_name = pending.idp;
    let now_s = shared.clock.now().unix_millis() / 1000;
    let fail =
        |reason: GatewayReason, detail: String| rejected(reason, detail, Some(idp_name.clone()));
    let mut expires = now_s + gateway.config.session.lifetime_seconds;
    if let Some(limit) = assertion.session_not_on_or_after() {
        expires = expires.min(limit.unix_millis() / 1000);
    }
    if expires <= now_s {
        return fail(
            Reason::Expired.into(),
            "SessionNotOnOrAfter has passed".into(),
        );
    }
    let session_id = match SessionId::random() {
        Ok(id) => id,
        Err(e) => return fail(GatewayReason::Internal, e.to_string()),
    };
    let session = Session {
        idp: idp_name.clone(),
        issuer: assertion.issuer().to_owned(),
        name_id: assertion.name_id().to_owned(),
        name_id_format: assertion.name_id_format().map(str::to_owned),
        name_qualifier: assertion.name_qualifier().map(str::to_owned),
        sp_name_qualifier: assertion.sp_name_qualifier().map(str::to_owned),
        session_index: assertion.session_index().map(str::to_owned),
        attributes: assertion.attributes().to_vec(),
        issued: now_s,
        expires,
        session_id: session_id.to_b64url(),
        assertion_issued_ms: assertion.issue_instant().map_or(0, |t| t.unix_millis()),
    };
    let mut set_cookies =
        match gateway
            .cookies
            .session_cookies(&gateway.ring, &session, expires - now_s)
        {
            Ok(c) => c,
            Err(e @ SessionError::TooLarge { .. }) => {
                shared.metrics.sessions_too_large.inc();
                return fail(GatewayReason::SessionTooLarge, e.to_string());
            }
            Err(e) => return fail(GatewayReason::Internal, e.to_string()),
        };
    let live = set_cookies.len();
    set_cookies.extend(gateway.cookies.stale_chunks(live, request));
    let location = match (&login, relay_state) {
        (Some(state), Some(relay_state)) => {
            // The login is used: its state cookie goes (only now, after
            // the Response verified and was admitted).
            set_cookies.push(gateway.cookies.clear_login(relay_state));
            state.return_to.clone()
        }
        _ => safe_return_to(gateway, relay_state),
    };
    shared
        .metrics
        .sessions_issued
        .with_label_values(&[&idp_name])
        .inc();
    AcsOutcome::Accepted {
        location,
        set_cookies,
        idp: idp_name,
        name_id: session.name_id,
        session: samlgate_store::session_handle(&pending.subject, &session_id),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_form;

    #[test]
    fn form_fields_decode_like_a_browser_sends_them() {
        let (r, rs) =
            parse_form(b"SAMLResponse=PHNh%2Bb%2F%3D&RelayState=%2Fapp%3Fx%3D1+2&other=z").unwrap();
        assert_eq!(r, b"PHNh+b/=");
        assert_eq!(rs.as_deref(), Some("/app?x=1 2"));
        let (r, rs) = parse_form(b"x=1&SAMLResponse=").unwrap();
        assert!(r.is_empty() && rs.is_none());
        for bad in [
            &b"RelayState=a"[..],
            b"SAMLResponse=a&SAMLResponse=b",
            b"SAMLResponse=a&RelayState=1&RelayState=2",
            b"SAMLResponse=a%2",
            b"SAMLResponse=a%zz",
            b"SAMLResponse=a&RelayState=%ff",
        ] {
            assert!(parse_form(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// The memchr decoder agrees with the form_urlencoded crate on what
    /// browsers send: every byte value, escapes at the start, the end and
    /// back to back, `+`, and runs of every length.
    #[test]
    fn form_values_decode_like_the_reference_decoder() {
        use base64::Engine as _;
        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let mut values: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"+".to_vec(),
            b"a b+c".to_vec(),
            all_bytes.clone(),
            base64::engine::general_purpose::STANDARD
                .encode(&all_bytes)
                .into_bytes(),
        ];
        for len in 0..40 {
            values.push((0..len).map(|i| b"+/=a %&"[i % 7]).collect());
        }
        for value in values {
            let encoded: String = form_urlencoded::byte_serialize(&value).collect();
            let body = format!("SAMLResponse={encoded}");
            let (decoded, _) = parse_form(body.as_bytes()).unwrap();
            assert_eq!(decoded, value, "{encoded}");
            // A hand-written escape in both cases of hex digit.
            let upper = encoded.replace("%2F", "%2f");
            let (decoded, _) = parse_form(format!("SAMLResponse={upper}").as_bytes()).unwrap();
            assert_eq!(decoded, value, "{upper}");
        }
    }
}
