//! Raw-socket backends for the data-plane tests: one that logs every
//! request it parses (framed strictly, so that a request a laxer or
//! stricter parser would frame differently is flagged), and one that dies
//! in the middle of its response. Blocking `std::net` on loopback, one
//! thread per connection.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::raw::find;

/// One request as a backend parsed it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Which accepted connection (0-based) it came on.
    pub(crate) conn: usize,
    pub(crate) line: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Set when the request was not one well-framed HTTP/1.1 message (both
    /// Content-Length and Transfer-Encoding, an unknown coding, bare LF):
    /// a backend stricter or laxer than the gateway could frame it
    /// differently.
    pub(crate) anomaly: Option<String>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A backend that logs every request it receives (request line, headers,
/// body, framed strictly by RFC 9112: Transfer-Encoding before
/// Content-Length) and answers `200` with a body naming the request.
/// Keep-alive, one thread per connection.
pub(crate) struct RecordingBackend {
    pub(crate) port: u16,
    accepted: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingBackend {
    pub(crate) fn start() -> RecordingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recording backend");
        let port = listener.local_addr().expect("its address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (count, sink) = (accepted.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = count.fetch_add(1, Ordering::SeqCst);
                let sink = sink.clone();
                std::thread::spawn(move || serve_recorded(stream, conn, sink));
            }
        });
        RecordingBackend {
            port,
            accepted,
            log,
        }
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order of arrival.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").clone()
    }
}

fn serve_recorded(mut stream: TcpStream, conn: usize, log: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(mut request) = read_request(&mut stream, &mut buf) else {
            return;
        };
        request.conn = conn;
        let close = request.anomaly.is_some()
            || request
                .header("connection")
                .iter()
                .any(|v| v.eq_ignore_ascii_case("close"));
        let head_only = request.line.starts_with("HEAD ");
        let body = format!(
            "rec {}\nbody:{}",
            request.line,
            String::from_utf8_lossy(&request.body)
        );
        log.lock().expect("log").push(request);
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if !head_only {
            answer.extend_from_slice(body.as_bytes());
        }
        if stream.write_all(&answer).is_err() || close {
            return;
        }
    }
}

/// Reads one request from `stream` (leftover bytes kept in `buf`); None
/// at EOF or on an error. Lenient enough to record what a hostile or
/// broken sender did, strict in what it calls an anomaly.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |buf: &mut Vec<u8>| -> Option<()> {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    };
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut anomaly = None;
    if head.replace("\r\n", "").contains('\n') || head.replace("\r\n", "").contains('\r') {
        anomaly = Some("bare CR or LF in the head".to_owned());
    }
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, v)) => (k.to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect();
    if headers
        .iter()
        .any(|(k, _)| k.is_empty() || k.contains([' ', '\t']))
    {
        anomaly = Some("malformed header line".to_owned());
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let te = values("transfer-encoding");
    let cl = values("content-length");
    if !te.is_empty() && !cl.is_empty() {
        anomaly = Some("both Transfer-Encoding and Content-Length".to_owned());
    }
    let mut pos = head_end;
    let mut body = Vec::new();
    if !te.is_empty() {
        let all = te.join(",");
        let codings: Vec<String> = all
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if codings != ["chunked"] {
            anomaly = Some(format!("Transfer-Encoding {all:?}"));
        }
        if codings.last().map(String::as_str) == Some("chunked") {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    fill(buf)?;
                };
                let text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
                let size = usize::from_str_radix(text.split(';').next()?.trim(), 16).ok()?;
                pos = line_end + 2;
                if size == 0 {
                    loop {
                        if let Some(i) = find(&buf[pos..], b"\r\n") {
                            pos += i + 2;
                            if i == 0 {
                                break;
                            }
                            continue;
                        }
                        fill(buf)?;
                    }
                    break;
                }
                while buf.len() < pos + size + 2 {
                    fill(buf)?;
                }
                body.extend_from_slice(&buf[pos..pos + size]);
                pos += size + 2;
            }
        }
    } else if !cl.is_empty() {
        let lengths: Vec<&str> = cl
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if lengths.iter().any(|l| *l != lengths[0]) || lengths[0].is_empty() {
            anomaly = Some(format!("Content-Length {cl:?}"));
        }
        if !lengths[0].bytes().all(|b| b.is_ascii_digit()) {
            anomaly = Some(format!("Content-Length {cl:?}"));
        }
        let length: usize = lengths[0].parse().unwrap_or(0);
        while buf.len() < pos + length {
            fill(buf)?;
        }
        body.extend_from_slice(&buf[pos..pos + length]);
        pos += length;
    }
    buf.drain(..pos);
    Some(Recorded {
        conn: 0,
        line,
        headers,
        body,
        anomaly,
    })
}

/// A backend that sends a response head and part of the body, then fails,
/// chosen by the request path:
/// - `/die/chunked`: a chunked 200 with one chunk (`hello`), then the
///   connection closes with no terminating chunk;
/// - `/die/length`: `Content-Length: 100`, 5 bytes, then close;
/// - `/die/stall`: a chunked 200 with one chunk, then silence for 15 s.
///
/// The first two close only when the test calls [`DyingBackend::release`]
/// (after its client has received the head and `hello`), so the failure
/// always comes after the response has started, however slow the machine.
pub(crate) struct DyingBackend {
    pub(crate) port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    permits: Arc<(Mutex<usize>, Condvar)>,
}

impl DyingBackend {
    pub(crate) fn start() -> DyingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the dying backend");
        let port = listener.local_addr().expect("its address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let permits = Arc::new((Mutex::new(0), Condvar::new()));
        let (sink, gate) = (requests.clone(), permits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (sink, gate) = (sink.clone(), gate.clone());
                std::thread::spawn(move || die(stream, sink, gate));
            }
        });
        DyingBackend {
            port,
            requests,
            permits,
        }
    }

    /// The request lines received so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("log").clone()
    }

    /// Lets one waiting connection fail now.
    pub(crate) fn release(&self) {
        let (count, wake) = &*self.permits;
        *count.lock().expect("permits") += 1;
        wake.notify_all();
    }
}

fn die(mut stream: TcpStream, log: Arc<Mutex<Vec<String>>>, permits: Arc<(Mutex<usize>, Condvar)>) {
    let mut buf = Vec::new();
    let Some(request) = read_request(&mut stream, &mut buf) else {
        return;
    };
    let path = request
        .line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    log.lock().expect("log").push(request.line);
    let partial: &[u8] = if path.starts_with("/die/length") {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello"
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    };
    if stream.write_all(partial).is_err() {
        return;
    }
    if path.starts_with("/die/stall") {
        std::thread::sleep(Duration::from_secs(15));
    } else {
        // Bounded: a test that never releases does not leave this thread
        // behind for long.
        let (count, wake) = &*permits;
        let guard = count.lock().expect("permits");
        let (mut guard, _) = wake
            .wait_timeout_while(guard, Duration::from_secs(20), |n| *n == 0)
            .expect("permits");
        *guard = guard.saturating_sub(1);
    }
    let _ = stream.shutdown(Shutdown::Both);
}
