//! Replay records and logout tombstones on a real standalone Redis.

use std::sync::Arc;

use samlgate_store::*;
use tokio::sync::Barrier;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_use_is_replayed_on_every_node_and_a_retry_is_fresh() {
    let redis = RedisServer::start();
    let a = bare_node(&config(&redis.url())).await;
    let b = bare_node(&config(&redis.url())).await;
    let first = admission(subject("alice"), "_a1", now_ms());
    assert_eq!(a.store.admit(&first).await.unwrap(), Admission::Fresh);
    // The same request again (its reply was lost): same token, fresh.
    assert_eq!(a.store.admit(&first).await.unwrap(), Admission::Fresh);
    assert_eq!(b.store.admit(&first).await.unwrap(), Admission::Fresh);
    // Anyone else with the same assertion, on any node: replayed.
    let again = admission(subject("alice"), "_a1", now_ms());
    assert_eq!(a.store.admit(&again).await.unwrap(), Admission::Replayed);
    assert_eq!(b.store.admit(&again).await.unwrap(), Admission::Replayed);
    // Same ID from another issuer: another assertion.
    let other = AssertionAdmission {
        issuer: "https://other-idp.example",
        ..admission(subject("alice"), "_a1", now_ms())
    };
    assert_eq!(b.store.admit(&other).await.unwrap(), Admission::Fresh);
    // The record lives until the window's end (5 min here, PX relative).
    let keys: Vec<String> = redis.cmd(&["KEYS", "samlgate:*:rp:*"]);
    assert_eq!(keys.len(), 2);
    let ttl: i64 = redis.cmd(&["PTTL", &keys[0]]);
    assert!(ttl > 290_000 && ttl <= 300_000, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_admissions_from_separate_clients_admit_once() {
    let redis = RedisServer::start();
    let mut nodes = Vec::new();
    for _ in 0..50 {
        nodes.push(bare_node(&config(&redis.url())).await);
    }
    let barrier = Arc::new(Barrier::new(50));
    let issued = now_ms();
    let tasks: Vec<_> = nodes
        .iter()
        .map(|n| {
            let store = n.store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let a = admission(subject("race"), "_race", issued);
                barrier.wait().await;
                store.admit(&a).await.unwrap()
            })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        if t.await.unwrap() == Admission::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    let clients: String = redis.cmd(&["CLIENT", "LIST"]);
    assert!(clients.lines().count() >= 50, "separate connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_evalsha_per_admission_and_noscript_is_reloaded() {
    let redis = RedisServer::start();
    let n = bare_node(&config(&redis.url())).await;
    // Warm up: the first call loads the script (NOSCRIPT, then EVAL).
    n.store
        .admit(&admission(subject("warm"), "_w", now_ms()))
        .await
        .unwrap();
    let _: () = redis.cmd(&["CONFIG", "RESETSTAT"]);
    for i in 0..20 {
        let id = format!("_c{i}");
        let mut a = admission(subject(&format!("u{i}")), &id, now_ms());
        if i % 2 == 0 {
            a.session_index = Some("idx");
        }
        assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);
    }
    // The client sent EVALSHA only: every other command counted is one the
    // script ran inside that call (Redis counts those too): GET of the
    // not-before key, of the SessionIndex key when there is one, of the
    // replay record, and its SET.
    let calls = redis.command_calls();
    assert_eq!(calls.get("evalsha"), Some(&20), "{calls:?}");
    assert_eq!(calls.get("get"), Some(&(20 + 10 + 20)), "{calls:?}");
    assert_eq!(calls.get("set"), Some(&20), "{calls:?}");
    let others: Vec<_> = calls
        .keys()
        .filter(|c| !["evalsha", "get", "set", "config|resetstat"].contains(&c.as_str()))
        .collect();
    assert!(others.is_empty(), "other commands sent: {calls:?}");

    // A server that lost its script cache (restart, failover): reloaded
    // within the same call.
    let _: () = redis.cmd(&["SCRIPT", "FLUSH"]);
    n.counts.recovered.lock().unwrap().clear();
    let a = admission(subject("after-flush"), "_f", now_ms());
    assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);
    assert_eq!(
        *n.counts.recovered.lock().unwrap(),
        [(Op::Admit, ErrorKind::NoScript)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_tombstones_refuse_earlier_assertions_only() {
    let redis = RedisServer::start();
    let n = bare_node(&config(&redis.url())).await;
    let t = now_ms();
    let alice = subject("alice");
    n.store
        .revoke(&Revocation::Subject {
            subject: alice,
            not_before_ms: t,
            expires_ms: t + 60_000,
        })
        .await
        .unwrap();
    let before = admission(alice, "_b1", t - 1);
    assert_eq!(n.store.admit(&before).await.unwrap(), Admission::LoggedOut);
    let after = admission(alice, "_b2", t + 1);
    assert_eq!(n.store.admit(&after).await.unwrap(), Admission::Fresh);
    // Refused assertions wrote no replay record.
    let later = admission(alice, "_b1", t + 5);
    assert_eq!(n.store.admit(&later).await.unwrap(), Admission::Fresh);
    // Another subject (same NameID, other IdP) is not affected.
    let other_idp = SubjectKey::new("https://other-idp.example", None, None, None, "alice");
    let other = admission(other_idp, "_b3", t - 1);
    assert_eq!(n.store.admit(&other).await.unwrap(), Admission::Fresh);

    let bob = subject("bob");
    n.store
        .revoke(&Revocation::SessionIndex {
            subject: bob,
            session_index: "idx-A".into(),
            at_ms: t,
            expires_ms: t + 60_000,
        })
        .await
        .unwrap();
    let with = |id, si, issued| AssertionAdmission {
        session_index: si,
        ..admission(bob, id, issued)
    };
    assert_eq!(
        n.store
            .admit(&with("_s1", Some("idx-A"), t - 1))
            .await
            .unwrap(),
        Admission::LoggedOut
    );
    assert_eq!(
        n.store
            .admit(&with("_s2", Some("idx-A"), t + 1))
            .await
            .unwrap(),
        Admission::Fresh
    );
    assert_eq!(
        n.store
            .admit(&with("_s3", Some("idx-B"), t - 1))
            .await
            .unwrap(),
        Admission::Fresh
    );
    assert_eq!(
        n.store.admit(&with("_s4", None, t - 1)).await.unwrap(),
        Admission::Fresh
    );
    // An older "not before" written later never lowers the newer one.
    n.store
        .revoke(&Revocation::Subject {
            subject: alice,
            not_before_ms: t - 10_000,
            expires_ms: t + 1000,
        })
        .await
        .unwrap();
    let still = admission(alice, "_b4", t - 1);
    assert_eq!(n.store.admit(&still).await.unwrap(), Admission::LoggedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ids_give_bounded_keys_without_their_text() {
    let redis = RedisServer::start();
    let n = bare_node(&config(&redis.url())).await;
    let nasty = SubjectKey::new(
        "https://idp.example",
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
        None,
        None,
        "evil}\r\n{s:x}*?[a]",
    );
    let long_id = format!("_{}", "x".repeat(10_240));
    let a = AssertionAdmission {
        session_index: Some("si}\r\n{*"),
        ..admission(nasty, &long_id, now_ms())
    };
    assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);
    assert_eq!(
        n.store
            .admit(&AssertionAdmission {
                token: RequestToken::random().unwrap(),
                ..a.clone()
            })
            .await
            .unwrap(),
        Admission::Replayed
    );
    for r in [
        Revocation::Session {
            subject: nasty,
            session_id: SessionId::random().unwrap(),
            expires_ms: now_ms() + 60_000,
        },
        Revocation::SessionIndex {
            subject: nasty,
            session_index: long_id.clone(),
            at_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        },
        Revocation::Subject {
            subject: nasty,
            not_before_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        },
    ] {
        assert_eq!(n.store.revoke(&r).await.unwrap(), RevokeOutcome::Stored);
    }
    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]);
    assert_eq!(keys.len(), 6, "{keys:?}");
    let tag = format!("{{s:{}}}", nasty.to_b64url());
    for k in &keys {
        assert!(k.len() <= 120, "{k}");
        assert!(
            !k.contains("evil") && !k.contains('\r') && !k.contains("xxxx"),
            "{k}"
        );
        assert!(k.contains(&tag) || k.contains("{rv}"), "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reports_version_and_eviction_policy() {
    let redis = RedisServer::start();
    let n = bare_node(&config(&redis.url())).await;
    let info = n.store.ping().await.unwrap();
    assert_eq!(info.backend, "redis");
    assert!(info
        .server_version
        .as_deref()
        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())));
    assert_eq!(info.maxmemory_policy.as_deref(), Some("noeviction"));
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);

    let _: () = redis.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]);
    let info = n.store.ping().await.unwrap();
    assert_eq!(info.maxmemory_policy.as_deref(), Some("volatile-lru"));
    assert!(
        info.warnings[0].contains("volatile-lru"),
        "{:?}",
        info.warnings
    );

    // A user whose ACL refuses CONFIG: unknown policy, a warning, no error.
    let _: () = redis.cmd(&[
        "ACL", "SETUSER", "gw", "on", ">pw", "~*", "+@all", "-config",
    ]);
    let url = format!("redis://gw:pw@127.0.0.1:{}/", redis.port);
    let limited = bare_node(&config(&url)).await;
    let info = limited.store.ping().await.unwrap();
    assert_eq!(info.maxmemory_policy, None);
    assert!(info.warnings[0].contains("unknown"), "{:?}", info.warnings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_is_enough() {
    let redis = RedisServer::start();
    let mut acl = vec![
        "ACL",
        "SETUSER",
        "gw",
        "on",
        ">pw",
        "resetkeys",
        "~samlgate:*",
        "resetchannels",
    ];
    acl.extend(REDIS_ACL_COMMANDS.split_whitespace());
    let _: () = redis.cmd(&acl);
    let url = format!("redis://gw:pw@127.0.0.1:{}/", redis.port);
    let a = node(&config(&url)).await;
    let b = node(&config(&url)).await;
    let adm = AssertionAdmission {
        session_index: Some("i"),
        ..admission(subject("alice"), "_acl", now_ms())
    };
    assert_eq!(a.store.admit(&adm).await.unwrap(), Admission::Fresh);
    b.store
        .revoke(&Revocation::Subject {
            subject: subject("alice"),
            not_before_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        })
        .await
        .unwrap();
    let view = a.store.view().clone();
    wait_for("revocation under the ACL", || {
        view.is_revoked(
            &subject("alice"),
            &SessionId::from_bytes([3; 16]),
            None,
            now_ms() - 1000,
        )
    })
    .await;
    let info = a.store.ping().await.unwrap();
    assert!(info.server_version.is_some());
    assert!(
        a.counts.errors.lock().unwrap().is_empty(),
        "{:?}",
        a.counts.errors.lock().unwrap()
    );
    // Keys outside the prefix stay out of reach.
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let denied = redis::cmd("GET")
        .arg("other:key")
        .query::<Option<String>>(&mut c);
    assert!(denied.is_err());
}
