//! The store's one error type and the bounded error kinds used as metric
//! labels.

use std::time::Duration;

/// Why a store call failed, as a bounded label (the observer's `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No answer within `timeout_ms` (a hung or paused Redis, a slow network).
    Timeout,
    /// The connection failed or dropped (Redis down, reset, TLS failure).
    Io,
    /// A Cluster redirection or cluster state error that redis-rs did not
    /// resolve in time: MOVED, ASK, TRYAGAIN, CLUSTERDOWN.
    Moved,
    /// The server had no cached copy of a script (after a restart or
    /// failover); the call is retried once with the script source.
    NoScript,
    /// Anything else: authentication, ACL refusal, OOM, a malformed reply.
    Other,
}

impl ErrorKind {
    /// The stable label: `timeout`, `io`, `moved`, `noscript`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Moved => "moved",
            ErrorKind::NoScript => "noscript",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) fn of(e: &redis::RedisError) -> Self {
        use redis::{ErrorKind as K, ServerErrorKind as S};
        if e.is_timeout() {
            return ErrorKind::Timeout;
        }
        match e.kind() {
            K::Io | K::ClusterConnectionNotFound => ErrorKind::Io,
            K::Server(S::Moved | S::Ask | S::TryAgain | S::ClusterDown) => ErrorKind::Moved,
            K::Server(S::NoScript) => ErrorKind::NoScript,
            _ => ErrorKind::Other,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store call that did not produce an answer. Every variant means "the
/// store could not decide": the gateway refuses the login with
/// `store_unavailable` (HTTP 503), never treats it as fresh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The call passed its deadline (`timeout_ms`).
    #[error("store call timed out after {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error or the connection failed.
    #[error("redis {kind} error: {detail}")]
    Redis {
        /// Bounded classification.
        kind: ErrorKind,
        /// Human detail (never a key, URL or credential).
        detail: String,
    },
    /// Redis answered with something the store did not expect.
    #[error("unexpected reply from redis: {0}")]
    Reply(String),
    /// The configuration is unusable; each line names its field.
    #[error("store configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// Redis is unreachable and the bounded queue of revocations waiting
    /// for it is full: this revocation was applied on this node only.
    #[error("revocation queue full ({0} waiting for the store)")]
    QueueFull(usize),
    /// The memory replay store holds `max_entries` live entries: a new
    /// assertion is refused rather than an unexpired one forgotten.
    #[error("the memory replay store is full ({0} live entries; raise store.max_entries)")]
    Full(usize),
}

impl StoreError {
    /// The bounded kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Timeout(_) => ErrorKind::Timeout,
            StoreError::Redis { kind, .. } => *kind,
            _ => ErrorKind::Other,
        }
    }

    /// The gateway's reason code for every store failure.
    pub fn reason(&self) -> &'static str {
        "store_unavailable"
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        let kind = ErrorKind::of(&e);
        if kind == ErrorKind::Timeout {
            // redis-rs's own response timeout: the same outcome as ours.
            return StoreError::Redis {
                kind,
                detail: "no response within the response timeout".into(),
            };
        }
        StoreError::Redis {
            kind,
            detail: e.to_string(),
        }
    }
}
