//! Routes for the exact-traffic scenarios (`tests/e2e_traffic.rs`): the platform team's
//! `HTTPRoute`, a watch that records every version of it, and what a version says.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::Env;

pub const TEAM: &str = "platform-team";

pub fn routes(env: &Env) -> Api<DynamicObject> {
    let resource = lockstep_fake_api::gateway::httproute_resource();
    Api::namespaced_with(env.client.clone(), &env.ns, &resource)
}

/// A test's namespace and operator; on the fake API server with the `HTTPRoute` CRD installed
/// (a cluster has the upstream one).
pub async fn routed_env(test: &str) -> Env {
    let env = Env::new(test).await;
    if let Some(fake) = env.fake() {
        fake.install_crds(&[lockstep_fake_api::gateway::httproute_crd().unwrap()]);
    }
    env
}

/// The route as the platform team applies it: our two backends (stable at 100) beside a legacy
/// one, a filter, and a rule for another service.
pub fn route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "labels": {"team": "platform"}},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["shop.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                 "filters": [{"type": "RequestHeaderModifier",
                              "requestHeaderModifier": {"set": [{"name": "x-team", "value": "shop"}]}}],
                 "backendRefs": [{"name": "web-stable", "port": 8080, "weight": 100},
                                 {"name": "web-canary", "port": 8080, "weight": 0},
                                 {"name": "legacy", "port": 8080, "weight": 7}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                 "backendRefs": [{"name": "docs", "port": 80}]}
            ]
        }
    })
}

/// Every version of the route, in order, as a watch delivers them.
pub fn record(api: Api<DynamicObject>) -> Arc<Mutex<Vec<DynamicObject>>> {
    let seen = Arc::new(Mutex::new(Vec::<DynamicObject>::new()));
    let into = seen.clone();
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default()).boxed();
        while let Some(Ok(event)) = events.next().await {
            if let watcher::Event::Apply(r) | watcher::Event::InitApply(r) = event {
                let mut seen = into.lock().unwrap();
                if seen.last().map(|l| &l.metadata.resource_version)
                    != Some(&r.metadata.resource_version)
                {
                    seen.push(r);
                }
            }
        }
    });
    seen
}

/// `(stable, canary, header routes)` of one version.
pub fn split(r: &DynamicObject) -> (u64, u64, usize) {
    let rules = r.data["spec"]["rules"].as_array().unwrap();
    let refs = &rules[0]["backendRefs"];
    let headers = rules.len() - 2;
    (
        refs[0]["weight"].as_u64().unwrap(),
        refs[1]["weight"].as_u64().unwrap(),
        headers,
    )
}

/// Everything in a version but our two weights and our header rules.
pub fn theirs(r: &DynamicObject) -> Value {
    let mut spec = r.data["spec"].clone();
    let rules = spec["rules"].as_array_mut().unwrap();
    rules.truncate(2);
    for backend in rules[0]["backendRefs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .take(2)
    {
        backend.as_object_mut().unwrap().remove("weight");
    }
    json!({"spec": spec, "labels": r.metadata.labels})
}

/// The platform team still owns its fields outside `rules` (which is atomic: whoever writes a
/// rule owns the list): on a cluster its `managedFields` entry, on the fake the owner table the
/// fake keeps for server-side apply.
pub fn team_still_manages(env: &Env, r: &DynamicObject) -> bool {
    let Some(fake) = env.fake() else {
        return r
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some(TEAM));
    };
    let key = lockstep_fake_api::store::Key {
        collection: lockstep_fake_api::store::Collection {
            prefix: "/apis/gateway.networking.k8s.io/v1".into(),
            resource: "httproutes".into(),
        },
        namespace: env.ns.clone(),
        name: "web".into(),
    };
    let managers = fake.store().field_managers(&key).unwrap();
    let team = &managers[TEAM];
    ["spec.parentRefs", "spec.hostnames", "metadata.labels.team"]
        .iter()
        .all(|f| team.contains(*f))
}

pub fn header_step(on: bool) -> Value {
    if on {
        json!({"setHeaderRoute": {"name": "testers",
               "match": [{"headerName": "x-canary", "value": {"exact": "yes"}}]}})
    } else {
        json!({"setHeaderRoute": {"name": "testers"}})
    }
}

/// Waits (up to 30 s) until the watch has delivered, after the first `before` versions, one
/// with `want`: the last write a scenario expects, so every write before it is recorded too.
pub async fn settled(
    seen: &Arc<Mutex<Vec<DynamicObject>>>,
    before: usize,
    want: (u64, u64, usize),
) {
    for _ in 0..300 {
        let seen = seen.lock().unwrap().clone();
        if seen.len() > before && seen.last().map(split) == Some(want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the route never showed {want:?}");
}
