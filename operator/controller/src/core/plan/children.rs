//! The children a decision asks for: each revision's Deployment at its replicas (and as
//! rendered: drift is repaired), revisions beyond the history limit pruned, a kept revision's
//! lost ConfigMap restored.

use crate::core::render::{TemplateFingerprint, fingerprint};
use crate::core::rollout::{Decision, Transition};
use crate::kinds::CommonSpec;
use crate::kinds::revision::{Revision, prune};

use super::types::{Action, Cluster};

/// Scales every revision the decision runs (re-applying a drifted Deployment, with an event
/// saying why) and deletes the Deployments of the others.
pub(super) fn scale(
    name: &str,
    spec: &CommonSpec<'_>,
    cluster: &Cluster,
    revisions: &[Revision],
    decision: &Decision,
    actions: &mut Vec<Action>,
) {
    for (number, replicas) in &decision.scale {
        let current = cluster.deployments.get(number);
        let Some(rev) = revisions.iter().find(|r| r.number == *number) else {
            continue;
        };
        let wanted = fingerprint(name, rev, spec.restart_at, spec.rollout.min_ready_seconds);
        let drifted = current.is_some_and(|d| d.template != wanted);
        if current.map(|d| d.replicas) == Some(*replicas) && !drifted {
            continue;
        }
        // A new spec.restartAt alone is a restart, not drift.
        let restart = current.is_some_and(|d| {
            TemplateFingerprint {
                restarted_at: wanted.restarted_at.clone(),
                ..d.template.clone()
            } == wanted
        });
        if drifted {
            actions.push(Action::Event(if restart {
                Transition {
                    reason: "Restarted",
                    message: format!("pods of revision {number} restart (spec.restartAt)"),
                    warning: false,
                }
            } else {
                Transition {
                    reason: "DriftRepaired",
                    message: format!(
                        "Deployment of revision {number} was changed outside Lockstep; re-applied"
                    ),
                    warning: true,
                }
            }));
        }
        actions.push(Action::ScaleRevision {
            revision: rev.clone(),
            replicas: *replicas,
        });
    }
    for number in cluster
        .deployments
        .keys()
        .filter(|n| !decision.scale.contains_key(n))
    {
        actions.push(Action::DeleteDeployment(*number));
    }
}

/// Prunes revisions beyond `revisionHistoryLimit` (never one that runs, the stable one or the
/// target), and restores the ConfigMap of a kept revision that lost it: without it its pods
/// would wait in ContainerCreating and a rollback to it would fail.
pub(super) fn keep(
    name: &str,
    spec: &CommonSpec<'_>,
    cluster: &Cluster,
    revisions: &[Revision],
    decision: &Decision,
    target: i64,
    actions: &mut Vec<Action>,
) {
    let mut keep: Vec<i64> = decision.scale.keys().copied().collect();
    keep.extend(decision.state.stable);
    keep.push(target);
    let pruned = prune(revisions, spec.revision_history_limit, &keep);
    let kept = cluster
        .revisions
        .iter()
        .filter(|r| !pruned.contains(&r.number));
    for rev in kept {
        restore_config_map(name, cluster, rev, actions);
    }
    actions.extend(pruned.into_iter().map(Action::DeleteRevision));
}

/// Recreates `rev`'s ConfigMap when the cluster has lost it (its create failed, or someone
/// deleted it), with a Warning event saying so.
pub(super) fn restore_config_map(
    name: &str,
    cluster: &Cluster,
    rev: &Revision,
    actions: &mut Vec<Action>,
) {
    let config_map = format!("{name}-cfg-{}", rev.short_hash());
    if cluster.config_maps.contains(&config_map) {
        return;
    }
    actions.push(Action::Event(Transition {
        reason: "ConfigMapRestored",
        message: format!(
            "ConfigMap {config_map} of revision {} was missing; recreated",
            rev.number
        ),
        warning: true,
    }));
    actions.push(Action::CreateConfigMap(rev.clone()));
}
