//! The revocation feed between nodes: propagation, resume after a cut
//! connection, resync after a restart or a trimmed stream, staleness.

use std::sync::atomic::Ordering;

use samlgate_store::*;

use crate::support::*;

fn subject_revocation(name: &str) -> Revocation {
    Revocation::Subject {
        subject: subject(name),
        not_before_ms: now_ms(),
        expires_ms: now_ms() + 600_000,
    }
}

fn revoked(n: &Node, name: &str) -> bool {
    n.store.view().is_revoked(
        &subject(name),
        &SessionId::from_bytes([0; 16]),
        None,
        now_ms() - 1000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_node_reaches_the_other() {
    let redis = RedisServer::start();
    let a = node(&config(&redis.url())).await;
    let b = node(&config(&redis.url())).await;
    assert!(a.store.view().is_fresh() && !a.store.degraded());

    assert_eq!(
        b.store.revoke(&subject_revocation("alice")).await.unwrap(),
        RevokeOutcome::Stored
    );
    // The writer enforces it at once; the other node through the feed.
    assert!(revoked(&b, "alice"));
    let took = wait_for("alice revoked on A", || revoked(&a, "alice")).await;
    eprintln!("subject revocation reached the other node after {took:?}");
    assert!(!revoked(&a, "bob"));

    let sid = SessionId::random().unwrap();
    let bob = subject("bob");
    b.store
        .revoke(&Revocation::Session {
            subject: bob,
            session_id: sid,
            expires_ms: now_ms() + 60_000,
        })
        .await
        .unwrap();
    b.store
        .revoke(&Revocation::SessionIndex {
            subject: bob,
            session_index: "idx-9".into(),
            at_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        })
        .await
        .unwrap();
    let view = a.store.view().clone();
    let other = SessionId::random().unwrap();
    wait_for("session revoked on A", || {
        view.is_revoked(&bob, &sid, None, now_ms())
    })
    .await;
    wait_for("SessionIndex revoked on A", || {
        view.is_revoked(&bob, &other, Some("idx-9"), now_ms() - 1000)
    })
    .await;
    assert!(!view.is_revoked(&bob, &other, Some("idx-8"), now_ms() - 1000));
    // A new node syncs everything at start (from the revocation set).
    let c = node(&config(&redis.url())).await;
    assert!(revoked(&c, "alice"));
    assert!(c.store.view().is_revoked(&bob, &sid, None, now_ms()));
    assert_eq!(c.counts.resyncs.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_feed_connection_resumes_from_its_last_id() {
    let redis = RedisServer::start();
    let a = node(&config(&redis.url())).await;
    let b = node(&config(&redis.url())).await;
    b.store.revoke(&subject_revocation("before")).await.unwrap();
    wait_for("first revocation on A", || revoked(&a, "before")).await;

    // Cut every client connection, then revoke while A reconnects.
    let killed: i64 = redis.cmd(&["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed >= 2);
    b.store.revoke(&subject_revocation("during")).await.unwrap();
    wait_for("revocation made during the cut on A", || {
        revoked(&a, "during")
    })
    .await;
    assert!(a.counts.reconnects.load(Ordering::Relaxed) >= 1);
    // Resumed from the last ID: no second full resync.
    assert_eq!(a.counts.resyncs.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimmed_entries_force_a_resync() {
    let redis = RedisServer::start();
    let _: () = redis.cmd(&["ACL", "SETUSER", "nodea", "on", ">pw", "~*", "+@all"]);
    let url_a = format!("redis://nodea:pw@127.0.0.1:{}/", redis.port);
    let a = node(&config(&url_a)).await;
    let b = node(&config(&redis.url())).await;
    b.store.revoke(&subject_revocation("seen")).await.unwrap();
    wait_for("first revocation on A", || revoked(&a, "seen")).await;

    // A is cut off and cannot come back (its user is disabled) while a
    // revocation is published and the stream trimmed past it.
    let _: () = redis.cmd(&["ACL", "SETUSER", "nodea", "off"]);
    let _: i64 = redis.cmd(&["CLIENT", "KILL", "USER", "nodea"]);
    b.store.revoke(&subject_revocation("missed")).await.unwrap();
    let _: i64 = redis.cmd(&["XTRIM", "samlgate:{rv}:log", "MAXLEN", "0"]);
    assert!(!revoked(&a, "missed"));
    let _: () = redis.cmd(&["ACL", "SETUSER", "nodea", "on"]);
    wait_for("trimmed revocation on A", || revoked(&a, "missed")).await;
    assert_eq!(a.counts.resyncs.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_is_followed_and_staleness_is_reported() {
    let mut redis = RedisServer::start();
    let mut cfg = config(&redis.url());
    cfg.max_staleness_ms = 600;
    let a = node(&cfg).await;
    let b = node(&cfg).await;
    b.store.revoke(&subject_revocation("old")).await.unwrap();
    wait_for("first revocation on A", || revoked(&a, "old")).await;

    redis.stop();
    let view = a.store.view().clone();
    wait_for("A's view to go stale", || !view.is_fresh()).await;
    assert!(a.store.degraded());
    // What the node had seen is still enforced.
    assert!(revoked(&a, "old"));

    redis.start_again();
    wait_for("A's view to be fresh again", || view.is_fresh()).await;
    b.store.revoke(&subject_revocation("new")).await.unwrap();
    wait_for("revocation after the restart on A", || revoked(&a, "new")).await;
    assert!(revoked(&a, "old"), "a resync merges, never forgets");
    assert!(a.counts.reconnects.load(Ordering::Relaxed) >= 1);
}
