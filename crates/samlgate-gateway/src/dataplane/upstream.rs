//! Forwarding to backends: one pooled HTTP/1.1 client per configuration,
//! with the configured connect timeout (then 502) and read timeout (then
//! 504), and the response head cleaned of what must not cross the gateway.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, CONNECTION};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::RequestBody;
use crate::headers::HOP_BY_HOP;

/// Why a request did not get a response head from its backend.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection within the connect timeout.
    #[error("cannot connect to the backend within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection was refused or failed.
    #[error("cannot connect to the backend: {0}")]
    Connect(String),
    /// No response head within the read timeout.
    #[error("the backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection closed after the request went out and before any
    /// response: a pooled keep-alive connection the backend had just
    /// closed, most often (nginx retries these too).
    #[error("the backend closed the connection without answering: {0}")]
    Closed(String),
    /// The backend broke the exchange otherwise.
    #[error("the backend failed: {0}")]
    Other(String),
}

impl UpstreamError {
    /// The `kind` label of `samlgate_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::ConnectTimeout(_) => "connect_timeout",
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Closed(_) => "closed",
            UpstreamError::Other(_) => "other",
        }
    }

    /// The reason (and so the status) the client gets.
    pub fn reason(&self) -> crate::reason::GatewayReason {
        match self {
            UpstreamError::Timeout(_) => crate::reason::GatewayReason::UpstreamTimeout,
            _ => crate::reason::GatewayReason::UpstreamUnavailable,
        }
    }
}

/// The backend client of one configuration.
#[derive(Debug, Clone)]
pub struct Upstreams {
    client: Client<HttpConnector, RequestBody>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Upstreams {
    /// A client with pooled keep-alive connections to every backend.
    pub fn new(connect_timeout: Duration, read_timeout: Duration, title_case: bool) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(1024)
            // `server.upstream_header_case = "title"`, for a backend whose
            // code compares header names case-sensitively.
            .http1_title_case_headers(title_case)
            // The client's Host header goes through as received.
            .set_host(false)
            .build(connector);
        Upstreams {
            client,
            connect_timeout,
            read_timeout,
        }
    }

    /// The read timeout, also the idle timeout of a streamed body.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// Sends `request` (absolute-form URI naming the backend) and waits for
    /// the response head. hyper-util retries a request that never reached
    /// a pooled connection the backend had closed; the retried request is
    /// the same one, identity headers included.
    pub async fn send(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.read_timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout(self.read_timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) if e.is_connect() => {
                if caused_by_timeout(&e) {
                    Err(UpstreamError::ConnectTimeout(self.connect_timeout))
                } else {
                    Err(UpstreamError::Connect(error_chain(&e)))
                }
            }
            Ok(Err(e)) if closed_before_response(&e) => Err(UpstreamError::Closed(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Other(error_chain(&e))),
        }
    }
}

fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        source = err.source();
    }
    false
}

fn closed_before_response(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return true;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ) {
                return true;
            }
        }
        source = err.source();
    }
    false
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1) and those named in
/// `Connection`. Most messages carry none, so this looks before it
/// removes. `Transfer-Encoding` is framing, which hyper owns on each side.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // HeaderName equality on standard names is a tag comparison: cheaper
    // than comparing every name's text with five strings.
    if !headers.keys().any(|k| HOP_BY_HOP_NAMES.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP_NAMES.iter()) {
        headers.remove(name);
    }
}

static HOP_BY_HOP_NAMES: std::sync::LazyLock<Vec<HeaderName>> = std::sync::LazyLock::new(|| {
    HOP_BY_HOP
        .iter()
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
