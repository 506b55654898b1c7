//! Analysis samples during a step: when the next one is due, and what one sample does to the
//! step's counts (pass it, or roll back beyond the failure and inconclusive limits).

use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use lockstep_crd::spec::Analysis;
use lockstep_crd::status::Phase;

use super::at::At;
use super::end::roll_back;
use super::judge::judge;
use super::types::{AnalysisOutcome, Decision, Observed, RolloutState, Sample};

/// Healthy, and the analysis has no sample for this reconcile: ask for one when it is due.
/// Samples keep their schedule: a reconcile caused by anything else (a status write, a pod
/// event) before the interval is up takes none.
pub(super) fn sample_due(
    obs: &Observed<'_>,
    s: RolloutState,
    at: &At<'_>,
    a: &Analysis,
) -> Decision {
    let due = s
        .last_sample
        .map_or(obs.now, |t| t + i64::from(a.interval_seconds));
    let message = if at.blue_green {
        format!("{}: healthy, analysing", at.label)
    } else {
        format!("{}: {} % healthy, analysing", at.label, at.weight)
    };
    let mut d = at.hold(obs, s, Phase::Progressing, message);
    if obs.now < due {
        let wait = Duration::from_secs(u64::try_from(due - obs.now).unwrap_or(0));
        return d.requeue(wait.min(at.remaining));
    }
    d.analysis_needed = true;
    d.requeue(at.remaining)
}

/// Counts one analysis sample: enough passes pass the step; failures or inconclusive samples
/// beyond their limits roll back.
pub(super) fn judge_sample(
    obs: &Observed<'_>,
    mut s: RolloutState,
    at: &At<'_>,
    a: &Analysis,
    outcomes: &[AnalysisOutcome],
) -> ControlFlow<Decision, (RolloutState, Option<&'static str>)> {
    s.last_sample = Some(obs.now);
    let index = &at.label;
    match judge(a, outcomes) {
        Sample::Pass => {
            s.analysis_passes += 1;
            let passed = s.analysis_passes >= a.samples;
            Continue((s, passed.then_some("analysis passed")))
        }
        Sample::Fail(why) => {
            s.analysis_failures += 1;
            if s.analysis_failures > a.failure_limit {
                let why = format!("analysis failed at {index}: {why}");
                return Break(roll_back(obs, s, why));
            }
            Continue((s, None))
        }
        Sample::Inconclusive(why) => {
            s.analysis_inconclusive += 1;
            let n = s.analysis_inconclusive;
            if a.inconclusive_limit.is_some_and(|limit| n > limit) {
                let why = format!("analysis inconclusive {n} times at {index}: {why}");
                return Break(roll_back(obs, s, why));
            }
            Continue((s, None))
        }
    }
}
