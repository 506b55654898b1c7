//! `rollout.preflight`: a new revision's pods start only after its check passed. The check is
//! a Job (planned here, run by the cluster); while it runs the service stays as it is, a failure
//! refuses the revision like an invalid config, and a pass is recorded on the revision so that
//! it is never run twice.
//!
//! Not checked: a revision that is already stable, one older than the stable one (a rollback:
//! it ran before, and an incident must not wait for a Job), one whose pods already run (it
//! rolled out before preflight was turned on).

use std::time::Duration;

use kube::ResourceExt;
use lockstep_crd::status::{ServiceStatus, condition as kinds};

use super::children::restore_config_map;
use super::status::{condition, push, refused, replace_condition};
use super::types::{Action, Cluster, Plan, PreflightRun};
use crate::core::rollout::Transition;
use crate::kinds::LockstepService;
use crate::kinds::revision::Revision;

/// `None` when `target` may roll out (after the actions this adds to `plan`, if any); else the
/// whole plan of this reconcile: wait for the check, or refuse the revision.
pub(super) fn gate<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    target: &Revision,
    status: ServiceStatus,
    now: i64,
    plan: &mut Plan,
) -> Option<Plan> {
    let check = svc.common().rollout.preflight.as_ref()?;
    let n = target.number;
    let stable = svc.status().and_then(|s| s.stable_revision);
    let exempt = stable.is_some_and(|s| n <= s)
        || cluster.preflight_passed.contains(&n)
        || cluster.deployments.contains_key(&n);
    if exempt {
        return None;
    }
    let event = |reason, message: String, warning| {
        Action::Event(Transition {
            reason,
            message,
            warning,
        })
    };
    // The check mounts the revision's ConfigMap: one lost since the revision was recorded (a
    // create cut off mid-reconcile) is restored first, or the Job's pod could never start. A
    // revision this plan creates gets its ConfigMap with it.
    let recorded = cluster.revisions.iter().any(|r| r.number == n);
    let restore = |plan: &mut Plan| {
        if recorded {
            restore_config_map(&svc.name_any(), cluster, target, &mut plan.actions);
        }
    };
    let wait = |plan: &mut Plan, status: ServiceStatus| {
        let mut status = status;
        let message = format!("revision {n}: preflight running");
        // An earlier refusal is over: this config passed every check so far.
        let valid = condition(
            &status.conditions,
            kinds::CONFIG_VALID,
            true,
            "Valid",
            &message,
            now,
            svc.meta().generation,
        );
        replace_condition(&mut status, valid);
        status.message = Some(message);
        push(plan, svc.status(), status);
        plan.requeue_after = Some(Duration::from_secs(u64::from(check.timeout_seconds) + 5));
        Some(std::mem::take(plan))
    };
    match cluster.preflight.get(&n) {
        None => {
            restore(plan);
            plan.actions.push(Action::CreatePreflight {
                revision: target.clone(),
                check: check.clone(),
            });
            let started = format!("revision {n}: preflight started before any pod");
            plan.actions.push(event("PreflightStarted", started, false));
            wait(plan, status)
        }
        Some(PreflightRun::Running) => {
            restore(plan);
            wait(plan, status)
        }
        Some(PreflightRun::Passed) => {
            plan.actions.push(Action::RecordPreflight(target.clone()));
            let passed = format!("revision {n} passed preflight");
            plan.actions.push(event("PreflightPassed", passed, false));
            None
        }
        Some(PreflightRun::Failed { logs: None, .. }) if is_refused(svc.status(), n) => {
            // Refused with its log already: the status says it all (the log is read once).
            push(plan, svc.status(), status);
            Some(std::mem::take(plan))
        }
        Some(PreflightRun::Failed { reason, logs }) => {
            let log = logs.as_deref().unwrap_or("(not read yet)");
            let message = failure_message(n, reason, log);
            let mut held = refused(svc, status, "PreflightFailed", &message, now);
            let mut actions = std::mem::take(&mut plan.actions);
            actions.append(&mut held.actions);
            held.actions = actions;
            Some(held)
        }
    }
}

/// The status message of a revision refused by its check: the Job's reason and its pod's last
/// lines. [`is_refused`] recognises it (its log is read once).
pub fn failure_message(n: i64, reason: &str, log: &str) -> String {
    format!("revision {n} failed preflight ({reason}); its last lines:\n{log}")
}

/// Whether `status` already shows revision `n` refused by its check (its log was read).
pub fn is_refused(status: Option<&ServiceStatus>, n: i64) -> bool {
    let prefix = format!("revision {n} failed preflight");
    status
        .and_then(|s| s.message.as_deref())
        .is_some_and(|m| m.contains(&prefix) && !m.ends_with("(not read yet)"))
}
