//! Identifiers the store keys on, and the Redis key layout built from them.
//!
//! Every piece of attacker-reachable text (NameID, assertion ID, issuer,
//! SessionIndex) enters a key only as a SHA-256 digest in unpadded base64url
//! (43 characters of `A-Z a-z 0-9 - _`), so a key never holds raw input, its
//! length is bounded by the prefix, and no input can add a `{` or `}` that
//! would move the Redis Cluster hash tag.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::sha::Sha256;

use crate::StoreError;

/// SHA-256 of `parts`, each followed by a 0 byte. XML text cannot contain
/// U+0000, so distinct tuples of SAML values never hash the same input.
pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update(&[0]);
    }
    h.finish()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn from_b64<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Exact length first: decoding never allocates for oversized input.
    if text.len() != (N * 4).div_ceil(3) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The identity of one SAML subject as one IdP names it: SHA-256 of (IdP
/// entity ID, 0, NameID Format, 0, NameQualifier, 0, SPNameQualifier, 0,
/// NameID, 0), an absent value hashing as the empty string.
///
/// This is the "strongly matches" rule of SAML core §3.7.3.1: the same
/// NameID value from another IdP, or with another Format or qualifier, is
/// another subject. Every key of one subject shares the Redis hash tag
/// `{s:<SubjectKey in base64url>}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectKey([u8; 32]);

impl SubjectKey {
    /// The subject `name_id` named by IdP `idp` (its entity ID) with the
    /// NameID's `Format`, `NameQualifier` and `SPNameQualifier` as received.
    pub fn new(
        idp: &str,
        format: Option<&str>,
        name_qualifier: Option<&str>,
        sp_name_qualifier: Option<&str>,
        name_id: &str,
    ) -> Self {
        SubjectKey(digest(&[
            idp.as_bytes(),
            format.unwrap_or("").as_bytes(),
            name_qualifier.unwrap_or("").as_bytes(),
            sp_name_qualifier.unwrap_or("").as_bytes(),
            name_id.as_bytes(),
        ]))
    }

    /// A key from its 32 bytes (as sealed in a session cookie).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SubjectKey(bytes)
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Unpadded base64url, 43 characters: the form in keys and logs.
    pub fn to_b64url(&self) -> String {
        b64(&self.0)
    }

    /// Parses [`SubjectKey::to_b64url`]'s form; `None` for anything else.
    pub fn from_b64url(text: &str) -> Option<Self> {
        from_b64(text).map(SubjectKey)
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectKey({})", self.to_b64url())
    }
}

impl std::fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_b64url())
    }
}

/// `N` bytes from OpenSSL's CSPRNG, drawn `POOL` at a time per thread: a
/// `RAND_bytes` call (the DRBG's lock and reseed checks) per ID was 3% of
/// an ACS, which draws two (the session ID and the admission token). Bytes
/// drawn before a fork are never used after it (the process ID is
/// checked), so parent and child cannot hand out the same ID; bytes handed
/// out are zeroed in the pool, not left for a later reader. A failed
/// refill hands out nothing (an error, never stale or weaker bytes).
fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    const POOL: usize = 512;
    struct Pool {
        pid: u32,
        bytes: [u8; POOL],
        next: usize,
    }
    thread_local! {
        static RANDOM: std::cell::RefCell<Pool> = const {
            std::cell::RefCell::new(Pool { pid: 0, bytes: [0; POOL], next: POOL })
        };
    }
    let failed = |e: openssl::error::ErrorStack| StoreError::Random(e.to_string());
    let mut out = [0u8; N];
    if N > POOL {
        openssl::rand::rand_bytes(&mut out).map_err(failed)?;
        return Ok(out);
    }
    RANDOM.with(|cell| {
        let mut pool = cell.borrow_mut();
        let pid = std::process::id();
        if pool.pid != pid || pool.next + N > POOL {
            // Marked empty first: an error below leaves nothing to hand out.
            pool.next = POOL;
            openssl::rand::rand_bytes(&mut pool.bytes).map_err(failed)?;
            pool.pid = pid;
            pool.next = 0;
        }
        let start = pool.next;
        let taken = pool
            .bytes
            .get_mut(start..start + N)
            .ok_or_else(|| StoreError::Random("random pool out of range".into()))?;
        out.copy_from_slice(taken);
        taken.fill(0);
        pool.next = start + N;
        Ok(out)
    })
}

/// A session's random identifier (128 bits from OpenSSL's CSPRNG), sealed in
/// the session cookie by the gateway and the handle of a one-session
/// revocation. Random, so it is unique without the subject.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh random ID; an RNG failure is an error, never a weaker ID.
    pub fn random() -> Result<Self, StoreError> {
        random_bytes().map(SessionId)
    }

    /// An ID from its 16 bytes (as sealed in the cookie).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        SessionId(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Unpadded base64url, 22 characters.
    pub fn to_b64url(&self) -> String {
        b64(&self.0)
    }

    /// Parses [`SessionId::to_b64url`]'s form; `None` for anything else.
    pub fn from_b64url(text: &str) -> Option<Self> {
        from_b64(text).map(SessionId)
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({})", self.to_b64url())
    }
}

/// The text handle of one session for operators (the admin revocation API):
/// `<subject>.<session id>` in base64url, 66 characters. It carries the
/// subject so that a revocation by session can be written under the
/// subject's hash tag.
pub fn session_handle(subject: &SubjectKey, session_id: &SessionId) -> String {
    format!("{}.{}", subject.to_b64url(), session_id.to_b64url())
}

/// Parses [`session_handle`]'s form; `None` for anything else.
pub fn parse_session_handle(text: &str) -> Option<(SubjectKey, SessionId)> {
    let (s, sid) = text.split_once('.')?;
    Some((SubjectKey::from_b64url(s)?, SessionId::from_b64url(sid)?))
}

/// A per-ACS-request random token (128 bits), stored as the value of the
/// replay record. The same request retried after a lost reply presents the
/// same token and is told `Fresh` again; any other request is `Replayed`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestToken([u8; 16]);

impl RequestToken {
    /// A fresh random token; an RNG failure is an error, never a panic.
    pub fn random() -> Result<Self, StoreError> {
        random_bytes().map(RequestToken)
    }

    /// A token from its bytes (tests, or a token carried across a retry).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RequestToken(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub(crate) fn to_b64url(self) -> String {
        b64(&self.0)
    }
}

impl std::fmt::Debug for RequestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestToken(..)")
    }
}

/// The replay record's name within a subject: SHA-256(issuer, 0, assertion
/// ID, 0). Keyed on the Assertion ID, not the Response ID, so a signed
/// assertion re-wrapped in a new Response is still the same record.
pub(crate) fn replay_digest(issuer: &str, assertion_id: &str) -> [u8; 32] {
    digest(&[issuer.as_bytes(), assertion_id.as_bytes()])
}

/// A SessionIndex's digest (SessionIndex values are IdP-chosen text).
pub(crate) fn session_index_digest(session_index: &str) -> [u8; 32] {
    digest(&[session_index.as_bytes()])
}

/// The digest of a SessionIndex as the revocation view files it: made once
/// per session (when the gateway opens its cookie), not per request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionIndexDigest(pub(crate) [u8; 32]);

impl SessionIndexDigest {
    /// The digest of `session_index`.
    pub fn new(session_index: &str) -> Self {
        SessionIndexDigest(session_index_digest(session_index))
    }
}

impl std::fmt::Debug for SessionIndexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionIndexDigest(..)")
    }
}

/// Builds every Redis key from the configured prefix (validated to hold no
/// `{`, `}` or whitespace, at most 64 bytes) and digests.
#[derive(Clone, Debug)]
pub(crate) struct KeySpace {
    prefix: String,
}

impl KeySpace {
    pub(crate) fn new(prefix: &str) -> Self {
        KeySpace {
            prefix: prefix.to_owned(),
        }
    }

    /// `<prefix>{s:<S>}`: the hash tag that puts a subject's keys in one slot.
    fn subject(&self, s: &SubjectKey) -> String {
        format!("{}{{s:{}}}", self.prefix, s.to_b64url())
    }

    pub(crate) fn replay(&self, s: &SubjectKey, replay: &[u8; 32]) -> String {
        format!("{}:rp:{}", self.subject(s), b64(replay))
    }

    pub(crate) fn not_before(&self, s: &SubjectKey) -> String {
        format!("{}:nb", self.subject(s))
    }

    pub(crate) fn session_index(&self, s: &SubjectKey, si: &[u8; 32]) -> String {
        format!("{}:si:{}", self.subject(s), b64(si))
    }

    pub(crate) fn session(&self, s: &SubjectKey, sid: &SessionId) -> String {
        format!("{}:sid:{}", self.subject(s), sid.to_b64url())
    }

    /// The revocation feed (a Stream), tagged `{rv}`: its own slot.
    pub(crate) fn feed(&self) -> String {
        format!("{}{{rv}}:log", self.prefix)
    }

    /// Every unexpired revocation (a sorted set scored by expiry): what a
    /// node reads to resync when it cannot resume the feed.
    pub(crate) fn revoked_set(&self) -> String {
        format!("{}{{rv}}:z", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_random_ids_never_repeat_across_refills_and_threads() {
        // 5,000 IDs of 16 bytes on each of 4 threads: 156 refills of the
        // 512-byte pool per thread, IDs of two sizes interleaved so that
        // draws straddle the pool's end.
        let per_thread: Vec<Vec<[u8; 16]>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..5_000)
                            .map(|i| {
                                if i % 7 == 0 {
                                    let odd: [u8; 24] = random_bytes().unwrap();
                                    assert_ne!(odd, [0; 24]);
                                }
                                SessionId::random().unwrap().0
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<[u8; 16]> = per_thread.into_iter().flatten().collect();
        assert!(all.iter().all(|id| *id != [0; 16]));
        let drawn = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), drawn, "a random ID repeated");
        // Larger than the pool: drawn directly.
        let big: [u8; 600] = random_bytes().unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }

    #[test]
    fn subject_depends_on_every_part_and_their_boundaries() {
        let base = SubjectKey::new("idp", Some("f"), Some("nq"), Some("spq"), "alice");
        assert_eq!(
            base,
            SubjectKey::new("idp", Some("f"), Some("nq"), Some("spq"), "alice")
        );
        for other in [
            SubjectKey::new("idp2", Some("f"), Some("nq"), Some("spq"), "alice"),
            SubjectKey::new("idp", None, Some("nq"), Some("spq"), "alice"),
            SubjectKey::new("idp", Some("f"), None, Some("spq"), "alice"),
            SubjectKey::new("idp", Some("f"), Some("nq"), None, "alice"),
            SubjectKey::new("idp", Some("f"), Some("nq"), Some("spq"), "alice2"),
            // Moving text across a boundary changes the key.
            SubjectKey::new("id", Some("pf"), Some("nq"), Some("spq"), "alice"),
        ] {
            assert_ne!(base, other);
        }
        // Absent and empty are the same (an absent qualifier is no qualifier).
        assert_eq!(
            SubjectKey::new("i", None, None, None, "a"),
            SubjectKey::new("i", Some(""), Some(""), Some(""), "a")
        );
    }

    #[test]
    fn text_forms_round_trip_and_refuse_junk() {
        let s = SubjectKey::new("i", None, None, None, "a");
        assert_eq!(s.to_b64url().len(), 43);
        assert_eq!(SubjectKey::from_b64url(&s.to_b64url()), Some(s));
        assert_eq!(s.to_hex().len(), 64);
        assert_eq!(SubjectKey::from_b64url("x"), None);
        assert_eq!(SubjectKey::from_b64url(&"{".repeat(43)), None);
        let sid = SessionId::random().unwrap();
        let h = session_handle(&s, &sid);
        assert_eq!(parse_session_handle(&h), Some((s, sid)));
        assert_eq!(parse_session_handle("a.b"), None);
        assert_eq!(parse_session_handle(&format!("{h}x")), None);
        assert_ne!(
            RequestToken::random().unwrap(),
            RequestToken::random().unwrap()
        );
    }

    #[test]
    fn keys_hold_one_hash_tag_and_bounded_length() {
        let ks = KeySpace::new("samlgate:");
        let s = SubjectKey::new("i", None, None, None, "{evil}\r\n*");
        let id = "x".repeat(10_000);
        let keys = [
            ks.replay(&s, &replay_digest("iss", &id)),
            ks.not_before(&s),
            ks.session_index(&s, &session_index_digest(&id)),
            ks.session(&s, &SessionId::from_bytes([7; 16])),
        ];
        let tag = format!("{{s:{}}}", s.to_b64url());
        for k in &keys {
            assert!(k.len() <= 9 + 47 + 4 + 43, "{k}");
            assert_eq!(k.matches('{').count(), 1, "{k}");
            assert_eq!(k.matches('}').count(), 1, "{k}");
            assert!(k.contains(&tag));
        }
    }
}
