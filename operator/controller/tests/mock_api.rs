//! The controller against a mocked API server (tower-test): the exact calls a reconcile makes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixture helpers

mod common;
mod mock;

use std::sync::Arc;

use http::{Method, StatusCode};
use lockstep_operator::controller::reconcile;
use mock::{context, created, expect, expect_observe};
use serde_json::json;

#[tokio::test]
async fn first_reconcile_creates_revision_configmap_deployment_and_service() {
    let (client, mut handle) = mock::client("shop");
    let mut svc = common::album();
    svc.metadata.name = Some("albums".into());
    let ctx = context(client);
    let reconciler = tokio::spawn(reconcile(Arc::new(svc), ctx));

    expect_observe(&mut handle, vec![], vec![], vec![], None).await;

    let cr = expect(
        &mut handle,
        Method::POST,
        "/apis/apps/v1/namespaces/shop/controllerrevisions",
        StatusCode::CREATED,
        created,
    )
    .await;
    assert_eq!(cr["revision"], 1);
    let cr_name = cr["metadata"]["name"].as_str().unwrap().to_string();
    assert!(cr_name.starts_with("albums-"));
    let cm = expect(
        &mut handle,
        Method::POST,
        "/api/v1/namespaces/shop/configmaps",
        StatusCode::CREATED,
        created,
    )
    .await;
    assert_eq!(cm["immutable"], true);
    assert_eq!(
        cm["metadata"]["ownerReferences"][0]["kind"],
        "ControllerRevision"
    );
    assert_eq!(
        cm["metadata"]["ownerReferences"][0]["uid"], "uid-created",
        "owned by the revision just created"
    );

    let deployment_path = format!("/apis/apps/v1/namespaces/shop/deployments/{cr_name}");
    let d = expect(
        &mut handle,
        Method::PATCH,
        &deployment_path,
        StatusCode::OK,
        created,
    )
    .await;
    assert_eq!(
        d["spec"]["replicas"], 4,
        "a first deploy goes straight to full size"
    );
    let s = expect(
        &mut handle,
        Method::PATCH,
        "/api/v1/namespaces/shop/services/albums",
        StatusCode::OK,
        created,
    )
    .await;
    assert_eq!(s["spec"]["selector"]["lockstep.dev/service"], "albums");
    let event = expect(
        &mut handle,
        Method::POST,
        "/apis/events.k8s.io/v1/namespaces/shop/events",
        StatusCode::CREATED,
        created,
    )
    .await;
    assert_eq!(event["reason"], "RolloutStarted");
    let status = expect(
        &mut handle,
        Method::PATCH,
        "/apis/lockstep.dev/v1alpha1/namespaces/shop/albumservices/albums/status",
        StatusCode::OK,
        |b| {
            let mut svc = serde_json::to_value(common::album()).unwrap();
            svc["status"] = b["status"].clone();
            svc
        },
    )
    .await;
    assert_eq!(status["status"]["phase"], "Progressing");
    assert_eq!(status["status"]["currentRevision"], 1);

    let action = reconciler.await.unwrap().expect("reconcile succeeds");
    assert_ne!(action, kube::runtime::controller::Action::await_change());
}

#[tokio::test]
async fn steady_state_reconcile_only_reads() {
    let (client, mut handle) = mock::client("shop");
    // The cluster after a completed first rollout, reproduced through the pure plan.
    let mut svc = common::album();
    let mut cluster = lockstep_operator::plan::Cluster::default();
    for _ in 0..3 {
        let plan = lockstep_operator::plan::plan(&svc, &cluster, 1_800_000_000, None);
        for action in &plan.actions {
            lockstep_operator::model::apply_to_model(&mut svc, &mut cluster, action, true);
        }
    }
    let sref = lockstep_operator::service::ServiceRef::of(&svc).unwrap();
    let rev = cluster.revisions[0].clone();
    let cr = lockstep_operator::resources::controller_revision(&sref, &rev);
    let mut deployment = serde_json::to_value(lockstep_operator::resources::deployment(
        &sref, &rev, 4, None, 0,
    ))
    .unwrap();
    deployment["status"] = json!({"replicas": 4, "readyReplicas": 4});
    let service = serde_json::to_value(lockstep_operator::resources::service(
        &sref,
        cluster.service_routes.flatten(),
    ))
    .unwrap();
    let ctx = context(client);
    let reconciler = tokio::spawn(reconcile(Arc::new(svc), ctx));

    let cr = serde_json::to_value(cr).unwrap();
    expect_observe(
        &mut handle,
        vec![cr],
        vec![deployment],
        vec![],
        Some(service),
    )
    .await;
    // A write would wait forever for an answer; the reconcile must finish on reads alone.
    tokio::time::timeout(std::time::Duration::from_secs(5), reconciler)
        .await
        .expect("steady-state reconcile tried to write")
        .unwrap()
        .expect("reconcile succeeds");
    assert!(handle.next_request().await.is_none(), "no further call");
}
