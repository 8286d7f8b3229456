//! A real Prometheus (Debian `prometheus`) for the observability test, its
//! HTTP API, and the query rewriting that the test applies to dashboard
//! targets and alert expressions.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::{free_port, plain_client};

/// A Prometheus process, stopped when dropped.
pub(crate) struct Prometheus {
    pub(crate) port: u16,
    child: Child,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second and evaluating
    /// `rules` every second, with its data under `dir`.
    pub(crate) fn start(dir: &Path, target: &str, rules: &Path) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(rules, dir.join("alerts.yml")).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [alerts.yml]\n\
                 scrape_configs:\n  - job_name: samlgate\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (apt-get install prometheus; scripts/deps.sh does)");
        let p = Prometheus { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if p.get("/-/ready", &[]).is_ok() {
                return p;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("prometheus not ready in 30 s");
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let resp = plain_client()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .query(query)
            .send()
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().map_err(|e| e.to_string())?;
        if path.starts_with("/-/") {
            return if status.is_success() {
                Ok(serde_json::Value::Null)
            } else {
                Err(text)
            };
        }
        serde_json::from_str(&text).map_err(|e| format!("{status}: {e}: {text}"))
    }

    /// Evaluates `expr` now: the number of series it returns, or
    /// Prometheus's error (a parse error, a many-to-many match, ...).
    pub(crate) fn series(&self, expr: &str) -> Result<usize, String> {
        let v = self.get("/api/v1/query", &[("query", expr)])?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        let data = &v["data"];
        match data["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(data["result"].as_array().map_or(0, Vec::len)),
            Some("scalar" | "string") => Ok(1),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// The value of a single-series instant query, if any.
    pub(crate) fn value(&self, expr: &str) -> Option<f64> {
        let v = self.get("/api/v1/query", &[("query", expr)]).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// The values of `label` on series matching `selector`
    /// (Grafana's `label_values(selector, label)`).
    pub(crate) fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        self.get(
            &format!("/api/v1/label/{label}/values"),
            &[("match[]", selector)],
        )
        .ok()
        .and_then(|v| {
            v["data"].as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
    }

    /// Every loaded rule: (name, query as Prometheus parsed it, health,
    /// last error).
    pub(crate) fn rules(&self) -> Vec<(String, String, String, String)> {
        let v = self.get("/api/v1/rules", &[]).unwrap();
        let mut out = Vec::new();
        for group in v["data"]["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let s = |k: &str| rule[k].as_str().unwrap_or("").to_owned();
                out.push((s("name"), s("query"), s("health"), s("lastError")));
            }
        }
        out
    }

    /// Waits until `check` holds, polling.
    pub(crate) fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("prometheus: {what} not reached in {limit:?}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dashboard target as Grafana sends it: the built-in interval variables
/// and the template variables replaced. Unknown `$` variables are left in
/// place, so that Prometheus refuses them and the test names them.
pub(crate) fn substitute(expr: &str, instance: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${instance}", instance)
        .replace("$instance", instance)
}

/// `expr` with `bool` after every comparison operator outside label
/// matchers and strings, so that it returns its 0/1 signal for every series
/// instead of only the series past the threshold. The alert's thresholds
/// stay in the expression and are evaluated; only the filtering goes.
pub(crate) fn with_bool(expr: &str) -> String {
    let bytes = expr.as_bytes();
    let mut out = String::with_capacity(expr.len() + 32);
    let (mut braces, mut quote) = (0usize, None::<u8>);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' && i + 1 < bytes.len() {
                out.push_str(&expr[i..i + 2]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            out.push(char::from(c));
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' | b'`' => quote = Some(c),
            b'{' => braces += 1,
            b'}' => braces = braces.saturating_sub(1),
            _ => {}
        }
        let two = expr.get(i..i + 2).unwrap_or("");
        let op = if braces > 0 {
            None
        } else if matches!(two, ">=" | "<=" | "==" | "!=") {
            Some(two)
        } else if c == b'>' || c == b'<' {
            expr.get(i..i + 1)
        } else {
            None
        };
        match op {
            Some(op) => {
                out.push_str(op);
                i += op.len();
                if !expr[i..].trim_start().starts_with("bool") {
                    out.push_str(" bool");
                }
            }
            None => {
                // Multi-byte characters are copied whole.
                let len = expr[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&expr[i..i + len]);
                i += len;
            }
        }
    }
    out
}

/// The `samlgate_` metric names an expression refers to.
pub(crate) fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("samlgate_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &tail[end..];
    }
    names
}

#[test]
fn bool_goes_after_comparisons_only() {
    assert_eq!(with_bool("up == 0"), "up == bool 0");
    assert_eq!(
        with_bool(r#"a{x!="y",z=~"a>b"} / b > 0.2 and c >= 1 / 60"#),
        r#"a{x!="y",z=~"a>b"} / b > bool 0.2 and c >= bool 1 / 60"#
    );
    assert_eq!(
        with_bool("x - time() < 7 * 86400"),
        "x - time() < bool 7 * 86400"
    );
    assert_eq!(with_bool("x > bool 1"), "x > bool 1");
    assert_eq!(with_bool(r#"x{a="\"}>"} != 1"#), r#"x{a="\"}>"} != bool 1"#);
    assert_eq!(
        metric_names("sum(rate(samlgate_a_total[1m])) / samlgate_b{x=\"y\"} + samlgate_b"),
        ["samlgate_a_total", "samlgate_b"]
    );
}
