//! The status every kind report. All rollout state lives here (step, timers, revisions), so a
//! restarted or newly elected operator resumes mid-step instead of starting over.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a service stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// A new revision is being rolled out.
    Progressing,
    /// Waiting for `promote` (or `paused: true`).
    Paused,
    /// The target revision runs everywhere and is ready.
    Healthy,
    /// Something is wrong and no automatic action can fix it (see `message`).
    Degraded,
    /// A rollout failed or was aborted; the stable revision (image and config) runs again.
    RolledBack,
}

/// Condition types the operator sets.
pub mod condition {
    /// The release's config passed validation.
    pub const CONFIG_VALID: &str = "ConfigValid";
    /// A rollout is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// Enough ready replicas of the current revision serve traffic.
    pub const AVAILABLE: &str = "Available";
    /// The rollout waits for a person.
    pub const PAUSED: &str = "Paused";
    /// The service is degraded.
    pub const DEGRADED: &str = "Degraded";
    /// The last `rollbackTo` named a revision that is not kept; the message lists the kept
    /// ones. Stays until the next rollout starts.
    pub const ROLLBACK_REFUSED: &str = "RollbackRefused";
    /// With `rollout.trafficRouting`: the route holds the split the rollout asks for. False
    /// (route missing, without the two backends, write refused) holds the rollout.
    pub const TRAFFIC_ROUTED: &str = "TrafficRouted";
}

/// Status of an `AlbumService` or `NoteService`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Summary state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Standard conditions (see [`condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Revision number the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<i64>,
    /// Last revision that completed a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<i64>,
    /// The stable revision before `stableRevision`: what `kubectl lockstep undo` goes back to
    /// (a second undo then returns to where the first started). A revision that was rolled
    /// back never became stable, so it is never this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<i64>,
    /// Index of the canary step in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// When the current step started (timers are requeues measured from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    /// Passing analysis samples in the current step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_passes: Option<u32>,
    /// Failed analysis samples in the current step (see `failureLimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_failures: Option<u32>,
    /// Inconclusive analysis samples in the current step (see `inconclusiveLimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_inconclusive: Option<u32>,
    /// When the last analysis sample of this step was taken: samples follow
    /// `analysis.intervalSeconds` whatever else makes the operator reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sample_at: Option<Time>,
    /// The previous stable revision, kept running at full size (out of the Service) until
    /// `warmUntil` so that an undo needs no pod to start (`rollout.scaleDownDelaySeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_revision: Option<i64>,
    /// When `warmRevision` is scaled down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_until: Option<Time>,
    /// The revision the Service sends traffic to alone, at rest; absent while a rollout splits
    /// traffic across revisions by their ready pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_revision: Option<i64>,
    /// A revision whose rollout failed or was aborted; it is not tried again until the spec
    /// changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_revision: Option<i64>,
    /// Why `abortedRevision` was rolled back (kept after the events expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<String>,
    /// The last `promote` token acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_promote: Option<String>,
    /// The last `abort` token acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_abort: Option<String>,
    /// The last `retry` token acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_retry: Option<String>,
    /// Pods of the service, counted up to `spec.replicas`: the scale subresource reports it to
    /// HPA, which must not mistake the canary's extra pods or a stable revision still shrinking
    /// for load-driven replicas.
    #[serde(default)]
    pub replicas: i32,
    /// Ready pods of the service.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Pods of the current revision.
    #[serde(default)]
    pub updated_replicas: i32,
    /// `ready/desired`, for the READY column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Label selector of the service's pods (for the scale subresource and HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The traffic split last written (with `trafficRouting`), and blue-green's preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<crate::traffic::TrafficStatus>,
    /// What is going on, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
