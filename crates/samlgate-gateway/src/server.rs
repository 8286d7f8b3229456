//! Process assembly: the control runtime (metadata refresh, SIGHUP reload,
//! the demo's helper servers) beside pingora's proxy and admin services.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{ExecutionPhase, Server};
use pingora_core::services::listening::Service;
use samlgate_saml::SystemClock;

use crate::admin::Admin;
use crate::config::Config;
use crate::key_cache::FingerprintKeyCache;
use crate::metrics::Metrics;
use crate::proxy::SamlProxy;
use crate::replay::MemoryReplayStore;
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

/// Installs the tracing subscriber (`text` or `json` lines on stderr;
/// `RUST_LOG` overrides the level).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text
    // (escape codes there are noise for operators and cost per line).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Where a reload reads the configuration from.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    /// The file given with `--config`; None (the demo): no reload.
    pub path: Option<PathBuf>,
    /// Build options kept across reloads.
    pub options: BuildOptions,
}

/// The control runtime, with the shared state built on it: call
/// [`Control::serve`] to run pingora (never returns).
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
        let capacity = config.replay.max_entries;
        let gateway = runtime.block_on(Gateway::build(config, &source.options, &key_cache))?;
        let clock = Arc::new(SystemClock);
        let shared = Arc::new(Shared {
            gateway: ArcSwap::from_pointee(gateway),
            metrics: Metrics::new().map_err(|e| StartError::Other(e.to_string()))?,
            replay: MemoryReplayStore::new(capacity, clock.clone()),
            key_cache,
            clock,
            draining: AtomicBool::new(false),
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

    /// Starts pingora with the proxy and admin services and runs until a
    /// signal ends the process (SIGTERM: graceful, draining in-flight
    /// requests; SIGHUP: reload the configuration).
    pub fn serve(self) -> Result<(), StartError> {
        let gateway = self.shared.gateway.load_full();
        let server_config = gateway.config.server.clone();
        let mut conf = ServerConf {
            threads: server_config.threads,
            // SIGTERM: listeners stop accepting and /readyz turns 503 at
            // once; in-flight requests get the grace period, after which
            // the runtimes are stopped (tokio cancels what is left).
            grace_period_seconds: Some(server_config.shutdown_grace_seconds),
            graceful_shutdown_timeout_seconds: Some(1),
            ..ServerConf::default()
        };
        conf.work_stealing = true;
        let mut server = Server::new_with_opt_and_conf(None, conf);
        server.bootstrap();

        let mut proxy = pingora_proxy::http_proxy_service(
            &server.configuration,
            SamlProxy {
                shared: self.shared.clone(),
            },
        );
        for addr in &server_config.listen {
            proxy.add_tcp(addr);
        }
        for tls in &server_config.tls {
            proxy
                .add_tls(
                    &tls.listen,
                    &tls.cert.to_string_lossy(),
                    &tls.key.to_string_lossy(),
                )
                .map_err(|e| StartError::Other(format!("server.tls {}: {e}", tls.listen)))?;
        }
        let mut admin = Service::new(
            "samlgate admin".into(),
            Admin {
                shared: self.shared.clone(),
            },
        );
        admin.add_tcp(&server_config.admin_listen);

        let mut phases = server.watch_execution_phase();
        let shared = self.shared.clone();
        let source = self.source.clone();
        let runtime = self.runtime;
        std::thread::Builder::new()
            .name("samlgate-control".into())
            .spawn(move || {
                runtime.block_on(async move {
                    shared.gateway.load().spawn_refresh();
                    let draining = shared.clone();
                    tokio::spawn(async move {
                        while let Ok(phase) = phases.recv().await {
                            if matches!(
                                phase,
                                ExecutionPhase::GracefulTerminate | ExecutionPhase::ShutdownStarted
                            ) {
                                draining.draining.store(true, Ordering::Relaxed);
                            }
                        }
                    });
                    reload_on_sighup(shared, source).await;
                });
            })
            .map_err(|e| StartError::Other(e.to_string()))?;

        server.add_service(proxy);
        server.add_service(admin);
        tracing::info!(
            listen = ?server_config.listen,
            admin = %server_config.admin_listen,
            "samlgate serving"
        );
        server.run_forever();
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
