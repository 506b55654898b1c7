//! Rollout scenarios against a mocked API server: the exact calls of a config change and of a
//! crash-looping canary. The cluster a scenario starts from is produced by the pure plan and
//! rendered as the API server would return it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixture helpers

mod common;
mod mock;

use std::sync::Arc;

use http::{Method, StatusCode};
use lockstep_crd::AlbumService;
use lockstep_operator::controller::reconcile;
use lockstep_operator::model::apply_to_model;
use lockstep_operator::plan::{Cluster, plan};
use lockstep_operator::resources;
use lockstep_operator::service::ServiceRef;
use mock::{Handle, context, created, expect, expect_observe};
use serde_json::{Value, json};

const NS: &str = "/namespaces/shop";
const NOW: i64 = 1_800_000_000;

/// Runs the pure plan until nothing changes, with every pod ready.
fn settle(svc: &mut AlbumService, cluster: &mut Cluster) {
    for _ in 0..5 {
        for action in plan(svc, cluster, NOW, None).actions {
            apply_to_model(svc, cluster, &action, true);
        }
    }
}

/// The cluster's objects as the API server returns them.
fn rendered(svc: &AlbumService, cluster: &Cluster) -> (Vec<Value>, Vec<Value>, Value) {
    let sref = ServiceRef::of(svc).unwrap();
    let revisions = cluster
        .revisions
        .iter()
        .map(|r| serde_json::to_value(resources::controller_revision(&sref, r)).unwrap())
        .collect();
    let deployments = cluster
        .deployments
        .iter()
        .map(|(n, d)| {
            let rev = cluster.revisions.iter().find(|r| r.number == *n).unwrap();
            let mut v =
                serde_json::to_value(resources::deployment(&sref, rev, d.replicas, None, 0))
                    .unwrap();
            v["status"] = json!({"replicas": d.replicas, "readyReplicas": d.ready});
            v
        })
        .collect();
    let service =
        serde_json::to_value(resources::service(&sref, cluster.service_routes.flatten())).unwrap();
    (revisions, deployments, service)
}

/// The status the API server holds after the status PATCH `request` (RFC 7386 on `before`).
fn server_status(mut before: Value, request: &Value) -> Value {
    lockstep_operator::merge::apply(&mut before, &request["status"]);
    before
}

#[allow(clippy::needless_pass_by_value)] // the reply signature `expect` takes
fn echo_status(b: Value) -> Value {
    let mut svc = serde_json::to_value(common::album()).unwrap();
    svc["status"] = b["status"].clone();
    svc
}

async fn expect_event(handle: &mut Handle, reason: &str) {
    let event = expect(
        handle,
        Method::POST,
        &format!("/apis/events.k8s.io/v1{NS}/events"),
        StatusCode::CREATED,
        created,
    )
    .await;
    assert_eq!(event["reason"], reason);
}

/// The Service apply, routing to `revision` alone or (`None`) to every revision.
async fn expect_service(handle: &mut Handle, revision: Option<&str>) {
    let service = expect(
        handle,
        Method::PATCH,
        &format!("/api/v1{NS}/services/albums"),
        StatusCode::OK,
        |b| b,
    )
    .await;
    let selector = &service["spec"]["selector"];
    assert_eq!(selector["lockstep.dev/service"], "albums");
    assert_eq!(
        selector["lockstep.dev/revision"].as_str(),
        revision,
        "{selector}"
    );
}

#[tokio::test]
async fn a_config_change_creates_a_new_revision_and_starts_the_canary() {
    let (client, mut handle) = mock::client("shop");
    let mut svc = common::album();
    let mut cluster = Cluster::default();
    settle(&mut svc, &mut cluster);
    let (revisions, deployments, service) = rendered(&svc, &cluster);
    let stable = deployments[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    svc.spec.release.config.pagination.default_limit = 50;
    svc.metadata.generation = Some(2);
    let before = serde_json::to_value(&svc.status).unwrap();
    let reconciler = tokio::spawn(reconcile(Arc::new(svc), context(client)));

    expect_observe(&mut handle, revisions, deployments, vec![], Some(service)).await;
    let cr = expect(
        &mut handle,
        Method::POST,
        &format!("/apis/apps/v1{NS}/controllerrevisions"),
        StatusCode::CREATED,
        created,
    )
    .await;
    assert_eq!(cr["revision"], 2);
    let config = cr["data"]["content"]["config"].as_str().unwrap();
    assert!(config.contains("default_limit: 50"), "{config}");
    let canary = cr["metadata"]["name"].as_str().unwrap().to_owned();
    assert_ne!(canary, stable);
    let cm = expect(
        &mut handle,
        Method::POST,
        &format!("/api/v1{NS}/configmaps"),
        StatusCode::CREATED,
        created,
    )
    .await;
    assert!(
        cm["data"]["config.yaml"]
            .as_str()
            .unwrap()
            .contains("default_limit: 50")
    );
    // Step 1 of the example is setWeight 25: one of four pods runs the new revision.
    let mut scaled = Vec::new();
    for _ in 0..2 {
        let (request, send) = handle.next_request().await.expect("a Deployment apply");
        assert_eq!(request.method(), Method::PATCH);
        let name = request.uri().path().rsplit('/').next().unwrap().to_owned();
        let body: Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
        scaled.push((name, body["spec"]["replicas"].as_i64().unwrap()));
        send.send_response(
            http::Response::builder()
                .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
    }
    scaled.sort();
    let mut want = vec![(stable, 3), (canary, 1)];
    want.sort();
    assert_eq!(scaled, want);
    // The canary splits traffic by ready pods: the Service selects every revision again.
    expect_service(&mut handle, None).await;
    expect_event(&mut handle, "RolloutStarted").await;
    let status = expect(
        &mut handle,
        Method::PATCH,
        &format!("/apis/lockstep.dev/v1alpha1{NS}/albumservices/albums/status"),
        StatusCode::OK,
        echo_status,
    )
    .await;
    // A merge patch names only what changes; the server keeps the rest.
    assert!(status["status"].get("stableRevision").is_none(), "{status}");
    let after = server_status(before, &status);
    assert_eq!(after["currentRevision"], 2);
    assert_eq!(after["stableRevision"], 1);
    assert_eq!(after["phase"], "Progressing");
    reconciler.await.unwrap().expect("reconcile succeeds");
}

#[tokio::test]
async fn a_crash_looping_canary_is_rolled_back_to_stable() {
    let (client, mut handle) = mock::client("shop");
    let mut svc = common::album();
    let mut cluster = Cluster::default();
    settle(&mut svc, &mut cluster);
    svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:1.5.0-broken".into();
    svc.metadata.generation = Some(2);
    // The canary step is planned and applied: revision 2 runs one pod, which is not ready.
    for action in plan(&svc, &cluster, NOW, None).actions {
        apply_to_model(&mut svc, &mut cluster, &action, false);
    }
    assert_eq!(cluster.deployments[&2].replicas, 1);
    let (revisions, deployments, service) = rendered(&svc, &cluster);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "albums-canary-x1", "labels": {
            "lockstep.dev/service": "albums", "lockstep.dev/revision": "2"}},
        "status": {"containerStatuses": [{
            "name": "album", "image": "x", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    });
    let canary = deployments[1]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let stable = deployments[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = serde_json::to_value(&svc.status).unwrap();
    let reconciler = tokio::spawn(reconcile(Arc::new(svc), context(client)));

    expect_observe(
        &mut handle,
        revisions,
        deployments,
        vec![pod],
        Some(service),
    )
    .await;
    let restored = expect(
        &mut handle,
        Method::PATCH,
        &format!("/apis/apps/v1{NS}/deployments/{stable}"),
        StatusCode::OK,
        |b| b,
    )
    .await;
    assert_eq!(restored["spec"]["replicas"], 4, "stable back to full size");
    expect(
        &mut handle,
        Method::DELETE,
        &format!("/apis/apps/v1{NS}/deployments/{canary}"),
        StatusCode::OK,
        |_| json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    )
    .await;
    // Back at rest: the stable revision serves alone.
    expect_service(&mut handle, Some("1")).await;
    expect_event(&mut handle, "RolledBack").await;
    let status = expect(
        &mut handle,
        Method::PATCH,
        &format!("/apis/lockstep.dev/v1alpha1{NS}/albumservices/albums/status"),
        StatusCode::OK,
        echo_status,
    )
    .await;
    let after = server_status(before, &status);
    assert_eq!(after["phase"], "RolledBack");
    assert_eq!(after["abortedRevision"], 2);
    assert!(
        after.get("step").is_none() && after.get("stepStartedAt").is_none(),
        "the rolled-back canary's step stays on the server: {after}"
    );
    let message = after["message"].as_str().unwrap();
    assert!(message.contains("CrashLoopBackOff"), "{message}");
    reconciler.await.unwrap().expect("reconcile succeeds");
}
