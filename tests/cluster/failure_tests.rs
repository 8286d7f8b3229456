//! Redis failures with real processes: Redis killed and started again
//! (both failure policies recover by themselves, no samlgate restart), and
//! one node's Redis connections cut for a few seconds around a logout.
//! A store error never clears a cookie: every answer to the signed-in
//! browser is checked for `Set-Cookie`.

use std::time::{Duration, Instant};

use super::cut::Cut;
use super::fleet::{redis_store, wait_until, Fleet, NodeSpec};
use super::http::{location, plain, post_acs, status, Browser};
use super::redis::RedisServer;
use super::saml::IdpLogout;

const GENEROUS: Duration = Duration::from_secs(15);

#[test]
fn redis_outage_reject_and_local_recover_by_themselves() {
    let mut redis = RedisServer::start();
    let reject = NodeSpec::store(redis_store(&redis.url(), "reject"));
    let local = NodeSpec::store(redis_store(&redis.url(), "local"));
    let mut fleet = Fleet::new();
    fleet.start_node(&reject);
    fleet.start_node(&reject);
    fleet.start_node(&local);
    let (a, b, c) = (&fleet.nodes[0], &fleet.nodes[1], &fleet.nodes[2]);
    let client = plain();
    let (b1, b2, b3) = (Browser::new(), Browser::new(), Browser::new());
    b1.login(&fleet, a, "alice");
    b2.login(&fleet, b, "bob");
    let c2 = b2.cookies_for(a);
    // Every answer to browser 1 from here on: no cookie is ever touched.
    let b1_untouched = || {
        for node in &fleet.nodes {
            let (code, cookies) = b1.probe(node);
            assert_eq!(code, 200, "{}", node.name);
            assert!(cookies.is_empty(), "{}: {cookies:?}", node.name);
        }
    };
    b1_untouched();
    let (ok, stderr) = fleet.check_config_deep(&reject);
    assert!(ok && !stderr.contains("did not answer"), "{stderr}");

    redis.stop();
    let outage = Instant::now();

    // reject: the ACS answers 503 store_unavailable, and the browser's
    // login state survives it (the retry after the outage works).
    let fields = b3.start_login(&fleet, a, "alice");
    let refused = b3.post_acs_form(a, &fields);
    assert_eq!(refused.status(), 503);
    assert!(super::http::set_cookies(&refused).is_empty());
    assert!(refused.text().unwrap().contains("store_unavailable"));
    let unsolicited = post_acs(&client, b, &fleet.response("carol", "_s-out"));
    assert_eq!(
        (unsolicited.status, unsolicited.error.as_str()),
        (503, "store_unavailable")
    );
    // local: accepted against the node's memory, counted as degraded;
    // a replay on the same node is still refused.
    let during = fleet.response("dave", "_s-local");
    assert!(post_acs(&client, c, &during).accepted());
    assert_eq!(post_acs(&client, c, &during).error, "replayed");
    assert_eq!(c.metric("samlgate_store_degraded"), 1.0);

    // A logout during the outage: the browser is signed out, the
    // revocation is enforced on this node at once and queued for Redis.
    let out = b2
        .client
        .get(a.url("/saml/logout"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(status(a, &c2), 401);
    assert!(a.metric("samlgate_store_queued") >= 1.0);

    // Past the staleness bound: every node degraded, every node still
    // ready (a Redis outage must not empty the load balancer), existing
    // sessions still served, no cookie cleared.
    wait_until("the staleness bound to pass", GENEROUS, || {
        outage.elapsed() > Duration::from_millis(2000)
    });
    for node in &fleet.nodes {
        assert_eq!(node.metric("samlgate_store_degraded"), 1.0, "{}", node.name);
        let (code, body) = node.readyz();
        assert_eq!(code, 200, "{}: {body}", node.name);
        assert_eq!(body["store"]["degraded"], true, "{body}");
    }
    b1_untouched();
    let (ok, stderr) = fleet.check_config_deep(&reject);
    assert!(
        !ok && stderr.contains("the store did not answer"),
        "{stderr}"
    );
    let outage_length = outage.elapsed();

    redis.start_again();
    let back = Instant::now();
    // Both policies recover with no restart: node A (reject) admits
    // logins again, and node C (local) shares them again (a login admitted
    // on A is replayed on C; until C is back on Redis it would admit it
    // from its own memory).
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        fleet.response("erin", &format!("_s-back{n}"))
    };
    let recovered = wait_until("node A to admit logins again", GENEROUS, || {
        let reply = post_acs(&client, a, &fresh());
        assert!(
            reply.accepted() || reply.error == "store_unavailable",
            "{}",
            reply.error
        );
        reply.accepted()
    });
    wait_until("node C to share the replay store again", GENEROUS, || {
        let response = fresh();
        assert!(post_acs(&client, a, &response).accepted());
        post_acs(&client, c, &response).error == "replayed"
    });
    // The browser whose login was refused during the outage posts again.
    assert_eq!(b3.post_acs_form(a, &fields).status(), 303);
    // The logout queued on node A reaches node B.
    let enforced = wait_until("node B to enforce the queued logout", GENEROUS, || {
        status(b, &c2) == 401
    });
    // The replay record node C kept during the outage reaches Redis: node
    // B (reject) refuses that Response once it can ask Redis.
    wait_until("node C's queue to drain", GENEROUS, || {
        c.metric("samlgate_store_queued") == 0.0
    });
    wait_until(
        "node B to refuse the Response node C admitted",
        GENEROUS,
        || {
            let reply = post_acs(&client, b, &during);
            assert!(
                reply.error == "replayed" || reply.error == "store_unavailable",
                "{}",
                reply.error
            );
            reply.error == "replayed"
        },
    );
    wait_until("every node to leave degraded", GENEROUS, || {
        fleet
            .nodes
            .iter()
            .all(|n| n.metric("samlgate_store_degraded") == 0.0)
    });
    b1_untouched();
    let (ok, stderr) = fleet.check_config_deep(&reject);
    assert!(ok, "{stderr}");
    eprintln!(
        "Redis down {} ms; after it came back: logins admitted after {} ms, the queued logout enforced on node B after {} ms, all recovered after {} ms",
        outage_length.as_millis(),
        recovered.as_millis(),
        enforced.as_millis(),
        back.elapsed().as_millis()
    );
}

#[test]
fn a_node_cut_from_redis_enforces_a_logout_after_reconnecting() {
    let redis = RedisServer::start();
    let cut = Cut::start(redis.port);
    let mut fleet = Fleet::new();
    fleet.start_node(&NodeSpec::store(redis_store(&redis.url(), "reject")));
    let via_cut = format!("redis://127.0.0.1:{}/", cut.port);
    fleet.start_node(&NodeSpec::store(redis_store(&via_cut, "reject")));
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let browser = Browser::new();
    browser.login(&fleet, a, "alice");
    let cookie = browser.cookies_for(a);
    assert_eq!(status(b, &cookie), 200);
    let reconnects_before = b.metric("samlgate_revocation_feed_reconnects_total");

    // Node B loses Redis (its connections dropped, new ones hang); the
    // IdP's logout arrives at node A meanwhile.
    cut.cut();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let (_, query) = IdpLogout::new(&fleet.idp, "alice", &[]).query(&fleet);
    let resp = plain()
        .get(a.url(&format!("/saml/logout?{query}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", location(&resp));
    assert_eq!(status(a, &cookie), 401);
    wait_until("node B's feed to go stale", GENEROUS, || {
        b.metric("samlgate_store_degraded") == 1.0
    });
    // A login at node B meanwhile: its store call meets a connection that
    // never answers, and ends at the deadline (timeout_ms = 250) with 503.
    let client = plain();
    let asked = Instant::now();
    let login = post_acs(&client, b, &fleet.response("bob", "_s-cut"));
    let answered_in = asked.elapsed();
    assert_eq!(
        (login.status, login.error.as_str()),
        (503, "store_unavailable")
    );
    assert!(answered_in < Duration::from_secs(5), "{answered_in:?}");
    // Cut for three seconds in all; node B stays ready.
    wait_until("three seconds of cut", GENEROUS, || {
        started.elapsed() > Duration::from_secs(3)
    });
    assert_eq!(b.readyz().0, 200);
    cut.restore();
    let took = wait_until("node B to enforce the logout", GENEROUS, || {
        status(b, &cookie) == 401
    });
    eprintln!(
        "node B cut from Redis for {} ms around a logout: enforced {} ms after reconnecting; a login during the cut was refused (503) after {} ms",
        started.elapsed().as_millis() - took.as_millis(),
        took.as_millis(),
        answered_in.as_millis()
    );
    assert!(b.metric("samlgate_revocation_feed_reconnects_total") > reconnects_before);
    wait_until("node B to leave degraded", GENEROUS, || {
        b.metric("samlgate_store_degraded") == 0.0
    });
    assert!(post_acs(&client, b, &fleet.response("bob", "_s-after")).accepted());
}
