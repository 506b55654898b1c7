//! The fake's `HTTPRoute` CRD (`lockstep_fake_api::gateway`) admits routes as a server with the
//! Gateway API CRDs installed does: defaults filled (weight 1, a `PathPrefix /` match), upstream's
//! limits refused with 422 and the field path (weights 0–1,000,000, ports 1–65,535, at most 16
//! backendRefs), and `rules` atomic under server-side apply (one manager owns them all).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use lockstep_fake_api::FakeApi;
use serde_json::{Value, json};

fn route(backends: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [{"matches": [{"headers": [{"name": "x-canary", "value": "yes"}]}],
                       "backendRefs": backends,
                       "filters": [{"type": "RequestHeaderModifier"}]}]
        }
    }))
    .unwrap()
}

async fn routes() -> (FakeApi, Api<DynamicObject>) {
    let fake = FakeApi::start().await.unwrap();
    fake.install_crds(&[lockstep_fake_api::gateway::httproute_crd().unwrap()]);
    let resource = lockstep_fake_api::gateway::httproute_resource();
    let api = Api::namespaced_with(fake.client(), "shop", &resource);
    (fake, api)
}

async fn refusal(api: &Api<DynamicObject>, backends: Value) -> String {
    match api.create(&PostParams::default(), &route(backends)).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422);
            e.message
        }
        other => panic!("admitted: {other:?}"),
    }
}

#[tokio::test]
async fn routes_are_defaulted_and_upstreams_limits_refused() {
    let (_fake, api) = routes().await;
    let made = api
        .create(
            &PostParams::default(),
            &route(json!([{"name": "web-stable", "port": 80}])),
        )
        .await
        .unwrap();
    let rule = &made.data["spec"]["rules"][0];
    assert_eq!(rule["backendRefs"][0]["weight"], 1, "weight defaults to 1");
    assert_eq!(rule["backendRefs"][0]["kind"], "Service");
    assert_eq!(rule["matches"][0]["headers"][0]["type"], "Exact");
    assert_eq!(
        rule["matches"][0]["path"],
        json!({"type": "PathPrefix", "value": "/"})
    );
    assert_eq!(
        rule["filters"][0]["type"], "RequestHeaderModifier",
        "kept as sent"
    );

    let heavy = refusal(
        &api,
        json!([{"name": "a", "port": 80, "weight": 1_000_001}]),
    )
    .await;
    assert!(
        heavy.contains("spec.rules[0].backendRefs[0].weight"),
        "{heavy}"
    );
    let port = refusal(&api, json!([{"name": "a", "port": 0}])).await;
    assert!(port.contains("spec.rules[0].backendRefs[0].port"), "{port}");
    let many: Vec<Value> = (0..17)
        .map(|i| json!({"name": format!("b{i}"), "port": 80}))
        .collect();
    let many = refusal(&api, Value::Array(many)).await;
    assert!(many.contains("spec.rules[0].backendRefs"), "{many}");
}

/// Upstream's lists carry no list type, so they are atomic: a manager that applies `rules` owns
/// every rule, and another manager's apply of `rules` conflicts unless forced — what makes
/// "change only the two weights" a read-modify-write, not an apply of a fragment.
#[tokio::test]
async fn rules_are_atomic_under_server_side_apply() {
    let (_fake, api) = routes().await;
    let ours = route(json!([{"name": "web-stable", "port": 80, "weight": 100}]));
    api.patch(
        "web",
        &PatchParams::apply("platform-team"),
        &Patch::Apply(&ours),
    )
    .await
    .unwrap();
    let theirs = route(json!([{"name": "web-canary", "port": 80, "weight": 5}]));
    let conflict = api
        .patch(
            "web",
            &PatchParams::apply("lockstep-operator"),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(conflict, kube::Error::Api(ref e) if e.code == 409),
        "{conflict:?}"
    );
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("lockstep-operator").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();
    let backends = forced.data["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        backends.len(),
        1,
        "the whole list is replaced: {backends:?}"
    );
    assert_eq!(backends[0]["name"], "web-canary");
}
