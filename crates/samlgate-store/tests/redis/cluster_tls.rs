//! A real three-master Redis Cluster, and Redis over TLS with a private CA.

use std::collections::HashSet;

use samlgate_store::*;

use crate::support::*;

fn cluster_config(c: &Cluster) -> StoreConfig {
    StoreConfig {
        backend: Backend::Redis,
        cluster: c.seeds(),
        timeout_ms: 1000,
        ..StoreConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_admits_and_revokes_across_slots() {
    let c = Cluster::start();
    let a = node(&cluster_config(&c)).await;
    let b = node(&cluster_config(&c)).await;
    let info = a.store.ping().await.unwrap();
    assert_eq!((info.backend, info.nodes), ("redis-cluster", 3));

    let t = now_ms();
    let mut slots = HashSet::new();
    for i in 0..30 {
        let s = subject(&format!("user{i}"));
        let tag = format!("{{s:{}}}", s.to_b64url());
        slots.insert(c.nodes[0].cmd::<i64>(&["CLUSTER", "KEYSLOT", &tag]));
        let id = format!("_c{i}");
        let adm = AssertionAdmission {
            session_index: Some("idx"),
            ..admission(s, &id, t)
        };
        assert_eq!(a.store.admit(&adm).await.unwrap(), Admission::Fresh);
        let again = admission(s, &id, t);
        assert_eq!(b.store.admit(&again).await.unwrap(), Admission::Replayed);
        let r = match i % 3 {
            0 => Revocation::Subject {
                subject: s,
                not_before_ms: t + 1,
                expires_ms: t + 60_000,
            },
            1 => Revocation::SessionIndex {
                subject: s,
                session_index: "idx".into(),
                at_ms: t + 1,
                expires_ms: t + 60_000,
            },
            _ => Revocation::Session {
                subject: s,
                session_id: SessionId::from_bytes([i as u8; 16]),
                expires_ms: t + 60_000,
            },
        };
        assert_eq!(a.store.revoke(&r).await.unwrap(), RevokeOutcome::Stored);
        if i % 3 != 2 {
            let late_id = format!("_late{i}");
            let late = AssertionAdmission {
                session_index: Some("idx"),
                ..admission(s, &late_id, t)
            };
            assert_eq!(b.store.admit(&late).await.unwrap(), Admission::LoggedOut);
        }
    }
    // Spread over the masters: the subjects live in many slots.
    assert!(slots.len() > 20, "{}", slots.len());
    // B's view follows A's revocations through the feed.
    let view = b.store.view().clone();
    wait_for("cluster revocations on B", || {
        (0..30).all(|i: u8| {
            let s = subject(&format!("user{i}"));
            view.is_revoked(&s, &SessionId::from_bytes([i; 16]), Some("idx"), t)
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subjects_keys_share_one_slot_whatever_its_name_id() {
    let c = Cluster::start();
    let n = bare_node(&cluster_config(&c)).await;
    let nasty = SubjectKey::new("https://idp.example", None, None, None, "}{x}\r\n*{");
    let long_id = "y".repeat(10_240);
    let a = AssertionAdmission {
        session_index: Some("{si}"),
        ..admission(nasty, &long_id, now_ms())
    };
    assert_eq!(n.store.admit(&a).await.unwrap(), Admission::Fresh);
    n.store
        .revoke(&Revocation::SessionIndex {
            subject: nasty,
            session_index: "{si}".into(),
            at_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        })
        .await
        .unwrap();
    let tag = format!("{{s:{}}}", nasty.to_b64url());
    let mut keys = Vec::new();
    for node in &c.nodes {
        keys.extend(node.cmd::<Vec<String>>(&["KEYS", "*"]));
    }
    let subject_keys: Vec<_> = keys.iter().filter(|k| k.contains(&tag)).collect();
    assert_eq!(subject_keys.len(), 2, "{keys:?}");
    let slots: HashSet<i64> = subject_keys
        .iter()
        .map(|k| c.nodes[0].cmd(&["CLUSTER", "KEYSLOT", k]))
        .collect();
    assert_eq!(slots.len(), 1);
    assert!(
        keys.iter().all(|k| k.len() <= 120 && !k.contains('\r')),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let redis = RedisServer::start_tls();
    let tls = redis.tls.as_ref().unwrap();
    let mut cfg = config(&redis.url());
    cfg.tls_ca = Some(tls.ca.clone());
    assert!(cfg.validate().is_empty());
    let a = node(&cfg).await;
    let b = node(&cfg).await;
    let adm = admission(subject("alice"), "_tls", now_ms());
    assert_eq!(a.store.admit(&adm).await.unwrap(), Admission::Fresh);
    let again = admission(subject("alice"), "_tls", now_ms());
    assert_eq!(b.store.admit(&again).await.unwrap(), Admission::Replayed);
    b.store
        .revoke(&Revocation::Subject {
            subject: subject("alice"),
            not_before_ms: now_ms(),
            expires_ms: now_ms() + 60_000,
        })
        .await
        .unwrap();
    let view = a.store.view().clone();
    wait_for("revocation over TLS", || {
        view.is_revoked(
            &subject("alice"),
            &SessionId::from_bytes([1; 16]),
            None,
            now_ms() - 1000,
        )
    })
    .await;
    assert!(a.store.ping().await.unwrap().server_version.is_some());

    // Without the CA the server's certificate is not trusted: no answer.
    let untrusted = bare_node(&config(&redis.url())).await;
    let e = untrusted
        .store
        .admit(&admission(subject("bob"), "_x", now_ms()))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "store_unavailable");
}
