//! Prometheus metrics: `samlgate_` prefix, `_total` counters, `_seconds`
//! histograms, reason codes as the `reason` label.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric of the gateway, in its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: IntCounterVec,
    /// ACS outcomes by IdP, outcome and reason.
    pub acs: IntCounterVec,
    /// Time to validate one Response.
    pub acs_validation_seconds: Histogram,
    /// The same in CPU time of the validating thread.
    pub acs_validation_cpu_seconds: Histogram,
    /// Replayed assertions refused.
    pub replay_rejections: IntCounter,
    /// Store, revocation and logout metrics (the store's observer).
    pub cluster: std::sync::Arc<crate::cluster_metrics::ClusterMetrics>,
    /// Unix time of each IdP metadata's validUntil.
    pub metadata_valid_until: IntGaugeVec,
    /// Unix time at which the first of each IdP's trusted signing
    /// certificates expires.
    pub signing_cert_expiry: IntGaugeVec,
    /// Sessions issued, by IdP.
    pub sessions_issued: IntCounterVec,
    /// Sessions refused because they outgrew the cookie budget.
    pub sessions_too_large: IntCounter,
    /// Requests refused before proxying, by reason.
    pub rejections: IntCounterVec,
    /// Redirects to an IdP, by IdP.
    pub login_redirects: IntCounterVec,
    /// Upstream response header latency by route.
    pub upstream_seconds: HistogramVec,
    /// Time from a request's head to its response head, by route.
    pub request_seconds: HistogramVec,
    /// Upstream errors by route and kind.
    pub upstream_errors: IntCounterVec,
    /// Seconds since the IdP metadata last loaded, by IdP.
    pub metadata_age_seconds: IntGaugeVec,
    /// Failed metadata refreshes by IdP.
    pub metadata_refresh_failures: IntCounterVec,
    /// Configuration reloads by outcome.
    pub config_reloads: IntCounterVec,
    /// Build information (value 1).
    pub build_info: IntGaugeVec,
    /// The series of requests the gateway answers itself, and of those
    /// that matched no route.
    pub endpoints: EndpointSeries,
}

/// The per-route series of the request path, resolved once per route
/// rather than per request: `with_label_values` hashes the label strings
/// and takes a lock, and the status label would need a `String` per
/// request. Counting a request here is an index and an atomic increment.
pub struct RouteSeries {
    /// The route label (`host/prefix`, or `acs`, `metadata`, `logout`,
    /// `none`).
    pub label: Arc<str>,
    requests: IntCounterVec,
    /// `samlgate_requests_total{route, status}` for 100..=599, created on
    /// first use so that only statuses that occurred are exported.
    by_status: Box<[OnceLock<IntCounter>]>,
    upstream_seconds_vec: HistogramVec,
    upstream_seconds: OnceLock<Histogram>,
    request_seconds_vec: HistogramVec,
    request_seconds: OnceLock<Histogram>,
}

const FIRST_STATUS: u16 = 100;
const LAST_STATUS: u16 = 599;

impl RouteSeries {
    /// The series of `label`.
    pub fn new(metrics: &Metrics, label: Arc<str>) -> Self {
        Self::with(
            &metrics.requests,
            &metrics.upstream_seconds,
            &metrics.request_seconds,
            label,
        )
    }

    fn with(
        requests: &IntCounterVec,
        upstream_seconds: &HistogramVec,
        request_seconds: &HistogramVec,
        label: Arc<str>,
    ) -> Self {
        RouteSeries {
            upstream_seconds_vec: upstream_seconds.clone(),
            upstream_seconds: OnceLock::new(),
            request_seconds_vec: request_seconds.clone(),
            request_seconds: OnceLock::new(),
            requests: requests.clone(),
            by_status: (FIRST_STATUS..=LAST_STATUS)
                .map(|_| OnceLock::new())
                .collect(),
            label,
        }
    }

    /// Counts one request answered with `status` (0: no response was
    /// written, e.g. the client went away).
    pub fn count(&self, status: u16) {
        let slot = status
            .checked_sub(FIRST_STATUS)
            .and_then(|i| self.by_status.get(usize::from(i)));
        match slot {
            Some(slot) => slot
                .get_or_init(|| {
                    self.requests
                        .with_label_values(&[&*self.label, &status.to_string()])
                })
                .inc(),
            None => self
                .requests
                .with_label_values(&[&*self.label, &status.to_string()])
                .inc(),
        }
    }

    /// Records the time to an upstream response header.
    pub fn observe_upstream(&self, seconds: f64) {
        self.upstream_seconds
            .get_or_init(|| self.upstream_seconds_vec.with_label_values(&[&*self.label]))
            .observe(seconds);
    }

    /// Records the time from a request's head to its response head.
    pub fn observe_request(&self, seconds: f64) {
        self.request_seconds
            .get_or_init(|| self.request_seconds_vec.with_label_values(&[&*self.label]))
            .observe(seconds);
    }
}

impl std::fmt::Debug for RouteSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSeries")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// The [`RouteSeries`] of the endpoints that are not routes.
#[derive(Clone, Debug)]
pub struct EndpointSeries {
    /// Requests that matched no route (and the label before routing).
    pub none: Arc<RouteSeries>,
    /// The ACS.
    pub acs: Arc<RouteSeries>,
    /// The SP metadata.
    pub metadata: Arc<RouteSeries>,
    /// Logout.
    pub logout: Arc<RouteSeries>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

pub(crate) fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

pub(crate) fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Latency buckets from 50 µs (a validation) to 30 s (a slow backend).
pub(crate) const BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0, 30.0,
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let acs_validation_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "samlgate_acs_validation_seconds",
                "Time to validate one SAML Response (decode, verify, checks, replay)",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        r.register(Box::new(acs_validation_seconds.clone()))?;
        let acs_validation_cpu_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "samlgate_acs_validation_cpu_seconds",
                "CPU time of the thread validating one SAML Response (wall time minus time descheduled)",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        r.register(Box::new(acs_validation_cpu_seconds.clone()))?;
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "samlgate_upstream_seconds",
                "Time from sending a request upstream to its response header",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )?;
        r.register(Box::new(upstream_seconds.clone()))?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "samlgate_request_duration_seconds",
                "Time from a request's head to its response head, by route",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )?;
        r.register(Box::new(request_seconds.clone()))?;
        let replay_rejections = IntCounter::new(
            "samlgate_replay_rejections_total",
            "Assertions refused because they were already used",
        )?;
        r.register(Box::new(replay_rejections.clone()))?;
        let sessions_too_large = IntCounter::new(
            "samlgate_sessions_too_large_total",
            "Logins refused because the session outgrew session.max_cookie_bytes",
        )?;
        r.register(Box::new(sessions_too_large.clone()))?;
        let requests = counter_vec(
            &r,
            "samlgate_requests_total",
            "Requests by route and response status",
            &["route", "status"],
        )?;
        let series = |label: &str| {
            Arc::new(RouteSeries::with(
                &requests,
                &upstream_seconds,
                &request_seconds,
                label.into(),
            ))
        };
        let endpoints = EndpointSeries {
            none: series("none"),
            acs: series("acs"),
            metadata: series("metadata"),
            logout: series("logout"),
        };
        let m = Metrics {
            requests,
            endpoints,
            acs: counter_vec(
                &r,
                "samlgate_acs_total",
                "ACS outcomes by IdP, outcome (accepted/rejected) and reason",
                &["idp", "outcome", "reason"],
            )?,
            acs_validation_seconds,
            acs_validation_cpu_seconds,
            replay_rejections,
            cluster: std::sync::Arc::new(crate::cluster_metrics::ClusterMetrics::register(&r)?),
            metadata_valid_until: gauge_vec(
                &r,
                "samlgate_idp_metadata_valid_until_timestamp_seconds",
                "Unix time of the validUntil of each IdP's metadata",
                &["idp"],
            )?,
            signing_cert_expiry: gauge_vec(
                &r,
                "samlgate_idp_signing_cert_expiry_timestamp_seconds",
                "Unix time at which the first of each IdP's trusted signing certificates expires",
                &["idp"],
            )?,
            sessions_issued: counter_vec(
                &r,
                "samlgate_sessions_issued_total",
                "Sessions issued by IdP",
                &["idp"],
            )?,
            sessions_too_large,
            rejections: counter_vec(
                &r,
                "samlgate_rejections_total",
                "Requests refused by the gateway, by reason",
                &["reason"],
            )?,
            login_redirects: counter_vec(
                &r,
                "samlgate_login_redirects_total",
                "Browsers sent to an IdP with an AuthnRequest",
                &["idp"],
            )?,
            upstream_seconds,
            request_seconds,
            upstream_errors: counter_vec(
                &r,
                "samlgate_upstream_errors_total",
                "Upstream failures by route and kind (connect, timeout, other)",
                &["route", "kind"],
            )?,
            metadata_age_seconds: gauge_vec(
                &r,
                "samlgate_idp_metadata_age_seconds",
                "Seconds since the IdP metadata was last loaded successfully",
                &["idp"],
            )?,
            metadata_refresh_failures: counter_vec(
                &r,
                "samlgate_idp_metadata_refresh_failures_total",
                "Failed IdP metadata refreshes (the last good copy stays in use)",
                &["idp"],
            )?,
            config_reloads: counter_vec(
                &r,
                "samlgate_config_reloads_total",
                "Configuration reloads (SIGHUP) by outcome",
                &["outcome"],
            )?,
            build_info: gauge_vec(&r, "samlgate_build_info", "Build information", &["version"])?,
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for outcome in ["ok", "failed"] {
            m.config_reloads.with_label_values(&[outcome]);
        }
        Ok(m)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap()
    }

    #[test]
    fn route_series_count_under_their_route_and_status() {
        let m = Metrics::new().unwrap();
        let route = RouteSeries::new(&m, "*/app".into());
        route.count(200);
        route.count(200);
        route.count(404);
        // Outside 100..=599 (0: no response was written) still counts.
        route.count(0);
        m.endpoints.acs.count(303);
        let text = exported(&m);
        for line in [
            r#"samlgate_requests_total{route="*/app",status="200"} 2"#,
            r#"samlgate_requests_total{route="*/app",status="404"} 1"#,
            r#"samlgate_requests_total{route="*/app",status="0"} 1"#,
            r#"samlgate_requests_total{route="acs",status="303"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // Statuses that did not occur are not exported.
        assert!(!text.contains(r#"status="500""#));
    }

    #[test]
    fn upstream_latency_appears_once_observed() {
        let m = Metrics::new().unwrap();
        let route = RouteSeries::new(&m, "*/".into());
        assert!(!exported(&m).contains(r#"samlgate_upstream_seconds_count{route="*/"}"#));
        route.observe_upstream(0.002);
        assert!(exported(&m).contains(r#"samlgate_upstream_seconds_count{route="*/"} 1"#));
        // The endpoints the gateway answers itself never show one.
        assert!(!exported(&m).contains(r#"samlgate_upstream_seconds_count{route="acs"}"#));
    }
}
