//! Writing the status: what a decision or a refused config leaves in it, conditions that keep
//! their transition time, and the status patch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use lockstep_crd::status::{Phase, ServiceStatus, condition as kinds};

use super::types::{Action, Cluster, Plan};
use crate::core::render::serving_selector;
use crate::core::rollout::{Decision, Transition};
use crate::kinds::LockstepService;

pub(super) fn seconds(t: &Time) -> i64 {
    t.0.as_second()
}

pub(super) fn time(secs: i64) -> Option<Time> {
    Timestamp::from_second(secs).ok().map(Time)
}

/// A condition, keeping the previous transition time when its status did not change (so an
/// unchanged service writes an identical status, i.e. none).
pub(super) fn condition(
    prev: &[Condition],
    type_: &str,
    on: bool,
    reason: &str,
    message: &str,
    now: i64,
    generation: Option<i64>,
) -> Condition {
    let status = if on { "True" } else { "False" };
    let last = prev
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .or_else(|| time(now))
        .unwrap_or(Time(Timestamp::UNIX_EPOCH));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: last,
        observed_generation: generation,
    }
}

/// Puts `new` in place of `status`'s condition of the same type.
pub(super) fn replace_condition(status: &mut ServiceStatus, new: Condition) {
    status.conditions.retain(|c| c.type_ != new.type_);
    status.conditions.push(new);
}

pub(super) fn push(plan: &mut Plan, prev: Option<&ServiceStatus>, status: ServiceStatus) {
    if prev != Some(&status) {
        let to_json = |s: Option<&ServiceStatus>| {
            s.and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or_else(|| serde_json::json!({}))
        };
        let patch = lockstep_crd::merge::diff(&to_json(prev), &to_json(Some(&status)));
        plan.actions.push(Action::PatchStatus {
            status: Box::new(status),
            patch,
        });
    }
}

/// The plan for a config that is refused (`reason`: `InvalidConfig`, or `PreflightFailed` when
/// the revision's own check refused it): a `ConfigValid=False` condition and a Warning event
/// (once per refusal) with the message, phase `Degraded` — what ran before keeps running, and nothing
/// automatic can fix a config only its author can — and nothing else touched.
pub(super) fn refused<S: LockstepService>(
    svc: &S,
    mut status: ServiceStatus,
    reason: &'static str,
    message: &str,
    now: i64,
) -> Plan {
    let mut plan = Plan::default();
    let before = status.conditions.clone();
    let generation = svc.meta().generation;
    let invalid = condition(
        &before,
        kinds::CONFIG_VALID,
        false,
        reason,
        message,
        now,
        generation,
    );
    replace_condition(&mut status, invalid);
    status.message = Some(format!("config rejected, nothing rolled out: {message}"));
    status.phase = Some(Phase::Degraded);
    // One event per refusal: a reconcile that finds the same one says nothing new.
    let refused_before = before.iter().any(|c| {
        c.type_ == kinds::CONFIG_VALID
            && c.status == "False"
            && c.reason == reason
            && c.message == message
    });
    if !refused_before {
        plan.actions.push(Action::Event(Transition {
            reason,
            message: message.to_owned(),
            warning: true,
        }));
    }
    push(&mut plan, svc.status(), status);
    plan
}

/// The status after `decision`: the rollout memory, the revisions, replica counts and
/// conditions, all from this reconcile's view.
pub(super) fn after<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    mut status: ServiceStatus,
    decision: &Decision,
    target: i64,
    now: i64,
) -> ServiceStatus {
    let spec = svc.common();
    let prev = svc.status();
    let s = &decision.state;
    status.phase = Some(decision.phase);
    status.message = Some(decision.message.clone());
    status.current_revision = Some(target);
    // What served before the stable revision: `kubectl lockstep undo` goes back to it (a
    // revision that was rolled back never becomes stable, so it is never this).
    status.previous_revision = match (prev.and_then(|p| p.stable_revision), s.stable) {
        (Some(before), Some(now)) if before != now => Some(before),
        _ => prev.and_then(|p| p.previous_revision),
    };
    remember(&mut status, s);
    status.serving_revision = decision.serving;
    // The pods an HPA measures are the serving ones: not a warm revision's idle pods.
    status.selector = Some(serving_selector(&svc.name_any(), decision.serving));
    let ready: i32 = cluster.deployments.values().map(|d| d.ready).sum();
    let replicas: i32 = cluster.deployments.values().map(|d| d.replicas).sum();
    let updated = cluster.deployments.get(&target).map_or(0, |d| d.ready);
    // HPA reads this through the scale subresource: surge pods of the last stretch are not
    // replicas it asked for.
    status.replicas = replicas.min(spec.replicas);
    status.ready_replicas = ready;
    status.updated_replicas = updated;
    status.ready = Some(format!("{updated}/{}", spec.replicas));
    let available = updated >= spec.replicas && s.stable == Some(target);
    status.conditions = conditions(svc, &status.conditions, decision, available, now);
    status
}

/// The rollout memory ([`RolloutState`](crate::core::rollout::RolloutState)) into the status.
fn remember(status: &mut ServiceStatus, s: &crate::core::rollout::RolloutState) {
    status.stable_revision = s.stable;
    status.step = s.step;
    status.step_started_at = s.step_started.and_then(time);
    status.analysis_passes = (s.analysis_passes > 0).then_some(s.analysis_passes);
    status.analysis_failures = (s.analysis_failures > 0).then_some(s.analysis_failures);
    status.analysis_inconclusive = (s.analysis_inconclusive > 0).then_some(s.analysis_inconclusive);
    status.last_sample_at = s.last_sample.and_then(time);
    status.observed_promote = s.observed_promote.clone();
    status.observed_abort = s.observed_abort.clone();
    status.observed_retry = s.observed_retry.clone();
    status.aborted_revision = s.aborted;
    status.abort_reason = s.abort_reason.clone();
    status.warm_revision = s.warm.map(|(w, _)| w);
    status.warm_until = s.warm.and_then(|(_, until)| time(until));
}

/// The conditions after `decision`; a refused `rollbackTo` stays visible (kubectl describe,
/// status) until a rollout starts.
fn conditions<S: LockstepService>(
    svc: &S,
    before: &[Condition],
    decision: &Decision,
    available: bool,
    now: i64,
) -> Vec<Condition> {
    let generation = svc.meta().generation;
    let phase = decision.phase;
    let c = |t: &str, on: bool, reason: &str| {
        condition(before, t, on, reason, &decision.message, now, generation)
    };
    let mut conditions = vec![
        c(kinds::CONFIG_VALID, true, "Valid"),
        c(
            kinds::PROGRESSING,
            matches!(phase, Phase::Progressing | Phase::Paused),
            "Rollout",
        ),
        c(kinds::AVAILABLE, available, "Ready"),
        c(kinds::PAUSED, phase == Phase::Paused, "Paused"),
        c(
            kinds::DEGRADED,
            matches!(phase, Phase::Degraded | Phase::RolledBack),
            "Degraded",
        ),
    ];
    if !decision.events.iter().any(|e| e.reason == "RolloutStarted") {
        conditions.extend(
            before
                .iter()
                .filter(|c| c.type_ == kinds::ROLLBACK_REFUSED)
                .cloned(),
        );
    }
    conditions
}
