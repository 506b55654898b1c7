//! The parts of the spec every kind share.
//!
//! Everything a user may want to change lives in the spec — including intents (`paused`,
//! `promote`, `abort`, `rollbackTo`) — so that `kubectl patch --type merge` and GitOps tools drive
//! rollouts without touching the status subresource.

use k8s_openapi::api::core::v1::{ResourceRequirements, SecretKeySelector};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::analysis::{Analysis, AnalysisQuery, Comparison};

/// One release: the binary and its config file, rolled out and back together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Release<C: Default> {
    /// Human version label (`1.4.2`); shown in `kubectl get`, not part of identity.
    pub version: String,
    /// Container image, ideally pinned by digest.
    #[schemars(regex(pattern = crate::patterns::IMAGE_PATTERN))]
    pub image: String,
    /// The service's config file, typed: a resource that validates is a file the binary parses.
    #[serde(default)]
    pub config: C,
}

/// How a new revision replaces the stable one.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum Strategy {
    /// Scale the new revision to 100 % at once, gated on health.
    #[default]
    Rolling,
    /// Walk `steps`: shift replicas (or, with `trafficRouting`, requests) step by step,
    /// pausing and analysing in between.
    Canary,
    /// Start the new revision beside the stable one behind `<name>-preview`, then move all
    /// traffic at once (`rollout.blueGreen`).
    BlueGreen,
}

/// A pause between canary steps.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    /// How long to wait (`60s`, `5m`); absent = until `promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::patterns::DURATION_PATTERN))]
    pub duration: Option<kube::core::Duration>,
}

/// One canary step: exactly one of `setWeight`, `pause`, `setHeaderRoute`, `setCanaryScale`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.setHeaderRoute) ? 1 : 0) + (has(self.setCanaryScale) ? 1 : 0) == 1").message("a step is exactly one of setWeight, pause, setHeaderRoute, setCanaryScale"))]
pub struct Step {
    /// Percent on the new revision (1–100): of requests with `trafficRouting`, else of
    /// replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub set_weight: Option<u8>,
    /// Wait before the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Send requests with these headers to the canary only (needs `trafficRouting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<crate::traffic::HeaderRoute>,
    /// The canary's pods from here on (needs `trafficRouting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<crate::traffic::CanaryScale>,
}

fn default_deadline() -> u32 {
    600
}

/// How to roll out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.strategy == 'Canary' || size(self.steps) == 0").message("steps need strategy Canary"))]
#[x_kube(validation = Rule::new("self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()").message("setWeight must not decrease from step to step"))]
#[x_kube(validation = Rule::new("self.strategy == 'BlueGreen' || !has(self.blueGreen)").message("blueGreen needs strategy BlueGreen"))]
#[x_kube(validation = Rule::new("self.strategy != 'BlueGreen' || !has(self.analysis)").message("a BlueGreen rollout is analysed by blueGreen.prePromotionAnalysis and postPromotionAnalysis"))]
#[x_kube(validation = Rule::new("has(self.trafficRouting) || self.steps.all(s, !has(s.setHeaderRoute) && !has(s.setCanaryScale))").message("setHeaderRoute and setCanaryScale need trafficRouting"))]
pub struct RolloutSpec {
    /// `Rolling`, `Canary` or `BlueGreen`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Canary steps, in order.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub steps: Vec<Step>,
    /// A step that is not healthy within this many seconds aborts and rolls back.
    #[serde(default = "default_deadline")]
    #[schemars(range(min = 30))]
    pub progress_deadline_seconds: u32,
    /// Optional metric gate on every canary step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// A new pod counts towards a step only after it has been ready this long (the
    /// Deployments' `minReadySeconds`: a pod that is ready for a moment and then crashes does
    /// not advance the canary). 0 counts a pod as soon as it is ready.
    #[serde(default)]
    #[schemars(range(max = 3600))]
    pub min_ready_seconds: u32,
    /// After a rollout completes, the previous stable revision's Deployment stays at full size
    /// this long, out of the Service: an `undo` within the window switches the Service back to
    /// pods that are already running. 0 scales it down as the new revision becomes ready.
    #[serde(default = "default_scale_down_delay")]
    #[schemars(range(max = 3600))]
    pub scale_down_delay_seconds: u32,
    /// Before any pod of a new revision starts, run its image with its config file mounted in
    /// a Job: a failure refuses the revision (nothing rolled out), a success is recorded on the
    /// revision. Not part of the revision: turning it on starts no rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Preflight>,
    /// Set the canary's share of requests on a Gateway API route instead of by replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<crate::traffic::TrafficRouting>,
    /// How a `BlueGreen` rollout previews and promotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<crate::traffic::BlueGreen>,
}

/// `rollout.preflight`: the check a new revision must pass before its pods start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    /// The command, run in the new image with the new config mounted where the pods get it.
    /// Unset for `AlbumService`/`NoteService`/`UserService`: the binary's own `check-config` on
    /// the mounted file; an `AppService` names its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,
    /// How long the check may run before it counts as failed.
    #[serde(default = "default_preflight_timeout")]
    #[schemars(range(min = 5, max = 3600))]
    pub timeout_seconds: u32,
}

fn default_preflight_timeout() -> u32 {
    120
}

fn default_scale_down_delay() -> u32 {
    60
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            strategy: Strategy::Rolling,
            steps: Vec::new(),
            progress_deadline_seconds: 600,
            analysis: None,
            min_ready_seconds: 0,
            scale_down_delay_seconds: default_scale_down_delay(),
            preflight: None,
            traffic_routing: None,
            blue_green: None,
        }
    }
}

/// Make revision `revision` the target again (image and config).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackTo {
    /// A revision number from `kubectl lockstep history`.
    #[schemars(range(min = 1))]
    pub revision: i64,
}

/// An environment variable read from a Secret (secrets are referenced, never copied).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnv {
    /// Variable name in the container.
    pub name: String,
    /// The Secret and key.
    pub secret_key_ref: SecretKeySelector,
}

/// A Secret mounted read-only as files (e.g. the note service's tenant keys). Secrets are
/// referenced, never copied; the operator checks the paths (see `lockstep-operator`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolume {
    /// Volume name: a DNS-1123 label of at most 56 characters (`secret-` is prepended).
    pub name: String,
    /// The Secret in the service's namespace.
    pub secret_name: String,
    /// Absolute directory in the container (not under `/etc/lockstep` or `/tmp`).
    pub mount_path: String,
}

/// Pod-shaping knobs. They are part of the revision's identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Container port. Unset: the port the config makes the service listen on
    /// (`release.config.server.port`, or the service's own: album 8080, note 8081). When set it
    /// must equal that port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Variables from Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<SecretEnv>,
    /// Secrets mounted as files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_volumes: Vec<SecretVolume>,
}
