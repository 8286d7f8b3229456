//! Real `redis-server` processes for tests (Debian's redis-server and
//! redis-tools, installed by scripts/deps.sh): each on a free loopback port
//! in its own directory under the target's tmp dir, killed when dropped; a
//! missing binary fails the test. Commands go through `redis-cli`, the
//! operator's own tool, so that a test crate without a Redis client can
//! use this file too: samlgate-store's Redis tests and the gateway's
//! cluster tests (`tests/cluster/mod.rs`, by `#[path]`) share it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::certs::{make_tls, TlsFiles};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the target's tmp dir.
pub(crate) fn temp_dir(what: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("redis-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free loopback port whose cluster bus port (+10000) is free too.
pub(crate) fn free_port() -> u16 {
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
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--loglevel",
            "warning",
        ]
        .map(String::from)
        .to_vec();
        args.extend([
            "--dir".to_owned(),
            dir.display().to_string(),
            "--logfile".to_owned(),
            dir.join("redis.log").display().to_string(),
        ]);
        match &tls {
            Some(t) => args.extend([
                "--port".to_owned(),
                "0".to_owned(),
                "--tls-port".to_owned(),
                port.to_string(),
                "--tls-cert-file".to_owned(),
                t.cert.display().to_string(),
                "--tls-key-file".to_owned(),
                t.key.display().to_string(),
                "--tls-ca-cert-file".to_owned(),
                t.ca.display().to_string(),
                "--tls-auth-clients".to_owned(),
                "no".to_owned(),
            ]),
            None => args.extend(["--port".to_owned(), port.to_string()]),
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
            if self.try_cli(&["PING"]).as_deref() == Some("PONG") {
                return;
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

    fn cli_command(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(t) = &self.tls {
            cmd.arg("--tls").arg("--cacert").arg(&t.ca);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs one command with redis-cli; its raw output, None when the
    /// server did not answer or answered with an error.
    pub(crate) fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = self.cli_command().args(args).output().unwrap_or_else(|e| {
            panic!("cannot run redis-cli ({e}): install redis-tools with scripts/deps.sh")
        });
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let failed = !out.status.success()
            || text.starts_with("ERR")
            || text.starts_with("Could not connect")
            || text.contains("Connection refused");
        (!failed).then_some(text)
    }

    /// Runs one command; panics when Redis refuses it.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed on port {}", self.port))
    }

    /// An integer reply.
    pub(crate) fn int(&self, args: &[&str]) -> i64 {
        let text = self.cli(args);
        text.parse()
            .unwrap_or_else(|_| panic!("redis-cli {args:?}: not an integer: {text:?}"))
    }

    /// Keys matching `pattern` (KEYS: fine on a test server).
    pub(crate) fn keys(&self, pattern: &str) -> Vec<String> {
        self.cli(&["KEYS", pattern])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty (no persistence).
    pub(crate) fn start_again(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `INFO commandstats` as command → calls.
    pub(crate) fn command_calls(&self) -> HashMap<String, u64> {
        self.cli(&["INFO", "commandstats"])
            .lines()
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
pub(crate) struct RedisCluster {
    pub(crate) nodes: Vec<RedisServer>,
}

impl RedisCluster {
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
            .stdin(Stdio::null())
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
                let info = n.cli(&["CLUSTER", "INFO"]);
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
        RedisCluster { nodes }
    }

    pub(crate) fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }
}
