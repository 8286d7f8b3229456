//! The data plane: pingora accepts the connections (listeners, TLS through
//! openssl, process lifecycle) and hands each one to hyper, which serves
//! HTTP/1.1 on it with [`handler`]; backends are reached through a pooled
//! hyper client ([`upstream`]).
//!
//! pingora's own HTTP session layer (`ProxyHttp`) cost twice what hyper
//! costs for the same proxying on this project's machines
//! (loadtest/RESULTS.md, "HTTP engines"), so it no longer carries requests;
//! pingora stays for what it does well around them.

pub mod body;
mod handler;
pub mod upstream;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;

use crate::state::Shared;

/// What the handler knows of the connection a request came on.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    /// The client's address, for `X-Forwarded-For`, encoded once per
    /// connection.
    pub(crate) peer_header: Option<HeaderValue>,
    /// The client's address.
    pub(crate) peer: Option<IpAddr>,
    /// The connection is TLS.
    pub(crate) tls: bool,
}

/// HTTP/1.1 settings of client connections.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// Time allowed for a request's head, and for a keep-alive connection
    /// to start its next request (slow-loris defence).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
}

/// The pingora application that serves HTTP on each accepted connection.
#[derive(Debug)]
pub struct DataPlane {
    shared: Arc<Shared>,
    http1: hyper::server::conn::http1::Builder,
    open: Arc<AtomicUsize>,
}

impl DataPlane {
    /// The data plane over `shared`.
    pub fn new(shared: Arc<Shared>, limits: ClientLimits) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .max_header_size(limits.max_header_bytes)
            .keep_alive(true)
            // Not pipeline_flush: with it, hyper 1.12 holds back its own
            // 400/431 while unread request bytes are buffered, so a refused
            // request got a bare close instead of its error (and a
            // pipelined request with `Connection: close` lost every answer).
            .pipeline_flush(false);
        DataPlane {
            shared,
            http1,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Connections open now (a drain waits for none).
    pub fn open_connections(&self) -> Arc<AtomicUsize> {
        self.open.clone()
    }
}

/// Counts a connection while it is open.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl ServerApp for DataPlane {
    async fn process_new(self: &Arc<Self>, io: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let _open = OpenGuard::new(&self.open);
        let tls = io.get_ssl().is_some();
        let peer = io
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let conn = Arc::new(Conn {
            shared: self.shared.clone(),
            peer_header: peer.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok()),
            peer,
            tls,
        });
        let service = service_fn(move |request| handler::handle(conn.clone(), request));
        // with_upgrades: a 101 from a backend hands both connections over
        // (WebSocket), see handler::join_upgraded.
        let connection = self
            .http1
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let mut shutdown = shutdown.clone();
        tokio::select! {
            _ = connection.as_mut() => return None,
            _ = shutdown.wait_for(|stopping| *stopping) => {}
        }
        // Shutting down: finish the request in flight, then close (an idle
        // keep-alive connection closes at once).
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
        None
    }
}
