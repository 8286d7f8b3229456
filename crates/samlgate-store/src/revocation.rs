//! Revocations: what the gateway asks for, and the compact record that
//! travels through Redis (feed events and the resync set).

use crate::keys::{session_index_digest, KeySpace, SessionId, SubjectKey};

/// One revocation. Every variant carries `expires_ms`: when the longest
/// session it can affect has expired anyway, so the record may be dropped
/// (in Redis and in every node's view).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// One session (a user's sign-out, an admin's revocation by handle).
    Session {
        /// The session's subject (its keys live under the subject's tag).
        subject: SubjectKey,
        /// The session's random ID.
        session_id: SessionId,
        /// When the session would have expired.
        expires_ms: i64,
    },
    /// Every session of `subject` created from the IdP session
    /// `session_index` by an assertion issued before `at_ms` (an IdP
    /// LogoutRequest with a SessionIndex). Also a tombstone: an assertion
    /// with this SessionIndex issued before `at_ms` is refused at the ACS
    /// (SAML core §3.7.3.1).
    SessionIndex {
        /// The subject.
        subject: SubjectKey,
        /// The SessionIndex as the IdP sent it (hashed before use).
        session_index: String,
        /// The logout's time (unix ms).
        at_ms: i64,
        /// When the last affected session would have expired.
        expires_ms: i64,
    },
    /// Every session of `subject` whose assertion was issued before
    /// `not_before_ms`, and every such assertion still on its way: one key
    /// per subject, no enumeration of sessions (a LogoutRequest without
    /// SessionIndex, an admin's "sign this user out everywhere").
    Subject {
        /// The subject.
        subject: SubjectKey,
        /// Sessions and assertions issued before this (unix ms) are revoked.
        not_before_ms: i64,
        /// When the last affected session would have expired.
        expires_ms: i64,
    },
}

impl Revocation {
    /// When the record may be forgotten.
    pub fn expires_ms(&self) -> i64 {
        match self {
            Revocation::Session { expires_ms, .. }
            | Revocation::SessionIndex { expires_ms, .. }
            | Revocation::Subject { expires_ms, .. } => *expires_ms,
        }
    }

    /// The subject it affects.
    pub fn subject(&self) -> &SubjectKey {
        match self {
            Revocation::Session { subject, .. }
            | Revocation::SessionIndex { subject, .. }
            | Revocation::Subject { subject, .. } => subject,
        }
    }

    pub(crate) fn record(&self) -> Record {
        match self {
            Revocation::Session {
                subject,
                session_id,
                expires_ms,
            } => Record {
                subject: *subject,
                what: What::Session(*session_id),
                expires_ms: *expires_ms,
            },
            Revocation::SessionIndex {
                subject,
                session_index,
                at_ms,
                expires_ms,
            } => Record {
                subject: *subject,
                what: What::SessionIndex(session_index_digest(session_index), *at_ms),
                expires_ms: *expires_ms,
            },
            Revocation::Subject {
                subject,
                not_before_ms,
                expires_ms,
            } => Record {
                subject: *subject,
                what: What::NotBefore(*not_before_ms),
                expires_ms: *expires_ms,
            },
        }
    }
}

/// What a record revokes, with SessionIndex already hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum What {
    Session(SessionId),
    SessionIndex([u8; 32], i64),
    NotBefore(i64),
}

/// A revocation in the form the view and Redis hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) subject: SubjectKey,
    pub(crate) what: What,
    pub(crate) expires_ms: i64,
}

/// The longest encoded record: bounds what the feed parser reads.
const MAX_ENCODED: usize = 160;

impl Record {
    /// `1:<kind>:<subject>:<item>:<value>:<expires>`: version, kind (`sid`,
    /// `si`, `nb`), base64url subject and item (`-` for none), decimal ms.
    /// Only base64url and digits between the colons, so it splits
    /// unambiguously.
    pub(crate) fn encode(&self) -> String {
        let s = self.subject.to_b64url();
        let e = self.expires_ms;
        match self.what {
            What::Session(sid) => format!("1:sid:{s}:{}:0:{e}", sid.to_b64url()),
            What::SessionIndex(si, at) => {
                let si = SubjectKey::from_bytes(si).to_b64url();
                format!("1:si:{s}:{si}:{at}:{e}")
            }
            What::NotBefore(nb) => format!("1:nb:{s}:-:{nb}:{e}"),
        }
    }

    /// Parses [`Record::encode`]'s form. The feed is written only by
    /// samlgate, but whoever can write to Redis can write junk there: junk
    /// is `None`, never a panic.
    pub(crate) fn decode(text: &str) -> Option<Record> {
        if text.len() > MAX_ENCODED {
            return None;
        }
        let mut it = text.split(':');
        let (v, kind, s, item, value, exp) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        if v != "1" || it.next().is_some() {
            return None;
        }
        let subject = SubjectKey::from_b64url(s)?;
        let value: i64 = value.parse().ok()?;
        let expires_ms: i64 = exp.parse().ok()?;
        let what = match kind {
            "sid" => What::Session(SessionId::from_b64url(item)?),
            "si" => What::SessionIndex(*SubjectKey::from_b64url(item)?.as_bytes(), value),
            "nb" if item == "-" => What::NotBefore(value),
            _ => return None,
        };
        Some(Record {
            subject,
            what,
            expires_ms,
        })
    }

    /// The subject-slot key and the value to keep there (the larger of the
    /// stored and the new one for timestamps).
    pub(crate) fn key_and_value(&self, keys: &KeySpace) -> (String, i64) {
        match self.what {
            What::Session(sid) => (keys.session(&self.subject, &sid), 1),
            What::SessionIndex(si, at) => (keys.session_index(&self.subject, &si), at),
            What::NotBefore(nb) => (keys.not_before(&self.subject), nb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> SubjectKey {
        SubjectKey::new("idp", None, None, None, "alice")
    }

    #[test]
    fn records_round_trip() {
        for r in [
            Revocation::Session {
                subject: subject(),
                session_id: SessionId::from_bytes([9; 16]),
                expires_ms: 5,
            },
            Revocation::SessionIndex {
                subject: subject(),
                session_index: "_idx\r\n{}*".into(),
                at_ms: -3,
                expires_ms: 1_700_000_000_000,
            },
            Revocation::Subject {
                subject: subject(),
                not_before_ms: 42,
                expires_ms: 43,
            },
        ] {
            let rec = r.record();
            let text = rec.encode();
            assert!(text.len() <= MAX_ENCODED);
            assert_eq!(Record::decode(&text), Some(rec), "{text}");
        }
    }

    #[test]
    fn junk_is_refused() {
        let good = Revocation::Subject {
            subject: subject(),
            not_before_ms: 1,
            expires_ms: 2,
        }
        .record()
        .encode();
        for bad in [
            String::new(),
            "1".into(),
            good.replacen("1:", "2:", 1),
            format!("{good}:9"),
            good.replace(":-:", ":x:"),
            good.replace(":nb:", ":zz:"),
            good.replace(":1:2", ":one:2"),
            "x".repeat(10_000),
        ] {
            assert_eq!(Record::decode(&bad), None, "{bad}");
        }
    }
}
