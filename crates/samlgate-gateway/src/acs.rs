//! The Assertion Consumer Service and the start of SP-initiated login,
//! as plain functions of their inputs (no pingora types), so that every
//! reject path is testable without sockets.

use std::time::Instant as MonoInstant;

use openssl::rand::rand_bytes;
use samlgate_saml::{
    decode_input, AcsTarget, AuthnRequest, Endpoint, IdpEntity, Reason, SamlError,
    BINDING_HTTP_REDIRECT,
};
use samlgate_xml::Limits;

use crate::session::{Cookies, LoginState, Session, SessionError};
use crate::state::{Gateway, Shared};

/// The gateway's own reason codes (DESIGN.md), beside the engine's.
pub mod reason {
    /// RelayState too long, or a login state that is not ours.
    pub const RELAY_STATE_INVALID: &str = "relay_state_invalid";
    /// A verified value that cannot go into a header.
    pub const INVALID_ATTRIBUTE_VALUE: &str = "invalid_attribute_value";
    /// A route's attribute rule failed.
    pub const ACCESS_DENIED: &str = "access_denied";
    /// The replay store could not answer.
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    /// The session outgrew the cookie budget.
    pub const SESSION_TOO_LARGE: &str = "session_too_large";
}

/// The answer of the ACS.
#[derive(Debug)]
pub enum AcsOutcome {
    /// 303 to `location` with these `Set-Cookie` values.
    Accepted {
        /// Where the browser goes next.
        location: String,
        /// Session cookies and the cleared login-state cookie.
        set_cookies: Vec<String>,
        /// The configured IdP name.
        idp: String,
        /// NameID, for the log line when configured.
        name_id: String,
    },
    /// An error page.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Reason code (metric label, log field, page).
        reason: String,
        /// For the log only: never shown to the client.
        detail: String,
        /// The IdP, when known.
        idp: Option<String>,
        /// Cookies to clear (a used login state).
        set_cookies: Vec<String>,
    },
}

fn rejected(
    status: u16,
    reason: &str,
    detail: impl Into<String>,
    idp: Option<String>,
) -> AcsOutcome {
    AcsOutcome::Rejected {
        status,
        reason: reason.to_owned(),
        detail: detail.into(),
        idp,
        set_cookies: Vec::new(),
    }
}

/// The status of an engine rejection: input that could not be read is the
/// client's error (400); everything else failed verification (403).
fn status_for(reason: Reason) -> u16 {
    match reason {
        Reason::MalformedInput | Reason::MalformedXml | Reason::ForbiddenDtd => 400,
        Reason::TooLarge => 413,
        _ => 403,
    }
}

/// Percent-decodes one form value (`+` is a space) in one pass. The
/// general form decoders copy the value three times (plus-replace,
/// percent-decode, UTF-8 repair), which for a 10 KB base64 Response cost
/// more than the rest of the ACS apart from the RSA verification. Runs
/// between escapes are found with SIMD `memchr` and copied at once: a
/// URL-encoded base64 value has an escape every ~16 bytes (`%2B`, `%2F`).
fn form_value(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = memchr::memchr2(b'+', b'%', rest) {
        out.extend_from_slice(rest.get(..at)?);
        if rest.get(at) == Some(&b'+') {
            out.push(b' ');
            rest = rest.get(at + 1..)?;
        } else {
            let (hi, lo) = (rest.get(at + 1)?, rest.get(at + 2)?);
            out.push(hex_value(*hi)? << 4 | hex_value(*lo)?);
            rest = rest.get(at + 3..)?;
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The ACS form: SAMLResponse (bytes; decode_input checks them) and the
/// optional RelayState (UTF-8). A repeated field is refused: two parsers
/// (ours and a logging or WAF layer) could otherwise each pick a different
/// one (ATTACKS §20); so are broken escapes.
pub fn parse_form(body: &[u8]) -> Result<(Vec<u8>, Option<String>), String> {
    let mut saml_response = None;
    let mut relay_state = None;
    // memchr rather than a byte-wise split: the body is ~10 KB.
    let mut rest = Some(body);
    while let Some(remaining) = rest {
        let (pair, after) = match memchr::memchr(b'&', remaining) {
            Some(i) => (remaining.get(..i).unwrap_or(&[]), remaining.get(i + 1..)),
            None => (remaining, None),
        };
        rest = after;
        let (name, value) = match memchr::memchr(b'=', pair) {
            Some(i) => (
                pair.get(..i).unwrap_or(&[]),
                pair.get(i + 1..).unwrap_or(&[]),
            ),
            None => (pair, &[][..]),
        };
        let name = form_value(name).ok_or("a form field name has a broken %-escape")?;
        let slot_is_response = match name.as_slice() {
            b"SAMLResponse" => true,
            b"RelayState" => false,
            _ => continue,
        };
        let value = form_value(value).ok_or("a form value has a broken %-escape")?;
        let field = if slot_is_response {
            "SAMLResponse"
        } else {
            "RelayState"
        };
        let duplicate = if slot_is_response {
            saml_response.replace(value).is_some()
        } else {
            let text =
                String::from_utf8(value).map_err(|_| "RelayState is not UTF-8".to_owned())?;
            relay_state.replace(text).is_some()
        };
        if duplicate {
            return Err(format!("form field {field} given twice"));
        }
    }
    let saml_response = saml_response.ok_or("no SAMLResponse form field")?;
    Ok((saml_response, relay_state))
}

/// SAML caps RelayState at 80 bytes (bindings §3.4.3).
pub const MAX_RELAY_STATE: usize = 80;

/// Handles an ACS POST body (`application/x-www-form-urlencoded`).
pub fn consume(
    gateway: &Gateway,
    shared: &Shared,
    body: &[u8],
    cookies: &Cookies<'_>,
) -> AcsOutcome {
    let (saml_response, relay_state) = match parse_form(body) {
        Ok(fields) => fields,
        Err(detail) => return rejected(400, "malformed_input", detail, None),
    };
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return rejected(
            400,
            reason::RELAY_STATE_INVALID,
            "RelayState longer than 80 bytes",
            None,
        );
    }
    let limits = Limits::default();
    let xml = match decode_input(&saml_response, limits.max_document_bytes) {
        Ok(xml) => xml,
        Err(e) => {
            return rejected(
                status_for(e.reason()),
                e.reason().as_str(),
                e.to_string(),
                None,
            )
        }
    };

    let now = shared.clock.now();
    let now_s = now.unix_millis() / 1000;
    let login = relay_state.as_deref().and_then(|rs| {
        gateway
            .cookies
            .read_login(&gateway.ring, cookies, rs, now_s)
    });
    let clear_login: Vec<String> = match (&login, &relay_state) {
        (Some(_), Some(rs)) => vec![gateway.cookies.clear_login(rs)],
        _ => Vec::new(),
    };

    let trust = gateway.trust();
    let validator = gateway.validator(
        &trust,
        shared.clock.as_ref(),
        login.as_ref().map(|l| l.request_id.as_str()),
        Some(&shared.replay),
    );
    let started = MonoInstant::now();
    let result = validator.validate(&xml);
    shared
        .metrics
        .acs_validation_seconds
        .observe(started.elapsed().as_secs_f64());
    let with_cookies = |mut outcome: AcsOutcome| {
        if let AcsOutcome::Rejected { set_cookies, .. } = &mut outcome {
            set_cookies.extend(clear_login.iter().cloned());
        }
        outcome
    };
    let assertion = match result {
        Ok(a) => a,
        Err(e) => {
            // The engine reports an unreachable store as `replayed` (fail
            // closed, within the verify contract); the gateway names it.
            let store_down = matches!(e, SamlError::ReplayStoreUnavailable { .. });
            if e.reason() == Reason::Replayed && !store_down {
                shared.metrics.replay_rejections.inc();
            }
            let reason = if store_down {
                reason::STORE_UNAVAILABLE
            } else {
                e.reason().as_str()
            };
            return with_cookies(rejected(
                status_for(e.reason()),
                reason,
                e.to_string(),
                None,
            ));
        }
    };
    let Some(idp) = gateway.idp_for_issuer(assertion.issuer()) else {
        return with_cookies(rejected(
            403,
            "unknown_issuer",
            "issuer is not a configured IdP",
            None,
        ));
    };
    let idp_name = idp.config.name.clone();
    let fail = |status: u16, reason: &str, detail: &str| {
        with_cookies(rejected(status, reason, detail, Some(idp_name.clone())))
    };

    match &login {
        Some(state) if state.idp != idp_name => {
            return fail(
                403,
                "issuer_mismatch",
                "the Response comes from another IdP than the one the login was sent to",
            );
        }
        None if !idp.config.allow_idp_initiated => {
            return fail(
                403,
                "in_response_to_mismatch",
                "no login in progress for this RelayState in this browser, and IdP-initiated login is not allowed for this IdP",
            );
        }
        _ => {}
    }

    let skew = gateway.config.sp.clock_skew_seconds;
    let oldest = now.plus_seconds(-(gateway.config.sp.max_response_age_seconds + skew));
    match assertion.issue_instant() {
        Some(t) if t >= oldest => {}
        _ => {
            return fail(
                403,
                "expired",
                "the assertion's IssueInstant is older than sp.max_response_age_seconds",
            )
        }
    }

    let mut expires = now_s + gateway.config.session.lifetime_seconds;
    if let Some(limit) = assertion.session_not_on_or_after() {
        expires = expires.min(limit.unix_millis() / 1000);
    }
    if expires <= now_s {
        return fail(403, "expired", "SessionNotOnOrAfter has passed");
    }
    let session = Session {
        idp: idp_name.clone(),
        issuer: assertion.issuer().to_owned(),
        name_id: assertion.name_id().to_owned(),
        name_id_format: assertion.name_id_format().map(str::to_owned),
        session_index: assertion.session_index().map(str::to_owned),
        attributes: assertion.attributes().to_vec(),
        issued: now_s,
        expires,
    };
    let mut set_cookies =
        match gateway
            .cookies
            .session_cookies(&gateway.ring, &session, expires - now_s)
        {
            Ok(c) => c,
            Err(e @ SessionError::TooLarge { .. }) => {
                shared.metrics.sessions_too_large.inc();
                return fail(400, reason::SESSION_TOO_LARGE, &e.to_string());
            }
            Err(e) => return fail(500, "internal", &e.to_string()),
        };
    set_cookies.extend(clear_login);
    let location = match &login {
        Some(state) => state.return_to.clone(),
        None => safe_return_to(gateway, relay_state.as_deref()),
    };
    shared
        .metrics
        .sessions_issued
        .with_label_values(&[&idp_name])
        .inc();
    AcsOutcome::Accepted {
        location,
        set_cookies,
        idp: idp_name,
        name_id: session.name_id,
    }
}

/// A return path that stays on this gateway: `//host/…` (scheme-relative),
/// backslashes (browsers read `/\\host` as `//host`) and control characters
/// make it `/`. A request line such as `GET //evil.test/x` must not turn
/// into a redirect off-site after login (ATTACKS §18).
pub fn local_path(path: &str) -> String {
    if path.starts_with('/')
        && !path.starts_with("//")
        && !path.chars().any(|c| c.is_control() || c == '\\')
    {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The target of an unsolicited Response's RelayState: a local path, or an
/// absolute URL on a configured host (reduced to its path); anything else
/// (another host, `//host`, `\`, a scheme) is ignored for `/`.
pub fn safe_return_to(gateway: &Gateway, relay_state: Option<&str>) -> String {
    let Some(rs) = relay_state else {
        return "/".into();
    };
    if rs.chars().any(|c| c.is_control() || c == '\\') {
        return "/".into();
    }
    if rs.starts_with('/') {
        return local_path(rs);
    }
    for scheme in ["https://", "http://"] {
        if let Some(rest) = rs.strip_prefix(scheme) {
            let (authority, path) = match rest.find(['/', '?', '#']) {
                Some(i) => rest.split_at(i),
                None => (rest, "/"),
            };
            let host = authority.split(':').next().unwrap_or(authority);
            if !authority.contains('@')
                && gateway.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
            {
                return if path.starts_with('/') {
                    local_path(path)
                } else {
                    local_path(&format!("/{path}"))
                };
            }
        }
    }
    "/".into()
}

/// Random hex, for request IDs and RelayState tokens.
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    if rand_bytes(&mut raw).is_err() {
        // openssl's CSPRNG does not fail once seeded; should it, an
        // all-zero token would be guessable, so take the time instead of
        // nothing and let the signature/sealing carry the security.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    let mut out = String::with_capacity(bytes * 2);
    for b in raw {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// How a login starts: a redirect URL or a POST form, plus the login-state
/// cookie.
#[derive(Debug)]
pub enum LoginStart {
    /// 302 to this URL.
    Redirect(String, String),
    /// 200 with this auto-submitting form.
    PostForm(String, String),
}

/// Why a login cannot start.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoginError(pub String);

/// Builds the AuthnRequest for `idp` and binds it to the browser.
pub fn start_login(
    gateway: &Gateway,
    shared: &Shared,
    idp_name: &str,
    entity: &IdpEntity,
    return_to: &str,
) -> Result<LoginStart, LoginError> {
    let idp = gateway
        .idp_named(idp_name)
        .ok_or_else(|| LoginError(format!("no IdP {idp_name}")))?;
    let post = idp.config.authn_request_binding == "post";
    let binding = if post {
        samlgate_saml::BINDING_HTTP_POST
    } else {
        BINDING_HTTP_REDIRECT
    };
    let sso: &Endpoint = IdpEntity::endpoint(&entity.sso, binding).ok_or_else(|| {
        LoginError(format!(
            "the IdP metadata has no SingleSignOnService for {binding}"
        ))
    })?;
    let now = shared.clock.now();
    let request_id = format!("_{}", random_hex(20));
    let relay_state = random_hex(16);
    let acs = match idp.config.acs_index {
        Some(i) => AcsTarget::Index(i),
        None => AcsTarget::Url(&gateway.acs_url),
    };
    let request = AuthnRequest {
        id: &request_id,
        issue_instant: now,
        destination: &sso.location,
        issuer: &gateway.config.sp.entity_id,
        acs,
        name_id_format: idp.config.name_id_format.as_deref(),
        force_authn: idp.config.force_authn,
    };
    let lifetime = gateway.config.session.login_lifetime_seconds;
    let state = LoginState {
        request_id: request_id.clone(),
        return_to: local_path(return_to),
        idp: idp_name.to_owned(),
        expires: now.unix_millis() / 1000 + lifetime,
    };
    let cookie = gateway
        .cookies
        .login_cookie(&gateway.ring, &relay_state, &state, lifetime)
        .map_err(|e| LoginError(e.to_string()))?;
    let key = gateway.signing_key.as_ref();
    shared
        .metrics
        .login_redirects
        .with_label_values(&[idp_name])
        .inc();
    if post {
        let form = request
            .post_form(Some(&relay_state), key)
            .map_err(|e| LoginError(e.to_string()))?;
        Ok(LoginStart::PostForm(form, cookie))
    } else {
        let url = request
            .redirect_url(Some(&relay_state), key)
            .map_err(|e| LoginError(e.to_string()))?;
        Ok(LoginStart::Redirect(url, cookie))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_form;

    #[test]
    fn form_fields_decode_like_a_browser_sends_them() {
        let (r, rs) =
            parse_form(b"SAMLResponse=PHNh%2Bb%2F%3D&RelayState=%2Fapp%3Fx%3D1+2&other=z").unwrap();
        assert_eq!(r, b"PHNh+b/=");
        assert_eq!(rs.as_deref(), Some("/app?x=1 2"));
        let (r, rs) = parse_form(b"x=1&SAMLResponse=").unwrap();
        assert!(r.is_empty() && rs.is_none());
        for bad in [
            &b"RelayState=a"[..],
            b"SAMLResponse=a&SAMLResponse=b",
            b"SAMLResponse=a&RelayState=1&RelayState=2",
            b"SAMLResponse=a%2",
            b"SAMLResponse=a%zz",
            b"SAMLResponse=a&RelayState=%ff",
        ] {
            assert!(parse_form(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// The memchr decoder agrees with the form_urlencoded crate on what
    /// browsers send: every byte value, escapes at the start, the end and
    /// back to back, `+`, and runs of every length.
    #[test]
    fn form_values_decode_like_the_reference_decoder() {
        use base64::Engine as _;
        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let mut values: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"+".to_vec(),
            b"a b+c".to_vec(),
            all_bytes.clone(),
            base64::engine::general_purpose::STANDARD
                .encode(&all_bytes)
                .into_bytes(),
        ];
        for len in 0..40 {
            values.push((0..len).map(|i| b"+/=a %&"[i % 7]).collect());
        }
        for value in values {
            let encoded: String = form_urlencoded::byte_serialize(&value).collect();
            let body = format!("SAMLResponse={encoded}");
            let (decoded, _) = parse_form(body.as_bytes()).unwrap();
            assert_eq!(decoded, value, "{encoded}");
            // A hand-written escape in both cases of hex digit.
            let upper = encoded.replace("%2F", "%2f");
            let (decoded, _) = parse_form(format!("SAMLResponse={upper}").as_bytes()).unwrap();
            assert_eq!(decoded, value, "{upper}");
        }
    }
}
