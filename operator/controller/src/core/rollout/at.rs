//! Where a rollout in progress stands at this reconcile ([`At`]), and the decision that holds it
//! there: the pods of each revision, what the Service selects, and the traffic split.

use std::time::Duration;

use lockstep_crd::spec::{Step, Strategy};
use lockstep_crd::status::Phase;

use super::types::{Decision, Observed, RevisionHealth, RolloutState, canary_replicas, weight_at};
use crate::core::traffic::{Split, canary_pods, header_routes_at};

/// Where the rollout stands at this reconcile.
#[derive(Debug, Clone)]
pub(super) struct At<'a> {
    pub(super) target: i64,
    pub(super) health: RevisionHealth,
    pub(super) steps: &'a [Step],
    pub(super) index: usize,
    /// When the current step started (Unix seconds).
    pub(super) started: i64,
    /// Until the progress deadline, plus a second.
    pub(super) remaining: Duration,
    pub(super) weight: u8,
    /// The target's replicas at this step.
    pub(super) canary: i32,
    /// Requests are split on a route (`rollout.trafficRouting`): the stable revision keeps
    /// every pod until the rollout ends, so an abort needs none to start.
    pub(super) routed: bool,
    /// A blue-green rollout (a new revision after a stable one).
    pub(super) blue_green: bool,
    /// What the Service selects alone while holding (blue-green); `None`: every revision.
    pub(super) serving: Option<i64>,
    /// How messages name where the rollout stands (`step 2`, `preview`).
    pub(super) label: String,
}

impl<'a> At<'a> {
    pub(super) fn of(obs: &'a Observed<'a>, s: &RolloutState) -> At<'a> {
        let target = obs.target;
        // A first deploy has nothing to compare a canary with: it goes straight to full size.
        // So does a rollback — `undo`, `rollbackTo`, or a spec edited back to an older revision
        // (revision numbers only grow, so a target older than the stable one is a way back): an
        // incident rollback must not stop at a pause waiting for a person.
        let forward = s.stable.is_some_and(|stable| target > stable);
        let steps: &[Step] = match obs.rollout.strategy {
            Strategy::Canary if forward => &obs.rollout.steps,
            _ => &[],
        };
        let index = s.step.unwrap_or(0) as usize;
        let started = s.step_started.unwrap_or(obs.now);
        let deadline = i64::from(obs.rollout.progress_deadline_seconds);
        let left = (deadline - (obs.now - started)).max(0);
        let weight = weight_at(steps, index);
        let routed = obs.rollout.traffic_routing.is_some();
        let canary = if routed && index < steps.len() {
            canary_pods(steps, index, obs.replicas, weight)
        } else {
            canary_replicas(obs.replicas, weight)
        };
        At {
            target,
            health: obs.health.get(&target).cloned().unwrap_or_default(),
            steps,
            index,
            started,
            remaining: Duration::from_secs(u64::try_from(left).unwrap_or(0) + 1),
            weight,
            canary,
            routed,
            blue_green: forward && obs.rollout.strategy == Strategy::BlueGreen,
            serving: None,
            label: format!("step {index}"),
        }
    }

    /// A decision that holds the rollout at this step's replicas.
    pub(super) fn hold(
        &self,
        obs: &Observed<'_>,
        s: RolloutState,
        phase: Phase,
        message: String,
    ) -> Decision {
        let mut d = Decision::new(s, phase, message);
        d.scale.insert(self.target, self.canary);
        if let Some(stable) = d.state.stable {
            let keep = if self.routed || self.serving.is_some() {
                obs.replicas
            } else {
                obs.replicas - self.canary
            };
            d.scale.insert(stable, keep);
        }
        d.serving = self.serving;
        d.traffic = self.split(&d.state);
        d
    }

    /// The split while holding here: this step's weight and header routes once its pods are
    /// ready, the previous step's until then (requests never outrun the pods that serve them).
    fn split(&self, s: &RolloutState) -> Split {
        let ready = self.health.ready >= self.canary;
        let effective = if ready {
            Some(self.index)
        } else {
            self.index.checked_sub(1)
        };
        Split {
            stable: s.stable.or(Some(self.target)),
            canary: Some(self.target),
            weight: effective.map_or(0, |i| weight_at(self.steps, i)),
            headers: effective.map_or_else(Vec::new, |i| header_routes_at(self.steps, i)),
        }
    }

    /// The weight in effect at the last step: what requests get until the target serves alone.
    pub(super) fn last_weight(&self) -> u8 {
        weight_at(self.steps, self.steps.len().saturating_sub(1))
    }
}
