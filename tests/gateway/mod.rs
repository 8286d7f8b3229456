//! The end-to-end harness: a real `samlgate run` process, a real IdP (the
//! demo IdP code, serving metadata over HTTP and signing real assertions)
//! and a real echo backend, all on loopback ports chosen at run time; a
//! real HTTP client with a cookie jar plays the browser.

#![allow(dead_code)]

pub(crate) mod recording;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use samlgate_gateway::demo::idp::{DemoIdp, USERS};
use samlgate_saml::{Clock, SystemClock};

pub(crate) const SESSION_KEY: [u8; 32] = [42; 32];

pub(crate) struct Harness {
    pub(crate) dir: PathBuf,
    pub(crate) config_path: PathBuf,
    pub(crate) gateway: u16,
    pub(crate) admin: u16,
    pub(crate) idp: Arc<DemoIdp>,
    pub(crate) idp_port: u16,
    pub(crate) backend: u16,
    pub(crate) scheme: &'static str,
    child: Child,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[derive(Default)]
pub(crate) struct Options {
    pub(crate) allow_idp_initiated: bool,
    /// Serve HTTPS (self-signed) instead of HTTP; base_url https.
    pub(crate) tls: bool,
    /// Add a second IdP (see `with_second_idp`).
    pub(crate) second_idp: bool,
    /// Lines added to the [sp] table.
    pub(crate) sp_extra: String,
    pub(crate) extra_toml: String,
    /// The [[idp]]'s metadata URL instead of the demo IdP's (a real IdP,
    /// e.g. SimpleSAMLphp in tests/browser.rs).
    pub(crate) idp_metadata_url: Option<String>,
    /// Lines added to the first [[idp]] table.
    pub(crate) idp_extra: String,
    /// The [[idp]]'s metadata from this file instead of a URL.
    pub(crate) idp_metadata_file: Option<PathBuf>,
    /// Routes go to this port instead of the echo backend (a test's own
    /// backend, e.g. one that records the raw requests).
    pub(crate) backend_port: Option<u16>,
    /// Lines added to the [server] table.
    pub(crate) server_extra: String,
    /// `server.shutdown_grace_seconds` (default 2).
    pub(crate) shutdown_grace_seconds: Option<u64>,
    /// `server.upstream_read_timeout_seconds` (default 2).
    pub(crate) upstream_read_timeout_seconds: Option<u64>,
    /// Do not wait for `/readyz` to answer 200 (an IdP that cannot be
    /// used): wait until the admin listener answers at all.
    pub(crate) expect_unready: bool,
}

pub(crate) fn config_text(h: &HarnessPorts, options: &Options) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(SESSION_KEY);
    format!(
        r#"
[server]
listen = [{plain}]
admin_listen = "127.0.0.1:{admin}"
threads = 2
log_format = "json"
shutdown_grace_seconds = {grace}
upstream_read_timeout_seconds = {read_timeout}
{server_extra}
{tls}
[sp]
entity_id = "{scheme}://127.0.0.1:{gw}/saml/metadata"
base_url = "{scheme}://127.0.0.1:{gw}"
acs_max_body_bytes = 262144
{sp_extra}

[[idp]]
name = "corp"
{metadata_source}
allow_idp_initiated = {unsolicited}
{idp_extra}

[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:{backend}"]

[[route]]
path_prefix = "/public"
upstreams = ["127.0.0.1:{backend}"]
policy = "public"

[[route]]
path_prefix = "/admin"
upstreams = ["127.0.0.1:{backend}"]
require = [{{ attribute = "groups", contains = "admins" }}]

[[route]]
path_prefix = "/down"
upstreams = ["127.0.0.1:{dead}"]

[headers]
inject = [
  {{ name = "X-Remote-User", from = "name_id" }},
  {{ name = "X-Remote-Groups", from = "attribute:groups" }},
  {{ name = "X-Remote-Email", from = "attribute:email" }},
]

[session]
keys = ["{key}"]
{second}
{extra}
"#,
        gw = h.gateway,
        admin = h.admin,
        backend = h.backend,
        dead = h.dead,
        unsolicited = options.allow_idp_initiated,
        metadata_source = match &options.idp_metadata_file {
            Some(file) => format!("metadata_file = {:?}", file.display().to_string()),
            // Plain http metadata on loopback (the test IdP): allowed
            // explicitly.
            None => format!(
                "metadata_url = \"{}\"\nallow_insecure_metadata = true",
                options
                    .idp_metadata_url
                    .clone()
                    .unwrap_or_else(|| format!("http://127.0.0.1:{}/metadata", h.idp))
            ),
        },
        grace = options.shutdown_grace_seconds.unwrap_or(2),
        read_timeout = options.upstream_read_timeout_seconds.unwrap_or(2),
        server_extra = options.server_extra,
        idp_extra = options.idp_extra,
        extra = options.extra_toml,
        sp_extra = options.sp_extra,
        second = if options.second_idp {
            format!("[[idp]]\nname = \"partner\"\ndisplay_name = \"Partner & Co\"\nmetadata_url = \"http://127.0.0.1:{}/metadata\"\nallow_insecure_metadata = true\n", h.idp)
        } else {
            String::new()
        },
        scheme = if options.tls { "https" } else { "http" },
        plain = if options.tls {
            String::new()
        } else {
            format!("\"127.0.0.1:{}\"", h.gateway)
        },
        tls = if options.tls {
            format!("[[server.tls]]\nlisten = \"127.0.0.1:{}\"\ncert = \"tls.crt\"\nkey = \"tls.key\"\n", h.gateway)
        } else {
            String::new()
        },
    )
}

pub(crate) struct HarnessPorts {
    pub(crate) gateway: u16,
    pub(crate) admin: u16,
    pub(crate) idp: u16,
    pub(crate) backend: u16,
    pub(crate) dead: u16,
}

impl Options {
    /// A second IdP entry (same metadata URL as the first, filled in by
    /// `start`), so that a route without `idp` shows the discovery page.
    pub(crate) fn with_second_idp(mut self) -> Self {
        self.second_idp = true;
        self
    }
}

impl Harness {
    /// Waits for the gateway process to exit.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub(crate) fn start(options: Options) -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "samlgate-e2e-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let idp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ports = HarnessPorts {
            gateway: free_port(),
            admin: free_port(),
            idp: idp_listener.local_addr().unwrap().port(),
            backend: options
                .backend_port
                .unwrap_or_else(|| backend_listener.local_addr().unwrap().port()),
            dead: free_port(),
        };
        let scheme = if options.tls { "https" } else { "http" };
        let sp_entity = format!("{scheme}://127.0.0.1:{}/saml/metadata", ports.gateway);
        let acs = format!("{scheme}://127.0.0.1:{}/saml/acs", ports.gateway);
        if options.tls {
            let ok = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .args(["-addext", "subjectAltName=IP:127.0.0.1"])
                .arg("-keyout")
                .arg(dir.join("tls.key"))
                .arg("-out")
                .arg(dir.join("tls.crt"))
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "openssl req");
        }
        let idp = Arc::new(
            DemoIdp::new(&format!("http://127.0.0.1:{}", ports.idp), &sp_entity, &acs).unwrap(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        {
            let _guard = runtime.enter();
            idp.clone().serve(idp_listener).unwrap();
            samlgate_gateway::demo::echo::serve(backend_listener).unwrap();
        }
        let config_path = dir.join("samlgate.toml");
        std::fs::write(&config_path, config_text(&ports, &options)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_samlgate"))
            .args(["run", "--config"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("samlgate run starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let h = Harness {
            dir,
            config_path,
            gateway: ports.gateway,
            admin: ports.admin,
            idp,
            idp_port: ports.idp,
            backend: ports.backend,
            scheme,
            child,
            log,
            _runtime: runtime,
        };
        h.wait_ready(options.expect_unready);
        h
    }

    fn wait_ready(&self, any_answer: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = plain_client();
        while Instant::now() < deadline {
            if any_answer {
                // Not ready by design: the log says when every listener
                // accepts.
                if self.log_text().contains("samlgate serving") {
                    return;
                }
            } else if let Ok(r) = client.get(self.admin_url("/readyz")).send() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "gateway not ready; log:\n{}",
            self.log.lock().unwrap().join("\n")
        );
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.gateway)
    }

    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    pub(crate) fn acs_url(&self) -> String {
        self.url("/saml/acs")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A signed Response from the trusted IdP for alice (unsolicited
    /// unless `in_response_to`).
    pub(crate) fn response_b64(&self, in_response_to: Option<&str>) -> String {
        let xml = self
            .idp
            .response_for(&USERS[0], in_response_to, SystemClock.now())
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(xml)
    }

    pub(crate) fn metrics(&self) -> String {
        plain_client()
            .get(self.admin_url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A browser: cookie jar, follows redirects, asks for HTML.
pub(crate) fn browser() -> reqwest::blocking::Client {
    browser_builder().cookie_store(true).build().unwrap()
}

/// A browser whose cookie jar the test reads (which cookies go where).
pub(crate) fn browser_with_jar() -> (reqwest::blocking::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = browser_builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

fn browser_builder() -> reqwest::blocking::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        "text/html,application/xhtml+xml".parse().unwrap(),
    );
    reqwest::blocking::Client::builder()
        .default_headers(headers)
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
}

/// A browser that shows each redirect instead of following it.
pub(crate) fn browser_no_redirect() -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, "text/html".parse().unwrap());
    reqwest::blocking::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) fn plain_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The hidden inputs of the first form of an HTML page, and its action.
pub(crate) fn form_fields(html: &str) -> (String, Vec<(String, String)>) {
    let action = attr_after(html, "<form", "action").unwrap_or_default();
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\"") {
        rest = &rest[i..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..end];
        let name = attr_after(tag, "<input", "name").unwrap();
        let value = attr_after(tag, "<input", "value").unwrap_or_default();
        fields.push((name, unescape(&value)));
        rest = &rest[end..];
    }
    (unescape(&action), fields)
}

fn attr_after(html: &str, tag: &str, attr: &str) -> Option<String> {
    let start = html.find(tag)?;
    let s = &html[start..];
    let needle = format!("{attr}=\"");
    let i = s.find(&needle)? + needle.len();
    let j = s[i..].find('"')?;
    Some(s[i..i + j].to_owned())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#10;", "\n")
        .replace("&#13;", "\r")
        .replace("&#9;", "\t")
        .replace("&amp;", "&")
}

/// Logs in through the IdP as `user` and returns the page the browser
/// ends on (the backend's echo), plus the SAMLResponse it carried.
pub(crate) fn login(
    h: &Harness,
    client: &reqwest::blocking::Client,
    path: &str,
    user: &str,
) -> (reqwest::blocking::Response, Vec<(String, String)>) {
    let (action, acs_fields) = sign_in_at_idp(h, client, path, user);
    // 3. The browser posts the Response to the ACS and follows the 303.
    let landed = client.post(action).form(&acs_fields).send().unwrap();
    (landed, acs_fields)
}

/// The first two steps of [`login`]: the application URL sends the
/// browser to the IdP, which signs `user` in and answers with the form
/// that would post the Response to the ACS; returns its action and fields
/// (the browser holds its login-state cookie).
pub(crate) fn sign_in_at_idp(
    h: &Harness,
    client: &reqwest::blocking::Client,
    path: &str,
    user: &str,
) -> (String, Vec<(String, String)>) {
    // 1. The application URL: the gateway redirects to the IdP, which
    //    shows its login form.
    let page = client.get(h.url(path)).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.url()
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{}/sso", h.idp_port)),
        "redirected to the IdP: {}",
        page.url()
    );
    let (_, mut fields) = form_fields(&page.text().unwrap());
    // 2. Credentials posted to the IdP: it answers with the auto-post form.
    fields.push(("username".into(), user.into()));
    fields.push(("password".into(), user.into()));
    let posted = client
        .post(format!("http://127.0.0.1:{}/sso", h.idp_port))
        .form(&fields)
        .send()
        .unwrap();
    assert_eq!(posted.status(), 200);
    let (action, acs_fields) = form_fields(&posted.text().unwrap());
    assert_eq!(action, h.acs_url());
    (action, acs_fields)
}

/// The headers the echo backend received, from its JSON answer.
pub(crate) fn echoed_headers(v: &serde_json::Value) -> Vec<(String, String)> {
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn header<'v>(headers: &'v [(String, String)], name: &str) -> Vec<&'v str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The value of a metric sample, `name{labels}` exactly as exposed.
pub(crate) fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}
