//! `rollout.minReadySeconds`: rendered on every revision's Deployment, read back for drift, and a
//! pod counts towards a step only once the Deployment controller reports it available (ready
//! that long), so a pod that is ready for a moment and then crashes does not advance a canary.
#![allow(clippy::unwrap_used)]

mod common;

use common::album;
use k8s_openapi::api::apps::v1::DeploymentStatus;
use lockstep_operator::core::pods::counted as counted_pods;
use lockstep_operator::core::render;
use lockstep_operator::kinds::revision::Revision;
use lockstep_operator::kinds::{LockstepService, ServiceRef};

fn rendered(min_ready_seconds: u32) -> (Revision, k8s_openapi::api::apps::v1::Deployment) {
    let svc = album();
    let content = svc.content().unwrap();
    let rev = Revision {
        number: 2,
        hash: content.hash(),
        content,
        cause: "spec change".into(),
        created: "2026-11-22T00:00:00Z".into(),
    };
    let sref = ServiceRef::of(&svc).unwrap();
    let d = render::deployment(&sref, &rev, 4, None, min_ready_seconds);
    (rev, d)
}

#[test]
fn the_deployment_carries_it_and_drift_sees_it() {
    let (rev, d) = rendered(30);
    assert_eq!(d.spec.as_ref().unwrap().min_ready_seconds, Some(30));
    let observed = render::observed_fingerprint(&d);
    assert_eq!(observed, render::fingerprint("albums", &rev, None, 30));
    assert_ne!(
        observed,
        render::fingerprint("albums", &rev, None, 0),
        "changing it re-applies the Deployment"
    );
    // 0 renders nothing, and a server's defaulted 0 reads as nothing: no drift for old objects.
    let (rev, mut d) = rendered(0);
    assert_eq!(d.spec.as_ref().unwrap().min_ready_seconds, None);
    d.spec.as_mut().unwrap().min_ready_seconds = Some(0);
    assert_eq!(
        render::observed_fingerprint(&d),
        render::fingerprint("albums", &rev, None, 0)
    );
}

#[test]
fn only_available_pods_count_when_it_is_set() {
    let status = DeploymentStatus {
        replicas: Some(4),
        ready_replicas: Some(4),
        available_replicas: Some(1),
        ..DeploymentStatus::default()
    };
    let (_, mut waiting) = rendered(30);
    waiting.status = Some(status.clone());
    assert_eq!(
        counted_pods(&waiting),
        1,
        "3 pods are ready but not for 30 s yet"
    );
    let (_, mut plain) = rendered(0);
    plain.status = Some(status);
    assert_eq!(counted_pods(&plain), 4);
    plain.status = None;
    assert_eq!(counted_pods(&plain), 0);
}
