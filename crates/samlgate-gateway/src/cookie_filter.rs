//! The gateway's cookies stay the gateway's: taken out of the `Cookie`
//! header sent upstream, and refused in a backend's `Set-Cookie`.
//!
//! The sealed session is a bearer token: a backend that logs its request
//! headers, or a compromised one, must not get it. And a backend must not
//! be able to set it: one that echoes a cookie, or is made to, would plant
//! one user's session in another browser (session fixation through the
//! backend). A route can opt out of the first for a backend that really
//! reads the cookie (`pass_gateway_cookies`); never of the second.
//!
//! A gateway cookie is any name that is, ASCII case aside, the configured
//! name without its `__Host-` / `__Secure-` prefix, with any of those
//! prefixes or none, alone or followed by `_` and anything: the session
//! chunks (`name`, `name_1`, ...), the login states (`name_login_<token>`)
//! and whatever the gateway names after them later. Case and prefixes are
//! ignored because backends and browsers differ on both (ASP.NET reads
//! cookies case-insensitively; browsers check the prefixes
//! case-insensitively since RFC 6265bis). A backend cookie named, say,
//! `samlgate_session_prefs` is therefore removed too.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// The gateway's cookie names, as one matcher.
#[derive(Debug, Clone)]
pub struct GatewayCookies {
    /// The configured name without its `__Host-` / `__Secure-` prefix.
    base: String,
}

/// What to do with a request's `Cookie` headers before it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCookie {
    /// No gateway cookie: leave the headers as they are (nothing was
    /// allocated).
    Unchanged,
    /// Only gateway cookies: remove every `Cookie` header.
    Remove,
    /// Replace every `Cookie` header with this one: the other cookies, in
    /// order, each byte for byte, joined with `; ` (RFC 6265 §5.4).
    Replace(HeaderValue),
}

const PREFIXES: [&[u8]; 2] = [b"__Host-", b"__Secure-"];

fn strip_prefix_ignore_case<'a>(name: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| name.get(prefix.len()..))
        .flatten()
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// The name of a `name=value` pair (the whole text when there is no `=`:
/// browsers keep such a cookie with an empty name and send the text
/// back alone, which some servers read as a name).
fn pair_name(pair: &[u8]) -> &[u8] {
    let name = match memchr::memchr(b'=', pair) {
        Some(i) => pair.get(..i).unwrap_or_default(),
        None => pair,
    };
    trim(name)
}

/// The `;`-separated pieces of a header value. memchr finds the
/// separators (vectorized): this runs on every authenticated request, over
/// a session cookie of hundreds of bytes, where a byte-at-a-time split was
/// most of the filter's cost.
fn pieces(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b';', current) {
            Some(i) => {
                rest = current.get(i + 1..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

impl GatewayCookies {
    /// The matcher for the configured session cookie name.
    pub fn new(cookie_name: &str) -> Self {
        let name = cookie_name.as_bytes();
        let base = PREFIXES
            .iter()
            .find_map(|p| strip_prefix_ignore_case(name, p))
            .filter(|base| !base.is_empty())
            .unwrap_or(name);
        GatewayCookies {
            base: String::from_utf8_lossy(base).into_owned(),
        }
    }

    /// True when `name` is one of the gateway's cookies (see the module
    /// documentation for what counts).
    pub fn is_gateway_name(&self, name: &[u8]) -> bool {
        let is_base = |name: &[u8]| match strip_prefix_ignore_case(name, self.base.as_bytes()) {
            Some(rest) => rest.is_empty() || rest.first() == Some(&b'_'),
            None => false,
        };
        is_base(name)
            || PREFIXES
                .iter()
                .filter_map(|p| strip_prefix_ignore_case(name, p))
                .any(is_base)
    }

    /// The `Cookie` header for upstream, from the request's headers.
    pub fn upstream_cookie(&self, headers: &HeaderMap) -> UpstreamCookie {
        self.filter(|| headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes))
    }

    /// The same from raw `Cookie` header values, in order.
    pub fn upstream_cookie_values(&self, values: &[&[u8]]) -> UpstreamCookie {
        self.filter(|| values.iter().copied())
    }

    /// Applies [`Self::upstream_cookie`] to `headers`.
    pub fn strip_request(&self, headers: &mut HeaderMap) {
        match self.upstream_cookie(headers) {
            UpstreamCookie::Unchanged => {}
            UpstreamCookie::Remove => {
                headers.remove(COOKIE);
            }
            UpstreamCookie::Replace(value) => {
                headers.insert(COOKIE, value);
            }
        }
    }

    /// True when a backend's `Set-Cookie` value would set a gateway
    /// cookie: drop that header. Also looks after each comma, for clients
    /// and middleboxes that split a header on commas.
    pub fn is_gateway_set_cookie(&self, value: &[u8]) -> bool {
        let first = value.split(|&b| b == b';').next().unwrap_or_default();
        self.is_gateway_name(pair_name(first))
            || value.split(|&b| b == b',').skip(1).any(|after| {
                let pair = after.split(|&b| b == b';').next().unwrap_or_default();
                self.is_gateway_name(pair_name(pair))
            })
    }

    /// Drops every `Set-Cookie` of a backend response that names a
    /// gateway cookie, keeping the others in order. Allocates nothing
    /// when there is none to drop.
    pub fn strip_response(&self, headers: &mut HeaderMap) {
        let set_cookies = || headers.get_all(SET_COOKIE).iter();
        if !set_cookies().any(|v| self.is_gateway_set_cookie(v.as_bytes())) {
            return;
        }
        let kept: Vec<HeaderValue> = set_cookies()
            .filter(|v| !self.is_gateway_set_cookie(v.as_bytes()))
            .cloned()
            .collect();
        headers.remove(SET_COOKIE);
        for value in kept {
            headers.append(SET_COOKIE, value);
        }
    }

    /// Scans without allocating; builds a new header only when a gateway
    /// cookie is there. `values` gives the header values afresh each call.
    fn filter<'h, I>(&self, values: impl Fn() -> I) -> UpstreamCookie
    where
        I: Iterator<Item = &'h [u8]>,
    {
        let pairs = || {
            values()
                .flat_map(pieces)
                .map(trim)
                .filter(|p| !p.is_empty())
        };
        if !pairs().any(|p| self.is_gateway_name(pair_name(p))) {
            return UpstreamCookie::Unchanged;
        }
        let mut kept: Vec<u8> = Vec::new();
        for pair in pairs().filter(|p| !self.is_gateway_name(pair_name(p))) {
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
        if kept.is_empty() {
            return UpstreamCookie::Remove;
        }
        // Pieces of valid header values joined by "; " are a valid value;
        // should that ever fail, send no cookie rather than the session.
        HeaderValue::from_bytes(&kept).map_or(UpstreamCookie::Remove, UpstreamCookie::Replace)
    }
}

#[cfg(test)]
mod tests;
