//! IdP metadata feeds: metadata from a file, a URL or inline bytes, checked
//! under a [`MetadataPolicy`], refreshed on a jittered interval and swapped
//! atomically. A failed or invalid refresh keeps the last good copy (and is
//! logged and counted); a copy whose validUntil has passed is no longer
//! handed out (fail closed).

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use samlgate_dsig::{AlgorithmPolicy, KeyCache, TrustedKeys};
use samlgate_saml::{
    load_idp_metadata, metadata_limits, Clock, IdpMetadata, MetadataError, MetadataPolicy,
    SystemClock,
};

use crate::key_cache::FingerprintKeyCache;

/// The interval used when none is configured: IdP metadata changes rarely,
/// and a key rollover is announced well ahead.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// After a failed refresh the next attempt comes at most this soon after,
/// so that a transient outage does not leave a stale copy for a full
/// interval.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// A cacheDuration shorter than the refresh interval is honoured, but never
/// below this: a misconfigured IdP must not make us poll it in a loop.
pub const MIN_CACHE_DURATION: Duration = Duration::from_secs(60);

/// The shortest delay between refreshes, whatever the configuration says:
/// a zero interval must not turn the refresh task into a busy loop.
pub const MIN_DELAY: Duration = Duration::from_millis(100);

/// Where metadata comes from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    /// A local file, read again at each refresh.
    File(PathBuf),
    /// An `http://` or `https://` URL, fetched with GET; redirects are not
    /// followed.
    Url(String),
    /// Metadata held in memory (the demo IdP): loaded once, never refreshed.
    Inline(Vec<u8>),
}

impl MetadataSource {
    /// Where the metadata comes from, for logs.
    fn describe(&self) -> String {
        match self {
            MetadataSource::File(path) => format!("file {}", path.display()),
            MetadataSource::Url(url) => format!("url {}", redacted_url(url)),
            MetadataSource::Inline(_) => "inline".to_owned(),
        }
    }
}

/// How a feed is fetched, checked and refreshed.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// Time between refreshes (before jitter and cacheDuration).
    pub refresh_interval: Duration,
    /// Fraction of the interval by which each delay is moved at random
    /// (0.1: interval × (1 ± 0.1), uniformly), so that a fleet of gateways
    /// started together does not hit the IdP together. Clamped to 0..=1.
    pub jitter: f64,
    /// Limit for one fetch: connect, TLS, headers and the whole body.
    pub fetch_timeout: Duration,
    /// Largest metadata accepted, in bytes; larger is refused while reading.
    pub max_bytes: usize,
    /// Metadata signing certificates: when set, the metadata must carry a
    /// signature by one of them.
    pub signing_keys: Option<TrustedKeys>,
    /// Refuse metadata without validUntil.
    pub require_valid_until: bool,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            jitter: 0.1,
            fetch_timeout: Duration::from_secs(10),
            max_bytes: metadata_limits().max_document_bytes,
            signing_keys: None,
            require_valid_until: false,
        }
    }
}

/// Why a load or refresh failed. The last good copy, if any, stays in use.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The URL could not be fetched: bad URL, connect or TLS failure,
    /// timeout, or a status other than 2xx (named in the text).
    #[error("metadata fetch failed: {0}")]
    Fetch(String),
    /// The metadata exceeds `max_bytes`.
    #[error("metadata is larger than the configured limit (max_bytes)")]
    TooLarge,
    /// The metadata was read but refused: not parseable, expired, unsigned
    /// or badly signed when a signature is required, no usable IdP.
    #[error(transparent)]
    Invalid(#[from] MetadataError),
    /// The metadata file could not be read.
    #[error("metadata file: {0}")]
    Io(#[from] std::io::Error),
}

impl FeedError {
    /// A short stable name of the failure class, for a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            FeedError::Fetch(_) => "fetch",
            FeedError::TooLarge => "too_large",
            FeedError::Invalid(_) => "invalid",
            FeedError::Io(_) => "io",
        }
    }
}

/// The HTTP(S) client of URL feeds.
type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// One accepted copy of the metadata.
struct Loaded {
    metadata: Arc<IdpMetadata>,
    /// Set once the expiry of this copy has been logged, so that the
    /// request path does not log it on every call.
    expiry_reported: AtomicBool,
}

/// One IdP metadata feed. Share it as `Arc<MetadataFeed>`: readers call
/// [`current`](Self::current), the task spawned with [`run`](Self::run)
/// refreshes it.
pub struct MetadataFeed {
    name: String,
    source: MetadataSource,
    options: FeedOptions,
    key_cache: Arc<FingerprintKeyCache>,
    /// Built once for URL sources; a TLS setup error is kept and reported
    /// at each fetch, since construction cannot fail.
    client: Option<Result<HttpsClient, String>>,
    current: ArcSwapOption<Loaded>,
    failures: AtomicU64,
    /// Unix seconds of the last success; `i64::MIN` for never.
    last_success: AtomicI64,
    /// Whether the latest attempt failed: the next one then comes sooner.
    last_failed: AtomicBool,
    /// Serializes refreshes, so that a slow, older fetch cannot replace the
    /// result of a newer one.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for MetadataFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataFeed")
            .field("name", &self.name)
            .field("source", &self.source.describe())
            .field("loaded", &self.current.load().is_some())
            .field("refresh_failures", &self.refresh_failures())
            .finish_non_exhaustive()
    }
}

impl MetadataFeed {
    /// A feed that has not loaded anything yet; call [`load`](Self::load).
    pub fn new(
        name: String,
        source: MetadataSource,
        options: FeedOptions,
        key_cache: Arc<FingerprintKeyCache>,
    ) -> Self {
        let client = match &source {
            MetadataSource::Url(_) => Some(build_client()),
            MetadataSource::File(_) | MetadataSource::Inline(_) => None,
        };
        MetadataFeed {
            name,
            source,
            options,
            key_cache,
            client,
            current: ArcSwapOption::empty(),
            failures: AtomicU64::new(0),
            last_success: AtomicI64::new(i64::MIN),
            last_failed: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The feed's name (from configuration), for logs and metrics.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// First load; an error here is fatal for startup (the caller reports
    /// it: it is neither logged nor counted as a refresh failure here).
    pub async fn load(&self) -> Result<(), FeedError> {
        let _guard = self.refresh_lock.lock().await;
        let result = self.fetch_and_swap().await;
        self.last_failed.store(result.is_err(), Ordering::Relaxed);
        result
    }

    /// One refresh: fetch, check under the policy, swap in atomically. On
    /// failure the previous copy is kept, the failure is logged and counted
    /// and returned.
    pub async fn refresh(&self) -> Result<(), FeedError> {
        let _guard = self.refresh_lock.lock().await;
        let result = self.fetch_and_swap().await;
        match &result {
            Ok(()) => {
                self.last_failed.store(false, Ordering::Relaxed);
                tracing::debug!(
                    feed = %self.name,
                    source = %self.source.describe(),
                    "idp metadata refreshed"
                );
            }
            Err(e) => {
                self.last_failed.store(true, Ordering::Relaxed);
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    feed = %self.name,
                    source = %self.source.describe(),
                    kind = e.kind(),
                    error = %e,
                    // False once the kept copy has expired too.
                    serving_last_good = self.current().is_some(),
                    "idp metadata refresh failed"
                );
            }
        }
        result
    }

    /// The metadata in force: the last good copy, unless none was loaded
    /// or its validUntil has passed (an expired copy is not trusted).
    pub fn current(&self) -> Option<Arc<IdpMetadata>> {
        let guard = self.current.load();
        let loaded = guard.as_ref()?;
        if let Some(until) = loaded.metadata.valid_until {
            if SystemClock.now() >= until {
                if !loaded.expiry_reported.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        feed = %self.name,
                        valid_until = %until,
                        "idp metadata has expired and no valid refresh replaced it; its keys are no longer trusted"
                    );
                }
                return None;
            }
        }
        Some(Arc::clone(&loaded.metadata))
    }

    /// Total failed refreshes since start.
    pub fn refresh_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Unix time (seconds) of the last successful load or refresh.
    pub fn last_success_unix(&self) -> Option<i64> {
        match self.last_success.load(Ordering::Relaxed) {
            i64::MIN => None,
            t => Some(t),
        }
    }

    /// Time until the next refresh: the interval, shortened to the
    /// metadata's cacheDuration when that is smaller (at least
    /// [`MIN_CACHE_DURATION`]) and to [`RETRY_AFTER_FAILURE`] after a
    /// failure, then jittered; never below [`MIN_DELAY`].
    pub fn next_delay(&self) -> Duration {
        let interval = self.options.refresh_interval;
        let mut base = interval;
        let cache_duration = self
            .current
            .load()
            .as_ref()
            .and_then(|l| l.metadata.cache_duration_seconds);
        if let Some(seconds) = cache_duration {
            let hint = Duration::from_secs(seconds);
            if hint < interval {
                base = hint.max(MIN_CACHE_DURATION).min(interval);
            }
        }
        if self.last_failed.load(Ordering::Relaxed) {
            base = base.min(RETRY_AFTER_FAILURE);
        }
        jittered(base, self.options.jitter).max(MIN_DELAY)
    }

    /// Refreshes after each [`next_delay`](Self::next_delay) until
    /// `shutdown` becomes true or its sender is dropped. Failures are
    /// logged and counted by [`refresh`](Self::refresh). Inline sources are
    /// never refreshed: this returns at once for them.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if matches!(self.source, MetadataSource::Inline(_)) {
            return;
        }
        loop {
            if *shutdown.borrow_and_update() {
                return;
            }
            let delay = self.next_delay();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Re-check the value at the top of the loop.
                    continue;
                }
            }
            tokio::select! {
                // The error is already logged and counted.
                _ = self.refresh() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn fetch_and_swap(&self) -> Result<(), FeedError> {
        let max_bytes = self.options.max_bytes;
        let policy = MetadataPolicy {
            // Read when parsing starts: a fetch may take a while.
            now: None,
            require_valid_until: self.options.require_valid_until,
            signing_keys: self.options.signing_keys.clone(),
            algorithms: AlgorithmPolicy::default(),
            key_cache: Some(Arc::clone(&self.key_cache) as Arc<dyn KeyCache>),
        };
        // Reading a file and parsing (perhaps tens of MiB, with a
        // signature check) block: they run off the async workers.
        let metadata = match &self.source {
            MetadataSource::File(path) => {
                let path = path.clone();
                blocking(move || {
                    let xml = read_file_limited(&path, max_bytes)?;
                    parse(&xml, policy)
                })
                .await?
            }
            MetadataSource::Url(url) => {
                let client = match &self.client {
                    Some(Ok(client)) => client,
                    Some(Err(e)) => return Err(FeedError::Fetch(e.clone())),
                    None => return Err(FeedError::Fetch("no HTTP client".to_owned())),
                };
                let timeout = self.options.fetch_timeout;
                let xml = tokio::time::timeout(timeout, fetch_url(client, url, max_bytes))
                    .await
                    .map_err(|_| {
                        FeedError::Fetch(format!("timed out after {} ms", timeout.as_millis()))
                    })??;
                blocking(move || parse(&xml, policy)).await?
            }
            MetadataSource::Inline(xml) => {
                if xml.len() > max_bytes {
                    return Err(FeedError::TooLarge);
                }
                let xml = xml.clone();
                blocking(move || parse(&xml, policy)).await?
            }
        };
        self.current.store(Some(Arc::new(Loaded {
            metadata: Arc::new(metadata),
            expiry_reported: AtomicBool::new(false),
        })));
        self.last_success
            .store(SystemClock.now().unix_millis() / 1000, Ordering::Relaxed);
        Ok(())
    }
}

/// Checks `xml` under `policy`, with "now" read at the moment of parsing.
fn parse(xml: &[u8], mut policy: MetadataPolicy) -> Result<IdpMetadata, FeedError> {
    policy.now = Some(SystemClock.now());
    Ok(load_idp_metadata(xml, &policy)?)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FeedError> + Send + 'static,
) -> Result<T, FeedError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        FeedError::Invalid(MetadataError(format!("metadata parser task failed: {e}")))
    })?
}

/// Reads at most `max_bytes` (one more byte tells that the file is larger,
/// without reading all of an oversized file).
fn read_file_limited(path: &std::path::Path, max_bytes: usize) -> Result<Vec<u8>, FeedError> {
    let with_path =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(with_path)?;
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut xml = Vec::new();
    file.take(limit).read_to_end(&mut xml).map_err(with_path)?;
    if xml.len() > max_bytes {
        return Err(FeedError::TooLarge);
    }
    Ok(xml)
}

fn build_client() -> Result<HttpsClient, String> {
    let tls = || -> Result<HttpsConnector<HttpConnector>, openssl::error::ErrorStack> {
        // SslConnector's defaults: system CA roots, peer and host name
        // verification. No ALPN: the client speaks HTTP/1.1 only.
        let mut ssl = SslConnector::builder(SslMethod::tls_client())?;
        ssl.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        let mut http = HttpConnector::new();
        // https URLs go through the TLS layer above.
        http.enforce_http(false);
        HttpsConnector::with_connector(http, ssl)
    };
    let connector = tls().map_err(|e| format!("TLS client setup: {e}"))?;
    Ok(Client::builder(TokioExecutor::new())
        // One fetch an hour: a pooled connection would only sit idle.
        .pool_max_idle_per_host(0)
        .build(connector))
}

async fn fetch_url(
    client: &HttpsClient,
    url: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, FeedError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| FeedError::Fetch(format!("invalid URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(FeedError::Fetch(format!(
                "URL {} is not http:// or https://",
                redacted_url(url)
            )))
        }
    }
    let request = http::Request::get(uri)
        .header(
            http::header::ACCEPT,
            "application/samlmetadata+xml, application/xml, text/xml",
        )
        .header(
            http::header::USER_AGENT,
            concat!("samlgate/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| FeedError::Fetch(format!("cannot build request: {e}")))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| FeedError::Fetch(error_chain(&e)))?;
    let status = response.status();
    if status.is_redirection() {
        // Following would let whoever controls the redirect choose the
        // metadata source; the configuration must name the final URL.
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
        return Err(FeedError::Fetch(format!(
            "HTTP status {} is a redirect (to {location:?}), which is not followed: configure the final URL",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return Err(FeedError::Fetch(format!("HTTP status {}", status.as_u16())));
    }
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX)) {
        return Err(FeedError::TooLarge);
    }
    let mut body = response.into_body();
    let mut xml = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| FeedError::Fetch(format!("reading body: {}", error_chain(&e))))?;
        if let Ok(data) = frame.into_data() {
            if xml.len().saturating_add(data.len()) > max_bytes {
                return Err(FeedError::TooLarge);
            }
            xml.extend_from_slice(&data);
        }
    }
    Ok(xml)
}

/// A URL for logs: scheme, host, port and path only, since user
/// information and query strings may carry credentials.
fn redacted_url(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("?");
            let host = uri.host().unwrap_or("?");
            let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
            let query = if uri.query().is_some() { "?…" } else { "" };
            format!("{scheme}://{host}{port}{}{query}", uri.path())
        }
        Err(_) => "(not a valid URL)".to_owned(),
    }
}

/// An error with its sources: hyper's own text ("client error (Connect)")
/// says little without them. A source whose text is already included (some
/// errors repeat their source's message) is not repeated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// `base` scaled by a uniform factor in [1 - jitter, 1 + jitter].
fn jittered(base: Duration, jitter: f64) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if jitter == 0.0 {
        return base;
    }
    let mut bytes = [0u8; 8];
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        return base;
    }
    // 53 random bits give a uniform f64 in [0, 1).
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    let factor = 1.0 + jitter * (2.0 * unit - 1.0);
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_out_of_range_is_clamped() {
        let base = Duration::from_secs(10);
        assert_eq!(jittered(base, 0.0), base);
        assert_eq!(jittered(base, f64::NAN), base);
        assert_eq!(jittered(base, -3.0), base);
        for _ in 0..100 {
            assert!(jittered(base, 7.0) <= Duration::from_secs(20));
        }
    }

    #[test]
    fn zero_interval_is_not_a_busy_loop() {
        let feed = MetadataFeed::new(
            "zero".to_owned(),
            MetadataSource::Url("http://127.0.0.1:9/md.xml".to_owned()),
            FeedOptions {
                refresh_interval: Duration::ZERO,
                ..FeedOptions::default()
            },
            Arc::new(FingerprintKeyCache::new(10)),
        );
        // Built outside any runtime: construction spawns nothing.
        assert!(matches!(feed.client, Some(Ok(_))));
        assert_eq!(feed.next_delay(), MIN_DELAY);
    }

    #[test]
    fn urls_in_logs_lose_credentials_and_query() {
        assert_eq!(
            redacted_url("https://user:secret@idp.example:8443/md/x.xml?token=abc"),
            "https://idp.example:8443/md/x.xml?…"
        );
        assert_eq!(
            redacted_url("http://idp.example/metadata"),
            "http://idp.example/metadata"
        );
        assert_eq!(redacted_url("not a url"), "(not a valid URL)");
        let source = MetadataSource::Url("https://u:p@idp.example/m?k=v".to_owned());
        assert_eq!(source.describe(), "url https://idp.example/m?…");
    }
}
