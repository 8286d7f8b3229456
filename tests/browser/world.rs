//! One test's world: SimpleSAMLphp on 127.0.0.2, `samlgate run` on
//! 127.0.0.1 (tests/gateway/mod.rs's harness, with the echo backend) that
//! trusts it through its signed metadata URL, and the SP metadata that
//! `samlgate metadata` writes registered at the IdP; then a Chromium run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine;
use serde_json::Value;

use crate::chromium::{self, click, fill, goto, Request, Run};
use crate::gateway::{Harness, Options};
use crate::idp::{self, SimpleSamlPhp, User};

pub(crate) const NAME_ID_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// What SimpleSAMLphp's login page says, and its error page's title.
pub(crate) const IDP_LOGIN_PAGE: &str = "Enter your username and password";
pub(crate) const IDP_ERROR_PAGE: &str = "SimpleSAMLphp error";
pub(crate) const ECHO_PAGE: &str = "Echo backend";
pub(crate) const GATEWAY_ERROR_PAGE: &str = "Reason:";

/// One browser at a time: the machine has two cores, and a Chromium, a
/// PHP server and a gateway per test are enough for them.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A setup: how the IdP treats our SP and which keys each side has.
pub(crate) struct Variant {
    pub(crate) name: &'static str,
    /// HTTPS gateway (self-signed) or plain HTTP.
    pub(crate) tls: bool,
    /// SimpleSAMLphp SP-metadata options laid over our registration.
    pub(crate) idp_options: Value,
    /// Decryption keys the gateway holds (names of key pairs in the work
    /// directory: "enc-old", "enc-new").
    pub(crate) gateway_keys: &'static [&'static str],
    /// Encryption certificates in the SP metadata given to the IdP, in
    /// order (SimpleSAMLphp encrypts to the first).
    pub(crate) published_keys: &'static [&'static str],
    pub(crate) allow_idp_initiated: bool,
    /// Also register the same SP metadata under this other entity ID
    /// (appended to the gateway's base URL), as an administrator who
    /// copied the ACS URL into the wrong relying party would.
    pub(crate) other_entity_path: Option<&'static str>,
}

impl Variant {
    pub(crate) fn new(name: &'static str) -> Variant {
        Variant {
            name,
            tls: true,
            idp_options: serde_json::json!({}),
            gateway_keys: &[],
            published_keys: &[],
            allow_idp_initiated: false,
            other_entity_path: None,
        }
    }
}

pub(crate) struct World {
    pub(crate) work: PathBuf,
    pub(crate) gw: Harness,
    pub(crate) idp: SimpleSamlPhp,
    pub(crate) name: &'static str,
    started: Instant,
    _one: MutexGuard<'static, ()>,
}

fn key_files(work: &Path, names: &[&str]) -> Vec<(PathBuf, PathBuf)> {
    names
        .iter()
        .map(|n| (work.join(format!("{n}.key")), work.join(format!("{n}.crt"))))
        .collect()
}

impl World {
    pub(crate) fn start(v: &Variant) -> World {
        idp::require_packages();
        chromium::require_packages();
        let one = one_at_a_time();
        let started = Instant::now();
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser-work")
            .join(v.name);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        for name in ["sp-sign", "enc-old", "enc-new"] {
            idp::key_pair(&work, name);
        }
        let idp = SimpleSamlPhp::start(&work.join("idp"));

        let mut sp_extra = format!(
            "signing_key = \"{}\"\nsigning_cert = \"{}\"\n",
            work.join("sp-sign.key").display(),
            work.join("sp-sign.crt").display()
        );
        for (key, cert) in key_files(&work, v.gateway_keys) {
            sp_extra += &format!(
                "[[sp.decryption_keys]]\nkey = \"{}\"\ncert = \"{}\"\n",
                key.display(),
                cert.display()
            );
        }
        let gw = Harness::start(Options {
            tls: v.tls,
            allow_idp_initiated: v.allow_idp_initiated,
            idp_metadata_url: Some(idp.metadata_url()),
            // SimpleSAMLphp signs its metadata: plain HTTP on loopback is
            // then as good as HTTPS for trusting it.
            idp_extra: format!("metadata_signing_cert = \"{}\"", idp.cert().display()),
            sp_extra,
            ..Options::default()
        });

        let world = World {
            work,
            gw,
            idp,
            name: v.name,
            started,
            _one: one,
        };
        let sp_xml = world.sp_metadata(&world.entity_id(), v.published_keys);
        let mut options = v.idp_options.clone();
        // NameID = uid, as Shibboleth-style deployments release it.
        options["simplesaml.nameidattribute"] = "uid".into();
        let mut sps = vec![(sp_xml.as_path(), options.clone())];
        if let Some(path) = v.other_entity_path {
            options["entityid"] = world.gw.url(path).into();
            sps.push((sp_xml.as_path(), options));
        }
        world.idp.register(&sps);
        world
    }

    pub(crate) fn entity_id(&self) -> String {
        self.gw.url("/saml/metadata")
    }

    /// `samlgate metadata` for this gateway, as an operator makes it.
    fn sp_metadata(&self, entity_id: &str, encryption: &[&str]) -> PathBuf {
        let out = self.work.join("sp-metadata.xml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_samlgate"));
        cmd.arg("metadata")
            .args(["--entity-id", entity_id])
            .args(["--acs-url", &self.gw.acs_url()])
            .args(["--slo-url", &self.gw.url("/saml/logout")])
            .arg("--signing-cert")
            .arg(self.work.join("sp-sign.crt"))
            .args(["--name-id-format", NAME_ID_FORMAT])
            .arg("-o")
            .arg(&out);
        for (_, cert) in key_files(&self.work, encryption) {
            cmd.arg("--encryption-cert").arg(cert);
        }
        let status = cmd.status().expect("samlgate metadata runs");
        assert!(status.success(), "samlgate metadata");
        out
    }

    pub(crate) fn run(&self, steps: Vec<Value>) -> Run {
        let setup = self.started.elapsed();
        let browsing = Instant::now();
        let run = chromium::run(self.name, steps);
        // Everything the browser saw, for a look after a failure.
        let _ = std::fs::write(self.work.join("browser.json"), run.out.to_string());
        eprintln!(
            "{}: set up in {:.1?}, browser run {:.1?}",
            self.name,
            setup,
            browsing.elapsed()
        );
        run
    }

    /// Everything a failure message needs: the browser's view, both logs.
    pub(crate) fn context(&self, run: &Run) -> String {
        format!(
            "{}\n--- gateway log\n{}\n{}",
            run.summary(),
            self.gw.log_text(),
            self.idp.log_text()
        )
    }

    /// The POSTs of the browser to our ACS.
    pub(crate) fn acs_posts(&self, run: &Run) -> Vec<Request> {
        run.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.url == self.gw.acs_url())
            .collect()
    }

    /// The SAMLResponse values the browser posted to our ACS.
    pub(crate) fn posted_responses(&self, run: &Run) -> Vec<String> {
        self.acs_posts(run)
            .into_iter()
            .filter_map(|r| r.post_data)
            .filter_map(|body| {
                form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "SAMLResponse")
                    .map(|(_, v)| v.into_owned())
            })
            .collect()
    }

    /// `samlgate verify` on a captured SAMLResponse, against the IdP's
    /// metadata and this SP: the same bytes judged outside the gateway.
    pub(crate) fn verify(&self, saml_response: &str, decryption_key: Option<&str>) -> Value {
        let input = self.work.join("captured-response.b64");
        std::fs::write(&input, saml_response).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_samlgate"));
        cmd.arg("verify")
            .arg("--idp-metadata")
            .arg(self.idp.metadata_file())
            .args(["--sp-entity-id", &self.entity_id()])
            .args(["--acs-url", &self.gw.acs_url()]);
        if let Some(key) = decryption_key {
            cmd.arg("--decryption-key")
                .arg(self.work.join(format!("{key}.key")));
        }
        let out = cmd.arg(&input).output().expect("samlgate verify runs");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "samlgate verify printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// The steps of a login: the protected URL sends the browser to the IdP's
/// form; the credentials go in; the IdP's auto-posted form goes to the ACS,
/// which answers with the application's page or an error page.
pub(crate) fn login_steps(protected_url: &str, user: &User) -> Vec<Value> {
    vec![
        goto(
            "01-protected-url",
            protected_url,
            &[IDP_LOGIN_PAGE, IDP_ERROR_PAGE, GATEWAY_ERROR_PAGE],
        ),
        fill(
            "02-credentials",
            &[("#username", user.name), ("#password", user.password)],
        ),
        click(
            "03-after-acs",
            "#submit_button",
            &[ECHO_PAGE, GATEWAY_ERROR_PAGE, IDP_ERROR_PAGE],
        ),
    ]
}

/// Decodes a SAMLResponse form value to its XML.
pub(crate) fn response_xml(saml_response: &str) -> String {
    let compact: String = saml_response.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("SAMLResponse is base64");
    String::from_utf8(bytes).expect("SAMLResponse is UTF-8")
}

/// Where the IdP put its signatures: (on the Response, on the Assertion,
/// the Assertion is encrypted). Signature elements are direct children of
/// what they sign, right after its Issuer, so the text before the
/// (Encrypted)Assertion start tag is the Response's part.
pub(crate) fn signature_layout(xml: &str) -> (bool, bool, bool) {
    let encrypted = xml.contains(":EncryptedAssertion");
    let assertion_start = xml
        .find("<saml:Assertion")
        .or_else(|| xml.find("<saml:EncryptedAssertion"))
        .expect("an Assertion or EncryptedAssertion");
    let response_signed = xml[..assertion_start].contains(":Signature");
    let assertion_signed = !encrypted && xml[assertion_start..].contains(":Signature");
    (response_signed, assertion_signed, encrypted)
}
