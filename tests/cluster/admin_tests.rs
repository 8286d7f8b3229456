//! `POST /sessions/revoke` on the admin listener: bearer token from
//! `server.admin_token_file`; a revocation made on one node is enforced
//! on the others.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::fleet::{redis_store, wait_until, Fleet, Node, NodeSpec, ADMIN_TOKEN};
use super::http::{plain, post_acs, status};
use super::redis::RedisServer;

fn revoke(node: &Node, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = plain().post(node.admin_url("/sessions/revoke")).json(body);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or_default())
}

#[test]
fn admin_revocation_on_one_node_ends_sessions_on_the_others() {
    let redis = RedisServer::start();
    let store = redis_store(&redis.url(), "reject");
    let mut fleet = Fleet::new();
    let with_token = NodeSpec {
        admin_token: true,
        ..NodeSpec::store(store.clone())
    };
    fleet.start_node(&with_token);
    fleet.start_node(&with_token);
    fleet.start_node(&NodeSpec::store(store.clone()));
    let (a, b, c) = (&fleet.nodes[0], &fleet.nodes[1], &fleet.nodes[2]);
    let client = plain();
    let alice = post_acs(&client, b, &fleet.response("alice", "_s-a")).cookie();
    let bob = post_acs(&client, a, &fleet.response("bob", "_s-b")).cookie();
    let everyone = |expected: u16| {
        [&alice, &bob]
            .iter()
            .all(|cookie| fleet.nodes.iter().all(|n| status(n, cookie) == expected))
    };
    assert!(everyone(200));

    let user = json!({"idp": "corp", "name_id": "alice"});
    let (code, body) = revoke(a, None, &user);
    assert_eq!((code, &body["error"]), (401, &json!("unauthorized")));
    let (code, _) = revoke(a, Some("cluster-test-admin-token-0123456788"), &user);
    assert_eq!(code, 401);
    let (code, _) = revoke(a, Some(&ADMIN_TOKEN[..10]), &user);
    assert_eq!(code, 401);
    // Node C has no admin_token_file: the endpoint does not exist there.
    let (code, _) = revoke(c, Some(ADMIN_TOKEN), &user);
    assert_eq!(code, 404);
    assert!(everyone(200), "refused calls revoked something");

    // Every session of alice, asked at node A, made through node B.
    let (code, body) = revoke(a, Some(ADMIN_TOKEN), &user);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["stored"], true, "{body}");
    assert_eq!(body["revoked"], user);
    let took = wait_until("alice refused on node B", Duration::from_secs(10), || {
        status(b, &alice) == 401
    });
    eprintln!(
        "admin revocation at node A enforced on node B after {} ms",
        took.as_millis()
    );
    wait_until("alice refused on node C", Duration::from_secs(10), || {
        status(c, &alice) == 401
    });
    assert!(fleet.nodes.iter().all(|n| status(n, &bob) == 200));

    // One session by its handle (from node A's ACS log line), asked at
    // node B.
    let handle = {
        wait_until("the ACS log line", Duration::from_secs(10), || {
            !a.session_handles().is_empty()
        });
        a.session_handles().remove(0)
    };
    let (code, body) = revoke(b, Some(ADMIN_TOKEN), &json!({"session_id": handle}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["scope"], "session");
    wait_until("bob refused on node A", Duration::from_secs(10), || {
        status(a, &bob) == 401
    });
    wait_until("every node to refuse both", Duration::from_secs(10), || {
        everyone(401)
    });
    for (node, n) in [(a, 1.0), (b, 1.0), (c, 0.0)] {
        assert_eq!(
            node.metric("samlgate_revocations_total{source=\"admin\"}"),
            n
        );
    }

    // A node started now must not honour a revoked session before its
    // revocation view has synced: from its first answer on, alice's cookie
    // gets 503 (not synced yet) or 401, never 200.
    let d = fleet.spawn_node(&NodeSpec::store(store));
    let node = &fleet.nodes[d];
    let mut answers = BTreeSet::new();
    wait_until("the new node to be ready", Duration::from_secs(30), || {
        let answer = plain()
            .get(node.url("/whoami"))
            .header("cookie", &alice)
            .send();
        if let Ok(resp) = answer {
            answers.insert(resp.status().as_u16());
        }
        node.readyz().0 == 200
    });
    assert!(!answers.contains(&200), "{answers:?}");
    assert_eq!((status(node, &alice), status(node, &bob)), (401, 401));
    eprintln!("a new node's answers to a revoked session while it started: {answers:?}");
}
