//! The echo backend: shows the request it received, headers included, as
//! an HTML table (or JSON for `Accept: application/json`). The demo and the
//! end-to-end tests read from it what the gateway passed on.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use samlgate_saml::xml_escape;

use super::{html, serve as serve_http};

/// Serves the echo backend on `listener` (current tokio runtime).
pub fn serve(listener: std::net::TcpListener) -> Result<SocketAddr, String> {
    serve_http(listener, |req| async move {
        // `?sleep_ms=N` (at most 10 s) makes a slow backend, for timeout
        // and drain tests.
        let delay = req
            .uri()
            .query()
            .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "sleep_ms"))
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .map(|ms| ms.min(10_000));
        if let Some(ms) = delay {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Ok::<_, Infallible>(echo(req))
    })
}

fn echo(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let wants_json = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if wants_json {
        let body = serde_json::json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
        });
        let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return resp;
    }
    let rows: String = headers
        .iter()
        .map(|(k, v)| {
            let class = if k.starts_with("x-remote-") {
                " class=\"identity\""
            } else {
                ""
            };
            format!(
                "<tr{class}><th>{}</th><td>{}</td></tr>",
                xml_escape(k),
                xml_escape(v)
            )
        })
        .collect();
    html(
        StatusCode::OK,
        &format!(
            "<h1>Echo backend</h1><p>This unmodified backend received <code>{} {}</code> with these headers \
(the identity headers, highlighted, come from the gateway after it verified the SAML assertion):</p>\
<table>{rows}</table><p><a href=\"/saml/logout\">Sign out</a> · <a href=\"/admin/\">Admin-only page</a> · \
<a href=\"/public/\">Public page</a></p>",
            xml_escape(req.method().as_str()),
            xml_escape(&req.uri().to_string())
        ),
    )
}
