//! SAML 2.0 Single Logout at `sp.slo_path`, both directions, as plain
//! functions of the request's parts (no HTTP types).
//!
//! - SP-initiated: the user's own logout. A same-origin GET (`Sec-Fetch-Site`
//!   `same-origin` or `none`) or a POST from the gateway's confirmation
//!   page revokes the session everywhere, clears the cookies and sends the
//!   browser to the IdP's SingleLogoutService with a signed LogoutRequest;
//!   any other GET gets the confirmation page (another site cannot log
//!   users out). The IdP's LogoutResponse comes back here, is verified
//!   against the logout state bound to the browser, and the user lands on
//!   `sp.logout_landing`. The user is signed out locally before the IdP is
//!   asked, whatever the IdP answers.
//! - IdP-initiated: a signed LogoutRequest (Redirect or POST binding) is
//!   verified, checked for replay in the store, and revokes every matching
//!   session on every node (a subject not-before, or one SessionIndex),
//!   then is answered with a signed LogoutResponse: `Success`, or
//!   `PartialLogout` when the revocation could not be stored yet (it is
//!   queued and enforced on this node at once). Nothing is revoked for a
//!   message that fails any check.

use std::sync::Arc;

use samlgate_saml::{
    xml_escape, IdpEntity, LogoutRequest, LogoutResponse, LogoutStatus, LogoutValidator, NameId,
    Reason, SamlError, VerifiedLogout, VerifiedLogoutRequest, VerifiedLogoutResponse,
    BINDING_HTTP_POST,
};
use samlgate_store::{Admission, AssertionAdmission, RequestToken, Revocation, RevokeOutcome};
use samlgate_xml::Limits;

use crate::login::random_hex;
use crate::pages::Page;
use crate::reason::GatewayReason;
use crate::session::{Cookies, LogoutState};
use crate::state::{Gateway, OpenSession, Shared};

/// How old a logout message may be (plus skew): it is acted on at once.
const MAX_MESSAGE_AGE_SECONDS: i64 = 300;
/// How long our LogoutRequest and its logout state stay valid.
const LOGOUT_LIFETIME_SECONDS: i64 = 300;

/// What the SLO endpoint answers.
#[derive(Debug)]
pub enum SloReply {
    /// A redirect (to the IdP, or to the landing page).
    Redirect {
        /// Where to.
        location: String,
        /// Cookies to set or clear.
        cookies: Vec<String>,
    },
    /// A page (confirmation, signed out, an auto-posting form).
    Page {
        /// The page.
        page: Page,
        /// Cookies to set or clear.
        cookies: Vec<String>,
    },
    /// A refusal: nothing was revoked.
    Refused {
        /// The reason code.
        reason: GatewayReason,
        /// For the log.
        detail: String,
        /// Cookies to set or clear.
        cookies: Vec<String>,
    },
}

/// The parts of a request to the SLO endpoint.
#[derive(Debug)]
pub struct SloRequest<'r> {
    /// `GET` or `POST` (others are refused by the caller).
    pub post: bool,
    /// The raw query string as received (never re-encoded: the Redirect
    /// binding's signature covers its bytes).
    pub query: Option<&'r str>,
    /// The form body of a POST.
    pub body: &'r [u8],
    /// The request's cookies.
    pub cookies: &'r Cookies<'r>,
    /// `Sec-Fetch-Site`, when the browser sent it.
    pub fetch_site: Option<&'r str>,
    /// The browser's session, if it has a valid one.
    pub session: Option<Arc<OpenSession>>,
}

/// The outcome label of `samlgate_slo_total` and the log line.
#[derive(Debug, Clone, Copy)]
pub struct SloEvent {
    /// `sp` (our logout) or `idp` (the IdP's).
    pub direction: &'static str,
    /// `redirect` or `post`.
    pub binding: &'static str,
    /// `accepted`, `partial` or `refused`.
    pub outcome: &'static str,
    /// The reason code, or `none`.
    pub reason: &'static str,
}

/// Handles one request to the SLO endpoint.
pub async fn handle(
    gateway: &Gateway,
    shared: &Shared,
    request: SloRequest<'_>,
) -> (SloReply, Option<SloEvent>) {
    let message = if request.post {
        form_field_present(request.body, &["SAMLRequest", "SAMLResponse"])
    } else {
        request
            .query
            .is_some_and(|q| form_field_present(q.as_bytes(), &["SAMLRequest", "SAMLResponse"]))
    };
    if message {
        return from_idp(gateway, shared, &request).await;
    }
    let confirmed = if request.post {
        confirmation_matches(gateway, &request)
    } else {
        matches!(request.fetch_site, Some("same-origin" | "none"))
    };
    if !confirmed {
        let Some(session) = &request.session else {
            // Nothing to end in this browser.
            return (
                landing(gateway, None, gateway.cookies.clear_session()),
                None,
            );
        };
        return (confirmation_page(gateway, session), None);
    }
    sp_initiated(gateway, shared, &request).await
}

/// True when the urlencoded `form` has one of `names` (exact names; the
/// validator parses and refuses duplicates and decoys itself).
fn form_field_present(form: &[u8], names: &[&str]) -> bool {
    form_urlencoded::parse(form).any(|(name, _)| names.contains(&name.as_ref()))
}

fn form_field(form: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// The confirmation form's token: the session ID sealed for this purpose,
/// so that another site cannot make a browser post it.
fn confirmation_token(gateway: &Gateway, session: &OpenSession) -> Option<String> {
    gateway
        .ring
        .seal("logout-confirm", session.session.session_id.as_bytes())
        .ok()
}

fn confirmation_matches(gateway: &Gateway, request: &SloRequest<'_>) -> bool {
    let (Some(session), Some(token)) = (&request.session, form_field(request.body, "confirm"))
    else {
        return false;
    };
    gateway
        .ring
        .open("logout-confirm", &token)
        .is_some_and(|sid| sid == session.session.session_id.as_bytes())
}

fn confirmation_page(gateway: &Gateway, session: &OpenSession) -> SloReply {
    let token = confirmation_token(gateway, session).unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out?</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto}}</style></head><body>\
<h1>Sign out?</h1><p>You are signed in as <code>{}</code>.</p>\
<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"confirm\" value=\"{}\">\
<button type=\"submit\">Sign out</button></form></body></html>",
        xml_escape(&session.session.name_id),
        xml_escape(&gateway.config.sp.slo_path),
        xml_escape(&token)
    );
    SloReply::Page {
        page: Page {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        },
        cookies: Vec::new(),
    }
}

/// Where a signed-out browser goes: `sp.logout_landing`, or a page saying
/// so (and whether the IdP confirmed).
fn landing(gateway: &Gateway, note: Option<&str>, cookies: Vec<String>) -> SloReply {
    if let Some(location) = &gateway.config.sp.logout_landing {
        return SloReply::Redirect {
            location: location.clone(),
            cookies,
        };
    }
    let note = note.map_or(String::new(), |n| format!("<p>{}</p>", xml_escape(n)));
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto}}</style></head><body>\
<h1>You are signed out</h1><p>Your session on this service has ended.</p>{note}</body></html>"
    );
    SloReply::Page {
        page: Page {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        },
        cookies,
    }
}

/// The user's own logout: revoke, clear, then ask the IdP.
async fn sp_initiated(
    gateway: &Gateway,
    shared: &Shared,
    request: &SloRequest<'_>,
) -> (SloReply, Option<SloEvent>) {
    let mut cookies = gateway.cookies.clear_session();
    let Some(open) = &request.session else {
        return (landing(gateway, None, cookies), None);
    };
    let session = &open.session;
    let now_ms = shared.clock.now().unix_millis();
    let revocation = Revocation::Session {
        subject: open.subject,
        session_id: open.session_id,
        expires_ms: session.expires.saturating_mul(1000),
    };
    match shared.store.revoke(&revocation).await {
        Ok(_) => {}
        // The cookie is cleared anyway; the store queues what it could not
        // write, or this node alone forgets nothing until it expires.
        Err(e) => tracing::warn!(error = %e, "logout: the revocation could not be stored"),
    }
    shared
        .metrics
        .cluster
        .revocations
        .with_label_values(&["sp_logout"])
        .inc();
    let Some(idp) = gateway.idp_named(&session.idp) else {
        return (landing(gateway, None, cookies), None);
    };
    let entity = idp.entity();
    let endpoint = entity.as_ref().and_then(IdpEntity::logout_endpoint);
    let (Some(endpoint), Some(key)) = (endpoint, gateway.signing_key.as_ref()) else {
        // No SingleLogoutService (or no key to sign a request with):
        // local logout only.
        return (landing(gateway, None, cookies), None);
    };
    let (Ok(id), Ok(relay_state)) = (random_hex(20), random_hex(16)) else {
        return (landing(gateway, None, cookies), None);
    };
    let request_id = format!("_{id}");
    let name_id = NameId {
        value: session.name_id.clone(),
        format: session.name_id_format.clone(),
        name_qualifier: session.name_qualifier.clone(),
        sp_name_qualifier: session.sp_name_qualifier.clone(),
    };
    let session_indexes: Vec<String> = session.session_index.iter().cloned().collect();
    let now = shared.clock.now();
    let logout = LogoutRequest {
        id: &request_id,
        issue_instant: now,
        destination: &endpoint.location,
        issuer: &gateway.config.sp.entity_id,
        name_id: &name_id,
        session_indexes: &session_indexes,
        not_on_or_after: Some(now.plus_seconds(LOGOUT_LIFETIME_SECONDS)),
        reason: Some(samlgate_saml::ns::LOGOUT_REASON_USER),
    };
    let state = LogoutState {
        request_id: request_id.clone(),
        idp: session.idp.clone(),
        relay_state: relay_state.clone(),
        expires: now_ms / 1000 + LOGOUT_LIFETIME_SECONDS,
    };
    match gateway
        .cookies
        .logout_cookie(&gateway.ring, &state, LOGOUT_LIFETIME_SECONDS)
    {
        Ok(c) => cookies.push(c),
        Err(e) => {
            tracing::warn!(error = %e, "logout: cannot bind the logout to the browser");
            return (landing(gateway, None, cookies), None);
        }
    }
    let post = endpoint.binding == BINDING_HTTP_POST;
    let event = SloEvent {
        direction: "sp",
        binding: if post { "post" } else { "redirect" },
        outcome: "sent",
        reason: "none",
    };
    let reply = if post {
        logout
            .post_form(Some(&relay_state), key)
            .map(|form| SloReply::Page {
                page: Page {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: form.into_bytes(),
                },
                cookies: cookies.clone(),
            })
    } else {
        logout
            .redirect_url(Some(&relay_state), key)
            .map(|location| SloReply::Redirect {
                location,
                cookies: cookies.clone(),
            })
    };
    match reply {
        Ok(reply) => (reply, Some(event)),
        Err(e) => {
            tracing::warn!(error = %e, "logout: cannot sign the LogoutRequest");
            (landing(gateway, None, cookies), None)
        }
    }
}

/// A message from the IdP: its LogoutResponse to our request, or its own
/// LogoutRequest.
async fn from_idp(
    gateway: &Gateway,
    shared: &Shared,
    request: &SloRequest<'_>,
) -> (SloReply, Option<SloEvent>) {
    let now_s = shared.clock.now().unix_millis() / 1000;
    // The RelayState names the logout state of our own request; read
    // before verification only to find what InResponseTo to expect (a
    // forged one finds nothing, and the Redirect signature covers it).
    let relay_state = if request.post {
        form_field(request.body, "RelayState")
    } else {
        request
            .query
            .and_then(|q| form_field(q.as_bytes(), "RelayState"))
    };
    let logout_state = relay_state.as_deref().and_then(|rs| {
        gateway
            .cookies
            .read_logout(&gateway.ring, request.cookies, rs, now_s)
    });
    let trust = gateway.trust();
    let slo_urls = [gateway.slo_url.clone()];
    let validator = LogoutValidator {
        trust: &trust,
        slo_urls: &slo_urls,
        in_response_to: logout_state.as_ref().map(|s| s.request_id.as_str()),
        clock: shared.clock.as_ref(),
        clock_skew_seconds: gateway.config.sp.clock_skew_seconds,
        max_age_seconds: MAX_MESSAGE_AGE_SECONDS,
        algorithms: gateway.algorithms,
        limits: Limits::default(),
    };
    let binding = if request.post { "post" } else { "redirect" };
    let verified = if request.post {
        validator.validate_post(request.body)
    } else {
        validator.validate_redirect(request.query.unwrap_or_default())
    };
    match verified {
        Ok(VerifiedLogout::Request(logout)) => {
            idp_initiated(gateway, shared, request, logout, binding).await
        }
        Ok(VerifiedLogout::Response(response)) => {
            let mut cookies = Vec::new();
            if let Some(rs) = &relay_state {
                cookies.push(gateway.cookies.clear_logout(rs));
            }
            (
                logout_response(gateway, &response, cookies),
                Some(sp_event(binding, &response)),
            )
        }
        Err(e) => refused_message(e, binding, logout_state.is_some(), gateway),
    }
}

fn sp_event(binding: &'static str, response: &VerifiedLogoutResponse) -> SloEvent {
    let success = response.status().is_success();
    SloEvent {
        direction: "sp",
        binding,
        outcome: if success { "accepted" } else { "not_confirmed" },
        reason: if success {
            "none"
        } else {
            Reason::StatusNotSuccess.as_str()
        },
    }
}

/// The IdP's answer to our LogoutRequest (already verified, InResponseTo
/// included). The user was signed out before; this says whether the IdP
/// confirmed.
fn logout_response(
    gateway: &Gateway,
    response: &VerifiedLogoutResponse,
    cookies: Vec<String>,
) -> SloReply {
    let note = (!response.status().is_success()).then_some(
        "The identity provider did not confirm that you are signed out there; close the browser to end that session.",
    );
    landing(gateway, note, cookies)
}

/// A logout message that failed its checks: nothing is revoked. A
/// LogoutResponse to our own request still leaves the user signed out
/// (they were before it was sent), with a page saying the IdP did not
/// confirm. Unverified input changes no state: the browser's logout state
/// stays (it expires by itself), so a forged answer posted first cannot
/// make the IdP's genuine one that follows unrecognisable.
fn refused_message(
    e: SamlError,
    binding: &'static str,
    ours: bool,
    gateway: &Gateway,
) -> (SloReply, Option<SloEvent>) {
    let reason = e.reason();
    tracing::warn!(reason = reason.as_str(), detail = %e, binding, "logout message refused");
    let event = SloEvent {
        direction: if ours { "sp" } else { "idp" },
        binding,
        outcome: "refused",
        reason: reason.as_str(),
    };
    if ours {
        let note = "The identity provider's answer could not be verified, so it did not confirm that you are signed out there; close the browser to end that session.";
        return (landing(gateway, Some(note), Vec::new()), Some(event));
    }
    (
        SloReply::Refused {
            reason: GatewayReason::Engine(reason),
            detail: e.to_string(),
            cookies: Vec::new(),
        },
        Some(event),
    )
}

/// The IdP's LogoutRequest (verified): replay check, revocation, answer.
async fn idp_initiated(
    gateway: &Gateway,
    shared: &Shared,
    request: &SloRequest<'_>,
    logout: VerifiedLogoutRequest,
    binding: &'static str,
) -> (SloReply, Option<SloEvent>) {
    let refused = |reason: GatewayReason, detail: String| {
        (
            SloReply::Refused {
                reason,
                detail,
                cookies: Vec::new(),
            },
            Some(SloEvent {
                direction: "idp",
                binding,
                outcome: "refused",
                reason: reason.code(),
            }),
        )
    };
    let Some(idp) = gateway.idp_for_issuer(logout.issuer()) else {
        return refused(
            Reason::UnknownIssuer.into(),
            "issuer is not a configured IdP".into(),
        );
    };
    let name_id = logout.name_id();
    let subject = samlgate_store::SubjectKey::new(
        logout.issuer(),
        name_id.format.as_deref(),
        name_id.name_qualifier.as_deref(),
        name_id.sp_name_qualifier.as_deref(),
        &name_id.value,
    );
    let now = shared.clock.now();
    let skew = gateway.config.sp.clock_skew_seconds;
    let issued_ms = logout.issue_instant().unix_millis();
    // A LogoutRequest is used once: its ID goes through the replay store
    // like an assertion's (its own namespace in the key).
    let Ok(token) = RequestToken::random() else {
        return refused(
            GatewayReason::Internal,
            "the random number generator failed".into(),
        );
    };
    let window_end = logout
        .issue_instant()
        .plus_seconds(MAX_MESSAGE_AGE_SECONDS + 2 * skew);
    let replay_id = format!("logout:{}", logout.id());
    let admission = AssertionAdmission {
        subject,
        issuer: logout.issuer(),
        assertion_id: &replay_id,
        session_index: None,
        issue_instant_ms: issued_ms,
        expires_ms: window_end.unix_millis(),
        token,
    };
    let mut partial = false;
    match shared.store.admit(&admission).await {
        Ok(Admission::Replayed) => {
            return refused(
                Reason::Replayed.into(),
                "this LogoutRequest was already used".into(),
            );
        }
        // Already logged out after this request was issued: revoking again
        // changes nothing and the answer is the same.
        Ok(Admission::Fresh | Admission::LoggedOut) => {}
        Err(e) => {
            // The replay record could not be written: act on the logout
            // anyway (ending sessions is the safe direction) and say so.
            tracing::warn!(error = %e, "logout: the replay record could not be stored");
            partial = true;
        }
    }
    // Every session of the subject issued before the request, or the
    // named SessionIndexes; kept until the longest session they can affect
    // has expired (and at least until the request's NotOnOrAfter).
    let lifetime_ms = (gateway.config.session.lifetime_seconds + skew) * 1000;
    let until_ms = logout
        .not_on_or_after()
        .map_or(0, |t| t.unix_millis())
        .max(now.unix_millis() + lifetime_ms);
    let at_ms = issued_ms.max(1) + 1;
    let revocations: Vec<Revocation> = if logout.session_indexes().is_empty() {
        vec![Revocation::Subject {
            subject,
            not_before_ms: at_ms,
            expires_ms: until_ms,
        }]
    } else {
        logout
            .session_indexes()
            .iter()
            .map(|si| Revocation::SessionIndex {
                subject,
                session_index: si.clone(),
                at_ms,
                expires_ms: until_ms,
            })
            .collect()
    };
    for revocation in &revocations {
        match shared.store.revoke(revocation).await {
            Ok(RevokeOutcome::Stored) => {}
            Ok(RevokeOutcome::Queued) => partial = true,
            Err(e) => {
                tracing::warn!(error = %e, "logout: the revocation could not be stored");
                partial = true;
            }
        }
    }
    shared
        .metrics
        .cluster
        .revocations
        .with_label_values(&["idp_logout"])
        .inc();
    // The browser that brought the request: its session cookie goes too
    // when it is one of the sessions ended.
    let mut cookies = Vec::new();
    if let Some(open) = &request.session {
        if open.subject == subject
            && (logout.session_indexes().is_empty()
                || open
                    .session
                    .session_index
                    .as_ref()
                    .is_some_and(|si| logout.session_indexes().contains(si)))
        {
            cookies = gateway.cookies.clear_session();
        }
    }
    let event = SloEvent {
        direction: "idp",
        binding,
        outcome: if partial { "partial" } else { "accepted" },
        reason: "none",
    };
    let status = if partial {
        LogoutStatus::PartialLogout
    } else {
        LogoutStatus::Success
    };
    let entity = idp.entity();
    let endpoint = entity.as_ref().and_then(IdpEntity::logout_endpoint);
    let (Some(endpoint), Some(key)) = (endpoint, gateway.signing_key.as_ref()) else {
        tracing::warn!(idp = %idp.config.name, "logout: no SingleLogoutService or no sp.signing_key: the IdP gets no LogoutResponse");
        return (landing(gateway, None, cookies), Some(event));
    };
    let Ok(id) = random_hex(20) else {
        return (landing(gateway, None, cookies), Some(event));
    };
    let response_id = format!("_{id}");
    let answer = LogoutResponse {
        id: &response_id,
        issue_instant: now,
        destination: endpoint.response_url(),
        issuer: &gateway.config.sp.entity_id,
        in_response_to: Some(logout.id()),
        status,
        status_message: partial
            .then_some("the logout is recorded on this node and queued for the others"),
    };
    let relay_state = logout.relay_state();
    let reply = if endpoint.binding == BINDING_HTTP_POST {
        answer
            .post_form(relay_state, key)
            .map(|form| SloReply::Page {
                page: Page {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: form.into_bytes(),
                },
                cookies: cookies.clone(),
            })
    } else {
        answer
            .redirect_url(relay_state, key)
            .map(|location| SloReply::Redirect {
                location,
                cookies: cookies.clone(),
            })
    };
    match reply {
        Ok(reply) => (reply, Some(event)),
        Err(e) => {
            tracing::warn!(error = %e, "logout: cannot sign the LogoutResponse");
            (landing(gateway, None, cookies), Some(event))
        }
    }
}
