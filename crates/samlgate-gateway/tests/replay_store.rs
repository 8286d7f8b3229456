//! The replay check fails closed when its store cannot answer, and says so
//! in a way the gateway can tell from a replay without reading message
//! text: a genuinely signed, fresh Response validated against a store that
//! errors is refused with `SamlError::ReplayStoreUnavailable` (reason code
//! `replayed`, within the `verify` contract), while a real second use is
//! a plain `replayed`.

use std::sync::Arc;

use samlgate_gateway::demo::idp::{DemoIdp, USERS};
use samlgate_gateway::demo::offline_gateway;
use samlgate_gateway::replay::MemoryReplayStore;
use samlgate_gateway::state::Gateway;
use samlgate_saml::{Clock, Instant, Reason, ReplayCache, SamlError, SystemClock};

const BASE: &str = "http://127.0.0.1:1";

/// A store whose backend is down (a Redis that refuses connections).
struct Unreachable;

impl ReplayCache for Unreachable {
    fn check_and_insert(&self, _: &str, _: &str, _: Instant) -> Result<bool, String> {
        Err("connection refused".into())
    }
}

fn validate(gateway: &Gateway, xml: &[u8], replay: &dyn ReplayCache) -> Result<(), SamlError> {
    let trust = gateway.trust();
    let validator = gateway.validator(&trust, &SystemClock, None, Some(replay));
    validator.validate(xml).map(|_| ())
}

#[test]
fn an_unreachable_replay_store_refuses_and_is_told_apart_from_a_replay() {
    let idp = DemoIdp::new(
        "http://127.0.0.1:2",
        &format!("{BASE}/saml/metadata"),
        &format!("{BASE}/saml/acs"),
    )
    .unwrap();
    let gateway = offline_gateway(&idp, BASE).unwrap();
    let xml = idp
        .response_for(&USERS[0], None, SystemClock.now())
        .unwrap();

    let err = validate(&gateway, &xml, &Unreachable).unwrap_err();
    assert!(
        matches!(&err, SamlError::ReplayStoreUnavailable { detail } if detail == "connection refused"),
        "{err:?}"
    );
    assert_eq!(err.reason(), Reason::Replayed, "fail closed, contract code");
    assert_eq!(
        err.to_string(),
        "replay store unavailable: connection refused"
    );

    // The same Response against a working store: accepted once, then a
    // plain replay (not the store variant).
    let store = MemoryReplayStore::new(100, Arc::new(SystemClock));
    validate(&gateway, &xml, &store).unwrap();
    let again = validate(&gateway, &xml, &store).unwrap_err();
    assert_eq!(again.reason(), Reason::Replayed);
    assert!(
        !matches!(again, SamlError::ReplayStoreUnavailable { .. }),
        "{again:?}"
    );
}
