//! The admin listener: `/metrics`, `/healthz`, `/readyz`. A separate port,
//! meant for the operator's network only.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

use crate::state::Shared;

/// The admin application.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The gateway's shared state.
    pub shared: Arc<Shared>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = resp.body().len();
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => {
                self.shared.update_gauges();
                reply(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    self.shared.metrics.render(),
                )
            }
            "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                let gateway = self.shared.gateway.load();
                if self.shared.draining.load(Ordering::Relaxed) {
                    reply(503, "text/plain", b"draining\n".to_vec())
                } else if gateway.ready() {
                    reply(200, "text/plain", b"ready\n".to_vec())
                } else {
                    reply(503, "text/plain", b"idp metadata not loaded\n".to_vec())
                }
            }
            _ => reply(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}
