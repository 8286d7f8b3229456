//! `POST /sessions/revoke`: end every session of a user, or one session,
//! on every node. Bearer token from `server.admin_token_file`.
//!
//! ```text
//! {"idp": "corp", "name_id": "alice@example.com"}      every session of the user
//!   optional: "name_id_format", "name_qualifier", "sp_name_qualifier"
//! {"session_id": "<handle from the ACS log line>"}      one session
//! ```

use serde::Deserialize;
use serde_json::json;

use samlgate_store::{parse_session_handle, Revocation, RevokeOutcome, SubjectKey};

use crate::reason::GatewayReason;
use crate::state::{Gateway, Shared};

/// The token compared in constant time.
pub(super) fn authorized(headers: &http::HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len() && openssl::memcmp::eq(given.as_bytes(), token.as_bytes())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    idp: Option<String>,
    name_id: Option<String>,
    name_id_format: Option<String>,
    name_qualifier: Option<String>,
    sp_name_qualifier: Option<String>,
    session_id: Option<String>,
}

/// Revokes what the body names; the status and JSON answer.
pub(super) async fn revoke(
    shared: &Shared,
    gateway: &Gateway,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let request: RevokeRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return (
                400,
                json!({"error": "bad_request", "detail": e.to_string()}),
            )
        }
    };
    let now_ms = shared.clock.now().unix_millis();
    let lifetime_ms =
        (gateway.config.session.lifetime_seconds + gateway.config.sp.clock_skew_seconds) * 1000;
    let (revocations, what) = match (&request.session_id, &request.idp, &request.name_id) {
        (Some(handle), None, None) => {
            let Some((subject, session_id)) = parse_session_handle(handle) else {
                return (
                    400,
                    json!({"error": "bad_request", "detail": "session_id is not a session handle"}),
                );
            };
            (
                vec![Revocation::Session {
                    subject,
                    session_id,
                    expires_ms: now_ms + lifetime_ms,
                }],
                json!({"session_id": handle}),
            )
        }
        (None, Some(idp_name), Some(name_id)) => {
            let Some(idp) = gateway.idp_named(idp_name) else {
                return (
                    404,
                    json!({"error": "unknown_idp", "detail": format!("no [[idp]] is named {idp_name:?}")}),
                );
            };
            let Some(entity) = idp.entity() else {
                return (503, json!({"error": "idp_unavailable"}));
            };
            // Sessions are filed under (IdP, NameID, its Format and
            // qualifiers). Without a format, every format the IdP may send
            // (its metadata's, the configured one, none) is revoked.
            let formats: Vec<Option<String>> = match &request.name_id_format {
                Some(f) => vec![Some(f.clone())],
                None => {
                    let mut all: Vec<Option<String>> = vec![None];
                    all.extend(entity.name_id_formats.iter().cloned().map(Some));
                    all.extend(idp.config.name_id_format.iter().cloned().map(Some));
                    all.extend(
                        [
                            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                            "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
                        ]
                        .map(|f| Some(f.to_owned())),
                    );
                    all.sort();
                    all.dedup();
                    all
                }
            };
            let revocations = formats
                .iter()
                .map(|format| Revocation::Subject {
                    subject: SubjectKey::new(
                        &entity.entity_id,
                        format.as_deref(),
                        request.name_qualifier.as_deref(),
                        request.sp_name_qualifier.as_deref(),
                        name_id,
                    ),
                    not_before_ms: now_ms,
                    expires_ms: now_ms + lifetime_ms,
                })
                .collect();
            (revocations, json!({"idp": idp_name, "name_id": name_id}))
        }
        _ => {
            return (
                400,
                json!({"error": "bad_request", "detail": "give {\"idp\", \"name_id\"} or {\"session_id\"}"}),
            )
        }
    };
    let mut queued = false;
    for revocation in &revocations {
        match shared.store.revoke(revocation).await {
            Ok(RevokeOutcome::Stored) => {}
            Ok(RevokeOutcome::Queued) => queued = true,
            Err(e) => {
                tracing::warn!(error = %e, "admin revocation could not be stored");
                return (
                    503,
                    json!({"error": GatewayReason::StoreUnavailable.code(), "detail": e.to_string()}),
                );
            }
        }
    }
    shared
        .metrics
        .cluster
        .revocations
        .with_label_values(&["admin"])
        .inc();
    tracing::info!(revoked = %what, queued, "admin revocation");
    (
        200,
        json!({
            "revoked": what,
            "scope": if request.session_id.is_some() { "session" } else { "every session of the user" },
            // Queued: enforced on this node now, on the others once the
            // store is back.
            "stored": !queued,
        }),
    )
}
