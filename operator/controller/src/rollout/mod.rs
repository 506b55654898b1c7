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

mod end;
mod types;

use std::time::Duration;

use lockstep_crd::spec::{Analysis, Comparison, Step, Strategy};
use lockstep_crd::status::Phase;

use end::{finish, roll_back, rolled_back};
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
    decision
}

/// `promote` and `abort` act on the rollout in progress when they are given. Seen while no
/// rollout is in progress, they are acknowledged and do nothing, so a stale token never hits a
/// later rollout (an `abort` given to a Healthy service used to roll back the next spec change
/// at once, a `promote --full` to skip all its steps).
pub(super) fn acknowledge_tokens(obs: &Observed<'_>, s: &mut RolloutState) {
    s.observed_promote = obs.promote.map(str::to_owned);
    s.observed_abort = obs.abort.map(str::to_owned);
    s.observed_retry = obs.retry.map(str::to_owned);
}

fn steady(obs: &Observed<'_>, mut s: RolloutState) -> Decision {
    s.step = None;
    s.step_started = None;
    s.reset_analysis();
    s.last_sample = None;
    acknowledge_tokens(obs, &mut s);
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

/// Whether one analysis sample `value` passes `analysis`'s (first query's) threshold.
pub fn passes(analysis: &Analysis, value: f64) -> bool {
    compare(analysis.comparison, value, analysis.threshold)
}

/// Whether `value` is on the passing side of `threshold`.
pub fn compare(comparison: Comparison, value: f64, threshold: f64) -> bool {
    match comparison {
        Comparison::LessThan => value < threshold,
        Comparison::GreaterThan => value > threshold,
    }
}

/// What one sample of every query of `analysis` says, `outcomes` in query order (`query`
/// first, then `queries`): a failure of any query fails the sample; otherwise a query without
/// a number makes it inconclusive; a sample passes only when every query passes. A missing
/// outcome counts as inconclusive.
pub fn judge(analysis: &Analysis, outcomes: &[AnalysisOutcome]) -> Sample {
    let checks = std::iter::once(("query", analysis.comparison, analysis.threshold)).chain(
        analysis
            .queries
            .iter()
            .map(|q| (q.name.as_str(), q.comparison, q.threshold)),
    );
    let mut inconclusive = None;
    for (i, (name, comparison, threshold)) in checks.enumerate() {
        match outcomes.get(i) {
            Some(AnalysisOutcome::Value(v)) if compare(comparison, *v, threshold) => {}
            Some(AnalysisOutcome::Value(v)) => {
                return Sample::Fail(format!("{name}: {v} against threshold {threshold}"));
            }
            Some(AnalysisOutcome::Inconclusive) | None => {
                inconclusive.get_or_insert_with(|| format!("{name}: no number"));
            }
        }
    }
    inconclusive.map_or(Sample::Pass, Sample::Inconclusive)
}

fn progress(obs: &Observed<'_>, mut s: RolloutState) -> Decision {
    let target = obs.target;
    let health = obs.health.get(&target).cloned().unwrap_or_default();
    if obs.abort.is_some() && obs.abort.map(str::to_owned) != s.observed_abort {
        s.observed_abort = obs.abort.map(str::to_owned);
        let mut d = roll_back(obs, s, format!("rollout of revision {target} aborted"));
        d.events.insert(
            0,
            Transition {
                reason: "Aborted",
                message: format!("abort requested for revision {target}"),
                warning: false,
            },
        );
        return d;
    }
    if let Some(reason) = &health.failure {
        return roll_back(obs, s, format!("revision {target} is failing: {reason}"));
    }
    // A first deploy has nothing to compare a canary with: it goes straight to full size. So
    // does a rollback — `undo`, `rollbackTo`, or a spec edited back to an older revision (revision
    // numbers only grow, so a target older than the stable one is a way back): an incident
    // rollback must not stop at a pause waiting for a person.
    let steps: &[Step] = match (obs.rollout.strategy, s.stable) {
        (Strategy::Canary, Some(stable)) if target > stable => &obs.rollout.steps,
        _ => &[],
    };
    let index = s.step.unwrap_or(0) as usize;
    let waiting_on_person =
        obs.paused || matches!(steps.get(index), Some(Step { pause: Some(_), .. }));
    let started = s.step_started.unwrap_or(obs.now);
    let deadline = i64::from(obs.rollout.progress_deadline_seconds);
    let elapsed = obs.now - started;
    if !waiting_on_person && elapsed > deadline {
        return roll_back(
            obs,
            s,
            format!("revision {target} made no progress within {deadline}s"),
        );
    }
    if let Some((at, why)) = health
        .last_restart
        .as_ref()
        .filter(|(at, _)| *at >= started)
    {
        let ago = obs.now - at;
        return roll_back(
            obs,
            s,
            format!("revision {target} restarted {ago}s ago: {why}"),
        );
    }
    let remaining = Duration::from_secs((deadline - elapsed).max(0) as u64 + 1);
    if index >= steps.len() {
        return finish(obs, s, &health).requeue(remaining);
    }
    if s.step.is_none() {
        s.step = Some(0);
        s.step_started = Some(started);
    }
    let weight = weight_at(steps, index);
    let canary = canary_replicas(obs.replicas, weight);
    let healthy = health.ready >= canary;
    let promoted = obs.promote.is_some() && obs.promote.map(str::to_owned) != s.observed_promote;
    let full = promoted && obs.promote.is_some_and(|p| p.starts_with("full"));
    let scale_for = |d: &mut Decision| {
        d.scale.insert(target, canary);
        if let Some(stable) = d.state.stable {
            d.scale.insert(stable, obs.replicas - canary);
        }
    };
    if obs.paused {
        let mut d = Decision::new(
            s,
            Phase::Paused,
            format!("paused at step {index} (spec.paused)"),
        );
        scale_for(&mut d);
        return d;
    }
    if promoted {
        s.observed_promote = obs.promote.map(str::to_owned);
        if full {
            s.step = Some(steps.len() as u32);
            s.step_started = Some(obs.now);
            return finish(obs, s, &health).event(
                "Promoted",
                format!("revision {target} promoted to 100 %"),
                false,
            );
        }
    }
    let step = &steps[index];
    let advance = match (step.set_weight, &step.pause) {
        (Some(_), _) if !healthy => None,
        (Some(_), _) => match (&obs.rollout.analysis, &obs.analysis) {
            _ if promoted => Some("promoted"),
            (None, _) => Some("healthy"),
            (Some(a), None) => {
                // Samples keep their schedule: a reconcile caused by anything else (a status
                // write, a pod event) before the interval is up takes none.
                let due = s
                    .last_sample
                    .map_or(obs.now, |t| t + i64::from(a.interval_seconds));
                let mut d = Decision::new(
                    s,
                    Phase::Progressing,
                    format!("step {index}: {weight} % healthy, analysing"),
                );
                scale_for(&mut d);
                if obs.now < due {
                    let wait = Duration::from_secs((due - obs.now) as u64);
                    return d.requeue(wait.min(remaining));
                }
                d.analysis_needed = true;
                return d.requeue(remaining);
            }
            (Some(a), Some(outcomes)) => {
                s.last_sample = Some(obs.now);
                match judge(a, outcomes) {
                    Sample::Pass => {
                        s.analysis_passes += 1;
                        (s.analysis_passes >= a.samples).then_some("analysis passed")
                    }
                    Sample::Fail(why) => {
                        s.analysis_failures += 1;
                        if s.analysis_failures > a.failure_limit {
                            return roll_back(
                                obs,
                                s,
                                format!("analysis failed at step {index}: {why}"),
                            );
                        }
                        None
                    }
                    Sample::Inconclusive(why) => {
                        s.analysis_inconclusive += 1;
                        if let Some(limit) = a.inconclusive_limit
                            && s.analysis_inconclusive > limit
                        {
                            let n = s.analysis_inconclusive;
                            return roll_back(
                                obs,
                                s,
                                format!("analysis inconclusive {n} times at step {index}: {why}"),
                            );
                        }
                        None
                    }
                }
            }
        },
        (None, Some(pause)) => match pause.duration {
            _ if promoted => Some("promoted"),
            None => {
                let mut d = Decision::new(
                    s,
                    Phase::Paused,
                    format!("step {index}: waiting for promote at {weight} %"),
                );
                scale_for(&mut d);
                return d;
            }
            Some(duration) => {
                let wait = std::time::Duration::from(duration).as_secs() as i64;
                if obs.now - started >= wait {
                    Some("pause elapsed")
                } else {
                    let mut d = Decision::new(
                        s,
                        Phase::Paused,
                        format!("step {index}: pausing {wait}s at {weight} %"),
                    );
                    scale_for(&mut d);
                    return d.requeue(Duration::from_secs((wait - (obs.now - started)) as u64));
                }
            }
        },
        (None, None) => Some("empty step"),
    };
    match advance {
        Some(why) => {
            s.step = Some(index as u32 + 1);
            s.step_started = Some(obs.now);
            s.reset_analysis();
            s.last_sample = None;
            let mut d = Decision::new(s, Phase::Progressing, format!("step {index} done ({why})"));
            scale_for(&mut d);
            d.event(
                "StepCompleted",
                format!("revision {target}: step {index} done ({why})"),
                false,
            )
            .requeue(Duration::ZERO)
        }
        None => {
            let interval = obs.rollout.analysis.as_ref().map_or(remaining, |a| {
                Duration::from_secs(u64::from(a.interval_seconds))
            });
            let mut d = Decision::new(
                s,
                Phase::Progressing,
                format!(
                    "step {index}: {}/{canary} ready at {weight} %",
                    health.ready
                ),
            );
            scale_for(&mut d);
            d.requeue(interval.min(remaining))
        }
    }
}
