//! The admin listener: `/metrics`, `/healthz`, `/readyz`. A separate port,
//! meant for the operator's network only. It runs on the control runtime,
//! apart from the data plane, so that it keeps answering (`/readyz` 503)
//! while the data listeners drain at shutdown.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::state::Shared;

fn reply(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
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
        "/readyz" => {
            let gateway = shared.gateway.load();
            if shared.draining.load(Ordering::Relaxed) {
                reply(503, "text/plain", b"draining\n".to_vec())
            } else if gateway.ready() {
                reply(200, "text/plain", b"ready\n".to_vec())
            } else {
                reply(503, "text/plain", b"idp metadata not loaded\n".to_vec())
            }
        }
        _ => reply(404, "text/plain", b"not found\n".to_vec()),
    })
}

/// Serves the admin endpoints on `listener` from the current runtime.
pub fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) -> Result<(), String> {
    crate::local_http::serve(listener, move |request| respond(shared.clone(), request)).map(|_| ())
}
