//! Headless Chromium from Debian (/usr/bin/chromium), driven by
//! playwright-core from npm through tests/browser/drive.mjs. playwright-core
//! is installed at test time (`npm ci` from tests/browser/package-lock.json)
//! into target/tmp/browser-node; it never downloads a browser.
//!
//! One Chromium serves every test of the binary (drive.mjs reads plans on
//! stdin); each run takes a list of steps in a new browser context and
//! returns what the browser saw; the screenshots of its steps go to
//! target/browser-screenshots/<variant>/.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

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

/// A request the browser made.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    /// The body of a POST.
    pub(crate) post_data: Option<String>,
    /// The Cookie header a POST carried on the wire ("" for none).
    pub(crate) cookie: Option<String>,
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

    /// Every request of the run.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.out["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Request {
                method: r["method"].as_str().unwrap_or("").to_owned(),
                url: r["url"].as_str().unwrap_or("").to_owned(),
                post_data: r["post_data"].as_str().map(str::to_owned),
                cookie: r["cookie"].as_str().map(str::to_owned),
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

/// The node process running drive.mjs, shared by the tests of this binary.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl Driver {
    fn start() -> Driver {
        let node = node_dir();
        let log = node.join("driver.log");
        let mut child = Command::new("node")
            .arg(node.join("drive.mjs"))
            .arg(CHROMIUM)
            .current_dir(node)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Driver {
            child,
            stdin,
            stdout,
            log,
        }
    }

    fn run(&mut self, plan: &Value) -> Result<Value, String> {
        writeln!(self.stdin, "{plan}").map_err(|e| format!("writing the plan: {e}"))?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the result: {e}"))?;
        if line.is_empty() {
            let status = self.child.try_wait().ok().flatten();
            return Err(format!(
                "drive.mjs ended ({status:?}): {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ));
        }
        let out: Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
        match out.get("fatal") {
            Some(fatal) => Err(format!("drive.mjs: {fatal}")),
            None => Ok(out),
        }
    }
}

/// Runs `steps` in a new browser context (an empty cookie jar) of the
/// shared Chromium. Screenshots go to target/browser-screenshots/<variant>/
/// (emptied first).
pub(crate) fn run(variant: &str, steps: Vec<Value>) -> Run {
    static DRIVER: OnceLock<Mutex<Driver>> = OnceLock::new();
    let shots = screenshots_root().join(variant);
    let _ = std::fs::remove_dir_all(&shots);
    let plan = json!({
        "screenshots": shots,
        "timeout_ms": 20000,
        "steps": steps,
    });
    let mut driver = DRIVER
        .get_or_init(|| Mutex::new(Driver::start()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let parsed = driver
        .run(&plan)
        .unwrap_or_else(|e| panic!("{variant}: {e}"));
    let times: Vec<String> = parsed["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{} at {}ms", s["name"].as_str().unwrap_or(""), s["ms"]))
        .collect();
    eprintln!(
        "{variant}: {}; screenshots in {}",
        times.join(", "),
        shots.display()
    );
    Run {
        variant: variant.to_owned(),
        out: parsed,
    }
}
