use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use super::*;
use crate::keys::{SessionId, SubjectKey};

struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Counts {
    evictions: AtomicUsize,
    entries: AtomicUsize,
}

impl StoreObserver for Counts {
    fn memory_eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }
    fn memory_entries(&self, n: usize) {
        self.entries.store(n, Ordering::Relaxed);
    }
}

const NOW: i64 = 1_700_000_000_000;

fn store(max: usize) -> (MemoryStore, Arc<FakeClock>, Arc<Counts>) {
    let clock = Arc::new(FakeClock(AtomicI64::new(NOW)));
    let counts = Arc::new(Counts::default());
    let s = MemoryStore::new(
        max,
        Arc::new(RevocationView::local()),
        counts.clone(),
        clock.clone(),
    );
    (s, clock, counts)
}

fn alice() -> SubjectKey {
    SubjectKey::new("https://idp", None, None, None, "alice")
}

fn adm<'a>(id: &'a str, token: RequestToken, expires_ms: i64) -> AssertionAdmission<'a> {
    AssertionAdmission {
        subject: alice(),
        issuer: "https://idp",
        assertion_id: id,
        session_index: Some("idx-1"),
        issue_instant_ms: NOW - 1000,
        expires_ms,
        token,
    }
}

fn tok() -> RequestToken {
    RequestToken::random().unwrap()
}

#[tokio::test]
async fn second_use_replayed_retry_fresh_issuers_apart() {
    let (s, _, _) = store(1000);
    let t = tok();
    let a = adm("_a1", t, NOW + 60_000);
    assert_eq!(s.admit(&a).await.unwrap(), Admission::Fresh);
    // The same request retried after a lost reply: same token.
    assert_eq!(s.admit(&a).await.unwrap(), Admission::Fresh);
    assert_eq!(
        s.admit(&adm("_a1", tok(), NOW + 60_000)).await.unwrap(),
        Admission::Replayed
    );
    let other_issuer = AssertionAdmission {
        issuer: "https://other",
        ..adm("_a1", tok(), NOW + 60_000)
    };
    assert_eq!(s.admit(&other_issuer).await.unwrap(), Admission::Fresh);
}

#[tokio::test]
async fn an_expired_entry_is_not_a_replay_and_ttl_has_a_floor() {
    let (s, clock, _) = store(1000);
    // Already expired: kept for the floor (1 s) anyway.
    assert_eq!(
        s.admit(&adm("_x", tok(), NOW - 5)).await.unwrap(),
        Admission::Fresh
    );
    assert_eq!(
        s.admit(&adm("_x", tok(), NOW - 5)).await.unwrap(),
        Admission::Replayed
    );
    clock.0.store(NOW + MIN_TTL_MS, Ordering::Relaxed);
    assert_eq!(
        s.admit(&adm("_x", tok(), NOW - 5)).await.unwrap(),
        Admission::Fresh
    );
}

#[tokio::test]
async fn a_full_store_forgets_nothing_live_and_refuses_new_assertions() {
    let (s, clock, counts) = store(1000);
    for i in 0..1000 {
        let id = format!("_fill{i}");
        let a = adm(&id, tok(), NOW + 3_600_000 + i);
        assert_eq!(s.admit(&a).await.unwrap(), Admission::Fresh);
    }
    assert_eq!(s.len(), 1000);
    // Full of live entries: a new assertion is refused, not admitted at
    // the price of forgetting another one.
    for i in 0..100 {
        let id = format!("_new{i}");
        let err = s.admit(&adm(&id, tok(), NOW + 60_000)).await.unwrap_err();
        assert!(matches!(err, StoreError::Full(1000)), "{err}");
    }
    assert_eq!(counts.evictions.load(Ordering::Relaxed), 100);
    // Every accepted assertion is still refused on its second use.
    for i in 0..1000 {
        let id = format!("_fill{i}");
        assert_eq!(
            s.admit(&adm(&id, tok(), NOW + 3_600_000)).await.unwrap(),
            Admission::Replayed,
            "{id}"
        );
    }
    // Once entries expire there is room again.
    clock.0.store(NOW + 3_600_000 + 500, Ordering::Relaxed);
    assert_eq!(
        s.admit(&adm("_later", tok(), NOW + 3_700_000))
            .await
            .unwrap(),
        Admission::Fresh
    );
}

#[tokio::test]
async fn expired_entries_go_first_and_are_not_counted() {
    let (s, clock, counts) = store(1000);
    for i in 0..1000 {
        let id = format!("_old{i}");
        s.admit(&adm(&id, tok(), NOW + 2000)).await.unwrap();
    }
    clock.0.store(NOW + 10_000, Ordering::Relaxed);
    for i in 0..100 {
        let id = format!("_n{i}");
        s.admit(&adm(&id, tok(), NOW + 60_000)).await.unwrap();
    }
    assert_eq!(counts.evictions.load(Ordering::Relaxed), 0);
    assert_eq!(s.len(), 100);
}

#[tokio::test]
async fn logout_tombstones_refuse_earlier_assertions() {
    let (s, _, _) = store(1000);
    let bob = SubjectKey::new("https://idp", None, None, None, "bob");
    s.revoke(&Revocation::SessionIndex {
        subject: alice(),
        session_index: "idx-1".into(),
        at_ms: NOW,
        expires_ms: NOW + 60_000,
    })
    .await
    .unwrap();
    // Issued before the logout, same SessionIndex: refused.
    assert_eq!(
        s.admit(&adm("_t1", tok(), NOW + 60_000)).await.unwrap(),
        Admission::LoggedOut
    );
    // Another SessionIndex, or another subject: not affected.
    let other_si = AssertionAdmission {
        session_index: Some("idx-2"),
        ..adm("_t2", tok(), NOW + 60_000)
    };
    assert_eq!(s.admit(&other_si).await.unwrap(), Admission::Fresh);
    let other_subject = AssertionAdmission {
        subject: bob,
        ..adm("_t3", tok(), NOW + 60_000)
    };
    assert_eq!(s.admit(&other_subject).await.unwrap(), Admission::Fresh);

    s.revoke(&Revocation::Subject {
        subject: alice(),
        not_before_ms: NOW,
        expires_ms: NOW + 60_000,
    })
    .await
    .unwrap();
    let before = AssertionAdmission {
        session_index: None,
        ..adm("_t4", tok(), NOW + 60_000)
    };
    assert_eq!(s.admit(&before).await.unwrap(), Admission::LoggedOut);
    let after = AssertionAdmission {
        issue_instant_ms: NOW + 1,
        session_index: None,
        ..adm("_t5", tok(), NOW + 60_000)
    };
    assert_eq!(s.admit(&after).await.unwrap(), Admission::Fresh);
    let sid = SessionId::random().unwrap();
    assert!(s.view().is_revoked(&alice(), &sid, None, NOW - 1));
    assert!(!s.view().is_revoked(&alice(), &sid, None, NOW + 1));
}
