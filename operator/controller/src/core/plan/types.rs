//! The plan's vocabulary: what the cluster holds for a service, and the API calls to make.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lockstep_crd::status::{Phase, ServiceStatus};

pub use crate::core::render::TemplateFingerprint;
use crate::core::rollout::Transition;
pub use crate::core::traffic::route::RouteProblem;
use crate::kinds::revision::Revision;

/// One revision's Deployment as observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedDeployment {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Pods that count: `status.availableReplicas` when the Deployment sets `minReadySeconds`
    /// (ready at least that long), else `status.readyReplicas`.
    pub ready: i32,
    /// What its pod template runs, to repair drift (someone edited the Deployment).
    pub template: TemplateFingerprint,
}

/// What the cluster holds for one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    /// Kept revisions (parsed ControllerRevisions).
    pub revisions: Vec<Revision>,
    /// Deployments by revision number.
    pub deployments: BTreeMap<i64, ObservedDeployment>,
    /// Pod failures that will not heal (`CrashLoopBackOff`, …) by revision number.
    pub failures: BTreeMap<i64, String>,
    /// When to look again although nothing changes: a pod's grace period for a failure that
    /// often heals by itself ends then (see `crate::core::pods`).
    pub recheck_after: Option<Duration>,
    /// The newest container restart by revision number (see
    /// [`crate::core::rollout::RevisionHealth::last_restart`]).
    pub restarts: BTreeMap<i64, (i64, String)>,
    /// How the Service routes, when it exists as rendered (ports, target port, selector):
    /// `Some(Some(n))` to revision `n` alone, `Some(None)` to every revision; `None` when it
    /// is missing or routes otherwise (drift).
    pub service_routes: Option<Option<i64>>,
    /// Names of the service's ConfigMaps that exist.
    pub config_maps: BTreeSet<String>,
    /// The preflight Jobs by revision number.
    pub preflight: BTreeMap<i64, PreflightRun>,
    /// Revisions whose preflight passed (recorded on their ControllerRevision).
    pub preflight_passed: BTreeSet<i64>,
    /// The service's other Services by name (`<name>-stable`, `-canary`, `-preview`), as
    /// [`Cluster::service_routes`] says of the main one.
    pub revision_services: BTreeMap<String, Option<Option<i64>>>,
    /// With `rollout.trafficRouting`: the route as read at this reconcile.
    pub route: Option<RouteSeen>,
}

/// The `HTTPRoute` of `rollout.trafficRouting`, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteSeen {
    /// Its `spec.rules` (as the server holds them, defaulted) and resourceVersion.
    Found {
        /// `spec.rules`.
        rules: Vec<serde_json::Value>,
        /// Sent back with the edit: a concurrent change is a 409, not a lost update.
        resource_version: String,
    },
    /// Not found or not readable.
    Problem(RouteProblem),
}

/// Where a revision's preflight Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightRun {
    /// Not finished.
    Running,
    /// Its pod exited 0.
    Passed,
    /// It failed: the Job's reason (`BackoffLimitExceeded`, `DeadlineExceeded`), and the last
    /// lines its pod logged once the reconcile has read them.
    Failed {
        /// The Job's `Failed` condition: reason and message.
        reason: String,
        /// The pod's last log lines, when read.
        logs: Option<String>,
    },
}

/// One API call.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the ControllerRevision and then its immutable ConfigMap.
    CreateRevision(Revision),
    /// Apply the revision's Deployment with this many replicas.
    ScaleRevision {
        /// The revision.
        revision: Revision,
        /// Desired pods.
        replicas: i32,
    },
    /// Delete the Deployment of a revision that should run no pods.
    DeleteDeployment(i64),
    /// Apply the Service (missing, drifted, or to route to another revision): to revision `n`
    /// alone with `Some(n)`, to every revision with `None`.
    ApplyService(Option<i64>),
    /// Apply the Service `name` (`<name>-stable`, `-canary`, `-preview`) selecting `revision`.
    ApplyRevisionService {
        /// Its name.
        name: String,
        /// The revision it selects.
        revision: i64,
    },
    /// Delete one of those the spec no longer asks for.
    DeleteService(String),
    /// Write the route's `spec.rules` (a merge patch carrying the resourceVersion read).
    PatchRoute {
        /// The route's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The resourceVersion the rules were read at.
        resource_version: String,
        /// Every rule, as the server will hold them.
        rules: Vec<serde_json::Value>,
    },
    /// Recreate a kept revision's ConfigMap that is missing (its create failed, or someone
    /// deleted it): owned by the revision's ControllerRevision again.
    CreateConfigMap(Revision),
    /// Delete a revision beyond the history limit (its ConfigMap goes with it).
    DeleteRevision(i64),
    /// Merge-patch the spec (rollbackTo rewrites the release).
    PatchSpec(serde_json::Value),
    /// Bring the status to `status` with `patch`, the exact RFC 7386 merge patch from the
    /// observed status (`null` for every field that is cleared).
    PatchStatus {
        /// The status the server holds afterwards.
        status: Box<ServiceStatus>,
        /// What is sent: `{"status": patch}`.
        patch: serde_json::Value,
    },
    /// Create the preflight Job of a revision (owned by its ControllerRevision).
    CreatePreflight {
        /// The revision checked.
        revision: Revision,
        /// `rollout.preflight`.
        check: lockstep_crd::spec::Preflight,
    },
    /// Record on a revision's ControllerRevision that its preflight passed.
    RecordPreflight(Revision),
    /// Record an event.
    Event(Transition),
}

/// The outcome of planning.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Calls to make, in order.
    pub actions: Vec<Action>,
    /// Reconcile again after this long.
    pub requeue_after: Option<Duration>,
    /// Query the analysis and plan again with its outcome.
    pub analysis_needed: bool,
    /// The analysis to query (a canary's, or blue-green's pre- or post-promotion one).
    pub analysis: Option<lockstep_crd::spec::Analysis>,
    /// The revision the spec asks for (the canary while a rollout runs); `None` when the plan
    /// stopped before choosing one (invalid config, rollbackTo).
    pub target: Option<i64>,
    /// The phase this plan leaves the service in.
    pub phase: Option<Phase>,
}
