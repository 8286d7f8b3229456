//! The pingora data plane.
//!
//! `request_filter` strips identity headers first, then answers the SAML
//! endpoints and unauthenticated requests itself; authenticated requests
//! go on to `upstream_request_filter`, which injects the verified headers.

use std::sync::Arc;
use std::time::{Duration, Instant as MonoInstant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::prelude::HttpPeer;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::acs::{self, reason, AcsOutcome, LoginStart};
use crate::headers::HOP_BY_HOP;
use crate::metrics::RouteSeries;
use crate::pages::{self, Page};
use crate::session::Cookies;
use crate::state::{Gateway, OpenSession, Shared};

/// The proxy service.
#[derive(Debug, Clone)]
pub struct SamlProxy {
    /// State shared with the admin listener and the reloader.
    pub shared: Arc<Shared>,
}

/// Per-request state. Building it allocates nothing: this runs for every
/// request, and the pass-through path is measured against a bare proxy.
pub struct RequestCtx {
    gateway: Option<Arc<Gateway>>,
    request_id: RequestId,
    route: Option<usize>,
    /// The metric series (and route label) the request counts under.
    series: Arc<RouteSeries>,
    /// The verified session whose headers go upstream (its header values
    /// are known to be valid).
    open: Option<Arc<OpenSession>>,
    upstream_started: Option<MonoInstant>,
    tls: bool,
}

impl SamlProxy {
    fn gateway(&self, ctx: &mut RequestCtx) -> Arc<Gateway> {
        match &ctx.gateway {
            Some(g) => g.clone(),
            None => {
                let g = self.shared.gateway.load_full();
                ctx.gateway = Some(g.clone());
                g
            }
        }
    }

    async fn send(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        page: Page,
        extra: &[(&str, String)],
    ) -> Result<bool> {
        let mut resp = ResponseHeader::build(page.status, Some(4 + extra.len()))?;
        resp.insert_header("content-type", page.content_type)?;
        resp.insert_header("content-length", page.body.len().to_string())?;
        resp.insert_header("cache-control", "no-store")?;
        resp.insert_header("X-Request-Id", ctx.request_id.to_string())?;
        for (name, value) in extra {
            resp.append_header(name.to_string(), value.as_str())?;
        }
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(resp), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(Bytes::from(page.body)), true)
                .await?;
        }
        Ok(true)
    }

    async fn error(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) -> Result<bool> {
        let json = pages::wants_json(header_str(session.req_header(), "accept"));
        let page = pages::error(status, reason, &ctx.request_id.to_string(), json);
        if status != 401 {
            self.shared
                .metrics
                .rejections
                .with_label_values(&[reason])
                .inc();
        }
        self.send(session, ctx, page, extra).await
    }

    async fn redirect(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        status: u16,
        location: &str,
        cookies: &[String],
    ) -> Result<bool> {
        let mut extra: Vec<(&str, String)> = vec![("location", location.to_owned())];
        extra.extend(cookies.iter().map(|c| ("set-cookie", c.clone())));
        let page = Page {
            status,
            content_type: "text/html; charset=utf-8",
            body: Vec::new(),
        };
        self.send(session, ctx, page, &extra).await
    }

    async fn handle_acs(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        gateway: &Gateway,
    ) -> Result<bool> {
        if session.req_header().method != http::Method::POST {
            return self
                .error(
                    session,
                    ctx,
                    405,
                    "method_not_allowed",
                    &[("allow", "POST".into())],
                )
                .await;
        }
        let form = header_str(session.req_header(), "content-type").is_none_or(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form {
            return self.acs_refused(session, ctx, 400, "malformed_input").await;
        }
        let limit = gateway.config.sp.acs_max_body_bytes;
        let declared = header_str(session.req_header(), "content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return self.acs_refused(session, ctx, 413, "too_large").await;
        }
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > limit {
                return self.acs_refused(session, ctx, 413, "too_large").await;
            }
            body.extend_from_slice(&chunk);
        }
        let cookies = Cookies::of(&session.req_header().headers);
        let outcome = acs::consume(gateway, &self.shared, &body, &cookies);
        match outcome {
            AcsOutcome::Accepted {
                location,
                set_cookies,
                idp,
                name_id,
            } => {
                self.count_acs(Some(&idp), "accepted", "none");
                if gateway.config.server.log_name_id {
                    tracing::info!(request_id = %ctx.request_id, idp = %idp, outcome = "accepted", reason = "none", name_id = %name_id, "acs");
                } else {
                    tracing::info!(request_id = %ctx.request_id, idp = %idp, outcome = "accepted", reason = "none", "acs");
                }
                self.redirect(session, ctx, 303, &location, &set_cookies)
                    .await
            }
            AcsOutcome::Rejected {
                status,
                reason,
                detail,
                idp,
                set_cookies,
            } => {
                self.count_acs(idp.as_deref(), "rejected", &reason);
                tracing::warn!(request_id = %ctx.request_id, idp = idp.as_deref().unwrap_or("-"), outcome = "rejected", reason = %reason, detail = %detail, "acs");
                let extra: Vec<(&str, String)> =
                    set_cookies.into_iter().map(|c| ("set-cookie", c)).collect();
                self.error(session, ctx, status, &reason, &extra).await
            }
        }
    }

    /// An ACS post refused before verification (the IdP is not known yet).
    /// The connection closes: an unread body must not be taken for the
    /// next request.
    async fn acs_refused(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        status: u16,
        reason: &str,
    ) -> Result<bool> {
        self.count_acs(None, "rejected", reason);
        self.error(
            session,
            ctx,
            status,
            reason,
            &[("connection", "close".into())],
        )
        .await
    }

    fn count_acs(&self, idp: Option<&str>, outcome: &str, reason: &str) {
        self.shared
            .metrics
            .acs
            .with_label_values(&[idp.unwrap_or("unknown"), outcome, reason])
            .inc();
    }

    /// No session on an `sso` route.
    async fn unauthenticated(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        gateway: &Gateway,
        route: usize,
    ) -> Result<bool> {
        let req = session.req_header();
        let navigation = matches!(req.method, http::Method::GET | http::Method::HEAD)
            && header_str(req, "accept").is_some_and(|a| a.contains("text/html"));
        let login_hint = format!(
            "SAML realm=\"{}\", login=\"{}\"",
            gateway.config.sp.entity_id.replace('"', ""),
            gateway.config.sp.base_url
        );
        if !navigation {
            return self
                .error(
                    session,
                    ctx,
                    401,
                    "unauthenticated",
                    &[("www-authenticate", login_hint)],
                )
                .await;
        }
        let (path, chosen) =
            split_idp_choice(req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        let route_idp = gateway.routes.get(route).and_then(|r| r.config.idp.clone());
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
                return self
                    .send(session, ctx, pages::discovery(&choices, &path), &[])
                    .await;
            }
        };
        let Some(entity) = gateway.idp_named(&idp_name).and_then(|i| i.entity()) else {
            return self.error(session, ctx, 503, "idp_unavailable", &[]).await;
        };
        match acs::start_login(gateway, &self.shared, &idp_name, &entity, &path) {
            Ok(LoginStart::Redirect(url, cookie)) => {
                self.redirect(session, ctx, 302, &url, &[cookie]).await
            }
            Ok(LoginStart::PostForm(form, cookie)) => {
                let page = Page {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: form.into_bytes(),
                };
                self.send(session, ctx, page, &[("set-cookie", cookie)])
                    .await
            }
            Err(e) => {
                tracing::error!(request_id = %ctx.request_id, idp = %idp_name, error = %e, "cannot start login");
                self.error(session, ctx, 503, "idp_unavailable", &[]).await
            }
        }
    }
}

/// A request ID: a random per-process prefix and a counter. IDs only need
/// to be unique (they tie a page to a log line), not secret; a counter
/// costs nothing per request, and the text is only made where it is shown.
#[derive(Debug, Clone, Copy)]
struct RequestId(u64);

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

fn header_str<'r>(req: &'r RequestHeader, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host a request names, without port.
fn request_host(req: &RequestHeader) -> &str {
    let host = req
        .uri
        .host()
        .or_else(|| header_str(req, "host"))
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
fn target(gateway: &Gateway, req: &RequestHeader) -> Target {
    let path = req.uri.path();
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
    let host = request_host(req);
    gateway
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(host, path))
        .max_by_key(|(_, r)| (r.config.host.is_some(), r.config.path_prefix.len()))
        .map_or(Target::NoRoute, |(index, _)| Target::Route(index))
}

#[async_trait]
impl ProxyHttp for SamlProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            gateway: None,
            request_id: RequestId::next(),
            route: None,
            series: self.shared.metrics.endpoints.none.clone(),
            open: None,
            upstream_started: None,
            tls: false,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let gateway = self.gateway(ctx);
        ctx.tls = session
            .digest()
            .and_then(|d| d.ssl_digest.as_ref())
            .is_some();
        // Before anything else: no client-sent identity header survives, in
        // any spelling, on any route.
        {
            // Nothing is allocated unless a client did send such a header.
            // (A client's X-Request-Id is replaced upstream, not kept.)
            let req = session.req_header_mut();
            let names = gateway
                .headers
                .to_strip(req.headers.keys().map(|k| k.as_str()));
            for name in names {
                req.remove_header(&name);
            }
        }

        let endpoints = &self.shared.metrics.endpoints;
        let index = match target(&gateway, session.req_header()) {
            Target::Acs => {
                ctx.series = endpoints.acs.clone();
                return self.handle_acs(session, ctx, &gateway).await;
            }
            Target::Metadata => {
                ctx.series = endpoints.metadata.clone();
                let page = Page {
                    status: 200,
                    content_type: "application/samlmetadata+xml",
                    body: gateway.sp_metadata.clone().into_bytes(),
                };
                return self.send(session, ctx, page, &[]).await;
            }
            Target::Logout => {
                ctx.series = endpoints.logout.clone();
                let cookies = gateway.cookies.clear_session();
                return self.redirect(session, ctx, 303, "/", &cookies).await;
            }
            Target::NoRoute => return self.error(session, ctx, 404, "not_found", &[]).await,
            Target::Route(index) => index,
        };
        let Some(route) = gateway.routes.get(index) else {
            return self.error(session, ctx, 404, "not_found", &[]).await;
        };
        ctx.route = Some(index);
        ctx.series = route.series(&self.shared.metrics).clone();

        let cookies = Cookies::of(&session.req_header().headers);
        let now = self.shared.clock.now().unix_millis() / 1000;
        let open = gateway
            .session(&cookies, now)
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
        let Some(open) = open else {
            if public {
                return Ok(false);
            }
            return self.unauthenticated(session, ctx, &gateway, index).await;
        };
        let user = &open.session;
        for rule in &route.config.require {
            let ok = user
                .attribute(&rule.attribute)
                .is_some_and(|values| values.iter().any(|v| v == &rule.contains));
            if !ok {
                tracing::info!(request_id = %ctx.request_id, idp = %user.idp, route = %route.label, rule = %rule.attribute, "access denied by attribute rule");
                return self
                    .error(session, ctx, 403, reason::ACCESS_DENIED, &[])
                    .await;
            }
        }
        match &open.headers {
            Ok(_) => ctx.open = Some(open),
            Err(e) => {
                tracing::warn!(request_id = %ctx.request_id, idp = %user.idp, error = %e, "refused");
                return self
                    .error(session, ctx, 403, reason::INVALID_ATTRIBUTE_VALUE, &[])
                    .await;
            }
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let gateway = self.gateway(ctx);
        let route = ctx
            .route
            .and_then(|i| gateway.routes.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let addr = route
            .next_upstream()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "route without upstream"))?;
        let mut peer = HttpPeer::new(addr, false, String::new());
        let server = &gateway.config.server;
        peer.options.connection_timeout =
            Some(Duration::from_secs(server.upstream_connect_timeout_seconds));
        peer.options.read_timeout = Some(Duration::from_secs(server.upstream_read_timeout_seconds));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        ctx.upstream_started = Some(MonoInstant::now());
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // Hop-by-hop headers, and those the client named in Connection.
        // Most requests carry none, so look before removing: each removal
        // hashes the name in two maps.
        let hop_by_hop = upstream
            .headers
            .keys()
            .any(|k| HOP_BY_HOP.contains(&k.as_str()));
        if hop_by_hop {
            let named: Vec<String> = upstream
                .headers
                .get_all(http::header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty() && t != "upgrade" && t != "close" && t != "keep-alive")
                .collect();
            for name in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
                upstream.remove_header(name);
            }
        }
        // Not taken out of ctx: pingora calls this again when it retries on
        // another connection (a pooled one the backend had closed), and the
        // retried request needs the same headers.
        if let Some(open) = &ctx.open {
            // Valid values only reach ctx (request_filter refused the rest).
            for (name, value) in open.headers.iter().flatten() {
                upstream.insert_header(name.clone(), value.clone())?;
            }
        }
        // Names as &'static str go on the wire as written, without the
        // title-casing copy; X-Forwarded-Host shares the Host header's bytes.
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            let ip = addr.ip();
            let forwarded = match header_str(upstream, "x-forwarded-for") {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.to_string(),
            };
            upstream.insert_header("X-Forwarded-For", forwarded)?;
        }
        let proto = if ctx.tls { "https" } else { "http" };
        upstream.insert_header("X-Forwarded-Proto", http::HeaderValue::from_static(proto))?;
        if let Some(host) = upstream.headers.get(http::header::HOST).cloned() {
            upstream.insert_header("X-Forwarded-Host", host)?;
        }
        upstream.insert_header("X-Request-Id", ctx.request_id.to_string())?;
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(started) = ctx.upstream_started.take() {
            ctx.series.observe_upstream(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy
    where
        RequestCtx: Send + Sync,
    {
        let (status, reason, kind) = match e.etype() {
            ErrorType::ConnectTimedout => (502, "upstream_unavailable", "connect_timeout"),
            ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
                (502, "upstream_unavailable", "connect")
            }
            ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                (504, "upstream_timeout", "timeout")
            }
            ErrorType::HTTPStatus(code) => (*code, "bad_request", "client"),
            _ => match e.esource() {
                pingora_core::ErrorSource::Upstream => (502, "upstream_unavailable", "other"),
                pingora_core::ErrorSource::Downstream => (0, "client_gone", "client"),
                _ => (500, "internal", "internal"),
            },
        };
        if kind != "client" {
            self.shared
                .metrics
                .upstream_errors
                .with_label_values(&[&*ctx.series.label, kind])
                .inc();
            tracing::warn!(request_id = %ctx.request_id, route = %ctx.series.label, error = %e, "upstream failure");
        }
        if status > 0 {
            let _ = self.error(session, ctx, status, reason, &[]).await;
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // A client that hangs up mid-request is ordinary (load balancers,
        // closed tabs): not an ERROR line for the operator. Upstream and
        // internal errors are still logged.
        matches!(error.esource(), pingora_core::ErrorSource::Downstream)
            && matches!(
                error.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            )
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        ctx.series.count(status);
    }
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
