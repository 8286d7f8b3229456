//! The one-node store: a bounded replay table that always admits a new
//! entry, plus the node's revocation view as the truth.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;

use crate::keys::{digest, replay_digest, session_index_digest, RequestToken};
use crate::observer::{Clock, Op, StoreObserver};
use crate::view::RevocationView;
use crate::{Admission, AssertionAdmission, Revocation, RevokeOutcome, Store, StoreError};
use crate::{StoreInfo, MIN_TTL_MS};

type ReplayKey = [u8; 32];

#[derive(Default)]
struct Table {
    entries: HashMap<ReplayKey, (RequestToken, i64)>,
    /// (expiry, key) of every entry: expired and nearest-expiry first.
    by_expiry: BTreeSet<(i64, ReplayKey)>,
}

impl Table {
    fn remove(&mut self, key: &ReplayKey) {
        if let Some((_, exp)) = self.entries.remove(key) {
            self.by_expiry.remove(&(exp, *key));
        }
    }

    /// Drops entries expired at `now`; returns how many.
    fn purge(&mut self, now: i64) -> usize {
        let mut n = 0;
        while let Some(&(exp, key)) = self.by_expiry.first() {
            if exp > now {
                break;
            }
            self.by_expiry.pop_first();
            self.entries.remove(&key);
            n += 1;
        }
        n
    }

    /// Makes room for one entry under `max` by dropping expired entries.
    /// False when every entry is still live: no unexpired entry is ever
    /// dropped (its assertion could then be replayed), so the caller
    /// refuses the new one instead.
    fn make_room(&mut self, max: usize, now: i64) -> bool {
        if self.entries.len() < max {
            return true;
        }
        self.purge(now);
        self.entries.len() < max
    }
}

/// The memory store (`backend = "memory"`, one node; also the fallback of
/// the Redis store with `on_failure = "local"`).
///
/// It never forgets an entry before it expires (a TinyLFU cache may
/// refuse to keep a new entry after answering `Fresh`, and evicting a live
/// entry reopens its replay window): when full it drops expired entries,
/// and if every entry is still live it refuses the new assertion
/// ([`StoreError::Full`], the gateway's 503 `store_unavailable`), counting
/// each refusal through the observer. Only verified assertions reach the
/// store, so only genuine logins can fill it; size `max_entries` for the
/// logins of one acceptance window.
pub struct MemoryStore {
    table: Mutex<Table>,
    max_entries: usize,
    view: Arc<RevocationView>,
    observer: Arc<dyn StoreObserver>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MemoryStore({} entries, max {})",
            self.len(),
            self.max_entries
        )
    }
}

impl MemoryStore {
    /// A store of at most `max_entries` (at least 1) replay entries that
    /// enforces and records revocations in `view`.
    pub fn new(
        max_entries: usize,
        view: Arc<RevocationView>,
        observer: Arc<dyn StoreObserver>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        MemoryStore {
            table: Mutex::new(Table::default()),
            max_entries: max_entries.max(1),
            view,
            observer,
            clock,
        }
    }

    /// Replay entries held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no replay entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops expired replay entries and revocations (the maintenance task
    /// calls this periodically, so memory follows the live set).
    pub fn purge_expired(&self) {
        let now = self.clock.now_ms();
        let left = {
            let mut t = self.lock();
            t.purge(now);
            t.entries.len()
        };
        self.observer.memory_entries(left);
        let views = self.view.purge_expired(now);
        self.observer.view_entries(views);
    }

    /// The admission decision, without call metrics (the Redis store's
    /// fallback reports its own).
    pub(crate) fn admit_local(&self, a: &AssertionAdmission<'_>) -> Result<Admission, StoreError> {
        let si = a.session_index.map(session_index_digest);
        if self
            .view
            .blocks_assertion(&a.subject, si.as_ref(), a.issue_instant_ms)
        {
            return Ok(Admission::LoggedOut);
        }
        let now = self.clock.now_ms();
        let key = digest(&[
            a.subject.as_bytes(),
            &replay_digest(a.issuer, a.assertion_id),
        ]);
        let expires = a.expires_ms.max(now.saturating_add(MIN_TTL_MS));
        let (room, len) = {
            let mut t = self.lock();
            if let Some(&(token, exp)) = t.entries.get(&key) {
                if exp > now {
                    return Ok(if token == a.token {
                        Admission::Fresh
                    } else {
                        Admission::Replayed
                    });
                }
                t.remove(&key);
            }
            let room = t.make_room(self.max_entries, now);
            if room {
                t.entries.insert(key, (a.token, expires));
                t.by_expiry.insert((expires, key));
            }
            (room, t.entries.len())
        };
        self.observer.memory_entries(len);
        if !room {
            self.observer.memory_eviction();
            return Err(StoreError::Full(self.max_entries));
        }
        Ok(Admission::Fresh)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn admit(&self, a: &AssertionAdmission<'_>) -> Result<Admission, StoreError> {
        let start = Instant::now();
        let r = self.admit_local(a);
        self.observer.call(
            Op::Admit,
            start.elapsed(),
            r.as_ref().map(|_| ()).map_err(StoreError::kind),
        );
        r
    }

    async fn revoke(&self, r: &Revocation) -> Result<RevokeOutcome, StoreError> {
        let start = Instant::now();
        self.view.apply(&r.record());
        self.observer.view_entries(self.view.len());
        self.observer.call(Op::Revoke, start.elapsed(), Ok(()));
        Ok(RevokeOutcome::Stored)
    }

    async fn ping(&self) -> Result<StoreInfo, StoreError> {
        Ok(StoreInfo {
            backend: "memory",
            server_version: None,
            maxmemory_policy: None,
            nodes: 0,
            warnings: Vec::new(),
        })
    }

    fn view(&self) -> &Arc<RevocationView> {
        &self.view
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
