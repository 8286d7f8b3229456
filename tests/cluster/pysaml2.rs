//! tests/pysaml2/http_idp.py as a process: a pysaml2 IdP over HTTP on a
//! loopback port (Debian's python3-pysaml2, run with /usr/bin/python3;
//! xmlsec1 signs for it). Its key is made by the openssl command line.
//! Missing packages fail the test (scripts/deps.sh installs them).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::redis::free_port;

const PYTHON: &str = "/usr/bin/python3";

pub(crate) struct Pysaml2Idp {
    pub(crate) port: u16,
    child: Child,
}

impl Pysaml2Idp {
    /// Starts the IdP; it reads the SP metadata from `sp_metadata_url`
    /// when it first needs it.
    pub(crate) fn start(dir: &Path, sp_metadata_url: &str) -> Pysaml2Idp {
        let ok = Command::new(PYTHON)
            .args(["-c", "import saml2"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "{PYTHON} cannot import saml2: install Debian's python3-pysaml2 (scripts/deps.sh)"
        );
        assert!(
            Path::new("/usr/bin/xmlsec1").exists(),
            "xmlsec1 is missing (scripts/deps.sh)"
        );
        let ok = Command::new("openssl")
            .current_dir(dir)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=pysaml2 idp", "-keyout", "pysaml2-idp.key"])
            .args(["-out", "pysaml2-idp.crt"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl req");
        let port = free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pysaml2/http_idp.py");
        let mut child = Command::new(PYTHON)
            .current_dir(dir)
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--key", "pysaml2-idp.key", "--cert", "pysaml2-idp.crt"])
            .args(["--sp-metadata-url", sp_metadata_url])
            .arg("--work")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/pysaml2/http_idp.py");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(first.trim(), "READY", "http_idp.py did not start");
        Pysaml2Idp { port, child }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the IdP recorded.
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        super::http::plain()
            .get(self.url("/events"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The last recorded event named `name`.
    pub(crate) fn last(&self, name: &str) -> serde_json::Value {
        let events = self.events();
        events
            .iter()
            .rev()
            .find(|e| e["event"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
    }
}

impl Drop for Pysaml2Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
