//! HTTP at the byte level, for tests where a client library would
//! normalise the request itself (reqwest folds `..` and `//`): a raw client
//! on a `TcpStream`, and a backend that records every request line and
//! header exactly as the gateway sent it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// `GET /x HTTP/1.1`, as received.
    pub(crate) request_line: String,
    /// The request target, as received.
    pub(crate) target: String,
    /// Header names and raw values, in order.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

impl Recorded {
    /// Every value of a header (name compared ignoring ASCII case), as text.
    pub(crate) fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

/// The Set-Cookie headers the recording backend sends on a path that
/// contains `/setcookies`: the gateway's names in several spellings (the
/// gateway must drop them) between two of the backend's own (kept).
pub(crate) const BACKEND_SET_COOKIES: [&str; 11] = [
    "app=1; Path=/",
    "samlgate_session =spaced; Path=/",
    "samlgate_session\t=tab",
    "samlgate_session",
    "samlgate_session=planted; Path=/; HttpOnly",
    "SAMLGATE_SESSION=planted2; Path=/",
    "__Host-samlgate_session=planted3; Path=/; Secure",
    "samlgate_session_1=chunk; Path=/",
    "__Secure-samlgate_session_login_0=state; Path=/saml/acs; Secure",
    "sAmLgAtE_SeSsIoN=planted4",
    "pref=dark; Path=/; Max-Age=60",
];

/// How the recording backend fails after sending a response head, by
/// path: the connection closes mid-body, or the body stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dies {
    /// `Content-Length: 100`, 10 bytes sent, closed.
    Length,
    /// One chunk sent, closed without the last chunk.
    Chunked,
    /// One chunk sent, then silence for 4 s.
    Silent,
}

/// The paths on which the recording backend fails after its head.
pub(crate) const DIES: [(&str, Dies); 3] = [
    ("/dies-length", Dies::Length),
    ("/dies-chunked", Dies::Chunked),
    ("/goes-silent", Dies::Silent),
];

/// A backend on a loopback port that records each request and answers
/// 200 `recorded` (closing the connection), or on `/setcookies` paths the
/// [`BACKEND_SET_COOKIES`].
pub(crate) struct RecordingBackend {
    pub(crate) port: u16,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingBackend {
    pub(crate) fn start() -> RecordingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || serve_one(stream, &sink));
            }
        });
        RecordingBackend { port, log }
    }

    /// How many requests arrived so far.
    pub(crate) fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The requests after the first `from`.
    pub(crate) fn since(&self, from: usize) -> Vec<Recorded> {
        self.log.lock().unwrap().get(from..).unwrap_or(&[]).to_vec()
    }

    /// Every request so far.
    pub(crate) fn all(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

fn serve_one(mut stream: TcpStream, sink: &Mutex<Vec<Recorded>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = &buf[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&l[..colon]).into_owned();
            let value = l[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    // A body (none is expected) is read so that the gateway's write ends.
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - end - 4;
    while have < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
    }
    let set_cookies = target.contains("/setcookies");
    let dies = DIES
        .iter()
        .find(|(path, _)| target.contains(path))
        .map(|(_, d)| *d);
    sink.lock().unwrap().push(Recorded {
        request_line,
        target,
        headers,
    });
    if let Some(dies) = dies {
        // A head and the start of a body, then the backend fails.
        let head: &[u8] = match dies {
            Dies::Length => b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\n<p>partial",
            Dies::Chunked | Dies::Silent => {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\na\r\n<p>partial\r\n"
            }
        };
        let _ = stream.write_all(head);
        let _ = stream.flush();
        if dies == Dies::Silent {
            // Longer than the harness's upstream_read_timeout_seconds.
            std::thread::sleep(Duration::from_secs(4));
        }
        return;
    }
    let mut reply = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
    if set_cookies {
        for c in BACKEND_SET_COOKIES {
            reply.push_str(&format!("Set-Cookie: {c}\r\n"));
        }
    }
    reply.push_str("Content-Length: 8\r\nConnection: close\r\n\r\nrecorded");
    let _ = stream.write_all(reply.as_bytes());
}

/// A response read off the wire.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `error` of a JSON error body ("" when there is none).
    pub(crate) fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// Sends `request` (a whole request head, `\r\n\r\n` included) on a new
/// connection and reads the answer until the server closes it.
pub(crate) fn exchange(port: u16, request: &[u8]) -> RawResponse {
    let raw = exchange_bytes(port, request);
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "no HTTP response to {:?}: {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Sends `request` on a new connection and returns every byte received
/// until the server closes it (or resets it).
pub(crate) fn exchange_bytes(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    // Read by read, so that a reset keeps what came before it.
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    raw
}

/// `GET target` on the gateway's plain listener, with `Host`, a JSON
/// `Accept`, `Connection: close` and `extra` header lines (`Name: value`).
pub(crate) fn get(port: u16, target: &str, extra: &[&str]) -> RawResponse {
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    exchange(port, head.as_bytes())
}

fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
