//! The rollout state machine: a pure function from what was observed to what should be.
//!
//! ```text
//!               spec changes target                health ok, last step done
//!  Healthy ───────────────────────────► Progressing ─────────────────────────► Healthy
//!     ▲        (stable == target)        │  ▲   │ pause step / paused          (stable := target)
//!     │                                  │  │   ▼
//!     │                                  │  └─ Paused ◄── promote token / duration elapsed
//!     │                                  │
//!     │      crash loop / image pull / deadline / failed analysis / abort token
//!     │                                  ▼
//!     └──── spec changes again ◄──── RolledBack (stable serves; target not retried)
//! ```
//!
//! Every fact the machine remembers between reconciles is in [`RolloutState`], which the
//! controller stores in the status. Timers are requeues computed from `step_started`, never
//! sleeps, so a restarted operator continues the same step at the same point.

mod analyse;
mod at;
mod blue_green;
mod end;
mod judge;
mod progress;
mod types;

use std::time::Duration;

use lockstep_crd::spec::{Analysis, RolloutSpec, Strategy};
use lockstep_crd::status::Phase;

use crate::core::traffic::Split;

use end::rolled_back;
pub use judge::{compare, judge, passes};
use progress::progress;
pub use types::{
    AnalysisOutcome, Decision, Observed, RevisionHealth, RolloutState, Sample, Transition,
    canary_replicas, weight_at,
};

/// Decides the next state from the previous one and what was observed.
pub fn decide(obs: &Observed<'_>, prev: &RolloutState) -> Decision {
    let mut s = prev.clone();
    let target = obs.target;
    let mut started = Vec::new();
    if s.current != Some(target) {
        s.current = Some(target);
        // A warm revision is out of the Service only at rest: a rollout splits traffic across
        // every revision with pods, so it goes (or it is the target, and serves anyway).
        s.warm = None;
        s.step = None;
        s.step_started = Some(obs.now);
        s.reset_analysis();
        s.last_sample = None;
        if s.stable != Some(target) && s.aborted != Some(target) {
            s.aborted = None;
            s.abort_reason = None;
            started.push(Transition {
                reason: "RolloutStarted",
                message: format!("rolling out revision {target}"),
                warning: false,
            });
        }
    }
    // `retry`: a new token given while the target is the rolled-back revision rolls it out again
    // (from its first step), without a spec edit. Seen at any other time it is acknowledged.
    let retry = obs.retry.is_some() && obs.retry.map(str::to_owned) != s.observed_retry;
    if retry && s.aborted == Some(target) {
        s.observed_retry = obs.retry.map(str::to_owned);
        s.aborted = None;
        s.abort_reason = None;
        s.step = None;
        s.step_started = Some(obs.now);
        s.reset_analysis();
        s.last_sample = None;
        // Tokens given before the retry belong to the failed attempt.
        s.observed_promote = obs.promote.map(str::to_owned);
        s.observed_abort = obs.abort.map(str::to_owned);
        started.push(Transition {
            reason: "RolloutRetried",
            message: format!("rolling out revision {target} again (spec.retry)"),
            warning: false,
        });
    }
    let mut decision = if s.aborted == Some(target) {
        rolled_back(obs, s)
    } else if s.stable == Some(target) {
        steady(obs, s)
    } else {
        progress(obs, s)
    };
    started.append(&mut decision.events);
    decision.events = started;
    // A Service that selects one revision alone gets every request on the route too.
    if let Some(n) = decision.serving {
        decision.traffic = Split::only(n);
    }
    decision
}

/// The analysis a decision with `analysis_needed` asks to sample: blue-green's pre- or
/// post-promotion analysis by stage, a canary's `rollout.analysis`.
pub fn analysis_for<'a>(rollout: &'a RolloutSpec, state: &RolloutState) -> Option<&'a Analysis> {
    match rollout.strategy {
        Strategy::BlueGreen => blue_green::analysis(rollout, state),
        _ => rollout.analysis.as_ref(),
    }
}

fn steady(obs: &Observed<'_>, mut s: RolloutState) -> Decision {
    s.step = None;
    s.step_started = None;
    s.reset_analysis();
    s.last_sample = None;
    s.acknowledge_tokens(obs);
    let health = obs.health.get(&obs.target).cloned().unwrap_or_default();
    let (phase, message) = match &health.failure {
        Some(reason) => (
            Phase::Degraded,
            format!("revision {} is failing: {reason}", obs.target),
        ),
        None if health.ready >= obs.replicas => (
            Phase::Healthy,
            format!(
                "revision {} serves all {} replicas",
                obs.target, obs.replicas
            ),
        ),
        None => (
            Phase::Progressing,
            format!(
                "revision {}: {}/{} ready",
                obs.target, health.ready, obs.replicas
            ),
        ),
    };
    let warm = s
        .warm
        .filter(|(w, until)| *w != obs.target && obs.now < *until);
    s.warm = warm;
    let mut d = Decision::new(s, phase, message);
    d.scale.insert(obs.target, obs.replicas);
    d.serving = Some(obs.target);
    if let Some((w, until)) = warm {
        d.scale.insert(w, obs.replicas);
        d.requeue_after = Some(Duration::from_secs(
            u64::try_from(until - obs.now).unwrap_or(1),
        ));
    }
    d
}
