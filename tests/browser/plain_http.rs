//! The gateway on plain HTTP (http://127.0.0.1) with the IdP on another
//! site (http://127.0.0.2), as a user tries first: the login cannot
//! complete. The login-state cookie is SameSite=Lax over HTTP (a None
//! cookie needs Secure), and browsers do not send a Lax cookie with the
//! IdP's cross-site POST to the ACS, so the gateway cannot match the
//! Response to the sign-in it started. One browser run serves both tests.

use std::sync::OnceLock;

use super::chromium::Run;
use super::world::{login_steps, Variant, World, GATEWAY_ERROR_PAGE};
use super::{cookie, ALICE, PLAIN_SESSION_COOKIE as SESSION_COOKIE, PROTECTED};

struct Outcome {
    run: Run,
    acs_url: String,
    /// The Cookie header of each POST to the ACS.
    acs_posts: Vec<String>,
    log: String,
    context: String,
}

fn plain_http_login() -> &'static Outcome {
    static OUTCOME: OnceLock<Outcome> = OnceLock::new();
    OUTCOME.get_or_init(|| {
        let mut v = Variant::new("plain-http");
        v.tls = false;
        let w = World::start(&v);
        let run = w.run(login_steps(&w.gw.url(PROTECTED), &ALICE));
        let context = w.context(&run);
        Outcome {
            acs_posts: w
                .acs_posts(&run)
                .into_iter()
                .map(|r| r.cookie.unwrap_or_default())
                .collect(),
            acs_url: w.gw.acs_url(),
            log: w.gw.log_text(),
            context,
            run,
        }
    })
}

#[test]
fn plain_http_cross_site_login_is_refused() {
    let o = plain_http_login();
    let run = &o.run;
    // The login-state cookie was set, Lax and not Secure...
    let jar = run.cookies("01-protected-url");
    let login_state = jar
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("samlgate_session_login_"))
        })
        .unwrap_or_else(|| panic!("a login-state cookie: {jar:#?}\n{}", o.context));
    assert_eq!(login_state["sameSite"], "Lax", "{login_state}");
    assert_eq!(login_state["secure"], false, "{login_state}");
    // ...and not sent with the IdP's cross-site POST to the ACS...
    let posts = &o.acs_posts;
    assert_eq!(posts.len(), 1, "{}", o.context);
    assert!(
        !posts[0].contains("samlgate_session_login_"),
        "Cookie on the ACS POST: {:?}",
        posts[0]
    );
    // ...so the ACS refuses the Response.
    let page = run.text("03-after-acs");
    assert!(page.contains(GATEWAY_ERROR_PAGE), "{}", o.context);
    assert!(
        page.contains("in_response_to_mismatch"),
        "the page names the reason\n{}",
        o.context
    );
    assert!(matches!(run.status_of(&o.acs_url), Some(400..=499)));
    assert!(cookie(&run.cookies("03-after-acs"), SESSION_COOKIE).is_none());
    assert!(
        o.log
            .lines()
            .any(|l| l.contains(r#""reason":"in_response_to_mismatch""#)),
        "{}",
        o.context
    );
}

/// The page (and log line) say what happened
/// and what to change (serve HTTPS, or an https base_url behind a TLS load
/// balancer), with the hint code `login_cookie_not_sent_over_http`.
#[test]
fn plain_http_page_names_the_cause() {
    let o = plain_http_login();
    let page = o.run.text("03-after-acs");
    assert!(
        page.contains("login_cookie_not_sent_over_http"),
        "the error page should name login_cookie_not_sent_over_http:\n{page}\n{}",
        o.context
    );
    assert!(
        o.log.contains("login_cookie_not_sent_over_http"),
        "and so should the log line:\n{}",
        o.log
    );
}
