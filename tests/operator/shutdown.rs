//! Shutdown as documented: `/readyz` 503 while the data listener keeps
//! serving for `shutdown_delay_seconds`, then new connections refused,
//! requests in flight finished, the admin listener answering until the
//! process exits, which is as soon as nothing is in flight.

use std::time::{Duration, Instant};

use crate::gateway::*;

fn sigterm(h: &Harness) {
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &h.pid().to_string()])
        .status()
        .unwrap()
        .success());
}

/// `/readyz`: status and the `status` field, or None when the admin
/// listener is gone.
fn readyz(h: &Harness) -> Option<(u16, String)> {
    let resp = plain_client()
        .get(h.admin_url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().ok()?;
    Some((
        status,
        body["status"].as_str().unwrap_or_default().to_owned(),
    ))
}

fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sigterm_keeps_serving_through_the_delay_with_readyz_503_then_drains_and_exits() {
    // Generous numbers: a 5 s delay to observe, a 60 s grace that the
    // process must not need.
    let mut h = Harness::start(Options {
        server_extra: "shutdown_delay_seconds = 5".into(),
        shutdown_grace_seconds: Some(60),
        upstream_read_timeout_seconds: Some(30),
        ..Options::default()
    });
    assert_eq!(readyz(&h), Some((200, "ready".to_owned())));
    // A slow request (9 s: past the delay) in flight, on its own
    // connection.
    let url = h.url("/public/slow?sleep_ms=9000");
    let inflight = std::thread::spawn(move || {
        let r = plain_client()
            .get(url)
            .timeout(Duration::from_secs(40))
            .header("accept", "application/json")
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    });
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&h);

    // At once: not ready, draining ...
    assert!(wait_until(Duration::from_secs(4), || readyz(&h)
        == Some((503, "draining".to_owned()))));
    // ... while a new connection is still accepted and served.
    let during = plain_client()
        .get(h.url("/public/during-delay"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(during.status(), 200);
    assert!(during.text().unwrap().contains("/public/during-delay"));
    assert_eq!(readyz(&h), Some((503, "draining".to_owned())));

    // After the delay the data listener refuses new connections, while
    // the slow request is still running and the admin listener answers.
    let gateway = h.gateway;
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", gateway)).is_err()
        }),
        "the data listener still accepts"
    );
    assert!(
        !inflight.is_finished(),
        "the slow request ended too early to tell"
    );
    assert_eq!(readyz(&h), Some((503, "draining".to_owned())));

    // The request in flight completes.
    let (status, text) = inflight.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("/public/slow"), "{text}");
    // The admin listener answers 503 until the process is gone, which is
    // soon: nothing is in flight any more.
    let mut answers = Vec::new();
    let exited = wait_until(Duration::from_secs(30), || {
        if let Some(answer) = readyz(&h) {
            answers.push(answer);
        }
        h.wait_exit(Duration::from_millis(10))
    });
    assert!(exited, "the gateway did not exit");
    assert!(
        answers.iter().all(|a| a == &(503, "draining".to_owned())),
        "{answers:?}"
    );
    let log = h.log_text();
    assert!(log.contains("no request in flight; exiting"), "{log}");
    assert!(!log.contains("grace period over"), "{log}");
}

#[test]
fn an_idle_gateway_exits_soon_after_the_delay_not_after_the_grace_period() {
    let mut h = Harness::start(Options {
        server_extra: "shutdown_delay_seconds = 2".into(),
        shutdown_grace_seconds: Some(120),
        ..Options::default()
    });
    // A client that keeps an idle keep-alive connection open, as a load
    // balancer does.
    let keepalive = plain_client();
    let r = keepalive.get(h.url("/public/once")).send().unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text();
    let signalled = Instant::now();
    sigterm(&h);
    assert!(
        h.wait_exit(Duration::from_secs(60)),
        "still running after 60 s"
    );
    let took = signalled.elapsed();
    // Not before the delay (it keeps accepting that long); far from the
    // 120 s grace period.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    let log = h.log_text();
    assert!(
        log.contains("no request in flight; exiting"),
        "{took:?}\n{log}"
    );
    drop(keepalive);
}
