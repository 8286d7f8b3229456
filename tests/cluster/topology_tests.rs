//! Other Redis topologies: a real three-master Redis Cluster on loopback,
//! and `rediss://` against redis-server's TLS port with a private CA.

use std::time::Duration;

use super::fleet::{redis_store, wait_until, Fleet, NodeSpec};
use super::http::{plain, post_acs, status};
use super::redis::{RedisCluster, RedisServer};
use super::saml::IdpLogout;

const GENEROUS: Duration = Duration::from_secs(10);

fn send_logout(node: &super::fleet::Node, query: &str) -> u16 {
    plain()
        .get(node.url(&format!("/saml/logout?{query}")))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_redis_cluster_shares_replay_and_revocations_across_nodes() {
    let cluster = RedisCluster::start();
    let seeds: Vec<String> = cluster.seeds().iter().map(|s| format!("\"{s}\"")).collect();
    let store = format!(
        "backend = \"redis\"\ncluster = [{}]\non_failure = \"reject\"\ntimeout_ms = 1000\n",
        seeds.join(", ")
    );
    let fleet = Fleet::with_nodes(2, &NodeSpec::store(store));
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let client = plain();
    let users: Vec<String> = (0..8).map(|i| format!("user{i}")).collect();
    let mut cookies = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let response = fleet.response(user, &format!("_s{i}"));
        let first = post_acs(&client, a, &response);
        assert!(first.accepted(), "{user}: {}", first.error);
        assert_eq!(post_acs(&client, b, &response).error, "replayed", "{user}");
        cookies.push(first.cookie());
    }
    // The subjects' keys are spread over the masters (one hash tag each).
    let per_master: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|n| n.keys("samlgate:*:rp:*").len())
        .collect();
    assert_eq!(
        per_master.iter().sum::<usize>(),
        users.len(),
        "{per_master:?}"
    );
    assert!(
        per_master.iter().filter(|n| **n > 0).count() >= 2,
        "{per_master:?}"
    );

    // Revocations through the Cluster's feed: a subject at node B, one
    // SessionIndex at node A; the others untouched.
    let (_, q) = IdpLogout::new(&fleet.idp, &users[0], &[]).query(&fleet);
    assert_eq!(send_logout(b, &q), 303);
    let (_, q) = IdpLogout::new(&fleet.idp, &users[1], &["_s1"]).query(&fleet);
    assert_eq!(send_logout(a, &q), 303);
    wait_until("node A to refuse user0", GENEROUS, || {
        status(a, &cookies[0]) == 401
    });
    wait_until("node B to refuse user1", GENEROUS, || {
        status(b, &cookies[1]) == 401
    });
    for cookie in &cookies[2..] {
        assert_eq!((status(a, cookie), status(b, cookie)), (200, 200));
    }
    assert_eq!(a.readyz().1["store"]["backend"], "redis");
}

#[test]
fn rediss_with_a_private_ca() {
    let redis = RedisServer::start_tls();
    let ca = redis.tls.as_ref().unwrap().ca.display().to_string();
    assert!(redis.url().starts_with("rediss://"));
    let without_ca = NodeSpec::store(redis_store(&redis.url(), "reject"));
    let spec = NodeSpec::store(format!("{}tls_ca = \"{ca}\"\n", without_ca.store));
    let fleet = Fleet::with_nodes(2, &spec);
    let (a, b) = (&fleet.nodes[0], &fleet.nodes[1]);
    let client = plain();

    // The server has no plain port: everything below went over TLS.
    let response = fleet.response("alice", "_s-tls");
    let first = post_acs(&client, a, &response);
    assert!(first.accepted(), "{}", first.error);
    assert_eq!(post_acs(&client, b, &response).error, "replayed");
    let cookie = first.cookie();
    let (_, q) = IdpLogout::new(&fleet.idp, "alice", &[]).query(&fleet);
    assert_eq!(send_logout(b, &q), 303);
    wait_until("node A to refuse alice", GENEROUS, || {
        status(a, &cookie) == 401
    });

    // The CA is what makes the server trusted: without tls_ca (system
    // roots) the same store does not answer.
    let (ok, stderr) = fleet.check_config_deep(&spec);
    assert!(ok, "{stderr}");
    let (ok, stderr) = fleet.check_config_deep(&without_ca);
    assert!(
        !ok && stderr.contains("the store did not answer"),
        "{stderr}"
    );
}
