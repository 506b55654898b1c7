//! From one service object and what the cluster holds to the list of API calls to make.
//!
//! This is the whole reconcile decision, still pure: the controller lists the objects, calls
//! [`plan`], and executes the [`Action`]s in order. A service in steady state plans no action at
//! all — zero writes — because every object and the status are compared before anything is
//! planned.
//!
//! ```text
//!  plan ─► rollbackTo?  ──► rollback::plan (rewrite the spec, or refuse)
//!       ─► content      ──► refused (config invalid: Degraded, nothing touched)
//!       ─► target       the revision of the spec's content (a new one is created)
//!       ─► decide       the rollout state machine on the revisions' health
//!       ─► children     Deployments scaled or repaired, the Service routed, revisions pruned,
//!                       lost ConfigMaps restored
//!       ─► status       written when it differs from what the server holds
//! ```

use std::collections::BTreeMap;

use kube::ResourceExt;
use lockstep_crd::status::ServiceStatus;

use crate::core::render::LABEL_SERVICE;
use crate::core::rollout::{
    AnalysisOutcome, Decision, Observed, RevisionHealth, RolloutState, analysis_for, decide,
};
use crate::kinds::LockstepService;
use crate::kinds::revision::{Revision, RevisionContent, find_by_hash, next_number};

mod children;
mod preflight;
mod rollback;
mod status;
mod traffic;
mod types;

pub use preflight::{failure_message, is_refused};
use status::{push, seconds, time};
pub use types::{
    Action, Cluster, ObservedDeployment, Plan, PreflightRun, RouteProblem, RouteSeen,
    TemplateFingerprint,
};

/// How soon a service whose route cannot take its split is looked at again.
pub const ROUTE_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

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

/// Plans one reconcile of `svc` at Unix time `now`.
pub fn plan<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    now: i64,
    analysis: Option<Vec<AnalysisOutcome>>,
) -> Plan {
    let prev = svc.status();
    let mut status = prev.cloned().unwrap_or_default();
    status.observed_generation = svc.meta().generation;
    if status.selector.is_none() {
        status.selector = Some(format!("{LABEL_SERVICE}={}", svc.name_any()));
    }
    if let Some(rollback) = svc.common().rollback_to {
        return rollback::plan(svc, rollback, cluster, status, now);
    }
    let content = match svc.content() {
        Ok(content) => content,
        Err(e) => return status::refused(svc, status, "InvalidConfig", &e.to_string(), now),
    };
    let mut plan = Plan::default();
    let (target, revisions) = target(svc, cluster, content, now, &mut plan);
    let checked = revisions.iter().find(|r| r.number == target);
    if let Some(held) =
        checked.and_then(|rev| preflight::gate(svc, cluster, rev, status.clone(), now, &mut plan))
    {
        return held;
    }
    let name = svc.name_any();
    let spec = svc.common();
    let namespace = svc.namespace().unwrap_or_default();
    let routing = traffic::Routing::of(&name, &namespace, spec.rollout);
    let blocked = routing
        .as_ref()
        .and_then(|r| r.blocked(cluster, spec.rollout));
    let restored = routing.is_some() && blocked.is_none() && traffic::was_blocked(prev);
    let traffic = (blocked.clone(), restored);
    let decision = decide_rollout(svc, cluster, target, now, analysis, traffic);
    // A pod in a grace period is looked at again when it ends, even if nothing else changes.
    plan.requeue_after = match (decision.requeue_after, cluster.recheck_after) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    plan.analysis_needed = decision.analysis_needed;
    plan.analysis = decision
        .analysis_needed
        .then(|| analysis_for(spec.rollout, &decision.state).cloned())
        .flatten();
    plan.target = Some(target);
    plan.phase = Some(decision.phase);
    children::scale(
        &name,
        &spec,
        cluster,
        &revisions,
        &decision,
        &mut plan.actions,
    );
    if cluster.service_routes != Some(decision.serving) {
        plan.actions.push(Action::ApplyService(decision.serving));
    }
    let refused = traffic::actions(
        &name,
        spec.rollout,
        routing.as_ref(),
        cluster,
        &decision,
        target,
        &mut plan.actions,
    );
    let blocked = blocked.or(refused.map(|p| p.to_string()));
    if blocked.is_some() {
        // The route is not watched (the Gateway API CRDs are optional): look again soon.
        let again = ROUTE_RECHECK;
        plan.requeue_after = Some(plan.requeue_after.map_or(again, |d| d.min(again)));
    }
    children::keep(
        &name,
        &spec,
        cluster,
        &revisions,
        &decision,
        target,
        &mut plan.actions,
    );
    let mut events = decision.events.clone();
    let mut status = status::after(svc, cluster, status, &decision, target, now);
    let preview = traffic::preview(&name, spec.rollout);
    let routing = routing.as_ref();
    let before = prev.map_or(&[][..], |p| p.conditions.as_slice());
    let blocked = blocked.as_deref();
    let event = traffic::status(
        routing,
        preview,
        &decision,
        blocked,
        before,
        &mut status,
        now,
    );
    events.extend(event);
    plan.actions.extend(events.into_iter().map(Action::Event));
    push(&mut plan, prev, status);
    plan
}

/// The number of the revision with `content`: a kept one with the same hash, or a new one
/// (planned as [`Action::CreateRevision`]). Returns it with every revision, the new one too.
fn target<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    content: RevisionContent,
    now: i64,
    plan: &mut Plan,
) -> (i64, Vec<Revision>) {
    let hash = content.hash();
    let mut revisions = cluster.revisions.clone();
    if let Some(kept) = find_by_hash(&revisions, &hash) {
        return (kept.number, revisions);
    }
    let cause = svc
        .annotations()
        .get("kubernetes.io/change-cause")
        .cloned()
        .unwrap_or_else(|| "spec change".into());
    let rev = Revision {
        number: next_number(&revisions),
        hash,
        content,
        cause,
        created: time(now).map(|t| t.0.to_string()).unwrap_or_default(),
    };
    plan.actions.push(Action::CreateRevision(rev.clone()));
    let number = rev.number;
    revisions.push(rev);
    (number, revisions)
}

/// Each revision's health: its Deployment's counted pods, a failure that will not heal, its
/// newest restart. A revision whose Deployment is gone but whose pods still fail counts too.
fn health(cluster: &Cluster) -> BTreeMap<i64, RevisionHealth> {
    let of = |n: &i64, ready: i32| RevisionHealth {
        ready,
        failure: cluster.failures.get(n).cloned(),
        last_restart: cluster.restarts.get(n).cloned(),
    };
    let with_deployment = cluster
        .deployments
        .iter()
        .map(|(n, d)| (*n, of(n, d.ready)));
    let without = cluster
        .failures
        .keys()
        .filter(|n| !cluster.deployments.contains_key(n))
        .map(|n| (*n, of(n, 0)));
    with_deployment.chain(without).collect()
}

/// The rollout state machine's decision for `target`, from the spec, the health and the
/// rollout memory in the status.
fn decide_rollout<S: LockstepService>(
    svc: &S,
    cluster: &Cluster,
    target: i64,
    now: i64,
    analysis: Option<Vec<AnalysisOutcome>>,
    (traffic_blocked, traffic_restored): (Option<String>, bool),
) -> Decision {
    let spec = svc.common();
    let health = health(cluster);
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
        traffic_blocked,
        traffic_restored,
    };
    decide(&observed, &state_of(svc.status()))
}
