//! Metrics of the replay and revocation store, the revocation view and
//! Single Logout; the store reports through [`StoreObserver`].

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry};
use samlgate_store::{ErrorKind, Op, StoreObserver};

use crate::metrics::{counter_vec, BUCKETS};

/// Store, revocation and logout metrics.
#[derive(Clone)]
pub struct ClusterMetrics {
    /// `samlgate_store_call_seconds{op}`.
    pub call_seconds: HistogramVec,
    /// `samlgate_store_errors_total{op,kind}`.
    pub errors: IntCounterVec,
    /// `samlgate_store_degraded`: 1 while the store cannot answer or the
    /// revocation feed is silent past its bound.
    pub degraded: IntGauge,
    /// `samlgate_revocation_view_entries`.
    pub view_entries: IntGauge,
    /// `samlgate_revocation_feed_reconnects_total`.
    pub feed_reconnects: IntCounter,
    /// `samlgate_revocation_resyncs_total`.
    pub resyncs: IntCounter,
    /// `samlgate_revocation_feed_age_seconds`: since the feed last answered.
    pub feed_age_seconds: prometheus::Gauge,
    /// `samlgate_revocations_total{source}`: sp_logout, idp_logout, admin.
    pub revocations: IntCounterVec,
    /// `samlgate_store_queued`: revocations and replay records waiting
    /// for Redis.
    pub queued: IntGauge,
    /// `samlgate_slo_total{direction,binding,outcome,reason}`.
    pub slo: IntCounterVec,
    /// `samlgate_replay_store_entries` (the node-local memory store).
    pub memory_entries: IntGauge,
    /// `samlgate_replay_store_full_total`.
    pub memory_evictions: IntCounter,
}

impl std::fmt::Debug for ClusterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterMetrics(..)")
    }
}

const OPS: [Op; 6] = [
    Op::Admit,
    Op::Revoke,
    Op::Ping,
    Op::Feed,
    Op::Resync,
    Op::Flush,
];
const KINDS: [ErrorKind; 5] = [
    ErrorKind::Timeout,
    ErrorKind::Io,
    ErrorKind::Moved,
    ErrorKind::NoScript,
    ErrorKind::Other,
];

impl ClusterMetrics {
    /// Registers every series; label sets known in advance start at 0, so
    /// that rates and alerts see them before the first event.
    pub fn register(r: &Registry) -> prometheus::Result<Self> {
        let call_seconds = HistogramVec::new(
            HistogramOpts::new(
                "samlgate_store_call_seconds",
                "Time of one replay/revocation store call, by operation",
            )
            .buckets(BUCKETS.to_vec()),
            &["op"],
        )?;
        r.register(Box::new(call_seconds.clone()))?;
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            r.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            r.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let feed_age_seconds = prometheus::Gauge::new(
            "samlgate_revocation_feed_age_seconds",
            "Seconds since the revocation feed last answered (0 on one node)",
        )?;
        r.register(Box::new(feed_age_seconds.clone()))?;
        let m = ClusterMetrics {
            errors: counter_vec(
                r,
                "samlgate_store_errors_total",
                "Failed store calls by operation and kind",
                &["op", "kind"],
            )?,
            degraded: gauge(
                "samlgate_store_degraded",
                "1 while the store cannot answer or the revocation feed is silent past its bound",
            )?,
            view_entries: gauge(
                "samlgate_revocation_view_entries",
                "Revocations held in this node's revocation view",
            )?,
            feed_reconnects: counter(
                "samlgate_revocation_feed_reconnects_total",
                "Reconnections of the revocation feed",
            )?,
            resyncs: counter(
                "samlgate_revocation_resyncs_total",
                "Full resyncs of the revocation view",
            )?,
            feed_age_seconds,
            revocations: counter_vec(
                r,
                "samlgate_revocations_total",
                "Sessions revoked, by source (sp_logout, idp_logout, admin)",
                &["source"],
            )?,
            queued: gauge(
                "samlgate_store_queued",
                "Revocations and replay records waiting for the store to come back",
            )?,
            slo: counter_vec(
                r,
                "samlgate_slo_total",
                "Single Logout messages by direction (sp, idp), binding, outcome and reason",
                &["direction", "binding", "outcome", "reason"],
            )?,
            memory_entries: gauge(
                "samlgate_replay_store_entries",
                "Entries in the node-local memory replay store",
            )?,
            memory_evictions: counter(
                "samlgate_replay_store_full_total",
                "Logins refused because the memory replay store was full of live entries",
            )?,
            call_seconds,
        };
        for op in OPS {
            m.call_seconds.with_label_values(&[op.as_str()]);
            for kind in KINDS {
                m.errors.with_label_values(&[op.as_str(), kind.as_str()]);
            }
        }
        for source in ["sp_logout", "idp_logout", "admin"] {
            m.revocations.with_label_values(&[source]);
        }
        for direction in ["sp", "idp"] {
            for binding in ["redirect", "post"] {
                m.slo
                    .with_label_values(&[direction, binding, "accepted", "none"]);
            }
        }
        Ok(m)
    }

    /// Counts one Single Logout message.
    pub fn count_slo(&self, direction: &str, binding: &str, outcome: &str, reason: &str) {
        self.slo
            .with_label_values(&[direction, binding, outcome, reason])
            .inc();
    }
}

impl StoreObserver for ClusterMetrics {
    fn call(&self, op: Op, elapsed: Duration, result: Result<(), ErrorKind>) {
        self.call_seconds
            .with_label_values(&[op.as_str()])
            .observe(elapsed.as_secs_f64());
        if let Err(kind) = result {
            self.errors
                .with_label_values(&[op.as_str(), kind.as_str()])
                .inc();
        }
    }

    fn recovered(&self, op: Op, kind: ErrorKind) {
        self.errors
            .with_label_values(&[op.as_str(), kind.as_str()])
            .inc();
    }

    fn degraded(&self, degraded: bool) {
        self.degraded.set(i64::from(degraded));
    }

    fn feed_reconnect(&self) {
        self.feed_reconnects.inc();
    }

    fn resync(&self) {
        self.resyncs.inc();
    }

    fn memory_eviction(&self) {
        self.memory_evictions.inc();
    }

    fn memory_entries(&self, entries: usize) {
        self.memory_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    fn view_entries(&self, entries: usize) {
        self.view_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    fn queued(&self, waiting: usize) {
        self.queued.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }
}
