//! The compiled configuration ([`Gateway`]) and what outlives reloads
//! ([`Shared`]: metrics, replay store, key cache, the current gateway).
//!
//! A request loads the current `Arc<Gateway>` once and uses it to the end,
//! so a reload (SIGHUP) never mixes two configurations in one request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, DecryptionPolicy, SigningKey, TrustedKeys};
use samlgate_saml::{AcsEndpoint, Clock, IdpEntity, IdpMetadata, SpMetadata, Trust, Validator};
use samlgate_xml::Limits;
use tokio::sync::watch;

use crate::config::{Config, ConfigError, ConfigProblem, IdpConfig, RouteConfig};
use crate::cookie_filter::GatewayCookies;
use crate::dataplane::upstream::Upstreams;
use crate::headers::{HeaderPolicy, InvalidValue};
use crate::ip_block::IpBlock;
use crate::key_cache::FingerprintKeyCache;
use crate::metadata_feed::{FeedOptions, MetadataFeed, MetadataSource};
use crate::metrics::{Metrics, RouteSeries};
use crate::reason::GatewayReason;
use crate::seal::{parse_key, KeyRing};
use crate::session::{effective_cookie_name, CookieSettings, Cookies, Session};

/// One configured IdP with its metadata feed.
#[derive(Debug)]
pub struct Idp {
    /// Its configuration.
    pub config: IdpConfig,
    /// Its metadata, refreshed in the background.
    pub feed: Arc<MetadataFeed>,
}

impl Idp {
    /// The entity this IdP stands for in its current metadata: the
    /// configured `entity_id`, or the only entity.
    pub fn entity(&self) -> Option<IdpEntity> {
        let metadata = self.feed.current()?;
        select_entity(&metadata, self.config.entity_id.as_deref())
    }
}

fn select_entity(metadata: &IdpMetadata, entity_id: Option<&str>) -> Option<IdpEntity> {
    match entity_id {
        Some(id) => metadata
            .entities
            .iter()
            .find(|e| e.entity_id == id)
            .cloned(),
        None if metadata.entities.len() == 1 => metadata.entities.first().cloned(),
        None => None,
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// Its configuration.
    pub config: RouteConfig,
    /// A label for metrics: `host/prefix`.
    pub label: Arc<str>,
    /// Resolved upstream addresses.
    pub upstreams: Vec<SocketAddr>,
    /// The same, as URI authorities (made once, not per request).
    authorities: Vec<http::uri::Authority>,
    next: AtomicUsize,
    series: OnceLock<Arc<RouteSeries>>,
}

impl Route {
    /// This route's metric series (resolved on first use: the metrics
    /// outlive the configuration, the route does not).
    pub fn series(&self, metrics: &Metrics) -> &Arc<RouteSeries> {
        self.series
            .get_or_init(|| Arc::new(RouteSeries::new(metrics, self.label.clone())))
    }

    /// The next upstream, round robin.
    pub fn next_upstream(&self) -> Option<http::uri::Authority> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.authorities
            .get(n % self.authorities.len().max(1))
            .cloned()
    }

    /// True when this route serves `host` (without port; None when the
    /// request named none usable) and the canonical routing `path`.
    pub fn matches(&self, host: Option<&str>, path: &str) -> bool {
        let host_ok = match &self.config.host {
            Some(h) => host.is_some_and(|host| h.eq_ignore_ascii_case(host)),
            None => true,
        };
        host_ok
            && crate::path::prefix_matches(
                path,
                &self.config.path_prefix,
                self.config.case_insensitive,
            )
    }
}

/// One configuration, compiled: keys read, routes resolved, feeds loaded.
pub struct Gateway {
    /// The configuration it was built from.
    pub config: Config,
    /// `base_url + acs_path`: Destination and Recipient.
    pub acs_url: String,
    /// Hosts that return URLs may point at.
    pub hosts: Vec<String>,
    /// Signs AuthnRequests and the SP metadata.
    pub signing_key: Option<SigningKey>,
    /// Decrypts EncryptedAssertion.
    pub decryption_keys: DecryptionKeys,
    /// Signature algorithm policy.
    pub algorithms: AlgorithmPolicy,
    /// Session and login-state sealing.
    pub ring: KeyRing,
    /// Cookie names and flags.
    pub cookies: CookieSettings,
    /// Recognises the gateway's own cookies in requests to and responses
    /// from backends.
    pub gateway_cookies: GatewayCookies,
    /// Peers whose `X-Forwarded-For` is appended to rather than replaced.
    pub trusted_proxies: Vec<IpBlock>,
    /// `base_url + slo_path`: the Destination of logout messages to us.
    pub slo_url: String,
    /// The admin listener's bearer token (`server.admin_token_file`).
    pub admin_token: Option<String>,
    /// Header strip and inject rules.
    pub headers: HeaderPolicy,
    /// Routes in configuration order.
    pub routes: Vec<Route>,
    /// IdPs in configuration order.
    pub idps: Vec<Idp>,
    /// The SP metadata document served at `metadata_path`.
    pub sp_metadata: String,
    /// The pooled client to the backends.
    pub upstreams: Upstreams,
    /// Opened sessions by their sealed text: a browser sends the same
    /// cookie with every request, and opening it (AES-GCM, inflate, JSON)
    /// costs more than the rest of the request path. Keyed by the whole
    /// sealed text, so only a genuine cookie can hit; expiry is checked on
    /// every use; per configuration, so a key ring change empties it.
    sessions: SessionCache,
    trust: Mutex<TrustSnapshot>,
    /// Stops this configuration's metadata refresh loops when it is replaced.
    stop_feeds: watch::Sender<bool>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("acs_url", &self.acs_url)
            .field("routes", &self.routes.len())
            .field("idps", &self.idps.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop_feeds.send(true);
    }
}

/// Opened sessions by sealed text. A read-mostly map behind a `RwLock`:
/// a hit is one uncontended read lock, where moka's bookkeeping woke other
/// threads (futex) on the hot path (loadtest/RESULTS.md). Bounded: when
/// full, expired entries are dropped, and if that is not enough the map
/// starts over (sessions reopen from their cookies; nothing is lost).
#[derive(Default)]
struct SessionCache {
    map: std::sync::RwLock<std::collections::HashMap<String, Arc<OpenSession>, TailHash>>,
}

/// Hashes only the last 16 bytes of each key: a sealed session ends in its
/// AES-GCM tag, random for every genuine cookie, and hashing the whole
/// cookie (hundreds of bytes) with SipHash was a visible share of the
/// request path. A forged cookie can collide with a stored one only to be
/// compared in full and refused; only genuine sessions are ever inserted.
#[derive(Default, Clone)]
struct TailHash(std::hash::RandomState);

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(16)..).unwrap_or(bytes);
        self.0.write(tail);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

const SESSION_CACHE_CAPACITY: usize = 100_000;

impl SessionCache {
    fn get(&self, sealed: &str) -> Option<Arc<OpenSession>> {
        self.map.read().ok()?.get(sealed).cloned()
    }

    fn insert(&self, sealed: String, open: Arc<OpenSession>, now: i64) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= SESSION_CACHE_CAPACITY {
            map.retain(|_, o| o.session.expires > now);
            if map.len() >= SESSION_CACHE_CAPACITY / 2 {
                map.clear();
            }
        }
        map.insert(sealed, open);
    }
}

/// An opened session and its identity headers (or why they cannot be
/// sent), shared by all requests that carry the same cookie.
#[derive(Debug)]
pub struct OpenSession {
    /// The session.
    pub session: Session,
    /// Its subject handle: revocations of the user are filed under it.
    pub subject: samlgate_store::SubjectKey,
    /// Its session ID (all zero for a session sealed before IDs existed:
    /// only revocations of its subject or SessionIndex reach it).
    pub session_id: samlgate_store::SessionId,
    /// Its SessionIndex as the revocation view files it (made once here,
    /// not per request).
    pub session_index_digest: Option<samlgate_store::SessionIndexDigest>,
    /// The headers to inject. Names and values are `Bytes` underneath, so
    /// the clones that each request makes share them rather than copy.
    pub headers: Result<Vec<(http::HeaderName, http::HeaderValue)>, InvalidValue>,
}

/// The trust built from the feeds' current metadata, rebuilt when a feed
/// swaps in new metadata (pointer comparison: cheap per request).
#[derive(Default)]
struct TrustSnapshot {
    sources: Vec<Option<Arc<IdpMetadata>>>,
    trust: Arc<Trust>,
}

/// What is built from a configuration before it replaces the current one.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Inline metadata per IdP name (the demo), instead of file/URL.
    pub inline_metadata: Vec<(String, Vec<u8>)>,
    /// The session key ring, when not from the configuration (the demo).
    pub session_keys: Option<Vec<[u8; 32]>>,
    /// Fetch timeout for metadata URLs.
    pub fetch_timeout: Duration,
    /// The SP signing key, when not from the configuration (the demo,
    /// which writes no files).
    pub signing_key: Option<SigningKey>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            inline_metadata: Vec::new(),
            session_keys: None,
            fetch_timeout: Duration::from_secs(10),
            signing_key: None,
        }
    }
}

fn problem(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        problems: vec![ConfigProblem {
            path: path.into(),
            message: message.into(),
        }],
    }
}

fn read(path: &std::path::Path, field: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| problem(field, format!("{}: {e}", path.display())))
}

impl Gateway {
    /// Compiles a validated configuration and loads every IdP's metadata
    /// once; any failure leaves the caller's current gateway in place.
    pub async fn build(
        config: Config,
        options: &BuildOptions,
        key_cache: &Arc<FingerprintKeyCache>,
    ) -> Result<Gateway, ConfigError> {
        let sp = &config.sp;
        let acs_url = format!("{}{}", sp.base_url.trim_end_matches('/'), sp.acs_path);
        let secure = sp.base_url.starts_with("https://") || !config.server.tls.is_empty();

        let signing_key = match (&sp.signing_key, &sp.signing_cert) {
            _ if options.signing_key.is_some() => options.signing_key.clone(),
            (Some(k), Some(c)) => Some(
                SigningKey::from_pem(&read(k, "sp.signing_key")?, &read(c, "sp.signing_cert")?)
                    .map_err(|e| problem("sp.signing_key", e))?,
            ),
            _ => None,
        };
        let mut decryption_keys = DecryptionKeys::new();
        let mut encryption_certs = Vec::new();
        for (i, pair) in sp.decryption_keys.iter().enumerate() {
            let field = format!("sp.decryption_keys[{i}]");
            decryption_keys
                .add_pem(&read(&pair.key, &field)?)
                .map_err(|e| problem(&field, e))?;
            encryption_certs
                .push(pem_to_der(&read(&pair.cert, &field)?).map_err(|e| problem(&field, e))?);
        }

        let ring_keys = match &options.session_keys {
            Some(keys) => keys.clone(),
            None => session_keys(&config)?,
        };
        let ring = KeyRing::new(&ring_keys).map_err(|e| problem("session.keys", e.to_string()))?;
        let cookies = CookieSettings {
            name: effective_cookie_name(&config.session.cookie_name, secure),
            max_bytes: config.session.max_cookie_bytes,
            secure,
            acs_path: sp.acs_path.clone(),
            slo_path: sp.slo_path.clone(),
        };
        let gateway_cookies = GatewayCookies::new(&config.session.cookie_name);
        let trusted_proxies = config
            .server
            .trusted_proxies
            .iter()
            .filter_map(|b| IpBlock::parse(b))
            .collect();
        let slo_url = format!("{}{}", sp.base_url.trim_end_matches('/'), sp.slo_path);
        let admin_token = match &config.server.admin_token_file {
            Some(path) => {
                let text = String::from_utf8(read(path, "server.admin_token_file")?)
                    .map_err(|_| problem("server.admin_token_file", "not UTF-8"))?;
                let token = text.trim().to_owned();
                if token.len() < 16 {
                    return Err(problem(
                        "server.admin_token_file",
                        "the token must be at least 16 characters (e.g. openssl rand -hex 32)",
                    ));
                }
                Some(token)
            }
            None => None,
        };
        let headers = HeaderPolicy::new(&config.headers).map_err(|e| problem("headers", e))?;

        let mut routes = Vec::new();
        for (i, r) in config.routes.iter().enumerate() {
            let mut upstreams = Vec::new();
            for (j, u) in r.upstreams.iter().enumerate() {
                let addr = u
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        problem(
                            &format!("route[{i}].upstreams[{j}]"),
                            format!("cannot resolve {u}"),
                        )
                    })?;
                upstreams.push(addr);
            }
            let authorities = upstreams
                .iter()
                .map(|a| {
                    a.to_string()
                        .parse::<http::uri::Authority>()
                        .map_err(|e| problem(&format!("route[{i}].upstreams"), format!("{a}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            routes.push(Route {
                label: format!("{}{}", r.host.as_deref().unwrap_or("*"), r.path_prefix).into(),
                config: r.clone(),
                upstreams,
                authorities,
                next: AtomicUsize::new(0),
                series: OnceLock::new(),
            });
        }

        let (stop_feeds, _) = watch::channel(false);
        let mut idps = Vec::new();
        for (i, idp) in config.idps.iter().enumerate() {
            let source = match options.inline_metadata.iter().find(|(n, _)| n == &idp.name) {
                Some((_, xml)) => MetadataSource::Inline(xml.clone()),
                None => match (&idp.metadata_file, &idp.metadata_url) {
                    (Some(f), _) => MetadataSource::File(f.clone()),
                    (None, Some(u)) => MetadataSource::Url(u.clone()),
                    (None, None) => {
                        return Err(problem(&format!("idp[{i}]"), "no metadata source"));
                    }
                },
            };
            let signing_keys = match &idp.metadata_signing_cert {
                Some(path) => {
                    let mut keys = TrustedKeys::new();
                    keys.add_pem_certificates(&read(
                        path,
                        &format!("idp[{i}].metadata_signing_cert"),
                    )?)
                    .map_err(|e| problem(&format!("idp[{i}].metadata_signing_cert"), e))?;
                    Some(keys)
                }
                None => None,
            };
            let options = FeedOptions {
                refresh_interval: Duration::from_secs(idp.refresh_interval_seconds),
                fetch_timeout: options.fetch_timeout,
                signing_keys,
                require_valid_until: idp.require_valid_until,
                ..FeedOptions::default()
            };
            let feed = Arc::new(MetadataFeed::new(
                idp.name.clone(),
                source,
                options,
                key_cache.clone(),
            ));
            feed.load()
                .await
                .map_err(|e| problem(&format!("idp[{i}] ({})", idp.name), e.to_string()))?;
            let idp = Idp {
                config: idp.clone(),
                feed,
            };
            if let Some(metadata) = idp.feed.current() {
                if select_entity(&metadata, idp.config.entity_id.as_deref()).is_none() {
                    return Err(problem(
                        &format!("idp[{i}].entity_id"),
                        match &idp.config.entity_id {
                            Some(id) => format!("the metadata has no IdP entity {id:?}"),
                            None => format!(
                                "the metadata holds {} IdP entities: name one with entity_id",
                                metadata.entities.len()
                            ),
                        },
                    ));
                }
            }
            idps.push(idp);
        }

        let mut hosts: Vec<String> = config
            .routes
            .iter()
            .filter_map(|r| r.host.clone())
            .collect();
        if let Some((_, rest)) = sp.base_url.split_once("://") {
            hosts.push(rest.split(':').next().unwrap_or(rest).to_owned());
        }

        let sp_metadata = SpMetadata {
            entity_id: sp.entity_id.clone(),
            acs: vec![AcsEndpoint {
                index: 0,
                url: acs_url.clone(),
                is_default: true,
            }],
            slo: vec![slo_url.clone()],
            signing_certs: signing_key.iter().map(|k| k.cert_der().to_vec()).collect(),
            encryption_certs,
            name_id_formats: {
                let mut formats: Vec<String> = config
                    .idps
                    .iter()
                    .filter_map(|i| i.name_id_format.clone())
                    .collect();
                formats.sort();
                formats.dedup();
                formats
            },
            authn_requests_signed: signing_key.is_some(),
            want_assertions_signed: true,
            valid_until: None,
            id: String::new(),
        };
        let sp_metadata = match &signing_key {
            Some(key) => sp_metadata
                .to_signed_xml(key)
                .map(|xml| String::from_utf8_lossy(&xml).into_owned()),
            None => sp_metadata.to_xml(),
        }
        .map_err(|e| problem("sp", e.to_string()))?;

        let algorithms = AlgorithmPolicy {
            allow_sha1: sp.allow_sha1,
            min_rsa_bits: sp.min_rsa_bits,
            ..AlgorithmPolicy::default()
        };

        Ok(Gateway {
            acs_url,
            hosts,
            signing_key,
            decryption_keys,
            algorithms,
            ring,
            cookies,
            gateway_cookies,
            trusted_proxies,
            slo_url,
            admin_token,
            headers,
            routes,
            idps,
            sp_metadata,
            upstreams: Upstreams::new(
                Duration::from_secs(config.server.upstream_connect_timeout_seconds),
                Duration::from_secs(config.server.upstream_read_timeout_seconds),
                config.server.upstream_header_case == "title",
            ),
            sessions: SessionCache::default(),
            trust: Mutex::new(TrustSnapshot::default()),
            stop_feeds,
            config,
        })
    }

    /// Starts the background refresh of every URL or file feed on the
    /// current tokio runtime; they stop when this gateway is dropped.
    pub fn spawn_refresh(&self) {
        for idp in &self.idps {
            let feed = idp.feed.clone();
            let stop = self.stop_feeds.subscribe();
            tokio::spawn(feed.run(stop));
        }
    }

    /// The session the request's cookies carry, if valid at `now`, with
    /// its identity headers computed once for all its requests.
    pub fn session(&self, cookies: &Cookies<'_>, now: i64) -> Option<Arc<OpenSession>> {
        let sealed = self.cookies.sealed_session(cookies)?;
        if let Some(open) = self.sessions.get(&sealed) {
            return (open.session.expires > now).then_some(open);
        }
        let session = self.cookies.open_session(&self.ring, &sealed, now)?;
        let headers = self.headers.values(&session).and_then(|values| {
            values
                .into_iter()
                .map(|(name, value)| {
                    // values() admits only bytes a header value may hold.
                    http::HeaderValue::from_str(&value)
                        .or_else(|_| http::HeaderValue::from_bytes(value.as_bytes()))
                        .map(|v| (name.clone(), v))
                        .map_err(|_| InvalidValue {
                            header: name.to_string(),
                        })
                })
                .collect()
        });
        let subject = samlgate_store::SubjectKey::new(
            &session.issuer,
            session.name_id_format.as_deref(),
            session.name_qualifier.as_deref(),
            session.sp_name_qualifier.as_deref(),
            &session.name_id,
        );
        let session_id = samlgate_store::SessionId::from_b64url(&session.session_id)
            .unwrap_or_else(|| samlgate_store::SessionId::from_bytes([0; 16]));
        let session_index_digest = session
            .session_index
            .as_deref()
            .map(samlgate_store::SessionIndexDigest::new);
        let open = Arc::new(OpenSession {
            session,
            subject,
            session_id,
            session_index_digest,
            headers,
        });
        self.sessions.insert(sealed.into_owned(), open.clone(), now);
        Some(open)
    }

    /// The validator of this configuration's ACS: its SP entity ID, ACS
    /// URL, clock skew, algorithm policy and decryption keys, over `trust`
    /// (from [`Gateway::trust`]). `in_response_to` None accepts an
    /// unsolicited Response, unless `refuse_solicited`. The replay check is
    /// the gateway's, after validation (the store is asynchronous).
    pub fn validator<'a>(
        &'a self,
        trust: &'a Trust,
        clock: &'a dyn Clock,
        in_response_to: Option<&'a str>,
        refuse_solicited: bool,
    ) -> Validator<'a> {
        Validator {
            trust,
            sp_entity_id: Some(&self.config.sp.entity_id),
            acs_url: Some(&self.acs_url),
            in_response_to,
            clock,
            clock_skew_seconds: self.config.sp.clock_skew_seconds,
            algorithms: self.algorithms,
            decryption_keys: &self.decryption_keys,
            decryption: DecryptionPolicy::default(),
            limits: Limits::default(),
            replay: None,
            refuse_solicited,
        }
    }

    /// The trust of the IdPs' current metadata.
    pub fn trust(&self) -> Arc<Trust> {
        let current: Vec<Option<Arc<IdpMetadata>>> =
            self.idps.iter().map(|i| i.feed.current()).collect();
        let Ok(mut snapshot) = self.trust.lock() else {
            return Arc::new(build_trust(&self.idps));
        };
        let same = snapshot.sources.len() == current.len()
            && snapshot
                .sources
                .iter()
                .zip(&current)
                .all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                });
        if !same {
            snapshot.trust = Arc::new(build_trust(&self.idps));
            snapshot.sources = current;
        }
        snapshot.trust.clone()
    }

    /// The configured IdP whose entity is `issuer`.
    pub fn idp_for_issuer(&self, issuer: &str) -> Option<&Idp> {
        self.idps
            .iter()
            .find(|i| i.entity().is_some_and(|e| e.entity_id == issuer))
    }

    /// The configured IdP named `name`.
    pub fn idp_named(&self, name: &str) -> Option<&Idp> {
        self.idps.iter().find(|i| i.config.name == name)
    }

    /// True once every IdP can be used for logins.
    pub fn ready(&self) -> bool {
        self.idps.iter().all(|i| i.problem().is_none())
    }
}

/// Why a configured IdP cannot be used for logins now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpProblem {
    /// `idp_unavailable` (no usable metadata) or `idp_endpoint_missing`.
    pub reason: GatewayReason,
    /// What is wrong, for the operator.
    pub detail: String,
}

impl Idp {
    /// None when logins through this IdP can start: its metadata is loaded
    /// and has a SingleSignOnService for the configured binding.
    pub fn problem(&self) -> Option<IdpProblem> {
        let Some(entity) = self.entity() else {
            return Some(IdpProblem {
                reason: GatewayReason::IdpUnavailable,
                detail: "its metadata is not loaded (see the log for the fetch or parse error)"
                    .into(),
            });
        };
        let binding = if self.config.authn_request_binding == "post" {
            samlgate_saml::BINDING_HTTP_POST
        } else {
            samlgate_saml::BINDING_HTTP_REDIRECT
        };
        if IdpEntity::endpoint(&entity.sso, binding).is_none() {
            return Some(IdpProblem {
                reason: GatewayReason::IdpEndpointMissing,
                detail: format!(
                    "its metadata has no SingleSignOnService for {binding} (authn_request_binding = {:?}); it offers: {}",
                    self.config.authn_request_binding,
                    if entity.sso.is_empty() {
                        "none".to_owned()
                    } else {
                        entity
                            .sso
                            .iter()
                            .map(|e| e.binding.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            });
        }
        None
    }
}

/// Unix time at which the first of an IdP's signing certificates expires
/// (a raw key without certificate has none).
fn earliest_cert_expiry(entity: &IdpEntity) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    entity
        .signing_keys
        .iter()
        .filter_map(|k| k.cert_der())
        .filter_map(|der| openssl::x509::X509::from_der(der).ok())
        .filter_map(|cert| {
            let diff = epoch.diff(cert.not_after()).ok()?;
            Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
        })
        .min()
}

fn build_trust(idps: &[Idp]) -> Trust {
    let mut trust = Trust::new();
    for idp in idps {
        if let Some(entity) = idp.entity() {
            trust.add_idp(entity);
        }
    }
    trust
}

fn session_keys(config: &Config) -> Result<Vec<[u8; 32]>, ConfigError> {
    let mut keys = Vec::new();
    for (i, k) in config.session.keys.iter().enumerate() {
        keys.push(parse_key(k).map_err(|e| problem(&format!("session.keys[{i}]"), e.to_string()))?);
    }
    if let Some(path) = &config.session.keys_file {
        let text = String::from_utf8(read(path, "session.keys_file")?)
            .map_err(|_| problem("session.keys_file", "not UTF-8"))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(
                parse_key(line)
                    .map_err(|e| problem("session.keys_file", format!("line {}: {e}", n + 1)))?,
            );
        }
    }
    Ok(keys)
}

fn pem_to_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    openssl::x509::X509::from_pem(pem)
        .and_then(|c| c.to_der())
        .map_err(|e| format!("cannot read certificate: {e}"))
}

/// What outlives configuration reloads.
pub struct Shared {
    /// The current configuration.
    pub gateway: ArcSwap<Gateway>,
    /// Metrics.
    pub metrics: Metrics,
    /// Replay and revocation state (a reload must not forget used
    /// assertions; `[store]` changes apply at restart).
    pub store: Arc<dyn samlgate_store::Store>,
    /// This node's view of every unexpired revocation: the request path
    /// reads it, never the store.
    pub view: Arc<samlgate_store::RevocationView>,
    /// The store's failure policy (`[store] on_failure`).
    pub on_failure: samlgate_store::OnFailure,
    /// Parsed IdP keys.
    pub key_cache: Arc<FingerprintKeyCache>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The process is shutting down (readyz turns 503 to drain).
    pub draining: AtomicBool,
    /// Every listener accepts connections (readyz is 503 before).
    pub listening: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Shared state around `gateway` with a node-local memory store, for
    /// benches and tools that run the ACS without listeners. Call inside a
    /// tokio runtime.
    pub async fn with_memory_store(gateway: Gateway, max_entries: u64) -> Result<Shared, String> {
        let metrics = Metrics::new().map_err(|e| e.to_string())?;
        let config = samlgate_store::StoreConfig {
            max_entries,
            ..samlgate_store::StoreConfig::default()
        };
        let handle = samlgate_store::connect(
            &config,
            metrics.cluster.clone(),
            Arc::new(samlgate_store::SystemClock),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Shared {
            gateway: ArcSwap::from_pointee(gateway),
            metrics,
            store: handle.store,
            view: handle.view,
            on_failure: config.on_failure,
            key_cache: Arc::new(FingerprintKeyCache::new(16)),
            clock: Arc::new(samlgate_saml::SystemClock),
            draining: AtomicBool::new(false),
            listening: AtomicBool::new(false),
        })
    }

    /// Refreshes the gauges that are read rather than counted.
    pub fn update_gauges(&self) {
        let gateway = self.gateway.load();
        let now = self.clock.now().unix_millis() / 1000;
        for idp in &gateway.idps {
            let name = idp.config.name.as_str();
            if let Some(t) = idp.feed.last_success_unix() {
                self.metrics
                    .metadata_age_seconds
                    .with_label_values(&[name])
                    .set(now.saturating_sub(t));
            }
            let counter = self
                .metrics
                .metadata_refresh_failures
                .with_label_values(&[name]);
            let failures = idp.feed.refresh_failures();
            if failures > counter.get() {
                counter.inc_by(failures - counter.get());
            }
        }
        let view = &self.view;
        self.metrics
            .cluster
            .feed_age_seconds
            .set(view.feed_age().map_or(0.0, |d| d.as_secs_f64()));
        self.metrics
            .cluster
            .degraded
            .set(i64::from(self.store.degraded()));
        self.metrics
            .cluster
            .view_entries
            .set(i64::try_from(view.len()).unwrap_or(i64::MAX));
        for idp in &gateway.idps {
            let name = idp.config.name.as_str();
            let Some(metadata) = idp.feed.current() else {
                continue;
            };
            if let Some(until) = metadata.valid_until {
                self.metrics
                    .metadata_valid_until
                    .with_label_values(&[name])
                    .set(until.unix_millis() / 1000);
            }
            if let Some(expiry) = idp.entity().and_then(|e| earliest_cert_expiry(&e)) {
                self.metrics
                    .signing_cert_expiry
                    .with_label_values(&[name])
                    .set(expiry);
            }
        }
    }
}

#[cfg(test)]
mod tests {}
