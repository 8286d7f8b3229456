//! Process assembly: pingora runs the process (worker runtime, listeners,
//! TLS) with the data plane as its one service; a control runtime beside it
//! runs the admin listener, metadata refresh, SIGHUP reload, the readiness
//! announcement and the shutdown drain.
//!
//! Shutdown (SIGTERM or SIGQUIT): `/readyz` answers 503 at once while the
//! data listeners keep accepting for `shutdown_delay_seconds`, so that a
//! load balancer notices before connections are refused; then the
//! listeners close, each connection finishes its request in flight, and
//! the process exits as soon as none is open (at the latest after
//! `shutdown_grace_seconds`). The admin listener answers until the end.
//! SIGINT stops at once.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora_core::services::listening::Service;
use samlgate_saml::SystemClock;

use crate::config::Config;
use crate::dataplane::{ClientLimits, DataPlane};
use crate::key_cache::FingerprintKeyCache;
use crate::metrics::Metrics;
use crate::state::{BuildOptions, Gateway, Shared};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration (or a file or metadata it names) is unusable.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The log writer thread's guard: dropping it writes what is queued.
static LOG_GUARD: std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    std::sync::Mutex::new(None);

/// Installs the tracing subscriber (`text` or `json` lines on stderr;
/// `RUST_LOG` overrides the level). Lines are formatted where they happen
/// and written by a thread of their own, several per write(2) under load:
/// a request never waits for the log file. Nothing is dropped (a full
/// queue makes the logging thread wait rather than lose lines); call
/// [`flush_logs`] before the process exits.
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("samlgate-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    // Colours only on a terminal: a log file or journal gets plain text
    // (escape codes there are noise for operators and cost per line).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let installed = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if installed.is_ok() {
        if let Ok(mut slot) = LOG_GUARD.lock() {
            *slot = Some(guard);
        }
    }
}

/// Writes every queued log line (the writer thread stops); logging after
/// it is lost. Call before the process exits.
pub fn flush_logs() {
    let guard = LOG_GUARD.lock().ok().and_then(|mut slot| slot.take());
    drop(guard);
}

/// Where a reload reads the configuration from.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    /// The file given with `--config`; None (the demo): no reload.
    pub path: Option<PathBuf>,
    /// Build options kept across reloads.
    pub options: BuildOptions,
}

/// Called once every listener accepts connections (the demo prints its
/// URL then, not before).
pub type OnReady = Box<dyn FnOnce() + Send>;

/// The control runtime, with the shared state built on it: call
/// [`Control::serve`] to run the gateway.
pub struct Control {
    runtime: tokio::runtime::Runtime,
    /// The shared state.
    pub shared: Arc<Shared>,
    source: ReloadSource,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control(..)")
    }
}

impl Control {
    /// Builds the first gateway (loading all IdP metadata) on a new control
    /// runtime.
    pub fn start(config: Config, source: ReloadSource) -> Result<Control, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("samlgate-control")
            .enable_all()
            .build()
            .map_err(|e| StartError::Other(format!("cannot start the control runtime: {e}")))?;
        let key_cache = Arc::new(FingerprintKeyCache::new(100_000));
        let store_config = config.store.clone();
        let gateway = runtime.block_on(Gateway::build(config, &source.options, &key_cache))?;
        let metrics = Metrics::new().map_err(|e| StartError::Other(e.to_string()))?;
        // No network call here: a node starts while Redis is down, and the
        // failure policy decides what it then does.
        let handle = runtime
            .block_on(samlgate_store::connect(
                &store_config,
                metrics.cluster.clone(),
                Arc::new(samlgate_store::SystemClock),
            ))
            .map_err(|e| StartError::Other(format!("store: {e}")))?;
        runtime.spawn(handle.maintenance.run());
        let shared = Arc::new(Shared {
            gateway: ArcSwap::from_pointee(gateway),
            metrics,
            store: handle.store,
            view: handle.view,
            on_failure: store_config.on_failure,
            key_cache,
            clock: Arc::new(SystemClock),
            draining: Default::default(),
            listening: Default::default(),
        });
        Ok(Control {
            runtime,
            shared,
            source,
        })
    }

    /// The control runtime's handle (the demo runs its IdP and backend on
    /// it).
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs the gateway until a signal ends the process; `on_ready` runs
    /// once every listener accepts connections.
    pub fn serve(self, on_ready: Option<OnReady>) -> Result<(), StartError> {
        let gateway = self.shared.gateway.load_full();
        let server_config = gateway.config.server.clone();
        let grace = server_config.shutdown_grace_seconds;
        let mut conf = ServerConf {
            threads: server_config.threads,
            // An upper bound: the drain below exits as soon as no
            // connection is open.
            grace_period_seconds: Some(grace),
            graceful_shutdown_timeout_seconds: Some(1),
            ..ServerConf::default()
        };
        conf.work_stealing = true;
        let mut server = Server::new_with_opt_and_conf(None, conf);
        server.bootstrap();

        let plane = DataPlane::new(
            self.shared.clone(),
            ClientLimits {
                header_timeout: Duration::from_secs(server_config.client_header_timeout_seconds),
                max_header_bytes: server_config.max_request_header_bytes,
            },
        );
        let open = plane.open_connections();
        let mut service = Service::new("samlgate".into(), plane);
        let mut probes = Vec::new();
        for addr in &server_config.listen {
            // hyper reads into its own buffer: pingora's 64 KiB read buffer
            // per connection would be a second copy of every byte and most
            // of an idle keep-alive connection's memory.
            service.add_listener(
                ListenerConfig::tcp(addr.clone()).l4_buffer(L4BufferSettings::unbuffered()),
            );
            probes.push(Probe::Tcp(addr.clone()));
        }
        for tls in &server_config.tls {
            let settings =
                TlsSettings::intermediate(&tls.cert.to_string_lossy(), &tls.key.to_string_lossy())
                    .map_err(|e| StartError::Other(format!("server.tls {}: {e}", tls.listen)))?;
            // Under TLS the read buffer stays: openssl reads record headers
            // and bodies in small pieces.
            service.add_listener(ListenerConfig::tcp(tls.listen.clone()).tls(settings));
            probes.push(Probe::Tls(tls.listen.clone()));
        }
        // Bound here, so that a taken port fails the start rather than
        // leaving a gateway without its readiness endpoint.
        let admin = std::net::TcpListener::bind(&server_config.admin_listen).map_err(|e| {
            StartError::Other(format!(
                "server.admin_listen {}: {e}",
                server_config.admin_listen
            ))
        })?;
        probes.push(Probe::Tcp(server_config.admin_listen.clone()));

        let mut phases = server.watch_execution_phase();
        let shared = self.shared.clone();
        let source = self.source.clone();
        let runtime = self.runtime;
        let listen = server_config.listen.clone();
        let admin_listen = server_config.admin_listen.clone();
        std::thread::Builder::new()
            .name("samlgate-control".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Err(e) = crate::admin::serve(admin, shared.clone()) {
                        tracing::error!(error = %e, "admin listener failed");
                    }
                    shared.gateway.load().spawn_refresh();
                    let store = shared.store.clone();
                    tokio::spawn(async move {
                        // At startup: say what the store is, and warn when
                        // Redis could evict replay or revocation keys.
                        match store.ping().await {
                            Ok(info) => {
                                tracing::info!(backend = info.backend, version = info.server_version.as_deref().unwrap_or("-"), nodes = info.nodes, "store answered");
                                for w in info.warnings {
                                    tracing::warn!(warning = %w, "store");
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "store did not answer at startup (the failure policy applies until it does)"),
                        }
                    });
                    let listening = shared.clone();
                    tokio::spawn(async move {
                        announce_when_listening(probes).await;
                        listening.listening.store(true, Ordering::Relaxed);
                        tracing::info!(listen = ?listen, admin = %admin_listen, "samlgate serving");
                        if let Some(ready) = on_ready {
                            ready();
                        }
                    });
                    tokio::spawn(async move {
                        while let Ok(phase) = phases.recv().await {
                            if matches!(phase, ExecutionPhase::GracefulTerminate) {
                                exit_when_drained(open, Duration::from_secs(grace)).await;
                                return;
                            }
                        }
                    });
                    reload_on_sighup(shared, source).await;
                });
            })
            .map_err(|e| StartError::Other(e.to_string()))?;

        server.add_service(service);
        server.run(RunArgs {
            shutdown_signal: Box::new(DrainSignal {
                shared: self.shared.clone(),
                delay: Duration::from_secs(server_config.shutdown_delay_seconds),
            }),
        });
        Ok(())
    }
}

/// A listener to probe before announcing that the gateway serves.
enum Probe {
    Tcp(String),
    Tls(String),
}

/// Waits until every listener accepts a connection (a TLS one a handshake).
async fn announce_when_listening(probes: Vec<Probe>) {
    for probe in probes {
        let (addr, tls) = match &probe {
            Probe::Tcp(a) => (a.clone(), false),
            Probe::Tls(a) => (a.clone(), true),
        };
        let Some(target) = probe_address(&addr) else {
            continue;
        };
        loop {
            let answered = tokio::task::spawn_blocking(move || connect_once(target, tls))
                .await
                .unwrap_or(false);
            if answered {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The address a local client reaches a listener on (a wildcard listener
/// through loopback).
fn probe_address(listen: &str) -> Option<SocketAddr> {
    let addr = listen.to_socket_addrs().ok()?.next()?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    Some(SocketAddr::new(ip, addr.port()))
}

fn connect_once(addr: SocketAddr, tls: bool) -> bool {
    let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if !tls {
        return true;
    }
    // A completed handshake, so that pingora does not log the probe as a
    // failed one.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let Ok(mut connector) = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
    else {
        return false;
    };
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let connector = connector.build();
    let Ok(config) = connector.configure() else {
        return false;
    };
    match config
        .verify_hostname(false)
        .use_server_name_indication(false)
        .connect("localhost", stream)
    {
        Ok(mut ssl) => {
            let _ = ssl.shutdown();
            true
        }
        Err(_) => false,
    }
}

/// pingora's shutdown trigger: SIGTERM/SIGQUIT start the drain (readyz
/// 503), and pingora is told to stop its listeners only after the delay.
struct DrainSignal {
    shared: Arc<Shared>,
    delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainSignal {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut quit), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM/SIGQUIT/SIGINT: stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = quit.recv() => {}
            _ = int.recv() => return ShutdownSignal::FastShutdown,
        }
        self.shared.draining.store(true, Ordering::Relaxed);
        tracing::info!(
            delay_seconds = self.delay.as_secs(),
            "shutdown: /readyz answers 503; still accepting until the delay ends"
        );
        tokio::select! {
            _ = tokio::time::sleep(self.delay) => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::FastShutdown,
        }
    }
}

/// After the listeners closed: exits once no client connection is open,
/// at the latest when the grace period ends (pingora then stops the rest).
async fn exit_when_drained(open: Arc<AtomicUsize>, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let left = open.load(Ordering::Relaxed);
        if left == 0 {
            tracing::info!("shutdown: no request in flight; exiting");
            flush_logs();
            std::process::exit(0);
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                connections = left,
                "shutdown: grace period over; closing what is left"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reload_on_sighup(shared: Arc<Shared>, source: ReloadSource) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot listen for SIGHUP: reload disabled");
        std::future::pending::<()>().await;
        return;
    };
    while hup.recv().await.is_some() {
        reload(&shared, &source).await;
    }
}

/// Reads, validates and builds the configuration again, then swaps it in.
/// An invalid file keeps the running configuration (logged and counted).
pub async fn reload(shared: &Shared, source: &ReloadSource) {
    let Some(path) = &source.path else {
        tracing::info!("SIGHUP ignored: no configuration file to reload");
        return;
    };
    let built = match Config::load(path) {
        Ok(config) => Gateway::build(config, &source.options, &shared.key_cache).await,
        Err(e) => Err(e),
    };
    match built {
        Ok(gateway) => {
            let old = shared.gateway.load();
            if gateway.config.server.listen != old.config.server.listen
                || gateway.config.server.admin_listen != old.config.server.admin_listen
            {
                tracing::warn!("listener addresses changed: they apply at the next restart");
            }
            if gateway.config.store != old.config.store {
                tracing::warn!("[store] changed: it applies at the next restart");
            }
            gateway.spawn_refresh();
            shared.gateway.store(Arc::new(gateway));
            shared
                .metrics
                .config_reloads
                .with_label_values(&["ok"])
                .inc();
            tracing::info!(file = %path.display(), "configuration reloaded");
        }
        Err(e) => {
            shared
                .metrics
                .config_reloads
                .with_label_values(&["failed"])
                .inc();
            for p in &e.problems {
                tracing::error!(file = %path.display(), field = %p.path, problem = %p.message, "reload refused; the running configuration stays");
            }
        }
    }
}
