//! Single Logout at the demo IdP, against a scripted SP that signs with its
//! own key: the IdP reads the SP metadata from the SP's metadata URL (as
//! `samlgate demo` wires it), verifies the SP's signed LogoutRequest in
//! both bindings with the SP's certificate, ends exactly the sessions it
//! names and answers with a signed LogoutResponse to the SP's
//! SingleLogoutService; refused requests end nothing; and the IdP-initiated
//! logout sends a signed LogoutRequest (user and SessionIndex of the
//! browser's session) and reads the SP's LogoutResponse. Every message
//! from the IdP is checked with samlgate's own `LogoutValidator`, trusting
//! the IdP metadata that the IdP serves.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use base64::Engine;
use samlgate_dsig::{AlgorithmPolicy, SigningKey};
use samlgate_gateway::demo::idp::{generate_signing_key, DemoIdp};
use samlgate_saml::{
    parse_idp_metadata, AcsEndpoint, Clock, LogoutRequest, LogoutResponse, LogoutStatus,
    LogoutValidator, NameId, SpMetadata, SystemClock, Trust, VerifiedLogout,
};
use samlgate_xml::Limits;

const SP_ENTITY: &str = "http://sp.demo.test/saml/metadata";
const SP_ACS: &str = "http://sp.demo.test/saml/acs";
const SP_SLO: &str = "http://sp.demo.test/saml/logout";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

struct Harness {
    idp: Arc<DemoIdp>,
    idp_url: String,
    sp_key: SigningKey,
    _runtime: tokio::runtime::Runtime,
}

/// Serves `body` to every request on a loopback port (the SP metadata
/// URL), on a thread that lives as long as the test process.
fn serve_static(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/saml/metadata", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn harness() -> Harness {
    let (sp_key, sp_cert) = generate_signing_key("scripted sp").unwrap();
    let sp_metadata = SpMetadata {
        entity_id: SP_ENTITY.into(),
        acs: vec![AcsEndpoint {
            index: 0,
            url: SP_ACS.into(),
            is_default: true,
        }],
        slo: vec![SP_SLO.into()],
        signing_certs: vec![sp_cert],
        ..SpMetadata::default()
    }
    .to_xml()
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let idp_url = format!("http://{}", listener.local_addr().unwrap());
    let idp = Arc::new(DemoIdp::new(&idp_url, SP_ENTITY, SP_ACS).unwrap());
    idp.set_sp_metadata_url(serve_static(sp_metadata));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    {
        let _guard = runtime.enter();
        idp.clone().serve(listener).unwrap();
    }
    Harness {
        idp,
        idp_url,
        sp_key,
        _runtime: runtime,
    }
}

fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    let value = &html[start..];
    value[..value.find('"').unwrap()].replace("&amp;", "&")
}

impl Harness {
    /// Signs `user` in with `browser`; returns the SessionIndex of the
    /// assertion the IdP issued.
    fn login(&self, browser: &reqwest::blocking::Client, user: &str) -> String {
        let page = browser
            .post(format!("{}/sso", self.idp_url))
            .form(&[("username", user), ("password", user)])
            .send()
            .unwrap()
            .text()
            .unwrap();
        let response = base64::engine::general_purpose::STANDARD
            .decode(hidden(&page, "SAMLResponse"))
            .unwrap();
        let xml = String::from_utf8(response).unwrap();
        let at = xml.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
        xml[at..at + xml[at..].find('"').unwrap()].to_owned()
    }

    fn home(&self, browser: &reqwest::blocking::Client) -> String {
        browser
            .get(format!("{}/", self.idp_url))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    fn trust(&self) -> Trust {
        let metadata = reqwest::blocking::get(format!("{}/metadata", self.idp_url))
            .unwrap()
            .bytes()
            .unwrap();
        let mut trust = Trust::new();
        for idp in parse_idp_metadata(&metadata).unwrap() {
            assert_eq!(idp.slo.len(), 2, "SLO for Redirect and POST");
            trust.add_idp(idp);
        }
        trust
    }

    /// What the SP sees at its SLO URL, checked as the gateway would.
    fn at_sp(&self, location: &str, in_response_to: Option<&str>) -> VerifiedLogout {
        let query = location
            .strip_prefix(&format!("{SP_SLO}?"))
            .unwrap_or_else(|| panic!("not sent to the SP's SLO: {location}"));
        let trust = self.trust();
        let urls = [SP_SLO.to_owned()];
        LogoutValidator {
            trust: &trust,
            slo_urls: &urls,
            in_response_to,
            clock: &SystemClock,
            clock_skew_seconds: 60,
            max_age_seconds: 120,
            algorithms: AlgorithmPolicy::default(),
            limits: Limits::default(),
        }
        .validate_redirect(query)
        .unwrap()
    }

    fn request<'a>(
        &'a self,
        id: &'a str,
        name_id: &'a NameId,
        sessions: &'a [String],
    ) -> LogoutRequest<'a> {
        LogoutRequest {
            id,
            issue_instant: SystemClock.now(),
            destination: "",
            issuer: SP_ENTITY,
            name_id,
            session_indexes: sessions,
            not_on_or_after: None,
            reason: None,
        }
    }
}

fn alice() -> NameId {
    NameId {
        value: "alice".into(),
        format: Some(UNSPECIFIED.into()),
        ..NameId::default()
    }
}

fn location(resp: &reqwest::blocking::Response) -> String {
    assert_eq!(resp.status(), 303, "{resp:?}");
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[test]
fn sp_initiated_logout_ends_the_idp_session_and_answers_signed() {
    let h = harness();
    let browser = browser();
    let index = h.login(&browser, "alice");
    assert!(h.home(&browser).contains("Signed in as <b>alice</b>"));
    let slo = format!("{}/slo", h.idp_url);
    let name_id = alice();
    let sessions = [index];
    let url = LogoutRequest {
        destination: &slo,
        ..h.request("_sp-lr-1", &name_id, &sessions)
    }
    .redirect_url(Some("rs 1"), &h.sp_key)
    .unwrap();
    let answer = browser.get(url).send().unwrap();
    let VerifiedLogout::Response(r) = h.at_sp(&location(&answer), Some("_sp-lr-1")) else {
        panic!("not a LogoutResponse");
    };
    r.ensure_success().unwrap();
    assert_eq!(r.relay_state(), Some("rs 1"));
    assert!(h.idp.signed_in_users().is_empty());
    assert!(h.home(&browser).contains("Not signed in"));
}

#[test]
fn the_post_binding_works_too() {
    let h = harness();
    let browser = browser();
    h.login(&browser, "alice");
    let slo = format!("{}/slo", h.idp_url);
    let name_id = alice();
    let form = LogoutRequest {
        destination: &slo,
        ..h.request("_sp-lr-post", &name_id, &[])
    }
    .post_form(None, &h.sp_key)
    .unwrap();
    let answer = browser
        .post(&slo)
        .form(&[("SAMLRequest", hidden(&form, "SAMLRequest"))])
        .send()
        .unwrap();
    let VerifiedLogout::Response(r) = h.at_sp(&location(&answer), Some("_sp-lr-post")) else {
        panic!("not a LogoutResponse");
    };
    r.ensure_success().unwrap();
    assert!(h.idp.signed_in_users().is_empty());
}

#[test]
fn refused_logout_requests_end_nothing() {
    let h = harness();
    let browser = browser();
    h.login(&browser, "alice");
    let slo = format!("{}/slo", h.idp_url);
    let name_id = alice();
    let (stranger, _) = generate_signing_key("stranger").unwrap();
    let signed = |destination: &str, key: &SigningKey| {
        LogoutRequest {
            destination,
            ..h.request("_sp-lr-x", &name_id, &[])
        }
        .redirect_url(None, key)
        .unwrap()
    };
    let good = signed(&slo, &h.sp_key);
    let unsigned = good[..good.find("&SigAlg=").unwrap()].to_owned();
    for (url, reason) in [
        (unsigned, "unsigned"),
        (signed(&slo, &stranger), "signature_invalid"),
        (
            signed("http://elsewhere.test/slo", &h.sp_key).replacen(
                "http://elsewhere.test/slo",
                &slo,
                1,
            ),
            "destination_mismatch",
        ),
    ] {
        let resp = browser.get(&url).send().unwrap();
        assert_eq!(resp.status(), 400);
        let body = resp.text().unwrap();
        assert!(body.contains(reason), "{reason}: {body}");
        assert_eq!(h.idp.signed_in_users(), ["alice"], "{reason}");
    }
    // A valid request for bob leaves alice signed in.
    let bob = NameId {
        value: "bob".into(),
        ..alice()
    };
    let url = LogoutRequest {
        destination: &slo,
        ..h.request("_sp-lr-bob", &bob, &[])
    }
    .redirect_url(None, &h.sp_key)
    .unwrap();
    let answer = browser.get(url).send().unwrap();
    h.at_sp(&location(&answer), Some("_sp-lr-bob"));
    assert_eq!(h.idp.signed_in_users(), ["alice"]);
}

#[test]
fn a_session_index_ends_only_that_session() {
    let h = harness();
    let (first, second) = (browser(), browser());
    let index = h.login(&first, "alice");
    h.login(&second, "alice");
    assert_eq!(h.idp.signed_in_users(), ["alice", "alice"]);
    let slo = format!("{}/slo", h.idp_url);
    let name_id = alice();
    let one = [index];
    let url = LogoutRequest {
        destination: &slo,
        ..h.request("_sp-lr-one", &name_id, &one)
    }
    .redirect_url(None, &h.sp_key)
    .unwrap();
    location(&first.get(url).send().unwrap());
    assert_eq!(h.idp.signed_in_users(), ["alice"]);
    assert!(h.home(&first).contains("Not signed in"));
    assert!(h.home(&second).contains("Signed in as <b>alice</b>"));
    let url = LogoutRequest {
        destination: &slo,
        ..h.request("_sp-lr-all", &name_id, &[])
    }
    .redirect_url(None, &h.sp_key)
    .unwrap();
    location(&first.get(url).send().unwrap());
    assert!(h.idp.signed_in_users().is_empty());
}

#[test]
fn idp_initiated_logout_sends_a_signed_request_and_reads_the_answer() {
    let h = harness();
    let browser = browser();
    let index = h.login(&browser, "alice");
    let sent = browser
        .post(format!("{}/slo/initiate", h.idp_url))
        .send()
        .unwrap();
    let VerifiedLogout::Request(request) = h.at_sp(&location(&sent), None) else {
        panic!("not a LogoutRequest");
    };
    assert_eq!(request.name_id(), &alice());
    assert_eq!(request.session_indexes(), [index]);
    assert!(request.not_on_or_after().is_some());
    assert!(h.idp.signed_in_users().is_empty());
    let slo = format!("{}/slo", h.idp_url);
    let answer = |in_response_to| {
        LogoutResponse {
            id: "_sp-lresp-1",
            issue_instant: SystemClock.now(),
            destination: &slo,
            issuer: SP_ENTITY,
            in_response_to: Some(in_response_to),
            status: LogoutStatus::Success,
            status_message: None,
        }
        .redirect_url(None, &h.sp_key)
        .unwrap()
    };
    let wrong = browser.get(answer("_another")).send().unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().unwrap().contains("in_response_to_mismatch"));
    let right = browser.get(answer(request.id())).send().unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().unwrap().contains("signed out everywhere"));
}
