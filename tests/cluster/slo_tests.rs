//! Single Logout across nodes: SP-initiated on one node ends the session
//! on the others within the staleness bound; IdP-initiated LogoutRequests
//! (signed, HTTP-Redirect) sent to one node end the matching sessions on
//! every node and in every browser, and only those; refused requests
//! revoke nothing; a logout that arrives before its Response makes that
//! Response refused.

use std::time::Duration;

use samlgate_saml::{Clock, SystemClock};

use super::fleet::{b64, redis_store, wait_until, Fleet, NodeSpec};
use super::http::{location, plain, post_acs, set_cookies, status, Browser};
use super::redis::RedisServer;
use super::saml::{logout_response_success, strip_signature, IdpLogout, EMAIL};

const FEED: &str = "samlgate:{rv}:log";
const GENEROUS: Duration = Duration::from_secs(10);

/// GET of the SLO endpoint with `query`, as JSON: (status, Location or
/// error code).
fn send_logout(node: &super::fleet::Node, query: &str) -> (u16, String) {
    let resp = plain()
        .get(node.url(&format!("/saml/logout?{query}")))
        .header("accept", "application/json")
        .send()
        .unwrap();
    let code = resp.status().as_u16();
    if code == 303 {
        return (code, location(&resp));
    }
    let body: serde_json::Value = resp.json().unwrap_or_default();
    (code, body["error"].as_str().unwrap_or("").to_owned())
}

#[test]
fn sp_logout_on_one_node_ends_the_session_on_the_other_within_the_bound() {
    let redis = RedisServer::start();
    let fleet = Fleet::with_nodes(2, &NodeSpec::store(redis_store(&redis.url(), "reject")));
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let browser = Browser::new();
    browser.login(&fleet, a, "alice");
    // The session cookie as any copy of it would present it (another tab
    // going through node B, or a stolen copy).
    let copy = browser.cookies_for(a);
    assert_eq!(status(b, &copy), 200);

    // A cross-site GET (another site's link or image) gets the
    // confirmation page: nothing revoked, no cookie touched.
    let page = browser
        .client
        .get(a.url("/saml/logout"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "cross-site")
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(set_cookies(&page).is_empty());
    assert!(page.text().unwrap().contains("Sign out?"));
    assert_eq!(status(b, &copy), 200);

    // The user's own logout on node A.
    let resp = browser
        .client
        .get(a.url("/saml/logout"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cleared = set_cookies(&resp);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("samlgate_session=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let to_idp = location(&resp);
    assert!(
        to_idp.starts_with(&format!("{}/slo?SAMLRequest=", fleet.idp.base_url)),
        "{to_idp}"
    );
    let propagation = wait_until("node B to refuse the logged-out session", GENEROUS, || {
        status(b, &copy) == 401
    });
    let bound = Duration::from_millis(1000);
    eprintln!(
        "SP logout on node A enforced on node B after {} ms (max_staleness_ms = {}; {})",
        propagation.as_millis(),
        bound.as_millis(),
        if propagation <= bound {
            "within the bound"
        } else {
            "PAST the bound"
        }
    );
    assert_eq!(
        a.metric("samlgate_revocations_total{source=\"sp_logout\"}"),
        1.0
    );

    // The IdP verifies the signed LogoutRequest, ends its own session and
    // answers; the LogoutResponse is accepted by the other node (the
    // logout state is bound to the browser, not to a node).
    let at_idp = browser.visit(&to_idp);
    assert_eq!(at_idp.status(), 303, "{}", at_idp.text().unwrap());
    let back = location(&at_idp);
    assert!(
        back.starts_with(&format!("{}?SAMLResponse=", fleet.slo_url())),
        "{back}"
    );
    assert!(
        fleet.idp.signed_in_users().is_empty(),
        "the IdP session ended"
    );
    let back = back.replacen(&fleet.base_url, &b.url(""), 1);
    let landed = browser.visit(&back);
    assert_eq!(landed.status(), 200);
    let text = landed.text().unwrap();
    assert!(text.contains("You are signed out"), "{text}");
    assert!(!text.contains("did not confirm"), "{text}");
    assert_eq!(browser.probe(a).0, 401);
}

#[test]
fn idp_logout_at_one_node_ends_the_sessions_on_every_node_and_browser() {
    let redis = RedisServer::start();
    let fleet = Fleet::with_nodes(2, &NodeSpec::store(redis_store(&redis.url(), "reject")));
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let (b1, b2) = (Browser::new(), Browser::new());
    let l1 = b1.login(&fleet, a, "alice");
    let _l2 = b2.login(&fleet, b, "alice");
    let (c1, c2) = (b1.cookies_for(a), b2.cookies_for(a));
    let all_pass = |cookies: &[&str]| {
        cookies
            .iter()
            .all(|c| status(a, c) == 200 && status(b, c) == 200)
    };
    assert!(all_pass(&[&c1, &c2]));
    let feed_len = || redis.int(&["XLEN", FEED]);
    let idp_logouts =
        |n: &super::fleet::Node| n.metric("samlgate_revocations_total{source=\"idp_logout\"}");

    // Refused, nothing revoked: unsigned, signed with another IdP's key,
    // altered after signing. Each would end every session of alice.
    let everything = IdpLogout::new(&fleet.idp, "alice", &[]);
    let (_, signed) = everything.query(&fleet);
    let (_, other_key) = IdpLogout {
        signer: &fleet.partner,
        ..IdpLogout::new(&fleet.idp, "alice", &[])
    }
    .query(&fleet);
    let feed_before = feed_len();
    for (what, query, reason) in [
        ("unsigned", strip_signature(&signed), "unsigned"),
        ("another key", other_key, "signature_invalid"),
        (
            "altered",
            signed.replacen("RelayState=relay-1", "RelayState=relay-2", 1),
            "signature_invalid",
        ),
    ] {
        let (code, error) = send_logout(b, &query);
        assert_eq!((code, error.as_str()), (403, reason), "{what}");
    }
    assert_eq!(feed_len(), feed_before);
    assert_eq!((idp_logouts(a), idp_logouts(b)), (0.0, 0.0));
    assert!(all_pass(&[&c1, &c2]));

    // With browser 1's SessionIndex, at node B: that session ends on
    // every node, browser 2's does not. The answer is a LogoutResponse
    // signed by the SP, Success, to the IdP's SingleLogoutService.
    let (id1, q1) = IdpLogout::new(&fleet.idp, "alice", &[&l1.session_index]).query(&fleet);
    let (code, to_idp) = send_logout(b, &q1);
    assert_eq!(code, 303, "{to_idp}");
    assert!(logout_response_success(&fleet, &fleet.idp, &to_idp, &id1));
    let took = wait_until("node A to refuse browser 1", GENEROUS, || {
        status(a, &c1) == 401
    });
    eprintln!(
        "IdP logout (SessionIndex) at node B enforced on node A after {} ms",
        took.as_millis()
    );
    assert_eq!(status(b, &c1), 401);
    assert!(
        all_pass(&[&c2]),
        "browser 2's session is another SessionIndex"
    );
    assert_eq!(feed_len(), feed_before + 1);

    // The same request again, at node A: replayed, nothing written.
    assert_eq!(send_logout(a, &q1), (403, "replayed".to_owned()));
    assert_eq!(feed_len(), feed_before + 1);

    // Without SessionIndex, at node A: every session of alice, browser 2's
    // (made through node B) included.
    let (id2, q2) = IdpLogout::new(&fleet.idp, "alice", &[]).query(&fleet);
    let (code, to_idp) = send_logout(a, &q2);
    assert_eq!(code, 303, "{to_idp}");
    assert!(logout_response_success(&fleet, &fleet.idp, &to_idp, &id2));
    wait_until("node B to refuse browser 2", GENEROUS, || {
        status(b, &c2) == 401
    });
    assert_eq!(status(a, &c2), 401);
    // Browser 2 itself: its cookie opens but is not honoured, and goes.
    let (code, cleared) = b2.probe(b);
    assert_eq!(code, 401);
    assert!(
        cleared.iter().any(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );

    // The demo IdP's own IdP-initiated logout, carried by the browser to
    // node B: verified there, the session ended on node A, and the IdP
    // accepts the gateway's signed LogoutResponse.
    let b3 = Browser::new();
    b3.login(&fleet, a, "alice");
    let c3 = b3.cookies_for(a);
    let initiated = b3
        .client
        .post(format!("{}/slo/initiate", fleet.idp.base_url))
        .send()
        .unwrap();
    assert_eq!(initiated.status(), 303);
    let to_gateway = location(&initiated).replacen(&fleet.base_url, &b.url(""), 1);
    let at_gateway = b3.visit(&to_gateway);
    assert_eq!(at_gateway.status(), 303);
    let confirmed = b3.visit(&location(&at_gateway));
    let text = confirmed.text().unwrap();
    assert!(text.contains("The application confirmed"), "{text}");
    wait_until("node A to refuse browser 3", GENEROUS, || {
        status(a, &c3) == 401
    });
    assert_eq!(idp_logouts(a) + idp_logouts(b), 3.0);
}

#[test]
fn a_logout_before_its_response_refuses_it_and_other_subjects_stay() {
    let redis = RedisServer::start();
    let spec = NodeSpec {
        partner: true,
        ..NodeSpec::store(redis_store(&redis.url(), "reject"))
    };
    let fleet = Fleet::with_nodes(2, &spec);
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let client = plain();
    let now = SystemClock.now();

    // The IdP's LogoutRequest for IdP session _s-early reaches node A
    // before the Response of that session reaches node B (SAML core
    // §3.7.3.1): that Response is refused.
    let early = fleet.response_xml(&fleet.idp, "alice", "_s-early", now.plus_seconds(-2));
    let (_, q) = IdpLogout::new(&fleet.idp, "alice", &["_s-early"]).query(&fleet);
    assert_eq!(send_logout(a, &q).0, 303);
    let refused = post_acs(&client, b, &b64(&early));
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (403, "logged_out")
    );
    assert!(refused.set_cookies.is_empty());
    // Another IdP session of alice, issued at the same time: accepted.
    let other = fleet.response_xml(&fleet.idp, "alice", "_s-other", now.plus_seconds(-2));
    assert!(post_acs(&client, b, &b64(&other)).accepted());
    // A fresh assertion of the same IdP session issued after the logout:
    // accepted.
    let fresh = fleet.response_xml(&fleet.idp, "alice", "_s-early", now.plus_seconds(2));
    let fresh = post_acs(&client, a, &b64(&fresh));
    assert!(fresh.accepted(), "{}", fresh.error);

    // Strong matching: the same NameID from another IdP, or in another
    // Format, is another subject.
    let corp = post_acs(&client, a, &fleet.response("alice", "_s-c")).cookie();
    let partner_xml = fleet.response_xml(&fleet.partner, "alice", "_s-p", SystemClock.now());
    let partner = post_acs(&client, a, &b64(&partner_xml)).cookie();
    assert_eq!((status(b, &corp), status(b, &partner)), (200, 200));
    let (id, q) = IdpLogout::new(&fleet.partner, "alice", &[]).query(&fleet);
    let (code, to_idp) = send_logout(b, &q);
    assert_eq!(code, 303);
    assert!(logout_response_success(
        &fleet,
        &fleet.partner,
        &to_idp,
        &id
    ));
    wait_until("node A to refuse the partner's alice", GENEROUS, || {
        status(a, &partner) == 401
    });
    assert_eq!((status(a, &corp), status(b, &corp)), (200, 200));
    let (_, q) = IdpLogout {
        format: EMAIL,
        ..IdpLogout::new(&fleet.idp, "alice", &[])
    }
    .query(&fleet);
    assert_eq!(send_logout(b, &q).0, 303);
    // A request that claims to come from corp, signed with the partner's
    // key: refused.
    let (_, q) = IdpLogout {
        signer: &fleet.partner,
        ..IdpLogout::new(&fleet.idp, "alice", &[])
    }
    .query(&fleet);
    assert_eq!(send_logout(b, &q), (403, "signature_invalid".to_owned()));
    // Bob's logout after those: once node A enforces it, it has seen
    // everything written before (the feed is ordered).
    let bob = post_acs(&client, a, &fleet.response("bob", "_s-b")).cookie();
    let (_, q) = IdpLogout::new(&fleet.idp, "bob", &[]).query(&fleet);
    assert_eq!(send_logout(b, &q).0, 303);
    wait_until("node A to refuse bob", GENEROUS, || status(a, &bob) == 401);
    assert_eq!((status(a, &corp), status(b, &corp)), (200, 200));
}
