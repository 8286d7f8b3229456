//! An HTTP/1.1 client over a raw socket, for the data-plane tests: it
//! writes exact bytes (malformed ones included) and reads each response
//! byte for byte, so that a cut connection or a missing end of message
//! shows. Blocking `std::net` on loopback: the tests need exact bytes,
//! not speed.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a test waits for any one answer before calling it missing.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// One client connection.
pub(crate) struct RawClient {
    pub(crate) stream: TcpStream,
    /// Received and not yet consumed.
    buf: Vec<u8>,
}

/// A complete response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The body ended with the connection (no length, not chunked).
    pub(crate) close_delimited: bool,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A response that did not end properly: what arrived before the
/// connection ended (or went silent).
#[derive(Debug)]
pub(crate) struct Cut {
    /// The status, if the head arrived.
    pub(crate) status: Option<u16>,
    /// Every byte of this response that arrived.
    pub(crate) raw: Vec<u8>,
    /// The body decoded so far.
    pub(crate) body: Vec<u8>,
    /// `eof`, `reset`, `timeout` or `malformed: ...`.
    pub(crate) why: String,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The peer closed (FIN).
    Eof,
    /// The peer reset the connection.
    Reset,
    /// Still open when the wait ended.
    StillOpen,
}

impl RawClient {
    pub(crate) fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway");
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(PATIENCE)).ok();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes`. A write error is returned, not raised: a server may
    /// answer and close before a large request is all written.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `needle` has arrived (kept for [`RawClient::response`]);
    /// false if the connection ends or goes silent first.
    pub(crate) fn wait_for(&mut self, needle: &[u8]) -> bool {
        while find(&self.buf, needle).is_none() {
            if self.more().is_err() {
                return false;
            }
        }
        true
    }

    /// What arrived and was not consumed yet.
    pub(crate) fn received(&self) -> Vec<u8> {
        self.buf.clone()
    }

    /// Reads more bytes; Ok(0) at EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response. `head_request`: the request was HEAD (no body
    /// follows whatever the headers say).
    pub(crate) fn response(&mut self, head_request: bool) -> Result<Response, Cut> {
        let mut pos;
        // The head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if let Err(why) = self.more() {
                return Err(self.cut(None, Vec::new(), why));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        let Some(status) = status.filter(|_| status_line.starts_with("HTTP/1.")) else {
            return Err(self.cut(None, Vec::new(), format!("malformed: {status_line:?}")));
        };
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let get = |name: &str| {
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        pos = head_end;
        let mut body = Vec::new();
        let bodiless = head_request || status / 100 == 1 || status == 204 || status == 304;
        let chunked = get("transfer-encoding")
            .last()
            .is_some_and(|te| last_token_is_chunked(te));
        let length: Option<usize> = get("content-length").first().and_then(|v| v.parse().ok());
        let mut close_delimited = false;
        if bodiless {
        } else if chunked {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    if let Err(why) = self.more() {
                        return Err(self.cut(Some(status), body, why));
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[pos..line_end]).into_owned();
                let size_text = size_text.split(';').next().unwrap_or_default().trim();
                let Ok(size) = usize::from_str_radix(size_text, 16) else {
                    let why = format!("malformed: chunk size {size_text:?}");
                    return Err(self.cut(Some(status), body, why));
                };
                pos = line_end + 2;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                            let empty = i == 0;
                            pos += i + 2;
                            if empty {
                                break;
                            }
                            continue;
                        }
                        if let Err(why) = self.more() {
                            return Err(self.cut(Some(status), body, why));
                        }
                    }
                    break;
                }
                while self.buf.len() < pos + size + 2 {
                    if let Err(why) = self.more() {
                        let have = self.buf.len().min(pos + size);
                        body.extend_from_slice(&self.buf[pos..have]);
                        return Err(self.cut(Some(status), body, why));
                    }
                }
                body.extend_from_slice(&self.buf[pos..pos + size]);
                if &self.buf[pos + size..pos + size + 2] != b"\r\n" {
                    return Err(self.cut(Some(status), body, "malformed: chunk end".into()));
                }
                pos += size + 2;
            }
        } else if let Some(length) = length {
            while self.buf.len() < pos + length {
                if let Err(why) = self.more() {
                    let got = self.buf[pos..].to_vec();
                    return Err(self.cut(Some(status), got, why));
                }
            }
            body.extend_from_slice(&self.buf[pos..pos + length]);
            pos += length;
        } else {
            close_delimited = true;
            loop {
                match self.more() {
                    Ok(()) => {}
                    Err(why) if why == "eof" => break,
                    Err(why) => {
                        let got = self.buf[pos..].to_vec();
                        return Err(self.cut(Some(status), got, why));
                    }
                }
            }
            body.extend_from_slice(&self.buf[pos..]);
            pos = self.buf.len();
        }
        self.buf.drain(..pos);
        Ok(Response {
            status,
            headers,
            body,
            close_delimited,
        })
    }

    /// Reads once more, naming why nothing came.
    fn more(&mut self) -> Result<(), String> {
        match self.fill() {
            Ok(0) => Err("eof".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(kind_name(e.kind()).into()),
        }
    }

    fn cut(&mut self, status: Option<u16>, body: Vec<u8>, why: String) -> Cut {
        Cut {
            status,
            raw: std::mem::take(&mut self.buf),
            body,
            why,
        }
    }

    /// Waits up to `limit` for the server to end the connection, and
    /// returns how it ended and any bytes that came first.
    pub(crate) fn wait_end(&mut self, limit: Duration) -> (End, Vec<u8>) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (End::StillOpen, std::mem::take(&mut self.buf));
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(200))))
                .ok();
            let result = self.fill();
            self.stream.set_read_timeout(Some(PATIENCE)).ok();
            match result {
                Ok(0) => return (End::Eof, std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (End::Reset, std::mem::take(&mut self.buf)),
            }
        }
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timeout",
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            "reset"
        }
        _ => "error",
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn last_token_is_chunked(te: &str) -> bool {
    te.rsplit(',')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
}
