//! A `UserService` end to end: `examples/user-service.yaml` deployed by the operator after its
//! preflight (`check-config`), a config change rolled out as a new revision, and `rollbackTo`
//! restoring image and config together.
//! On the fake API server in every `cargo test`; on a cluster (`LOCKSTEP_E2E_TARGET=cluster`)
//! with `LOCKSTEP_E2E_USER_IMAGE` naming a user-service image it can run (see `tests/e2e.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed call fails the test

mod e2e_support;

use std::time::Duration;

use e2e_support::{Env, on_cluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::UserService;
use lockstep_crd::status::{Phase, ServiceStatus};
use serde_json::{Value, json};

async fn until(api: &Api<UserService>, what: &str, pred: impl Fn(&ServiceStatus) -> bool) {
    for _ in 0..240 {
        let status = api.get("users").await.unwrap().status.unwrap_or_default();
        if pred(&status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("users: timed out waiting for {what}");
}

/// The config file the Service's revision mounts.
async fn served_config(env: &Env) -> String {
    let service =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(env.client.clone(), &env.ns)
            .get("users")
            .await
            .unwrap();
    let revision = service.spec.unwrap().selector.unwrap()["lockstep.dev/revision"].clone();
    let deployment = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels(&format!(
            "lockstep.dev/service=users,lockstep.dev/revision={revision}"
        )))
        .await
        .unwrap()
        .items
        .remove(0);
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].name, "user");
    let config_map = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "config")
        .unwrap();
    let name = config_map.config_map.unwrap().name;
    let cm = Api::<ConfigMap>::namespaced(env.client.clone(), &env.ns)
        .get(&name)
        .await
        .unwrap();
    cm.data.unwrap().remove("config.yaml").unwrap()
}

#[tokio::test]
async fn a_user_service_deploys_rolls_out_and_rolls_back() {
    let image = match std::env::var("LOCKSTEP_E2E_USER_IMAGE") {
        Ok(image) => image,
        Err(_) if on_cluster() => {
            eprintln!("skipped on a cluster: set LOCKSTEP_E2E_USER_IMAGE to a user-service image");
            return;
        }
        Err(_) => "ghcr.io/lockstep-dev/user-service:0.1.0".into(),
    };
    let env = Env::new("users").await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/user-service.yaml"
    );
    let mut doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["spec"]["release"]["image"] = json!(image);
    doc["spec"]["rollout"]["strategy"] = json!("Rolling");
    doc["spec"]["rollout"]["steps"] = json!([]);
    let svc: UserService = serde_json::from_value(doc).unwrap();
    let api: Api<UserService> = Api::namespaced(env.client.clone(), &env.ns);
    api.create(&PostParams::default(), &svc).await.unwrap();
    until(&api, "revision 1 healthy", |s| {
        s.phase == Some(Phase::Healthy)
    })
    .await;
    assert!(served_config(&env).await.contains("token_ttl_seconds: 900"));
    // `rollout.preflight: {}`: the binary's `check-config` ran on the new config first.
    let jobs = Api::<k8s_openapi::api::batch::v1::Job>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("lockstep.dev/service=users"))
        .await
        .unwrap()
        .items;
    assert_eq!(jobs.len(), 1);
    let check = jobs[0]
        .spec
        .clone()
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .clone();
    assert_eq!(
        check.args.unwrap(),
        ["check-config", "/etc/lockstep/config.yaml"]
    );

    let ttl = json!({"spec": {"release": {"config": {"tokens": {"token_ttl_seconds": 600}}}}});
    api.patch("users", &PatchParams::default(), &Patch::Merge(&ttl))
        .await
        .unwrap();
    until(&api, "revision 2 stable", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    assert!(served_config(&env).await.contains("token_ttl_seconds: 600"));

    let undo = json!({"spec": {"rollbackTo": {"revision": 1}}});
    api.patch("users", &PatchParams::default(), &Patch::Merge(&undo))
        .await
        .unwrap();
    until(&api, "revision 1 stable again", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(1)
    })
    .await;
    assert!(served_config(&env).await.contains("token_ttl_seconds: 900"));
    let spec = api.get("users").await.unwrap().spec;
    assert_eq!(
        spec.release.config.tokens.token_ttl_seconds, 900,
        "the spec tells the truth"
    );
    env.teardown().await;
}
