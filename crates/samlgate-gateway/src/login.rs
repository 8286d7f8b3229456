//! The start of SP-initiated login (the AuthnRequest and the login state
//! bound to the browser), and where a browser may be sent afterwards.

use openssl::rand::rand_bytes;
use samlgate_saml::{AcsTarget, AuthnRequest, Endpoint, IdpEntity, BINDING_HTTP_REDIRECT};

use crate::reason::GatewayReason;
use crate::session::LoginState;
use crate::state::{Gateway, Shared};

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

/// The system's random number generator failed: nothing random can be
/// made, so the request that needed it is refused (never a guessable
/// token from the clock instead).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RngFailed;

/// Random hex, for request IDs and RelayState tokens.
pub fn random_hex(bytes: usize) -> Result<String, RngFailed> {
    let mut raw = vec![0u8; bytes];
    rand_bytes(&mut raw).map_err(|_| RngFailed)?;
    let mut out = String::with_capacity(bytes * 2);
    for b in raw {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    Ok(out)
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
pub enum LoginError {
    /// The IdP's metadata has no SingleSignOnService for the configured
    /// binding (`idp_endpoint_missing`).
    #[error("{0}")]
    EndpointMissing(String),
    /// Anything else (`idp_unavailable`, or `internal`).
    #[error("{0}")]
    Other(String),
}

impl LoginError {
    /// The reason code the page and the metric carry.
    pub fn reason(&self) -> GatewayReason {
        match self {
            LoginError::EndpointMissing(_) => GatewayReason::IdpEndpointMissing,
            LoginError::Other(_) => GatewayReason::IdpUnavailable,
        }
    }
}

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
        .ok_or_else(|| LoginError::Other(format!("no IdP {idp_name}")))?;
    let post = idp.config.authn_request_binding == "post";
    let binding = if post {
        samlgate_saml::BINDING_HTTP_POST
    } else {
        BINDING_HTTP_REDIRECT
    };
    let sso: &Endpoint = IdpEntity::endpoint(&entity.sso, binding).ok_or_else(|| {
        LoginError::EndpointMissing(format!(
            "the IdP metadata has no SingleSignOnService for {binding}"
        ))
    })?;
    let now = shared.clock.now();
    let request_id = format!(
        "_{}",
        random_hex(20).map_err(|e| LoginError::Other(e.to_string()))?
    );
    let relay_state = random_hex(16).map_err(|e| LoginError::Other(e.to_string()))?;
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
        relay_state: relay_state.clone(),
    };
    let cookie = gateway
        .cookies
        .login_cookie(&gateway.ring, &relay_state, &state, lifetime)
        .map_err(|e| LoginError::Other(e.to_string()))?;
    let key = gateway.signing_key.as_ref();
    shared
        .metrics
        .login_redirects
        .with_label_values(&[idp_name])
        .inc();
    if post {
        let form = request
            .post_form(Some(&relay_state), key)
            .map_err(|e| LoginError::Other(e.to_string()))?;
        Ok(LoginStart::PostForm(form, cookie))
    } else {
        let url = request
            .redirect_url(Some(&relay_state), key)
            .map_err(|e| LoginError::Other(e.to_string()))?;
        Ok(LoginStart::Redirect(url, cookie))
    }
}
