//! Variant (b) of the engine comparison (loadtest/engines.sh): pingora for
//! the process (its `Server`, listeners, runtimes), hyper serving HTTP/1.1
//! on each accepted connection through pingora-core's `ServerApp`, and a
//! pooled hyper-util client to the upstream. One upstream, one header
//! replaced (`x-forwarded-proto`), as in `bare_proxy.rs` and
//! `hyper_proxy.rs`.
//!
//! ```text
//! cargo run --release --example pingora_hyper_proxy -- 127.0.0.1:18084 127.0.0.1:18081 1
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::listening::Service;

type Upstream = Client<HttpConnector, Incoming>;

struct HyperApp {
    client: Upstream,
    authority: http::uri::Authority,
}

#[async_trait]
impl ServerApp for HyperApp {
    async fn process_new(
        self: &Arc<Self>,
        io: Stream,
        _shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let app = self.clone();
        let service = service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            async move {
                let mut parts = req.uri().clone().into_parts();
                parts.scheme = Some(http::uri::Scheme::HTTP);
                parts.authority = Some(app.authority.clone());
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
                req.headers_mut()
                    .insert("x-forwarded-proto", HeaderValue::from_static("http"));
                Ok::<_, Infallible>(match app.client.request(req).await {
                    Ok(resp) => resp.map(Either::Left),
                    Err(_) => {
                        let mut resp = Response::new(Either::Right(Empty::new()));
                        *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                        resp
                    }
                })
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
        None
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, threads) = match args.as_slice() {
        [l, u, t] => (l.clone(), u.clone(), t.parse().unwrap_or(1)),
        [l, u] => (l.clone(), u.clone(), 2),
        _ => {
            eprintln!("usage: pingora_hyper_proxy LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
            std::process::exit(2);
        }
    };
    let mut conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    conf.work_stealing = true;
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // The client's pool and its background tasks live on whichever
    // pingora runtime first uses them.
    let app = HyperApp {
        client: Client::builder(TokioExecutor::new()).build(connector),
        authority: upstream.parse().expect("upstream address"),
    };
    let mut service = Service::new("pingora+hyper".into(), app);
    service.add_tcp(&listen);
    server.add_service(service);
    eprintln!("pingora_hyper_proxy: {listen} -> upstream, {threads} threads");
    server.run_forever();
}
