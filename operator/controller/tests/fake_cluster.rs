//! The real controllers (watchers, reflectors, reconciles, events) against the faithful fake
//! API server of `lockstep-fake-api`: what happens on a real API server, where status is merged,
//! objects the operator cannot decode exist, and restarts relist everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;

use std::time::{Duration, Instant};

use fake_support::{
    Operator, albums, create_canary, create_rolling, fake, rolling, wait_for_phase,
};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::spec::Step;
use lockstep_crd::status::Phase;
use lockstep_fake_api::{ApiError, Refusal};
use serde_json::json;

/// One AlbumService the API server accepted but the operator cannot decode (a pause duration
/// "soon") must not stop the others, in its namespace or any other, from being reconciled; it
/// gets a Warning event.
#[tokio::test]
async fn an_undecodable_service_does_not_stop_the_others() {
    let fake = fake().await;
    let mut bad = serde_json::to_value(rolling("broken", "shop")).unwrap();
    bad["spec"]["rollout"] = json!({"strategy": "Canary",
        "steps": [{"setWeight": 50}, {"pause": {"duration": "soon"}}]});
    assert!(
        serde_json::from_value::<AlbumService>(bad.clone()).is_err(),
        "the premise: this object does not decode"
    );
    fake.insert_raw(&albums(), "shop", bad);
    let client = fake.client();
    for (name, ns) in [("albums-a", "shop"), ("albums-b", "other")] {
        Api::<AlbumService>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &rolling(name, ns))
            .await
            .unwrap();
    }
    let operator = Operator::start(&fake);
    wait_for_phase(
        &Api::namespaced(client.clone(), "shop"),
        "albums-a",
        Phase::Healthy,
    )
    .await;
    wait_for_phase(
        &Api::namespaced(client.clone(), "other"),
        "albums-b",
        Phase::Healthy,
    )
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    let mut warned = false;
    for _ in 0..50 {
        warned = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Undecodable")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
            });
        if warned {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(warned, "no Undecodable warning event on the broken service");
    operator.stop().await;
}

/// A Healthy service after a completed canary: a restarted operator (which relists and
/// reconciles everything) and a metadata-only edit make zero writes — on a server that merges
/// status patches, so a cleared field left behind would be re-sent every time.
#[tokio::test]
async fn a_healthy_service_gets_zero_writes_after_a_restart_and_an_annotation() {
    let fake = fake().await;
    let client = fake.client();
    let api = create_canary(
        &fake,
        vec![Step {
            set_weight: Some(50),
            pause: None,
            ..Step::default()
        }],
    )
    .await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    // A config change: revision 2 walks the canary step, then completes.
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"release": {"config": {"pagination": {"default_limit": 33}}}}}),
        ),
    )
    .await
    .unwrap();
    for _ in 0..300 {
        let now = api.get("albums").await.unwrap();
        let status = now.status.unwrap_or_default();
        if status.stable_revision == Some(2) && status.phase == Some(Phase::Healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healthy = wait_for_phase(&api, "albums", Phase::Healthy).await;
    let status = healthy.status.unwrap();
    assert_eq!(status.stable_revision, Some(2), "{status:?}");
    assert_eq!(
        (status.step, status.step_started_at, status.analysis_passes),
        (None, None, None),
        "the server still holds the finished canary's step fields"
    );
    // Each completion has its own event with its own text (kube-runtime's Recorder showed the
    // first completion's note for the second).
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    let completed: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RolloutCompleted"))
        .filter_map(|e| e.note)
        .collect();
    assert!(
        completed
            .iter()
            .any(|n| n.starts_with("revision 1 is stable"))
            && completed
                .iter()
                .any(|n| n.starts_with("revision 2 is stable")),
        "{completed:?}"
    );
    operator.stop().await;

    fake.reset_counters();
    let operator = Operator::start(&fake);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_restart = fake.counters();
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"team": "catalogue"}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total = fake.counters();
    operator.stop().await;
    assert_eq!(
        after_restart.writes(),
        0,
        "writes after the restart: {after_restart:?}"
    );
    assert_eq!(
        total.writes(),
        1,
        "only the test's own annotation may write: {total:?}"
    );
    assert!(
        total.by_verb.keys().any(|(verb, _)| verb == "watch"),
        "the operator was not watching: {total:?}"
    );
}

/// A ConfigMap create refused by a quota, the way a ResourceQuota refuses it: the revision's
/// ControllerRevision exists, its ConfigMap does not. The refusal is shown (Warning event and
/// status message with the server's words), retried with backoff, and once the quota allows
/// it the ConfigMap is created and the service becomes Healthy (before, the ConfigMap was never
/// created again and the pods waited in ContainerCreating).
#[tokio::test]
async fn a_refused_config_map_is_reported_and_created_once_allowed() {
    let fake = fake().await;
    fake.refuse(Refusal {
        verb: Some("create"),
        resource: Some("configmaps".into()),
        error: ApiError::new(
            403,
            "Forbidden",
            "configmaps \"albums-cfg\" is forbidden: exceeded quota: team-quota, requested: configmaps=1, used: configmaps=10, limited: configmaps=10",
        ),
        times: 3,
    });
    let client = fake.client();
    let api = create_rolling(&fake, "albums").await;
    let operator = Operator::start(&fake);
    let mut reported = None;
    for _ in 0..100 {
        let message = api
            .get("albums")
            .await
            .unwrap()
            .status
            .and_then(|s| s.message)
            .unwrap_or_default();
        if message.contains("exceeded quota") {
            reported = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reported = reported.expect("the status never named the refusal");
    assert!(reported.contains("403 Forbidden"), "{reported}");
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    let refused = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("WriteRefused"));
    let note = refused.and_then(|e| e.note).unwrap_or_default();
    assert!(
        note.contains("exceeded quota"),
        "no WriteRefused event with the server's message: {note:?}"
    );
    let config_maps = fake.counters().by_verb[&("create".to_owned(), "configmaps".to_owned())];
    assert_eq!(
        config_maps, 4,
        "three refused creates, then one that worked"
    );
    operator.stop().await;
}

/// A canary whose pod crash-loops is rolled back as soon as the pod's status says so: the
/// operator watches the services' pods. Before, pods were only read when something else caused
/// a reconcile, so a canary paused at a step (no requeue) waited for the progress deadline.
#[tokio::test]
async fn a_crash_looping_canary_is_rolled_back_within_seconds() {
    use k8s_openapi::api::core::v1::Pod;
    let fake = fake().await;
    let client = fake.client();
    let api = create_canary(
        &fake,
        vec![
            Step {
                set_weight: Some(50),
                pause: None,
                ..Step::default()
            },
            Step {
                set_weight: None,
                pause: Some(Default::default()),
                ..Step::default()
            },
        ],
    )
    .await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"release": {"image": "ghcr.io/lockstep-dev/album-service:9.9.9"}}}),
        ),
    )
    .await
    .unwrap();
    let paused = wait_for_phase(&api, "albums", Phase::Paused).await;
    assert_eq!(paused.status.unwrap().current_revision, Some(2));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "albums-canary-0", "labels": {"lockstep.dev/service": "albums",
            "app.kubernetes.io/name": "album", "lockstep.dev/revision": "2"}},
        "spec": {"containers": [{"name": "album", "image": "ghcr.io/lockstep-dev/album-service:9.9.9"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let failing = Instant::now();
    pods.patch_status(
        "albums-canary-0",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"containerStatuses": [{"name": "album", "image": "x",
            "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
        ),
    )
    .await
    .unwrap();
    let rolled_back = wait_for_phase(&api, "albums", Phase::RolledBack).await;
    let took = failing.elapsed();
    let status = rolled_back.status.unwrap();
    assert_eq!(
        (status.stable_revision, status.aborted_revision),
        (Some(1), Some(2))
    );
    assert!(
        status
            .abort_reason
            .unwrap_or_default()
            .contains("CrashLoopBackOff"),
        "reason"
    );
    assert!(
        took <= Duration::from_secs(2),
        "rolled back {took:?} after the pod failed"
    );
    println!("first failing pod status -> RolledBack: {took:?}");
    operator.stop().await;
}

/// The first reconcile of a new service makes its revision whole: a ControllerRevision, the
/// immutable ConfigMap owned by it (so pruning the revision collects the file), one Deployment
/// mounting that ConfigMap, and the Service — all labelled with the service, which is what
/// the operator's caches select.
#[tokio::test]
async fn a_new_service_gets_its_revision_config_map_deployment_and_service() {
    use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    let fake = fake().await;
    let client = fake.client();
    let api = create_rolling(&fake, "albums").await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    operator.stop().await;
    let selector = ListParams::default().labels("lockstep.dev/service=albums");
    let revisions = Api::<ControllerRevision>::namespaced(client.clone(), "shop")
        .list(&selector)
        .await
        .unwrap()
        .items;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .list(&selector)
        .await
        .unwrap()
        .items;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "shop")
        .list(&selector)
        .await
        .unwrap()
        .items;
    assert_eq!(
        (revisions.len(), config_maps.len(), deployments.len()),
        (1, 1, 1)
    );
    let owner = &config_maps[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(&owner.uid)),
        ("ControllerRevision", revisions[0].metadata.uid.as_ref())
    );
    assert_eq!(config_maps[0].immutable, Some(true));
    let volumes = deployments[0]
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.volumes.clone())
        .unwrap();
    assert!(
        volumes.iter().any(
            |v| v.config_map.as_ref().map(|c| &c.name) == config_maps[0].metadata.name.as_ref()
        ),
        "the Deployment mounts the revision's ConfigMap: {volumes:?}"
    );
    let service = Api::<Service>::namespaced(client, "shop")
        .get("albums")
        .await
        .unwrap();
    let selector = service.spec.unwrap().selector.unwrap();
    assert_eq!(selector["lockstep.dev/service"], "albums");
}
