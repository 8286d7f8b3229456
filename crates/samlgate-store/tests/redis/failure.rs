//! The failure policy against a Redis that is stopped or hangs.

use std::sync::atomic::Ordering;
use std::time::Instant;

use samlgate_store::*;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_refuses_while_redis_is_down_and_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let n = node(&config(&redis.url())).await;
    let a = admission(subject("alice"), "_r1", now_ms());
    assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);

    redis.stop();
    let b = admission(subject("alice"), "_r2", now_ms());
    let e = n.store.admit(&b).await.unwrap_err();
    assert_eq!(e.reason(), "store_unavailable");
    assert!(n.store.degraded());

    redis.start_again();
    // The same store object, no restart: admissions go through again.
    let store = n.store.clone();
    let mut ok = false;
    for _ in 0..100 {
        if store.admit(&b).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ok, "no recovery after redis came back");
    assert_eq!(*n.counts.degraded.lock().unwrap(), [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_degraded_flag_clears_by_itself_when_redis_is_back() {
    // A node whose only failed call was one login, and that gets no other
    // login or logout afterwards (it serves sessions only): once Redis is
    // back it is no longer degraded, without a call of its own.
    let mut redis = RedisServer::start();
    let n = node(&config(&redis.url())).await;
    redis.stop();
    let a = admission(subject("alice"), "_d1", now_ms());
    assert!(n.store.admit(&a).await.is_err());
    assert!(n.store.degraded());
    redis.start_again();
    let store = n.store.clone();
    let took = wait_for("the degraded flag to clear", || !store.degraded()).await;
    eprintln!("degraded cleared {took:?} after redis came back, with no call");
    assert_eq!(*n.counts.degraded.lock().unwrap(), [true, false]);
    // And the command connection works for the next login at once.
    let b = admission(subject("alice"), "_d2", now_ms());
    assert_eq!(n.store.admit(&b).await.unwrap(), Admission::Fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_falls_back_to_memory_and_writes_back_after_the_outage() {
    let mut redis = RedisServer::start();
    let mut cfg = config(&redis.url());
    cfg.on_failure = OnFailure::Local;
    let n = node(&cfg).await;

    redis.stop();
    let a = admission(subject("alice"), "_l1", now_ms());
    assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);
    // This node still refuses the replay on its own.
    let again = admission(subject("alice"), "_l1", now_ms());
    assert_eq!(n.store.admit(&again).await.unwrap(), Admission::Replayed);
    assert_eq!(n.counts.degraded.lock().unwrap().first(), Some(&true));

    redis.start_again();
    let counts = n.counts.clone();
    wait_for("queued replay record written back", || {
        counts.degraded.lock().unwrap().last() == Some(&false)
            && counts.queued.load(Ordering::Relaxed) == 0
    })
    .await;
    // Another node, which never saw the local admission, now refuses it.
    let other = bare_node(&config(&redis.url())).await;
    let replay = admission(subject("alice"), "_l1", now_ms());
    assert_eq!(
        other.store.admit(&replay).await.unwrap(),
        Admission::Replayed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_redis_fails_the_call_at_its_deadline_and_a_retry_is_fresh() {
    let redis = RedisServer::start();
    let mut cfg = config(&redis.url());
    cfg.timeout_ms = 200;
    let n = bare_node(&cfg).await;
    n.store
        .admit(&admission(subject("warm"), "_w", now_ms()))
        .await
        .unwrap();
    // The server accepts the connection but answers nobody for 2 s (an
    // UNPAUSE would itself wait: new connections are paused too).
    let _: () = redis.cmd(&["CLIENT", "PAUSE", "2000", "ALL"]);
    let start = Instant::now();
    let lost = admission(subject("alice"), "_h1", now_ms());
    let e = n.store.admit(&lost).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // It gave up at its deadline, not when Redis woke up.
    assert!(took < std::time::Duration::from_millis(1800), "{took:?}");
    eprintln!("paused redis: the call failed after {took:?} (timeout_ms = 200)");

    // The paused call did run once Redis woke up (a new connection's PING
    // waits for that): its reply was lost. The same request retried (same
    // token) is still fresh, anyone else is not.
    let _: String = redis.cmd(&["PING"]);
    assert_eq!(n.store.admit(&lost).await.unwrap(), Admission::Fresh);
    let other = admission(subject("alice"), "_h1", now_ms());
    assert_eq!(n.store.admit(&other).await.unwrap(), Admission::Replayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_made_during_an_outage_are_written_after_it() {
    let mut redis = RedisServer::start();
    let a = node(&config(&redis.url())).await;
    let t = now_ms();
    let sid = SessionId::random().unwrap();
    let alice = subject("alice");

    redis.stop();
    let outcome = a
        .store
        .revoke(&Revocation::Subject {
            subject: alice,
            not_before_ms: t,
            expires_ms: t + 600_000,
        })
        .await
        .unwrap();
    assert_eq!(outcome, RevokeOutcome::Queued);
    // Enforced on this node at once.
    assert!(a.store.view().is_revoked(&alice, &sid, None, t - 1));

    redis.start_again();
    let counts = a.counts.clone();
    wait_for("queue written", || {
        counts.queued.load(Ordering::Relaxed) == 0
    })
    .await;
    let exists: i64 = redis.cmd(&[
        "EXISTS",
        &format!("samlgate:{{s:{}}}:nb", alice.to_b64url()),
    ]);
    assert_eq!(exists, 1);
    // Every other node enforces it: in its view and at the ACS.
    let b = node(&config(&redis.url())).await;
    assert!(b.store.view().is_revoked(&alice, &sid, None, t - 1));
    let late = admission(alice, "_late", t - 1);
    assert_eq!(b.store.admit(&late).await.unwrap(), Admission::LoggedOut);
}
