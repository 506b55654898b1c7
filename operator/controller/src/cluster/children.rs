//! What the caches keep of each child: a small projection made when the watch delivers the
//! object, instead of the API type.
//!
//! Why: the operator caches every child of every service (a ControllerRevision and ConfigMap per
//! kept revision, a Deployment per running revision, the Service, the pods), and an API type
//! costs kilobytes even trimmed — `Deployment` and `Pod` embed their whole specs inline, so an
//! empty one is 2,400 and 2,176 bytes before any string (`size_of`, k8s-openapi 0.29), against
//! 248 and 176 for [`CachedDeployment`] and [`CachedPod`]. At 10,000 services the trimmed API
//! types cost more than the 150 MiB budget on their own (see the operator README, *Benchmarks*).
//! A projection keeps exactly what a reconcile reads; the functions that compute it
//! (`render::observed_fingerprint`, `pods::counted`, `render::service_routes`) are the
//! ones the reconcile used on the whole object, so the two readings cannot differ.

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::PartialObjectMeta;
use kube::core::ObjectMeta;

use crate::core::plan::PreflightRun;
pub use crate::core::pods::{ContainerHealth, Terminated};
use crate::core::render::{ANNOTATION_PREFLIGHT, PREFLIGHT_PASSED, TemplateFingerprint};
use crate::core::render::{LABEL_COMPONENT, LABEL_REVISION, LABEL_SERVICE, PortShape};

/// A child's identity and the labels the operator indexes and routes it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildMeta {
    /// Its namespace.
    pub namespace: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its resourceVersion (read-your-writes, `crate::cluster::observe::Caches::settle`).
    pub resource_version: Option<String>,
    /// `lockstep.dev/service`: the service it belongs to.
    pub service: Option<String>,
    /// `app.kubernetes.io/name`: which kind of service (`album`, `note`, `user`, `app`).
    pub component: Option<String>,
    /// `lockstep.dev/revision`, when it is a number.
    pub revision: Option<i64>,
}

impl ChildMeta {
    /// The parts of `meta` the operator reads.
    pub fn of(meta: &ObjectMeta) -> ChildMeta {
        let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key)).cloned();
        ChildMeta {
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            resource_version: meta.resource_version.clone(),
            service: label(LABEL_SERVICE),
            component: label(LABEL_COMPONENT),
            revision: label(LABEL_REVISION).and_then(|n| n.parse().ok()),
        }
    }
}

/// A cached child: anything with a [`ChildMeta`].
pub trait Child: Send + Sync + 'static {
    /// Its identity and labels.
    fn meta(&self) -> &ChildMeta;
}

macro_rules! child {
    ($($kind:ty),*) => {$(
        impl Child for $kind {
            fn meta(&self) -> &ChildMeta {
                &self.meta
            }
        }
    )*};
}
child!(
    CachedJob,
    CachedRevision,
    CachedDeployment,
    CachedConfigMap,
    CachedService,
    CachedPod
);

/// A ControllerRevision: its data as one JSON string (a `serde_json::Value` tree costs several
/// times its text), parsed by [`crate::core::render::parse_revision_json`] when a reconcile reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRevision {
    /// Identity and labels.
    pub meta: ChildMeta,
    /// Its uid: the owner of the revision's ConfigMap.
    pub uid: Option<String>,
    /// `data` as JSON text.
    pub data: Option<Box<str>>,
    /// Whether its preflight passed (annotation `lockstep.dev/preflight: passed`).
    pub preflight_passed: bool,
}

impl From<ControllerRevision> for CachedRevision {
    fn from(cr: ControllerRevision) -> Self {
        let data = cr.data.and_then(|d| match d.0 {
            serde_json::Value::String(json) => Some(json.into_boxed_str()),
            other => serde_json::to_string(&other)
                .ok()
                .map(String::into_boxed_str),
        });
        let preflight = cr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_PREFLIGHT));
        CachedRevision {
            meta: ChildMeta::of(&cr.metadata),
            preflight_passed: preflight.is_some_and(|v| v == PREFLIGHT_PASSED),
            uid: cr.metadata.uid,
            data,
        }
    }
}

/// A Deployment: desired and counted pods, and the template fingerprint the drift check
/// compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDeployment {
    /// Identity and labels.
    pub meta: ChildMeta,
    /// `spec.replicas` (1 when unset, the API server's default).
    pub replicas: i32,
    /// Pods that count towards a step ([`crate::core::pods::counted`]).
    pub counted: i32,
    /// [`crate::core::render::observed_fingerprint`].
    pub fingerprint: TemplateFingerprint,
}

impl From<Deployment> for CachedDeployment {
    fn from(d: Deployment) -> Self {
        CachedDeployment {
            meta: ChildMeta::of(&d.metadata),
            replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            counted: crate::core::pods::counted(&d),
            fingerprint: crate::core::render::observed_fingerprint(&d),
        }
    }
}

/// A ConfigMap: that it exists (the operator never reads its data back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedConfigMap {
    /// Identity and labels.
    pub meta: ChildMeta,
}

impl From<PartialObjectMeta<ConfigMap>> for CachedConfigMap {
    fn from(m: PartialObjectMeta<ConfigMap>) -> Self {
        CachedConfigMap {
            meta: ChildMeta::of(&m.metadata),
        }
    }
}

impl From<ConfigMap> for CachedConfigMap {
    fn from(m: ConfigMap) -> Self {
        CachedConfigMap {
            meta: ChildMeta::of(&m.metadata),
        }
    }
}

/// A Service: how its selector routes ([`crate::core::render::service_routes`]) and its ports,
/// which a reconcile compares with what the current spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedService {
    /// Identity and labels.
    pub meta: ChildMeta,
    /// `Some(Some(n))` to revision `n` alone, `Some(None)` to every revision, `None` when its
    /// selector is not as rendered (drift).
    pub routes: Option<Option<i64>>,
    /// Its ports as [`crate::core::render::PortShape`]s.
    pub ports: Vec<PortShape>,
}

impl CachedService {
    /// Its routes when its ports are `expected` too; `None` (drift) otherwise.
    pub fn routes_with(&self, expected: &[PortShape]) -> Option<Option<i64>> {
        self.routes.filter(|_| self.ports == expected)
    }
}

impl From<Service> for CachedService {
    fn from(s: Service) -> Self {
        let meta = ChildMeta::of(&s.metadata);
        // The service it belongs to: `<name>`, `<name>-stable`, … all select its pods.
        let service = meta.service.clone().or_else(|| meta.name.clone());
        CachedService {
            routes: crate::core::render::service_routes(&s, &service.unwrap_or_default()),
            ports: crate::core::render::observed_ports(&s),
            meta,
        }
    }
}

/// A pod: when it started, and only its containers that say something about the revision's
/// health (waiting, or restarted) — a healthy pod is its metadata alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPod {
    /// Identity and labels.
    pub meta: ChildMeta,
    /// Unix seconds: the kubelet's start time, else the creation time.
    pub started: Option<i64>,
    /// Containers waiting or restarted.
    pub containers: Vec<ContainerHealth>,
}

impl crate::core::pods::PodStatus for CachedPod {
    fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }
    fn revision(&self) -> Option<i64> {
        self.meta.revision
    }
    fn started(&self) -> Option<i64> {
        self.started
    }
    fn containers(&self) -> &[ContainerHealth] {
        &self.containers
    }
}

impl From<Pod> for CachedPod {
    fn from(pod: Pod) -> Self {
        let status = pod.status.unwrap_or_default();
        let started = status
            .start_time
            .as_ref()
            .or(pod.metadata.creation_timestamp.as_ref())
            .map(|t| t.0.as_second());
        let mut containers: Vec<ContainerHealth> = status
            .container_statuses
            .into_iter()
            .flatten()
            .filter_map(ContainerHealth::of)
            .collect();
        containers.shrink_to_fit();
        CachedPod {
            meta: ChildMeta::of(&pod.metadata),
            started,
            containers,
        }
    }
}

/// A preflight Job: where it stands, from its conditions (`Complete`, `Failed`) as the Job
/// controller sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedJob {
    /// Identity and labels.
    pub meta: ChildMeta,
    /// Running, passed, or failed with the Job's reason (its pod's logs are read on demand).
    pub run: PreflightRun,
}

impl From<Job> for CachedJob {
    fn from(job: Job) -> Self {
        let conditions = job.status.and_then(|s| s.conditions).unwrap_or_default();
        let holds = |type_: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == "True")
        };
        let run = if holds("Complete").is_some() {
            PreflightRun::Passed
        } else if let Some(failed) = holds("Failed") {
            let reason = failed.reason.clone().unwrap_or_else(|| "Failed".into());
            let reason = match failed.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason,
            };
            PreflightRun::Failed { reason, logs: None }
        } else {
            PreflightRun::Running
        };
        CachedJob {
            meta: ChildMeta::of(&job.metadata),
            run,
        }
    }
}
