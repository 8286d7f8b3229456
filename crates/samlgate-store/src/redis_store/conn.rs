//! Connections to Redis: one multiplexed command connection per node
//! (standalone: redis-rs's `ConnectionManager`; Cluster: one
//! `ClusterConnection`), a dedicated connection for the blocking feed read,
//! deadlines on everything, and EVALSHA with a transparent NOSCRIPT reload.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{AsyncConnectionConfig, Client, Cmd, ErrorKind as RK, RedisResult};
use redis::{TlsCertificates, Value};
use tokio::time::{timeout_at, Instant};

use crate::config::StoreConfig;
use crate::observer::{Op, StoreObserver};
use crate::{ErrorKind, StoreError};

/// A Lua script with its SHA-1 (what EVALSHA names it by).
pub(crate) struct Script {
    source: &'static str,
    sha: String,
}

impl Script {
    pub(crate) fn new(source: &'static str) -> Self {
        Script {
            source,
            sha: redis::Script::new(source).get_hash().to_owned(),
        }
    }
}

/// After this many I/O failures in a row the Cluster connection is rebuilt
/// from the seed nodes (redis-rs recovers single nodes by itself; this
/// covers a cluster that was restarted as a whole).
const CLUSTER_REBUILD_AFTER: u32 = 3;

struct ClusterCommand {
    client: ClusterClient,
    conn: Mutex<Option<ClusterConnection>>,
    connecting: tokio::sync::Mutex<()>,
    io_failures: AtomicU32,
}

enum Command {
    Single(ConnectionManager),
    Cluster(Box<ClusterCommand>),
}

enum FeedTarget {
    Single(Box<Client>),
    Cluster(Box<ClusterClient>),
}

/// A connection used only by the feed task (a blocking read would stall
/// every other command on a shared multiplexed connection).
pub(crate) enum FeedConn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl FeedConn {
    pub(crate) async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            FeedConn::Single(c) => cmd.query_async(c).await,
            FeedConn::Cluster(c) => cmd.query_async(c).await,
        }
    }
}

/// Everything the Redis store sends goes through here.
pub(crate) struct Redis {
    command: Command,
    feed: FeedTarget,
    timeout: Duration,
    feed_timeout: Duration,
    pub(crate) cluster: bool,
    observer: Arc<dyn StoreObserver>,
}

fn config_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Config(vec![format!("{what}: {e}")])
}

impl Redis {
    /// Builds the clients; connects lazily, so a node starts while Redis
    /// is down. Must run inside a tokio runtime.
    pub(crate) fn new(
        cfg: &StoreConfig,
        observer: Arc<dyn StoreObserver>,
    ) -> Result<Self, StoreError> {
        // redis-rs builds its rustls config from the process default
        // provider; install ring unless the process already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = cfg.timeout();
        let feed_timeout = cfg.feed_block() + timeout;
        let certs = match &cfg.tls_ca {
            Some(path) => Some(TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|e| config_error("store.tls_ca", e))?),
            }),
            None => None,
        };
        if let Some(url) = &cfg.url {
            let client = match &certs {
                Some(c) => Client::build_with_tls(url.as_str(), c.clone()),
                None => Client::open(url.as_str()),
            }
            .map_err(|e| config_error("store.url", e.category().to_owned()))?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(500));
            let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
                .map_err(|e| config_error("store.url", e.category().to_owned()))?;
            return Ok(Redis {
                command: Command::Single(manager),
                feed: FeedTarget::Single(Box::new(client)),
                timeout,
                feed_timeout,
                cluster: false,
                observer,
            });
        }
        if cfg.cluster.is_empty() {
            return Err(config_error(
                "store.url",
                "backend \"redis\" needs url or cluster",
            ));
        }
        let build = |response: Duration| {
            let mut b = ClusterClientBuilder::new(cfg.cluster.iter().map(String::as_str))
                .connection_timeout(timeout)
                .response_timeout(response)
                .overall_response_timeout(Some(response))
                .retries(2)
                .min_retry_wait(10)
                .max_retry_wait(100);
            if let Some(c) = &certs {
                b = b.certs(c.clone());
            }
            b.build()
                .map_err(|e| config_error("store.cluster", e.category().to_owned()))
        };
        Ok(Redis {
            command: Command::Cluster(Box::new(ClusterCommand {
                client: build(timeout)?,
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                io_failures: AtomicU32::new(0),
            })),
            feed: FeedTarget::Cluster(Box::new(build(feed_timeout)?)),
            timeout,
            feed_timeout,
            cluster: true,
            observer,
        })
    }

    /// Sends one command on the command connection, before `deadline`.
    async fn send(&self, cmd: &Cmd, deadline: Instant) -> Result<Value, StoreError> {
        let fut = async {
            match &self.command {
                Command::Single(m) => {
                    let mut m = m.clone();
                    cmd.query_async::<Value>(&mut m).await.map_err(Some)
                }
                Command::Cluster(cc) => {
                    let ClusterCommand {
                        client,
                        conn,
                        connecting,
                        io_failures,
                    } = &**cc;
                    let mut c = cluster_conn(client, conn, connecting).await?;
                    let r = cmd.query_async::<Value>(&mut c).await;
                    match &r {
                        Err(e) if e.is_io_error() || e.kind() == RK::ClusterConnectionNotFound => {
                            if io_failures.fetch_add(1, Ordering::Relaxed) + 1
                                >= CLUSTER_REBUILD_AFTER
                            {
                                io_failures.store(0, Ordering::Relaxed);
                                *conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
                            }
                        }
                        _ => io_failures.store(0, Ordering::Relaxed),
                    }
                    r.map_err(Some)
                }
            }
        };
        match timeout_at(deadline, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(Some(e))) => Err(e.into()),
            Ok(Err(None)) | Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// EVALSHA `script`; on NOSCRIPT (a restarted or failed-over server has
    /// an empty script cache) EVAL with the source, which also caches it.
    /// Idempotent scripts only: it may also be sent again after an I/O
    /// error.
    pub(crate) async fn eval(
        &self,
        op: Op,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Value, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let build = |name: &str, body: &str| {
            let mut c = redis::cmd(name);
            c.arg(body).arg(keys.len()).arg(keys).arg(args);
            c
        };
        let evalsha = build("EVALSHA", &script.sha);
        let mut result = self.send(&evalsha, deadline).await;
        if matches!(
            result,
            Err(StoreError::Redis {
                kind: ErrorKind::Io,
                ..
            })
        ) && Instant::now() < deadline
        {
            self.observer.recovered(op, ErrorKind::Io);
            result = self.send(&evalsha, deadline).await;
        }
        match result {
            Err(StoreError::Redis {
                kind: ErrorKind::NoScript,
                ..
            }) => {
                self.observer.recovered(op, ErrorKind::NoScript);
                self.send(&build("EVAL", script.source), deadline).await
            }
            r => r,
        }
    }

    /// One PING on the command connection (any node of a Cluster): the
    /// connection works, or is replaced by the client's reconnect.
    pub(crate) async fn ping_command(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + self.timeout;
        self.send(&redis::cmd("PING"), deadline).await.map(|_| ())
    }

    /// `cmd` on every master (Cluster) or on the one server: one result
    /// per node, a server's error reply kept as that node's `Err` (an ACL
    /// may refuse CONFIG GET); connection failures fail the call.
    pub(crate) async fn on_every_master(
        &self,
        cmd: Cmd,
    ) -> Result<Vec<Result<Value, String>>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        match &self.command {
            Command::Single(_) => match self.send(&cmd, deadline).await {
                Ok(v) => Ok(vec![Ok(v)]),
                Err(StoreError::Redis {
                    kind: ErrorKind::Other,
                    detail,
                }) => Ok(vec![Err(detail)]),
                Err(e) => Err(e),
            },
            Command::Cluster(cc) => {
                let ClusterCommand {
                    client,
                    conn,
                    connecting,
                    ..
                } = &**cc;
                let fut = async {
                    let mut c = cluster_conn(client, conn, connecting).await?;
                    let routing =
                        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                    c.route_command(cmd, routing).await.map_err(Some)
                };
                let per_node = |v: Value| match v {
                    Value::ServerError(e) => {
                        Err(format!("{} {}", e.code(), e.details().unwrap_or("")))
                    }
                    v => Ok(v),
                };
                match timeout_at(deadline, fut).await {
                    Ok(Ok(Value::Map(pairs))) => {
                        Ok(pairs.into_iter().map(|(_, v)| per_node(v)).collect())
                    }
                    Ok(Ok(v)) => Ok(vec![per_node(v)]),
                    Ok(Err(Some(e))) => Err(e.into()),
                    Ok(Err(None)) | Err(_) => Err(StoreError::Timeout(self.timeout)),
                }
            }
        }
    }

    /// A fresh connection for the feed task, named `samlgate-feed` on a
    /// standalone server (operators can find it in CLIENT LIST).
    pub(crate) async fn feed_connection(&self) -> Result<FeedConn, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let fut = async {
            match &self.feed {
                FeedTarget::Single(client) => {
                    let cfg = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.feed_timeout));
                    let mut c = client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?;
                    redis::cmd("CLIENT")
                        .arg("SETNAME")
                        .arg("samlgate-feed")
                        .query_async::<()>(&mut c)
                        .await?;
                    Ok(FeedConn::Single(c))
                }
                FeedTarget::Cluster(client) => {
                    Ok(FeedConn::Cluster(client.get_async_connection().await?))
                }
            }
        };
        match timeout_at(deadline, fut).await {
            Ok(r) => r.map_err(|e: redis::RedisError| e.into()),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// The feed's deadline for one blocking read.
    pub(crate) fn feed_timeout(&self) -> Duration {
        self.feed_timeout
    }
}

/// The shared Cluster connection, created on first use. redis-rs's
/// `get_async_connection` has no deadline of its own (redis-rs #1953): the
/// caller's `timeout_at` bounds it.
async fn cluster_conn(
    client: &ClusterClient,
    conn: &Mutex<Option<ClusterConnection>>,
    connecting: &tokio::sync::Mutex<()>,
) -> Result<ClusterConnection, Option<redis::RedisError>> {
    if let Some(c) = conn.lock().unwrap_or_else(PoisonError::into_inner).clone() {
        return Ok(c);
    }
    let _one_at_a_time = connecting.lock().await;
    if let Some(c) = conn.lock().unwrap_or_else(PoisonError::into_inner).clone() {
        return Ok(c);
    }
    let c = client.get_async_connection().await.map_err(Some)?;
    *conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
    Ok(c)
}
