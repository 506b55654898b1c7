//! Undo with a warm previous revision, through the real controller on the fake API server:
//! within `rollout.scaleDownDelaySeconds` the undo writes nothing to the revision's Deployment
//! (no pod starts) and only moves the Service selector; after the window the Deployment is
//! gone and comes back. Prints the time from the undo to `Healthy` for both (on the fake, pods
//! are ready at once, so the figures are the operator's own latency, not pod start-up).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::status::Phase;
use serde_json::json;

use fake_support::{Operator, fake, rolling, until_stable, wait_for_phase};

async fn revision_deployment(fake: &lockstep_fake_api::FakeApi, n: i64) -> Option<Deployment> {
    let selector = format!("lockstep.dev/revision={n}");
    Api::<Deployment>::namespaced(fake.client(), "shop")
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items
        .pop()
}

async fn selector_revision(fake: &lockstep_fake_api::FakeApi) -> Option<String> {
    let service = Api::<Service>::namespaced(fake.client(), "shop")
        .get("albums")
        .await
        .unwrap();
    service
        .spec?
        .selector?
        .get("lockstep.dev/revision")
        .cloned()
}

/// `albums` deployed at revision 1, then rolled out to revision 2 (Healthy, stable 2).
async fn rolled_out(fake: &lockstep_fake_api::FakeApi, delay: u32) -> Api<AlbumService> {
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = rolling("albums", "shop");
    svc.spec.rollout.scale_down_delay_seconds = delay;
    api.create(&PostParams::default(), &svc).await.unwrap();
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    let image = json!({"spec": {"release": {"image": "ghcr.io/lockstep-dev/album-service:2.0.0"}}});
    api.patch("albums", &PatchParams::default(), &Patch::Merge(&image))
        .await
        .unwrap();
    until_stable(&api, 2).await;
    api
}

async fn undo(api: &Api<AlbumService>) {
    let undo = json!({"spec": {"rollbackTo": {"revision": 1}}});
    api.patch("albums", &PatchParams::default(), &Patch::Merge(&undo))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_undo_within_the_window_starts_no_pod() {
    let fake = fake().await;
    let operator = Operator::start(&fake);
    let api = rolled_out(&fake, 60).await;
    let status = api.get("albums").await.unwrap().status.unwrap();
    assert_eq!(
        (status.warm_revision, status.serving_revision),
        (Some(1), Some(2))
    );
    assert_eq!(status.previous_revision, Some(1), "what served before 2");
    assert_eq!(selector_revision(&fake).await.as_deref(), Some("2"));
    let warm = revision_deployment(&fake, 1)
        .await
        .expect("revision 1 kept");
    assert_eq!(warm.spec.as_ref().unwrap().replicas, Some(4));

    undo(&api).await;
    let (svc, took) = until_stable(&api, 1).await;
    println!("undo within the window: Healthy after {took:?}");
    let after = revision_deployment(&fake, 1).await.unwrap();
    assert_eq!(
        after.metadata.resource_version, warm.metadata.resource_version,
        "revision 1's Deployment was not written: no pod started"
    );
    assert_eq!(selector_revision(&fake).await.as_deref(), Some("1"));
    let status = svc.status.unwrap();
    assert_eq!(status.warm_revision, Some(2), "a redo is instant too");
    assert_eq!(
        status.previous_revision,
        Some(2),
        "a second undo returns to where the first started"
    );
    operator.stop().await;
}

#[tokio::test]
async fn after_the_window_the_revision_is_gone_and_an_undo_recreates_it() {
    let fake = fake().await;
    let operator = Operator::start(&fake);
    let api = rolled_out(&fake, 1).await;
    let started = Instant::now();
    while revision_deployment(&fake, 1).await.is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never scaled down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        api.get("albums")
            .await
            .unwrap()
            .status
            .unwrap()
            .warm_revision,
        None
    );

    undo(&api).await;
    let (_, took) = until_stable(&api, 1).await;
    println!("undo after the window: Healthy after {took:?} (pods ready at once on the fake)");
    assert!(revision_deployment(&fake, 1).await.is_some(), "recreated");
    operator.stop().await;
}
