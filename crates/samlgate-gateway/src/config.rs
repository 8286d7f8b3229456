//! The configuration: one TOML file, one typed struct, validated as a whole.
//!
//! `Config::from_toml` never stops at the first problem: every problem is
//! reported with the path of the field it concerns, so an operator fixes a
//! file in one pass (`samlgate check-config`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One problem of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the field, e.g. `idp[0].metadata_url`.
    pub path: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A configuration that could not be used, with all its problems.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// Every problem found.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    fn one(path: &str, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![ConfigProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners, threads, logging.
    #[serde(default)]
    pub server: ServerConfig,
    /// This service provider.
    pub sp: SpConfig,
    /// Trusted identity providers.
    #[serde(default, rename = "idp")]
    pub idps: Vec<IdpConfig>,
    /// Host + path prefix to upstreams.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// Identity headers stripped and injected.
    #[serde(default)]
    pub headers: HeadersConfig,
    /// The session cookie.
    pub session: SessionConfig,
    /// Replay and revocation state: this node's memory, or Redis shared
    /// by every node.
    #[serde(default)]
    pub store: samlgate_store::StoreConfig,
    /// The table's name before `[store]`: refused with a rename message.
    #[serde(default)]
    replay: Option<toml::Value>,
}

/// Listeners and process settings. Listener addresses are read at start;
/// a reload (SIGHUP) does not move them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Plain HTTP listeners, `host:port`.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// HTTPS listeners.
    #[serde(default)]
    pub tls: Vec<TlsListener>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`); keep it
    /// off the public network.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    /// Worker threads of the proxy.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// `text` or `json` log lines.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Put the NameID into the ACS log line (personal data: off by default).
    #[serde(default)]
    pub log_name_id: bool,
    /// Seconds a graceful shutdown (SIGTERM) waits for in-flight requests
    /// once the listeners have closed; the process exits earlier as soon
    /// as none is left.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Seconds the data listeners keep accepting after SIGTERM while
    /// `/readyz` already answers 503, so that a load balancer takes the
    /// node out before connections are refused.
    #[serde(default = "default_shutdown_delay")]
    pub shutdown_delay_seconds: u64,
    /// Seconds a client has to send a request head, also the longest a
    /// keep-alive connection may wait idle for its next request
    /// (slow-loris defence).
    #[serde(default = "default_client_header_timeout")]
    pub client_header_timeout_seconds: u64,
    /// Largest request head (request line and headers) in bytes; larger
    /// ones are refused with 431 before any routing.
    #[serde(default = "default_max_request_header_bytes")]
    pub max_request_header_bytes: usize,
    /// Peers (addresses or CIDR blocks) whose `X-Forwarded-For` is kept
    /// and appended to (load balancers in front of the gateway); from any
    /// other peer it is replaced by the peer's address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// A file holding the bearer token of the admin listener's
    /// `POST /sessions/revoke`; without it that endpoint answers 404.
    pub admin_token_file: Option<PathBuf>,
    /// How header names are spelled on the wire to backends: `lower`
    /// (default, as HTTP/2 and most proxies do; HTTP says names are
    /// case-insensitive) or `title` (`X-Remote-User`) for a backend that
    /// compares names case-sensitively. Title case costs a few percent of
    /// the pass-through (loadtest/RESULTS.md).
    #[serde(default = "default_header_case")]
    pub upstream_header_case: String,
    /// Seconds to wait for an upstream connection.
    #[serde(default = "default_connect_timeout")]
    pub upstream_connect_timeout_seconds: u64,
    /// Seconds to wait for an upstream response (then 504).
    #[serde(default = "default_read_timeout")]
    pub upstream_read_timeout_seconds: u64,
}

fn default_listen() -> Vec<String> {
    vec!["127.0.0.1:8080".into()]
}
fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}
fn default_threads() -> usize {
    2
}
fn default_log_format() -> String {
    "text".into()
}
fn default_grace() -> u64 {
    10
}
fn default_shutdown_delay() -> u64 {
    3
}
fn default_client_header_timeout() -> u64 {
    30
}
fn default_max_request_header_bytes() -> usize {
    64 * 1024
}
fn default_header_case() -> String {
    "lower".into()
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_read_timeout() -> u64 {
    60
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            tls: Vec::new(),
            admin_listen: default_admin_listen(),
            threads: default_threads(),
            log_format: default_log_format(),
            log_name_id: false,
            shutdown_grace_seconds: default_grace(),
            shutdown_delay_seconds: default_shutdown_delay(),
            client_header_timeout_seconds: default_client_header_timeout(),
            max_request_header_bytes: default_max_request_header_bytes(),
            trusted_proxies: Vec::new(),
            admin_token_file: None,
            upstream_header_case: default_header_case(),
            upstream_connect_timeout_seconds: default_connect_timeout(),
            upstream_read_timeout_seconds: default_read_timeout(),
        }
    }
}

/// An HTTPS listener (openssl).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListener {
    /// `host:port`.
    pub listen: String,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// This service provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpConfig {
    /// The SP entity ID (the Audience the IdP writes).
    pub entity_id: String,
    /// The external base URL, `https://host[:port]`: ACS and return URLs
    /// are built on it.
    pub base_url: String,
    /// ACS path (POST binding).
    #[serde(default = "default_acs_path")]
    pub acs_path: String,
    /// Logout path.
    #[serde(default = "default_slo_path")]
    pub slo_path: String,
    /// SP metadata path.
    #[serde(default = "default_metadata_path")]
    pub metadata_path: String,
    /// Where a browser goes after signing out: a path on this gateway or
    /// an absolute URL; default, a page of the gateway's saying so.
    pub logout_landing: Option<String>,
    /// PEM key that signs AuthnRequests and metadata.
    pub signing_key: Option<PathBuf>,
    /// Its PEM certificate.
    pub signing_cert: Option<PathBuf>,
    /// Decryption keys for EncryptedAssertion (several: rollover).
    #[serde(default)]
    pub decryption_keys: Vec<KeyPair>,
    /// Allowed clock difference in seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: i64,
    /// Oldest acceptable assertion IssueInstant, in seconds, on top of the
    /// clock skew.
    #[serde(default = "default_max_age")]
    pub max_response_age_seconds: i64,
    /// Largest ACS POST body.
    #[serde(default = "default_acs_body")]
    pub acs_max_body_bytes: usize,
    /// Accept SHA-1 signatures (legacy ADFS relying parties).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Smallest RSA key accepted for signatures.
    #[serde(default = "default_min_rsa")]
    pub min_rsa_bits: u32,
}

fn default_acs_path() -> String {
    "/saml/acs".into()
}
fn default_slo_path() -> String {
    "/saml/logout".into()
}
fn default_metadata_path() -> String {
    "/saml/metadata".into()
}
fn default_skew() -> i64 {
    180
}
fn default_max_age() -> i64 {
    300
}
fn default_acs_body() -> usize {
    256 * 1024
}
fn default_min_rsa() -> u32 {
    2048
}

/// A PEM key and its certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// PEM private key.
    pub key: PathBuf,
    /// PEM certificate.
    pub cert: PathBuf,
}

/// One trusted IdP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpConfig {
    /// Short name: routes, metrics and logs use it.
    pub name: String,
    /// Shown on the discovery page.
    pub display_name: Option<String>,
    /// Metadata from a file.
    pub metadata_file: Option<PathBuf>,
    /// Metadata from a URL (http or https), refreshed.
    pub metadata_url: Option<String>,
    /// Refresh interval (jittered by 10%).
    #[serde(default = "default_refresh")]
    pub refresh_interval_seconds: u64,
    /// PEM certificate that must have signed the metadata.
    pub metadata_signing_cert: Option<PathBuf>,
    /// Refuse metadata without validUntil.
    #[serde(default)]
    pub require_valid_until: bool,
    /// The entity to use when the metadata is an aggregate of several.
    pub entity_id: Option<String>,
    /// Accept unsolicited (IdP-initiated) Responses.
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// Ask for this AssertionConsumerServiceIndex instead of sending the
    /// ACS URL (Citrix ADC, CUCM per-node style).
    pub acs_index: Option<u32>,
    /// `redirect` (default) or `post` for the AuthnRequest.
    #[serde(default = "default_binding")]
    pub authn_request_binding: String,
    /// Ask the IdP for this NameID format.
    pub name_id_format: Option<String>,
    /// Ask the IdP to re-authenticate.
    #[serde(default)]
    pub force_authn: bool,
    /// Refuse a Response whose NameID Format is not `name_id_format`
    /// (`nameid_format_mismatch`): an IdP may answer another format than
    /// the one asked for (a transient value changes at every login).
    #[serde(default)]
    pub require_name_id_format: bool,
    /// Accept a plain `http://` metadata_url without a
    /// metadata_signing_cert (anyone on the path could swap the IdP's
    /// keys): loopback demos and tests only.
    #[serde(default)]
    pub allow_insecure_metadata: bool,
}

fn default_refresh() -> u64 {
    3600
}
fn default_binding() -> String {
    "redirect".into()
}

/// A route: requests whose host and path match go to its upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Host (without port); absent: any host.
    pub host: Option<String>,
    /// Path prefix, `/` for everything.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// `host:port` of the backends, round robin.
    pub upstreams: Vec<String>,
    /// `sso` (a session is required) or `public`.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// The IdP to log in at; with several IdPs and none named, a discovery
    /// page lets the user choose.
    pub idp: Option<String>,
    /// Attribute rules; all must hold, else 403.
    #[serde(default)]
    pub require: Vec<AttributeRule>,
    /// Accept `;` path parameters (`/app;jsessionid=1/x`) on this route,
    /// for backends that strip them before routing (servlet containers,
    /// Spring). Routing ignores the `;...` part of each segment; the
    /// forwarded path keeps it. Off: such a path is refused (400
    /// `path_invalid`).
    #[serde(default)]
    pub allow_matrix_params: bool,
    /// Match `path_prefix` as a Windows backend (IIS, NTFS) would: ASCII
    /// and simple Unicode case folded, trailing dots and spaces and an
    /// NTFS stream suffix (`::$DATA`) ignored per segment. A property of
    /// the backend: every route to the same upstream must agree.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Send the gateway's own cookies (session chunks, login states) to
    /// the backend. Off: they are removed from the `Cookie` header. A
    /// backend's `Set-Cookie` naming them is dropped either way.
    #[serde(default)]
    pub pass_gateway_cookies: bool,
}

fn default_prefix() -> String {
    "/".into()
}
fn default_policy() -> String {
    "sso".into()
}

/// "Attribute X must contain value Y".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// The attribute name as the IdP sends it.
    pub attribute: String,
    /// One of its values must equal this.
    pub contains: String,
}

/// Identity headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// Separator between multiple values.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Headers stripped from every client request, on top of the injected
    /// ones and `X-Remote-User`, `Remote-User`, `X-Forwarded-User`.
    #[serde(default)]
    pub strip: Vec<String>,
    /// Headers injected from the session.
    #[serde(default = "default_inject")]
    pub inject: Vec<HeaderMapping>,
}

fn default_separator() -> String {
    ";".into()
}

fn default_inject() -> Vec<HeaderMapping> {
    vec![
        HeaderMapping {
            name: "X-Remote-User".into(),
            from: "name_id".into(),
        },
        HeaderMapping {
            name: "X-Remote-Idp".into(),
            from: "idp".into(),
        },
    ]
}

impl Default for HeadersConfig {
    fn default() -> Self {
        HeadersConfig {
            separator: default_separator(),
            strip: Vec::new(),
            inject: default_inject(),
        }
    }
}

/// One injected header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMapping {
    /// The header name.
    pub name: String,
    /// `name_id`, `name_id_format`, `idp`, `session_index` or
    /// `attribute:<Name>`.
    pub from: String,
}

/// The session cookie.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Cookie name (chunks get `_1`, `_2`... appended).
    #[serde(default = "default_cookie")]
    pub cookie_name: String,
    /// Longest session, seconds (also bounded by SessionNotOnOrAfter).
    #[serde(default = "default_lifetime")]
    pub lifetime_seconds: i64,
    /// Key ring: base64 32-byte keys; the first seals, all open (rotation).
    #[serde(default)]
    pub keys: Vec<String>,
    /// A file with one base64 key per line, instead of `keys`.
    pub keys_file: Option<PathBuf>,
    /// Largest session (all cookie chunks together), bytes.
    #[serde(default = "default_max_cookie")]
    pub max_cookie_bytes: usize,
    /// Lifetime of the login-state cookie (request ID + return URL).
    #[serde(default = "default_login_lifetime")]
    pub login_lifetime_seconds: i64,
}

/// The default session cookie name (`__Host-` is prepended under TLS).
pub const DEFAULT_COOKIE_NAME: &str = "samlgate_session";

fn default_cookie() -> String {
    DEFAULT_COOKIE_NAME.into()
}
fn default_lifetime() -> i64 {
    8 * 3600
}
fn default_max_cookie() -> usize {
    16 * 1024
}
fn default_login_lifetime() -> i64 {
    300
}

/// Header names a backend may read as the user, stripped by default.
pub const DEFAULT_STRIPPED_HEADERS: [&str; 3] =
    ["X-Remote-User", "Remote-User", "X-Forwarded-User"];

impl Config {
    /// `memory` or `redis`, for reports.
    pub fn store_backend_name(&self) -> &'static str {
        match self.store.backend {
            samlgate_store::Backend::Memory => "memory",
            samlgate_store::Backend::Redis => "redis",
        }
    }

    /// Reads and validates a file. Relative paths inside it are taken
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one("(file)", format!("{}: {e}", path.display())))?;
        let mut config = Config::from_toml(&text)?;
        if let Some(dir) = path.parent() {
            config.resolve_paths(dir);
        }
        config.check_files()?;
        Ok(config)
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|s| format!(" (at byte {})", s.start))
                .unwrap_or_default();
            ConfigError::one("(toml)", format!("{}{span}", e.message()))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for t in &mut self.server.tls {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        if let Some(p) = &mut self.sp.signing_key {
            fix(p);
        }
        if let Some(p) = &mut self.sp.signing_cert {
            fix(p);
        }
        for k in &mut self.sp.decryption_keys {
            fix(&mut k.key);
            fix(&mut k.cert);
        }
        for idp in &mut self.idps {
            if let Some(p) = &mut idp.metadata_file {
                fix(p);
            }
            if let Some(p) = &mut idp.metadata_signing_cert {
                fix(p);
            }
        }
        if let Some(p) = &mut self.session.keys_file {
            fix(p);
        }
        if let Some(p) = &mut self.server.admin_token_file {
            fix(p);
        }
        if let Some(p) = &mut self.store.tls_ca {
            fix(p);
        }
    }

    /// Every referenced file must be readable.
    fn check_files(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |path: String, file: &Path| {
            if let Err(e) = std::fs::metadata(file) {
                problems.push(ConfigProblem {
                    path,
                    message: format!("{}: {e}", file.display()),
                });
            }
        };
        for (i, t) in self.server.tls.iter().enumerate() {
            check(format!("server.tls[{i}].cert"), &t.cert);
            check(format!("server.tls[{i}].key"), &t.key);
        }
        if let Some(p) = &self.sp.signing_key {
            check("sp.signing_key".into(), p);
        }
        if let Some(p) = &self.sp.signing_cert {
            check("sp.signing_cert".into(), p);
        }
        for (i, k) in self.sp.decryption_keys.iter().enumerate() {
            check(format!("sp.decryption_keys[{i}].key"), &k.key);
            check(format!("sp.decryption_keys[{i}].cert"), &k.cert);
        }
        for (i, idp) in self.idps.iter().enumerate() {
            if let Some(p) = &idp.metadata_file {
                check(format!("idp[{i}].metadata_file"), p);
            }
            if let Some(p) = &idp.metadata_signing_cert {
                check(format!("idp[{i}].metadata_signing_cert"), p);
            }
        }
        if let Some(p) = &self.session.keys_file {
            check("session.keys_file".into(), p);
        }
        if let Some(p) = &self.server.admin_token_file {
            check("server.admin_token_file".into(), p);
        }
        if let Some(p) = &self.store.tls_ca {
            check("store.tls_ca".into(), p);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Checks the whole configuration, collecting every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        let s = &self.server;
        if s.listen.is_empty() && s.tls.is_empty() {
            p.add("server.listen", "no listener: give an HTTP or TLS address");
        }
        for (i, a) in s.listen.iter().enumerate() {
            p.check_addr(&format!("server.listen[{i}]"), a);
        }
        for (i, t) in s.tls.iter().enumerate() {
            p.check_addr(&format!("server.tls[{i}].listen"), &t.listen);
        }
        p.check_addr("server.admin_listen", &s.admin_listen);
        if s.threads == 0 || s.threads > 256 {
            p.add("server.threads", "must be between 1 and 256");
        }
        if s.shutdown_delay_seconds > 300 {
            p.add("server.shutdown_delay_seconds", "must be at most 300");
        }
        if !(1..=3600).contains(&s.client_header_timeout_seconds) {
            p.add(
                "server.client_header_timeout_seconds",
                "must be between 1 and 3600",
            );
        }
        if !(8192..=1024 * 1024).contains(&s.max_request_header_bytes) {
            p.add(
                "server.max_request_header_bytes",
                "must be between 8192 and 1048576",
            );
        }
        if !matches!(s.upstream_header_case.as_str(), "lower" | "title") {
            p.add(
                "server.upstream_header_case",
                "must be \"lower\" or \"title\"",
            );
        }
        if !matches!(s.log_format.as_str(), "text" | "json") {
            p.add("server.log_format", "must be \"text\" or \"json\"");
        }

        let sp = &self.sp;
        if sp.entity_id.trim().is_empty() {
            p.add("sp.entity_id", "must not be empty");
        }
        match sp.base_url.split_once("://") {
            Some(("http" | "https", rest))
                if !rest.is_empty() && !rest.contains('/') && !rest.contains('?') => {}
            _ => p.add(
                "sp.base_url",
                "must be http(s)://host[:port] with no path, e.g. https://app.example.com",
            ),
        }
        for (field, path) in [
            ("sp.acs_path", &sp.acs_path),
            ("sp.slo_path", &sp.slo_path),
            ("sp.metadata_path", &sp.metadata_path),
        ] {
            if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
                p.add(field, "must be an absolute path like /saml/acs");
            }
        }
        if sp.signing_key.is_some() != sp.signing_cert.is_some() {
            p.add(
                "sp.signing_key",
                "signing_key and signing_cert go together: give both or neither",
            );
        }
        if !(0..=3600).contains(&sp.clock_skew_seconds) {
            p.add("sp.clock_skew_seconds", "must be between 0 and 3600");
        }
        if !(1..=86_400).contains(&sp.max_response_age_seconds) {
            p.add("sp.max_response_age_seconds", "must be between 1 and 86400");
        }
        if !(1024..=16 * 1024 * 1024).contains(&sp.acs_max_body_bytes) {
            p.add("sp.acs_max_body_bytes", "must be between 1 KiB and 16 MiB");
        }
        if sp.min_rsa_bits < 1024 {
            p.add("sp.min_rsa_bits", "must be at least 1024");
        }

        if self.idps.is_empty() {
            p.add("idp", "at least one [[idp]] is required");
        }
        let mut names = HashSet::new();
        for (i, idp) in self.idps.iter().enumerate() {
            let at = |f: &str| format!("idp[{i}].{f}");
            if idp.name.is_empty()
                || !idp
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                p.add(&at("name"), "must be non-empty [A-Za-z0-9_-]");
            }
            if !names.insert(idp.name.as_str()) {
                p.add(&at("name"), format!("duplicate IdP name {:?}", idp.name));
            }
            match (&idp.metadata_file, &idp.metadata_url) {
                (Some(_), Some(_)) => p.add(
                    &at("metadata_url"),
                    "give metadata_file or metadata_url, not both",
                ),
                (None, None) => p.add(
                    &at("metadata_file"),
                    "metadata_file or metadata_url is required",
                ),
                (None, Some(url))
                    if !(url.starts_with("http://") || url.starts_with("https://")) =>
                {
                    p.add(&at("metadata_url"), "must be an http:// or https:// URL")
                }
                (None, Some(url))
                    if url.starts_with("http://")
                        && idp.metadata_signing_cert.is_none()
                        && !idp.allow_insecure_metadata =>
                {
                    p.add(
                        &at("metadata_url"),
                        "plain http:// metadata can be swapped by anyone on the path (and with it the IdP's keys): use https://, set metadata_signing_cert, or (loopback tests only) allow_insecure_metadata = true",
                    )
                }
                _ => {}
            }
            if !(60..=7 * 86_400).contains(&idp.refresh_interval_seconds) {
                p.add(
                    &at("refresh_interval_seconds"),
                    "must be between 60 and 604800",
                );
            }
            if !matches!(idp.authn_request_binding.as_str(), "redirect" | "post") {
                p.add(
                    &at("authn_request_binding"),
                    "must be \"redirect\" or \"post\"",
                );
            }
        }

        for (i, r) in self.routes.iter().enumerate() {
            let at = |f: &str| format!("route[{i}].{f}");
            if !r.path_prefix.starts_with('/') {
                p.add(&at("path_prefix"), "must start with /");
            } else if let Some(problem) = prefix_problem(&r.path_prefix) {
                p.add(&at("path_prefix"), problem);
            }
            if r.upstreams.is_empty() {
                p.add(&at("upstreams"), "at least one upstream host:port");
            }
            for (j, u) in r.upstreams.iter().enumerate() {
                p.check_addr(&format!("route[{i}].upstreams[{j}]"), u);
            }
            if !matches!(r.policy.as_str(), "sso" | "public") {
                p.add(&at("policy"), "must be \"sso\" or \"public\"");
            }
            if let Some(idp) = &r.idp {
                if !self.idps.iter().any(|d| &d.name == idp) {
                    p.add(&at("idp"), format!("no [[idp]] is named {idp:?}"));
                }
            }
            if r.policy == "public" && !r.require.is_empty() {
                p.add(
                    &at("require"),
                    "a public route has no session to check rules on",
                );
            }
        }
        if self.routes.is_empty() {
            p.add("route", "at least one [[route]] is required");
        }
        // Case-insensitivity is the backend's: a case-sensitive `/admin`
        // rule in front of a backend that serves `/ADMIN/` is bypassed.
        let mut folding: Vec<(&str, usize, bool)> = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            for u in &r.upstreams {
                match folding.iter().find(|(up, _, _)| up == u) {
                    Some(&(_, j, ci)) if ci != r.case_insensitive => p.add(
                        &format!("route[{i}].case_insensitive"),
                        format!(
                            "route[{j}] sends to the same upstream {u} with case_insensitive = {ci}: \
                             it is a property of the backend, set it alike on every route to it"
                        ),
                    ),
                    Some(_) => {}
                    None => folding.push((u, i, r.case_insensitive)),
                }
            }
        }

        let h = &self.headers;
        for (i, m) in h.inject.iter().enumerate() {
            if !is_token(&m.name) {
                p.add(
                    &format!("headers.inject[{i}].name"),
                    "not a valid header name",
                );
            }
            if crate::headers::RESERVED.contains(&crate::headers::fold(&m.name).as_str()) {
                p.add(
                    &format!("headers.inject[{i}].name"),
                    format!(
                        "{} carries the request itself and cannot be an identity header",
                        m.name
                    ),
                );
            }
            let ok = matches!(
                m.from.as_str(),
                "name_id" | "name_id_format" | "idp" | "session_index"
            ) || m
                .from
                .strip_prefix("attribute:")
                .is_some_and(|a| !a.is_empty());
            if !ok {
                p.add(
                    &format!("headers.inject[{i}].from"),
                    "must be name_id, name_id_format, idp, session_index or attribute:<Name>",
                );
            }
        }
        for (i, name) in h.strip.iter().enumerate() {
            if !is_token(name) {
                p.add(&format!("headers.strip[{i}]"), "not a valid header name");
            }
        }
        if h.separator.is_empty() {
            p.add(
                "headers.separator",
                "must not be empty (several values would run together)",
            );
        }
        if h.separator.contains(['\r', '\n', '\0']) {
            p.add("headers.separator", "must not contain CR, LF or NUL");
        }

        let se = &self.session;
        if se.cookie_name.is_empty() || !is_token(&se.cookie_name) {
            p.add("session.cookie_name", "not a valid cookie name");
        }
        if !(60..=30 * 86_400).contains(&se.lifetime_seconds) {
            p.add("session.lifetime_seconds", "must be between 60 and 2592000");
        }
        if se.keys.is_empty() && se.keys_file.is_none() {
            p.add(
                "session.keys",
                "a key ring is required: keys = [\"<base64 of 32 random bytes>\"] (openssl rand -base64 32)",
            );
        }
        for (i, k) in se.keys.iter().enumerate() {
            if crate::seal::parse_key(k).is_err() {
                p.add(
                    &format!("session.keys[{i}]"),
                    "must be base64 of exactly 32 bytes",
                );
            }
        }
        if !(4096..=64 * 1024).contains(&se.max_cookie_bytes) {
            p.add("session.max_cookie_bytes", "must be between 4096 and 65536");
        }
        if !(30..=3600).contains(&se.login_lifetime_seconds) {
            p.add(
                "session.login_lifetime_seconds",
                "must be between 30 and 3600",
            );
        }

        if self.replay.is_some() {
            p.add(
                "replay",
                "the [replay] table is now [store] (backend = \"memory\" | \"redis\", max_entries, ...): rename it",
            );
        }
        for problem in self.store.validate() {
            p.add(&problem.path, problem.message);
        }
        for (i, block) in self.server.trusted_proxies.iter().enumerate() {
            if crate::ip_block::IpBlock::parse(block).is_none() {
                p.add(
                    &format!("server.trusted_proxies[{i}]"),
                    "must be an IP address or a CIDR block such as 10.0.0.0/8",
                );
            }
        }
        if let Some(landing) = &self.sp.logout_landing {
            let ok = (landing.starts_with('/') && !landing.starts_with("//"))
                || landing.starts_with("https://")
                || landing.starts_with("http://");
            if !ok || landing.contains(['\r', '\n', ' ']) {
                p.add(
                    "sp.logout_landing",
                    "must be a path such as /signed-out or an http(s):// URL",
                );
            }
        }
        p.finish()
    }
}

/// Why a route prefix cannot be matched safely, if it cannot: it must be
/// its own canonical path (see `path.rs`) written with unreserved ASCII
/// characters only (a non-ASCII name reaches a backend in several Unicode
/// forms that the gateway cannot all match).
fn prefix_problem(prefix: &str) -> Option<String> {
    // Only unreserved characters: a request segment with an escape (`%3A`)
    // can then never equal a prefix segment, decoded or not.
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !prefix.chars().all(unreserved) {
        return Some(
            "must be plain ASCII path segments: letters, digits, - . _ ~ (no escapes, ; or ?)"
                .into(),
        );
    }
    match crate::path::canonical_path(prefix) {
        Err(e) => Some(format!("not a valid path: {e}")),
        Ok(c) if c.target() != prefix => Some(format!(
            "not in canonical form (requests are matched on canonical paths): write {:?}",
            c.target()
        )),
        Ok(_) => None,
    }
}

/// An RFC 7230 token (header and cookie names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn check_addr(&mut self, path: &str, addr: &str) {
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            self.add(path, format!("{addr:?} is not host:port"));
        }
    }

    fn finish(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[sp]
entity_id = "https://gw.example.test/saml"
base_url = "https://gw.example.test"
[[idp]]
name = "corp"
metadata_file = "idp.xml"
[[route]]
upstreams = ["127.0.0.1:8000"]
[session]
keys = ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]
"#;

    #[test]
    fn minimal_config_is_valid_with_defaults() {
        let c = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(c.sp.acs_path, "/saml/acs");
        assert_eq!(c.sp.acs_max_body_bytes, 256 * 1024);
        assert_eq!(c.sp.max_response_age_seconds, 300);
        assert_eq!(c.routes[0].policy, "sso");
        assert_eq!(c.session.max_cookie_bytes, 16 * 1024);
        assert_eq!(c.idps[0].refresh_interval_seconds, 3600);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = MINIMAL
            .replace("https://gw.example.test\"", "gw.example.test/x\"")
            .replace("127.0.0.1:8000", "nohost")
            .replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "c2hvcnQ=")
            + "[[route]]\nupstreams=[\"127.0.0.1:1\"]\nidp=\"nope\"\npolicy=\"maybe\"\n"
            + "[headers]\ninject = [{ name = \"Cookie\", from = \"name_id\" }]\n";
        let err = Config::from_toml(&bad).unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "sp.base_url",
            "route[0].upstreams[0]",
            "session.keys[0]",
            "route[1].idp",
            "route[1].policy",
            "headers.inject[0].name",
        ] {
            assert!(paths.contains(&expected), "{expected} missing in {paths:?}");
        }
    }

    #[test]
    fn the_example_config_is_valid_once_its_key_is_set() {
        let example = include_str!("../../../config/samlgate.example.toml");
        let err = Config::from_toml(example).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(
            err.problems[0].path, "session.keys[0]",
            "the placeholder must be replaced"
        );
        let set = example.replace(
            "REPLACE+with+openssl+rand+base64+32+output+AA=",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        );
        let c = Config::from_toml(&set).unwrap();
        assert_eq!(c.routes.len(), 3);
        assert_eq!(c.headers.inject.len(), 4);
    }

    #[test]
    fn request_path_settings_default_off_and_are_checked() {
        let c = Config::from_toml(MINIMAL).unwrap();
        let r = &c.routes[0];
        assert!(!r.allow_matrix_params && !r.case_insensitive && !r.pass_gateway_cookies);
        let set = MINIMAL.replace(
            "upstreams = [\"127.0.0.1:8000\"]",
            "upstreams = [\"127.0.0.1:8000\"]\nallow_matrix_params = true\n\
             case_insensitive = true\npass_gateway_cookies = true",
        );
        let r = &Config::from_toml(&set).unwrap().routes[0];
        assert!(r.allow_matrix_params && r.case_insensitive && r.pass_gateway_cookies);

        let route = |prefix: &str, upstream: &str, ci: bool| {
            format!(
                "[[route]]\npath_prefix = {prefix:?}\nupstreams = [{upstream:?}]\n\
                 case_insensitive = {ci}\n"
            )
        };
        for (prefix, hint) in [
            ("/admin//x", "write \"/admin/x\""),
            ("/a/../admin", "write \"/admin\""),
            ("/%61dmin", "no escapes"),
            ("/admin;x", "no escapes, ; or ?"),
            ("/caf\u{e9}", "plain ASCII"),
            ("/a:b", "plain ASCII"),
            ("/a\\b", "plain ASCII"),
            ("/.../x", "dots"),
        ] {
            let err =
                Config::from_toml(&format!("{MINIMAL}{}", route(prefix, "127.0.0.1:9", false)))
                    .unwrap_err();
            let problem = &err.problems[0];
            assert_eq!(problem.path, "route[1].path_prefix", "{prefix}: {err}");
            assert!(
                problem.message.contains(hint),
                "{prefix}: {}",
                problem.message
            );
        }
        for prefix in ["/", "/admin", "/admin/", "/a.b/~c/d-e_f"] {
            let ok = format!("{MINIMAL}{}", route(prefix, "127.0.0.1:9", false));
            assert!(Config::from_toml(&ok).is_ok(), "{prefix}");
        }

        // One backend, two opinions on its case: refused.
        let mixed = format!(
            "{MINIMAL}{}{}",
            route("/admin", "127.0.0.1:8000", false),
            route("/other", "127.0.0.1:9", true)
        )
        .replace(
            "upstreams = [\"127.0.0.1:8000\"]\n[session]",
            "upstreams = [\"127.0.0.1:8000\"]\ncase_insensitive = true\n[session]",
        );
        let err = Config::from_toml(&mixed).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].path, "route[1].case_insensitive");
        assert!(err.problems[0].message.contains("route[0]"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            Config::from_toml(&format!("{MINIMAL}\n[store]\nbakend = \"memory\"\n")).unwrap_err();
        assert!(err.to_string().contains("bakend"), "{err}");
        let err =
            Config::from_toml(&format!("{MINIMAL}\n[replay]\nmax_entries = 5000\n")).unwrap_err();
        assert!(err.to_string().contains("now [store]"), "{err}");
    }
}
