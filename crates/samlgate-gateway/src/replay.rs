//! The in-memory replay store: bounded (moka), each entry kept until its
//! assertion's NotOnOrAfter plus the clock skew.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant as MonoInstant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;
use samlgate_saml::{Clock, Instant, ReplayCache};

/// One assertion's expiry, carried as the entry value so that moka's
/// per-entry expiry can read it.
#[derive(Clone, Copy)]
struct Entry {
    ttl: Duration,
}

struct PerEntryExpiry;

impl Expiry<String, Entry> for PerEntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Entry,
        _now: MonoInstant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A bounded in-memory replay cache.
#[derive(Clone)]
pub struct MemoryReplayStore {
    entries: Cache<String, Entry>,
    evictions: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MemoryReplayStore({} entries)",
            self.entries.entry_count()
        )
    }
}

/// The longest an entry is kept, whatever the assertion says: a bound on
/// memory held by one forged-but-signed long-lived assertion.
const MAX_TTL: Duration = Duration::from_secs(7 * 86_400);

impl MemoryReplayStore {
    /// A store of at most `capacity` entries.
    pub fn new(capacity: u64, clock: Arc<dyn Clock>) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let entries = Cache::builder()
            .max_capacity(capacity)
            .expire_after(PerEntryExpiry)
            .eviction_listener(move |_key, _value, cause| {
                // Size evictions drop entries that had not expired: each one
                // reopens a replay window, so they are counted.
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        MemoryReplayStore {
            entries,
            evictions,
            clock,
        }
    }

    /// Entries held now (approximate, as moka's count).
    pub fn len(&self) -> u64 {
        self.entries.entry_count()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unexpired entries evicted so far.
    pub fn evictions(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.evictions.load(Ordering::Relaxed)
    }
}

impl ReplayCache for MemoryReplayStore {
    fn check_and_insert(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires: Instant,
    ) -> Result<bool, String> {
        let now = self.clock.now().unix_millis();
        let ttl_ms = expires.unix_millis().saturating_sub(now).max(1000);
        let ttl = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(1000)).min(MAX_TTL);
        // The key joins issuer and ID with a byte neither can contain
        // unescaped in XML, so distinct pairs never collide.
        let key = format!("{issuer}\u{0}{assertion_id}");
        let entry = self.entries.entry(key).or_insert(Entry { ttl });
        Ok(entry.is_fresh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samlgate_saml::FixedClock;

    #[test]
    fn second_use_is_a_replay_and_issuers_are_separate() {
        let clock = Arc::new(FixedClock(Instant::from_unix_millis(1_000_000)));
        let store = MemoryReplayStore::new(1000, clock);
        let exp = Instant::from_unix_millis(1_300_000);
        assert!(store.check_and_insert("idp-a", "_1", exp).unwrap());
        assert!(!store.check_and_insert("idp-a", "_1", exp).unwrap());
        assert!(store.check_and_insert("idp-b", "_1", exp).unwrap());
        assert!(store.check_and_insert("idp-a\u{0}_", "1", exp).unwrap());
    }

    #[test]
    fn overflow_evictions_are_counted() {
        let clock = Arc::new(FixedClock(Instant::from_unix_millis(0)));
        let store = MemoryReplayStore::new(10, clock);
        let exp = Instant::from_unix_millis(600_000);
        for i in 0..200 {
            store
                .check_and_insert("idp", &format!("_{i}"), exp)
                .unwrap();
        }
        assert!(store.evictions() > 0);
    }
}
