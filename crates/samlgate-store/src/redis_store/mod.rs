//! The Redis store and its failure policy: admissions refused (`reject`) or
//! decided by a node-local memory store (`local`) while Redis cannot answer;
//! revocations enforced on this node at once and queued until Redis takes
//! them.

mod conn;
mod feed;
mod ops;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::{OnFailure, StoreConfig};
use crate::keys::{KeySpace, RequestToken, SubjectKey};
use crate::memory::MemoryStore;
use crate::observer::{Clock, Op, StoreObserver};
use crate::revocation::Record;
use crate::view::RevocationView;
use crate::StoreInfo;
use crate::{
    Admission, AssertionAdmission, ErrorKind, Revocation, RevokeOutcome, Store, StoreError,
};
use ops::Remote;

/// A replay record admitted locally while Redis was unreachable, written
/// back when it returns so that other nodes refuse the assertion from then
/// on. Text fields are kept as received: the same digests are recomputed.
struct LocalAdmission {
    subject: SubjectKey,
    issuer: String,
    assertion_id: String,
    session_index: Option<String>,
    issue_instant_ms: i64,
    expires_ms: i64,
    token: RequestToken,
}

#[derive(Default)]
struct Pending {
    revocations: VecDeque<Record>,
    admissions: VecDeque<LocalAdmission>,
}

/// True for the failures that mean "Redis is not there" (as opposed to
/// Redis answering with a refusal).
fn unreachable(e: &StoreError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Timeout | ErrorKind::Io | ErrorKind::Moved
    )
}

/// Replay records waiting for Redis beyond this are dropped (oldest first):
/// unlike revocations they only narrow a window that `local` accepted.
const MAX_PENDING_ADMISSIONS: usize = 100_000;

/// The store for `backend = "redis"`.
pub struct RedisStore {
    remote: Remote,
    view: Arc<RevocationView>,
    /// The `local` fallback (absent with `reject`).
    local: Option<MemoryStore>,
    pending: Mutex<Pending>,
    max_queued: usize,
    degraded: AtomicBool,
    feed_block: Duration,
    observer: Arc<dyn StoreObserver>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.remote.redis.cluster)
            .field("local_fallback", &self.local.is_some())
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .finish()
    }
}

impl RedisStore {
    /// Builds the clients (no connection is made until first use: a node
    /// starts while Redis is down). Must run inside a tokio runtime.
    pub(crate) fn new(
        cfg: &StoreConfig,
        observer: Arc<dyn StoreObserver>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let redis = conn::Redis::new(cfg, observer.clone())?;
        let view = Arc::new(RevocationView::new(cfg.max_staleness()));
        let local = (cfg.on_failure == OnFailure::Local).then(|| {
            MemoryStore::new(
                usize::try_from(cfg.max_entries).unwrap_or(usize::MAX),
                view.clone(),
                observer.clone(),
                clock.clone(),
            )
        });
        Ok(RedisStore {
            remote: Remote::new(redis, KeySpace::new(&cfg.key_prefix), clock),
            view,
            local,
            pending: Mutex::new(Pending::default()),
            max_queued: cfg.max_queued,
            degraded: AtomicBool::new(false),
            feed_block: cfg.feed_block(),
            observer,
        })
    }

    fn set_degraded(&self, now: bool) {
        if self.degraded.swap(now, Ordering::Relaxed) != now {
            if now {
                tracing::warn!("store degraded: redis unreachable");
            } else {
                tracing::info!("store recovered: redis answers again");
            }
            self.observer.degraded(now);
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report_queue(&self) {
        let p = self.pending();
        let n = p.revocations.len() + p.admissions.len();
        drop(p);
        self.observer.queued(n);
    }

    /// Revocations and replay records still waiting for Redis.
    pub fn queued(&self) -> usize {
        let p = self.pending();
        p.revocations.len() + p.admissions.len()
    }

    /// Writes back what was queued during an outage. Stops at the first
    /// connection failure (Redis is still away) and keeps the rest for next
    /// time; an entry Redis refuses for another reason (OOM, an ACL) goes to
    /// the back of the queue, so it cannot block the others. Nothing is
    /// dropped before it expires.
    pub(crate) async fn flush(&self) {
        let rounds = self.pending().revocations.len();
        for _ in 0..rounds {
            let next = self.pending().revocations.pop_front();
            let Some(r) = next else { break };
            if r.expires_ms <= self.remote.clock.now_ms() {
                continue;
            }
            let start = Instant::now();
            let res = self.remote.revoke(Op::Flush, &r).await;
            self.observer.call(
                Op::Flush,
                start.elapsed(),
                res.as_ref().map(|_| ()).map_err(StoreError::kind),
            );
            match res {
                Ok(()) => self.set_degraded(false),
                Err(e) if unreachable(&e) => {
                    self.pending().revocations.push_front(r);
                    self.report_queue();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "queued revocation refused by redis; kept for a later try");
                    self.pending().revocations.push_back(r);
                }
            }
        }
        let rounds = self.pending().admissions.len();
        for _ in 0..rounds {
            let next = self.pending().admissions.pop_front();
            let Some(a) = next else { break };
            if a.expires_ms <= self.remote.clock.now_ms() {
                continue;
            }
            let adm = AssertionAdmission {
                subject: a.subject,
                issuer: &a.issuer,
                assertion_id: &a.assertion_id,
                session_index: a.session_index.as_deref(),
                issue_instant_ms: a.issue_instant_ms,
                expires_ms: a.expires_ms,
                token: a.token,
            };
            let start = Instant::now();
            let res = self.remote.admit(&adm).await;
            self.observer.call(
                Op::Flush,
                start.elapsed(),
                res.as_ref().map(|_| ()).map_err(StoreError::kind),
            );
            match res {
                Ok(Admission::Replayed) => tracing::warn!(
                    subject = %a.subject,
                    "an assertion admitted locally during a redis outage was also admitted elsewhere"
                ),
                Ok(_) => self.set_degraded(false),
                Err(e) if unreachable(&e) => {
                    self.pending().admissions.push_front(a);
                    self.report_queue();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "queued replay record refused by redis; kept for a later try");
                    self.pending().admissions.push_back(a);
                }
            }
        }
        self.report_queue();
    }

    /// While the last call failed (and nothing is queued, whose write-back
    /// would tell): one PING on the command connection, so that the
    /// degraded flag clears by itself once Redis answers again, on a node
    /// that gets no login or logout to prove it (otherwise the flag, the
    /// `degraded()` answer and the operator's gauge stayed set until the
    /// next such call), and a dead connection is replaced before a login
    /// needs it.
    pub(crate) async fn probe(&self) {
        if !self.degraded.load(Ordering::Relaxed) {
            return;
        }
        let start = Instant::now();
        let res = self.remote.redis.ping_command().await;
        self.observer.call(
            Op::Ping,
            start.elapsed(),
            res.as_ref().map(|_| ()).map_err(StoreError::kind),
        );
        if res.is_ok() {
            self.set_degraded(false);
        }
    }

    fn queue_admission(&self, a: &AssertionAdmission<'_>) {
        let mut p = self.pending();
        if p.admissions.len() >= MAX_PENDING_ADMISSIONS {
            p.admissions.pop_front();
        }
        p.admissions.push_back(LocalAdmission {
            subject: a.subject,
            issuer: a.issuer.to_owned(),
            assertion_id: a.assertion_id.to_owned(),
            session_index: a.session_index.map(str::to_owned),
            issue_instant_ms: a.issue_instant_ms,
            expires_ms: a.expires_ms,
            token: a.token,
        });
        drop(p);
        self.report_queue();
    }

    /// The feed task: runs forever (see [`crate::Maintenance`]).
    pub(crate) async fn run_feed(self: Arc<Self>) {
        feed::run(self).await
    }

    /// Drops expired revocations (and local replay entries).
    pub(crate) fn purge_expired(&self) {
        match &self.local {
            Some(local) => local.purge_expired(),
            None => {
                let left = self.view.purge_expired(self.remote.clock.now_ms());
                self.observer.view_entries(left);
            }
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn admit(&self, a: &AssertionAdmission<'_>) -> Result<Admission, StoreError> {
        let start = Instant::now();
        let res = self.remote.admit(a).await;
        self.observer.call(
            Op::Admit,
            start.elapsed(),
            res.as_ref().map(|_| ()).map_err(StoreError::kind),
        );
        match res {
            Ok(r) => {
                self.set_degraded(false);
                Ok(r)
            }
            Err(e) => {
                self.set_degraded(true);
                let Some(local) = &self.local else {
                    return Err(e);
                };
                tracing::warn!(error = %e, "store degraded: admission decided on this node only");
                let r = local.admit_local(a)?;
                if r == Admission::Fresh {
                    self.queue_admission(a);
                }
                Ok(r)
            }
        }
    }

    async fn revoke(&self, r: &Revocation) -> Result<RevokeOutcome, StoreError> {
        let rec = r.record();
        // This node enforces it at once, whatever happens to the write.
        self.view.apply(&rec);
        if rec.expires_ms <= self.remote.clock.now_ms() {
            return Ok(RevokeOutcome::Stored);
        }
        let start = Instant::now();
        let res = self.remote.revoke(Op::Revoke, &rec).await;
        self.observer.call(
            Op::Revoke,
            start.elapsed(),
            res.as_ref().map(|_| ()).map_err(StoreError::kind),
        );
        match res {
            Ok(()) => {
                self.set_degraded(false);
                Ok(RevokeOutcome::Stored)
            }
            Err(e) => {
                self.set_degraded(true);
                let mut p = self.pending();
                if p.revocations.len() >= self.max_queued {
                    return Err(StoreError::QueueFull(p.revocations.len()));
                }
                p.revocations.push_back(rec);
                drop(p);
                self.report_queue();
                tracing::warn!(error = %e, "revocation queued until redis answers");
                Ok(RevokeOutcome::Queued)
            }
        }
    }

    async fn ping(&self) -> Result<StoreInfo, StoreError> {
        let start = Instant::now();
        let res = self.remote.ping().await;
        self.observer.call(
            Op::Ping,
            start.elapsed(),
            res.as_ref().map(|_| ()).map_err(StoreError::kind),
        );
        res
    }

    fn view(&self) -> &Arc<RevocationView> {
        &self.view
    }

    fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed) || !self.view.is_fresh()
    }
}
