//! Single Logout round trips with a real IdP, pysaml2, over HTTP, against
//! two real gateway nodes sharing Redis: pysaml2's signed Response is
//! accepted at the ACS; the gateway's signed LogoutRequest is verified by
//! pysaml2 and pysaml2's signed LogoutResponse is accepted by the gateway
//! (SP-initiated); pysaml2's signed LogoutRequest is accepted by the
//! gateway and the gateway's signed LogoutResponse verified by pysaml2
//! (IdP-initiated). Signatures are checked on both sides, and an altered
//! message is refused by each.

use std::time::Duration;

use super::fleet::{redis_store, wait_until, Fleet, NodeSpec};
use super::http::{location, session_index_of, status, Browser};
use super::pysaml2::Pysaml2Idp;
use super::redis::RedisServer;
use crate::gateway::form_fields;

const NAME_ID: &str = "8f2c6c1e-alice-persistent";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const GENEROUS: Duration = Duration::from_secs(10);

/// A login at `node` through pysaml2; the SessionIndex.
fn login(browser: &Browser, idp: &Pysaml2Idp, node: &super::fleet::Node) -> String {
    let first = browser.visit(&node.url("/app"));
    assert!(first.status().is_redirection());
    let to_idp = location(&first);
    assert!(
        to_idp.starts_with(&idp.url("/sso?SAMLRequest=")),
        "{to_idp}"
    );
    let page = browser.visit(&to_idp);
    assert_eq!(page.status(), 200, "{}", page.text().unwrap());
    let (_, fields) = form_fields(&page.text().unwrap());
    let landed = browser.post_acs_form(node, &fields);
    assert_eq!(landed.status(), 303, "{}", landed.text().unwrap());
    let whoami = browser
        .client
        .get(node.url("/whoami"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(whoami.status(), 200, "{}", node.log_text());
    let echo: serde_json::Value = whoami.json().unwrap();
    let headers = crate::gateway::echoed_headers(&echo);
    assert_eq!(crate::gateway::header(&headers, "x-remote-user"), [NAME_ID]);
    let response = &fields.iter().find(|(k, _)| k == "SAMLResponse").unwrap().1;
    session_index_of(response)
}

/// The Redirect-binding URL with one bit of its `Signature` flipped (the
/// other parameters byte for byte as they were).
fn flip_signature_bit(url: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let parts: Vec<String> = url
        .split('&')
        .map(|part| {
            let Some(value) = part.strip_prefix("Signature=") else {
                return part.to_owned();
            };
            let decoded: String = form_urlencoded::parse(format!("s={value}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect();
            let mut sig = b64.decode(decoded).unwrap();
            sig[10] ^= 1;
            let encoded: String =
                form_urlencoded::byte_serialize(b64.encode(sig).as_bytes()).collect();
            format!("Signature={encoded}")
        })
        .collect();
    let flipped = parts.join("&");
    assert_ne!(flipped, url);
    flipped
}

#[test]
fn pysaml2_idp_single_logout_round_trips_both_ways() {
    let redis = RedisServer::start();
    let mut fleet = Fleet::new();
    let idp = Pysaml2Idp::start(&fleet.dir, &format!("{}/saml/metadata", fleet.base_url));
    let spec = NodeSpec {
        idp_metadata_url: Some(idp.url("/metadata")),
        ..NodeSpec::store(redis_store(&redis.url(), "reject"))
    };
    fleet.start_node(&spec);
    fleet.start_node(&spec);
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);

    // SP-initiated, at node B for a login made at node A.
    let b1 = Browser::new();
    let si1 = login(&b1, &idp, a);
    assert_eq!(idp.last("login")["session_index"], si1.as_str());
    let c1 = b1.cookies_for(a);
    let out = b1
        .client
        .get(b.url("/saml/logout"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(out.status(), 303);
    wait_until("node A to refuse the session", GENEROUS, || {
        status(a, &c1) == 401
    });
    let at_idp = b1.visit(&location(&out));
    assert_eq!(at_idp.status(), 303, "{:?}", idp.events());
    let checked = idp.last("sp_logout_request");
    assert_eq!(checked["signature_ok"], true, "{checked}");
    assert_ne!(checked["tampered_signature_ok"], true, "{checked}");
    assert_eq!(
        checked["issuer"],
        format!("{}/saml/metadata", fleet.base_url)
    );
    assert_eq!(checked["destination"], idp.url("/slo"));
    assert_eq!(checked["name_id"], NAME_ID);
    assert_eq!(checked["format"], PERSISTENT);
    assert_eq!(checked["name_qualifier"], idp.url("/idp"));
    assert_eq!(
        checked["sp_name_qualifier"],
        format!("{}/saml/metadata", fleet.base_url)
    );
    assert_eq!(checked["session_indexes"], serde_json::json!([si1]));
    assert_eq!(
        checked["ended"],
        serde_json::json!([si1]),
        "pysaml2 ended its session"
    );
    let back = location(&at_idp);
    assert!(
        back.starts_with(&format!("{}?SAMLResponse=", fleet.slo_url())),
        "{back}"
    );
    // pysaml2's LogoutResponse with one bit of its signature changed: the
    // gateway refuses it (the user stays signed out, unconfirmed).
    let page = b1.visit(&flip_signature_bit(&back)).text().unwrap();
    assert!(page.contains("did not confirm"), "{page}");
    // The genuine one: confirmed.
    let landed = b1.visit(&back);
    assert_eq!(landed.status(), 200);
    let page = landed.text().unwrap();
    assert!(
        page.contains("You are signed out") && !page.contains("did not confirm"),
        "{page}"
    );

    // IdP-initiated, for a second login, at node B.
    let b2 = Browser::new();
    let si2 = login(&b2, &idp, a);
    let c2 = b2.cookies_for(a);
    let initiated = b2.visit(&idp.url(&format!("/initiate?session_index={si2}")));
    assert_eq!(initiated.status(), 303);
    let to_gateway = location(&initiated);
    assert!(to_gateway.starts_with(&format!("{}?SAMLRequest=", fleet.slo_url())));
    // Altered on the way (RelayState): refused, nothing revoked.
    let refused = b2.visit(
        &to_gateway
            .replacen(&fleet.base_url, &b.url(""), 1)
            .replacen("RelayState=", "RelayState=x", 1),
    );
    assert_eq!(refused.status(), 403);
    assert!(refused.text().unwrap().contains("signature_invalid"));
    assert_eq!(status(a, &c2), 200);
    let at_gateway = b2.visit(&to_gateway.replacen(&fleet.base_url, &b.url(""), 1));
    assert_eq!(at_gateway.status(), 303);
    let to_idp = location(&at_gateway);
    assert!(
        to_idp.starts_with(&idp.url("/slo?SAMLResponse=")),
        "{to_idp}"
    );
    wait_until("node A to refuse the second session", GENEROUS, || {
        status(a, &c2) == 401
    });
    let answered = b2.visit(&to_idp);
    assert_eq!(answered.status(), 200, "{:?}", idp.events());
    let checked: serde_json::Value = answered.json().unwrap();
    assert_eq!(checked["signature_ok"], true, "{checked}");
    assert_ne!(checked["tampered_signature_ok"], true, "{checked}");
    assert_eq!(checked["in_response_to_known"], true, "{checked}");
    assert_eq!(
        checked["status"], "urn:oasis:names:tc:SAML:2.0:status:Success",
        "{checked}"
    );
    assert_eq!(checked["relay_state"], "pysaml2-relay");
    assert!(
        !idp.events().iter().any(|e| e["event"] == "error"),
        "{:?}",
        idp.events()
    );
}
