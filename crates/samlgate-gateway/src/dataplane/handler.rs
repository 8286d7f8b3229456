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
use super::upstream::UpstreamError;
use super::upstream::{drop_gateway_set_cookies, remove_hop_by_hop};
use super::Conn;
use crate::acs::{self, reason, AcsOutcome, LoginStart};
use crate::metrics::RouteSeries;
use crate::pages::{self, Page};
use crate::session::Cookies;
use crate::state::{Gateway, OpenSession};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static HTTPS: HeaderValue = HeaderValue::from_static("https");
static HTTP: HeaderValue = HeaderValue::from_static("http");

/// The request's context: what every answer needs.
struct Cx<'c> {
    conn: &'c Conn,
    gateway: Arc<Gateway>,
    request_id: RequestId,
    /// The metric series the request counts under.
    series: Arc<RouteSeries>,
    /// The client prefers JSON error bodies.
    json: bool,
}

/// Serves one request; never fails (errors are pages).
pub(crate) async fn handle(
    conn: Arc<Conn>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = MonoInstant::now();
    let json = pages::wants_json(header_str(request.headers(), &ACCEPT));
    let mut cx = Cx {
        gateway: conn.shared.gateway.load_full(),
        series: conn.shared.metrics.endpoints.none.clone(),
        request_id: RequestId::next(),
        conn: &conn,
        json,
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
    // such a header.
    let names = gateway
        .headers
        .to_strip(request.headers().keys().map(|k| k.as_str()));
    for name in names {
        request.headers_mut().remove(name.as_str());
    }

    let endpoints = &cx.conn.shared.metrics.endpoints;
    let index = match target(&gateway, &request) {
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
            let cookies = gateway.cookies.clear_session();
            return cx.redirect(303, "/", &cookies);
        }
        Target::NoRoute => return cx.error(404, "not_found", Vec::new()),
        Target::Route(index) => index,
    };
    let Some(route) = gateway.routes.get(index) else {
        return cx.error(404, "not_found", Vec::new());
    };
    cx.series = route.series(&cx.conn.shared.metrics).clone();

    let now = cx.conn.shared.clock.now().unix_millis() / 1000;
    let open = {
        let cookies = Cookies::of(request.headers());
        gateway
            .session(&cookies, now)
            .filter(|o| {
                route
                    .config
                    .idp
                    .as_ref()
                    .is_none_or(|idp| &o.session.idp == idp)
            })
            // The IdP must still be configured (a reload may remove one).
            .filter(|o| gateway.idp_named(&o.session.idp).is_some())
    };
    let public = route.config.policy == "public";
    let open = match open {
        Some(open) => open,
        None if public => return forward(cx, index, request, None).await,
        None => return unauthenticated(cx, index, &request),
    };
    let user = &open.session;
    for rule in &route.config.require {
        let ok = user
            .attribute(&rule.attribute)
            .is_some_and(|values| values.iter().any(|v| v == &rule.contains));
        if !ok {
            tracing::info!(request_id = %cx.request_id, idp = %user.idp, route = %route.label, rule = %rule.attribute, "access denied by attribute rule");
            return cx.error(403, reason::ACCESS_DENIED, Vec::new());
        }
    }
    if let Err(e) = &open.headers {
        tracing::warn!(request_id = %cx.request_id, idp = %user.idp, error = %e, "refused");
        return cx.error(403, reason::INVALID_ATTRIBUTE_VALUE, Vec::new());
    }
    forward(cx, index, request, Some(open)).await
}

/// Proxies the request to the route's next backend.
async fn forward(
    cx: &mut Cx<'_>,
    index: usize,
    request: Request<Incoming>,
    open: Option<Arc<OpenSession>>,
) -> Response<Body> {
    let gateway = cx.gateway.clone();
    let Some(route) = gateway.routes.get(index) else {
        return cx.error(404, "not_found", Vec::new());
    };
    let Some(authority) = route.next_upstream() else {
        return cx.error(502, "upstream_unavailable", Vec::new());
    };
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
        Err(_) => return cx.error(400, "bad_request", Vec::new()),
    };
    parts.version = http::Version::HTTP_11;
    let headers = &mut parts.headers;
    remove_hop_by_hop(headers);
    if let Some(open) = &open {
        // Valid values only get here (dispatch refused the rest).
        for (name, value) in open.headers.iter().flatten() {
            headers.insert(name.clone(), value.clone());
        }
    }
    match &cx.conn.peer_header {
        Some(ip) => {
            headers.insert(X_FORWARDED_FOR.clone(), ip.clone());
        }
        None => {
            headers.remove(&X_FORWARDED_FOR);
        }
    }
    let proto = if cx.conn.tls { &HTTPS } else { &HTTP };
    headers.insert(X_FORWARDED_PROTO.clone(), proto.clone());
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    if let Ok(id) = HeaderValue::from_str(&cx.request_id.to_string()) {
        headers.insert(X_REQUEST_ID.clone(), id);
    }

    let upstreams = &gateway.upstreams;
    let started = MonoInstant::now();
    // A bodiless idempotent request that meets a connection closed under
    // it is sent once more, on a fresh connection, with the same headers:
    // keep-alive backends close idle connections at their own pace. The
    // copy is kept only for such requests.
    let retry = (body.is_end_stream() && is_idempotent(&parts.method)).then(|| {
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
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            let dropped = drop_gateway_set_cookies(&mut parts.headers, |v| {
                gateway.cookies.is_gateway_set_cookie(v)
            });
            if dropped > 0 {
                tracing::warn!(request_id = %cx.request_id, route = %route.label, dropped, "a backend tried to set the gateway's cookies; dropped");
            }
            Response::from_parts(
                parts,
                Body::Upstream(UpstreamBody::new(body, upstreams.read_timeout())),
            )
        }
        Err(e) => {
            let (status, reason) = e.status_and_reason();
            cx.conn
                .shared
                .metrics
                .upstream_errors
                .with_label_values(&[&*cx.series.label, e.kind()])
                .inc();
            tracing::warn!(request_id = %cx.request_id, route = %cx.series.label, error = %e, "upstream failure");
            cx.error(status, reason, Vec::new())
        }
    }
}

async fn handle_acs(cx: &mut Cx<'_>, request: Request<Incoming>) -> Response<Body> {
    let gateway = cx.gateway.clone();
    if request.method() != Method::POST {
        return cx.error(
            405,
            "method_not_allowed",
            vec![(http::header::ALLOW, HeaderValue::from_static("POST"))],
        );
    }
    let form = header_str(request.headers(), &CONTENT_TYPE).is_none_or(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form {
        return acs_refused(cx, 400, "malformed_input");
    }
    let limit = gateway.config.sp.acs_max_body_bytes;
    let declared =
        header_str(request.headers(), &CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return acs_refused(cx, 413, "too_large");
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(ReadError::TooLarge) => return acs_refused(cx, 413, "too_large"),
        Err(ReadError::Client) => return acs_refused(cx, 400, "malformed_input"),
    };
    let cookies = Cookies::of(&parts.headers);
    let shared = cx.conn.shared.clone();
    match acs::consume(&gateway, &shared, &body, &cookies) {
        AcsOutcome::Accepted {
            location,
            set_cookies,
            idp,
            name_id,
        } => {
            count_acs(cx, Some(&idp), "accepted", "none");
            if gateway.config.server.log_name_id {
                tracing::info!(request_id = %cx.request_id, idp = %idp, outcome = "accepted", reason = "none", name_id = %name_id, "acs");
            } else {
                tracing::info!(request_id = %cx.request_id, idp = %idp, outcome = "accepted", reason = "none", "acs");
            }
            cx.redirect(303, &location, &set_cookies)
        }
        AcsOutcome::Rejected {
            status,
            reason,
            detail,
            idp,
            set_cookies,
        } => {
            count_acs(cx, idp.as_deref(), "rejected", &reason);
            tracing::warn!(request_id = %cx.request_id, idp = idp.as_deref().unwrap_or("-"), outcome = "rejected", reason = %reason, detail = %detail, "acs");
            let extra = set_cookie_headers(&set_cookies);
            cx.error(status, &reason, extra)
        }
    }
}

/// An ACS post refused before verification. The connection closes: an
/// unread body must not be taken for the next request.
fn acs_refused(cx: &mut Cx<'_>, status: u16, reason: &str) -> Response<Body> {
    count_acs(cx, None, "rejected", reason);
    cx.error(
        status,
        reason,
        vec![(http::header::CONNECTION, HeaderValue::from_static("close"))],
    )
}

fn count_acs(cx: &Cx<'_>, idp: Option<&str>, outcome: &str, reason: &str) {
    cx.conn
        .shared
        .metrics
        .acs
        .with_label_values(&[idp.unwrap_or("unknown"), outcome, reason])
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
        return cx.error(401, "unauthenticated", extra);
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
        return cx.error(503, "idp_unavailable", Vec::new());
    };
    match acs::start_login(&gateway, &cx.conn.shared, &idp_name, &entity, &path) {
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
            tracing::error!(request_id = %cx.request_id, idp = %idp_name, error = %e, "cannot start login");
            cx.error(503, "idp_unavailable", Vec::new())
        }
    }
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
        if let Ok(id) = HeaderValue::from_str(&self.request_id.to_string()) {
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
        status: u16,
        reason: &str,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Response<Body> {
        if status != 401 {
            self.conn
                .shared
                .metrics
                .rejections
                .with_label_values(&[reason])
                .inc();
        }
        let page = pages::error(status, reason, &self.request_id.to_string(), self.json);
        self.page(page, extra)
    }

    /// A redirect with cookies.
    fn redirect(&self, status: u16, location: &str, cookies: &[String]) -> Response<Body> {
        let mut extra = set_cookie_headers(cookies);
        match HeaderValue::from_str(location) {
            Ok(v) => extra.push((http::header::LOCATION, v)),
            Err(_) => return self.error(500, "internal", Vec::new()),
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

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let prefix = PREFIX.get_or_init(|| acs::random_hex(4));
        write!(f, "{prefix}-{:x}", self.0)
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

/// The host a request names, without port.
fn request_host(request: &Request<Incoming>) -> &str {
    let host = request
        .uri()
        .host()
        .or_else(|| header_str(request.headers(), &HOST))
        .unwrap_or_default();
    match host.rsplit_once(':') {
        Some((h, port))
            if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') && !h.is_empty() =>
        {
            h
        }
        _ => host,
    }
}

/// Where the request goes.
fn target(gateway: &Gateway, request: &Request<Incoming>) -> Target {
    let path = request.uri().path();
    let sp = &gateway.config.sp;
    if path == sp.acs_path {
        return Target::Acs;
    }
    if path == sp.metadata_path {
        return Target::Metadata;
    }
    if path == sp.slo_path {
        return Target::Logout;
    }
    let host = request_host(request);
    gateway
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(host, path))
        .max_by_key(|(_, r)| (r.config.host.is_some(), r.config.path_prefix.len()))
        .map_or(Target::NoRoute, |(index, _)| Target::Route(index))
}

#[cfg(test)]
mod tests {
    use super::split_idp_choice;

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
