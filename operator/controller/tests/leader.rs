//! Leader election: the pure verdict on a Lease, and the calls a candidate makes against a mocked
//! API server.
#![allow(clippy::unwrap_used)]

mod mock;

use std::time::Duration;

use http::{Method, StatusCode};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use lockstep_operator::leader::{Elector, Verdict, next_spec, verdict};
use serde_json::{Value, json};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/lockstep/leases/lockstep-operator";

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn held(holder: &str, renewed: i64, seconds: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(holder.into()),
        lease_duration_seconds: Some(seconds),
        renew_time: Some(MicroTime(at(renewed))),
        acquire_time: Some(MicroTime(at(renewed - 100))),
        lease_transitions: Some(3),
        ..LeaseSpec::default()
    }
}

#[test]
fn verdicts() {
    let now = 1_000;
    let cases: [(&str, Option<LeaseSpec>, Verdict); 6] = [
        ("no lease", None, Verdict::Acquire),
        (
            "no holder (released)",
            Some(LeaseSpec::default()),
            Verdict::Acquire,
        ),
        ("ours", Some(held("me", 999, 15)), Verdict::Renew),
        (
            "ours even if expired",
            Some(held("me", 900, 15)),
            Verdict::Renew,
        ),
        (
            "other, fresh",
            Some(held("other", 990, 15)),
            Verdict::Held {
                holder: "other".into(),
                expires: at(1_005),
            },
        ),
        (
            "other, expired exactly now",
            Some(held("other", 985, 15)),
            Verdict::Acquire,
        ),
    ];
    for (name, spec, want) in cases {
        assert_eq!(verdict(spec.as_ref(), "me", at(now)), want, "{name}");
    }
}

#[test]
fn next_spec_counts_transitions_only_on_takeover() {
    let d = Duration::from_secs(15);
    let renewed = next_spec(Some(&held("me", 990, 15)), "me", at(1_000), d);
    assert_eq!(renewed.lease_transitions, Some(3));
    assert_eq!(renewed.acquire_time, Some(MicroTime(at(890))), "term kept");
    assert_eq!(renewed.renew_time, Some(MicroTime(at(1_000))));

    let taken = next_spec(Some(&held("other", 900, 15)), "me", at(1_000), d);
    assert_eq!(taken.holder_identity.as_deref(), Some("me"));
    assert_eq!(taken.lease_transitions, Some(4));
    assert_eq!(taken.acquire_time, Some(MicroTime(at(1_000))), "new term");
    assert_eq!(taken.lease_duration_seconds, Some(15));

    let first = next_spec(None, "me", at(1_000), d);
    assert_eq!(first.lease_transitions, Some(0));
}

fn lease(spec: &LeaseSpec) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "lockstep-operator", "namespace": "lockstep", "resourceVersion": "42"},
        "spec": serde_json::to_value(spec).unwrap(),
    })
}

fn elector(client: kube::Client) -> Elector {
    Elector::new(
        Api::<Lease>::namespaced(client, "lockstep"),
        "lockstep-operator",
        "pod-a",
        Duration::from_secs(15),
    )
}

/// The Lease is missing (GET 404), so the candidate creates it (POST); returns the body sent.
async fn expect_create(handle: &mut mock::Handle) -> Value {
    mock::expect(
        handle,
        Method::GET,
        LEASE,
        StatusCode::NOT_FOUND,
        mock::not_found,
    )
    .await;
    mock::expect(
        handle,
        Method::POST,
        "/apis/coordination.k8s.io/v1/namespaces/lockstep/leases",
        StatusCode::CREATED,
        mock::created,
    )
    .await
}

#[tokio::test]
async fn creates_a_missing_lease() {
    let (client, mut handle) = mock::client("lockstep");
    let attempt = tokio::spawn(async move { elector(client).try_acquire_or_renew().await });
    let body = expect_create(&mut handle).await;
    assert_eq!(body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
    assert!(attempt.await.unwrap().unwrap(), "now the leader");
}

#[tokio::test]
async fn a_fresh_lease_held_by_another_is_left_alone() {
    let (client, mut handle) = mock::client("lockstep");
    let attempt = tokio::spawn(async move { elector(client).try_acquire_or_renew().await });
    let now = Timestamp::now().as_second();
    let theirs = lease(&held("pod-b", now, 15));
    mock::expect(&mut handle, Method::GET, LEASE, StatusCode::OK, |_| theirs).await;
    assert!(!attempt.await.unwrap().unwrap(), "standing by");
    assert!(handle.next_request().await.is_none(), "no write");
}

#[tokio::test]
async fn an_expired_lease_is_taken_with_its_resource_version() {
    let (client, mut handle) = mock::client("lockstep");
    let attempt = tokio::spawn(async move { elector(client).try_acquire_or_renew().await });
    let theirs = lease(&held("pod-b", Timestamp::now().as_second() - 60, 15));
    mock::expect(&mut handle, Method::GET, LEASE, StatusCode::OK, |_| theirs).await;
    let body = mock::expect(&mut handle, Method::PUT, LEASE, StatusCode::OK, |b| b).await;
    assert_eq!(body["metadata"]["resourceVersion"], "42", "optimistic lock");
    assert_eq!(body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(body["spec"]["leaseTransitions"], 4);
    assert!(attempt.await.unwrap().unwrap());
}

#[tokio::test]
async fn losing_the_race_is_not_an_error() {
    let (client, mut handle) = mock::client("lockstep");
    let attempt = tokio::spawn(async move { elector(client).try_acquire_or_renew().await });
    let theirs = lease(&held("pod-b", Timestamp::now().as_second() - 60, 15));
    mock::expect(&mut handle, Method::GET, LEASE, StatusCode::OK, |_| theirs).await;
    mock::expect(
        &mut handle,
        Method::PUT,
        LEASE,
        StatusCode::CONFLICT,
        |_| {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": "Conflict", "code": 409, "message": "the object has been modified"})
        },
    )
    .await;
    assert!(!attempt.await.unwrap().unwrap(), "the other candidate won");
}

#[tokio::test]
async fn forbidden_is_an_error_naming_the_lease() {
    let (client, mut handle) = mock::client("lockstep");
    let attempt = tokio::spawn(async move { elector(client).try_acquire_or_renew().await });
    mock::expect(
        &mut handle,
        Method::GET,
        LEASE,
        StatusCode::FORBIDDEN,
        |_| {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": "Forbidden", "code": 403, "message": "leases is forbidden"})
        },
    )
    .await;
    let err = attempt.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("lockstep-operator") && err.contains("forbidden"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_loses_the_lease_stops_its_work() {
    let (client, mut handle) = mock::client("lockstep");
    let task = tokio::spawn(async move {
        elector(client)
            .lead(std::future::pending::<()>())
            .await
            .unwrap_err()
            .to_string()
    });
    // Acquire.
    expect_create(&mut handle).await;
    // First renewal: another candidate holds it now (say our renewals were partitioned away).
    let theirs = lease(&held("pod-b", Timestamp::now().as_second(), 15));
    mock::expect(&mut handle, Method::GET, LEASE, StatusCode::OK, |_| theirs).await;
    let err = task.await.unwrap();
    assert!(err.contains("lost the leader lease"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn finished_work_releases_the_lease() {
    let (client, mut handle) = mock::client("lockstep");
    let task = tokio::spawn(async move { elector(client).lead(async { 7 }).await.unwrap() });
    let created = expect_create(&mut handle).await;
    let mut ours = created.clone();
    ours["metadata"]["resourceVersion"] = json!("43");
    mock::expect(&mut handle, Method::GET, LEASE, StatusCode::OK, |_| ours).await;
    let released = mock::expect(&mut handle, Method::PUT, LEASE, StatusCode::OK, |b| b).await;
    assert!(
        released["spec"]
            .get("holderIdentity")
            .is_none_or(Value::is_null)
    );
    assert_eq!(task.await.unwrap(), 7);
}
