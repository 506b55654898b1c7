//! The values the rollout state machine reads and returns.

use std::collections::BTreeMap;
use std::time::Duration;

use lockstep_crd::spec::{RolloutSpec, Step};
use lockstep_crd::status::Phase;

use crate::core::traffic::Split;
pub use crate::core::traffic::canary_replicas;

/// What the controller saw of one revision's Deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevisionHealth {
    /// Ready pods.
    pub ready: i32,
    /// A reason that will not fix itself (`CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull`).
    pub failure: Option<String>,
    /// The newest container restart of a pod of this revision: when its last run ended (Unix
    /// seconds) and why (`OOMKilled`, `Error`, exit code). A restart during a step fails the
    /// step at once; restarts of a steady revision are not a rollout's business.
    pub last_restart: Option<(i64, String)>,
}

/// The result of one analysis query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnalysisOutcome {
    /// A number was returned.
    Value(f64),
    /// No data or NaN: never promotes, never fails by itself.
    Inconclusive,
}

/// What one analysis sample says, all queries together (see [`crate::core::rollout::judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// Every query passed.
    Pass,
    /// A query failed: which, with its value and threshold.
    Fail(String),
    /// No query failed, and one had no number: which.
    Inconclusive(String),
}

/// Everything `decide` looks at.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// Now, in Unix seconds.
    pub now: i64,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `spec.rollout`.
    pub rollout: &'a RolloutSpec,
    /// `spec.paused`.
    pub paused: bool,
    /// `spec.promote` token.
    pub promote: Option<&'a str>,
    /// `spec.abort` token.
    pub abort: Option<&'a str>,
    /// `spec.retry` token.
    pub retry: Option<&'a str>,
    /// Revision number the spec asks for.
    pub target: i64,
    /// Health of each revision's Deployment.
    pub health: &'a BTreeMap<i64, RevisionHealth>,
    /// Result of the analysis query, when the previous decision asked for one.
    pub analysis: Option<Vec<AnalysisOutcome>>,
    /// With `rollout.trafficRouting`: why the route cannot take the split (missing, without
    /// the two backends). The rollout holds where it is, with no deadline, until it can.
    pub traffic_blocked: Option<String>,
    /// The route took the split again after it could not: the step's clock starts now (a route
    /// fixed after an hour must not find the step overdue).
    pub traffic_restored: bool,
}

/// What the machine remembers between reconciles (kept in the status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutState {
    /// Last revision that completed a rollout.
    pub stable: Option<i64>,
    /// Revision being rolled out (or running, when equal to `stable`).
    pub current: Option<i64>,
    /// Canary step index.
    pub step: Option<u32>,
    /// Unix seconds when the step (or the rollout) started.
    pub step_started: Option<i64>,
    /// Passing analysis samples in this step.
    pub analysis_passes: u32,
    /// Failed analysis samples in this step.
    pub analysis_failures: u32,
    /// Inconclusive analysis samples in this step.
    pub analysis_inconclusive: u32,
    /// Unix seconds of the last analysis sample in this step.
    pub last_sample: Option<i64>,
    /// Last `promote` token acted on.
    pub observed_promote: Option<String>,
    /// Last `abort` token acted on.
    pub observed_abort: Option<String>,
    /// Last `retry` token acted on.
    pub observed_retry: Option<String>,
    /// Failed or aborted target, not retried until the spec changes.
    pub aborted: Option<i64>,
    /// Why `aborted` was rolled back.
    pub abort_reason: Option<String>,
    /// The previous stable revision kept at full size, and until when (Unix seconds).
    pub warm: Option<(i64, i64)>,
}

impl RolloutState {
    /// `promote` and `abort` act on the rollout in progress when they are given. Seen while no
    /// rollout is in progress, they are acknowledged and do nothing, so a stale token never hits a
    /// later rollout (an `abort` given to a Healthy service used to roll back the next spec change
    /// at once, a `promote --full` to skip all its steps).
    pub fn acknowledge_tokens(&mut self, obs: &Observed<'_>) {
        self.observed_promote = obs.promote.map(str::to_owned);
        self.observed_abort = obs.abort.map(str::to_owned);
        self.observed_retry = obs.retry.map(str::to_owned);
    }

    /// Starts counting analysis samples afresh (a new step, a new rollout, a rollback).
    pub fn reset_analysis(&mut self) {
        self.analysis_passes = 0;
        self.analysis_failures = 0;
        self.analysis_inconclusive = 0;
    }
}

/// A state change worth a Kubernetes Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Event reason (`RolloutStarted`, `StepCompleted`, `RolledBack`, …).
    pub reason: &'static str,
    /// Event message.
    pub message: String,
    /// `Warning` rather than `Normal`.
    pub warning: bool,
}

/// What should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state to store.
    pub state: RolloutState,
    /// Summary phase.
    pub phase: Phase,
    /// Explanation for `status.message`.
    pub message: String,
    /// Desired replicas per revision; revisions not listed run no pods.
    pub scale: BTreeMap<i64, i32>,
    /// Events to record.
    pub events: Vec<Transition>,
    /// Reconcile again after this long (timers, analysis intervals, deadlines).
    pub requeue_after: Option<Duration>,
    /// Run the analysis query and decide again with its outcome.
    pub analysis_needed: bool,
    /// The revision the Service selects alone (at rest); `None` while a rollout splits traffic
    /// across revisions by ready pods.
    pub serving: Option<i64>,
    /// How requests are split between `<name>-stable` and `<name>-canary`.
    pub traffic: Split,
}

impl Decision {
    pub(crate) fn new(state: RolloutState, phase: Phase, message: impl Into<String>) -> Self {
        Decision {
            state,
            phase,
            message: message.into(),
            scale: BTreeMap::new(),
            events: Vec::new(),
            requeue_after: None,
            analysis_needed: false,
            serving: None,
            traffic: Split::default(),
        }
    }

    pub(crate) fn event(
        mut self,
        reason: &'static str,
        message: impl Into<String>,
        warning: bool,
    ) -> Self {
        self.events.push(Transition {
            reason,
            message: message.into(),
            warning,
        });
        self
    }

    pub(crate) fn requeue(mut self, after: Duration) -> Self {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
        self
    }
}

/// Percent of replicas on the new revision at step `index`: the last `setWeight` at or before it.
pub fn weight_at(steps: &[Step], index: usize) -> u8 {
    steps
        .iter()
        .take(index + 1)
        .filter_map(|s| s.set_weight)
        .next_back()
        .unwrap_or(0)
}
