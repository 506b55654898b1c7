//! Blue-green end to end on the fake API server, the real controller querying a loopback
//! Prometheus: the new revision previews behind `<name>-preview` while the stable one serves;
//! `promote` flips the Service's selector; an undo within the warm window is a flip with no
//! Deployment write; a failing post-promotion analysis flips back to the pods still running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;
mod prometheus_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fake_support::{Operator, fake, rolling, wait_for_phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::spec::Strategy;
use lockstep_crd::status::{Phase, ServiceStatus};
use lockstep_crd::traffic::BlueGreen;
use serde_json::json;

async fn selects(fake: &lockstep_fake_api::FakeApi, name: &str) -> Option<String> {
    let svc = Api::<Service>::namespaced(fake.client(), "shop")
        .get(name)
        .await
        .ok()?;
    svc.spec?.selector?.get("lockstep.dev/revision").cloned()
}

/// `(name, replicas, resourceVersion)` of every Deployment.
async fn deployments(fake: &lockstep_fake_api::FakeApi) -> Vec<(String, i32, String)> {
    let list = Api::<Deployment>::namespaced(fake.client(), "shop")
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut out: Vec<_> = list
        .items
        .into_iter()
        .map(|d| {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            (
                d.metadata.name.unwrap(),
                replicas,
                d.metadata.resource_version.unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn status(api: &Api<AlbumService>) -> ServiceStatus {
    api.get("albums").await.unwrap().status.unwrap_or_default()
}

async fn wait(
    api: &Api<AlbumService>,
    what: &str,
    pred: impl Fn(&ServiceStatus) -> bool,
) -> ServiceStatus {
    for _ in 0..300 {
        let s = status(api).await;
        if pred(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("albums never {what}: {:?}", status(api).await);
}

async fn patch(api: &Api<AlbumService>, spec: serde_json::Value) {
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": spec})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn blue_green_previews_flips_undoes_by_a_flip_and_flips_back_on_failed_analysis() {
    let fake = fake().await;
    let failing = Arc::new(AtomicBool::new(false));
    let answer = failing.clone();
    let (url, _asked) = prometheus_support::serve(move |_| {
        prometheus_support::vector(&[if answer.load(Ordering::SeqCst) {
            "0.5"
        } else {
            "0.01"
        }])
    })
    .await;
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = rolling("albums", "shop");
    svc.spec.replicas = 2;
    svc.spec.rollout.strategy = Strategy::BlueGreen;
    svc.spec.rollout.scale_down_delay_seconds = 600;
    let mut analysis = fake_support::analysis("errors{revision=\"$revision\"}", 1);
    analysis.interval_seconds = 5;
    svc.spec.rollout.blue_green = Some(BlueGreen {
        preview_replicas: Some(1),
        post_promotion_analysis: Some(analysis),
        ..BlueGreen::default()
    });
    api.create(&PostParams::default(), &svc).await.unwrap();
    let _operator = Operator::start_analysing(&fake, &url);
    wait_for_phase(&api, "albums", Phase::Healthy).await;

    // Revision 2 previews: one pod behind albums-preview; albums still selects revision 1.
    patch(
        &api,
        json!({"release": {"config": {"pagination": {"default_limit": 33}}}}),
    )
    .await;
    let s = wait(&api, "waits for promote", |s| {
        s.phase == Some(Phase::Paused)
    })
    .await;
    assert_eq!(
        (s.current_revision, s.stable_revision, s.step),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        s.traffic.and_then(|t| t.preview_service).as_deref(),
        Some("albums-preview")
    );
    assert_eq!(selects(&fake, "albums").await.as_deref(), Some("1"));
    assert_eq!(selects(&fake, "albums-preview").await.as_deref(), Some("2"));
    let replicas: Vec<i32> = deployments(&fake).await.iter().map(|d| d.1).collect();
    assert_eq!(
        replicas.iter().sum::<i32>(),
        3,
        "2 stable + 1 preview: {replicas:?}"
    );

    // Promoted: grows to 2, flips, passes its analysis; revision 1 stays warm.
    patch(&api, json!({"promote": "p1"})).await;
    let s = wait(&api, "completes", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    assert_eq!((s.serving_revision, s.warm_revision), (Some(2), Some(1)));
    assert_eq!(selects(&fake, "albums").await.as_deref(), Some("2"));

    // Undo within the warm window: the Service flips back, no Deployment is written.
    let before = deployments(&fake).await;
    patch(&api, json!({"rollbackTo": {"revision": 1}})).await;
    wait(&api, "undone", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(1)
    })
    .await;
    assert_eq!(selects(&fake, "albums").await.as_deref(), Some("1"));
    assert_eq!(deployments(&fake).await, before, "no Deployment write");

    // Revision 3 is promoted and fails its post-promotion analysis: flipped back to 1.
    failing.store(true, Ordering::SeqCst);
    patch(
        &api,
        json!({"release": {"config": {"pagination": {"default_limit": 44}}}}),
    )
    .await;
    wait(&api, "previews 3", |s| {
        s.phase == Some(Phase::Paused) && s.current_revision == Some(3)
    })
    .await;
    patch(&api, json!({"promote": "p2"})).await;
    let s = wait(&api, "rolls back", |s| s.phase == Some(Phase::RolledBack)).await;
    assert!(
        s.abort_reason
            .as_deref()
            .is_some_and(|r| r.contains("analysis failed at promoted")),
        "{:?}",
        s.abort_reason
    );
    assert_eq!(selects(&fake, "albums").await.as_deref(), Some("1"));
    assert_eq!(selects(&fake, "albums-preview").await.as_deref(), Some("3"));

    // Back to a rolling strategy: the preview Service goes, the main one stays.
    patch(
        &api,
        json!({"rollout": {"strategy": "Rolling", "blueGreen": null}}),
    )
    .await;
    for _ in 0..100 {
        if selects(&fake, "albums-preview").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        selects(&fake, "albums-preview").await,
        None,
        "albums-preview deleted"
    );
    assert_eq!(selects(&fake, "albums").await.as_deref(), Some("1"));
}
