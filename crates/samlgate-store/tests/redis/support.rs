//! Real `redis-server` processes for the tests (Debian's package, installed
//! by scripts/deps.sh): each on a free loopback port in its own directory
//! under the target's tmp dir, killed when dropped. A missing binary fails
//! the test.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samlgate_store::*;

use crate::certs::{make_tls, TlsFiles};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

fn temp_dir(what: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free loopback port whose cluster bus port (+10000) is free too.
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port > 55_000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One redis-server process.
pub(crate) struct RedisServer {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    args: Vec<String>,
    pub(crate) tls: Option<TlsFiles>,
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        Self::start_with("plain", &[], false)
    }

    /// A server with TLS only (`rediss://`), its CA in `tls.ca`.
    pub(crate) fn start_tls() -> Self {
        Self::start_with("tls", &[], true)
    }

    pub(crate) fn start_with(what: &str, extra: &[&str], tls: bool) -> Self {
        let dir = temp_dir(what);
        let port = free_port();
        let tls = tls.then(|| make_tls(&dir));
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--loglevel".into(),
            "warning".into(),
            "--logfile".into(),
            dir.join("redis.log").display().to_string(),
        ];
        match &tls {
            Some(t) => args.extend(
                [
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--tls-cert-file",
                    &t.cert.display().to_string(),
                    "--tls-key-file",
                    &t.key.display().to_string(),
                    "--tls-ca-cert-file",
                    &t.ca.display().to_string(),
                    "--tls-auth-clients",
                    "no",
                ]
                .map(String::from),
            ),
            None => args.extend(["--port".to_string(), port.to_string()]),
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut s = RedisServer {
            child: None,
            port,
            dir,
            args,
            tls,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it with scripts/deps.sh (Debian package redis-server)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    pub(crate) fn client(&self) -> redis::Client {
        match &self.tls {
            Some(t) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(&t.ca).unwrap()),
                },
            )
            .unwrap(),
            None => redis::Client::open(self.url()).unwrap(),
        }
    }

    /// Runs one command on a fresh admin connection.
    pub(crate) fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut c = self.client().get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).unwrap()
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty (no persistence).
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `INFO commandstats` as command → calls.
    pub(crate) fn command_calls(&self) -> HashMap<String, u64> {
        let info: String = self.cmd(&["INFO", "commandstats"]);
        info.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|f| f.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three masters on loopback, slots spread by `redis-cli --cluster create`.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<RedisServer>,
}

impl Cluster {
    pub(crate) fn start() -> Self {
        let nodes: Vec<_> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    "cluster",
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ],
                    false,
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-cli ({e}): install redis-tools with scripts/deps.sh")
            });
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            loop {
                let info: String = n.cmd(&["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster did not converge: {info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Cluster { nodes }
    }

    pub(crate) fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }
}

/// Counts what the store reports.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) reconnects: AtomicUsize,
    pub(crate) resyncs: AtomicUsize,
    pub(crate) degraded: Mutex<Vec<bool>>,
    pub(crate) recovered: Mutex<Vec<(Op, ErrorKind)>>,
    pub(crate) errors: Mutex<Vec<(Op, ErrorKind)>>,
    pub(crate) queued: AtomicUsize,
}

impl StoreObserver for Counts {
    fn call(&self, op: Op, _elapsed: Duration, result: Result<(), ErrorKind>) {
        if let Err(k) = result {
            self.errors.lock().unwrap().push((op, k));
        }
    }
    fn recovered(&self, op: Op, kind: ErrorKind) {
        self.recovered.lock().unwrap().push((op, kind));
    }
    fn degraded(&self, d: bool) {
        self.degraded.lock().unwrap().push(d);
    }
    fn feed_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    fn resync(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }
    fn queued(&self, n: usize) {
        self.queued.store(n, Ordering::Relaxed);
    }
}

/// A node: the store, its observer, and its maintenance task while alive.
pub(crate) struct Node {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) counts: Arc<Counts>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

pub(crate) fn config(url: &str) -> StoreConfig {
    StoreConfig {
        backend: Backend::Redis,
        url: Some(url.to_owned()),
        timeout_ms: 500,
        ..StoreConfig::default()
    }
}

/// A node without its maintenance task (no feed: only the calls made).
pub(crate) async fn bare_node(cfg: &StoreConfig) -> Node {
    let counts = Arc::new(Counts::default());
    let h = connect(cfg, counts.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    Node {
        store: h.store,
        counts,
        task: None,
    }
}

/// A node with its maintenance task running, synced.
pub(crate) async fn node(cfg: &StoreConfig) -> Node {
    let counts = Arc::new(Counts::default());
    let h = connect(cfg, counts.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let task = tokio::spawn(h.maintenance.run());
    let n = Node {
        store: h.store,
        counts,
        task: Some(task),
    };
    let view = n.store.view().clone();
    wait_for("first sync", || view.synced()).await;
    n
}

/// Polls `cond` every 10 ms for at most 10 s (a generous deadline, not a
/// speed requirement); returns how long it took.
pub(crate) async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

pub(crate) fn now_ms() -> i64 {
    SystemClock.now_ms()
}

pub(crate) fn subject(name: &str) -> SubjectKey {
    SubjectKey::new("https://idp.example", None, None, None, name)
}

/// An admission of `id` for `subject`, issued `issued_ms`, valid 5 min.
pub(crate) fn admission<'a>(
    subject: SubjectKey,
    id: &'a str,
    issued_ms: i64,
) -> AssertionAdmission<'a> {
    AssertionAdmission {
        subject,
        issuer: "https://idp.example",
        assertion_id: id,
        session_index: None,
        issue_instant_ms: issued_ms,
        expires_ms: issued_ms + 300_000,
        token: RequestToken::random().unwrap(),
    }
}
