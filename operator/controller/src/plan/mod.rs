//! From one service object and what the cluster holds to the list of API calls to make.
//!
//! This is the whole reconcile decision, still pure: the controller lists the objects, calls
//! [`plan`], and executes the [`Action`]s in order. A service in steady state plans no action at
//! all — zero writes — because every object and the status are compared before anything is
//! planned.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use lockstep_crd::status::{Phase, ServiceStatus, condition};

use crate::resources::LABEL_SERVICE;
use crate::revision::{Revision, find_by_hash, next_number, prune};
use crate::rollout::{AnalysisOutcome, Observed, RevisionHealth, RolloutState, Transition, decide};
use crate::service::LockstepService;

mod rollback;
mod types;
pub use types::{Action, Cluster, ObservedDeployment, Plan, TemplateFingerprint};

fn seconds(t: &Time) -> i64 {
    t.0.as_second()
}

fn time(secs: i64) -> Option<Time> {
    Timestamp::from_second(secs).ok().map(Time)
}

/// The rollout memory stored in a status.
pub fn state_of(status: Option<&ServiceStatus>) -> RolloutState {
    let Some(s) = status else {
        return RolloutState::default();
    };
    RolloutState {
        stable: s.stable_revision,
        current: s.current_revision,
        step: s.step,
        step_started: s.step_started_at.as_ref().map(seconds),
        analysis_passes: s.analysis_passes.unwrap_or(0),
        analysis_failures: s.analysis_failures.unwrap_or(0),
        analysis_inconclusive: s.analysis_inconclusive.unwrap_or(0),
        last_sample: s.last_sample_at.as_ref().map(seconds),
        observed_promote: s.observed_promote.clone(),
        observed_abort: s.observed_abort.clone(),
        observed_retry: s.observed_retry.clone(),
        aborted: s.aborted_revision,
        abort_reason: s.abort_reason.clone(),
        warm: s.warm_revision.zip(s.warm_until.as_ref().map(seconds)),
    }
}

/// A condition, keeping the previous transition time when its status did not change (so an
/// unchanged service writes an identical status, i.e. none).
fn condition(
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
fn replace_condition(status: &mut ServiceStatus, new: Condition) {
    status.conditions.retain(|c| c.type_ != new.type_);
    status.conditions.push(new);
}

fn push(plan: &mut Plan, prev: Option<&ServiceStatus>, status: ServiceStatus) {
    if prev != Some(&status) {
        let to_json = |s: Option<&ServiceStatus>| {
            s.and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or_else(|| serde_json::json!({}))
        };
        let patch = crate::merge::diff(&to_json(prev), &to_json(Some(&status)));
        plan.actions.push(Action::PatchStatus {
            status: Box::new(status),
            patch,
        });
    }
}

/// Plans one reconcile of `svc` at Unix time `now`.
pub fn plan<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    now: i64,
    analysis: Option<Vec<AnalysisOutcome>>,
) -> Plan {
    let spec = svc.common();
    let prev = svc.status();
    let generation = svc.meta().generation;
    let mut plan = Plan::default();
    let mut status = prev.cloned().unwrap_or_default();
    status.observed_generation = generation;
    if status.selector.is_none() {
        status.selector = Some(format!("{LABEL_SERVICE}={}", svc.name_any()));
    }
    let conditions_before = status.conditions.clone();

    if let Some(rollback) = spec.rollback_to {
        return rollback::plan(svc, rollback, cluster, status, now);
    }

    let content = match svc.content() {
        Ok(content) => content,
        Err(e) => {
            let message = e.to_string();
            replace_condition(
                &mut status,
                condition(
                    &conditions_before,
                    condition::CONFIG_VALID,
                    false,
                    "InvalidConfig",
                    &message,
                    now,
                    generation,
                ),
            );
            status.message = Some(format!("config rejected, nothing rolled out: {message}"));
            // A phase, not `<none>`: what ran before keeps running, and nothing automatic can
            // fix a config only its author can.
            status.phase = Some(lockstep_crd::status::Phase::Degraded);
            if !conditions_before
                .iter()
                .any(|c| c.type_ == condition::CONFIG_VALID && c.status == "False")
            {
                plan.actions.push(Action::Event(Transition {
                    reason: "InvalidConfig",
                    message,
                    warning: true,
                }));
            }
            push(&mut plan, prev, status);
            return plan;
        }
    };

    let hash = content.hash();
    let mut revisions = cluster.revisions.clone();
    let target = match find_by_hash(&revisions, &hash) {
        Some(r) => r.number,
        None => {
            let cause = svc
                .annotations()
                .get("kubernetes.io/change-cause")
                .cloned()
                .unwrap_or_else(|| "spec change".into());
            let created = time(now).map(|t| t.0.to_string()).unwrap_or_default();
            let rev = Revision {
                number: next_number(&revisions),
                hash,
                content,
                cause,
                created,
            };
            plan.actions.push(Action::CreateRevision(rev.clone()));
            revisions.push(rev);
            revisions.last().map_or(0, |r| r.number)
        }
    };

    let health: BTreeMap<i64, RevisionHealth> = cluster
        .deployments
        .iter()
        .map(|(n, d)| {
            (
                *n,
                RevisionHealth {
                    ready: d.ready,
                    failure: cluster.failures.get(n).cloned(),
                    last_restart: cluster.restarts.get(n).cloned(),
                },
            )
        })
        .chain(
            cluster
                .failures
                .iter()
                .filter(|(n, _)| !cluster.deployments.contains_key(n))
                .map(|(n, f)| {
                    (
                        *n,
                        RevisionHealth {
                            ready: 0,
                            failure: Some(f.clone()),
                            last_restart: cluster.restarts.get(n).cloned(),
                        },
                    )
                }),
        )
        .collect();
    let observed = Observed {
        now,
        replicas: spec.replicas,
        rollout: spec.rollout,
        paused: spec.paused,
        promote: spec.promote,
        abort: spec.abort,
        retry: spec.retry,
        target,
        health: &health,
        analysis,
    };
    let decision = decide(&observed, &state_of(prev));
    // A pod in a grace period is looked at again when it ends, even if nothing else changes.
    plan.requeue_after = match (decision.requeue_after, cluster.recheck_after) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    plan.analysis_needed = decision.analysis_needed;
    plan.target = Some(target);
    plan.phase = Some(decision.phase);

    for (number, replicas) in &decision.scale {
        let current = cluster.deployments.get(number);
        let Some(rev) = revisions.iter().find(|r| r.number == *number) else {
            continue;
        };
        let wanted = crate::resources::fingerprint(
            &svc.name_any(),
            rev,
            spec.restart_at,
            spec.rollout.min_ready_seconds,
        );
        let drifted = current.is_some_and(|d| d.template != wanted);
        // A new spec.restartAt alone is a restart, not drift.
        let restart = drifted
            && current.is_some_and(|d| {
                TemplateFingerprint {
                    restarted_at: wanted.restarted_at.clone(),
                    ..d.template.clone()
                } == wanted
            });
        if current.map(|d| d.replicas) != Some(*replicas) || drifted {
            if restart {
                plan.actions.push(Action::Event(Transition {
                    reason: "Restarted",
                    message: format!("pods of revision {number} restart (spec.restartAt)"),
                    warning: false,
                }));
            } else if drifted {
                plan.actions.push(Action::Event(Transition {
                    reason: "DriftRepaired",
                    message: format!(
                        "Deployment of revision {number} was changed outside Lockstep; re-applied"
                    ),
                    warning: true,
                }));
            }
            plan.actions.push(Action::ScaleRevision {
                revision: rev.clone(),
                replicas: *replicas,
            });
        }
    }
    for number in cluster
        .deployments
        .keys()
        .filter(|n| !decision.scale.contains_key(n))
    {
        plan.actions.push(Action::DeleteDeployment(*number));
    }
    if cluster.service_routes != Some(decision.serving) {
        plan.actions.push(Action::ApplyService(decision.serving));
    }
    let mut keep: Vec<i64> = decision.scale.keys().copied().collect();
    keep.extend(decision.state.stable);
    keep.push(target);
    let pruned = prune(&revisions, spec.revision_history_limit, &keep);
    // Every kept revision has its ConfigMap: a lost one is recreated, or its pods would wait
    // in ContainerCreating and a rollback to it would fail.
    for rev in cluster
        .revisions
        .iter()
        .filter(|r| !pruned.contains(&r.number))
    {
        let name = format!("{}-cfg-{}", svc.name_any(), rev.short_hash());
        if !cluster.config_maps.contains(&name) {
            plan.actions.push(Action::Event(Transition {
                reason: "ConfigMapRestored",
                message: format!(
                    "ConfigMap {name} of revision {} was missing; recreated",
                    rev.number
                ),
                warning: true,
            }));
            plan.actions.push(Action::CreateConfigMap(rev.clone()));
        }
    }
    for number in pruned {
        plan.actions.push(Action::DeleteRevision(number));
    }
    plan.actions
        .extend(decision.events.iter().cloned().map(Action::Event));

    let s = &decision.state;
    let ready: i32 = cluster.deployments.values().map(|d| d.ready).sum();
    let replicas: i32 = cluster.deployments.values().map(|d| d.replicas).sum();
    let updated = cluster.deployments.get(&target).map_or(0, |d| d.ready);
    status.phase = Some(decision.phase);
    status.message = Some(decision.message.clone());
    status.current_revision = Some(target);
    // What served before the stable revision: `kubectl lockstep undo` goes back to it (a
    // revision that was rolled back never becomes stable, so it is never this).
    status.previous_revision = match (prev.and_then(|p| p.stable_revision), s.stable) {
        (Some(before), Some(now)) if before != now => Some(before),
        _ => prev.and_then(|p| p.previous_revision),
    };
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
    status.serving_revision = decision.serving;
    // The pods an HPA measures are the serving ones: not a warm revision's idle pods.
    status.selector = Some(crate::resources::serving_selector(
        &svc.name_any(),
        decision.serving,
    ));
    // HPA reads this through the scale subresource: surge pods of the last stretch are not
    // replicas it asked for.
    status.replicas = replicas.min(spec.replicas);
    status.ready_replicas = ready;
    status.updated_replicas = updated;
    status.ready = Some(format!("{updated}/{}", spec.replicas));
    let phase = decision.phase;
    let msg = decision.message.as_str();
    let c = |t: &str, on: bool, reason: &str| {
        condition(&conditions_before, t, on, reason, msg, now, generation)
    };
    status.conditions = vec![
        c(condition::CONFIG_VALID, true, "Valid"),
        c(
            condition::PROGRESSING,
            matches!(phase, Phase::Progressing | Phase::Paused),
            "Rollout",
        ),
        c(
            condition::AVAILABLE,
            updated >= spec.replicas && s.stable == Some(target),
            "Ready",
        ),
        c(condition::PAUSED, phase == Phase::Paused, "Paused"),
        c(
            condition::DEGRADED,
            matches!(phase, Phase::Degraded | Phase::RolledBack),
            "Degraded",
        ),
    ];
    // A refused rollbackTo stays visible (kubectl describe, status) until a rollout starts.
    if !decision.events.iter().any(|e| e.reason == "RolloutStarted") {
        status.conditions.extend(
            conditions_before
                .iter()
                .filter(|c| c.type_ == condition::ROLLBACK_REFUSED)
                .cloned(),
        );
    }
    push(&mut plan, prev, status);
    plan
}
