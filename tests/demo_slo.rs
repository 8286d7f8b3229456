//! `samlgate demo` wires the demo IdP to the gateway for Single Logout: the
//! IdP reads the gateway's SP metadata from its metadata URL and its
//! IdP-initiated logout sends the browser to the gateway's SLO URL with a
//! signed LogoutRequest for the signed-in user and their SessionIndex,
//! which samlgate's `LogoutValidator` accepts with the IdP's metadata.
//! (What the gateway then does with it is the gateway's SLO handling.)

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use samlgate_dsig::AlgorithmPolicy;
use samlgate_saml::{parse_idp_metadata, LogoutValidator, SystemClock, Trust, VerifiedLogout};
use samlgate_xml::Limits;

struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn the_demo_idp_logs_out_at_the_gateway_with_a_signed_request() {
    let (port, admin, idp, backend) = (free_port(), free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("demo")
        .args([
            "--port",
            &port.to_string(),
            "--admin-port",
            &admin.to_string(),
        ])
        .args([
            "--idp-port",
            &idp.to_string(),
            "--backend-port",
            &backend.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Demo(child);
    let plain = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while plain
        .get(format!("http://127.0.0.1:{admin}/readyz"))
        .send()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "demo not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let browser = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let idp_url = format!("http://127.0.0.1:{idp}");
    let login = browser
        .post(format!("{idp_url}/sso"))
        .form(&[("username", "bob"), ("password", "bob")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let at = login.find("name=\"SAMLResponse\" value=\"").unwrap();
    assert!(at > 0);
    let home = browser
        .get(format!("{idp_url}/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(home.contains("Signed in as <b>bob</b>"), "{home}");

    let sent = browser
        .post(format!("{idp_url}/slo/initiate"))
        .send()
        .unwrap();
    assert_eq!(sent.status(), 303, "{:?}", sent.text());
    let location = sent.headers()["location"].to_str().unwrap().to_owned();
    let slo = format!("http://127.0.0.1:{port}/saml/logout");
    let query = location
        .strip_prefix(&format!("{slo}?"))
        .unwrap_or_else(|| panic!("not the gateway's SLO URL: {location}"));
    let metadata = plain
        .get(format!("{idp_url}/metadata"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut trust = Trust::new();
    for entity in parse_idp_metadata(&metadata).unwrap() {
        trust.add_idp(entity);
    }
    let urls = [slo.clone()];
    let verified = LogoutValidator {
        trust: &trust,
        slo_urls: &urls,
        in_response_to: None,
        clock: &SystemClock,
        clock_skew_seconds: 60,
        max_age_seconds: 120,
        algorithms: AlgorithmPolicy::default(),
        limits: Limits::default(),
    }
    .validate_redirect(query)
    .unwrap();
    let VerifiedLogout::Request(request) = verified else {
        panic!("not a LogoutRequest");
    };
    assert_eq!(request.issuer(), format!("{idp_url}/idp"));
    assert_eq!(request.name_id().value, "bob");
    assert_eq!(request.session_indexes().len(), 1);
    let home = browser
        .get(format!("{idp_url}/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(home.contains("Not signed in"), "{home}");
}
