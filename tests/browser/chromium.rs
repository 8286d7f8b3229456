//! Headless Chromium from Debian (/usr/bin/chromium), driven by
//! playwright-core from npm through tests/browser/drive.mjs. playwright-core
//! is installed at test time (`npm ci` from tests/browser/package-lock.json)
//! into target/tmp/browser-node; it never downloads a browser.
//!
//! A run takes a list of steps and returns what the browser saw; the
//! screenshots of its steps go to target/browser-screenshots/<variant>/.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(name)
}

/// target/tmp (cargo's scratch directory for integration tests).
fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// target/browser-screenshots.
pub(crate) fn screenshots_root() -> PathBuf {
    target_tmp()
        .parent()
        .map(|t| t.join("browser-screenshots"))
        .unwrap_or_else(|| target_tmp().join("browser-screenshots"))
}

/// Fails (does not skip) when chromium, node or npm is missing.
pub(crate) fn require_packages() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (scripts/deps.sh does)"
    );
    for tool in ["node", "npm"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{tool} is missing: install npm (scripts/deps.sh does)");
    }
}

/// The directory holding node_modules/playwright-core and drive.mjs,
/// installed once per test binary.
fn node_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_tmp().join("browser-node");
        std::fs::create_dir_all(&dir).unwrap();
        let lock = std::fs::read(support("package-lock.json")).unwrap();
        let installed = std::fs::read(dir.join("package-lock.json")).ok();
        let have_module = dir
            .join("node_modules/playwright-core/package.json")
            .exists();
        if installed.as_deref() != Some(&lock[..]) || !have_module {
            std::fs::copy(support("package.json"), dir.join("package.json")).unwrap();
            std::fs::write(dir.join("package-lock.json"), &lock).unwrap();
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(&dir)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
                .output()
                .expect("npm runs");
            assert!(
                out.status.success(),
                "npm ci in {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::copy(support("drive.mjs"), dir.join("drive.mjs")).unwrap();
        dir
    })
}

/// One step of a plan (see drive.mjs).
pub(crate) fn goto(name: &str, url: &str, wait_text: &[&str]) -> Value {
    json!({ "name": name, "goto": url, "wait_text": wait_text })
}

pub(crate) fn fill(name: &str, fields: &[(&str, &str)]) -> Value {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({ "name": name, "fill": map })
}

pub(crate) fn click(name: &str, selector: &str, wait_text: &[&str]) -> Value {
    json!({ "name": name, "click": selector, "wait_text": wait_text })
}

pub(crate) fn fetch_json(name: &str, path: &str) -> Value {
    json!({ "name": name, "fetch_json": path })
}

/// What the browser saw.
pub(crate) struct Run {
    pub(crate) variant: String,
    pub(crate) out: Value,
}

impl Run {
    pub(crate) fn step(&self, name: &str) -> &Value {
        self.out["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("{}: no step {name}\n{}", self.variant, self.summary()))
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.step(name)["text"].as_str().unwrap_or("").to_owned()
    }

    pub(crate) fn url(&self, name: &str) -> String {
        self.step(name)["url"].as_str().unwrap_or("").to_owned()
    }

    /// The cookies in the browser after step `name`.
    pub(crate) fn cookies(&self, name: &str) -> Vec<Value> {
        self.step(name)["cookies"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every request of the run: (method, url, POST body).
    pub(crate) fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.out["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or("").to_owned(),
                    r["url"].as_str().unwrap_or("").to_owned(),
                    r["post_data"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    /// The status of the last response from a URL starting with `prefix`.
    pub(crate) fn status_of(&self, prefix: &str) -> Option<u64> {
        self.out["responses"]
            .as_array()?
            .iter()
            .rev()
            .find(|r| r["url"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .and_then(|r| r["status"].as_u64())
    }

    /// Steps, URLs, errors and texts: the context of a failure message.
    pub(crate) fn summary(&self) -> String {
        let mut s = format!(
            "browser {} run {}; screenshots in {}\n",
            self.out["version"],
            self.variant,
            screenshots_root().join(&self.variant).display()
        );
        for step in self.out["steps"].as_array().into_iter().flatten() {
            s += &format!(
                "== {} {} error={}\n{}\n",
                step["name"].as_str().unwrap_or(""),
                step["url"].as_str().unwrap_or(""),
                step["error"],
                step["text"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(800)
                    .collect::<String>()
            );
        }
        for r in self.out["responses"].as_array().into_iter().flatten() {
            s += &format!(
                "-> {} {} {}\n",
                r["status"],
                r["url"].as_str().unwrap_or(""),
                r["location"].as_str().unwrap_or("")
            );
        }
        s
    }
}

/// Runs `steps` in a fresh Chromium profile. Screenshots go to
/// target/browser-screenshots/<variant>/ (emptied first).
pub(crate) fn run(variant: &str, work: &Path, steps: Vec<Value>) -> Run {
    let node = node_dir();
    let shots = screenshots_root().join(variant);
    let _ = std::fs::remove_dir_all(&shots);
    let profile = work.join("chromium-profile");
    let plan = json!({
        "chromium": CHROMIUM,
        "user_data_dir": profile,
        "screenshots": shots,
        "timeout_ms": 20000,
        "steps": steps,
    });
    let plan_path = work.join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out = Command::new("node")
        .arg(node.join("drive.mjs"))
        .arg(&plan_path)
        .current_dir(node)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    // The profile is tens of megabytes and of no use after the run.
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "drive.mjs ({variant}) printed no JSON ({e}): exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    eprintln!("{variant}: screenshots in {}", shots.display());
    Run {
        variant: variant.to_owned(),
        out: parsed,
    }
}
