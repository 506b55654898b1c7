//! The Deployment of one revision, and the fingerprint that tells whether an observed one is
//! still what was rendered (drift).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::meta::{
    ANNOTATION_RESTARTED_AT, LABEL_COMPONENT, LABEL_REVISION, LABEL_SERVICE, config_map_name,
    labels, meta, revision_name,
};
use super::shape::{Shape, shape};
use crate::kinds::ServiceRef;
use crate::kinds::revision::Revision;

/// Annotation on each Deployment: the version of [`deployment`]'s rendering. Bump it when the
/// renderer changes what it writes, so that existing Deployments are re-applied once.
pub const ANNOTATION_RENDER: &str = "lockstep.dev/render";
/// See [`ANNOTATION_RENDER`]. 3: the `grpc` container port (Deployments of revisions whose
/// config serves gRPC gain it once the operator is upgraded). The `AppService` renderer
/// did not change what the typed kinds' Deployments hold, so it stays 3.
pub const RENDER_VERSION: &str = "3";

/// The fields of a Deployment's pod template that make it *this* revision. If any differs from
/// what the revision renders, the Deployment is re-applied (server-side apply with force puts
/// every field the operator owns back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateFingerprint {
    /// The app container's image.
    pub image: Option<String>,
    /// The ConfigMap mounted as the config volume.
    pub config_map: Option<String>,
    /// The renderer version annotation ([`crate::core::render::RENDER_VERSION`]).
    pub render: Option<String>,
    /// The pod template's restart annotation (`spec.restartAt`).
    pub restarted_at: Option<String>,
    /// `spec.minReadySeconds` when set (`rollout.minReadySeconds`).
    pub min_ready_seconds: Option<i32>,
}

/// The Deployment of one revision with `replicas` pods.
/// `restart_at` (`spec.restartAt`) becomes a pod template annotation, so changing it rolls the
/// pods without touching the revision.
pub fn deployment(
    svc: &ServiceRef,
    rev: &Revision,
    replicas: i32,
    restart_at: Option<&str>,
    min_ready_seconds: u32,
) -> Deployment {
    let pod_labels = labels(svc, Some(rev));
    let selector = BTreeMap::from([
        (LABEL_SERVICE.to_owned(), svc.name.clone()),
        (LABEL_REVISION.to_owned(), rev.number.to_string()),
    ]);
    let shape = shape(svc, rev);
    let volumes = volumes(svc, rev, &shape);
    let (run_as, container) = (shape.run_as, container(svc, rev, shape));
    let mut metadata = meta(svc, revision_name(svc, rev), Some(rev), svc.owner.clone());
    metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_RENDER.to_owned(),
        RENDER_VERSION.to_owned(),
    )]));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            min_ready_seconds: min_ready(min_ready_seconds),
            // Each revision has its own Deployment; its ReplicaSet history is not needed.
            revision_history_limit: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: restart_at.map(|at| {
                        BTreeMap::from([(ANNOTATION_RESTARTED_AT.to_owned(), at.to_owned())])
                    }),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(run_as),
                        run_as_group: Some(run_as),
                        // Secret volumes are group-owned by this id, so 0440 files are readable.
                        fs_group: Some(run_as),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The one container: the kind's shape, the revision's image, and a security context every
/// kind shares (the restricted Pod Security profile, a read-only root filesystem).
fn container(svc: &ServiceRef, rev: &Revision, shape: Shape<'_>) -> Container {
    let env: Vec<EnvVar> = shape
        .env
        .iter()
        .map(|e| EnvVar {
            name: e.name.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(e.secret_key_ref.clone()),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        })
        .collect();
    let mounts = [
        VolumeMount {
            name: "config".into(),
            mount_path: shape.config_dir.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        // The root filesystem is read-only; /tmp is the one writable scratch directory
        // (the embedded SQLite file of a service without a database URL lives there).
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        },
    ];
    let secrets = shape.secret_volumes.iter().map(|v| VolumeMount {
        name: format!("secret-{}", v.name),
        mount_path: v.mount_path.clone(),
        read_only: Some(true),
        ..VolumeMount::default()
    });
    Container {
        name: svc.component.to_owned(),
        image: Some(rev.content.image.clone()),
        command: shape.command,
        args: shape.args,
        ports: Some(shape.ports),
        env: (!env.is_empty()).then_some(env),
        resources: shape.resources.cloned(),
        readiness_probe: shape.readiness,
        liveness_probe: shape.liveness,
        volume_mounts: Some(mounts.into_iter().chain(secrets).collect()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The pod's volumes: the revision's config, `/tmp`, and the spec's Secrets.
fn volumes(svc: &ServiceRef, rev: &Revision, shape: &Shape<'_>) -> Vec<Volume> {
    let fixed = [
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(svc, rev),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("256Mi".into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    let secrets = shape.secret_volumes.iter().map(|v| Volume {
        name: format!("secret-{}", v.name),
        secret: Some(SecretVolumeSource {
            secret_name: Some(v.secret_name.clone()),
            // Owner root, group the pod's fsGroup, read-only for both: readable by the service,
            // by no other user (the note service refuses world-readable key files).
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    });
    fixed.into_iter().chain(secrets).collect()
}

/// What [`deployment`] renders for revision `rev` of the service named `service`, as compared
/// with [`observed_fingerprint`] to detect drift.
pub fn fingerprint(
    service: &str,
    rev: &Revision,
    restart_at: Option<&str>,
    min_ready_seconds: u32,
) -> TemplateFingerprint {
    TemplateFingerprint {
        image: Some(rev.content.image.clone()),
        config_map: Some(format!("{service}-cfg-{}", rev.short_hash())),
        render: Some(RENDER_VERSION.to_owned()),
        restarted_at: restart_at.map(str::to_owned),
        min_ready_seconds: min_ready(min_ready_seconds),
    }
}

/// `rollout.minReadySeconds` as the Deployment field: unset for 0 (Kubernetes' default), so
/// Deployments rendered before the field existed are not seen as drifted.
fn min_ready(seconds: u32) -> Option<i32> {
    (seconds > 0).then(|| i32::try_from(seconds).unwrap_or(i32::MAX))
}

/// The fingerprint of a Deployment as the API server returns it.
pub fn observed_fingerprint(d: &Deployment) -> TemplateFingerprint {
    let component = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPONENT));
    let pod = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let image = pod
        .and_then(|p| p.containers.iter().find(|c| Some(&c.name) == component))
        .and_then(|c| c.image.clone());
    let config_map = pod
        .and_then(|p| p.volumes.as_ref())
        .and_then(|v| v.iter().find(|v| v.name == "config"))
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.clone());
    let render = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_RENDER))
        .cloned();
    let restarted_at = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(ANNOTATION_RESTARTED_AT))
        .cloned();
    TemplateFingerprint {
        image,
        config_map,
        render,
        restarted_at,
        // A server defaults the field to 0, which is what unset renders.
        min_ready_seconds: d
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .filter(|s| *s > 0),
    }
}
