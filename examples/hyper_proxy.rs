//! Variant (c) of the engine comparison (loadtest/engines.sh): hyper 1 and
//! tokio alone, as linkerd2-proxy is built. One upstream, one header
//! replaced (`x-forwarded-proto`), exactly what `bare_proxy.rs` (pingora
//! `ProxyHttp`) and `pingora_hyper_proxy.rs` (pingora's server with hyper
//! serving each connection) do, so the three cost the same work.
//!
//! ```text
//! cargo run --release --example hyper_proxy -- 127.0.0.1:18083 127.0.0.1:18081 1
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Incoming>;

async fn forward(
    client: Upstream,
    authority: http::uri::Authority,
    mut req: Request<Incoming>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    let mut parts = req.uri().clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req.headers_mut()
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    client.request(req).await
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, threads) = match args.as_slice() {
        [l, u, t] => (l.clone(), u.clone(), t.parse().unwrap_or(1)),
        [l, u] => (l.clone(), u.clone(), 2),
        _ => {
            eprintln!("usage: hyper_proxy LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listen: SocketAddr = listen.parse().expect("listen address");
        let authority: http::uri::Authority = upstream.parse().expect("upstream address");
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
        eprintln!("hyper_proxy: {listen} -> upstream, {threads} threads");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let authority = authority.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let client = client.clone();
                    let authority = authority.clone();
                    async move {
                        Ok::<_, Infallible>(match forward(client, authority, req).await {
                            Ok(resp) => resp.map(http_body_util::Either::Left),
                            Err(_) => {
                                let mut resp = Response::new(http_body_util::Either::Right(
                                    http_body_util::Empty::new(),
                                ));
                                *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                                resp
                            }
                        })
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
