//! Browser SSO with a real IdP: headless Chromium (Debian's) signs in at
//! SimpleSAMLphp 1.19 (Debian's, on 127.0.0.2) through `samlgate run` (on
//! 127.0.0.1, HTTPS with a self-signed certificate made per run) in front
//! of the echo backend, and the test reads the pages' text: the identity
//! headers the backend received, or the reason code of a refusal.
//!
//! Each variant sets the IdP up differently (which element it signs,
//! encryption, which SP key it encrypts to) and checks on the captured
//! SAMLResponse that the IdP really did so, so a variant cannot pass by
//! testing the same thing as another. Screenshots of every step:
//! target/browser-screenshots/<variant>/NN-step.png (printed per run).
//!
//! Needs chromium, simplesamlphp, php-cli, php-xml, npm (scripts/deps.sh);
//! fails when one is missing. playwright-core is installed under target/.

mod gateway;

#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/idp.rs"]
mod idp;
#[path = "browser/world.rs"]
mod world;

use chromium::{fetch_json, goto, Run};
use gateway::{echoed_headers, header};
use idp::{User, ALICE, BOB};
use std::sync::OnceLock;

use serde_json::json;
use world::{
    login_steps, response_xml, signature_layout, Variant, World, ECHO_PAGE, GATEWAY_ERROR_PAGE,
    IDP_ERROR_PAGE, IDP_LOGIN_PAGE,
};

const PROTECTED: &str = "/app/page?x=1&y=two";
/// The session cookie of the HTTPS gateway (`__Host-` under TLS).
const SESSION_COOKIE: &str = "__Host-samlgate_session";
/// The session cookie of a plain-HTTP gateway.
const PLAIN_SESSION_COOKIE: &str = "samlgate_session";

fn cookie<'c>(cookies: &'c [serde_json::Value], name: &str) -> Option<&'c serde_json::Value> {
    cookies.iter().find(|c| c["name"] == name)
}

/// Signs `user` in and checks everything a successful login must show;
/// returns the world (still running) and the run.
fn sign_in(v: &Variant, user: &User, layout: (bool, bool, bool)) -> (World, Run) {
    let w = World::start(v);
    let mut steps = login_steps(&w.gw.url(PROTECTED), user);
    steps.push(fetch_json("04-backend-sees", "/app/whoami"));
    let run = w.run(steps);
    assert_signed_in(&w, &run, user);

    // What the IdP sent is what this variant claims it sends.
    let posted = w.posted_responses(&run);
    assert_eq!(posted.len(), 1, "one POST to the ACS\n{}", w.context(&run));
    let xml = response_xml(&posted[0]);
    assert_eq!(
        signature_layout(&xml),
        layout,
        "(Response signed, Assertion signed, encrypted) as configured at the IdP\n{xml}"
    );
    (w, run)
}

fn assert_signed_in(w: &World, run: &Run, user: &User) {
    let ctx = || w.context(run);
    assert!(
        run.url("01-protected-url").starts_with(&w.idp.base()),
        "the protected URL sends the browser to the IdP\n{}",
        ctx()
    );
    assert!(
        run.text("01-protected-url").contains(IDP_LOGIN_PAGE),
        "{}",
        ctx()
    );

    // Back through the ACS at the URL first asked for, query included.
    let page = run.text("03-after-acs");
    assert_eq!(run.url("03-after-acs"), w.gw.url(PROTECTED), "{}", ctx());
    for want in [
        ECHO_PAGE,
        "x-remote-user",
        user.name,
        user.email,
        user.groups,
    ] {
        assert!(page.contains(want), "page shows {want:?}\n{}", ctx());
    }

    // The backend's own view (a same-origin fetch from the page).
    let seen = &run.step("04-backend-sees")["json"];
    assert_eq!(seen["status"], 200, "{}", ctx());
    let headers = echoed_headers(&seen["body"]);
    assert_eq!(header(&headers, "x-remote-user"), [user.name], "{}", ctx());
    assert_eq!(header(&headers, "x-remote-email"), [user.email]);
    assert_eq!(header(&headers, "x-remote-groups"), [user.groups]);
    let cookies_sent = header(&headers, "cookie").join("; ");
    for idp_cookie in ["PHPSESSID", "SimpleSAML"] {
        assert!(
            !cookies_sent.contains(idp_cookie),
            "the IdP's cookie {idp_cookie} reached the backend: {cookies_sent}"
        );
    }

    // The login-state cookie (SameSite=None; Secure) went with the IdP's
    // cross-site POST to the ACS.
    let posts = w.acs_posts(run);
    assert!(
        posts.iter().any(|p| p
            .cookie
            .as_deref()
            .is_some_and(|c| c.contains("__Secure-samlgate_session_login_"))),
        "the ACS POST carries the login-state cookie\n{}",
        ctx()
    );

    // The session cookie and its flags; the login-state cookie is gone.
    let jar = run.cookies("03-after-acs");
    let session = cookie(&jar, SESSION_COOKIE)
        .unwrap_or_else(|| panic!("a session cookie: {jar:#?}\n{}", ctx()));
    assert_eq!(session["domain"], "127.0.0.1");
    assert_eq!(session["path"], "/");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["secure"], true, "HTTPS gateway: Secure {session}");
    assert_eq!(session["sameSite"], "Lax", "{session}");
    assert!(
        !jar.iter().any(|c| c["name"]
            .as_str()
            .is_some_and(|n| n.contains("samlgate_session_login_"))),
        "the login-state cookie is cleared after the ACS: {jar:#?}"
    );
    for c in jar.iter().filter(|c| c["name"] == "PHPSESSID") {
        assert_eq!(c["domain"], idp::IDP_HOST, "IdP cookies stay on its host");
    }
    assert!(
        w.gw.log_text().contains(r#""outcome":"accepted""#),
        "the ACS log line\n{}",
        ctx()
    );
}

fn assert_verified(w: &World, run: &Run, key: Option<&str>, user: &User) {
    let posted = w.posted_responses(run);
    let got = w.verify(&posted[0], key);
    assert_eq!(got["valid"], true, "samlgate verify: {got}");
    assert_eq!(got["issuer"], w.idp.entity_id().as_str());
    assert_eq!(got["name_id"], user.name);
    assert_eq!(got["attributes"]["uid"], json!([user.name]));
    assert_eq!(got["attributes"]["eduPersonAffiliation"][0], "member");
}

#[test]
fn sso_idp_signs_only_the_response() {
    let mut v = Variant::new("response-signed");
    v.idp_options = json!({"saml20.sign.response": true, "saml20.sign.assertion": false});
    let (w, run) = sign_in(&v, &ALICE, (true, false, false));
    assert_verified(&w, &run, None, &ALICE);
}

#[test]
fn sso_idp_signs_only_the_assertion() {
    let mut v = Variant::new("assertion-signed");
    v.idp_options = json!({"saml20.sign.response": false, "saml20.sign.assertion": true});
    let (w, run) = sign_in(&v, &BOB, (false, true, false));
    assert_verified(&w, &run, None, &BOB);
}

/// The both-signed login, run once: its own test and the cookie test
/// below read it.
struct BothSigned {
    /// The Cookie header the backend received.
    backend_cookies: String,
    context: String,
}

fn both_signed() -> &'static BothSigned {
    static ONCE: OnceLock<BothSigned> = OnceLock::new();
    ONCE.get_or_init(|| {
        let mut v = Variant::new("both-signed");
        v.idp_options = json!({"saml20.sign.response": true, "saml20.sign.assertion": true});
        let (w, run) = sign_in(&v, &ALICE, (true, true, false));
        assert_verified(&w, &run, None, &ALICE);
        let headers = echoed_headers(&run.step("04-backend-sees")["json"]["body"]);
        BothSigned {
            backend_cookies: header(&headers, "cookie").join("; "),
            context: w.context(&run),
        }
    })
}

#[test]
fn sso_idp_signs_response_and_assertion() {
    both_signed();
}

/// The proxied request carries none of the gateway's cookies (the session
/// in any chunk or spelling): the backend, and its logs, never get a
/// bearer token for the user's session. (`samlgate_session` is a part of
/// every gateway cookie's name, `__Host-` prefix or not.)
#[test]
fn backend_receives_no_gateway_cookie() {
    let b = both_signed();
    assert!(
        !b.backend_cookies.contains(PLAIN_SESSION_COOKIE),
        "the backend received the gateway's cookie: {}\n{}",
        b.backend_cookies,
        b.context
    );
}

#[test]
fn sso_assertion_encrypted_for_the_sp_key() {
    let mut v = Variant::new("encrypted");
    v.idp_options = json!({"assertion.encryption": true, "saml20.sign.assertion": true});
    v.gateway_keys = &["enc-old"];
    v.published_keys = &["enc-old"];
    let (w, run) = sign_in(&v, &BOB, (true, false, true));
    assert_verified(&w, &run, Some("enc-old"), &BOB);
}

/// Rollover: the SP metadata publishes the new encryption certificate
/// first (the IdP encrypts to it) and the old one second; the gateway holds
/// both keys, the old one listed first.
#[test]
fn sso_encryption_key_rollover() {
    let mut v = Variant::new("key-rollover");
    v.idp_options = json!({"assertion.encryption": true});
    v.gateway_keys = &["enc-old", "enc-new"];
    v.published_keys = &["enc-new", "enc-old"];
    let (w, run) = sign_in(&v, &ALICE, (true, false, true));
    assert_verified(&w, &run, Some("enc-new"), &ALICE);
    // Encrypted to the new key, not to the old one.
    let posted = w.posted_responses(&run);
    let old = w.verify(&posted[0], Some("enc-old"));
    assert_eq!(old["reason"], "decryption_failed", "{old}");
}

/// A refusal: the browser ends on the gateway's error page with `reason`
/// in its text, no session, and the log line names the same reason.
fn assert_refused(w: &World, run: &Run, reason: &str) {
    let ctx = || w.context(run);
    let page = run.text("03-after-acs");
    assert!(
        page.contains(GATEWAY_ERROR_PAGE),
        "an error page\n{}",
        ctx()
    );
    assert!(page.contains(reason), "the page names {reason}\n{}", ctx());
    let status = run.status_of(&w.gw.acs_url());
    assert!(
        matches!(status, Some(400..=499)),
        "ACS status {status:?}\n{}",
        ctx()
    );
    assert!(cookie(&run.cookies("03-after-acs"), SESSION_COOKIE).is_none());
    let log = w.gw.log_text();
    assert!(
        log.lines().any(|l| l.contains(r#""outcome":"rejected""#)
            && l.contains(&format!(r#""reason":"{reason}""#))),
        "log line with reason {reason}\n{}",
        ctx()
    );
}

#[test]
fn refused_when_the_idp_signs_nothing() {
    let mut v = Variant::new("refused-unsigned");
    v.idp_options = json!({"saml20.sign.response": false, "saml20.sign.assertion": false});
    let w = World::start(&v);
    let run = w.run(login_steps(&w.gw.url(PROTECTED), &ALICE));
    assert_refused(&w, &run, "unsigned");
}

/// The IdP was given SP metadata with a key the gateway does not hold
/// (rollover done in the wrong order).
#[test]
fn refused_when_encrypted_for_a_key_the_gateway_lacks() {
    let mut v = Variant::new("refused-wrong-key");
    v.idp_options = json!({"assertion.encryption": true});
    v.gateway_keys = &["enc-old"];
    v.published_keys = &["enc-new"];
    let w = World::start(&v);
    let run = w.run(login_steps(&w.gw.url(PROTECTED), &ALICE));
    assert_refused(&w, &run, "decryption_failed");
}

/// IdP-initiated login for another relying party whose ACS URL is ours:
/// the Audience names the other entity.
#[test]
fn refused_when_the_audience_is_another_sp() {
    let mut v = Variant::new("refused-wrong-audience");
    v.allow_idp_initiated = true;
    v.other_entity_path = Some("/other-app/saml/metadata");
    let w = World::start(&v);
    let other = w.gw.url("/other-app/saml/metadata");
    let start = format!(
        "{}/saml2/idp/SSOService.php?spentityid={}",
        w.idp.base(),
        form_urlencoded::byte_serialize(other.as_bytes()).collect::<String>()
    );
    let mut steps = login_steps(&start, &ALICE);
    steps[0] = goto(
        "01-idp-initiated",
        &start,
        &[IDP_LOGIN_PAGE, IDP_ERROR_PAGE],
    );
    let run = w.run(steps);
    assert_refused(&w, &run, "audience_mismatch");
    let posted = w.posted_responses(&run);
    assert_eq!(w.verify(&posted[0], None)["reason"], "audience_mismatch");
}

#[path = "browser/plain_http.rs"]
mod plain_http;
#[path = "browser/slo.rs"]
mod slo;
