//! The observer through which the store reports what the gateway turns into
//! metrics (this crate has no Prometheus dependency) and the wall clock.

use std::time::Duration;

use crate::ErrorKind;

/// A store operation, the `op` label of latency and error metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// One ACS admission (one script call).
    Admit,
    /// One revocation write (key and feed event).
    Revoke,
    /// `ping` (`check-config --deep`).
    Ping,
    /// One read of the revocation feed (`XREAD BLOCK`, which returns at
    /// the latest after the block time).
    Feed,
    /// A full resync of the revocation view.
    Resync,
    /// Writing back what was queued while Redis was unreachable.
    Flush,
}

impl Op {
    /// The stable label: `admit`, `revoke`, `ping`, `feed`, `resync`, `flush`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Admit => "admit",
            Op::Revoke => "revoke",
            Op::Ping => "ping",
            Op::Feed => "feed",
            Op::Resync => "resync",
            Op::Flush => "flush",
        }
    }
}

/// What the store reports. Every method has an empty default, so an
/// implementation maps only what it exports. Calls come from request tasks
/// and the maintenance task: keep them cheap and non-blocking.
pub trait StoreObserver: Send + Sync {
    /// One store call finished after `elapsed`, with `Ok` or the error kind.
    fn call(&self, op: Op, elapsed: Duration, result: Result<(), ErrorKind>) {
        let _ = (op, elapsed, result);
    }
    /// An error the store recovered from inside one call (a NOSCRIPT
    /// reload, a resend after the connection dropped): the call went on.
    fn recovered(&self, op: Op, kind: ErrorKind) {
        let _ = (op, kind);
    }
    /// The store became degraded (Redis unreachable: admissions refused or
    /// decided locally) or recovered.
    fn degraded(&self, degraded: bool) {
        let _ = degraded;
    }
    /// The feed connection was lost and is being re-established.
    fn feed_reconnect(&self) {}
    /// The revocation view was rebuilt from the full revocation set.
    fn resync(&self) {}
    /// A full memory replay store (every entry still live) refused a new
    /// assertion: `store.max_entries` is too small for the logins of one
    /// acceptance window.
    fn memory_eviction(&self) {}
    /// Entries now held by the node-local memory replay store.
    fn memory_entries(&self, entries: usize) {
        let _ = entries;
    }
    /// Entries now held by the revocation view.
    fn view_entries(&self, entries: usize) {
        let _ = entries;
    }
    /// Revocations (and locally admitted replay records) waiting for Redis.
    fn queued(&self, waiting: usize) {
        let _ = waiting;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl StoreObserver for NoopObserver {}

/// The wall clock, in unix milliseconds: injected so tests can move time.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
