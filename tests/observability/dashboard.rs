//! The Grafana dashboard in `config/grafana/`: its panels and queries, and
//! a check of its shape (Grafana's schema, the templated datasource and
//! instance, every panel with a datasource, targets, a unique id and a
//! place on the grid, every samlgate selector filtered by `$instance`).

use std::collections::BTreeSet;

use super::prom::metric_names;

const DASHBOARD: &str = include_str!("../../config/grafana/samlgate.json");

/// One query of one dashboard panel.
pub(crate) struct Target {
    pub(crate) panel: String,
    pub(crate) ref_id: String,
    pub(crate) expr: String,
}

pub(crate) fn dashboard() -> serde_json::Value {
    serde_json::from_str(DASHBOARD).expect("config/grafana/samlgate.json is JSON")
}

/// Every panel, rows' nested panels included.
fn all_panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

pub(crate) fn targets(d: &serde_json::Value) -> Vec<Target> {
    all_panels(d)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .flat_map(|p| {
            let panel = p["title"].as_str().unwrap_or("?").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| Target {
                    panel: panel.clone(),
                    ref_id: t["refId"].as_str().unwrap_or("?").to_owned(),
                    expr: t["expr"].as_str().unwrap_or("").to_owned(),
                })
        })
        .collect()
}

#[test]
fn the_dashboard_is_well_formed() {
    let d = dashboard();
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    check(
        d["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty() && u.len() <= 40),
        "uid".into(),
    );
    check(
        d["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title".into(),
    );
    check(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion >= 36".into(),
    );
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).cloned();
    let ds = var("datasource").unwrap_or_default();
    check(
        ds["type"] == "datasource" && ds["query"] == "prometheus",
        "a datasource variable of type prometheus".into(),
    );
    let instance = var("instance").unwrap_or_default();
    check(
        instance["type"] == "query"
            && instance["datasource"]["uid"] == "${datasource}"
            && instance["definition"] == "label_values(samlgate_build_info, instance)",
        "an instance variable from label_values(samlgate_build_info, instance)".into(),
    );

    let datasource = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in all_panels(&d) {
        let title = p["title"].as_str().unwrap_or("?").to_owned();
        let id = p["id"].as_u64();
        check(
            id.is_some_and(|id| ids.insert(id)),
            format!("{title}: id missing or repeated"),
        );
        let g = &p["gridPos"];
        let (h, w, x, y) = (
            g["h"].as_u64().unwrap_or(0),
            g["w"].as_u64().unwrap_or(0),
            g["x"].as_u64().unwrap_or(99),
            g["y"].as_u64().unwrap_or(0),
        );
        check(
            h > 0 && (1..=24).contains(&w) && x + w <= 24,
            format!("{title}: gridPos {g}"),
        );
        for row in y..y + h {
            for col in x..(x + w).min(24) {
                check(
                    cells.insert((row, col)),
                    format!("{title}: overlaps at ({col}, {row})"),
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        check(
            p["datasource"] == datasource,
            format!("{title}: datasource"),
        );
        check(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            format!("{title}: description"),
        );
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        check(!targets.is_empty(), format!("{title}: no targets"));
        let mut refs = BTreeSet::new();
        for t in &targets {
            let expr = t["expr"].as_str().unwrap_or("");
            check(!expr.is_empty(), format!("{title}: empty expr"));
            check(
                t["datasource"] == datasource,
                format!("{title}: target datasource"),
            );
            check(
                t["refId"]
                    .as_str()
                    .is_some_and(|r| refs.insert(r.to_owned())),
                format!("{title}: refId missing or repeated"),
            );
            // Every selector of a samlgate metric follows the instance
            // variable.
            for name in metric_names(expr) {
                for (i, _) in expr.match_indices(&name) {
                    let after = &expr[i + name.len()..];
                    let matchers = after
                        .strip_prefix('{')
                        .and_then(|m| m.split_once('}'))
                        .map(|(m, _)| m);
                    check(
                        matchers.is_some_and(|m| m.contains("instance=~\"$instance\"")),
                        format!("{title}: {name} not filtered by $instance"),
                    );
                }
            }
        }
    }
    // The list: each of these has a panel.
    let exprs: String = targets(&d).iter().map(|t| t.expr.clone() + "\n").collect();
    for metric in [
        "samlgate_acs_total",
        "samlgate_rejections_total",
        "samlgate_acs_validation_seconds_bucket",
        "samlgate_requests_total",
        "samlgate_request_duration_seconds_bucket",
        "samlgate_upstream_seconds_bucket",
        "samlgate_upstream_errors_total",
        "samlgate_store_call_seconds_bucket",
        "samlgate_store_errors_total",
        "samlgate_store_degraded",
        "samlgate_revocation_feed_age_seconds",
        "samlgate_revocation_view_entries",
        "samlgate_replay_rejections_total",
        "samlgate_sessions_issued_total",
        "samlgate_sessions_too_large_total",
        "samlgate_idp_metadata_age_seconds",
        "samlgate_idp_metadata_refresh_failures_total",
        "samlgate_idp_metadata_valid_until_timestamp_seconds",
        "samlgate_idp_signing_cert_expiry_timestamp_seconds",
        "samlgate_config_reloads_total",
        "samlgate_slo_total",
    ] {
        check(exprs.contains(metric), format!("no panel shows {metric}"));
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
}
