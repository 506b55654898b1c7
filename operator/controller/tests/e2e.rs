//! End-to-end scenarios against the real cluster of `KUBECONFIG` (kind in `.github/workflows/e2e.yml`).
//!
//! Every `cargo test` runs them on the in-repo fake API server (it plays the Deployment
//! controller and kubelet), so they are compiled and exercised on each change; on a cluster:
//!
//! ```text
//! LOCKSTEP_E2E_TARGET=cluster LOCKSTEP_E2E_IMAGE=lockstep/album-service:e2e \
//!   cargo test -p lockstep-operator --test e2e --test e2e_plugin -- --test-threads 2
//! ```
//!
//! Each test gets its own namespace (`lockstep-e2e-<test>-<n>`, label `lockstep.dev/e2e=true`,
//! deleted when the test passes) and runs the operator in-process, watching only that namespace,
//! unless `LOCKSTEP_E2E_OPERATOR=cluster` says an installed operator (the Helm chart) does the
//! work; then "operator restart" deletes the operator's pods. The CRDs are applied from
//! `lockstep_crd::crds()` if missing (on the fake they are installed with it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed call fails the test

mod e2e_support;

use e2e_support::{Env, album, album_with_image, healthy_canary, paused_canary, phase, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use lockstep_crd::status::Phase;
use serde_json::json;

/// Runs without a cluster: the fixtures the scenarios start from are valid services.
#[test]
fn fixtures_are_valid_services() {
    use lockstep_operator::kinds::LockstepService;
    let steps = [json!({"setWeight": 50}), json!({"pause": {}})];
    for (replicas, steps) in [(1, &[][..]), (2, &steps[..])] {
        let svc = album_with_image("albums", replicas, steps, "lockstep/album-service:e2e");
        svc.content()
            .expect("the e2e config passes the operator's validation");
    }
}

#[tokio::test]
async fn canary_rolls_a_new_config_to_100_percent() {
    let env = Env::new("canary").await;
    env.create(album(
        "albums",
        2,
        &[
            json!({"setWeight": 50}),
            json!({"pause": {"duration": "5s"}}),
        ],
    ))
    .await;
    let s = wait_for(&env, "albums", "first deploy healthy", |s| {
        phase(s) == Some(Phase::Healthy)
    })
    .await;
    assert_eq!(s.stable_revision, Some(1));

    env.patch_spec(
        "albums",
        json!({"release": {"config": {"pagination": {"default_limit": 40}}}}),
    )
    .await;
    wait_for(&env, "albums", "canary at step 0 or later", |s| {
        s.current_revision == Some(2) && s.stable_revision == Some(1)
    })
    .await;
    let s = wait_for(&env, "albums", "revision 2 promoted", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    assert_eq!(s.ready.as_deref(), Some("2/2"));
    // Revision 1 stays warm for scaleDownDelaySeconds (60 s by default), out of the Service.
    assert_eq!(s.warm_revision, Some(1));
    assert_eq!(s.serving_revision, Some(2));
    assert_eq!(
        env.deployments("albums").await.len(),
        2,
        "the old revision's Deployment is kept warm"
    );
    let service =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(env.client.clone(), &env.ns)
            .get("albums")
            .await
            .unwrap();
    assert_eq!(
        service.spec.unwrap().selector.unwrap()["lockstep.dev/revision"],
        "2",
        "only the serving revision's pods get traffic"
    );
    env.assert_serves_config("albums", "default_limit: 40")
        .await;
    env.teardown().await;
}

#[tokio::test]
async fn pause_waits_for_promote() {
    let env = Env::new("pause").await;
    let s = paused_canary(&env, "albums").await;
    let step = s.step;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let still = env.status("albums").await;
    assert_eq!(
        (phase(&still), still.step),
        (Some(Phase::Paused), step),
        "no promote, no progress"
    );

    env.patch_spec("albums", json!({"promote": "e2e-1"})).await;
    wait_for(&env, "albums", "promoted to stable", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn a_failing_canary_rolls_back_image_and_config() {
    let env = Env::new("crash").await;
    if env.on_fake() {
        // The fake's kubelet starts every image (it pulls nothing); the same rollback from
        // failing pods is covered on the fake by tests/fake_cluster.rs, and here on a cluster.
        eprintln!(
            "a_failing_canary_rolls_back_image_and_config: cluster only (LOCKSTEP_E2E_TARGET=cluster)"
        );
        env.teardown().await;
        return;
    }
    healthy_canary(&env, "albums").await;
    // A new image that cannot start, with a new config: both must go.
    env.patch_spec(
        "albums",
        json!({"release": {"version": "9.9.9",
                           "image": "registry.invalid/lockstep/album-service:missing",
                           "config": {"pagination": {"default_limit": 99}}}}),
    )
    .await;
    let s = wait_for(&env, "albums", "rolled back", |s| {
        phase(s) == Some(Phase::RolledBack)
    })
    .await;
    assert_eq!(s.aborted_revision, Some(2));
    let reason = s.abort_reason.unwrap_or_default();
    assert!(
        reason.contains("ImagePull") || reason.contains("ErrImage"),
        "{reason}"
    );
    wait_for(&env, "albums", "stable revision ready again", |s| {
        s.ready_replicas == 2
    })
    .await;
    let deployments = env.deployments("albums").await;
    assert_eq!(deployments.len(), 1, "only the stable revision runs");
    let labels = deployments[0].metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("lockstep.dev/revision").map(String::as_str),
        Some("1")
    );
    env.assert_serves_config("albums", "default_limit: 25")
        .await;
    env.teardown().await;
}

#[tokio::test]
async fn rollback_to_an_older_revision_restores_it() {
    let env = Env::new("undo").await;
    env.create(album("albums", 1, &[])).await;
    wait_for(&env, "albums", "revision 1 healthy", |s| {
        phase(s) == Some(Phase::Healthy)
    })
    .await;
    for (n, limit) in [(2, 30), (3, 35)] {
        env.patch_spec(
            "albums",
            json!({"release": {"config": {"pagination": {"default_limit": limit}}}}),
        )
        .await;
        wait_for(&env, "albums", "next revision healthy", |s| {
            phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(n)
        })
        .await;
    }
    env.patch_spec("albums", json!({"rollbackTo": {"revision": 1}}))
        .await;
    let s = wait_for(&env, "albums", "revision 1 serves again", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(1)
    })
    .await;
    assert_eq!(
        s.current_revision,
        Some(1),
        "revision 1 reused, no new number"
    );
    let svc = env.get("albums").await;
    assert_eq!(
        svc.spec.release.config.pagination.default_limit, 25,
        "spec tells the truth"
    );
    assert!(svc.spec.rollback_to.is_none(), "the intent is consumed");
    env.assert_serves_config("albums", "default_limit: 25")
        .await;
    env.teardown().await;
}

#[tokio::test]
async fn an_operator_restart_mid_step_resumes_the_same_step() {
    let mut env = Env::new("restart").await;
    healthy_canary(&env, "albums").await;
    env.patch_spec(
        "albums",
        json!({"release": {"config": {"log": {"level": "warn"}}}}),
    )
    .await;
    let before = wait_for(&env, "albums", "paused", |s| {
        phase(s) == Some(Phase::Paused)
    })
    .await;
    let canary_uid = |ds: &[Deployment]| {
        ds.iter()
            .find(|d| {
                d.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("lockstep.dev/revision"))
                    .map(String::as_str)
                    == Some("2")
            })
            .and_then(|d| d.metadata.uid.clone())
    };
    let uid = canary_uid(&env.deployments("albums").await);

    env.restart_operator().await;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let after = env.status("albums").await;
    assert_eq!(
        (phase(&after), after.step, after.step_started_at.clone()),
        (
            Some(Phase::Paused),
            before.step,
            before.step_started_at.clone()
        ),
        "same step, same start time"
    );
    assert_eq!(
        canary_uid(&env.deployments("albums").await),
        uid,
        "canary not recreated"
    );
    env.patch_spec("albums", json!({"promote": "after-restart"}))
        .await;
    wait_for(&env, "albums", "finished after restart", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    let cms = kube::Api::<ConfigMap>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("lockstep.dev/service=albums"))
        .await
        .unwrap();
    assert_eq!(cms.items.len(), 2, "one immutable ConfigMap per revision");
    env.teardown().await;
}
