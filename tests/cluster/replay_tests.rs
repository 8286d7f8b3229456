//! Replay across nodes: one Redis, three real gateway processes.

use std::sync::{Arc, Barrier};

use base64::Engine;
use samlgate_saml::{Clock, SystemClock};

use super::fleet::{b64, redis_store, Fleet, NodeSpec};
use super::http::{plain, post_acs, status, Browser};
use super::redis::RedisServer;
use super::saml::{forge_name_id, rewrap};

/// Script calls (EVALSHA, or EVAL after a NOSCRIPT) Redis has run.
fn script_calls(redis: &RedisServer) -> u64 {
    let calls = redis.command_calls();
    calls.get("evalsha").copied().unwrap_or(0) + calls.get("eval").copied().unwrap_or(0)
}

#[test]
fn a_response_accepted_on_one_node_is_replayed_on_every_other() {
    let redis = RedisServer::start();
    let fleet = Fleet::with_nodes(3, &NodeSpec::store(redis_store(&redis.url(), "reject")));
    let [a, b, c] = [&fleet.nodes[0], &fleet.nodes[1], &fleet.nodes[2]];
    let client = plain();

    // Accepted on A, then replayed on B and C (and on A).
    let xml = fleet.response_xml(&fleet.idp, "alice", "_s-replay", SystemClock.now());
    let first = post_acs(&client, a, &b64(&xml));
    assert!(first.accepted(), "{}: {}", first.status, first.error);

    // The session it opened is honoured on every node with no Redis
    // command at all: each node checks revocations in its own view, fed
    // in the background (the feed's blocking XREAD and the health PING
    // are the only commands that may run meanwhile).
    let foreground = |redis: &RedisServer| {
        let mut calls = redis.command_calls();
        calls.retain(|name, _| !matches!(name.as_str(), "xread" | "ping" | "info"));
        calls
    };
    let before = foreground(&redis);
    for node in [a, b, c].iter().cycle().take(60) {
        assert_eq!(status(node, &first.cookie()), 200, "{}", node.name);
    }
    assert_eq!(foreground(&redis), before, "pass-through called Redis");
    for node in [b, c, a] {
        let again = post_acs(&client, node, &b64(&xml));
        assert_eq!(
            (again.status, again.error.as_str()),
            (403, "replayed"),
            "{}",
            node.name
        );
        assert!(again.set_cookies.is_empty(), "{:?}", again.set_cookies);
    }

    // The signed assertion in a new (unsigned) Response with a new ID:
    // the replay key is the issuer-qualified Assertion ID.
    let rewrapped = rewrap(&xml);
    assert!(!rewrapped.contains(&xml[..xml.find("<saml:Assertion").unwrap()]));
    let wrapped = post_acs(&client, c, &b64(&rewrapped));
    assert_eq!((wrapped.status, wrapped.error.as_str()), (403, "replayed"));
    // The same re-wrapping of a never-used assertion is accepted: the
    // envelope is valid, so the refusal above is the replay check's.
    let fresh = fleet.response_xml(&fleet.idp, "alice", "_s-fresh", SystemClock.now());
    let accepted = post_acs(&client, b, &b64(&rewrap(&fresh)));
    assert!(
        accepted.accepted(),
        "{}: {}",
        accepted.status,
        accepted.error
    );
    let original = post_acs(&client, a, &b64(&fresh));
    assert_eq!(
        (original.status, original.error.as_str()),
        (403, "replayed")
    );

    // The same Response posted 50 times at once across the three nodes:
    // accepted exactly once, every other post `replayed`; one store call
    // (one script) per post.
    let scripts_before = script_calls(&redis);
    let raced = Arc::new(fleet.response("alice", "_s-race"));
    let barrier = Arc::new(Barrier::new(50));
    let urls: Vec<String> = fleet.nodes.iter().map(|n| n.url("/saml/acs")).collect();
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let (raced, barrier, url) = (raced.clone(), barrier.clone(), urls[i % 3].clone());
            std::thread::spawn(move || {
                let client = plain();
                barrier.wait();
                let resp = client
                    .post(url)
                    .header("accept", "application/json")
                    .form(&[("SAMLResponse", raced.as_str())])
                    .send()
                    .unwrap();
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().unwrap_or_default();
                (status, body["error"].as_str().unwrap_or("").to_owned())
            })
        })
        .collect();
    let results: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = results.iter().filter(|(s, _)| *s == 303).count();
    let replayed = results
        .iter()
        .filter(|(s, e)| *s == 403 && e == "replayed")
        .count();
    assert_eq!((accepted, replayed), (1, 49), "{results:?}");
    assert_eq!(script_calls(&redis) - scripts_before, 50);
    eprintln!("50 concurrent posts over 3 nodes: {accepted} accepted, {replayed} replayed");
}

#[test]
fn a_forged_response_changes_no_state() {
    // A page that makes the browser post a forged Response to the ACS
    // (one byte of the signed NameID changed) must neither write the
    // replay store nor use up the browser's login state: the genuine
    // Response that follows is accepted.
    let redis = RedisServer::start();
    let fleet = Fleet::with_nodes(1, &NodeSpec::store(redis_store(&redis.url(), "reject")));
    let node = &fleet.nodes[0];
    let browser = Browser::new();
    let fields = browser.start_login(&fleet, node, "alice");
    let genuine = &fields.iter().find(|(k, _)| k == "SAMLResponse").unwrap().1;
    let xml = base64::engine::general_purpose::STANDARD
        .decode(genuine)
        .unwrap();
    let forged_xml = forge_name_id(std::str::from_utf8(&xml).unwrap(), "alice");
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| match k.as_str() {
            "SAMLResponse" => (k.clone(), b64(&forged_xml)),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let keys_before = redis.keys("*");

    let refused = browser.post_acs_form(node, &forged);
    assert_eq!(refused.status(), 403);
    let cleared = super::http::set_cookies(&refused);
    assert!(
        cleared.is_empty(),
        "the forged post set cookies: {cleared:?}"
    );
    assert!(refused.text().unwrap().contains("digest_mismatch"));
    assert_eq!(
        redis.keys("*"),
        keys_before,
        "the forged post wrote to Redis"
    );

    let accepted = browser.post_acs_form(node, &fields);
    assert_eq!(accepted.status(), 303, "{}", accepted.text().unwrap());
    assert_eq!(browser.probe(node).0, 200);
    assert_eq!(redis.keys("samlgate:*:rp:*").len(), 1, "one replay record");
}
