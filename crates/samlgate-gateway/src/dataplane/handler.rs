//! One request through the gateway: identity headers stripped first, then
//! the SAML endpoints and unauthenticated requests answered here, and
//! authenticated (or public) requests forwarded with the verified
//! identity headers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant as MonoInstant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;

use super::body::{Body, RequestBody, UpstreamBody};
use super::upstream::{remove_hop_by_hop, UpstreamError};
use super::Conn;
use crate::acs::{self, AcsOutcome};
use crate::authority;
use crate::login::{self, LoginStart};
use crate::metrics::RouteSeries;
use crate::pages::{self, Page};
use crate::path::canonical_path;
use crate::reason::GatewayReason;
use crate::session::Cookies;
use crate::slo::{self, SloReply, SloRequest};
use crate::state::{Gateway, OpenSession};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
static HTTPS: HeaderValue = HeaderValue::from_static("https");
static HTTP: HeaderValue = HeaderValue::from_static("http");

/// The request's context: what every answer needs.
struct Cx<'c> {
    conn: &'c Conn,
    gateway: Arc<Gateway>,
    request_id: RequestId,
    /// The metric series the request counts under.
    series: Arc<RouteSeries>,
    /// The client's Accept header: JSON or HTML error pages (read only
    /// when a page is made).
    accept: Option<HeaderValue>,
}

/// Serves one request; never fails (errors are pages).
pub(crate) async fn handle(
    conn: Arc<Conn>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = MonoInstant::now();
    let accept = request.headers().get(ACCEPT).cloned();
    let mut cx = Cx {
        gateway: conn.shared.gateway.load_full(),
        series: conn.shared.metrics.endpoints.none.clone(),
        request_id: RequestId::next(),
        conn: &conn,
        accept,
    };
    let response = dispatch(&mut cx, request).await;
    cx.series.count(response.status().as_u16());
    cx.series.observe_request(started.elapsed().as_secs_f64());
    Ok(response)
}

async fn dispatch(cx: &mut Cx<'_>, mut request: Request<Incoming>) -> Response<Body> {
    let gateway = cx.gateway.clone();
    // Before anything else: no client-sent identity header survives, in any
    // spelling, on any route. Nothing is allocated unless a client did send
    // such a header. A client's own forwarding headers go too (the gateway
    // writes X-Forwarded-* itself).
    let names = gateway
        .headers
        .to_strip(request.headers().keys().map(|k| k.as_str()));
    for name in names {
        request.headers_mut().remove(name.as_str());
    }
    if request.headers().contains_key(&FORWARDED) || request.headers().contains_key(&X_REAL_IP) {
        request.headers_mut().remove(&FORWARDED);
        request.headers_mut().remove(&X_REAL_IP);
    }
    if let Err(e) = authority::check_target_host(request.uri(), request.headers()) {
        tracing::info!(request_id = %cx.request_id, detail = %e, "request refused");
        return cx.error(GatewayReason::HostMismatch, Vec::new());
    }

    // One canonical path, decided once: routes match it, and it is what
    // the backend receives.
    let endpoints = &cx.conn.shared.metrics.endpoints;
    let (target, rewritten) = {
        let raw = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let canonical = match canonical_path(raw) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(request_id = %cx.request_id, detail = %e, "request refused");
                return cx.error(GatewayReason::PathInvalid, Vec::new());
            }
        };
        let target = match target(&gateway, &request, canonical.routing_path()) {
            Some((target, allow_params)) => match canonical.check_params(allow_params) {
                Ok(()) => target,
                Err(e) => {
                    tracing::info!(request_id = %cx.request_id, detail = %e, "request refused");
                    return cx.error(GatewayReason::PathInvalid, Vec::new());
                }
            },
            None => Target::NoRoute,
        };
        let rewritten = (!canonical.is_unchanged())
            .then(|| http::uri::PathAndQuery::try_from(canonical.target()).ok())
            .flatten();
        (target, rewritten)
    };
    if let Some(path_and_query) = rewritten {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    } else if request.uri().authority().is_some() {
        // An absolute-form target (its host checked above) goes on in
        // origin form.
        let origin = request.uri().path_and_query().cloned();
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = origin;
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }

    let index = match target {
        Target::Acs => {
            cx.series = endpoints.acs.clone();
            return handle_acs(cx, request).await;
        }
        Target::Metadata => {
            cx.series = endpoints.metadata.clone();
            let page = Page {
                status: 200,
                content_type: "application/samlmetadata+xml",
                body: gateway.sp_metadata.clone().into_bytes(),
            };
            return cx.page(page, Vec::new());
        }
        Target::Logout => {
            cx.series = endpoints.logout.clone();
            return handle_slo(cx, request).await;
        }
        Target::NoRoute => return cx.error(GatewayReason::NotFound, Vec::new()),
        Target::Route(index) => index,
    };
    let Some(route) = gateway.routes.get(index) else {
        return cx.error(GatewayReason::NotFound, Vec::new());
    };
    cx.series = route.series(&cx.conn.shared.metrics).clone();

    let (open, revoked) = match session_of(cx, &request) {
        Ok(found) => found,
        Err(reason) => return cx.error(reason, Vec::new()),
    };
    let open = open
        .filter(|o| {
            route
                .config
                .idp
                .as_ref()
                .is_none_or(|idp| &o.session.idp == idp)
        })
        // The IdP must still be configured (a reload may remove one).
        .filter(|o| gateway.idp_named(&o.session.idp).is_some());
    let public = route.config.policy == "public";
    let open = match open {
        Some(open) => open,
        None if public => return forward(cx, index, request, None).await,
        None => {
            let mut response = unauthenticated(cx, index, &request);
            if revoked {
                // A revoked session's cookies go (they open, but nothing
                // honours them any more).
                for cookie in set_cookie_headers(&gateway.cookies.clear_session()) {
                    response.headers_mut().append(cookie.0, cookie.1);
                }
            }
            return response;
        }
    };
    let user = &open.session;
    for rule in &route.config.require {
        let ok = user
            .attribute(&rule.attribute)
            .is_some_and(|values| values.iter().any(|v| v == &rule.contains));
        if !ok {
            tracing::info!(request_id = %cx.request_id, idp = %user.idp, route = %route.label, rule = %rule.attribute, "access denied by attribute rule");
            return cx.error(GatewayReason::AccessDenied, Vec::new());
        }
    }
    if let Err(e) = &open.headers {
        tracing::warn!(request_id = %cx.request_id, idp = %user.idp, error = %e, "refused");
        return cx.error(GatewayReason::InvalidAttributeValue, Vec::new());
    }
    forward(cx, index, request, Some(open)).await
}

/// The session the request's cookies carry, unless it was revoked
/// (second value: a session was presented but revoked). Before this
/// node's revocation view has synced once, a session cannot be honoured
/// under the `reject` policy.
fn session_of(
    cx: &Cx<'_>,
    request: &Request<Incoming>,
) -> Result<(Option<Arc<OpenSession>>, bool), GatewayReason> {
    let shared = &cx.conn.shared;
    let now = shared.clock.now().unix_millis() / 1000;
    let cookies = Cookies::of(request.headers());
    let Some(open) = cx.gateway.session(&cookies, now) else {
        return Ok((None, false));
    };
    let view = &shared.view;
    if !view.synced() && shared.on_failure == samlgate_store::OnFailure::Reject {
        return Err(GatewayReason::StoreUnavailable);
    }
    let revoked = view.is_revoked_digest(
        &open.subject,
        &open.session_id,
        open.session_index_digest.as_ref(),
        open.session.assertion_issued_ms,
    );
    if revoked {
        return Ok((None, true));
    }
    Ok((Some(open), false))
}

async fn handle_slo(cx: &mut Cx<'_>, request: Request<Incoming>) -> Response<Body> {
    let gateway = cx.gateway.clone();
    let post = match *request.method() {
        Method::GET | Method::HEAD => false,
        Method::POST => true,
        _ => {
            return cx.error(
                GatewayReason::MethodNotAllowed,
                vec![(http::header::ALLOW, HeaderValue::from_static("GET, POST"))],
            )
        }
    };
    let (open, _) = session_of(cx, &request).unwrap_or((None, false));
    let (parts, body) = request.into_parts();
    let body = if post {
        match read_body(body, gateway.config.sp.acs_max_body_bytes).await {
            Ok(body) => body,
            Err(_) => {
                return cx.error(
                    GatewayReason::Engine(samlgate_saml::Reason::TooLarge),
                    Vec::new(),
                )
            }
        }
    } else {
        Vec::new()
    };
    let cookies = Cookies::of(&parts.headers);
    let shared = cx.conn.shared.clone();
    let (reply, event) = slo::handle(
        &gateway,
        &shared,
        SloRequest {
            post,
            query: parts.uri.query(),
            body: &body,
            cookies: &cookies,
            fetch_site: header_str(&parts.headers, &SEC_FETCH_SITE),
            session: open,
        },
    )
    .await;
    if let Some(event) = event {
        shared.metrics.cluster.count_slo(
            event.direction,
            event.binding,
            event.outcome,
            event.reason,
        );
        tracing::info!(request_id = %cx.request_id, direction = event.direction, binding = event.binding, outcome = event.outcome, reason = event.reason, "slo");
    }
    match reply {
        SloReply::Redirect { location, cookies } => cx.redirect(303, &location, &cookies),
        SloReply::Page { page, cookies } => cx.page(page, set_cookie_headers(&cookies)),
        SloReply::Refused {
            reason,
            detail,
            cookies,
        } => {
            tracing::warn!(request_id = %cx.request_id, reason = %reason, detail = %detail, "logout refused");
            cx.error(reason, set_cookie_headers(&cookies))
        }
    }
}

/// Proxies the request to the route's next backend.
async fn forward(
    cx: &mut Cx<'_>,
    index: usize,
    mut request: Request<Incoming>,
    open: Option<Arc<OpenSession>>,
) -> Response<Body> {
    let gateway = cx.gateway.clone();
    let Some(route) = gateway.routes.get(index) else {
        return cx.error(GatewayReason::NotFound, Vec::new());
    };
    let Some(authority) = route.next_upstream() else {
        return cx.error(GatewayReason::UpstreamUnavailable, Vec::new());
    };
    // A protocol upgrade (WebSocket): the request goes upstream with its
    // Upgrade header, and on a 101 both connections are joined.
    let upgrade = requested_upgrade(request.headers());
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(authority);
    uri.path_and_query = Some(path_and_query);
    parts.uri = match http::Uri::from_parts(uri) {
        Ok(uri) => uri,
        Err(_) => return cx.error(GatewayReason::BadRequest, Vec::new()),
    };
    parts.version = http::Version::HTTP_11;
    let headers = &mut parts.headers;
    remove_hop_by_hop(headers);
    if let Some(protocol) = &upgrade {
        headers.insert(http::header::UPGRADE, protocol.clone());
        headers.insert(
            http::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
    }
    // The gateway's cookies are the gateway's: a backend never sees the
    // session or a login state (unless the route opts in).
    if !route.config.pass_gateway_cookies {
        gateway.gateway_cookies.strip_request(headers);
    }
    if let Some(open) = &open {
        // Valid values only get here (dispatch refused the rest).
        for (name, value) in open.headers.iter().flatten() {
            headers.insert(name.clone(), value.clone());
        }
    }
    let trusted = !gateway.trusted_proxies.is_empty()
        && cx
            .conn
            .peer
            .is_some_and(|ip| gateway.trusted_proxies.iter().any(|b| b.contains(ip)));
    match (&cx.conn.peer_header, trusted) {
        (Some(ip), true) => {
            // A trusted proxy's chain is kept and extended.
            let prior: Vec<&[u8]> = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            let mut chain = prior.join(&b", "[..]);
            if !chain.is_empty() {
                chain.extend_from_slice(b", ");
            }
            chain.extend_from_slice(ip.as_bytes());
            match HeaderValue::from_bytes(&chain) {
                Ok(v) => {
                    headers.insert(X_FORWARDED_FOR.clone(), v);
                }
                Err(_) => {
                    headers.insert(X_FORWARDED_FOR.clone(), ip.clone());
                }
            }
        }
        (Some(ip), false) => {
            headers.insert(X_FORWARDED_FOR.clone(), ip.clone());
        }
        (None, _) => {
            headers.remove(&X_FORWARDED_FOR);
        }
    }
    let proto = if cx.conn.tls { &HTTPS } else { &HTTP };
    headers.insert(X_FORWARDED_PROTO.clone(), proto.clone());
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    if let Some(id) = cx.request_id.header_value() {
        headers.insert(X_REQUEST_ID.clone(), id);
    }

    let upstreams = &gateway.upstreams;
    let started = MonoInstant::now();
    // A bodiless idempotent request that meets a connection closed under
    // it is sent once more, on a fresh connection, with the same headers:
    // keep-alive backends close idle connections at their own pace. The
    // copy is kept only for such requests.
    let retry =
        (upgrade.is_none() && body.is_end_stream() && is_idempotent(&parts.method)).then(|| {
            (
                parts.method.clone(),
                parts.uri.clone(),
                parts.headers.clone(),
            )
        });
    let mut sent = upstreams
        .send(Request::from_parts(parts, RequestBody::Incoming(body)))
        .await;
    if let (Err(UpstreamError::Closed(first)), Some((method, uri, headers))) = (&sent, retry) {
        tracing::debug!(request_id = %cx.request_id, error = %first, "retrying on a new connection");
        let mut again = Request::new(RequestBody::Empty);
        *again.method_mut() = method;
        *again.uri_mut() = uri;
        *again.headers_mut() = headers;
        sent = upstreams.send(again).await;
    }
    match sent {
        Ok(response) => {
            cx.series.observe_upstream(started.elapsed().as_secs_f64());
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                if let Some(client) = client_upgrade {
                    return join_upgraded(cx, client, response);
                }
            }
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            if parts
                .headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .any(|v| gateway.gateway_cookies.is_gateway_set_cookie(v.as_bytes()))
            {
                gateway.gateway_cookies.strip_response(&mut parts.headers);
                tracing::warn!(request_id = %cx.request_id, route = %route.label, "a backend tried to set the gateway's cookies; dropped");
            }
            Response::from_parts(
                parts,
                Body::Upstream(UpstreamBody::new(body, upstreams.read_timeout())),
            )
        }
        Err(e) => {
            let reason = e.reason();
            cx.conn
                .shared
                .metrics
                .upstream_errors
                .with_label_values(&[&*cx.series.label, e.kind()])
                .inc();
            tracing::warn!(request_id = %cx.request_id, route = %cx.series.label, error = %e, "upstream failure");
            cx.error(reason, Vec::new())
        }
    }
}

async fn handle_acs(cx: &mut Cx<'_>, request: Request<Incoming>) -> Response<Body> {
    use samlgate_saml::Reason;
    let gateway = cx.gateway.clone();
    if request.method() != Method::POST {
        return cx.error(
            GatewayReason::MethodNotAllowed,
            vec![(http::header::ALLOW, HeaderValue::from_static("POST"))],
        );
    }
    let form = header_str(request.headers(), &CONTENT_TYPE).is_none_or(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form {
        return acs_refused(cx, Reason::MalformedInput);
    }
    let limit = gateway.config.sp.acs_max_body_bytes;
    let declared =
        header_str(request.headers(), &CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return acs_refused(cx, Reason::TooLarge);
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(ReadError::TooLarge) => return acs_refused(cx, Reason::TooLarge),
        Err(ReadError::Client) => return acs_refused(cx, Reason::MalformedInput),
    };
    let cookies = Cookies::of(&parts.headers);
    let shared = cx.conn.shared.clone();
    match acs::consume(&gateway, &shared, &body, &cookies).await {
        AcsOutcome::Accepted {
            location,
            set_cookies,
            idp,
            name_id,
            session,
        } => {
            count_acs(cx, Some(&idp), "accepted", "none");
            if gateway.config.server.log_name_id {
                tracing::info!(request_id = %cx.request_id, idp = %idp, outcome = "accepted", reason = "none", session = %session, name_id = %name_id, "acs");
            } else {
                tracing::info!(request_id = %cx.request_id, idp = %idp, outcome = "accepted", reason = "none", session = %session, "acs");
            }
            cx.redirect(303, &location, &set_cookies)
        }
        AcsOutcome::Rejected {
            reason,
            detail,
            idp,
            hint,
        } => {
            count_acs(cx, idp.as_deref(), "rejected", reason.code());
            let code = reason.code();
            // The label the metric carries: an alert and a log search name
            // the same IdP (or `unknown`).
            let idp = idp.as_deref().unwrap_or(UNKNOWN_IDP);
            match hint {
                Some(hint) => {
                    tracing::warn!(request_id = %cx.request_id, idp, outcome = "rejected", reason = code, hint, detail = %detail, "acs")
                }
                None => {
                    tracing::warn!(request_id = %cx.request_id, idp, outcome = "rejected", reason = code, detail = %detail, "acs")
                }
            }
            cx.error_with_hint(reason, hint, Vec::new())
        }
    }
}

/// An ACS post refused before verification. The connection closes: an
/// unread body must not be taken for the next request.
fn acs_refused(cx: &mut Cx<'_>, reason: samlgate_saml::Reason) -> Response<Body> {
    count_acs(cx, None, "rejected", reason.as_str());
    cx.error(
        GatewayReason::Engine(reason),
        vec![(http::header::CONNECTION, HeaderValue::from_static("close"))],
    )
}

/// The `idp` label (metric and log line) of an ACS whose Response named no
/// configured IdP: a bounded value, never attacker-chosen text.
const UNKNOWN_IDP: &str = "unknown";

fn count_acs(cx: &Cx<'_>, idp: Option<&str>, outcome: &str, reason: &str) {
    cx.conn
        .shared
        .metrics
        .acs
        .with_label_values(&[idp.unwrap_or(UNKNOWN_IDP), outcome, reason])
        .inc();
}

enum ReadError {
    TooLarge,
    Client,
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(mut body: Incoming, limit: usize) -> Result<Vec<u8>, ReadError> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Client)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// No session on an `sso` route.
fn unauthenticated(cx: &mut Cx<'_>, index: usize, request: &Request<Incoming>) -> Response<Body> {
    let gateway = cx.gateway.clone();
    let navigation = matches!(*request.method(), Method::GET | Method::HEAD)
        && header_str(request.headers(), &ACCEPT).is_some_and(|a| a.contains("text/html"));
    if !navigation {
        let hint = format!(
            "SAML realm=\"{}\", login=\"{}\"",
            gateway.config.sp.entity_id.replace('"', ""),
            gateway.config.sp.base_url
        );
        let extra = HeaderValue::from_str(&hint)
            .map(|v| vec![(http::header::WWW_AUTHENTICATE, v)])
            .unwrap_or_default();
        return cx.error(GatewayReason::Unauthenticated, extra);
    }
    let (path, chosen) = split_idp_choice(
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    );
    let route_idp = gateway.routes.get(index).and_then(|r| r.config.idp.clone());
    let idp_name = match (route_idp, chosen) {
        (Some(name), _) => name,
        (None, Some(choice)) if gateway.idp_named(&choice).is_some() => choice,
        (None, _) if gateway.idps.len() == 1 => gateway
            .idps
            .first()
            .map(|i| i.config.name.clone())
            .unwrap_or_default(),
        (None, _) => {
            let choices: Vec<(String, String)> = gateway
                .idps
                .iter()
                .map(|i| {
                    (
                        i.config.name.clone(),
                        i.config
                            .display_name
                            .clone()
                            .unwrap_or_else(|| i.config.name.clone()),
                    )
                })
                .collect();
            return cx.page(pages::discovery(&choices, &path), Vec::new());
        }
    };
    let Some(entity) = gateway.idp_named(&idp_name).and_then(|i| i.entity()) else {
        return cx.error(GatewayReason::IdpUnavailable, Vec::new());
    };
    match login::start_login(&gateway, &cx.conn.shared, &idp_name, &entity, &path) {
        Ok(LoginStart::Redirect(url, cookie)) => cx.redirect(302, &url, &[cookie]),
        Ok(LoginStart::PostForm(form, cookie)) => {
            let page = Page {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: form.into_bytes(),
            };
            cx.page(page, set_cookie_headers(&[cookie]))
        }
        Err(e) => {
            tracing::error!(request_id = %cx.request_id, idp = %idp_name, reason = e.reason().code(), error = %e, "cannot start login");
            cx.error(e.reason(), Vec::new())
        }
    }
}

/// The `Upgrade` value of a request that asks for one (`Connection`
/// names `upgrade`).
fn requested_upgrade(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if !asks {
        return None;
    }
    headers.get(http::header::UPGRADE).cloned()
}

/// The backend switched protocols: the client gets the 101 (with the
/// backend's Upgrade headers), then bytes flow both ways until either side
/// closes. The identity headers went with the upgrade request; what flows
/// after it is the application's.
fn join_upgraded(
    cx: &Cx<'_>,
    client: hyper::upgrade::OnUpgrade,
    mut response: Response<Incoming>,
) -> Response<Body> {
    let backend = hyper::upgrade::on(&mut response);
    let request_id = cx.request_id;
    tokio::spawn(async move {
        match (client.await, backend.await) {
            (Ok(client), Ok(backend)) => {
                let mut client = hyper_util::rt::TokioIo::new(client);
                let mut backend = hyper_util::rt::TokioIo::new(backend);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(request_id = %request_id, error = %e, "protocol upgrade failed");
            }
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::empty())
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn set_cookie_headers(cookies: &[String]) -> Vec<(HeaderName, HeaderValue)> {
    cookies
        .iter()
        .filter_map(|c| HeaderValue::from_str(c).ok())
        .map(|v| (http::header::SET_COOKIE, v))
        .collect()
}

impl Cx<'_> {
    /// A page the gateway answers itself.
    fn page(&self, page: Page, extra: Vec<(HeaderName, HeaderValue)>) -> Response<Body> {
        let mut response = Response::new(Body::full(Bytes::from(page.body)));
        *response.status_mut() =
            StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(page.content_type));
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        if let Some(id) = self.request_id.header_value() {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        for (name, value) in extra {
            headers.append(name, value);
        }
        response
    }

    /// An error page (HTML or JSON), counted by reason unless it is the
    /// ordinary 401 of an API client without a session.
    fn error(
        &self,
        reason: GatewayReason,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Response<Body> {
        self.error_with_hint(reason, None, extra)
    }

    /// An error page with a hint saying what to change.
    fn error_with_hint(
        &self,
        reason: GatewayReason,
        hint: Option<&str>,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Response<Body> {
        if reason != GatewayReason::Unauthenticated {
            self.conn
                .shared
                .metrics
                .rejections
                .with_label_values(&[reason.code()])
                .inc();
        }
        let json = pages::wants_json(self.accept.as_ref().and_then(|a| a.to_str().ok()));
        let page = pages::error(reason, &self.request_id.to_string(), json, hint);
        self.page(page, extra)
    }

    /// A redirect with cookies.
    fn redirect(&self, status: u16, location: &str, cookies: &[String]) -> Response<Body> {
        let mut extra = set_cookie_headers(cookies);
        match HeaderValue::from_str(location) {
            Ok(v) => extra.push((http::header::LOCATION, v)),
            Err(_) => return self.error(GatewayReason::Internal, Vec::new()),
        }
        let page = Page {
            status,
            content_type: "text/html; charset=utf-8",
            body: Vec::new(),
        };
        self.page(page, extra)
    }
}

/// A request ID: a random per-process prefix and a counter. IDs only need
/// to be unique (they tie a page to a log line), not secret; a counter
/// costs nothing per request, and the text is only made where it is shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestId(u64);

impl RequestId {
    fn next() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        RequestId(COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

impl RequestId {
    /// `<prefix>-<counter in hex>` into `out`; returns the length.
    fn encode(self, out: &mut [u8; 32]) -> usize {
        static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        // Unique, not secret: without randomness the prefix is fixed, and
        // the counter still tells requests apart.
        let prefix =
            PREFIX.get_or_init(|| login::random_hex(4).unwrap_or_else(|_| "00000000".into()));
        let mut n = 0;
        for &b in prefix.as_bytes().iter().take(8).chain(b"-") {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
                n += 1;
            }
        }
        let digits = (64 - self.0.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            let nibble = ((self.0 >> (i * 4)) & 15) as u8;
            if let Some(slot) = out.get_mut(n) {
                *slot = b"0123456789abcdef"
                    .get(usize::from(nibble))
                    .copied()
                    .unwrap_or(b'0');
                n += 1;
            }
        }
        n
    }

    /// The `X-Request-Id` value, made without formatting machinery (it is
    /// written on every proxied request).
    fn header_value(self) -> Option<HeaderValue> {
        let mut buf = [0u8; 32];
        let n = self.encode(&mut buf);
        HeaderValue::from_bytes(buf.get(..n)?).ok()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 32];
        let n = self.encode(&mut buf);
        f.write_str(std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default())
    }
}

/// Where a request goes, decided on its path and host.
enum Target {
    Acs,
    Metadata,
    Logout,
    Route(usize),
    NoRoute,
}

/// Removes `samlgate_idp=` (the discovery page's choice) from the return
/// path and returns it.
fn split_idp_choice(path_and_query: &str) -> (String, Option<String>) {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return (path_and_query.to_owned(), None);
    };
    let mut choice = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("samlgate_idp=") {
            Some(v) => {
                choice = Some(v.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let path = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    (path, choice)
}

fn header_str<'r>(headers: &'r http::HeaderMap, name: &HeaderName) -> Option<&'r str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host a request names, for route matching.
fn request_host(request: &Request<Incoming>) -> Option<&str> {
    let host = request
        .uri()
        .host()
        .or_else(|| header_str(request.headers(), &HOST))?;
    authority::host_for_routing(host)
}

/// Where the request goes, on its canonical routing path, and whether
/// `;` parameters are allowed there (only a route can allow them).
fn target(gateway: &Gateway, request: &Request<Incoming>, path: &str) -> Option<(Target, bool)> {
    let sp = &gateway.config.sp;
    if path == sp.acs_path {
        return Some((Target::Acs, false));
    }
    if path == sp.metadata_path {
        return Some((Target::Metadata, false));
    }
    if path == sp.slo_path {
        return Some((Target::Logout, false));
    }
    let host = request_host(request);
    gateway
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(host, path))
        .max_by_key(|(_, r)| (r.config.host.is_some(), r.config.path_prefix.len()))
        .map(|(index, r)| (Target::Route(index), r.config.allow_matrix_params))
}

#[cfg(test)]
mod tests {
    use super::{split_idp_choice, RequestId};

    #[test]
    fn request_ids_are_prefix_dash_hex_counter() {
        for n in [0u64, 1, 15, 16, 255, 0xdead_beef, u64::MAX] {
            let text = RequestId(n).to_string();
            let (prefix, counter) = text.split_once('-').unwrap();
            assert_eq!(prefix.len(), 8, "{text}");
            assert_eq!(counter, format!("{n:x}"), "{text}");
            assert_eq!(RequestId(n).header_value().unwrap(), text.as_str());
        }
    }

    #[test]
    fn discovery_choice_is_taken_out_of_the_return_path() {
        assert_eq!(
            split_idp_choice("/a?samlgate_idp=corp"),
            ("/a".into(), Some("corp".into()))
        );
        assert_eq!(
            split_idp_choice("/a?x=1&samlgate_idp=corp&y=2"),
            ("/a?x=1&y=2".into(), Some("corp".into()))
        );
        assert_eq!(split_idp_choice("/a?x=1"), ("/a?x=1".into(), None));
    }
}
