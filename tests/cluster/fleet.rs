//! Several real `samlgate run` processes sharing one store: one demo IdP
//! ("corp", serving metadata over HTTP and signing real assertions), a
//! second IdP ("partner", its own key and entity ID) for the nodes that
//! trust it, and one echo backend. Every node has the same `sp.base_url`
//! (the first node's address, as a load balancer's would be), the same
//! session keys and the same SP signing key, and its own listener and
//! admin port: a cookie set by one node is sent to every other (cookies
//! ignore ports), as behind a load balancer.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use samlgate_gateway::demo::idp::{generate_signing_key_pem, DemoIdp, ResponseSpec, USERS};
use samlgate_saml::{Clock, Instant as SamlInstant, SystemClock};

use super::redis::{free_port, temp_dir};

pub(crate) const SESSION_KEY: [u8; 32] = [42; 32];
pub(crate) const ADMIN_TOKEN: &str = "cluster-test-admin-token-0123456789";

/// What one node is given.
#[derive(Clone, Default)]
pub(crate) struct NodeSpec {
    /// The lines of its `[store]` table.
    pub(crate) store: String,
    /// `server.admin_token_file` set (POST /sessions/revoke enabled).
    pub(crate) admin_token: bool,
    /// The partner IdP trusted too.
    pub(crate) partner: bool,
    /// The "corp" IdP's metadata URL instead of the demo IdP's (a real
    /// IdP: pysaml2).
    pub(crate) idp_metadata_url: Option<String>,
}

impl NodeSpec {
    pub(crate) fn store(store: impl Into<String>) -> Self {
        NodeSpec {
            store: store.into(),
            ..NodeSpec::default()
        }
    }
}

/// The `[store]` lines of a standalone Redis at `url`.
pub(crate) fn redis_store(url: &str, on_failure: &str) -> String {
    format!(
        "backend = \"redis\"\nurl = \"{url}\"\non_failure = \"{on_failure}\"\ntimeout_ms = 250\nmax_staleness_ms = 1000\n"
    )
}

pub(crate) struct Fleet {
    pub(crate) dir: PathBuf,
    base_port: u16,
    /// `sp.base_url` of every node.
    pub(crate) base_url: String,
    pub(crate) idp: Arc<DemoIdp>,
    pub(crate) idp_port: u16,
    pub(crate) partner: Arc<DemoIdp>,
    pub(crate) partner_port: u16,
    backend: u16,
    /// The SP signing certificate (DER), to check the LogoutResponses.
    pub(crate) sp_cert_der: Vec<u8>,
    pub(crate) nodes: Vec<Node>,
    _runtime: tokio::runtime::Runtime,
}

impl Fleet {
    /// The IdPs, the backend and the keys; no node yet.
    pub(crate) fn new() -> Fleet {
        let dir = temp_dir("fleet");
        let base_port = free_port();
        let base_url = format!("http://127.0.0.1:{base_port}");
        let sp_entity = format!("{base_url}/saml/metadata");
        let acs = format!("{base_url}/saml/acs");
        let idp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let partner_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port_of = |l: &TcpListener| l.local_addr().unwrap().port();
        let (idp_port, partner_port, backend) = (
            port_of(&idp_listener),
            port_of(&partner_listener),
            port_of(&backend_listener),
        );
        let idp = Arc::new(
            DemoIdp::new(&format!("http://127.0.0.1:{idp_port}"), &sp_entity, &acs).unwrap(),
        );
        let partner = Arc::new(
            DemoIdp::new(
                &format!("http://127.0.0.1:{partner_port}"),
                &sp_entity,
                &acs,
            )
            .unwrap(),
        );
        idp.set_sp_metadata_url(format!("{base_url}/saml/metadata"));
        partner.set_sp_metadata_url(format!("{base_url}/saml/metadata"));
        let (key_pem, cert_pem) = generate_signing_key_pem("samlgate cluster test sp").unwrap();
        std::fs::write(dir.join("sp.key"), key_pem).unwrap();
        std::fs::write(dir.join("sp.crt"), &cert_pem).unwrap();
        std::fs::write(dir.join("admin.token"), format!("{ADMIN_TOKEN}\n")).unwrap();
        let sp_cert_der = openssl::x509::X509::from_pem(&cert_pem)
            .unwrap()
            .to_der()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        {
            let _guard = runtime.enter();
            idp.clone().serve(idp_listener).unwrap();
            partner.clone().serve(partner_listener).unwrap();
            samlgate_gateway::demo::echo::serve(backend_listener).unwrap();
        }
        Fleet {
            dir,
            base_port,
            base_url,
            idp,
            idp_port,
            partner,
            partner_port,
            backend,
            sp_cert_der,
            nodes: Vec::new(),
            _runtime: runtime,
        }
    }

    /// A fleet of `n` nodes with the same spec.
    pub(crate) fn with_nodes(n: usize, spec: &NodeSpec) -> Fleet {
        let mut fleet = Fleet::new();
        for _ in 0..n {
            fleet.start_node(spec);
        }
        fleet
    }

    pub(crate) fn config_text(&self, port: u16, admin: u16, spec: &NodeSpec) -> String {
        let key = base64::engine::general_purpose::STANDARD.encode(SESSION_KEY);
        let dir = self.dir.display();
        let token = if spec.admin_token {
            format!("admin_token_file = \"{dir}/admin.token\"")
        } else {
            String::new()
        };
        let partner = if spec.partner {
            format!(
                "[[idp]]\nname = \"partner\"\nmetadata_url = \"http://127.0.0.1:{}/metadata\"\nallow_insecure_metadata = true\nallow_idp_initiated = true\n",
                self.partner_port
            )
        } else {
            String::new()
        };
        format!(
            r#"
[server]
listen = ["127.0.0.1:{port}"]
admin_listen = "127.0.0.1:{admin}"
threads = 2
log_format = "json"
shutdown_grace_seconds = 1
upstream_read_timeout_seconds = 2
{token}

[sp]
entity_id = "{base}/saml/metadata"
base_url = "{base}"
signing_key = "{dir}/sp.key"
signing_cert = "{dir}/sp.crt"

[[idp]]
name = "corp"
metadata_url = "{idp_metadata}"
allow_insecure_metadata = true
allow_idp_initiated = true

{partner}
[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:{backend}"]

[headers]
inject = [{{ name = "X-Remote-User", from = "name_id" }}]

[session]
keys = ["{key}"]

[store]
{store}
"#,
            base = self.base_url,
            idp_metadata = spec
                .idp_metadata_url
                .clone()
                .unwrap_or_else(|| format!("http://127.0.0.1:{}/metadata", self.idp_port)),
            backend = self.backend,
            store = spec.store,
        )
    }

    /// Starts one more node (the first listens on the base URL's port)
    /// and waits until it is ready.
    pub(crate) fn start_node(&mut self, spec: &NodeSpec) -> usize {
        let index = self.spawn_node(spec);
        self.nodes[index].wait_ready();
        index
    }

    /// Starts one more node without waiting for it.
    pub(crate) fn spawn_node(&mut self, spec: &NodeSpec) -> usize {
        let index = self.nodes.len();
        let port = if index == 0 {
            self.base_port
        } else {
            free_port()
        };
        let admin = free_port();
        let config = self.dir.join(format!("node-{index}.toml"));
        std::fs::write(&config, self.config_text(port, admin, spec)).unwrap();
        let node = Node::spawn(format!("node {index}"), port, admin, config);
        self.nodes.push(node);
        index
    }

    /// `samlgate check-config --deep` on a copy of a node's configuration
    /// (other ports: the node is running); (success, stderr).
    pub(crate) fn check_config_deep(&self, spec: &NodeSpec) -> (bool, String) {
        let path = self.dir.join(format!("check-{}.toml", free_port()));
        let text = self.config_text(free_port(), free_port(), spec);
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_samlgate"))
            .args(["check-config", "--deep"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn slo_url(&self) -> String {
        format!("{}/saml/logout", self.base_url)
    }

    /// A signed Response (assertion signed) from `idp` for `name_id` in
    /// the IdP session `session_index`, issued at `now`, as XML.
    pub(crate) fn response_xml(
        &self,
        idp: &DemoIdp,
        name_id: &str,
        session_index: &str,
        now: SamlInstant,
    ) -> String {
        let user = &USERS[0];
        let attributes = [
            ("uid", vec![name_id.to_owned()]),
            ("email", vec![user.email.to_owned()]),
        ];
        let xml = ResponseSpec {
            issuer: &idp.entity_id,
            audience: &idp.sp_entity_id,
            acs_url: &idp.sp_acs_url,
            in_response_to: None,
            name_id,
            attributes: &attributes,
            now,
            lifetime_seconds: 300,
        }
        .signed_xml_with_session(&idp.key, session_index)
        .unwrap();
        String::from_utf8(xml).unwrap()
    }

    /// The same, base64 as posted, issued now.
    pub(crate) fn response(&self, name_id: &str, session_index: &str) -> String {
        b64(&self.response_xml(&self.idp, name_id, session_index, SystemClock.now()))
    }
}

pub(crate) fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// One `samlgate run` process.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) admin: u16,
    pub(crate) config: PathBuf,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn spawn(name: String, port: u16, admin: u16, config: PathBuf) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_samlgate"))
            .args(["run", "--config"])
            .arg(&config)
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
        Node {
            name,
            port,
            admin,
            config,
            child,
            log,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.readyz().0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} not ready; log:\n{}", self.name, self.log_text());
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    /// `/readyz`: status and JSON body (0 when it did not answer).
    pub(crate) fn readyz(&self) -> (u16, serde_json::Value) {
        match super::http::plain().get(self.admin_url("/readyz")).send() {
            Ok(r) => (r.status().as_u16(), r.json().unwrap_or_default()),
            Err(_) => (0, serde_json::Value::Null),
        }
    }

    pub(crate) fn metrics(&self) -> String {
        super::http::plain()
            .get(self.admin_url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// One sample of `/metrics`, `name{labels}` exactly as exposed.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        crate::gateway::sample(&self.metrics(), series)
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The `session` handles of the accepted ACS log lines, in order.
    pub(crate) fn session_handles(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "acs" && v["fields"]["outcome"] == "accepted")
            .filter_map(|v| v["fields"]["session"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.nodes.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `cond` every 20 ms until it holds; panics after `limit` (a
/// generous deadline, not a speed requirement). Returns the time taken.
pub(crate) fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}
