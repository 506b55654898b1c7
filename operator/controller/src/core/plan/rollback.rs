//! `spec.rollbackTo`: rewrite the spec to a kept revision (image, config and pod fields
//! together), or refuse a revision that is not kept — cleared from the spec, a Warning event
//! and a `RollbackRefused` condition listing the kept revisions.

use lockstep_crd::spec::RollbackTo;
use lockstep_crd::status::{ServiceStatus, condition as kinds};

use super::status::{condition, push, replace_condition};
use super::types::{Action, Cluster, Plan};
use crate::core::rollout::Transition;
use crate::kinds::LockstepService;

/// The plan of a reconcile that finds `rollback` in the spec; `status` is the status so far.
pub(super) fn plan<S: LockstepService>(
    svc: &S,
    rollback: &RollbackTo,
    cluster: &Cluster,
    mut status: ServiceStatus,
    now: i64,
) -> Plan {
    let mut plan = Plan::default();
    let prev = svc.status();
    let generation = kube::Resource::meta(svc).generation;
    let conditions_before = status.conditions.clone();
    let Some(rev) = cluster
        .revisions
        .iter()
        .find(|r| r.number == rollback.revision)
    else {
        // Cleared, so the request does not linger in the spec forever; the event says what
        // can be asked for instead.
        let kept: Vec<String> = cluster
            .revisions
            .iter()
            .map(|r| r.number.to_string())
            .collect();
        let kept = if kept.is_empty() {
            "none yet".to_owned()
        } else {
            kept.join(", ")
        };
        let message = format!(
            "rollbackTo: revision {} is not kept (kept: {kept}); the request was cleared",
            rollback.revision,
        );
        plan.actions.push(Action::PatchSpec(
            serde_json::json!({"spec": {"rollbackTo": null}}),
        ));
        plan.actions.push(Action::Event(Transition {
            reason: "RollbackRefused",
            message: message.clone(),
            warning: true,
        }));
        replace_condition(
            &mut status,
            condition(
                &conditions_before,
                kinds::ROLLBACK_REFUSED,
                true,
                "RevisionNotKept",
                &message,
                now,
                generation,
            ),
        );
        status.message = Some(message);
        push(&mut plan, prev, status);
        return plan;
    };
    match svc.rollback_patch(rev) {
        Ok(patch) => {
            plan.actions.push(Action::PatchSpec(patch));
            plan.actions.push(Action::Event(Transition {
                reason: "RollbackRequested",
                message: format!(
                    "spec rewritten to revision {} (image and config)",
                    rev.number
                ),
                warning: false,
            }));
        }
        Err(e) => {
            status.message = Some(format!(
                "rollbackTo: revision {} cannot be restored: {e}",
                rev.number
            ));
            push(&mut plan, prev, status);
        }
    }
    plan
}
