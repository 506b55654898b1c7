//! The fake API server's watches, played kubelet and injected faults, through a real
//! `kube::Client`. Each test names the convention it follows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use lockstep_fake_api::{Collection, FakeApi, Refusal, store::ApiError};
use serde_json::json;
use support::{cm, code, deployment, setup};

/// API Concepts, "Efficient detection of changes": a watch from a resourceVersion sees every
/// later change in order; one from a compacted version gets 410 Expired; bookmarks (kube asks
/// for them by default) carry the current resourceVersion.
#[tokio::test]
async fn watches_resume_expire_and_bookmark() {
    let (fake, cms, _) = setup().await;
    let listed = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default().timeout(10).disable_bookmarks(),
            &listed,
        )
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("w", json!({}), json!({})))
        .await
        .unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => seen.push("ADDED"),
            WatchEvent::Modified(_) => seen.push("MODIFIED"),
            WatchEvent::Deleted(_) => seen.push("DELETED"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);
    fake.store().compact();
    let mut old = cms
        .watch(&WatchParams::default(), &listed)
        .await
        .unwrap()
        .boxed();
    match old.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
    let now = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut marks = cms
        .watch(&WatchParams::default(), &now)
        .await
        .unwrap()
        .boxed();
    match marks.try_next().await.unwrap().unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, now),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

/// Faults: injected refusals (a ResourceQuota-like 403), request counters by verb.
#[tokio::test]
async fn refusals_and_counters() {
    let (fake, cms, _) = setup().await;
    fake.refuse(Refusal {
        verb: Some("create"),
        resource: Some("configmaps".into()),
        error: ApiError::new(403, "Forbidden", "exceeded quota: configmaps"),
        times: 1,
    });
    let err = cms
        .create(&PostParams::default(), &cm("q", json!({}), json!({})))
        .await
        .unwrap_err();
    assert_eq!(code(err), (403, "Forbidden".into()));
    cms.create(&PostParams::default(), &cm("q", json!({}), json!({})))
        .await
        .unwrap();
    cms.get("q").await.unwrap();
    let counters = fake.counters();
    assert_eq!(counters.by_verb[&("create".into(), "configmaps".into())], 2);
    assert_eq!(counters.by_verb[&("get".into(), "configmaps".into())], 1);
    assert_eq!(counters.writes(), 2);
    let raw = fake.insert_raw(&Collection { prefix: "/api/v1".into(), resource: "configmaps".into() }, "shop",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"n": 1}}));
    assert_eq!(
        raw["data"]["n"], 1,
        "stored as is, even where a typed client cannot decode it"
    );
    assert!(
        cms.get("raw").await.is_err(),
        "a number in ConfigMap data does not decode"
    );
}

/// The played kubelet (`Store::deployments_ready`): pods that mount a missing ConfigMap are not
/// ready (they would wait in ContainerCreating); creating the ConfigMap makes them ready.
#[tokio::test]
async fn played_kubelet_waits_for_mounted_config_maps() {
    let mut store = lockstep_fake_api::Store::default();
    store.deployments_ready = true;
    let fake = FakeApi::start_with(store, Duration::from_millis(100))
        .await
        .unwrap();
    let client = fake.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let deps: Api<Deployment> = Api::namespaced(client, "shop");
    let mut d = deployment("d", 3);
    let spec = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.volumes = Some(vec![
        serde_json::from_value(json!({"name": "config", "configMap": {"name": "cfg"}})).unwrap(),
    ]);
    let made = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(made.status.unwrap().ready_replicas, Some(0));
    cms.create(&PostParams::default(), &cm("cfg", json!({}), json!({})))
        .await
        .unwrap();
    assert_eq!(
        deps.get("d").await.unwrap().status.unwrap().ready_replicas,
        Some(3)
    );
}
