//! One view over both kinds, so the rest of the operator is written once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use lockstep_crd::spec::{PodTemplate, RollbackTo, RolloutSpec, SecretVolume};
use lockstep_crd::status::ServiceStatus;
use lockstep_crd::{AlbumService, NoteService};
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
    /// The current status.
    fn status(&self) -> Option<&ServiceStatus>;
    /// Replaces the status (models and tests; the controller patches it through the API).
    fn set_status(&mut self, status: ServiceStatus);
    /// The merge patch that rewrites this spec to revision `rev` (see [`rollback_patch`]).
    fn rollback_patch(
        &self,
        rev: &crate::revision::Revision,
    ) -> Result<serde_json::Value, ConfigError>;
}

macro_rules! impl_service {
    ($kind:ty, $component:literal, $config:ty) => {
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
                let release = &self.spec.release;
                release.config.validate()?;
                check_image(&release.image)?;
                if release.config.server.port != self.spec.pod.port {
                    return Err(ConfigError::Invalid {
                        field: "pod.port",
                        reason: format!(
                            "{} but config.server.port is {}: probes and the Service would miss the process",
                            self.spec.pod.port, release.config.server.port
                        ),
                    });
                }
                check_secret_volumes(&self.spec.pod.secret_volumes)?;
                Ok(RevisionContent {
                    version: release.version.clone(),
                    image: release.image.clone(),
                    config: release.config.to_yaml()?,
                    pod: self.spec.pod.clone(),
                })
            }

            fn status(&self) -> Option<&ServiceStatus> {
                self.status.as_ref()
            }

            fn set_status(&mut self, status: ServiceStatus) {
                self.status = Some(status);
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

impl_service!(AlbumService, "album", lockstep_service_config::AlbumConfig);
impl_service!(NoteService, "note", lockstep_service_config::NoteConfig);

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

/// Checks `release.image` as a container image reference (`[host[:port]/]path[:tag][@sha256:…]`):
/// the API server accepts any string there, and a Deployment with an empty or malformed image
/// is refused (422) or never starts (`InvalidImageName`) — a config error instead, with no pods
/// touched.
pub fn check_image(image: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        field: "release.image",
        reason: format!("`{image}`: {reason}"),
    };
    if image.is_empty() {
        return Err(bad("an image is required"));
    }
    let (named, digest) = match image.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(bad(
                "the digest must be sha256: and 64 lowercase hex digits",
            ));
        }
    }
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match named[last_slash..].rfind(':') {
        Some(i) => (&named[..last_slash + i], Some(&named[last_slash + i + 1..])),
        None => (named, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(bad(
                "a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
    }
    let mut components = path.split('/').peekable();
    let host = components.next().filter(|first| {
        path.contains('/') && (first.contains(['.', ':']) || *first == "localhost")
    });
    if let Some(host) = host {
        let (name, port) = host.split_once(':').unwrap_or((host, "0"));
        if name.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the registry must be host[:port]"));
        }
    }
    let repository: Vec<&str> = if host.is_some() {
        components.collect()
    } else {
        path.split('/').collect()
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if repository.is_empty() || !repository.iter().all(|c| component_ok(c)) {
        return Err(bad(
            "repository path components are lowercase letters, digits and . _ -",
        ));
    }
    Ok(())
}

/// The rules for `pod.secretVolumes` that the schema does not state: DNS-1123 names short enough
/// for the `secret-` prefix, absolute mount paths clear of the config directory and `/tmp`, no
/// name or path twice. Broken rules read like config errors (`ConfigValid=False`, no pods
/// touched).
pub fn check_secret_volumes(volumes: &[SecretVolume]) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::Invalid {
        field: "pod.secretVolumes",
        reason,
    };
    let label = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let mut seen = std::collections::BTreeSet::new();
    for v in volumes {
        if !label(&v.name) || v.name.len() > 56 {
            return Err(bad(format!(
                "name `{}`: lowercase letters, digits and '-', at most 56",
                v.name
            )));
        }
        if v.secret_name.is_empty() || v.secret_name.len() > 253 {
            return Err(bad(format!(
                "{}: secretName must be a Secret's name",
                v.name
            )));
        }
        let path = v.mount_path.trim_end_matches('/');
        let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
        if !path.starts_with('/') || path.split('/').any(|p| p == "..") || path.is_empty() {
            return Err(bad(format!(
                "{}: mountPath `{}` must be an absolute path",
                v.name, v.mount_path
            )));
        }
        let config_dir = crate::resources::CONFIG_DIR;
        if under(config_dir) || under("/tmp") || config_dir.starts_with(&format!("{path}/")) {
            return Err(bad(format!(
                "{}: mountPath `{}` overlaps {config_dir} or /tmp",
                v.name, v.mount_path
            )));
        }
        if !seen.insert(v.name.as_str()) || !seen.insert(path) {
            return Err(bad(format!("{}: name or mountPath used twice", v.name)));
        }
    }
    Ok(())
}
