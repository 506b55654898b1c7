//! The operator's Grafana dashboard (`charts/lockstep/dashboards/lockstep-operator.json`, shipped
//! by the chart and provisioned in the compose stack) queries only metrics the operator
//! registers, and shows every one of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use lockstep_operator::run::metrics::Metrics;
use serde_json::Value;

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../charts/lockstep/dashboards/lockstep-operator.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `lockstep_…` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("lockstep_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_query_names_a_registered_metric_and_every_metric_is_shown() {
    let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
    let registered = metrics.names();
    // A histogram is queried through its _bucket, _sum and _count series.
    let series: BTreeSet<String> = registered
        .iter()
        .flat_map(|(name, kind)| match *kind {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{name}{s}"))
                .collect::<Vec<_>>(),
            _ => vec![name.clone()],
        })
        .collect();
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut shown = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has queries", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} queries an operator metric");
            for name in names {
                assert!(
                    series.contains(&name),
                    "{name} in {:?} is not registered by the operator",
                    panel["title"]
                );
                shown.insert(
                    name.trim_end_matches("_bucket")
                        .trim_end_matches("_sum")
                        .trim_end_matches("_count")
                        .to_owned(),
                );
            }
        }
    }
    let all: BTreeSet<String> = registered.into_iter().map(|(n, _)| n).collect();
    assert_eq!(shown, all, "every registered metric has a panel");
}

#[test]
fn panels_do_not_overlap_and_use_the_datasource_variable() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "lockstep-operator");
    let mut cells = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        let g = &panel["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} fits the 24-column grid", panel["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{} overlaps", panel["title"]);
            }
        }
    }
}

mod helm;

#[test]
fn the_chart_ships_the_dashboard_for_grafanas_sidecar_when_asked() {
    let Some(helm) = helm::helm() else { return };
    let docs = helm::render(&helm, &[]);
    assert!(
        helm::find(&docs, "ConfigMap", "lockstep-dashboard").is_none(),
        "off by default"
    );
    let docs = helm::render(
        &helm,
        &["dashboards.enabled=true", "dashboards.namespace=monitoring"],
    );
    let map = helm::find(&docs, "ConfigMap", "lockstep-dashboard").expect("the dashboard");
    assert_eq!(map["metadata"]["namespace"], "monitoring");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value =
        serde_json::from_str(map["data"]["lockstep-operator.json"].as_str().unwrap()).unwrap();
    assert_eq!(shipped, dashboard(), "the chart ships the file as it is");
}
