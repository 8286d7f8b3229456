//! Each node's in-memory view of every unexpired revocation: the request
//! path asks it, never Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::keys::{SessionId, SessionIndexDigest, SubjectKey};
use crate::revocation::{Record, What};

#[derive(Default)]
struct Entries {
    /// Revoked session IDs (random, so unique without the subject).
    sessions: HashMap<SessionId, i64>,
    /// Subject → (not before, expiry): both kept at their maximum.
    not_before: HashMap<SubjectKey, (i64, i64)>,
    /// (subject, SessionIndex digest) → (logout time, expiry).
    session_index: HashMap<(SubjectKey, [u8; 32]), (i64, i64)>,
}

impl Entries {
    fn len(&self) -> usize {
        self.sessions.len() + self.not_before.len() + self.session_index.len()
    }
}

/// The set of revocations a node enforces, kept current by the feed task
/// (Redis backend) or written directly (memory backend, and this node's own
/// revocations at once).
///
/// Entries are only added or raised, never lowered, and leave only when
/// their `expires_ms` has passed ([`RevocationView::purge_expired`]): a
/// resync merges, so a revocation that Redis lost (a restart without
/// persistence) is still enforced by every node that had seen it.
pub struct RevocationView {
    entries: RwLock<Entries>,
    /// Entries held (kept equal to `entries.len()` under the write lock):
    /// the request path skips the lock while there are none.
    held: AtomicUsize,
    /// False until the first full sync (a node serves only after it).
    synced: AtomicBool,
    /// No feed to wait for (memory backend): always synced and fresh.
    local_only: bool,
    /// Milliseconds after `epoch` of the last successful feed read, plus 1
    /// (0 = never).
    feed_ok_at: AtomicU64,
    epoch: Instant,
    max_staleness: Duration,
}

impl std::fmt::Debug for RevocationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationView")
            .field("entries", &self.len())
            .field("synced", &self.synced())
            .field("feed_age", &self.feed_age())
            .finish()
    }
}

impl RevocationView {
    /// A view fed by Redis: not synced, not fresh until the feed task says
    /// so; stale when its feed has been silent for `max_staleness`.
    pub fn new(max_staleness: Duration) -> Self {
        RevocationView {
            entries: RwLock::new(Entries::default()),
            held: AtomicUsize::new(0),
            synced: AtomicBool::new(false),
            local_only: false,
            feed_ok_at: AtomicU64::new(0),
            epoch: Instant::now(),
            max_staleness,
        }
    }

    /// A one-node view (memory backend): it is the truth, always synced.
    pub fn local() -> Self {
        let mut v = Self::new(Duration::MAX);
        v.local_only = true;
        v.synced = AtomicBool::new(true);
        v
    }

    /// True when the session `session_id` of `subject` — created from an
    /// assertion issued at `issued_ms` carrying `session_index` — has been
    /// revoked: by its ID, by a subject-wide "not before" later than
    /// `issued_ms`, or by a logout of its SessionIndex later than
    /// `issued_ms`. A few hash lookups under a read lock; no I/O.
    pub fn is_revoked(
        &self,
        subject: &SubjectKey,
        session_id: &SessionId,
        session_index: Option<&str>,
        issued_ms: i64,
    ) -> bool {
        let si = session_index.map(SessionIndexDigest::new);
        self.is_revoked_digest(subject, session_id, si.as_ref(), issued_ms)
    }

    /// [`Self::is_revoked`] with the SessionIndex digest made beforehand
    /// (the request path: no hashing per request). With no revocation at
    /// all, no lock is taken.
    pub fn is_revoked_digest(
        &self,
        subject: &SubjectKey,
        session_id: &SessionId,
        session_index: Option<&SessionIndexDigest>,
        issued_ms: i64,
    ) -> bool {
        if self.held.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let e = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        e.sessions.contains_key(session_id)
            || blocks(&e, subject, session_index.map(|d| &d.0), issued_ms)
    }

    /// True when an assertion for `subject` with `session_index` (digest)
    /// issued at `issue_instant_ms` comes after a logout that covers it.
    pub(crate) fn blocks_assertion(
        &self,
        subject: &SubjectKey,
        session_index: Option<&[u8; 32]>,
        issue_instant_ms: i64,
    ) -> bool {
        let e = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        blocks(&e, subject, session_index, issue_instant_ms)
    }

    /// Records one revocation (idempotent; timestamps only grow).
    pub(crate) fn apply(&self, r: &Record) {
        let mut e = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        apply(&mut e, r);
        self.held.store(e.len(), Ordering::Relaxed);
    }

    /// Records several revocations under one lock.
    pub(crate) fn apply_all(&self, rs: &[Record]) {
        let mut e = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for r in rs {
            apply(&mut e, r);
        }
        self.held.store(e.len(), Ordering::Relaxed);
    }

    /// Drops every entry whose expiry is at or before `now_ms`; returns how
    /// many entries are left.
    pub fn purge_expired(&self, now_ms: i64) -> usize {
        let mut e = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        e.sessions.retain(|_, exp| *exp > now_ms);
        e.not_before.retain(|_, (_, exp)| *exp > now_ms);
        e.session_index.retain(|_, (_, exp)| *exp > now_ms);
        let left = e.len();
        self.held.store(left, Ordering::Relaxed);
        left
    }

    /// Entries held (sessions, subjects, SessionIndexes).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the view has been filled from the store at least once. A
    /// node should not serve sessions before: it would miss revocations.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub(crate) fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// The feed just answered: every revocation written before now is here.
    pub(crate) fn mark_feed_ok(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.feed_ok_at
            .store(ms.saturating_add(1), Ordering::Release);
    }

    /// Time since the feed last answered (`None`: never). The view holds
    /// every revocation written before that moment.
    pub fn feed_age(&self) -> Option<Duration> {
        if self.local_only {
            return Some(Duration::ZERO);
        }
        match self.feed_ok_at.load(Ordering::Acquire) {
            0 => None,
            at => {
                let at = Duration::from_millis(at - 1);
                Some(self.epoch.elapsed().saturating_sub(at))
            }
        }
    }

    /// The configured staleness bound.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
    }

    /// True when synced and the feed answered within `max_staleness`: the
    /// view misses no revocation older than that. A stale view is a
    /// degraded node (the gateway applies its failure policy).
    pub fn is_fresh(&self) -> bool {
        self.synced() && self.feed_age().is_some_and(|age| age <= self.max_staleness)
    }
}

fn blocks(e: &Entries, subject: &SubjectKey, si: Option<&[u8; 32]>, issued_ms: i64) -> bool {
    if let Some((nb, _)) = e.not_before.get(subject) {
        if issued_ms < *nb {
            return true;
        }
    }
    if let Some(si) = si {
        if let Some((at, _)) = e.session_index.get(&(*subject, *si)) {
            if issued_ms < *at {
                return true;
            }
        }
    }
    false
}

fn apply(e: &mut Entries, r: &Record) {
    let exp = r.expires_ms;
    match r.what {
        What::Session(sid) => {
            let cur = e.sessions.entry(sid).or_insert(exp);
            *cur = (*cur).max(exp);
        }
        What::NotBefore(nb) => {
            let cur = e.not_before.entry(r.subject).or_insert((nb, exp));
            *cur = (cur.0.max(nb), cur.1.max(exp));
        }
        What::SessionIndex(si, at) => {
            let cur = e.session_index.entry((r.subject, si)).or_insert((at, exp));
            *cur = (cur.0.max(at), cur.1.max(exp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Revocation;

    fn alice() -> SubjectKey {
        SubjectKey::new("idp", None, None, None, "alice")
    }

    #[test]
    fn each_kind_revokes_what_it_names_only() {
        let v = RevocationView::local();
        let (s1, s2) = (
            SessionId::from_bytes([1; 16]),
            SessionId::from_bytes([2; 16]),
        );
        let bob = SubjectKey::new("idp", None, None, None, "bob");
        assert!(!v.is_revoked(&alice(), &s1, Some("i1"), 100));

        v.apply(
            &Revocation::Session {
                subject: alice(),
                session_id: s1,
                expires_ms: 1000,
            }
            .record(),
        );
        assert!(v.is_revoked(&alice(), &s1, None, 100));
        assert!(!v.is_revoked(&alice(), &s2, None, 100));

        v.apply(
            &Revocation::SessionIndex {
                subject: alice(),
                session_index: "i1".into(),
                at_ms: 200,
                expires_ms: 1000,
            }
            .record(),
        );
        assert!(v.is_revoked(&alice(), &s2, Some("i1"), 199));
        assert!(!v.is_revoked(&alice(), &s2, Some("i1"), 200));
        assert!(!v.is_revoked(&alice(), &s2, Some("i2"), 100));
        assert!(!v.is_revoked(&bob, &s2, Some("i1"), 100));

        v.apply(
            &Revocation::Subject {
                subject: alice(),
                not_before_ms: 300,
                expires_ms: 2000,
            }
            .record(),
        );
        assert!(v.is_revoked(&alice(), &s2, None, 299));
        assert!(!v.is_revoked(&alice(), &s2, None, 300));
        assert!(!v.is_revoked(&bob, &s2, None, 299));
        // An older "not before" never lowers a newer one.
        v.apply(
            &Revocation::Subject {
                subject: alice(),
                not_before_ms: 10,
                expires_ms: 20,
            }
            .record(),
        );
        assert!(v.is_revoked(&alice(), &s2, None, 299));
        assert_eq!(v.len(), 3);
        assert_eq!(v.purge_expired(1000), 1);
        assert_eq!(v.purge_expired(2000), 0);
    }

    #[test]
    fn freshness_needs_sync_and_a_recent_feed() {
        let v = RevocationView::new(Duration::from_secs(5));
        assert!(!v.synced() && !v.is_fresh() && v.feed_age().is_none());
        v.mark_feed_ok();
        assert!(!v.is_fresh());
        v.mark_synced();
        assert!(v.is_fresh());
        let stale = RevocationView::new(Duration::ZERO);
        stale.mark_synced();
        stale.mark_feed_ok();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!stale.is_fresh());
        assert!(RevocationView::local().is_fresh());
    }
}
