//! Lease fixtures on the fake API server, shared by the leader-election tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use lockstep_fake_api::FakeApi;
use lockstep_operator::cluster::leader::Elector;

/// A Lease spec held by `holder`, renewed at Unix second `renewed`, for `seconds`.
pub(crate) fn held(holder: &str, renewed: i64, seconds: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(holder.into()),
        lease_duration_seconds: Some(seconds),
        renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
        acquire_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
        lease_transitions: Some(3),
        ..LeaseSpec::default()
    }
}

/// The Lease API as the test (an admin) sees it.
pub(crate) fn lease_api(fake: &FakeApi) -> Api<Lease> {
    Api::namespaced(fake.client(), "lockstep")
}

/// Creates the Lease with `spec`.
pub(crate) async fn put_lease(fake: &FakeApi, spec: LeaseSpec) {
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("lockstep-operator".into()),
            ..Default::default()
        },
        spec: Some(spec),
    };
    lease_api(fake)
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();
}

/// Candidate `identity` (also its user on the fake) for the Lease, with a lease of `seconds`.
pub(crate) fn elector(fake: &FakeApi, identity: &str, seconds: u64) -> Elector {
    Elector::new(
        Api::namespaced(fake.client_as(identity), "lockstep"),
        "lockstep-operator",
        identity,
        Duration::from_secs(seconds),
    )
}

/// One attempt of `identity` to take or renew the Lease.
pub(crate) async fn attempt(fake: &FakeApi, identity: &str) -> bool {
    elector(fake, identity, 15)
        .try_acquire_or_renew()
        .await
        .unwrap()
}

/// The Lease's spec now.
pub(crate) async fn lease_spec(fake: &FakeApi) -> LeaseSpec {
    lease_api(fake)
        .get("lockstep-operator")
        .await
        .unwrap()
        .spec
        .unwrap()
}
