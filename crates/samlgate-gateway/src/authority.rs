//! The host a request is for: an absolute-form target
//! (`GET http://a/ HTTP/1.1`) and its `Host` header must name the same
//! one, or the request is refused (400, reason [`REASON`]).
//!
//! RFC 9112 §3.2.2 tells a server to ignore `Host` when the target is in
//! absolute form, and a client to send both equal. When they differ, the
//! gateway could route on one while the backend (which gets the `Host`
//! header, or a rebuilt target) serves the other: a host-based route rule
//! (`host = "admin.example.com"`) would be bypassed. Both are compared as
//! hosts: ASCII case ignored, one trailing dot ignored (`a.example.` is
//! `a.example` in DNS, and nginx matches it so), an absent or empty port
//! taken as the scheme's default (80 for http, 443 for https).

use http::header::HOST;
use http::{HeaderMap, Uri};

/// The reason code of a refused target (HTTP 400).
pub const REASON: &str = "host_mismatch";

/// Why the target's host and the `Host` header do not agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// An absolute-form target whose scheme is not http or https.
    #[error("absolute-form target with a scheme other than http or https")]
    Scheme,
    /// `user@host` in the target: never sent by browsers, and a classic
    /// way to make two parsers disagree on the host.
    #[error("user information in the request target")]
    UserInfo,
    /// The target's authority is not `host[:port]`.
    #[error("malformed authority in the request target")]
    BadAuthority,
    /// The `Host` header is not `host[:port]`.
    #[error("malformed Host header")]
    BadHost,
    /// More than one `Host` header (RFC 9112 §3.2: 400).
    #[error("more than one Host header")]
    SeveralHosts,
    /// Both are well formed and name different hosts or ports.
    #[error("the request target and the Host header name different hosts")]
    Mismatch,
}

impl HostError {
    /// The stable reason code: [`REASON`].
    pub fn reason(&self) -> &'static str {
        REASON
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        400
    }
}

/// Checks a request's target against its `Host` header(s). An
/// origin-form target (no authority) passes: there is nothing to compare.
/// An absolute-form target without `Host` passes too (HTTP/2 carries the
/// host only there): route on the target's host then.
pub fn check_target_host(uri: &Uri, headers: &HeaderMap) -> Result<(), HostError> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::SeveralHosts);
    }
    check_absolute_form(
        uri.scheme_str().unwrap_or_default(),
        authority.as_str(),
        host.map(|h| h.as_bytes()),
    )
}

/// The same on parts: the absolute-form target's scheme and authority,
/// and the single `Host` header value, if any.
pub fn check_absolute_form(
    scheme: &str,
    authority: &str,
    host_header: Option<&[u8]>,
) -> Result<(), HostError> {
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        return Err(HostError::Scheme);
    };
    if authority.contains('@') {
        return Err(HostError::UserInfo);
    }
    let target = HostPort::parse(authority, default_port).ok_or(HostError::BadAuthority)?;
    let Some(header) = host_header else {
        return Ok(());
    };
    let header = std::str::from_utf8(header)
        .ok()
        .and_then(|h| HostPort::parse(h, default_port))
        .ok_or(HostError::BadHost)?;
    if target.host.eq_ignore_ascii_case(header.host) && target.port == header.port {
        Ok(())
    } else {
        Err(HostError::Mismatch)
    }
}

/// The host of a `Host` value or authority, for matching a route's
/// `host`: without the port and one trailing dot; None when malformed.
/// Compare it ignoring ASCII case.
pub fn host_for_routing(value: &str) -> Option<&str> {
    HostPort::parse(value, 0).map(|h| h.host)
}

/// `host[:port]`, checked.
struct HostPort<'a> {
    /// Without a trailing dot; `[...]` for IPv6.
    host: &'a str,
    port: u16,
}

impl<'a> HostPort<'a> {
    fn parse(value: &'a str, default_port: u16) -> Option<Self> {
        let (host, port) = if value.starts_with('[') {
            let end = value.find(']')? + 1;
            let (host, rest) = value.split_at_checked(end)?;
            let inner = host.get(1..host.len() - 1)?;
            let ipv6 = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
            if inner.is_empty() || !inner.bytes().all(ipv6) {
                return None;
            }
            match rest {
                "" => (host, None),
                _ => (host, Some(rest.strip_prefix(':')?)),
            }
        } else {
            let (host, port) = match value.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (value, None),
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            let name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
            if host.is_empty() || !host.bytes().all(name) || host.contains("..") {
                return None;
            }
            (host, port)
        };
        let port = match port {
            None | Some("") => default_port,
            Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        Some(HostPort { host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scheme: &str, authority: &str, host: Option<&str>) -> Result<(), HostError> {
        check_absolute_form(scheme, authority, host.map(str::as_bytes))
    }

    #[test]
    fn same_host_in_any_spelling_passes() {
        for (scheme, authority, host) in [
            ("http", "a.example", "a.example"),
            ("http", "A.Example", "a.EXAMPLE"),
            ("http", "a.example:80", "a.example"),
            ("http", "a.example", "a.example:80"),
            ("http", "a.example:", "a.example:80"),
            ("HTTP", "a.example.", "a.example"),
            ("https", "a.example", "a.example:443"),
            ("https", "a.example:8443", "A.example:8443"),
            ("http", "127.0.0.1:8080", "127.0.0.1:8080"),
            ("http", "[::1]:8080", "[::1]:8080"),
            ("https", "[::1]", "[::1]:443"),
        ] {
            assert_eq!(
                check(scheme, authority, Some(host)),
                Ok(()),
                "{authority} / {host}"
            );
        }
        assert_eq!(
            check("http", "a.example", None),
            Ok(()),
            "no Host: the target decides"
        );
    }

    #[test]
    fn different_hosts_or_ports_are_refused() {
        for (scheme, authority, host) in [
            ("http", "a.example", "b.example"),
            ("http", "admin.example", "public.example"),
            ("http", "a.example:8080", "a.example"),
            ("https", "a.example", "a.example:80"),
            ("http", "a.example", "a.example:443"),
            ("http", "a.example.evil", "a.example"),
            ("http", "[::1]:80", "[::2]:80"),
        ] {
            let err = check(scheme, authority, Some(host)).unwrap_err();
            assert_eq!(err, HostError::Mismatch, "{authority} / {host}");
            assert_eq!((err.reason(), err.status()), ("host_mismatch", 400));
        }
    }

    #[test]
    fn malformed_parts_are_refused() {
        assert_eq!(check("ftp", "a", Some("a")), Err(HostError::Scheme));
        assert_eq!(check("", "a", Some("a")), Err(HostError::Scheme));
        assert_eq!(check("http", "b@a", Some("a")), Err(HostError::UserInfo));
        assert_eq!(
            check("http", "a.example@b", Some("b")),
            Err(HostError::UserInfo)
        );
        for bad in [
            "",
            ":80",
            "a:b",
            "a:99999",
            "a:123456",
            "a b",
            "a/b",
            "[::1",
            "[]",
            "[x]",
            "a..b",
            "a:80:80",
            "é.example",
        ] {
            assert_eq!(
                check("http", bad, Some("a")),
                Err(HostError::BadAuthority),
                "{bad:?}"
            );
            assert_eq!(
                check("http", "a", Some(bad)),
                Err(HostError::BadHost),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_absolute_form("http", "a", Some(b"a\xff")),
            Err(HostError::BadHost)
        );
    }

    #[test]
    fn request_level_check() {
        let mut headers = HeaderMap::new();
        let origin: Uri = "/admin/".parse().unwrap();
        assert_eq!(check_target_host(&origin, &headers), Ok(()));
        headers.append(HOST, "b.example".parse().unwrap());
        assert_eq!(check_target_host(&origin, &headers), Ok(()), "origin-form");
        let absolute: Uri = "http://a.example/admin/".parse().unwrap();
        assert_eq!(
            check_target_host(&absolute, &headers),
            Err(HostError::Mismatch)
        );
        let same: Uri = "http://B.example:80/admin/".parse().unwrap();
        assert_eq!(check_target_host(&same, &headers), Ok(()));
        headers.append(HOST, "b.example".parse().unwrap());
        assert_eq!(
            check_target_host(&same, &headers),
            Err(HostError::SeveralHosts)
        );
    }

    #[test]
    fn routing_host_drops_port_and_trailing_dot() {
        assert_eq!(
            host_for_routing("Admin.Example.:8443"),
            Some("Admin.Example")
        );
        assert_eq!(host_for_routing("a.example"), Some("a.example"));
        assert_eq!(host_for_routing("[::1]:80"), Some("[::1]"));
        assert_eq!(host_for_routing("a b"), None);
        assert_eq!(host_for_routing(""), None);
    }
}
