//! What pods say during a rollout: a container restart of the canary (OOMKilled, a crash the
//! kubelet restarted before `CrashLoopBackOff` shows) fails the step at once; restarts from
//! before the rollout, or of a steady revision, do not.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use k8s_openapi::api::core::v1::Pod;
use lockstep_crd::status::Phase;
use lockstep_operator::cluster::children::CachedPod;
use lockstep_operator::core::pods;
use rollout_support::*;
use serde_json::json;

#[test]
fn a_canary_restart_during_the_rollout_rolls_back_at_once() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    let d = run.step(None);
    assert_eq!(d.phase, Phase::Paused, "at the pause with 1/1 canary ready");
    run.now += 20;
    run.health.get_mut(&2).unwrap().last_restart = Some((
        run.now - 3,
        "OOMKilled (exit 137) in pod albums-2-x, restart 1".into(),
    ));
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone()),
        (Phase::RolledBack, scale(&[(1, 4)]))
    );
    let rolled = d.events.iter().find(|e| e.reason == "RolledBack").unwrap();
    assert!(
        rolled
            .message
            .contains("restarted 3s ago: OOMKilled (exit 137)"),
        "{}",
        rolled.message
    );
}

#[test]
fn restarts_from_before_the_rollout_or_of_a_steady_revision_do_not_count() {
    // Revision 2's pods restarted before this rollout to it began (an undo to a warm revision).
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.health.get_mut(&2).unwrap().last_restart = Some((run.now - 600, "Error (exit 1)".into()));
    run.step(None);
    assert_eq!(run.step(None).phase, Phase::Paused);

    // A Healthy service whose pod was OOM-killed once: still Healthy, nothing rolls back.
    let mut steady = Run::new(canary(vec![weight(25)]), Some(1), 1);
    steady.ready(1, 4);
    steady.health.get_mut(&1).unwrap().last_restart =
        Some((steady.now - 1, "OOMKilled (exit 137)".into()));
    let d = steady.step(None);
    assert_eq!((d.phase, d.events.len()), (Phase::Healthy, 0));
}

fn pod(name: &str, revision: i64, statuses: &serde_json::Value) -> CachedPod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"lockstep.dev/revision": revision.to_string()}},
        "status": {"containerStatuses": statuses}
    }))
    .unwrap();
    pod.into()
}

fn status(restarts: i32, reason: &str, exit: i32, finished: &str) -> serde_json::Value {
    json!({"name": "album", "image": "a", "imageID": "", "ready": true, "restartCount": restarts,
           "lastState": {"terminated": {"reason": reason, "exitCode": exit, "finishedAt": finished}}})
}

#[test]
fn the_newest_restart_per_revision_is_read_from_pod_statuses() {
    let pods = [
        pod(
            "a-2-x",
            2,
            &json!([status(1, "Error", 1, "2026-11-30T10:00:00Z")]),
        ),
        pod(
            "a-2-y",
            2,
            &json!([status(2, "OOMKilled", 137, "2026-11-30T10:05:00Z")]),
        ),
        // Never restarted: its last state is the container's previous run, not a restart.
        pod(
            "a-1-z",
            1,
            &json!([status(0, "Completed", 0, "2026-11-30T09:00:00Z")]),
        ),
    ];
    let restarts = pods::restarts(&pods);
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(
        pods[2].containers.is_empty(),
        "the cache keeps no container of a pod that never waited or restarted"
    );
    let (at, why) = &restarts[&2];
    assert_eq!(*at, 1_796_033_100, "2026-11-30T10:05:00Z");
    assert_eq!(why, "OOMKilled (exit 137) in pod a-2-y, restart 2");
}

/// A pod as the operator's cache keeps it: the API object, projected.
fn waiting_pod(name: &str, started: &str, reason: &str, message: &str) -> CachedPod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"lockstep.dev/revision": "2"}},
        "status": {"startTime": started, "containerStatuses": [
            {"name": "album", "image": "a", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": reason, "message": message}}}]}
    }))
    .unwrap();
    pod.into()
}

/// A missing Secret shows as `CreateContainerConfigError` and heals once the Secret exists: it
/// fails the revision only after the grace period, and the reconcile is scheduled for then.
#[test]
fn a_config_error_fails_only_after_its_grace_period() {
    let now = 1_796_033_100; // 2026-11-30T10:05:00Z
    let missing = r#"secret "album-db" not found"#;
    let young = waiting_pod(
        "a-2-x",
        "2026-11-30T10:04:40Z",
        "CreateContainerConfigError",
        missing,
    );
    let seen = pods::failures(std::slice::from_ref(&young), now);
    assert!(seen.failures.is_empty(), "{seen:?}");
    assert_eq!(seen.recheck_after, Some(40), "20 s waited of 60");

    let old = waiting_pod(
        "a-2-y",
        "2026-11-30T10:03:45Z",
        "CreateContainerConfigError",
        missing,
    );
    let seen = pods::failures(&[young, old], now);
    assert_eq!(
        seen.failures[&2],
        r#"CreateContainerConfigError for 75s in pod a-2-y: secret "album-db" not found"#
    );
    let crash = waiting_pod(
        "a-2-z",
        "2026-11-30T10:04:59Z",
        "CrashLoopBackOff",
        "back-off 10s",
    );
    let seen = pods::failures(&[crash], now);
    assert_eq!(
        seen.failures[&2], "CrashLoopBackOff in pod a-2-z: back-off 10s",
        "fatal at once"
    );
    assert_eq!(seen.recheck_after, None);
}
