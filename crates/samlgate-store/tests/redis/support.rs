//! What the store's Redis tests share beyond the server harness
//! (server.rs): a Redis client on a test server, store nodes with an
//! observer that counts what they report, and small builders.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samlgate_store::*;

pub(crate) use crate::server::{RedisCluster as Cluster, RedisServer};

impl RedisServer {
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
