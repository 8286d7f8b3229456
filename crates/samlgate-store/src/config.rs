//! The `[store]` table of samlgate's configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Where replay and revocation state lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// This process only (one node).
    #[default]
    Memory,
    /// Redis, shared by every node.
    Redis,
}

/// What a Redis-backed node does while Redis cannot answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Refuse logins (the gateway answers 503 `store_unavailable`);
    /// existing sessions keep working on the local revocation view.
    #[default]
    Reject,
    /// Admit logins against a node-local memory store, reported as
    /// degraded: a Response can then be replayed once on each other node.
    Local,
}

/// The `[store]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `memory` (default) or `redis`.
    pub backend: Backend,
    /// `redis://` or `rediss://` (TLS) URL of a standalone Redis, with an
    /// optional `user:password@` and `/db`.
    pub url: Option<String>,
    /// Redis Cluster seed nodes (instead of `url`), all `redis://` or all
    /// `rediss://`.
    pub cluster: Vec<String>,
    /// PEM file of the CA(s) that sign the Redis server certificates, for
    /// `rediss://` with a private CA (default: the system trust store).
    pub tls_ca: Option<PathBuf>,
    /// Prefix of every key (several deployments can share one Redis).
    pub key_prefix: String,
    /// Deadline of every store call in milliseconds; past it the call failed.
    pub timeout_ms: u64,
    /// `reject` (default) or `local`.
    pub on_failure: OnFailure,
    /// Bound of the memory replay store (backend `memory`, and the `local`
    /// fallback).
    pub max_entries: u64,
    /// Staleness bound of the revocation view in milliseconds (default
    /// 1000, the target "every connected node enforces a revocation within
    /// 1 s"): a node whose revocation feed has not answered for this long is
    /// degraded. The feed blocks for a third of it, capped at 1 s.
    pub max_staleness_ms: u64,
    /// Revocations kept in memory while Redis is unreachable, written when
    /// it is back (default 10000).
    pub max_queued: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Backend::Memory,
            url: None,
            cluster: Vec::new(),
            tls_ca: None,
            key_prefix: "samlgate:".into(),
            timeout_ms: 250,
            on_failure: OnFailure::Reject,
            max_entries: 1_000_000,
            max_staleness_ms: 1000,
            max_queued: 10_000,
        }
    }
}

/// One configuration problem: the key path (`store.url`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, `store.<field>`.
    pub path: String,
    /// What is wrong (never echoes a URL: it may hold a password).
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Longest accepted key prefix: keeps every key bounded.
pub const MAX_PREFIX_LEN: usize = 64;

impl StoreConfig {
    /// The call deadline.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The staleness bound.
    pub fn max_staleness(&self) -> Duration {
        Duration::from_millis(self.max_staleness_ms)
    }

    /// How long one feed read blocks: a third of the staleness bound (so a
    /// live feed answers well within it), between 100 ms and 1 s.
    pub fn feed_block(&self) -> Duration {
        Duration::from_millis((self.max_staleness_ms / 3).clamp(100, 1000))
    }

    /// Every problem, each with its key path; empty when usable.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut add = |path: &str, message: String| {
            p.push(ConfigProblem {
                path: format!("store.{path}"),
                message,
            })
        };
        if self.key_prefix.is_empty() || self.key_prefix.len() > MAX_PREFIX_LEN {
            add("key_prefix", format!("must be 1 to {MAX_PREFIX_LEN} bytes"));
        }
        if !self
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
        {
            add(
                "key_prefix",
                "may hold printable ASCII only, without `{` or `}` (they would move the Redis Cluster hash tag)".into(),
            );
        }
        if !(10..=60_000).contains(&self.timeout_ms) {
            add("timeout_ms", "must be between 10 and 60000".into());
        }
        if self.max_entries < 1000 {
            add("max_entries", "must be at least 1000".into());
        }
        if usize::try_from(self.max_entries).is_err() {
            add("max_entries", "too large for this machine".into());
        }
        if !(300..=600_000).contains(&self.max_staleness_ms) {
            add("max_staleness_ms", "must be between 300 and 600000".into());
        }
        if self.max_queued == 0 {
            add("max_queued", "must be at least 1".into());
        }
        if self.backend == Backend::Redis {
            let tls = match (&self.url, self.cluster.is_empty()) {
                (Some(_), false) => {
                    add("cluster", "set either url or cluster, not both".into());
                    None
                }
                (None, true) => {
                    add("url", "backend \"redis\" needs url or cluster".into());
                    None
                }
                (Some(url), true) => match scheme_tls(url) {
                    Ok(tls) => Some(tls),
                    Err(m) => {
                        add("url", m);
                        None
                    }
                },
                (None, false) => {
                    let schemes: Vec<_> = self
                        .cluster
                        .iter()
                        .enumerate()
                        .filter_map(|(i, u)| match scheme_tls(u) {
                            Ok(tls) => Some(tls),
                            Err(m) => {
                                add(&format!("cluster[{i}]"), m);
                                None
                            }
                        })
                        .collect();
                    if schemes
                        .iter()
                        .any(|t| *t != schemes.first().copied().unwrap_or(false))
                    {
                        add(
                            "cluster",
                            "every seed must use the same scheme (redis:// or rediss://)".into(),
                        );
                    }
                    schemes.first().copied()
                }
            };
            // Whether the CA file is there is checked where files are read
            // (the gateway's Config::load, and connect): validating a
            // configuration text needs no file system.
            if self.tls_ca.is_some() && tls == Some(false) {
                add("tls_ca", "needs a rediss:// url".into());
            }
        }
        p
    }
}

/// Whether a Redis URL uses TLS; an error for any other scheme or a URL
/// that does not parse (the message does not echo the URL).
fn scheme_tls(url: &str) -> Result<bool, String> {
    let tls = if url.starts_with("rediss://") {
        true
    } else if url.starts_with("redis://") {
        false
    } else {
        return Err("must start with redis:// or rediss://".into());
    };
    redis::parse_redis_url(url).ok_or_else(|| "is not a valid Redis URL".to_string())?;
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's example table, verbatim.
    const EXAMPLE: &str = r#"
[store]
backend = "memory"              # one node (default) | "redis"
url = "redis://127.0.0.1:6379/0"  # redis:// or rediss:// (TLS); with backend = "redis"
# cluster = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
# tls_ca = "/etc/samlgate/redis-ca.pem"
key_prefix = "samlgate:"        # several deployments can share one Redis
timeout_ms = 250                # every store call; past it the call failed
on_failure = "reject"           # | "local"   (see below)
max_entries = 1000000           # memory backend bound, as today
"#;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        store: StoreConfig,
    }

    fn parse(text: &str) -> Result<StoreConfig, String> {
        toml::from_str::<File>(text)
            .map(|f| f.store)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_table_parses_and_unknown_keys_do_not() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.url.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert_eq!(c.on_failure, OnFailure::Reject);
        assert!(c.validate().is_empty());
        let c = parse("[store]\nbackend = \"redis\"\ncluster = [\"redis://a:1\"]\non_failure = \"local\"\nmax_staleness_ms = 2000\n").unwrap();
        assert_eq!(
            (c.backend, c.on_failure, c.cluster.len()),
            (Backend::Redis, OnFailure::Local, 1)
        );
        assert!(parse("[store]\nstroe = 1\n").unwrap_err().contains("stroe"));
        assert!(parse("[store]\nbackend = \"memcached\"\n").is_err());
        assert!(parse("[store]\non_failure = \"open\"\n").is_err());
    }

    #[test]
    fn defaults_are_valid_memory() {
        let c = StoreConfig::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.backend, Backend::Memory);
        assert_eq!(c.feed_block(), Duration::from_millis(333));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let c = StoreConfig {
            backend: Backend::Redis,
            url: Some("http://user:secret@x".into()),
            cluster: vec!["redis://a:1".into(), "rediss://b:2".into(), "x".into()],
            tls_ca: Some("/nonexistent/ca.pem".into()),
            key_prefix: "a{b".into(),
            timeout_ms: 0,
            max_entries: 5,
            max_staleness_ms: 1,
            max_queued: 0,
            ..StoreConfig::default()
        };
        let problems = c.validate();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "store.key_prefix",
            "store.timeout_ms",
            "store.max_entries",
            "store.max_staleness_ms",
            "store.max_queued",
            "store.cluster",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        assert!(problems.iter().all(|p| !p.message.contains("secret")));
        let only_url = StoreConfig {
            backend: Backend::Redis,
            url: Some("http://user:secret@x".into()),
            ..StoreConfig::default()
        };
        let problems = only_url.validate();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "store.url");
        assert!(!problems[0].to_string().contains("secret"));
        let mixed = StoreConfig {
            backend: Backend::Redis,
            cluster: vec!["redis://a:1".into(), "rediss://b:2".into(), "x".into()],
            ..StoreConfig::default()
        };
        let paths: Vec<_> = mixed.validate().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["store.cluster[2]", "store.cluster"]);
    }

    #[test]
    fn redis_needs_a_url_and_tls_ca_needs_rediss() {
        let none = StoreConfig {
            backend: Backend::Redis,
            ..StoreConfig::default()
        };
        assert_eq!(none.validate()[0].path, "store.url");
        let plain_ca = StoreConfig {
            backend: Backend::Redis,
            url: Some("redis://127.0.0.1:6379/0".into()),
            tls_ca: Some("Cargo.toml".into()),
            ..StoreConfig::default()
        };
        assert_eq!(plain_ca.validate()[0].path, "store.tls_ca");
        let ok = StoreConfig {
            backend: Backend::Redis,
            url: Some("rediss://127.0.0.1:6379/0".into()),
            tls_ca: Some("Cargo.toml".into()),
            ..StoreConfig::default()
        };
        assert!(ok.validate().is_empty());
    }
}
