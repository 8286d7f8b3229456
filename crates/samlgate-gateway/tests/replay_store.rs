//! The ACS's one store call fails closed: a genuinely signed, fresh
//! Response is refused with `store_unavailable` (503) when the store
//! cannot answer, and against a working store it is accepted once, then
//! `replayed`. Neither refusal writes anything (the store is called only
//! for verified assertions, and a store that failed wrote nothing).

use std::sync::Arc;

use async_trait::async_trait;
use samlgate_gateway::acs::{consume, AcsOutcome};
use samlgate_gateway::demo::idp::{DemoIdp, USERS};
use samlgate_gateway::demo::offline_gateway;
use samlgate_gateway::reason::GatewayReason;
use samlgate_gateway::session::Cookies;
use samlgate_gateway::state::Shared;
use samlgate_saml::{Clock, Reason, SystemClock};
use samlgate_store::{
    Admission, AssertionAdmission, ErrorKind, Revocation, RevocationView, RevokeOutcome, Store,
    StoreError, StoreInfo,
};

const BASE: &str = "http://127.0.0.1:1";

/// A store whose backend is down (a Redis that refuses connections).
#[derive(Debug)]
struct Unreachable(Arc<RevocationView>);

#[async_trait]
impl Store for Unreachable {
    async fn admit(&self, _: &AssertionAdmission<'_>) -> Result<Admission, StoreError> {
        Err(StoreError::Redis {
            kind: ErrorKind::Io,
            detail: "connection refused".into(),
        })
    }
    async fn revoke(&self, _: &Revocation) -> Result<RevokeOutcome, StoreError> {
        Err(StoreError::Redis {
            kind: ErrorKind::Io,
            detail: "connection refused".into(),
        })
    }
    async fn ping(&self) -> Result<StoreInfo, StoreError> {
        Err(StoreError::Redis {
            kind: ErrorKind::Io,
            detail: "connection refused".into(),
        })
    }
    fn view(&self) -> &Arc<RevocationView> {
        &self.0
    }
}

fn body(xml: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &b64)
        .finish()
        .into_bytes()
}

fn reason(outcome: &AcsOutcome) -> Option<GatewayReason> {
    match outcome {
        AcsOutcome::Accepted { .. } => None,
        AcsOutcome::Rejected { reason, .. } => Some(*reason),
    }
}

#[test]
fn an_unreachable_store_refuses_logins_and_a_working_one_refuses_replays() {
    let idp = DemoIdp::new(
        "http://127.0.0.1:2",
        &format!("{BASE}/saml/metadata"),
        &format!("{BASE}/saml/acs"),
    )
    .unwrap();
    let xml = idp
        .response_for(&USERS[0], None, SystemClock.now())
        .unwrap();
    let gateway = offline_gateway(&idp, BASE).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store_outage_then_replay(gateway, &xml));
}

async fn store_outage_then_replay(gateway: samlgate_gateway::state::Gateway, xml: &[u8]) {
    let cookies = Cookies::default();
    let mut shared = Shared::with_memory_store(gateway, 1000).await.unwrap();
    let working = shared.store.clone();
    shared.store = Arc::new(Unreachable(shared.view.clone()));
    let gateway = shared.gateway.load_full();
    let refused = consume(&gateway, &shared, &body(xml), &cookies).await;
    assert_eq!(
        reason(&refused),
        Some(GatewayReason::StoreUnavailable),
        "{refused:?}"
    );
    assert_eq!(GatewayReason::StoreUnavailable.status(), 503);

    // The same Response against a working store: accepted once (the
    // failed call wrote nothing), then a plain replay.
    shared.store = working;
    let first = consume(&gateway, &shared, &body(xml), &cookies).await;
    assert_eq!(reason(&first), None, "{first:?}");
    let again = consume(&gateway, &shared, &body(xml), &cookies).await;
    assert_eq!(
        reason(&again),
        Some(GatewayReason::Engine(Reason::Replayed))
    );
}
