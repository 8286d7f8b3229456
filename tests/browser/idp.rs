//! SimpleSAMLphp 1.19 from Debian as a real IdP, served by PHP's built-in
//! web server on 127.0.0.2 (another loopback address than the gateway's
//! 127.0.0.1: cookies are scoped by host, not port, so on one address the
//! IdP's cookies would travel to the gateway and the backend).
//!
//! All of its configuration lives in a per-run directory named by
//! SIMPLESAMLPHP_CONFIG_DIR: tests/browser/ssp/{config,authsources}.php,
//! the hosted IdP's metadata, a key and certificate made by openssl, and
//! the saml20-sp-remote.php that `register` writes from the gateway's SP
//! metadata. Nothing under /etc or /usr/share is touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) const PHP: &str = "/usr/bin/php";
pub(crate) const SSP_WWW: &str = "/usr/share/simplesamlphp/www";
pub(crate) const IDP_HOST: &str = "127.0.0.2";

/// The users of tests/browser/ssp/authsources.php.
pub(crate) struct User {
    pub(crate) name: &'static str,
    pub(crate) password: &'static str,
    pub(crate) email: &'static str,
    pub(crate) groups: &'static str,
}

pub(crate) const ALICE: User = User {
    name: "alice",
    password: "alice-password",
    email: "alice@example.org",
    groups: "staff;admins",
};
pub(crate) const BOB: User = User {
    name: "bob",
    password: "bob-password",
    email: "bob@example.org",
    groups: "students",
};

fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/ssp")
        .join(name)
}

/// Fails (does not skip) when a package is missing: scripts/deps.sh
/// installs simplesamlphp, php-cli and php-xml.
pub(crate) fn require_packages() {
    assert!(
        Path::new(PHP).exists(),
        "{PHP} is missing: install php-cli (scripts/deps.sh does)"
    );
    assert!(
        Path::new(SSP_WWW).join("index.php").exists(),
        "{SSP_WWW} is missing: install Debian's simplesamlphp (scripts/deps.sh does)"
    );
    let dom = Command::new(PHP)
        .args(["-r", "exit(extension_loaded('dom') ? 0 : 1);"])
        .status()
        .expect("php runs");
    assert!(
        dom.success(),
        "PHP has no dom extension: install php-xml (scripts/deps.sh does)"
    );
}

pub(crate) struct SimpleSamlPhp {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    child: Child,
}

fn free_port_on(host: &str) -> u16 {
    TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot bind {host}: {e}"))
}

/// A key pair `name.key`/`name.crt` in `dir`: made by openssl once per
/// test binary (2048-bit RSA takes a while on a busy machine) and copied.
pub(crate) fn key_pair(dir: &Path, name: &str) {
    static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-keys");
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if !made.iter().any(|n| n == name) {
        std::fs::create_dir_all(&cache).unwrap();
        openssl_self_signed(&cache, name, &format!("samlgate tests {name}"));
        made.push(name.to_owned());
    }
    for ext in ["key", "crt"] {
        let file = format!("{name}.{ext}");
        std::fs::copy(cache.join(&file), dir.join(&file)).unwrap();
    }
}

fn openssl_self_signed(dir: &Path, name: &str, cn: &str) {
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs")
        .success();
    assert!(ok, "openssl req for {name}");
}

impl SimpleSamlPhp {
    /// Lays out the configuration in `dir` and starts the IdP; returns
    /// once its metadata answers.
    pub(crate) fn start(dir: &Path) -> SimpleSamlPhp {
        for sub in [
            "config", "metadata", "cert", "log", "data", "tmp", "sessions",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for file in ["config.php", "authsources.php"] {
            std::fs::copy(support(file), dir.join("config").join(file)).unwrap();
        }
        std::fs::copy(
            support("saml20-idp-hosted.php"),
            dir.join("metadata/saml20-idp-hosted.php"),
        )
        .unwrap();
        std::fs::write(dir.join("metadata/saml20-sp-remote.php"), "<?php\n").unwrap();
        key_pair(&dir.join("cert"), "idp");
        // Each try picks a free port; another process may take it between
        // the probe and PHP's bind, so a PHP that exits at once is retried.
        for _ in 0..3 {
            let port = free_port_on(IDP_HOST);
            let mut idp = SimpleSamlPhp {
                dir: dir.to_owned(),
                port,
                child: Self::spawn(dir, port),
            };
            if idp.wait_metadata() {
                return idp;
            }
            let _ = idp.child.kill();
        }
        panic!(
            "SimpleSAMLphp did not start; server log:\n{}",
            std::fs::read_to_string(dir.join("php-server.log")).unwrap_or_default()
        );
    }

    fn spawn(dir: &Path, port: u16) -> Child {
        let log = std::fs::File::create(dir.join("php-server.log")).unwrap();
        Command::new(PHP)
            .arg("-S")
            .arg(format!("{IDP_HOST}:{port}"))
            .args(["-t", SSP_WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", dir.join("config"))
            .env("SAMLGATE_IDP_DIR", dir)
            .env("SAMLGATE_IDP_BASE", format!("http://{IDP_HOST}:{port}"))
            .env(
                "SAMLGATE_IDP_SALT",
                format!("salt-{}-{port}", std::process::id()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("php -S starts")
    }

    fn wait_metadata(&mut self) -> bool {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(r) = client.get(self.metadata_url()).send() {
                if r.status() == 200 {
                    let xml = r.text().unwrap_or_default();
                    std::fs::write(self.dir.join("idp-metadata.xml"), xml).unwrap();
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{IDP_HOST}:{}", self.port)
    }

    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.base())
    }

    /// The IdP's entityID (SimpleSAMLphp's `__DYNAMIC:1__`).
    pub(crate) fn entity_id(&self) -> String {
        self.metadata_url()
    }

    /// Its signing certificate, which also signs its metadata.
    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.join("cert/idp.crt")
    }

    /// The metadata as fetched at start (signed), for `samlgate verify`.
    pub(crate) fn metadata_file(&self) -> PathBuf {
        self.dir.join("idp-metadata.xml")
    }

    /// Registers SPs: each SP metadata file is converted by SimpleSAMLphp's
    /// own parser into saml20-sp-remote.php, with `options` (a JSON object
    /// of SimpleSAMLphp SP metadata options) laid over it.
    pub(crate) fn register(&self, sps: &[(&Path, serde_json::Value)]) {
        let mut cmd = Command::new(PHP);
        cmd.arg(support("sp-remote.php"))
            .arg(self.dir.join("metadata/saml20-sp-remote.php"))
            .env("SIMPLESAMLPHP_CONFIG_DIR", self.dir.join("config"))
            .env("SAMLGATE_IDP_DIR", &self.dir)
            .env("SAMLGATE_IDP_BASE", self.base())
            .env("SAMLGATE_IDP_SALT", "converter");
        for (i, (xml, options)) in sps.iter().enumerate() {
            let json = self.dir.join(format!("sp-options-{i}.json"));
            std::fs::write(&json, options.to_string()).unwrap();
            cmd.arg(xml).arg(json);
        }
        let out = cmd.output().expect("php sp-remote.php runs");
        assert!(
            out.status.success(),
            "sp-remote.php: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// SimpleSAMLphp's own log and the web server's, for failure messages.
    pub(crate) fn log_text(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.join(p)).unwrap_or_default();
        format!(
            "--- simplesamlphp.log\n{}\n--- php -S\n{}",
            read("log/simplesamlphp.log"),
            read("php-server.log")
        )
    }
}

impl Drop for SimpleSamlPhp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
