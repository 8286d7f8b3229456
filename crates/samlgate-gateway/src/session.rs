//! The browser session and the login state, as sealed cookies.
//!
//! A session is JSON, deflated, sealed (AES-256-GCM), then split across
//! numbered cookies when it outgrows one (Entra and ADFS group claims run
//! to kilobytes; browsers keep ~4 KB per cookie). No server-side store is
//! needed to read it, so any replica serves any browser.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Read;

use flate2::read::DeflateDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use serde::{Deserialize, Serialize};

use crate::seal::KeyRing;

/// Bytes of sealed text per cookie (name and attributes fit in the rest of
/// the browsers' 4096-byte budget).
const CHUNK: usize = 3800;
/// Largest decompressed session accepted (a bound on inflate output).
const MAX_PLAINTEXT: u64 = 1024 * 1024;
/// First plaintext byte: how the session JSON is stored.
const FORMAT_JSON: u8 = b'j';
const FORMAT_DEFLATE: u8 = b'd';
/// Sessions from this many JSON bytes on are deflated. Below it the
/// sealed session fits one cookie ([`CHUNK`] base64 characters hold about
/// 2,850 sealed bytes) without compression, so deflate would buy nothing
/// and cost the most of the ACS after the RSA verification: resetting a
/// deflate stream clears its hash table (128 KiB) for every session.
const COMPRESS_FROM: usize = 2700;

/// What a verified assertion leaves in the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The configured IdP name.
    #[serde(rename = "i")]
    pub idp: String,
    /// The IdP entity ID (Issuer).
    #[serde(rename = "e")]
    pub issuer: String,
    /// NameID.
    #[serde(rename = "n")]
    pub name_id: String,
    /// NameID Format.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    /// AuthnStatement SessionIndex (for logout).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
    /// NameID NameQualifier, as received (for a LogoutRequest).
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub name_qualifier: Option<String>,
    /// NameID SPNameQualifier, as received.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub sp_name_qualifier: Option<String>,
    /// Attributes, values in order.
    #[serde(rename = "a", default)]
    pub attributes: Vec<(String, Vec<String>)>,
    /// Unix seconds: issued.
    #[serde(rename = "t")]
    pub issued: i64,
    /// Unix seconds: no longer valid from then.
    #[serde(rename = "x")]
    pub expires: i64,
    /// The random session ID (base64url), the handle of a revocation of
    /// this one session.
    #[serde(rename = "d", default)]
    pub session_id: String,
    /// Unix milliseconds: the assertion's IssueInstant, compared with the
    /// time of a logout (a session from an assertion issued before it is
    /// revoked).
    #[serde(rename = "m", default)]
    pub assertion_issued_ms: i64,
}

impl Session {
    /// The values of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The SP-initiated login in flight: bound to the browser by a short-lived
/// sealed cookie named after the RelayState token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// The AuthnRequest ID: the expected InResponseTo.
    pub request_id: String,
    /// Where to go after the ACS (a path on a configured host).
    pub return_to: String,
    /// The configured IdP name.
    pub idp: String,
    /// Unix seconds.
    pub expires: i64,
    /// The RelayState token it was made for (the cookie's slot is shared
    /// by several tokens).
    #[serde(default)]
    pub relay_state: String,
}

/// An SP-initiated logout in flight: bound to the browser like the login
/// state, so that the IdP's LogoutResponse can come back to any node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutState {
    /// The LogoutRequest ID: the expected InResponseTo.
    pub request_id: String,
    /// The configured IdP name.
    pub idp: String,
    /// The RelayState token.
    pub relay_state: String,
    /// Unix seconds.
    pub expires: i64,
}

/// Login-state cookies a browser holds at most (a page with many frames
/// starting logins cannot grow the Cookie header without bound): a
/// RelayState token's slot is its first hex digit modulo this, and a new
/// login in a slot replaces the one before.
pub const LOGIN_SLOTS: u8 = 4;

fn slot(relay_state: &str) -> u8 {
    relay_state.bytes().next().map_or(0, |b| b % LOGIN_SLOTS)
}

/// Why a session could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// Past the configured cookie budget.
    #[error("the session needs {needed} bytes of cookies, more than the configured {limit}")]
    TooLarge {
        /// Sealed size.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// Sealing or encoding failed.
    #[error("cannot seal the session: {0}")]
    Seal(String),
}

/// The cookies' names and flags.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// The session cookie's name (chunks: `name_1`, `name_2`, ...), with
    /// its `__Host-` prefix under TLS.
    pub name: String,
    /// Largest sealed session, all chunks together.
    pub max_bytes: usize,
    /// Add `Secure` (TLS listeners, or an https base URL).
    pub secure: bool,
    /// The ACS path: login-state cookies are sent only there.
    pub acs_path: String,
    /// The SLO path: logout-state cookies are sent only there.
    pub slo_path: String,
}

/// The configured session cookie name as set in browsers: under TLS the
/// default name gets the `__Host-` prefix (Secure, Path=/, no Domain: a
/// sibling subdomain cannot set or shadow it). A name chosen by the
/// operator is kept as written.
pub fn effective_cookie_name(configured: &str, secure: bool) -> String {
    if secure && configured == crate::config::DEFAULT_COOKIE_NAME {
        format!("__Host-{configured}")
    } else {
        configured.to_owned()
    }
}

impl CookieSettings {
    /// Login- and logout-state cookie names start with this: the session
    /// name without `__Host-` (those cookies have a narrower Path), with
    /// `__Secure-` under TLS.
    fn state_prefix(&self) -> String {
        let base = self.name.strip_prefix("__Host-").unwrap_or(&self.name);
        if self.secure {
            format!("__Secure-{base}")
        } else {
            base.to_owned()
        }
    }

    fn max_chunks(&self) -> usize {
        self.max_bytes.div_ceil(CHUNK) + 1
    }

    /// `Set-Cookie` values for `session`, valid for `max_age` seconds (one
    /// per chunk; see [`Self::stale_chunks`] for the chunks of a larger
    /// session before).
    pub fn session_cookies(
        &self,
        ring: &KeyRing,
        session: &Session,
        max_age: i64,
    ) -> Result<Vec<String>, SessionError> {
        let json = serde_json::to_vec(session).map_err(|e| SessionError::Seal(e.to_string()))?;
        // Sessions that fit one cookie go uncompressed: deflate saves
        // nothing there, and even a reused stream costs a reset (it clears
        // its hash tables) per session.
        let plaintext = if json.len() < COMPRESS_FROM {
            let mut raw = Vec::with_capacity(json.len() + 1);
            raw.push(FORMAT_JSON);
            raw.extend_from_slice(&json);
            raw
        } else {
            deflate(&json)?
        };
        let sealed = ring
            .seal("session", &plaintext)
            .map_err(|e| SessionError::Seal(e.to_string()))?;
        if sealed.len() > self.max_bytes {
            return Err(SessionError::TooLarge {
                needed: sealed.len(),
                limit: self.max_bytes,
            });
        }
        let chunks: Vec<&str> = sealed
            .as_bytes()
            .chunks(CHUNK)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        let attrs = self.attributes("Lax", max_age);
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let value = if i == 0 {
                format!("{}.{chunk}", chunks.len())
            } else {
                (*chunk).to_owned()
            };
            out.push(format!("{}={value}; {attrs}", self.chunk_name(i)));
        }

        Ok(out)
    }

    /// `Set-Cookie` values that clear the chunks of an earlier, larger
    /// session that the browser still sent (`request`), beyond the `live`
    /// chunks of the new one. Only what the browser holds is cleared: a
    /// header per possible chunk on every login would cost time and bytes
    /// for nothing.
    pub fn stale_chunks(&self, live: usize, request: &Cookies<'_>) -> Vec<String> {
        (live..self.max_chunks())
            .map(|i| self.chunk_name(i))
            .filter(|name| request.get(name).is_some())
            .map(|name| self.clear(&name, "Lax"))
            .collect()
    }

    /// `Set-Cookie` values that end the session.
    pub fn clear_session(&self) -> Vec<String> {
        (0..self.max_chunks())
            .map(|i| self.clear(&self.chunk_name(i), "Lax"))
            .collect()
    }

    /// The session carried by a `Cookie` header, if it opens, parses and
    /// has not expired at `now`.
    pub fn read_session(&self, ring: &KeyRing, cookies: &Cookies<'_>, now: i64) -> Option<Session> {
        let sealed = self.sealed_session(cookies)?;
        self.open_session(ring, &sealed, now)
    }

    /// The sealed session text, its chunks joined (not yet opened);
    /// borrowed from the request when it fits one cookie (the usual case).
    pub fn sealed_session<'h>(&self, cookies: &Cookies<'h>) -> Option<Cow<'h, str>> {
        let first = cookies.get(&self.name)?;
        let (count, data) = first.split_once('.')?;
        let count: usize = count.parse().ok()?;
        if count == 0 || count > self.max_chunks() {
            return None;
        }
        if count == 1 {
            return Some(Cow::Borrowed(data));
        }
        let mut sealed = String::with_capacity(data.len() * count);
        sealed.push_str(data);
        for i in 1..count {
            sealed.push_str(cookies.get(&self.chunk_name(i))?);
        }
        Some(Cow::Owned(sealed))
    }

    /// Opens a sealed session; None when forged, unreadable or expired.
    pub fn open_session(&self, ring: &KeyRing, sealed: &str, now: i64) -> Option<Session> {
        let plaintext = ring.open("session", sealed)?;
        let (&format, body) = plaintext.split_first()?;
        let session: Session = match format {
            FORMAT_JSON => serde_json::from_slice(body).ok()?,
            FORMAT_DEFLATE => {
                let mut json = Vec::new();
                DeflateDecoder::new(body)
                    .take(MAX_PLAINTEXT)
                    .read_to_end(&mut json)
                    .ok()?;
                serde_json::from_slice(&json).ok()?
            }
            _ => return None,
        };
        (session.expires > now).then_some(session)
    }

    /// The login-state cookie's name for a RelayState token (its slot).
    pub fn login_cookie_name(&self, relay_state: &str) -> String {
        format!("{}_login_{}", self.state_prefix(), slot(relay_state))
    }

    /// The logout-state cookie's name for a RelayState token (its slot).
    pub fn logout_cookie_name(&self, relay_state: &str) -> String {
        format!("{}_logout_{}", self.state_prefix(), slot(relay_state))
    }

    /// A `Set-Cookie` for the login state. `SameSite=None` (with `Secure`)
    /// because the ACS POST comes from the IdP's site: a Lax cookie would
    /// not be sent with it. Over plain HTTP browsers refuse `None` without
    /// `Secure`, so there it is Lax (same-site IdPs only: the demo).
    pub fn login_cookie(
        &self,
        ring: &KeyRing,
        relay_state: &str,
        state: &LoginState,
        max_age: i64,
    ) -> Result<String, SessionError> {
        let json = serde_json::to_vec(state).map_err(|e| SessionError::Seal(e.to_string()))?;
        let sealed = ring
            .seal("login", &json)
            .map_err(|e| SessionError::Seal(e.to_string()))?;
        let same_site = if self.secure { "None" } else { "Lax" };
        Ok(format!(
            "{}={sealed}; {}",
            self.login_cookie_name(relay_state),
            self.attributes_at(&self.acs_path, same_site, max_age)
        ))
    }

    /// The login state of `relay_state`, if its cookie opens and is fresh.
    pub fn read_login(
        &self,
        ring: &KeyRing,
        cookies: &Cookies<'_>,
        relay_state: &str,
        now: i64,
    ) -> Option<LoginState> {
        let sealed = cookies.get(&self.login_cookie_name(relay_state))?;
        let json = ring.open("login", sealed)?;
        let state: LoginState = serde_json::from_slice(&json).ok()?;
        (state.expires > now && state.relay_state == relay_state).then_some(state)
    }

    /// Clears a login-state cookie.
    pub fn clear_login(&self, relay_state: &str) -> String {
        let same_site = if self.secure { "None" } else { "Lax" };
        format!(
            "{}=; {}",
            self.login_cookie_name(relay_state),
            self.attributes_at(&self.acs_path, same_site, 0)
        )
    }

    /// A `Set-Cookie` for the logout state, like the login state's but
    /// sent only to the SLO path.
    pub fn logout_cookie(
        &self,
        ring: &KeyRing,
        state: &LogoutState,
        max_age: i64,
    ) -> Result<String, SessionError> {
        let json = serde_json::to_vec(state).map_err(|e| SessionError::Seal(e.to_string()))?;
        let sealed = ring
            .seal("logout", &json)
            .map_err(|e| SessionError::Seal(e.to_string()))?;
        let same_site = if self.secure { "None" } else { "Lax" };
        Ok(format!(
            "{}={sealed}; {}",
            self.logout_cookie_name(&state.relay_state),
            self.attributes_at(&self.slo_path, same_site, max_age)
        ))
    }

    /// The logout state of `relay_state`, if its cookie opens and is fresh.
    pub fn read_logout(
        &self,
        ring: &KeyRing,
        cookies: &Cookies<'_>,
        relay_state: &str,
        now: i64,
    ) -> Option<LogoutState> {
        let sealed = cookies.get(&self.logout_cookie_name(relay_state))?;
        let json = ring.open("logout", sealed)?;
        let state: LogoutState = serde_json::from_slice(&json).ok()?;
        (state.expires > now && state.relay_state == relay_state).then_some(state)
    }

    /// Clears a logout-state cookie.
    pub fn clear_logout(&self, relay_state: &str) -> String {
        let same_site = if self.secure { "None" } else { "Lax" };
        format!(
            "{}=; {}",
            self.logout_cookie_name(relay_state),
            self.attributes_at(&self.slo_path, same_site, 0)
        )
    }

    fn chunk_name(&self, i: usize) -> String {
        if i == 0 {
            self.name.clone()
        } else {
            format!("{}_{i}", self.name)
        }
    }

    fn attributes(&self, same_site: &str, max_age: i64) -> String {
        self.attributes_at("/", same_site, max_age)
    }

    fn attributes_at(&self, path: &str, same_site: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
    }

    fn clear(&self, name: &str, same_site: &str) -> String {
        format!("{name}=; {}", self.attributes(same_site, 0))
    }
}

/// The cookies of a request (all `Cookie` headers), first value wins.
/// Kept as the raw header text and scanned on lookup: a request needs one
/// or two cookies, so splitting all of them into owned pairs is wasted.
#[derive(Debug, Default)]
pub struct Cookies<'h>(Vec<&'h str>);

impl<'h> Cookies<'h> {
    /// Takes `Cookie` header values (borrowed from the request).
    pub fn parse(headers: impl Iterator<Item = &'h [u8]>) -> Self {
        Cookies(
            headers
                .filter_map(|h| std::str::from_utf8(h).ok())
                .collect(),
        )
    }

    /// The `Cookie` headers of a request.
    pub fn of(headers: &'h http::HeaderMap) -> Self {
        Self::parse(
            headers
                .get_all(http::header::COOKIE)
                .iter()
                .map(|v| v.as_bytes()),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&'h str> {
        self.0.iter().find_map(|header| {
            header.split(';').find_map(|pair| {
                let (n, v) = pair.split_once('=')?;
                (n.trim() == name).then(|| v.trim())
            })
        })
    }
}

/// Raw deflate of `json` after the format byte, with this thread's
/// compressor: setting up a new deflate stream (allocating and clearing
/// its window and hash tables) cost more than compressing a session.
fn deflate(json: &[u8]) -> Result<Vec<u8>, SessionError> {
    thread_local! {
        static COMPRESSOR: RefCell<Compress> =
            RefCell::new(Compress::new(Compression::fast(), false));
    }
    COMPRESSOR.with(|cell| {
        let mut compressor = cell.borrow_mut();
        compressor.reset();
        let mut out = Vec::with_capacity(json.len() / 2 + 64);
        out.push(FORMAT_DEFLATE);
        loop {
            let consumed = usize::try_from(compressor.total_in()).unwrap_or(usize::MAX);
            let input = json.get(consumed..).unwrap_or(&[]);
            let status = compressor
                .compress_vec(input, &mut out, FlushCompress::Finish)
                .map_err(|e| SessionError::Seal(e.to_string()))?;
            if status == Status::StreamEnd {
                return Ok(out);
            }
            // Out of room: grow and go on where it stopped.
            out.reserve(json.len().max(64));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: usize) -> CookieSettings {
        CookieSettings {
            name: "sg".into(),
            max_bytes: max,
            secure: true,
            acs_path: "/saml/acs".into(),
            slo_path: "/saml/logout".into(),
        }
    }

    fn session(groups: usize) -> Session {
        Session {
            idp: "corp".into(),
            issuer: "https://idp.example.test".into(),
            name_id: "alice@example.test".into(),
            name_id_format: None,
            session_index: Some("_s1".into()),
            attributes: vec![(
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".into(),
                (0..groups)
                    .map(|i| {
                        // GUID-like group IDs do not compress much.
                        let h = openssl::sha::sha256(&(i as u64).to_le_bytes());
                        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
                    })
                    .collect(),
            )],
            issued: 100,
            expires: 1000,
            name_qualifier: None,
            sp_name_qualifier: None,
            session_id: "sid".into(),
            assertion_issued_ms: 99_000,
        }
    }

    /// The `Cookie` header a browser would send back.
    fn jar(set_cookies: &[String]) -> String {
        let header: Vec<String> = set_cookies
            .iter()
            .filter_map(|c| c.split(';').next().map(str::to_owned))
            .collect();
        header.join("; ")
    }

    fn parsed(header: &str) -> Cookies<'_> {
        Cookies::parse(std::iter::once(header.as_bytes()))
    }

    #[test]
    fn large_sessions_split_into_chunks_and_read_back() {
        let ring = KeyRing::new(&[[3; 32]]).unwrap();
        let s = settings(16 * 1024);
        let big = session(150);
        let cookies = s.session_cookies(&ring, &big, 600).unwrap();
        let set: Vec<&String> = cookies
            .iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .collect();
        assert!(set.len() >= 2, "150 groups need several cookies");
        for c in &cookies {
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
            assert!(c.len() < 4096, "each cookie fits a browser's 4 KB");
        }
        assert_eq!(
            s.read_session(&ring, &parsed(&jar(&cookies)), 500),
            Some(big)
        );
        assert_eq!(
            s.read_session(&ring, &parsed(&jar(&cookies)), 1000),
            None,
            "expired"
        );
    }

    /// The thread's compressor is reset between sessions: each one opens
    /// to itself, whatever was compressed before it on the thread, and
    /// compresses as a fresh stream would.
    #[test]
    fn reused_compressor_leaves_nothing_between_sessions() {
        let ring = KeyRing::new(&[[3; 32]]).unwrap();
        let s = settings(64 * 1024);
        for groups in [150, 20, 400, 20, 1, 150] {
            let one = session(groups);
            let cookies = s.session_cookies(&ring, &one, 600).unwrap();
            assert_eq!(
                s.read_session(&ring, &parsed(&jar(&cookies)), 500),
                Some(one)
            );
        }
        // The same input gives the same bytes after other work on the
        // thread: nothing of an earlier stream is left in the compressor.
        let json = serde_json::to_vec(&session(150)).unwrap();
        let first = deflate(&json).unwrap();
        deflate(&serde_json::to_vec(&session(7)).unwrap()).unwrap();
        assert!(first == deflate(&json).unwrap());
        assert_eq!(first.first(), Some(&FORMAT_DEFLATE));
        // Output bigger than the first guess at its size (random bytes do
        // not compress): the buffer grows and the stream still ends.
        let noise: Vec<u8> = (0..20_000u32)
            .flat_map(|i| openssl::sha::sha256(&i.to_le_bytes()))
            .collect();
        let packed = deflate(&noise).unwrap();
        let mut back = Vec::new();
        DeflateDecoder::new(packed.get(1..).unwrap())
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == noise);
    }

    #[test]
    fn only_stale_chunks_the_browser_holds_are_cleared() {
        let ring = KeyRing::new(&[[3; 32]]).unwrap();
        let s = settings(16 * 1024);
        let big = s.session_cookies(&ring, &session(150), 600).unwrap();
        assert!(big.len() >= 2);
        let header = jar(&big);
        let held = parsed(&header);
        // A one-chunk session after it: the others are cleared.
        let cleared = s.stale_chunks(1, &held);
        assert_eq!(cleared.len(), big.len() - 1);
        assert!(cleared
            .iter()
            .all(|c| c.contains("Max-Age=0") && c.starts_with("sg_")));
        // A browser without an earlier session: nothing to clear.
        assert!(s.stale_chunks(1, &Cookies::default()).is_empty());
    }

    #[test]
    fn past_the_cap_is_an_error_not_a_cookie() {
        let ring = KeyRing::new(&[[3; 32]]).unwrap();
        let err = settings(4096).session_cookies(&ring, &session(200), 600);
        assert!(matches!(err, Err(SessionError::TooLarge { .. })), "{err:?}");
    }

    #[test]
    fn missing_or_swapped_chunks_do_not_open() {
        let ring = KeyRing::new(&[[3; 32]]).unwrap();
        let s = settings(16 * 1024);
        let cookies = s.session_cookies(&ring, &session(150), 600).unwrap();
        let without_second: Vec<String> = cookies
            .iter()
            .filter(|c| !c.starts_with("sg_1="))
            .cloned()
            .collect();
        assert_eq!(
            s.read_session(&ring, &parsed(&jar(&without_second)), 500),
            None
        );
        let other = s.session_cookies(&ring, &session(151), 600).unwrap();
        let mixed: Vec<String> = cookies
            .iter()
            .filter(|c| !c.starts_with("sg_1="))
            .chain(other.iter().filter(|c| c.starts_with("sg_1=")))
            .cloned()
            .collect();
        assert_eq!(s.read_session(&ring, &parsed(&jar(&mixed)), 500), None);
    }

    #[test]
    fn login_state_is_bound_to_its_relay_state() {
        let ring = KeyRing::new(&[[4; 32]]).unwrap();
        let s = settings(16 * 1024);
        let state = LoginState {
            request_id: "_r1".into(),
            return_to: "/app?x=1".into(),
            idp: "corp".into(),
            expires: 400,
            relay_state: "a0f1".into(),
        };
        let c = s.login_cookie(&ring, "a0f1", &state, 300).unwrap();
        assert!(c.contains("SameSite=None") && c.contains("Secure"));
        assert!(c.starts_with("__Secure-sg_login_1=") && c.contains("Path=/saml/acs;"));
        let header = jar(&[c]);
        let j = parsed(&header);
        assert_eq!(s.read_login(&ring, &j, "a0f1", 300), Some(state));
        // Same slot ('e' % 4 == 'a' % 4), another token: not this login.
        assert_eq!(s.read_login(&ring, &j, "e0f1", 300), None);
        assert_eq!(s.read_login(&ring, &j, "b0f1", 300), None);
        assert_eq!(s.read_login(&ring, &j, "a0f1", 400), None, "expired");
    }

    #[test]
    fn a_browser_holds_at_most_four_login_states() {
        let s = settings(16 * 1024);
        let names: std::collections::HashSet<String> = (0..256u32)
            .map(|i| s.login_cookie_name(&format!("{i:02x}{i:04x}")))
            .collect();
        assert_eq!(names.len(), usize::from(LOGIN_SLOTS));
    }

    #[test]
    fn the_default_name_gets_the_host_prefix_under_tls_only() {
        let default = crate::config::DEFAULT_COOKIE_NAME;
        assert_eq!(
            effective_cookie_name(default, true),
            format!("__Host-{default}")
        );
        assert_eq!(effective_cookie_name(default, false), default);
        assert_eq!(effective_cookie_name("mine", true), "mine");
    }
}
