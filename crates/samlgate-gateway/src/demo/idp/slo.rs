//! Single Logout at the demo IdP, both directions, with the one SP it
//! serves. The IdP learns the SP's signing certificate and
//! SingleLogoutService endpoints from the SP metadata (registered, or read
//! once from the SP's metadata URL, as `samlgate demo` sets it).
//!
//! - SP-initiated: the SP's signed LogoutRequest arrives at `/slo`
//!   (HTTP-Redirect or HTTP-POST) and is verified with the SP's key by the
//!   same `LogoutValidator` the gateway uses; the IdP ends the sessions it
//!   names (the NameID's, or only those of its SessionIndex values) and
//!   redirects the browser to the SP with a signed LogoutResponse.
//! - IdP-initiated: the button on `/` (POST `/slo/initiate`) ends the
//!   browser's IdP session and sends it to the SP with a signed
//!   LogoutRequest (HTTP-Redirect) for that user and SessionIndex; the SP's
//!   LogoutResponse comes back to `/slo`, checked against the request ID
//!   kept in a cookie.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use samlgate_dsig::AlgorithmPolicy;
use samlgate_saml::ns::LOGOUT_REASON_USER;
use samlgate_saml::{
    xml_escape, Clock, IdpEntity, LogoutRequest, LogoutResponse, LogoutStatus, LogoutValidator,
    NameId, SamlError, SystemClock, Trust, VerifiedLogout, VerifiedLogoutRequest,
    BINDING_HTTP_REDIRECT,
};
use samlgate_xml::Limits;

use super::{text, DemoIdp, SpRegistration};
use crate::demo::html;
use crate::demo::random_hex;

/// The IdP session cookie.
const SESSION_COOKIE: &str = "samlgate_demo_idp";
/// The ID of the LogoutRequest this browser carried to the SP.
const PENDING_COOKIE: &str = "samlgate_demo_idp_logout";
/// The NameID format of the demo's assertions (and so of its logout).
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(super) struct IdpSession {
    uid: String,
    session_index: String,
}

impl DemoIdp {
    /// Starts an IdP session for `uid`; returns its cookie value and its
    /// SessionIndex.
    pub(super) fn start_session(&self, uid: &str) -> (String, String) {
        let cookie = random_hex(16);
        let session_index = format!("_s{}", random_hex(12));
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(
                cookie.clone(),
                IdpSession {
                    uid: uid.to_owned(),
                    session_index: session_index.clone(),
                },
            );
        }
        (cookie, session_index)
    }

    fn session_of(&self, req: &Request<Incoming>) -> Option<(String, IdpSession)> {
        let id = cookie(req, SESSION_COOKIE)?;
        let session = self.sessions.lock().ok()?.get(&id).cloned()?;
        Some((id, session))
    }

    /// The user names signed in now (one per IdP session), for tests.
    pub fn signed_in_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .sessions
            .lock()
            .map(|s| s.values().map(|v| v.uid.clone()).collect())
            .unwrap_or_default();
        users.sort();
        users
    }

    /// `/`: who is signed in, and the IdP-initiated logout button.
    pub(super) fn home(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match self.session_of(req) {
            Some((_, s)) => format!(
                "<h1>samlgate demo IdP</h1><p>Signed in as <b>{}</b> (session {}).</p>\
<form method=\"post\" action=\"/slo/initiate\"><button type=\"submit\">Sign out everywhere</button></form>\
<p>This ends the IdP session and sends a signed LogoutRequest to the application.</p>",
                xml_escape(&s.uid),
                xml_escape(&s.session_index)
            ),
            None => "<h1>samlgate demo IdP</h1><p>Not signed in.</p>".to_owned(),
        };
        html(StatusCode::OK, &body)
    }

    /// POST `/slo/initiate`: IdP-initiated logout of this browser's user.
    pub(super) async fn initiate_logout(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let Some((cookie_id, session)) = self.session_of(req) else {
            return html(StatusCode::OK, "<p>Not signed in at the demo IdP.</p>");
        };
        let sp = match self.sp_registration().await {
            Ok(sp) => sp,
            Err(e) => return failure(StatusCode::BAD_GATEWAY, &e),
        };
        let Some(endpoint) = sp.endpoint() else {
            self.end_sessions(|id, _| id == cookie_id);
            let mut page = html(
                StatusCode::OK,
                "<p>Signed out at the IdP. The application has no SingleLogoutService.</p>",
            );
            set_cookie(&mut page, &expired(SESSION_COOKIE));
            return page;
        };
        let now = SystemClock.now();
        let id = format!("_idp-lr-{}", random_hex(16));
        let name_id = NameId {
            value: session.uid.clone(),
            format: Some(UNSPECIFIED.into()),
            ..NameId::default()
        };
        let sessions = [session.session_index.clone()];
        let request = LogoutRequest {
            id: &id,
            issue_instant: now,
            destination: &endpoint.location,
            issuer: &self.entity_id,
            name_id: &name_id,
            session_indexes: &sessions,
            not_on_or_after: Some(now.plus_seconds(300)),
            reason: Some(LOGOUT_REASON_USER),
        };
        let sent = if endpoint.binding == BINDING_HTTP_REDIRECT {
            request
                .redirect_url(None, &self.key)
                .map(|url| see_other(&url))
        } else {
            request
                .post_form(None, &self.key)
                .map(|page| html(StatusCode::OK, &page))
        };
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        self.end_sessions(|cookie_id_of, _| cookie_id_of == cookie_id);
        set_cookie(&mut resp, &expired(SESSION_COOKIE));
        set_cookie(
            &mut resp,
            &format!("{PENDING_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"),
        );
        resp
    }

    /// `/slo`: a LogoutRequest from the SP, or its LogoutResponse to ours.
    pub(super) async fn single_logout(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let sp = match self.sp_registration().await {
            Ok(sp) => sp,
            Err(e) => return failure(StatusCode::BAD_GATEWAY, &e),
        };
        let pending = cookie(&req, PENDING_COOKIE);
        let browser_session = cookie(&req, SESSION_COOKIE);
        let mut trust = Trust::new();
        trust.add_idp(IdpEntity {
            entity_id: self.sp_entity_id.clone(),
            signing_keys: sp.signing_keys.clone(),
            ..IdpEntity::default()
        });
        let slo_urls = [format!("{}/slo", self.base_url)];
        let validator = LogoutValidator {
            trust: &trust,
            slo_urls: &slo_urls,
            in_response_to: pending.as_deref(),
            clock: &SystemClock,
            clock_skew_seconds: 180,
            max_age_seconds: 300,
            algorithms: AlgorithmPolicy::default(),
            limits: Limits::default(),
        };
        let verified = if req.method() == Method::POST {
            match Limited::new(req.into_body(), 512 * 1024).collect().await {
                Ok(body) => validator.validate_post(&body.to_bytes()),
                Err(_) => return failure(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
            }
        } else {
            validator.validate_redirect(req.uri().query().unwrap_or(""))
        };
        match verified {
            Ok(VerifiedLogout::Request(request)) => {
                self.answer_logout_request(&sp, &request, browser_session.as_deref())
            }
            Ok(VerifiedLogout::Response(response)) => {
                let outcome = match response.ensure_success() {
                    Ok(()) => {
                        "The application confirmed: you are signed out everywhere.".to_owned()
                    }
                    Err(e) => format!("The application did not confirm ({e})."),
                };
                let mut page = html(
                    StatusCode::OK,
                    &format!("<h1>Signed out</h1><p>{}</p>", xml_escape(&outcome)),
                );
                set_cookie(&mut page, &expired(PENDING_COOKIE));
                page
            }
            Err(e) => {
                let hint = if sp.signing_keys.is_empty() {
                    " The SP metadata has no signing certificate: give the gateway sp.signing_key."
                } else {
                    ""
                };
                refused(&e, hint)
            }
        }
    }

    /// Ends the sessions the verified request names and answers the SP.
    fn answer_logout_request(
        &self,
        sp: &SpRegistration,
        request: &VerifiedLogoutRequest,
        browser_session: Option<&str>,
    ) -> Response<Full<Bytes>> {
        let name_id = request.name_id();
        let format_ok = name_id.format.as_deref().is_none_or(|f| f == UNSPECIFIED);
        let ended = if format_ok {
            self.end_sessions(|_, s| {
                s.uid == name_id.value
                    && (request.session_indexes().is_empty()
                        || request.session_indexes().contains(&s.session_index))
            })
        } else {
            0
        };
        tracing::info!(uid = %name_id.value, ended, "demo IdP: SP-initiated logout");
        let Some(endpoint) = sp.endpoint() else {
            return failure(StatusCode::BAD_GATEWAY, "the SP has no SingleLogoutService");
        };
        let id = format!("_idp-lresp-{}", random_hex(16));
        let response = LogoutResponse {
            id: &id,
            issue_instant: SystemClock.now(),
            destination: endpoint.response_url(),
            issuer: &self.entity_id,
            in_response_to: Some(request.id()),
            status: LogoutStatus::Success,
            status_message: None,
        };
        let sent = if endpoint.binding == BINDING_HTTP_REDIRECT {
            response
                .redirect_url(request.relay_state(), &self.key)
                .map(|url| see_other(&url))
        } else {
            response
                .post_form(request.relay_state(), &self.key)
                .map(|page| html(StatusCode::OK, &page))
        };
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let still_signed_in = browser_session
            .is_some_and(|id| self.sessions.lock().is_ok_and(|s| s.contains_key(id)));
        if browser_session.is_some() && !still_signed_in {
            set_cookie(&mut resp, &expired(SESSION_COOKIE));
        }
        resp
    }

    /// Removes every session `matches` selects; returns how many.
    fn end_sessions(&self, matches: impl Fn(&str, &IdpSession) -> bool) -> usize {
        let Ok(mut sessions) = self.sessions.lock() else {
            return 0;
        };
        let before = sessions.len();
        sessions.retain(|id, s| !matches(id, s));
        before - sessions.len()
    }
}

fn cookie(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) fn set_cookie(resp: &mut Response<Full<Bytes>>, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        resp.headers_mut().append(http::header::SET_COOKIE, v);
    }
}

/// The session cookie line for a new IdP session.
pub(super) fn session_cookie(value: &str) -> String {
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax")
}

fn expired(name: &str) -> String {
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
}

fn see_other(url: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = http::HeaderValue::from_str(url) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

fn failure(status: StatusCode, detail: &str) -> Response<Full<Bytes>> {
    text(status, "text/plain", format!("demo IdP: {detail}\n"))
}

fn refused(e: &SamlError, hint: &str) -> Response<Full<Bytes>> {
    failure(
        StatusCode::BAD_REQUEST,
        &format!(
            "logout message refused: {} ({e}).{hint}",
            e.reason().as_str()
        ),
    )
}
