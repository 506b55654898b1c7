//! Revisions over a service's life, through the real controller on the fake API server (merged
//! status and spec patches, CRD admission, ownerReference garbage collection): scaling makes no
//! revision and a config change does; history is pruned to the limit with its ConfigMaps, the
//! serving revision kept; `rollbackTo` restores image, config and pod fields and reuses the kept
//! revision; `rollbackTo` a revision that is not kept is cleared with a Warning; the scale
//! subresource's `status.replicas` never counts the warm previous revision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;

use fake_support::{Operator, create_rolling, fake, until, until_stable, wait_for_phase};
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use lockstep_crd::AlbumService;
use lockstep_crd::status::Phase;
use lockstep_fake_api::FakeApi;
use serde_json::json;

async fn patch(api: &Api<AlbumService>, spec: serde_json::Value) {
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
    .unwrap();
}

/// Waits until `albums` is Healthy on revision `n`.
async fn stable_on(api: &Api<AlbumService>, n: i64) -> AlbumService {
    until_stable(api, n).await.0
}

/// The numbers of the kept ControllerRevisions, ascending.
async fn revision_numbers(fake: &FakeApi) -> Vec<i64> {
    let api: Api<ControllerRevision> = Api::namespaced(fake.client(), "shop");
    let mut numbers: Vec<i64> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.revision)
        .collect();
    numbers.sort_unstable();
    numbers
}

async fn config_maps(fake: &FakeApi) -> usize {
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    api.list(&ListParams::default()).await.unwrap().items.len()
}

/// `(revision, replicas)` of every Deployment, ascending.
async fn deployments(fake: &FakeApi) -> Vec<(String, i32)> {
    let api: Api<Deployment> = Api::namespaced(fake.client(), "shop");
    let mut out: Vec<(String, i32)> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| {
            (
                d.metadata.labels.as_ref().unwrap()["lockstep.dev/revision"].clone(),
                d.spec.as_ref().unwrap().replicas.unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn healthy() -> (FakeApi, Api<AlbumService>, Operator) {
    let fake = fake().await;
    let api = create_rolling(&fake, "albums").await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    (fake, api, operator)
}

#[tokio::test]
async fn scaling_makes_no_revision_and_a_config_change_does() {
    let (fake, api, operator) = healthy().await;
    patch(&api, json!({"replicas": 6})).await;
    until("revision 1 at 6 replicas", || async {
        deployments(&fake).await == [("1".to_owned(), 6)]
    })
    .await;
    assert_eq!(revision_numbers(&fake).await, [1], "scaling is no revision");

    patch(
        &api,
        json!({"release": {"config": {"pagination": {"max_limit": 300}}}}),
    )
    .await;
    let svc = stable_on(&api, 2).await;
    assert_eq!(revision_numbers(&fake).await, [1, 2]);
    assert_eq!(config_maps(&fake).await, 2, "one immutable ConfigMap each");
    // Revision 1 stays warm at full size for scaleDownDelaySeconds (60 by default).
    assert_eq!(
        deployments(&fake).await,
        [("1".to_owned(), 6), ("2".to_owned(), 6)]
    );
    let status = svc.status.unwrap();
    assert_eq!(status.warm_revision, Some(1));
    assert_eq!(
        status.replicas, 6,
        "the scale subresource counts the desired pods, not the warm revision's"
    );
    operator.stop().await;
}

#[tokio::test]
async fn history_is_pruned_to_the_limit_with_its_config_maps() {
    let fake = fake().await;
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = fake_support::rolling("albums", "shop");
    svc.spec.revision_history_limit = 2;
    svc.spec.rollout.scale_down_delay_seconds = 0;
    api.create(&Default::default(), &svc).await.unwrap();
    let operator = Operator::start(&fake);
    stable_on(&api, 1).await;
    for n in 2..=4 {
        patch(
            &api,
            json!({"release": {"config": {"server": {"request_timeout_ms": 1000 + n}}}}),
        )
        .await;
        stable_on(&api, n).await;
    }
    until("history pruned to 2", || async {
        revision_numbers(&fake).await == [3, 4]
    })
    .await;
    // The pruned revisions' ConfigMaps went with them (their owner is the ControllerRevision).
    until("ConfigMaps of pruned revisions collected", || async {
        config_maps(&fake).await == 2
    })
    .await;
    assert_eq!(deployments(&fake).await, [("4".to_owned(), 4)]);
    operator.stop().await;
}

#[tokio::test]
async fn rollback_to_restores_release_and_pod_fields_and_reuses_the_revision() {
    let (fake, api, operator) = healthy().await;
    let v1 = api.get("albums").await.unwrap().spec;
    // Revision 2 changes image and config and adds pod fields revision 1 does not have.
    patch(
        &api,
        json!({
            "release": {"image": "ghcr.io/lockstep-dev/album-service:2.0.0",
                        "config": {"log": {"level": "debug"}}},
            "pod": {"env": [{"name": "EXTRA", "secretKeyRef": {"name": "s", "key": "k"}}],
                    "resources": {"limits": {"cpu": "2"}}}
        }),
    )
    .await;
    stable_on(&api, 2).await;

    patch(&api, json!({"rollbackTo": {"revision": 1}})).await;
    let svc = stable_on(&api, 1).await;
    assert_eq!(svc.spec.release, v1.release, "image and config both return");
    assert_eq!(svc.spec.pod, v1.pod, "pod fields added later are removed");
    assert_eq!(svc.spec.rollback_to, None, "the request is consumed");
    assert_eq!(revision_numbers(&fake).await, [1, 2], "revision 1 reused");
    let status = svc.status.unwrap();
    assert_eq!(status.warm_revision, Some(2), "and revision 2 stays warm");
    operator.stop().await;
}

#[tokio::test]
async fn rollback_to_a_revision_not_kept_is_cleared_with_a_warning() {
    let (fake, api, operator) = healthy().await;
    patch(&api, json!({"rollbackTo": {"revision": 9}})).await;
    until("rollbackTo cleared from the spec", || async {
        api.get("albums").await.unwrap().spec.rollback_to.is_none()
    })
    .await;
    let events: Api<Event> = Api::namespaced(fake.client(), "shop");
    let refused = || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("RollbackRefused"))
    };
    until("a RollbackRefused Warning", || async {
        refused().await.is_some()
    })
    .await;
    let warning = refused().await;
    let warning = warning.unwrap();
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    assert!(note.contains("revision 9 is not kept (kept: 1)"), "{note}");

    let svc = wait_for_phase(&api, "albums", Phase::Healthy).await;
    let condition = svc
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "RollbackRefused")
        .expect("a RollbackRefused condition");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "RevisionNotKept")
    );
    assert!(
        condition.message.contains("kept: 1"),
        "{}",
        condition.message
    );

    // The next rollout clears the refusal.
    patch(
        &api,
        json!({"release": {"image": "ghcr.io/lockstep-dev/album-service:2.0.0"}}),
    )
    .await;
    let svc = stable_on(&api, 2).await;
    assert!(
        !svc.status
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.type_ == "RollbackRefused"),
        "cleared when the next rollout starts"
    );
    operator.stop().await;
}

/// The Service's ports follow the spec: turning gRPC on rolls out a revision whose pods name the
/// port and adds the Service's `grpc` port; turning it off removes it again.
#[tokio::test]
async fn grpc_is_exposed_when_the_config_serves_it_and_removed_when_not() {
    use k8s_openapi::api::core::v1::Service;
    let (fake, api, operator) = healthy().await;
    let services: Api<Service> = Api::namespaced(fake.client(), "shop");
    let port_names = || async {
        let s = services.get("albums").await.unwrap();
        s.spec
            .unwrap()
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap_or_default(), p.port))
            .collect::<Vec<_>>()
    };
    assert_eq!(port_names().await, [("http".to_owned(), 80)]);

    patch(
        &api,
        json!({"release": {"config": {"grpc": {"port": 9090}}}}),
    )
    .await;
    stable_on(&api, 2).await;
    assert_eq!(
        port_names().await,
        [("http".to_owned(), 80), ("grpc".to_owned(), 9090)]
    );
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "shop");
    let revision_2 = deployments
        .list(&ListParams::default().labels("lockstep.dev/revision=2"))
        .await
        .unwrap()
        .items
        .remove(0);
    let container_ports: Vec<(String, i32)> =
        revision_2.spec.unwrap().template.spec.unwrap().containers[0]
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap_or_default(), p.container_port))
            .collect();
    assert_eq!(
        container_ports,
        [("http".to_owned(), 8080), ("grpc".to_owned(), 9090)]
    );

    // Someone drops the Service's grpc port by hand: it is drift, repaired.
    let only_http =
        json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    services
        .patch("albums", &PatchParams::default(), &Patch::Merge(&only_http))
        .await
        .unwrap();
    until("the grpc port restored", || async {
        port_names().await.len() == 2
    })
    .await;

    patch(
        &api,
        json!({"release": {"config": {"grpc": {"port": null}}}}),
    )
    .await;
    until("the grpc port removed from the Service", || async {
        port_names().await == [("http".to_owned(), 80)]
    })
    .await;
    operator.stop().await;
}
