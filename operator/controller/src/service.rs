//! One view over every kind, so the rest of the operator is written once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use lockstep_crd::spec::{PodTemplate, RollbackTo, RolloutSpec};
use lockstep_crd::status::ServiceStatus;
pub use lockstep_crd::validate::check_image;
use lockstep_crd::{AlbumService, NoteService, UserService};
use lockstep_service_config::{ConfigError, ServiceConfig};

use crate::revision::RevisionContent;

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

/// What the operator needs from an `AlbumService` or a `NoteService`.
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
    /// This kind's services in `caches`.
    fn feed(caches: &crate::observe::Caches) -> &crate::observe::Services<Self>;
    /// The merge patch that rewrites this spec to revision `rev` (see [`rollback_patch`]).
    fn rollback_patch(
        &self,
        rev: &crate::revision::Revision,
    ) -> Result<serde_json::Value, ConfigError>;
}

macro_rules! impl_service {
    ($kind:ty, $component:literal, $config:ty, $feed:ident) => {
        impl LockstepService for $kind {
            const COMPONENT: &'static str = $component;

            fn common(&self) -> CommonSpec<'_> {
                let s = &self.spec;
                CommonSpec {
                    replicas: s.replicas,
                    rollout: &s.rollout,
                    revision_history_limit: s.revision_history_limit,
                    paused: s.paused,
                    promote: s.promote.as_deref(),
                    abort: s.abort.as_deref(),
                    retry: s.retry.as_deref(),
                    restart_at: s.restart_at.as_deref(),
                    rollback_to: s.rollback_to.as_ref(),
                    pod: &s.pod,
                }
            }

            fn content(&self) -> Result<RevisionContent, ConfigError> {
                // The same checks `kubectl lockstep lint` runs offline.
                self.spec.check()?;
                let release = &self.spec.release;
                // The port is part of the identity as the pods get it: an unset `pod.port`
                // follows the config, so stating the same port later is no new revision.
                let mut pod = self.spec.pod.clone();
                pod.port = Some(release.config.port());
                Ok(RevisionContent {
                    version: release.version.clone(),
                    image: release.image.clone(),
                    config: release.config.to_yaml()?,
                    pod,
                })
            }

            fn grpc_port(&self) -> Option<u16> {
                use lockstep_service_config::ServiceConfig as _;
                self.spec.release.config.grpc_port()
            }

            fn status(&self) -> Option<&ServiceStatus> {
                self.status.as_ref()
            }

            fn feed(caches: &crate::observe::Caches) -> &crate::observe::Services<Self> {
                &caches.$feed
            }

            fn rollback_patch(
                &self,
                rev: &crate::revision::Revision,
            ) -> Result<serde_json::Value, ConfigError> {
                let value = |v: Result<serde_json::Value, serde_json::Error>| {
                    v.unwrap_or(serde_json::Value::Null)
                };
                rollback_patch::<$config>(
                    &value(serde_json::to_value(&self.spec.release)),
                    &value(serde_json::to_value(&self.spec.pod)),
                    rev,
                )
            }
        }
    };
}

impl_service!(
    AlbumService,
    "album",
    lockstep_service_config::AlbumConfig,
    albums
);
impl_service!(
    NoteService,
    "note",
    lockstep_service_config::NoteConfig,
    notes
);
impl_service!(
    UserService,
    "user",
    lockstep_service_config::UserConfig,
    users
);

/// Names and ownership of one service object, as the renderers need them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRef {
    /// Object name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `album` or `note`.
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

/// The merge patch that makes `rev` the spec's release again (`spec.rollbackTo`): image, version,
/// config and pod fields return together, and `rollbackTo` is cleared, so the spec tells the
/// truth to GitOps tools and `kubectl get -o yaml`. `current_release` and `current_pod` are the
/// spec's present values: every field they have that `rev` lacks is nulled, because a merge
/// patch otherwise keeps it (e.g. an env var or a CPU limit added after revision `rev`).
pub fn rollback_patch<C: ServiceConfig>(
    current_release: &serde_json::Value,
    current_pod: &serde_json::Value,
    rev: &crate::revision::Revision,
) -> Result<serde_json::Value, ConfigError> {
    let config: C = C::from_yaml(&rev.content.config)?;
    let release = serde_json::json!({
        "version": rev.content.version,
        "image": rev.content.image,
        "config": config,
    });
    let pod = serde_json::to_value(&rev.content.pod).unwrap_or(serde_json::Value::Null);
    Ok(serde_json::json!({
        "spec": {
            "release": merge_patch_to(current_release, &release),
            "pod": merge_patch_to(current_pod, &pod),
            "rollbackTo": null,
        }
    }))
}

/// The RFC 7386 merge patch that turns `current` into exactly `target`.
pub fn merge_patch_to(
    current: &serde_json::Value,
    target: &serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value;
    match (current, target) {
        (Value::Object(c), Value::Object(t)) => {
            let mut patch = serde_json::Map::new();
            for (k, tv) in t {
                patch.insert(
                    k.clone(),
                    merge_patch_to(c.get(k).unwrap_or(&Value::Null), tv),
                );
            }
            for k in c.keys().filter(|k| !t.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        (_, t) => t.clone(),
    }
}
