//! A rollout scenario harness: a spec and a clock, fed observations in turn, deciding twice
//! each time to check that `decide` is deterministic.
#![allow(dead_code, unreachable_pub)] // each test file uses its own subset

use std::collections::BTreeMap;
use std::time::Duration;

use lockstep_crd::spec::{Pause, RolloutSpec, Step, Strategy};
use lockstep_operator::core::rollout::{
    AnalysisOutcome, Decision, Observed, RevisionHealth, RolloutState, decide,
};

pub(crate) const T0: i64 = 1_800_000_000;

pub(crate) fn weight(w: u8) -> Step {
    Step {
        set_weight: Some(w),
        pause: None,
        ..Step::default()
    }
}
pub(crate) fn pause(secs: Option<u64>) -> Step {
    Step {
        set_weight: None,
        pause: Some(Pause {
            duration: secs.map(|s| Duration::from_secs(s).into()),
        }),
        ..Step::default()
    }
}
/// A canary rollout that scales the previous revision down as the new one becomes ready
/// (`scaleDownDelaySeconds: 0`); [`warm_canary`] keeps it warm instead.
pub(crate) fn canary(steps: Vec<Step>) -> RolloutSpec {
    RolloutSpec {
        strategy: Strategy::Canary,
        steps,
        scale_down_delay_seconds: 0,
        ..RolloutSpec::default()
    }
}

/// A canary rollout with the default `scaleDownDelaySeconds` (60).
pub(crate) fn warm_canary(steps: Vec<Step>) -> RolloutSpec {
    RolloutSpec {
        strategy: Strategy::Canary,
        steps,
        ..RolloutSpec::default()
    }
}

/// One scenario: a spec and a clock, fed observations in turn.
pub(crate) struct Run {
    pub(crate) rollout: RolloutSpec,
    pub(crate) replicas: i32,
    pub(crate) target: i64,
    pub(crate) now: i64,
    pub(crate) paused: bool,
    pub(crate) promote: Option<String>,
    pub(crate) abort: Option<String>,
    pub(crate) retry: Option<String>,
    pub(crate) health: BTreeMap<i64, RevisionHealth>,
    pub(crate) state: RolloutState,
    pub(crate) traffic_blocked: Option<String>,
    pub(crate) traffic_restored: bool,
}

impl Run {
    pub(crate) fn new(rollout: RolloutSpec, stable: Option<i64>, target: i64) -> Run {
        let state = RolloutState {
            stable,
            current: stable,
            ..RolloutState::default()
        };
        Run {
            rollout,
            replicas: 4,
            target,
            now: T0,
            paused: false,
            promote: None,
            abort: None,
            retry: None,
            health: BTreeMap::new(),
            state,
            traffic_blocked: None,
            traffic_restored: false,
        }
    }
    pub(crate) fn ready(&mut self, revision: i64, ready: i32) -> &mut Self {
        self.health.entry(revision).or_default().ready = ready;
        self
    }
    pub(crate) fn failing(&mut self, revision: i64, reason: &str) -> &mut Self {
        self.health.entry(revision).or_default().failure = Some(reason.into());
        self
    }
    /// One decision, with one sample of the (single-query) analysis if given.
    pub(crate) fn step(&mut self, analysis: Option<AnalysisOutcome>) -> Decision {
        self.sample(analysis.map(|a| vec![a]))
    }

    /// One decision, with one sample of every query of the analysis if given.
    pub(crate) fn sample(&mut self, analysis: Option<Vec<AnalysisOutcome>>) -> Decision {
        let obs = Observed {
            now: self.now,
            replicas: self.replicas,
            rollout: &self.rollout,
            paused: self.paused,
            promote: self.promote.as_deref(),
            abort: self.abort.as_deref(),
            retry: self.retry.as_deref(),
            target: self.target,
            health: &self.health,
            analysis,
            traffic_blocked: self.traffic_blocked.clone(),
            traffic_restored: self.traffic_restored,
        };
        let d = decide(&obs, &self.state);
        // Deciding twice on the same input gives the same answer: reconciles are idempotent.
        let again = decide(&obs, &self.state);
        assert_eq!(d, again, "decide is not deterministic");
        self.state = d.state.clone();
        d
    }
}

/// `query` passing below 0.05 with `samples` passes per step (the manifest defaults otherwise).
pub(crate) fn analysis(query: &str, samples: u32) -> lockstep_crd::spec::Analysis {
    lockstep_crd::spec::Analysis {
        samples,
        ..lockstep_crd::spec::Analysis::new(query, 0.05)
    }
}

pub(crate) fn scale(pairs: &[(i64, i32)]) -> BTreeMap<i64, i32> {
    pairs.iter().copied().collect()
}
pub(crate) fn reasons(d: &Decision) -> Vec<&str> {
    d.events.iter().map(|e| e.reason).collect()
}
