//! Pieces of the 10,000-idle-connections test: the open-files limit, a
//! process's CPU time, many keep-alive connections held open, and the
//! authenticated load whose rate is measured.

#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::gateway::Harness;
use crate::raw::{find, RawClient};

/// `(soft, hard)` RLIMIT_NOFILE of process `pid`, from /proc.
pub(crate) fn open_files_limit(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Raises this process's soft RLIMIT_NOFILE to at least `need` (children
/// spawned afterwards, the gateway among them, inherit it). The workspace
/// forbids `unsafe`, so setrlimit(2) is reached through util-linux's
/// `prlimit --pid`, which a process may apply to another of the same
/// user. Panics when the hard limit is below `need`: the test cannot
/// mean anything then, and must not pass.
pub(crate) fn raise_open_files_limit(need: u64) {
    let me = std::process::id();
    let (soft, hard) = open_files_limit(me);
    if soft >= need {
        return;
    }
    assert!(
        hard >= need,
        "RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn, or LimitNOFILE= for a service) to run this test"
    );
    let target = hard.min(need.max(65_536));
    let status = Command::new("prlimit")
        .arg(format!("--pid={me}"))
        .arg(format!("--nofile={target}:"))
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success(), "prlimit --nofile={target}: failed");
    let (soft, _) = open_files_limit(me);
    assert!(soft >= need, "soft RLIMIT_NOFILE still {soft}");
}

/// CPU time of every thread of `pid` (user and system), in nanoseconds:
/// the sum of the first field of /proc/<pid>/task/*/schedstat (a
/// scheduler clock, ns resolution, unlike the 10 ms ticks of
/// /proc/<pid>/stat). The gateway's threads live as long as it does, so
/// no time is lost with an exited thread between two readings.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let mut total = 0u64;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc tasks");
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(total)
}

/// Resident memory of `pid` in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Opens `count` connections to the gateway on `port`, each answered once
/// (`GET /saml/metadata`, which the gateway answers itself) and then left
/// idle, from `threads` threads in batches of 100 (the listen queue is
/// not flooded, so no SYN is dropped and retried a second later).
pub(crate) fn hold(port: u16, host: &str, count: usize, threads: usize) -> Vec<RawClient> {
    let per_thread = count.div_ceil(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let host = host.to_owned();
            let n = per_thread.min(count.saturating_sub(t * per_thread));
            std::thread::spawn(move || {
                let request = format!("GET /saml/metadata HTTP/1.1\r\nHost: {host}\r\n\r\n");
                let mut held = Vec::with_capacity(n);
                while held.len() < n {
                    let batch = (n - held.len()).min(100);
                    let mut fresh: Vec<RawClient> =
                        (0..batch).map(|_| RawClient::connect(port)).collect();
                    for client in &mut fresh {
                        client.send(request.as_bytes()).expect("send");
                    }
                    for client in &mut fresh {
                        let answer = client.response(false).expect("an answer");
                        assert_eq!(answer.status, 200);
                    }
                    held.append(&mut fresh);
                }
                held
            })
        })
        .collect();
    workers
        .into_iter()
        .flat_map(|w| w.join().expect("a holder thread"))
        .collect()
}

/// How many of `held` the server has closed (a read that does not block
/// finds EOF, a reset, or unexpected bytes).
pub(crate) fn closed_count(held: &[RawClient]) -> usize {
    use std::io::{ErrorKind, Read};
    held.iter()
        .filter(|client| {
            let mut stream = &client.stream;
            stream.set_nonblocking(true).expect("nonblocking");
            let mut byte = [0u8; 1];
            let open =
                matches!(stream.read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
            stream.set_nonblocking(false).expect("blocking");
            !open
        })
        .count()
}

/// Open file descriptors of `pid`.
pub(crate) fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The gateway's session cookie(s) after a real login through the IdP.
pub(crate) fn session_cookie(h: &Harness) -> String {
    use reqwest::cookie::CookieStore;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, "text/html".parse().unwrap());
    let client = reqwest::blocking::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let (landed, _) = crate::gateway::login(h, &client, "/app/start", "alice");
    assert_eq!(landed.status(), 200);
    let url: reqwest::Url = h.url("/app/").parse().unwrap();
    let cookies = jar.cookies(&url).expect("the session cookie");
    cookies.to_str().unwrap().to_owned()
}

/// Authenticated pass-through load: `connections` keep-alive connections,
/// each sending `per_connection` GETs one after the other; every answer
/// must be the echo backend's, for alice.
pub(crate) fn pass_through(
    port: u16,
    host: &str,
    cookie: &str,
    connections: usize,
    per_connection: usize,
) {
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let request = format!(
                "GET /app/load-{c} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept: application/json\r\n\r\n"
            );
            std::thread::spawn(move || {
                let mut client = RawClient::connect(port);
                for _ in 0..per_connection {
                    client.send(request.as_bytes()).expect("send");
                    let answer = client.response(false).expect("an answer");
                    assert_eq!(answer.status, 200, "{}", answer.text());
                    assert!(find(&answer.body, b"\"alice\"").is_some(), "{}", answer.text());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a load thread");
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Checks every hundredth held connection still answers a second request,
/// closes them all, and waits until the gateway has closed its side.
pub(crate) fn release(held: &mut Vec<RawClient>, pid: u32, base_fds: usize, host: &str) {
    let again = format!("GET /saml/metadata HTTP/1.1\r\nHost: {host}\r\n\r\n");
    for client in held.iter_mut().step_by(100) {
        client.send(again.as_bytes()).expect("send");
        assert_eq!(client.response(false).expect("a second answer").status, 200);
    }
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(60);
    while fd_count(pid) > base_fds + 100 {
        assert!(
            Instant::now() < deadline,
            "the gateway still holds {} descriptors",
            fd_count(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
