#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod config;
mod error;
mod keys;
mod memory;
mod observer;
mod redis_store;
mod revocation;
mod view;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::config::{Backend, ConfigProblem, OnFailure, StoreConfig, MAX_PREFIX_LEN};
pub use crate::error::{ErrorKind, StoreError};
pub use crate::keys::{
    parse_session_handle, session_handle, RequestToken, SessionId, SessionIndexDigest, SubjectKey,
};
pub use crate::memory::MemoryStore;
pub use crate::observer::{Clock, NoopObserver, Op, StoreObserver, SystemClock};
pub use crate::redis_store::RedisStore;
pub use crate::revocation::Revocation;
pub use crate::view::RevocationView;

/// The shortest time a replay record is kept (ms), whatever the assertion
/// says: an assertion already past its window still cannot be replayed in
/// the next second while the gateway's own checks catch up.
pub const MIN_TTL_MS: i64 = 1000;

/// The longest TTL written to Redis (ms, 400 days): far beyond any sane
/// acceptance window or session, and a bound that keeps an absurd expiry
/// from making Redis refuse the write. The gateway refuses long windows
/// before calling, so this never shortens a real one.
pub const MAX_TTL_MS: i64 = 400 * 86_400_000;

/// The Redis ACL command rules samlgate needs, for an ACL user limited to
/// `~<key_prefix>*` (add `+config|get` to let `ping` read
/// `maxmemory-policy`). Scripts run their commands under the caller's ACL,
/// so the commands the scripts call are listed too.
pub const REDIS_ACL_COMMANDS: &str = "-@all +evalsha +eval +get +set +pttl +zadd +zremrangebyscore +xadd +xtrim +xread +xinfo|stream +zscan +info +ping +client|setname";

/// One verified assertion to admit at the ACS. Built by the gateway from
/// the verified assertion only (never from unverified input).
#[derive(Clone, Debug)]
pub struct AssertionAdmission<'a> {
    /// Who the assertion is about.
    pub subject: SubjectKey,
    /// The assertion's Issuer (hashed with the ID into the replay key).
    pub issuer: &'a str,
    /// The Assertion's ID (not the Response's: a re-wrapped assertion is
    /// the same assertion).
    pub assertion_id: &'a str,
    /// The AuthnStatement's SessionIndex, if any.
    pub session_index: Option<&'a str>,
    /// The assertion's IssueInstant (unix ms), compared with logouts.
    pub issue_instant_ms: i64,
    /// End of the assertion's acceptance window plus skew (unix ms): the
    /// replay record lives until then (at least [`MIN_TTL_MS`]). The
    /// gateway refuses windows longer than its configured maximum before
    /// calling; the store does not cap them.
    pub expires_ms: i64,
    /// This ACS request's token: the same token on a retry of the same
    /// request is `Fresh` again.
    pub token: RequestToken,
}

/// The ACS decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First use (or this request's own retry): mint the session.
    Fresh,
    /// Used before, on this or another node: refuse (`replayed`).
    Replayed,
    /// Issued before a logout that covers it (SAML core §3.7.3.1): refuse.
    LoggedOut,
}

/// What became of a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Written: every node enforces it (within the staleness bound).
    Stored,
    /// Redis could not take it: enforced on this node now, queued in memory
    /// and written when Redis answers again. An IdP LogoutRequest is then
    /// answered `PartialLogout`.
    Queued,
}

/// What `ping` found (`check-config --deep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreInfo {
    /// `memory`, `redis` or `redis-cluster`.
    pub backend: &'static str,
    /// The Redis version (`INFO server`).
    pub server_version: Option<String>,
    /// `maxmemory-policy` (`None`: CONFIG GET refused, e.g. by an ACL).
    pub maxmemory_policy: Option<String>,
    /// Servers asked (Cluster: every master).
    pub nodes: usize,
    /// Things an operator should fix: a policy that may evict keys with a
    /// TTL (anything but `noeviction`), or a policy that could not be read.
    pub warnings: Vec<String>,
}

/// Replay and revocation state, one node or shared.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Admits a verified assertion: `Fresh` once, `Replayed` afterwards on
    /// every node, `LoggedOut` after a covering logout. Redis: exactly one
    /// round trip (one EVALSHA). An error means "could not decide": the
    /// gateway refuses the login (`store_unavailable`, 503).
    async fn admit(&self, admission: &AssertionAdmission<'_>) -> Result<Admission, StoreError>;

    /// Records a revocation: applied to this node's view at once, then
    /// written to the store and the feed. `Queued` when Redis could not
    /// take it; an error only when the queue is full.
    async fn revoke(&self, revocation: &Revocation) -> Result<RevokeOutcome, StoreError>;

    /// Asks the store whether it answers, with what it found.
    async fn ping(&self) -> Result<StoreInfo, StoreError>;

    /// This node's revocation view (the request path's only question).
    fn view(&self) -> &Arc<RevocationView>;

    /// True while the last store call failed or the revocation view is
    /// stale (the gateway's degraded gauge).
    fn degraded(&self) -> bool {
        false
    }
}

/// A connected store: the store, its view, and the background work to run.
pub struct StoreHandle {
    /// The store (shared by every request).
    pub store: Arc<dyn Store>,
    /// The same as `store.view()`, for the request path.
    pub view: Arc<RevocationView>,
    /// Run this once, for the life of the process (`tokio::spawn`).
    pub maintenance: Maintenance,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

enum Background {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

/// The store's background work: the revocation feed (Redis), writing back
/// what was queued during an outage, expiring old entries.
pub struct Maintenance(Background);

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Maintenance")
    }
}

/// How often expired replay entries and revocations are dropped.
const PURGE_EVERY: Duration = Duration::from_secs(5);
/// How often queued writes are retried while Redis is away.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

impl Maintenance {
    /// Runs until dropped (it never returns on its own).
    pub async fn run(self) {
        match self.0 {
            Background::Memory(m) => loop {
                tokio::time::sleep(PURGE_EVERY).await;
                m.purge_expired();
            },
            Background::Redis(r) => {
                let housekeeping = async {
                    let mut since_purge = Duration::ZERO;
                    loop {
                        tokio::time::sleep(FLUSH_EVERY).await;
                        if r.queued() > 0 {
                            r.flush().await;
                        } else {
                            r.probe().await;
                        }
                        since_purge += FLUSH_EVERY;
                        if since_purge >= PURGE_EVERY {
                            since_purge = Duration::ZERO;
                            r.purge_expired();
                        }
                    }
                };
                tokio::join!(r.clone().run_feed(), housekeeping);
            }
        }
    }
}

/// Builds the store `config` describes. Does not wait for Redis (a node
/// starts while Redis is down; its view is `synced()` after the feed's
/// first resync). Must be called inside a tokio runtime; spawn
/// `maintenance.run()` there.
pub async fn connect(
    config: &StoreConfig,
    observer: Arc<dyn StoreObserver>,
    clock: Arc<dyn Clock>,
) -> Result<StoreHandle, StoreError> {
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(StoreError::Config(
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    match config.backend {
        Backend::Memory => {
            let view = Arc::new(RevocationView::local());
            let m = Arc::new(MemoryStore::new(
                usize::try_from(config.max_entries).unwrap_or(usize::MAX),
                view.clone(),
                observer,
                clock,
            ));
            Ok(StoreHandle {
                store: m.clone(),
                view,
                maintenance: Maintenance(Background::Memory(m)),
            })
        }
        Backend::Redis => {
            let r = Arc::new(RedisStore::new(config, observer, clock)?);
            Ok(StoreHandle {
                store: r.clone(),
                view: r.view().clone(),
                maintenance: Maintenance(Background::Redis(r)),
            })
        }
    }
}
