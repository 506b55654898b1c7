//! Leader election: the pure verdict on a Lease, and candidates against the fake API server
//! (real optimistic concurrency, RBAC refusals, a partitioned leader).
#![allow(clippy::unwrap_used)]

mod leader_support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use leader_support::{attempt, elector, held, lease_api, lease_spec, put_lease};
use lockstep_fake_api::FakeApi;
use lockstep_operator::cluster::leader::{Verdict, next_spec, verdict};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

#[test]
fn verdicts() {
    let me = "pod-a";
    assert_eq!(verdict(None, me, at(100)), Verdict::Acquire, "no spec");
    let free = LeaseSpec::default();
    assert_eq!(
        verdict(Some(&free), me, at(100)),
        Verdict::Acquire,
        "no holder"
    );
    let ours = held("pod-a", 90, 15);
    assert_eq!(verdict(Some(&ours), me, at(100)), Verdict::Renew);
    let theirs = held("pod-b", 90, 15);
    assert_eq!(
        verdict(Some(&theirs), me, at(100)),
        Verdict::Held {
            holder: "pod-b".into(),
            expires: at(105)
        }
    );
    assert_eq!(
        verdict(Some(&theirs), me, at(105)),
        Verdict::Acquire,
        "expired exactly at renew + duration"
    );
    let mut released = theirs.clone();
    released.holder_identity = None;
    assert_eq!(verdict(Some(&released), me, at(100)), Verdict::Acquire);
    let mut undated = theirs;
    undated.renew_time = None;
    assert_eq!(
        verdict(Some(&undated), me, at(100)),
        Verdict::Acquire,
        "malformed"
    );
}

#[test]
fn next_spec_counts_transitions_only_on_takeover() {
    let d = Duration::from_secs(15);
    let first = next_spec(None, "pod-a", at(10), d);
    assert_eq!(first.lease_transitions, Some(0));
    assert_eq!(first.acquire_time, Some(MicroTime(at(10))));
    let renewed = next_spec(Some(&first), "pod-a", at(15), d);
    assert_eq!(renewed.lease_transitions, Some(0));
    assert_eq!(renewed.acquire_time, Some(MicroTime(at(10))), "kept");
    assert_eq!(renewed.renew_time, Some(MicroTime(at(15))));
    let taken = next_spec(Some(&held("pod-b", 0, 15)), "pod-a", at(20), d);
    assert_eq!(taken.lease_transitions, Some(4));
    assert_eq!(taken.acquire_time, Some(MicroTime(at(20))));
}

#[tokio::test]
async fn creates_a_missing_lease() {
    let fake = FakeApi::start().await.unwrap();
    assert!(attempt(&fake, "pod-a").await);
    let spec = lease_spec(&fake).await;
    assert_eq!(spec.holder_identity.as_deref(), Some("pod-a"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
}

#[tokio::test]
async fn a_fresh_lease_held_by_another_is_left_alone() {
    let fake = FakeApi::start().await.unwrap();
    put_lease(&fake, held("pod-b", Timestamp::now().as_second(), 15)).await;
    fake.reset_counters();
    assert!(!attempt(&fake, "pod-a").await);
    assert_eq!(fake.counters().writes(), 0, "standing by writes nothing");
}

#[tokio::test]
async fn an_expired_lease_is_taken_as_a_new_term() {
    let fake = FakeApi::start().await.unwrap();
    put_lease(&fake, held("pod-b", Timestamp::now().as_second() - 60, 15)).await;
    assert!(attempt(&fake, "pod-a").await);
    let spec = lease_spec(&fake).await;
    assert_eq!(spec.holder_identity.as_deref(), Some("pod-a"));
    assert_eq!(spec.lease_transitions, Some(4));
}

/// Two candidates read the same expired Lease and both write: the server's resourceVersion
/// check lets exactly one win; the loser stands by without an error.
#[tokio::test]
async fn of_two_racing_candidates_exactly_one_wins() {
    let fake = FakeApi::start().await.unwrap();
    put_lease(&fake, held("pod-c", Timestamp::now().as_second() - 60, 15)).await;
    // Both GETs land before either write.
    fake.set_latency(Duration::from_millis(100));
    let (a, b) = (elector(&fake, "pod-a", 15), elector(&fake, "pod-b", 15));
    let (won_a, won_b) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a ^ won_b, "a: {won_a}, b: {won_b}");
    let holder = lease_spec(&fake).await;
    let winner = if won_a { "pod-a" } else { "pod-b" };
    assert_eq!(holder.holder_identity.as_deref(), Some(winner));
}

#[tokio::test]
async fn forbidden_is_an_error_naming_the_lease() {
    let fake = FakeApi::start().await.unwrap();
    fake.authorize(|r| r.resource != "leases");
    let err = elector(&fake, "pod-a", 15)
        .try_acquire_or_renew()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lockstep-operator") && err.contains("forbidden"),
        "{err}"
    );
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_its_work() {
    let fake = FakeApi::start().await.unwrap();
    let a = elector(&fake, "pod-a", 3);
    let task = tokio::spawn(async move {
        a.lead(std::future::pending::<()>())
            .await
            .unwrap_err()
            .to_string()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Someone else holds it now (say our renewals were partitioned away and it expired).
    let mut lease = lease_api(&fake).get("lockstep-operator").await.unwrap();
    lease.spec = Some(held("pod-b", Timestamp::now().as_second(), 3));
    lease_api(&fake)
        .replace("lockstep-operator", &PostParams::default(), &lease)
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("still leading after its lease was taken")
        .unwrap();
    assert!(err.contains("lost the leader lease"), "{err}");
}

#[tokio::test]
async fn finished_work_releases_the_lease() {
    let fake = FakeApi::start().await.unwrap();
    assert_eq!(
        elector(&fake, "pod-a", 15).lead(async { 7 }).await.unwrap(),
        7
    );
    let spec = lease_spec(&fake).await;
    assert_eq!(spec.holder_identity, None, "released");
}

/// A leader cut off from the API server (its requests hang; the standby's still go through)
/// stops acting before the standby starts: the two never act at once.
#[tokio::test]
async fn a_partitioned_leader_stops_before_the_standby_acts() {
    let fake = FakeApi::start().await.unwrap();
    let (a, b) = (elector(&fake, "pod-a", 3), elector(&fake, "pod-b", 3));
    let leader = tokio::spawn(async move {
        let out = a.lead(std::future::pending::<()>()).await;
        (Instant::now(), out.unwrap_err().to_string())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let standby = tokio::spawn(async move { b.lead(async { Instant::now() }).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.stall_user("pod-a", true);
    let (a_stopped, why) = tokio::time::timeout(Duration::from_secs(10), leader)
        .await
        .expect("the partitioned leader never stopped")
        .unwrap();
    let b_started = tokio::time::timeout(Duration::from_secs(10), standby)
        .await
        .expect("the standby never took over")
        .unwrap();
    assert!(why.contains("lost the leader lease"), "{why}");
    assert!(
        a_stopped < b_started,
        "the standby acted {:?} before the old leader stopped",
        a_stopped - b_started
    );
    eprintln!(
        "old leader stopped {:?} before the standby acted",
        b_started - a_stopped
    );
    fake.stall_user("pod-a", false);
}

/// A leader that stops (SIGTERM ends its work) releases the Lease and the standby takes over
/// in under 2 s, not at expiry (15 s).
#[tokio::test]
async fn a_released_lease_is_taken_over_within_two_seconds() {
    let fake = FakeApi::start().await.unwrap();
    let (a, b) = (elector(&fake, "pod-a", 15), elector(&fake, "pod-b", 15));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let leader = tokio::spawn(async move {
        a.lead(async move {
            let _ = stopped.await;
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let standby = tokio::spawn(async move { b.lead(async { Instant::now() }).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    stop.send(()).unwrap();
    leader.await.unwrap().unwrap();
    let took_over = tokio::time::timeout(Duration::from_secs(10), standby)
        .await
        .expect("no takeover within 10 s")
        .unwrap();
    let takeover = took_over - stopping;
    eprintln!("takeover after release: {takeover:?}");
    assert!(takeover < Duration::from_secs(2), "{takeover:?}");
}
