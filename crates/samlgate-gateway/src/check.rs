//! `samlgate check-config`: what `Config::load` cannot see on its own.
//! Warnings from the configuration alone, and with `--deep` from the
//! loaded metadata and the store: an IdP that cannot be used, a NameID
//! mapping that will change at every login, a login that cannot work over
//! plain HTTP, a store that does not answer or may evict keys.

use std::time::Duration;

use samlgate_saml::IdpEntity;

use crate::config::Config;
use crate::server::Control;

/// How bad a finding is: errors make `check-config` exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The gateway cannot work as configured.
    Error,
    /// It works, but not as the operator most likely expects.
    Warning,
}

/// One finding, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Dotted field path.
    pub path: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.path, self.message)
    }
}

fn warning(path: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        path: path.into(),
        message: message.into(),
    }
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    })
}

/// Over plain HTTP the login-state cookie is `SameSite=Lax`: a browser does
/// not send it on the cross-site POST from an IdP on another host, and
/// every SP-initiated login then fails with `in_response_to_mismatch`.
fn http_cross_site(config: &Config, path: &str, idp_url: &str) -> Option<Finding> {
    let base = &config.sp.base_url;
    if !base.starts_with("http://") || !config.server.tls.is_empty() {
        return None;
    }
    let (ours, theirs) = (host_of(base)?, host_of(idp_url)?);
    (!ours.eq_ignore_ascii_case(theirs)).then(|| {
        warning(
            path,
            format!(
                "sp.base_url is plain http:// and the IdP is on another host ({theirs}): browsers will not send the login-state cookie on the IdP's cross-site POST, and logins will fail with in_response_to_mismatch (hint login_cookie_not_sent_over_http). Serve HTTPS ([[server.tls]]) or set an https:// base_url behind a TLS load balancer."
            ),
        )
    })
}

/// Findings from the configuration alone.
pub fn static_findings(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, idp) in config.idps.iter().enumerate() {
        if let Some(url) = &idp.metadata_url {
            out.extend(http_cross_site(
                config,
                &format!("idp[{i}].metadata_url"),
                url,
            ));
        }
        if idp.require_name_id_format && idp.name_id_format.is_none() {
            out.push(warning(
                format!("idp[{i}].require_name_id_format"),
                "has no effect without name_id_format",
            ));
        }
    }
    if config.server.admin_token_file.is_some() && config.server.admin_listen.starts_with("0.0.0.0")
    {
        out.push(warning(
            "server.admin_listen",
            "the admin listener (with session revocation enabled) listens on every interface: keep it on a private address",
        ));
    }
    out
}

/// Findings that need the loaded metadata and the store (`--deep`).
pub fn deep_findings(control: &Control) -> Vec<Finding> {
    let shared = &control.shared;
    let gateway = shared.gateway.load_full();
    let config = &gateway.config;
    let mut out = Vec::new();
    for (i, idp) in gateway.idps.iter().enumerate() {
        let at = |field: &str| format!("idp[{i}] ({}).{field}", idp.config.name);
        if let Some(problem) = idp.problem() {
            out.push(Finding {
                severity: Severity::Error,
                path: at("authn_request_binding"),
                message: format!("{}: {}", problem.reason.code(), problem.detail),
            });
        }
        let Some(entity) = idp.entity() else { continue };
        if let Some(sso) = entity.sso.first() {
            out.extend(http_cross_site(config, &at("sso"), &sso.location));
        }
        let maps_name_id = config.headers.inject.iter().any(|h| h.from == "name_id");
        let transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
        if maps_name_id
            && !entity.name_id_formats.is_empty()
            && entity.name_id_formats.iter().all(|f| f == transient)
        {
            out.push(warning(
                at("name_id_format"),
                "a header maps name_id, but the IdP's metadata offers only transient NameIDs: the value changes at every login. Ask the IdP for a persistent or emailAddress NameID, or map an attribute such as uid instead.",
            ));
        }
        if entity.logout_endpoint().is_some() && gateway.signing_key.is_none() {
            out.push(warning(
                "sp.signing_key",
                format!(
                    "the IdP {} offers Single Logout, but logout messages must be signed and no sp.signing_key is set: logout stays local",
                    idp.config.name
                ),
            ));
        }
        if IdpEntity::endpoint(&entity.slo, samlgate_saml::BINDING_HTTP_REDIRECT).is_none()
            && IdpEntity::endpoint(&entity.slo, samlgate_saml::BINDING_HTTP_POST).is_none()
        {
            out.push(warning(
                at("metadata"),
                "the IdP's metadata has no SingleLogoutService: signing out ends the session here only",
            ));
        }
    }
    let store = shared.store.clone();
    let ping = control
        .handle()
        .block_on(async move { tokio::time::timeout(Duration::from_secs(5), store.ping()).await });
    match ping {
        Ok(Ok(info)) => {
            for w in info.warnings {
                out.push(warning("store", w));
            }
        }
        Ok(Err(e)) => out.push(Finding {
            severity: Severity::Error,
            path: "store".into(),
            message: format!("the store did not answer: {e}"),
        }),
        Err(_) => out.push(Finding {
            severity: Severity::Error,
            path: "store".into(),
            message: "the store did not answer within 5 s".into(),
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(host_of("http://127.0.0.2:8081/x"), Some("127.0.0.2"));
        assert_eq!(
            host_of("https://user@idp.example.com/sso?x"),
            Some("idp.example.com")
        );
        assert_eq!(host_of("nourl"), None);
    }
}
