//! The request smuggling inputs of `gateway_dataplane.rs`, and the check
//! of what one of them did: the answer, the connection's end, and what the
//! recording backend received.

use std::time::Duration;

use crate::backends::RecordingBackend;
use crate::raw::{End, RawClient};

/// What the gateway must do with one smuggling input.
pub(crate) enum Expect {
    /// Refused with this status before anything reaches a backend, and
    /// the connection closed.
    Refused(u16),
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1): the
    /// gateway may refuse it (400) or frame it by Transfer-Encoding alone,
    /// forward it without Content-Length, and close the connection after
    /// answering. Either way the backend never sees the smuggled request
    /// hidden in the body, and a forwarded body is exactly this.
    TransferEncodingWins(Vec<u8>),
    /// A chunked body that breaks its framing: whatever the client gets
    /// (an error status or a cut connection), the backend never receives a
    /// complete request, nor the hidden one.
    BadBody,
    /// Bare LF line endings (RFC 9112 §2.2 lets a recipient accept them):
    /// refused with 400, or forwarded as one request rewritten with CRLF
    /// (the backend sees nothing it could parse differently).
    RefusedOrNormalized,
}

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) bytes: Vec<u8>,
    pub(crate) expect: Expect,
}

/// The smuggling inputs. Each targets `/rec/<name>` on the recording
/// backend's public route, and any request hidden in a body targets
/// `/rec/smuggled-<name>`, so that anything that got through is named.
pub(crate) fn smuggling_cases(host: &str) -> Vec<Case> {
    let post = |name: &str, headers: &str, body: &str| -> Vec<u8> {
        format!("POST /rec/{name} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n{body}").into_bytes()
    };
    let get = |name: &str, headers: &str| -> Vec<u8> {
        format!("GET /rec/{name} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n").into_bytes()
    };
    let hidden = |name: &str| format!("GET /rec/smuggled-{name} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    // CL.TE: a Content-Length parser reads the hidden request as body; a
    // Transfer-Encoding parser ends the body at the empty chunk and takes
    // the hidden request as the next one.
    let cl_te = |name: &'static str, te_line: &str| -> Case {
        let body = format!("0\r\n\r\n{}", hidden(name));
        let headers = format!("Content-Length: {}\r\n{te_line}\r\n", body.len());
        Case {
            name,
            bytes: post(name, &headers, &body),
            expect: Expect::TransferEncodingWins(Vec::new()),
        }
    };
    // TE.CL: the hidden request is chunk data; a Content-Length parser
    // would stop after `Content-Length: 4` bytes and take it as the next.
    let te_cl = |name: &'static str, te_line: &str, expect: Expect| -> Case {
        let inner = hidden(name);
        let body = format!("{:x}\r\n{inner}\r\n0\r\n\r\n", inner.len());
        let headers = format!("{te_line}\r\nContent-Length: 4\r\n");
        Case {
            name,
            bytes: post(name, &headers, &body),
            expect,
        }
    };
    let refused = |name: &'static str, bytes: Vec<u8>, status: u16| Case {
        name,
        bytes,
        expect: Expect::Refused(status),
    };
    let bad_body = |name: &'static str, body: &str| -> Case {
        let body = format!("{body}{}", hidden(name));
        Case {
            name,
            bytes: post(name, "Transfer-Encoding: chunked\r\n", &body),
            expect: Expect::BadBody,
        }
    };
    let oversized_value = "a".repeat(70 * 1024);
    let many_headers: String = (0..150).map(|i| format!("X-Many-{i}: {i}\r\n")).collect();
    vec![
        refused(
            "cl-conflict-two-lines",
            post("cl-conflict-two-lines", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            400,
        ),
        refused(
            "cl-conflict-list",
            post("cl-conflict-list", "Content-Length: 5, 6\r\n", "hello!"),
            400,
        ),
        refused("cl-plus", post("cl-plus", "Content-Length: +5\r\n", "hello"), 400),
        refused("cl-negative", post("cl-negative", "Content-Length: -1\r\n", "hello"), 400),
        refused("cl-hex", post("cl-hex", "Content-Length: 0x5\r\n", "hello"), 400),
        refused("cl-space-inside", post("cl-space-inside", "Content-Length: 1 0\r\n", "hello"), 400),
        cl_te("cl-te", "Transfer-Encoding: chunked"),
        te_cl("te-cl", "Transfer-Encoding: chunked", Expect::TransferEncodingWins(hidden("te-cl").into_bytes())),
        cl_te("cl-te-trailing-space", "Transfer-Encoding: chunked "),
        cl_te("cl-te-tab", "Transfer-Encoding:\tchunked\t"),
        cl_te("cl-te-upper-case", "Transfer-Encoding: CHUNKED"),
        te_cl("te-chunked-identity", "Transfer-Encoding: chunked, identity", Expect::Refused(400)),
        te_cl("te-xchunked", "Transfer-Encoding: xchunked", Expect::Refused(400)),
        te_cl("te-identity", "Transfer-Encoding: identity", Expect::Refused(400)),
        te_cl(
            "te-two-lines-identity-last",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
            Expect::Refused(400),
        ),
        te_cl("te-space-before-colon", "Transfer-Encoding : chunked", Expect::Refused(400)),
        te_cl("te-vertical-tab", "Transfer-Encoding: chunked\x0b", Expect::Refused(400)),
        te_cl("te-obs-fold", "Transfer-Encoding: x\r\n chunked", Expect::Refused(400)),
        refused("obs-fold-space", get("obs-fold-space", "X-Folded: a\r\n b\r\n"), 400),
        refused("obs-fold-tab", get("obs-fold-tab", "X-Folded: a\r\n\tb\r\n"), 400),
        refused("no-colon", get("no-colon", "X-No-Colon\r\n"), 400),
        refused("nul-in-value", get("nul-in-value", "X-Nul: a\0b\r\n"), 400),
        refused("cr-in-value", get("cr-in-value", "X-Cr: a\rb\r\n"), 400),
        // Past max_request_header_bytes (64 KiB): hyper answers 431
        // (Request Header Fields Too Large), not 400.
        refused(
            "header-too-large",
            get("header-too-large", &format!("X-Big: {oversized_value}\r\n")),
            431,
        ),
        refused(
            "request-line-too-large",
            format!("GET /rec/request-line-too-large?{oversized_value} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
            431,
        ),
        // More than hyper's 100 header lines: 431 too.
        refused("too-many-headers", get("too-many-headers", &many_headers), 431),
        refused(
            "http10-transfer-encoding",
            format!("POST /rec/http10-transfer-encoding HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").into_bytes(),
            400,
        ),
        // Malformed chunked bodies: found only once the head has gone to
        // the backend (the gateway streams bodies).
        bad_body("chunk-size-not-hex", "zz\r\nhello\r\n0\r\n\r\n"),
        bad_body("chunk-size-overflow", "10000000000000005\r\nhello\r\n0\r\n\r\n"),
        bad_body("chunk-size-bare-lf", "5\nhello\r\n0\r\n\r\n"),
        bad_body("chunk-data-too-long", "5\r\nhello, world\r\n0\r\n\r\n"),
        Case {
            name: "bare-lf",
            bytes: format!("GET /rec/bare-lf HTTP/1.1\nHost: {host}\nX-Lf: 1\n\n").into_bytes(),
            expect: Expect::RefusedOrNormalized,
        },
    ]
}

/// Fails with the message when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// Sends one smuggling input on a fresh connection and checks what came
/// back, what the recording backend saw, and that the connection ended.
pub(crate) fn smuggling_case(
    port: u16,
    rec: &RecordingBackend,
    case: &Case,
) -> Result<String, String> {
    let before = rec.requests().len();
    let mut client = RawClient::connect(port);
    // A server may answer and close before a large request is all
    // written: the write error is not the result, the answer is.
    let _ = client.send(&case.bytes);
    let answer = client.response(false);
    let (end, after) = client.wait_end(Duration::from_secs(5));
    let new: Vec<_> = rec.requests().split_off(before);
    let name = case.name;
    // A refused request, and one framed by both Content-Length and
    // Transfer-Encoding, ends the connection (RFC 9112 §6.1, §6.3); a
    // bare-LF request that was taken may leave it open.
    let forwarded_bare_lf = matches!(case.expect, Expect::RefusedOrNormalized)
        && answer.as_ref().is_ok_and(|a| a.status == 200);
    ensure!(
        end != End::StillOpen || forwarded_bare_lf,
        "the connection stays open"
    );
    let answer = match answer {
        Ok(answer) => answer,
        Err(cut) => {
            ensure!(new.is_empty(), "no answer, and the backend saw {new:?}");
            if matches!(case.expect, Expect::BadBody) {
                return Ok(format!("cut ({}), backend saw nothing", cut.why));
            }
            return Err(format!(
                "no answer: the connection ended ({}) after {:?}",
                cut.why,
                String::from_utf8_lossy(&cut.raw)
            ));
        }
    };
    ensure!(
        after.is_empty(),
        "more came after the answer: {:?}",
        String::from_utf8_lossy(&after)
    );
    match &case.expect {
        Expect::Refused(status) => {
            ensure!(new.is_empty(), "reached the backend: {new:?}");
            ensure!(
                answer.status == *status,
                "answered {} (expected {status})",
                answer.status
            );
        }
        Expect::TransferEncodingWins(body) if answer.status != 400 => {
            ensure!(answer.status == 200, "answered {answer:?}");
            ensure!(new.len() == 1, "the backend saw {new:?}");
            let seen = &new[0];
            ensure!(
                seen.line == format!("POST /rec/{name} HTTP/1.1"),
                "{seen:?}"
            );
            ensure!(
                seen.header("content-length").is_empty(),
                "Content-Length forwarded: {seen:?}"
            );
            ensure!(seen.header("transfer-encoding").len() == 1, "{seen:?}");
            ensure!(&seen.body == body, "the backend's body differs: {seen:?}");
            ensure!(seen.anomaly.is_none(), "{seen:?}");
        }
        Expect::TransferEncodingWins(_) | Expect::RefusedOrNormalized if answer.status == 400 => {
            ensure!(new.is_empty(), "refused yet forwarded: {new:?}");
        }
        Expect::TransferEncodingWins(_) => unreachable!("matched above"),
        Expect::BadBody => {
            ensure!(new.is_empty(), "the backend saw {new:?}");
            ensure!(answer.status >= 400, "answered {answer:?}");
        }
        Expect::RefusedOrNormalized => {
            ensure!(answer.status == 200, "answered {answer:?}");
            ensure!(new.len() == 1, "the backend saw {new:?}");
            ensure!(
                new[0].line == format!("GET /rec/{name} HTTP/1.1"),
                "{:?}",
                new[0]
            );
            ensure!(new[0].header("x-lf") == ["1"], "{:?}", new[0]);
            ensure!(new[0].anomaly.is_none(), "{:?}", new[0]);
        }
    }
    Ok(format!(
        "{} ({} body bytes), connection {end:?}, backend saw {:?}",
        answer.status,
        answer.body.len(),
        new.iter().map(|r| &r.line).collect::<Vec<_>>()
    ))
}
