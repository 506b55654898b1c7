//! The kinds. They share everything but the release (the typed kinds differ only in the type of
//! `spec.release.config`) and the pod fields (`AppService` says how to run any image).

use kube::CustomResource;
use lockstep_service_config::{AlbumConfig, NoteConfig, UserConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::{AppPod, AppRelease};
use crate::spec::{PodTemplate, Release, RollbackTo, RolloutSpec};
use crate::status::ServiceStatus;

fn default_replicas() -> i32 {
    2
}
fn default_history() -> u32 {
    5
}

/// Defines one kind: the spec struct with the shared fields, `release: $release` and
/// `pod: $pod`.
macro_rules! service_kind {
    ($(#[$doc:meta])* $spec:ident, $kind:literal, $short:literal, $release:ty, $pod:ty) => {
        $(#[$doc])*
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "lockstep.dev",
            version = "v1alpha1",
            kind = $kind,
            namespaced,
            status = "ServiceStatus",
            category = "lockstep",
            shortname = $short,
            derive = "PartialEq",
            scale(
                spec_replicas_path = ".spec.replicas",
                status_replicas_path = ".status.replicas",
                label_selector_path = ".status.selector"
            ),
            printcolumn(name = "Version", type_ = "string", json_path = ".spec.release.version"),
            printcolumn(name = "Revision", type_ = "integer", json_path = ".status.currentRevision"),
            printcolumn(name = "Stable", type_ = "integer", json_path = ".status.stableRevision"),
            printcolumn(name = "Step", type_ = "integer", json_path = ".status.step"),
            printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
            printcolumn(name = "Ready", type_ = "string", json_path = ".status.ready"),
            printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            /// Image and config, one immutable revision.
            pub release: $release,
            /// Desired pods across all revisions.
            #[serde(default = "default_replicas")]
            #[schemars(range(min = 0, max = 1000))]
            pub replicas: i32,
            /// How new revisions roll out.
            #[serde(default)]
            pub rollout: RolloutSpec,
            /// Revisions kept for rollback (the stable and current ones are always kept).
            #[serde(default = "default_history")]
            #[schemars(range(min = 1, max = 50))]
            pub revision_history_limit: u32,
            /// Stop at the current step until set back to false.
            #[serde(default)]
            pub paused: bool,
            /// A new value promotes the paused canary to the next step (`kubectl lockstep promote`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub promote: Option<String>,
            /// A new value aborts the rollout and returns to the stable revision.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub abort: Option<String>,
            /// A new value rolls out a rolled-back revision again without editing the release
            /// (`kubectl lockstep retry`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub retry: Option<String>,
            /// A new value restarts every pod of the service (rolling, as each Deployment's
            /// strategy allows) without a new revision: image and config stay
            /// (`kubectl lockstep restart`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub restart_at: Option<String>,
            /// Make an earlier revision the target again (image and config together).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rollback_to: Option<RollbackTo>,
            /// Pod-shaping knobs.
            #[serde(default)]
            pub pod: $pod,
        }
    };
}

service_kind!(
    /// Spec of an `AlbumService`: the album catalogue service.
    AlbumServiceSpec, "AlbumService", "albumsvc", Release<AlbumConfig>, PodTemplate
);
service_kind!(
    /// Spec of a `NoteService`: the per-tenant encrypted notes service.
    NoteServiceSpec, "NoteService", "notesvc", Release<NoteConfig>, PodTemplate
);
service_kind!(
    /// Spec of a `UserService`: registration and RS256 token issuing for the note service.
    UserServiceSpec, "UserService", "usersvc", Release<UserConfig>, PodTemplate
);
service_kind!(
    /// Spec of an `AppService`: any image, with its config file in any format, its ports and
    /// probes. Its pods are rendered to the same restricted Pod Security profile as every kind.
    AppServiceSpec, "AppService", "appsvc", AppRelease, AppPod
);
