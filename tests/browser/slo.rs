//! Single Logout with SimpleSAMLphp, HTTP-Redirect binding both ways:
//! SP-initiated (the gateway's /saml/logout sends a LogoutRequest to the
//! IdP, whose LogoutResponse comes back to /saml/logout) and IdP-initiated
//! (SimpleSAMLphp's SingleLogoutService.php?ReturnTo=... sends a
//! LogoutRequest to /saml/logout, the gateway answers with a
//! LogoutResponse, the IdP then goes to ReturnTo). SimpleSAMLphp checks
//! the gateway's signatures on both (validate.logout).

use serde_json::json;

use super::chromium::goto;
use super::world::{
    login_steps, Variant, World, ECHO_PAGE, GATEWAY_ERROR_PAGE, IDP_ERROR_PAGE, IDP_LOGIN_PAGE,
};
use super::{cookie, ALICE, PROTECTED, SESSION_COOKIE};

/// Both sessions are over when the protected URL shows the IdP's form
/// again: a live gateway session would show the application, a live IdP
/// session would sign the browser straight back in.
fn protected_again(w: &World) -> serde_json::Value {
    goto(
        "05-protected-again",
        &w.gw.url(PROTECTED),
        &[
            IDP_LOGIN_PAGE,
            ECHO_PAGE,
            IDP_ERROR_PAGE,
            GATEWAY_ERROR_PAGE,
        ],
    )
}

fn slo_variant(name: &'static str) -> Variant {
    let mut v = Variant::new(name);
    v.idp_options = json!({"validate.logout": true});
    v
}

#[test]
fn slo_sp_initiated_through_the_idp() {
    let w = World::start(&slo_variant("slo-sp-initiated"));
    let mut steps = login_steps(&w.gw.url(PROTECTED), &ALICE);
    steps.push(goto("04-sign-out", &w.gw.url("/saml/logout"), &[]));
    steps.push(protected_again(&w));
    let run = w.run(steps);
    let ctx = || w.context(&run);
    assert!(run.text("03-after-acs").contains(ECHO_PAGE), "{}", ctx());

    let requests = run.requests();
    let idp_slo = format!("{}/saml2/idp/SingleLogoutService.php?", w.idp.base());
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.url.starts_with(&idp_slo)
            && r.url.contains("SAMLRequest=")),
        "a LogoutRequest to the IdP\n{}",
        ctx()
    );
    let our_slo = w.gw.url("/saml/logout?");
    assert!(
        requests
            .iter()
            .any(|r| r.url.starts_with(&our_slo) && r.url.contains("SAMLResponse=")),
        "the IdP's LogoutResponse back at /saml/logout\n{}",
        ctx()
    );
    assert!(
        cookie(&run.cookies("04-sign-out"), SESSION_COOKIE).is_none(),
        "{}",
        ctx()
    );
    assert!(
        run.text("05-protected-again").contains(IDP_LOGIN_PAGE),
        "signed out at the gateway and at the IdP\n{}",
        ctx()
    );
}

#[test]
fn slo_idp_initiated_ends_the_gateway_session() {
    let w = World::start(&slo_variant("slo-idp-initiated"));
    let return_to = w.gw.url("/public/signed-out");
    let start = format!(
        "{}/saml2/idp/SingleLogoutService.php?ReturnTo={}",
        w.idp.base(),
        form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    );
    let mut steps = login_steps(&w.gw.url(PROTECTED), &ALICE);
    steps.push(goto(
        "04-idp-logout",
        &start,
        &[
            "GET /public/signed-out",
            ECHO_PAGE,
            IDP_LOGIN_PAGE,
            IDP_ERROR_PAGE,
            GATEWAY_ERROR_PAGE,
        ],
    ));
    steps.push(protected_again(&w));
    let run = w.run(steps);
    let ctx = || w.context(&run);
    assert!(run.text("03-after-acs").contains(ECHO_PAGE), "{}", ctx());

    let our_slo = w.gw.url("/saml/logout?");
    assert!(
        run.requests()
            .iter()
            .any(|r| r.url.starts_with(&our_slo) && r.url.contains("SAMLRequest=")),
        "the IdP's LogoutRequest at /saml/logout\n{}",
        ctx()
    );
    // The IdP got our LogoutResponse and went on to ReturnTo, a public
    // page where no identity header is injected any more.
    assert_eq!(run.url("04-idp-logout"), return_to, "{}", ctx());
    let page = run.text("04-idp-logout");
    assert!(page.contains("GET /public/signed-out"), "{}", ctx());
    assert!(!page.contains("x-remote-user"), "{}", ctx());
    assert!(cookie(&run.cookies("04-idp-logout"), SESSION_COOKIE).is_none());
    assert!(
        run.text("05-protected-again").contains(IDP_LOGIN_PAGE),
        "{}",
        ctx()
    );
}
