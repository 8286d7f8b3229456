//! A bare pingora 0.9 reverse proxy (variant (a) of loadtest/engines.sh):
//! every request goes to one upstream, no authentication, one header
//! replaced (`x-forwarded-proto`). The load test's baseline for what
//! samlgate's data plane costs on top of pingora itself; built with the same
//! release profile and the same pingora server settings as `samlgate run`
//! (worker threads, work stealing, upstream keepalive pool).
//!
//! ```text
//! cargo run --release --example bare_proxy -- 127.0.0.1:18082 127.0.0.1:18081 2
//! ```

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::Result;
use pingora_http::RequestHeader;
use pingora_proxy::{ProxyHttp, Session};

struct Bare {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }

    /// The one header the three engine variants replace (see
    /// loadtest/engines.sh), so that each does the same work.
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        upstream.insert_header("x-forwarded-proto", "http")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, threads) = match args.as_slice() {
        [listen, upstream, threads] => match threads.parse::<usize>() {
            Ok(t) if t > 0 => (listen.clone(), upstream.clone(), t),
            _ => usage(),
        },
        [listen, upstream] => (listen.clone(), upstream.clone(), 2),
        _ => usage(),
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
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    eprintln!("bare_proxy: {listen} -> upstream, {threads} threads");
    server.run_forever();
}

fn usage() -> ! {
    eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
    std::process::exit(2);
}
