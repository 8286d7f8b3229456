//! The admin listener: `/metrics`, `/healthz`, `/readyz`, and (with
//! `server.admin_token_file`) `POST /sessions/revoke`. A separate port,
//! meant for the operator's network only. It runs on the control runtime,
//! apart from the data plane, so that it keeps answering (`/readyz` 503)
//! while the data listeners drain at shutdown.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use crate::state::Shared;

mod revoke;

fn reply(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

fn reply_json(status: u16, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    reply(status, "application/json", body)
}

/// Answers one admin request.
pub async fn respond(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match request.uri().path() {
        "/metrics" => {
            shared.update_gauges();
            reply(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                shared.metrics.render(),
            )
        }
        "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
        "/readyz" => readiness(&shared),
        "/sessions/revoke" => {
            let gateway = shared.gateway.load_full();
            let Some(token) = gateway.admin_token.clone() else {
                return Ok(reply(404, "text/plain", b"not found\n".to_vec()));
            };
            if request.method() != Method::POST {
                return Ok(reply_json(405, &json!({"error": "method_not_allowed"})));
            }
            if !revoke::authorized(request.headers(), &token) {
                let mut resp = reply_json(401, &json!({"error": "unauthorized"}));
                resp.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                return Ok(resp);
            }
            let body = match Limited::new(request.into_body(), 16 * 1024).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return Ok(reply_json(413, &json!({"error": "too_large"}))),
            };
            let (status, value) = revoke::revoke(&shared, &gateway, &body).await;
            reply_json(status, &value)
        }
        _ => reply(404, "text/plain", b"not found\n".to_vec()),
    })
}

/// `/readyz`: 200 when the node can serve logins; otherwise 503 with what
/// is wrong, per IdP. A store outage does not make a node unready (a Redis
/// blip must not take the fleet out of the load balancer); a node whose
/// revocation view never synced is, under the `reject` policy.
fn readiness(shared: &Shared) -> Response<Full<Bytes>> {
    let gateway = shared.gateway.load();
    let draining = shared.draining.load(Ordering::Relaxed);
    let idps: Vec<serde_json::Value> = gateway
        .idps
        .iter()
        .map(|idp| match idp.problem() {
            None => json!({"name": idp.config.name, "status": "ok"}),
            Some(p) => json!({
                "name": idp.config.name,
                "status": p.reason.code(),
                "detail": p.detail,
            }),
        })
        .collect();
    let synced = shared.view.synced();
    let must_sync = shared.on_failure == samlgate_store::OnFailure::Reject;
    let status = if draining {
        "draining"
    } else if !shared.listening.load(Ordering::Relaxed) {
        "starting"
    } else if !gateway.ready() {
        "idp_not_usable"
    } else if !synced && must_sync {
        "revocations_not_synced"
    } else {
        "ready"
    };
    let body = json!({
        "status": status,
        "idps": idps,
        "store": {
            "backend": gateway.config.store_backend_name(),
            "synced": synced,
            "degraded": shared.store.degraded(),
        },
    });
    reply_json(if status == "ready" { 200 } else { 503 }, &body)
}

/// Serves the admin endpoints on `listener` from the current runtime.
pub fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) -> Result<(), String> {
    crate::local_http::serve(listener, move |request| respond(shared.clone(), request)).map(|_| ())
}
