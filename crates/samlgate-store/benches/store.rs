//! What the store costs per call: the request path's revocation check
//! (`RevocationView::is_revoked`, no I/O) and one admission on the memory
//! store and on a real redis-server on loopback (one EVALSHA round trip).
//!
//! Run: `cargo bench -p samlgate-store --bench store` (needs Debian's
//! redis-server; it is started on a free loopback port and killed after).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use samlgate_store::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server, scripts/deps.sh)");
    let url = format!("redis://127.0.0.1:{port}/");
    for _ in 0..500 {
        if redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .is_ok()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (Server(child), url)
}

fn subject(i: u64) -> SubjectKey {
    SubjectKey::new("https://idp.example", None, None, None, &format!("user{i}"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let now = SystemClock.now_ms();

    // A view holding 100k revocations of each kind.
    let memory = rt
        .block_on(connect(
            &StoreConfig::default(),
            Arc::new(NoopObserver),
            Arc::new(SystemClock),
        ))
        .unwrap();
    rt.block_on(async {
        for i in 0..100_000u64 {
            let s = subject(i);
            let sid = SessionId::random().unwrap();
            for r in [
                Revocation::Session {
                    subject: s,
                    session_id: sid,
                    expires_ms: now + 3_600_000,
                },
                Revocation::SessionIndex {
                    subject: s,
                    session_index: format!("idx{i}"),
                    at_ms: now,
                    expires_ms: now + 3_600_000,
                },
                Revocation::Subject {
                    subject: s,
                    not_before_ms: now,
                    expires_ms: now + 3_600_000,
                },
            ] {
                memory.store.revoke(&r).await.unwrap();
            }
        }
    });
    let view = memory.view.clone();
    let mut g = c.benchmark_group("is_revoked");
    let other = SessionId::random().unwrap();
    let live = subject(1_000_000);
    g.bench_function("not revoked, 300k entries", |b| {
        b.iter(|| view.is_revoked(black_box(&live), black_box(&other), Some("idx-live"), now))
    });
    let gone = subject(7);
    g.bench_function("revoked, 300k entries", |b| {
        b.iter(|| view.is_revoked(black_box(&gone), black_box(&other), Some("idx7"), now - 1))
    });
    g.finish();

    let (_server, url) = redis_server();
    let cfg = StoreConfig {
        backend: Backend::Redis,
        url: Some(url),
        ..StoreConfig::default()
    };
    let redis = rt
        .block_on(connect(&cfg, Arc::new(NoopObserver), Arc::new(SystemClock)))
        .unwrap();
    let fresh = StoreConfig {
        max_entries: 10_000_000,
        ..StoreConfig::default()
    };
    let memory = rt
        .block_on(connect(
            &fresh,
            Arc::new(NoopObserver),
            Arc::new(SystemClock),
        ))
        .unwrap();
    let n = AtomicU64::new(0);
    let mut g = c.benchmark_group("admit");
    for (name, store) in [("memory", &memory.store), ("redis loopback", &redis.store)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let id = format!("_id{i}");
                let a = AssertionAdmission {
                    subject: subject(i % 1000),
                    issuer: "https://idp.example",
                    assertion_id: &id,
                    session_index: Some("idx"),
                    issue_instant_ms: now,
                    expires_ms: now + 300_000,
                    token: RequestToken::random().unwrap(),
                };
                let r = rt.block_on(store.admit(&a)).unwrap();
                assert_eq!(r, Admission::Fresh);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
