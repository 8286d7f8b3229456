//! Identity headers: what is stripped from every client request, and what
//! is injected from a verified session.
//!
//! Backends fold header names: CGI, PHP and many frameworks turn
//! `X-Remote-User`, `x_remote_user` and `X-REMOTE_USER` into the same
//! `HTTP_X_REMOTE_USER`. A client must not be able to slip a spelling past
//! the strip list, so names are compared after folding case and `_` → `-`.

use std::collections::HashSet;

use crate::config::{HeadersConfig, DEFAULT_STRIPPED_HEADERS};
use crate::session::Session;

/// Hop-by-hop headers (RFC 9110 §7.6.1) a proxy does not forward, besides
/// those named by `Connection`. `Transfer-Encoding` and `Upgrade` are left
/// to pingora, which owns message framing.
pub const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
];

/// The largest injected header value: 300 Entra group GUIDs are ~11 KB;
/// backends commonly refuse headers past 16-64 KB with a bare 431.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

/// Header names that an identity mapping must never write: they carry the
/// request's framing, routing or the client's own credentials.
pub const RESERVED: [&str; 12] = [
    "host",
    "cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "authorization",
    "x-forwarded-for",
    "x-request-id",
];

/// A value of a multi-valued attribute, with `%` and the separator's
/// characters percent-encoded, so that a value such as `admins;x` cannot
/// forge an extra `admins` entry at a backend that splits on `;`
/// (ATTACKS §19c). Values without them pass unchanged.
pub fn escape_separator(value: &str, separator: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value, separator);
    out
}

fn push_escaped(out: &mut String, value: &str, separator: &str) {
    if !value.contains('%') && !separator.chars().any(|c| value.contains(c)) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        if c == '%' || separator.contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('%');
                for nibble in [b >> 4, b & 15] {
                    let digit = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
                    out.push(digit.to_ascii_uppercase());
                }
            }
        } else {
            out.push(c);
        }
    }
}

/// `name` folded equals `folded` (already folded).
fn folded_eq(name: &str, folded: &str) -> bool {
    name.len() == folded.len()
        && name.bytes().zip(folded.bytes()).all(|(a, b)| {
            let a = if a == b'_' {
                b'-'
            } else {
                a.to_ascii_lowercase()
            };
            a == b
        })
}

/// The folded form of a header name: lower case, `_` as `-`.
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Where an injected header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The NameID.
    NameId,
    /// The NameID Format.
    NameIdFormat,
    /// The configured IdP name.
    Idp,
    /// The SessionIndex.
    SessionIndex,
    /// An attribute, values joined by the separator.
    Attribute(String),
}

/// The compiled header policy.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    strip_folded: Vec<String>,
    inject: Vec<(http::HeaderName, Source)>,
    separator: String,
}

/// A verified value that cannot be put in a header (CR, LF, NUL, or a
/// byte HTTP refuses): the request is refused, never half-injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the value for header {header} contains a character that cannot be sent in a header")]
pub struct InvalidValue {
    /// The header concerned.
    pub header: String,
}

impl HeaderPolicy {
    /// Compiles the configuration (already validated).
    pub fn new(config: &HeadersConfig) -> Result<Self, String> {
        let mut strip_folded: HashSet<String> =
            DEFAULT_STRIPPED_HEADERS.iter().map(|h| fold(h)).collect();
        strip_folded.extend(config.strip.iter().map(|h| fold(h)));
        let mut inject = Vec::new();
        for m in &config.inject {
            strip_folded.insert(fold(&m.name));
            let name = http::HeaderName::from_bytes(m.name.as_bytes())
                .map_err(|e| format!("header {}: {e}", m.name))?;
            let source = match m.from.as_str() {
                "name_id" => Source::NameId,
                "name_id_format" => Source::NameIdFormat,
                "idp" => Source::Idp,
                "session_index" => Source::SessionIndex,
                other => match other.strip_prefix("attribute:") {
                    Some(a) => Source::Attribute(a.to_owned()),
                    None => return Err(format!("header {}: unknown source {other}", m.name)),
                },
            };
            inject.push((name, source));
        }
        let mut strip_folded: Vec<String> = strip_folded.into_iter().collect();
        strip_folded.sort();
        Ok(HeaderPolicy {
            strip_folded,
            inject,
            separator: config.separator.clone(),
        })
    }

    /// True when a client-sent header of this name must be removed.
    /// Compared folded without allocating: this runs for every header of
    /// every request.
    pub fn must_strip(&self, name: &str) -> bool {
        self.strip_folded.iter().any(|s| folded_eq(name, s))
    }

    /// The client header names (as sent) to remove from `names`.
    pub fn to_strip<'n>(&self, names: impl Iterator<Item = &'n str>) -> Vec<String> {
        names
            .filter(|n| self.must_strip(n))
            .map(str::to_owned)
            .collect()
    }

    /// The headers to inject for `session`. Absent values inject nothing
    /// (the header stays stripped, so the backend never sees a client's).
    pub fn values(
        &self,
        session: &Session,
    ) -> Result<Vec<(http::HeaderName, String)>, InvalidValue> {
        let mut out = Vec::with_capacity(self.inject.len());
        for (name, source) in &self.inject {
            let value = match source {
                Source::NameId => Some(session.name_id.clone()),
                Source::NameIdFormat => session.name_id_format.clone(),
                Source::Idp => Some(session.idp.clone()),
                Source::SessionIndex => session.session_index.clone(),
                Source::Attribute(a) => session.attribute(a).map(|values| {
                    let mut joined =
                        String::with_capacity(values.iter().map(|v| v.len() + 1).sum());
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            joined.push_str(&self.separator);
                        }
                        push_escaped(&mut joined, v, &self.separator);
                    }
                    joined
                }),
            };
            let Some(value) = value else { continue };
            if value.len() > MAX_VALUE_BYTES {
                return Err(InvalidValue {
                    header: name.to_string(),
                });
            }
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            {
                return Err(InvalidValue {
                    header: name.to_string(),
                });
            }
            out.push((name.clone(), value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderMapping;

    fn policy() -> HeaderPolicy {
        HeaderPolicy::new(&HeadersConfig {
            separator: ";".into(),
            strip: vec!["X-Secret-Role".into()],
            inject: vec![
                HeaderMapping {
                    name: "X-Remote-User".into(),
                    from: "name_id".into(),
                },
                HeaderMapping {
                    name: "X-Groups".into(),
                    from: "attribute:groups".into(),
                },
            ],
        })
        .unwrap()
    }

    fn session(groups: &[&str]) -> Session {
        Session {
            idp: "corp".into(),
            issuer: "https://idp".into(),
            name_id: "alice".into(),
            name_id_format: None,
            session_index: None,
            attributes: vec![(
                "groups".into(),
                groups.iter().map(|g| (*g).into()).collect(),
            )],
            issued: 0,
            expires: 10,
            name_qualifier: None,
            sp_name_qualifier: None,
            session_id: String::new(),
            assertion_issued_ms: 0,
        }
    }

    #[test]
    fn every_spelling_is_stripped() {
        let p = policy();
        for name in [
            "X-Remote-User",
            "x-remote-user",
            "X_REMOTE_USER",
            "x_Remote-user",
            "Remote-User",
            "REMOTE_USER",
            "X-Forwarded-User",
            "x_forwarded_user",
            "X-Groups",
            "x_groups",
            "x-secret-role",
        ] {
            assert!(p.must_strip(name), "{name}");
        }
        for name in ["X-Remote-Users", "Cookie", "Accept", "X-Remote"] {
            assert!(!p.must_strip(name), "{name}");
        }
    }

    #[test]
    fn values_are_joined_and_control_characters_refused() {
        let p = policy();
        let v = p.values(&session(&["admins", "staff"])).unwrap();
        assert_eq!(v[0].1, "alice");
        assert_eq!(v[1].1, "admins;staff");
        for bad in ["a\r\nX-Injected: 1", "a\nb", "a\0b", "a\x7fb"] {
            assert!(p.values(&session(&[bad])).is_err(), "{bad:?}");
        }
        assert!(p.values(&session(&["Zoë", "tab\there"])).is_ok());
    }

    #[test]
    fn a_value_cannot_forge_another_value() {
        let p = policy();
        let v = p.values(&session(&["users", "admins;x", "100%"])).unwrap();
        assert_eq!(v[1].1, "users;admins%3Bx;100%25");
        assert_eq!(escape_separator("a, b", ", "), "a%2C%20b");
        let huge = "g".repeat(MAX_VALUE_BYTES + 1);
        assert!(p.values(&session(&[&huge])).is_err());
    }
}
