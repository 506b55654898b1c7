//! A rollout in progress, one reconcile at a time: the checks that stop it (abort, a failing or
//! restarting revision, the deadline), then the current step's gate (pods ready, analysis, a
//! pause, a promote), then advance or hold.
//!
//! Each step is a function that either decides ([`ControlFlow::Break`] with the decision) or
//! hands the state on; [`progress`] reads as the sequence.

use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use lockstep_crd::spec::{Pause, Step};
use lockstep_crd::status::Phase;

use super::analyse::{judge_sample, sample_due};
use super::at::At;
use super::blue_green;
use super::end::{finish, roll_back};
use super::types::{Decision, Observed, RolloutState, Transition};

/// A step's outcome that is not a decision of its own.
pub(super) type Next<T> = ControlFlow<Decision, T>;

/// The next decision for a target that is neither stable nor rolled back.
pub(super) fn progress(obs: &Observed<'_>, s: RolloutState) -> Decision {
    match steps(obs, s) {
        Break(d) | Continue(d) => d,
    }
}

fn steps(obs: &Observed<'_>, mut s: RolloutState) -> Next<Decision> {
    if obs.traffic_restored && s.step.is_some() {
        s.step_started = Some(obs.now);
    }
    let at = At::of(obs, &s);
    let s = aborted(obs, s, &at)?;
    let s = failing(obs, s, &at)?;
    let s = overdue(obs, s, &at)?;
    let mut s = restarted(obs, s, &at)?;
    if at.blue_green {
        return Break(blue_green::next(obs, s, at));
    }
    if at.index >= at.steps.len() {
        let d = finish(obs, s, &at.health, at.last_weight());
        return Break(d.requeue(at.remaining));
    }
    if s.step.is_none() {
        s.step = Some(0);
        s.step_started = Some(at.started);
    }
    if let Some(why) = &obs.traffic_blocked {
        let message = format!("step {}: waiting for traffic routing: {why}", at.index);
        return Break(at.hold(obs, s, Phase::Progressing, message));
    }
    if obs.paused {
        let message = format!("paused at step {} (spec.paused)", at.index);
        return Break(at.hold(obs, s, Phase::Paused, message));
    }
    let (s, promoted) = promote(obs, s, &at)?;
    let step = &at.steps[at.index];
    let (s, done) = match (step.set_weight, &step.pause) {
        (_, Some(pause)) => pause_step(obs, s, &at, pause, promoted)?,
        // setWeight, setHeaderRoute, setCanaryScale: the step's pods ready, and its analysis.
        _ => weight_step(obs, s, &at, promoted)?,
    };
    Continue(match done {
        Some(why) => advance(obs, s, &at, why),
        None => wait(obs, s, &at),
    })
}

/// A new `abort` token rolls back.
fn aborted(obs: &Observed<'_>, mut s: RolloutState, at: &At<'_>) -> Next<RolloutState> {
    if obs.abort.is_none() || obs.abort.map(str::to_owned) == s.observed_abort {
        return Continue(s);
    }
    s.observed_abort = obs.abort.map(str::to_owned);
    let target = at.target;
    let mut d = roll_back(obs, s, format!("rollout of revision {target} aborted"));
    d.events.insert(
        0,
        Transition {
            reason: "Aborted",
            message: format!("abort requested for revision {target}"),
            warning: false,
        },
    );
    Break(d)
}

/// A failure that will not heal (crash loop, image pull) rolls back.
fn failing(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Next<RolloutState> {
    match &at.health.failure {
        Some(reason) => Break(roll_back(
            obs,
            s,
            format!("revision {} is failing: {reason}", at.target),
        )),
        None => Continue(s),
    }
}

/// A step that made no progress within the deadline rolls back, unless it waits on a person
/// (a pause, a blue-green preview waiting for promotion, a route to fix).
fn overdue(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Next<RolloutState> {
    let waiting_on_person = obs.paused
        || obs.traffic_blocked.is_some()
        || (at.blue_green && blue_green::waits_for_promotion(&s))
        || matches!(at.steps.get(at.index), Some(Step { pause: Some(_), .. }));
    let deadline = i64::from(obs.rollout.progress_deadline_seconds);
    if waiting_on_person || obs.now - at.started <= deadline {
        return Continue(s);
    }
    let why = format!("revision {} made no progress within {deadline}s", at.target);
    Break(roll_back(obs, s, why))
}

/// A container restart during the step rolls back.
fn restarted(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Next<RolloutState> {
    let restart = at.health.last_restart.as_ref();
    match restart.filter(|(when, _)| *when >= at.started) {
        Some((when, why)) => {
            let ago = obs.now - when;
            let why = format!("revision {} restarted {ago}s ago: {why}", at.target);
            Break(roll_back(obs, s, why))
        }
        None => Continue(s),
    }
}

/// A new `promote` token: `full…` finishes the rollout at once; any other passes this step's
/// gate. Returns whether the step was promoted.
pub(super) fn promote(
    obs: &Observed<'_>,
    mut s: RolloutState,
    at: &At<'_>,
) -> Next<(RolloutState, bool)> {
    let promoted = obs.promote.is_some() && obs.promote.map(str::to_owned) != s.observed_promote;
    if !promoted {
        return Continue((s, false));
    }
    s.observed_promote = obs.promote.map(str::to_owned);
    if obs.promote.is_some_and(|p| p.starts_with("full")) {
        s.step = Some(at.steps.len() as u32);
        s.step_started = Some(obs.now);
        let message = format!("revision {} promoted to 100 %", at.target);
        let d = finish(obs, s, &at.health, at.weight);
        return Break(d.event("Promoted", message, false));
    }
    Continue((s, true))
}

/// A `setWeight` step passes once its pods are ready and, with analysis, enough samples pass.
fn weight_step(
    obs: &Observed<'_>,
    s: RolloutState,
    at: &At<'_>,
    promoted: bool,
) -> Next<(RolloutState, Option<&'static str>)> {
    if at.health.ready < at.canary {
        return Continue((s, None));
    }
    match (&obs.rollout.analysis, &obs.analysis) {
        _ if promoted => Continue((s, Some("promoted"))),
        (None, _) => Continue((s, Some("healthy"))),
        (Some(a), None) => Break(sample_due(obs, s, at, a)),
        (Some(a), Some(outcomes)) => judge_sample(obs, s, at, a, outcomes),
    }
}

/// A `pause` step passes when promoted or when its duration has elapsed; without a duration
/// it waits for `promote`.
fn pause_step(
    obs: &Observed<'_>,
    s: RolloutState,
    at: &At<'_>,
    pause: &Pause,
    promoted: bool,
) -> Next<(RolloutState, Option<&'static str>)> {
    let (index, weight) = (at.index, at.weight);
    let Some(duration) = pause.duration.filter(|_| !promoted) else {
        if promoted {
            return Continue((s, Some("promoted")));
        }
        let message = format!("step {index}: waiting for promote at {weight} %");
        return Break(at.hold(obs, s, Phase::Paused, message));
    };
    let wait = i64::try_from(std::time::Duration::from(duration).as_secs()).unwrap_or(i64::MAX);
    let waited = obs.now - at.started;
    if waited >= wait {
        return Continue((s, Some("pause elapsed")));
    }
    let message = format!("step {index}: pausing {wait}s at {weight} %");
    let left = Duration::from_secs(u64::try_from(wait - waited).unwrap_or(0));
    Break(at.hold(obs, s, Phase::Paused, message).requeue(left))
}

/// The step is done: the next one starts at once.
fn advance(obs: &Observed<'_>, mut s: RolloutState, at: &At<'_>, why: &str) -> Decision {
    let index = at.index;
    s.step = Some(index as u32 + 1);
    s.step_started = Some(obs.now);
    s.reset_analysis();
    s.last_sample = None;
    let message = format!("step {index} done ({why})");
    at.hold(obs, s, Phase::Progressing, message)
        .event(
            "StepCompleted",
            format!("revision {}: step {index} done ({why})", at.target),
            false,
        )
        .requeue(Duration::ZERO)
}

/// The step is not done: look again at the next sample, or by the deadline.
fn wait(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Decision {
    let interval = obs.rollout.analysis.as_ref().map_or(at.remaining, |a| {
        Duration::from_secs(u64::from(a.interval_seconds))
    });
    let message = format!(
        "step {}: {}/{} ready at {} %",
        at.index, at.health.ready, at.canary, at.weight
    );
    at.hold(obs, s, Phase::Progressing, message)
        .requeue(interval.min(at.remaining))
}
