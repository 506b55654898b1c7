//! The one view over every kind ([`LockstepService`]), so the rest of the operator is written
//! once, and what a revision of any of them is ([`revision`]).
//!
//! Adding a kind: its CRD type in `lockstep-crd`, an `impl LockstepService` here, and its name in
//! [`every_kind!`] — the caches, the watches and the controllers follow that list.

pub mod revision;
mod rollback;
mod typed;

pub use rollback::{merge_patch_to, rollback_patch};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use lockstep_crd::spec::{PodTemplate, RollbackTo, RolloutSpec};
use lockstep_crd::status::ServiceStatus;
pub use lockstep_crd::validate::check_image;
use lockstep_service_config::ConfigError;

use revision::{Revision, RevisionContent};

/// The spec fields the operator reads, borrowed from either kind.
#[derive(Debug, Clone, Copy)]
pub struct CommonSpec<'a> {
    /// Desired pods.
    pub replicas: i32,
    /// Rollout settings.
    pub rollout: &'a RolloutSpec,
    /// Revisions kept.
    pub revision_history_limit: u32,
    /// `spec.paused`.
    pub paused: bool,
    /// `spec.promote`.
    pub promote: Option<&'a str>,
    /// `spec.abort`.
    pub abort: Option<&'a str>,
    /// `spec.retry`.
    pub retry: Option<&'a str>,
    /// `spec.restartAt`.
    pub restart_at: Option<&'a str>,
    /// `spec.rollbackTo`.
    pub rollback_to: Option<&'a RollbackTo>,
    /// Pod knobs.
    pub pod: &'a PodTemplate,
}

/// What the operator needs from a service of any kind.
pub trait LockstepService:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// Short component name used for containers and labels (`album`, `note`).
    const COMPONENT: &'static str;
    /// Shared spec fields.
    fn common(&self) -> CommonSpec<'_>;
    /// The release as revision content: image, version and the config rendered to its file.
    fn content(&self) -> Result<RevisionContent, ConfigError>;
    /// The gRPC port the spec's config serves, if any.
    fn grpc_port(&self) -> Option<u16>;
    /// The current status.
    fn status(&self) -> Option<&ServiceStatus>;
    /// The merge patch that rewrites this spec to revision `rev` (see [`rollback_patch`]).
    fn rollback_patch(&self, rev: &Revision) -> Result<serde_json::Value, ConfigError>;
}

/// Calls the macro `$m` with every kind's type, once: the lists that must name every kind (the
/// caches, the watches, the controllers) are written with it, so a new kind is added here only.
macro_rules! every_kind {
    ($m:ident) => {
        $m!(
            lockstep_crd::AlbumService,
            lockstep_crd::NoteService,
            lockstep_crd::UserService
        )
    };
}
pub(crate) use every_kind;

/// Names and ownership of one service object, as the renderers need them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRef {
    /// Object name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The kind's component (`album`, `note`, …).
    pub component: &'static str,
    /// Controller owner reference to the custom resource.
    pub owner: OwnerReference,
    /// The gRPC port the current spec's config serves, if any: the Service's `grpc` port.
    pub grpc_port: Option<u16>,
}

impl ServiceRef {
    /// The reference of `svc`; `None` for an object without name, namespace or uid (not from the
    /// API server).
    pub fn of<S: LockstepService>(svc: &S) -> Option<ServiceRef> {
        Some(ServiceRef {
            name: svc.name_any(),
            namespace: svc.namespace()?,
            component: S::COMPONENT,
            owner: svc.controller_owner_ref(&())?,
            grpc_port: svc.grpc_port(),
        })
    }
}
