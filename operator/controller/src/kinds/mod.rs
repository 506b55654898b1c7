//! The one view over every kind ([`LockstepService`]), so the rest of the operator is written
//! once, and what a revision of any of them is ([`revision`]).
//!
//! Adding a kind: its CRD type in `lockstep-crd`, an `impl LockstepService` here, and its name in
//! [`every_kind!`] — the caches, the watches and the controllers follow that list.

mod app;
pub mod revision;
mod rollback;
mod typed;

pub use rollback::{merge_patch_to, release_patch, rollback_patch};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use lockstep_crd::spec::{RollbackTo, RolloutSpec};
use lockstep_crd::status::ServiceStatus;
pub use lockstep_crd::validate::check_image;
use lockstep_service_config::ConfigError;

use revision::{Revision, RevisionContent};

/// The spec fields every kind shares, borrowed.
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
}

/// The [`CommonSpec`] of a kind's spec: every kind's spec has these fields (one macro in
/// `lockstep-crd` defines them all).
macro_rules! common_spec {
    ($spec:expr) => {{
        let s = $spec;
        $crate::kinds::CommonSpec {
            replicas: s.replicas,
            rollout: &s.rollout,
            revision_history_limit: s.revision_history_limit,
            paused: s.paused,
            promote: s.promote.as_deref(),
            abort: s.abort.as_deref(),
            retry: s.retry.as_deref(),
            restart_at: s.restart_at.as_deref(),
            rollback_to: s.rollback_to.as_ref(),
        }
    }};
}
pub(crate) use common_spec;

/// What the operator needs from a service of any kind.
pub trait LockstepService:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// Short component name used for containers and labels (`album`, `note`, `user`, `app`).
    const COMPONENT: &'static str;
    /// Shared spec fields.
    fn common(&self) -> CommonSpec<'_>;
    /// The release as revision content: image, version and the config rendered to its file.
    fn content(&self) -> Result<RevisionContent, ConfigError>;
    /// The ports of the Service in front of every revision, as the current spec asks.
    fn service_ports(&self) -> Vec<NamedPort>;
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
            lockstep_crd::UserService,
            lockstep_crd::AppService
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
    /// The Service's ports, as the current spec asks ([`LockstepService::service_ports`]).
    pub ports: Vec<NamedPort>,
}

/// A port of the Service: its name — the container port it targets has the same name, so each
/// revision's pods are reached on their own number — and its number on the Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    /// `http`, `grpc`, or an `AppService`'s port name.
    pub name: String,
    /// The Service's port.
    pub port: u16,
}

impl NamedPort {
    /// The port `name` on `port`.
    pub fn new(name: &str, port: u16) -> NamedPort {
        NamedPort {
            name: name.to_owned(),
            port,
        }
    }
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
            ports: svc.service_ports(),
        })
    }
}
