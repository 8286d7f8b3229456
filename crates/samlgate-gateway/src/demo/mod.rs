//! `samlgate demo`: the gateway, a demo IdP and an echo backend in one
//! process, on loopback, with nothing written to disk. The gateway runs
//! exactly as in production: it fetches the IdP's metadata over HTTP, sends
//! real AuthnRequests and verifies real signed assertions.

pub mod echo;
pub mod idp;

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::config::Config;
use crate::key_cache::FingerprintKeyCache;
use crate::server::{init_logging, Control, ReloadSource, StartError};
use crate::state::{BuildOptions, Gateway};

/// Ports of the demo (all on 127.0.0.1).
#[derive(Debug, Clone, Copy)]
pub struct DemoPorts {
    /// The gateway (what the browser opens).
    pub gateway: u16,
    /// The admin listener.
    pub admin: u16,
    /// The demo IdP.
    pub idp: u16,
    /// The echo backend.
    pub backend: u16,
}

impl Default for DemoPorts {
    fn default() -> Self {
        DemoPorts {
            gateway: 8080,
            admin: 9090,
            idp: 8081,
            backend: 8082,
        }
    }
}

pub(crate) use crate::local_http::serve;

pub(crate) fn html(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>samlgate demo</title>\
<style>body{{font-family:sans-serif;max-width:50em;margin:3em auto;color:#222}}\
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
.error{{color:#b00}}.identity{{background:#eef8ee}}</style></head><body>{body}</body></html>"
    );
    let mut resp = Response::new(Full::new(Bytes::from(page)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// The demo's gateway configuration (TOML, so it reads like a real one).
pub fn demo_config(ports: DemoPorts, session_key_b64: &str) -> String {
    format!(
        r#"# samlgate demo: generated in memory
[server]
listen = ["127.0.0.1:{gw}"]
admin_listen = "127.0.0.1:{admin}"
threads = 2
log_name_id = true

[sp]
entity_id = "http://127.0.0.1:{gw}/saml/metadata"
base_url = "http://127.0.0.1:{gw}"

[[idp]]
name = "demo"
display_name = "samlgate demo IdP"
metadata_url = "http://127.0.0.1:{idp}/metadata"
# Plain http on loopback, in this process: nobody else is on the path.
allow_insecure_metadata = true
refresh_interval_seconds = 3600

[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:{backend}"]
policy = "sso"

[[route]]
path_prefix = "/public"
upstreams = ["127.0.0.1:{backend}"]
policy = "public"

[[route]]
path_prefix = "/admin"
upstreams = ["127.0.0.1:{backend}"]
policy = "sso"
require = [{{ attribute = "groups", contains = "admins" }}]

[headers]
separator = ";"
inject = [
  {{ name = "X-Remote-User", from = "name_id" }},
  {{ name = "X-Remote-Idp", from = "idp" }},
  {{ name = "X-Remote-Email", from = "attribute:email" }},
  {{ name = "X-Remote-Name", from = "attribute:displayName" }},
  {{ name = "X-Remote-Groups", from = "attribute:groups" }},
]

[session]
keys = ["{session_key_b64}"]
lifetime_seconds = 3600
"#,
        gw = ports.gateway,
        admin = ports.admin,
        idp = ports.idp,
        backend = ports.backend,
    )
}

/// A gateway configuration that trusts `idp` (inline metadata, IdP-initiated
/// login allowed) for the SP `base_url`, built in process with no listener
/// and no fetch: for benches, tests and tools that validate the demo IdP's
/// Responses exactly as the gateway would. The demo IdP must have been
/// made for `{base_url}/saml/metadata` and `{base_url}/saml/acs`.
pub fn offline_gateway(idp: &idp::DemoIdp, base_url: &str) -> Result<Gateway, StartError> {
    let config = Config::from_toml(&format!(
        r#"
[sp]
entity_id = "{base_url}/saml/metadata"
base_url = "{base_url}"
[[idp]]
name = "demo"
metadata_url = "{base_url}/unused-metadata"
allow_insecure_metadata = true
allow_idp_initiated = true
[[route]]
upstreams = ["127.0.0.1:9"]
[session]
keys = ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]
"#
    ))?;
    let options = BuildOptions {
        inline_metadata: vec![("demo".into(), idp.metadata().into_bytes())],
        ..BuildOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Other(e.to_string()))?;
    Ok(runtime.block_on(Gateway::build(
        config,
        &options,
        &Arc::new(FingerprintKeyCache::new(16)),
    ))?)
}

fn bind(port: u16, what: &str) -> Result<std::net::TcpListener, StartError> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| StartError::Other(format!("{what}: cannot listen on 127.0.0.1:{port}: {e}")))
}

/// Runs the demo until the process is stopped.
pub fn run(ports: DemoPorts) -> Result<(), StartError> {
    init_logging("text");
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).map_err(|e| StartError::Other(e.to_string()))?;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let config = Config::from_toml(&demo_config(ports, &key_b64))?;

    // The IdP and backend listen before the gateway builds, so that the
    // gateway's first metadata fetch finds the IdP.
    let idp_listener = bind(ports.idp, "demo IdP")?;
    let backend_listener = bind(ports.backend, "echo backend")?;
    let gateway_url = format!("http://127.0.0.1:{}", ports.gateway);
    let idp = Arc::new(
        idp::DemoIdp::new(
            &format!("http://127.0.0.1:{}", ports.idp),
            &config.sp.entity_id,
            &format!("{gateway_url}{}", config.sp.acs_path),
        )
        .map_err(StartError::Other)?,
    );
    // Like a real IdP with a registered relying party, the demo IdP reads
    // the SP metadata (signing certificate, SingleLogoutService) from the
    // gateway, the first time a logout needs it.
    idp.set_sp_metadata_url(format!("{gateway_url}{}", config.sp.metadata_path));
    let helpers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("samlgate-demo")
        .enable_all()
        .build()
        .map_err(|e| StartError::Other(e.to_string()))?;
    {
        let _guard = helpers.enter();
        idp.serve(idp_listener).map_err(StartError::Other)?;
        echo::serve(backend_listener).map_err(StartError::Other)?;
    }
    std::thread::Builder::new()
        .name("samlgate-demo".into())
        .spawn(move || helpers.block_on(std::future::pending::<()>()))
        .map_err(|e| StartError::Other(e.to_string()))?;

    // The SP's signing key, in memory like everything of the demo: it
    // signs the AuthnRequests and the Single Logout messages, and the demo
    // IdP reads its certificate from the SP metadata.
    let (sp_key, _) = idp::generate_signing_key("samlgate demo SP").map_err(StartError::Other)?;
    let control = Control::start(
        config,
        ReloadSource {
            path: None,
            options: BuildOptions {
                signing_key: Some(sp_key),
                ..BuildOptions::default()
            },
        },
    )?;
    let banner = format!(
        "\nsamlgate demo is running.\n\n  Open            {gateway_url}/\n  \
Sign in as      alice / alice  (groups staff;admins)  or  bob / bob  (staff)\n  \
Admin-only page {gateway_url}/admin/  (alice only: route rule groups contains admins)\n  \
Sign out        {gateway_url}/saml/logout  (here and at the IdP: SAML Single Logout)\n  \
Public page     {gateway_url}/public/  (no login; spoofed identity headers are stripped)\n  \
Metrics         http://127.0.0.1:{}/metrics\n  \
SP metadata     {gateway_url}/saml/metadata\n  \
Demo IdP        http://127.0.0.1:{}/ (metadata at /metadata; sign out everywhere there)\n\nStop with Ctrl-C.\n",
        ports.admin, ports.idp
    );
    // Printed only once every listener accepts connections: a script
    // that reads this line and connects at once must not be refused.
    control.serve(Some(Box::new(move || println!("{banner}"))))
}

/// Random hex for the demo IdP's IDs and cookies. The demo is not a
/// security boundary; should the RNG fail, its IDs are empty and its
/// messages refused downstream rather than made from the clock.
pub(crate) fn random_hex(bytes: usize) -> String {
    crate::login::random_hex(bytes).unwrap_or_default()
}
