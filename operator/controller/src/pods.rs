//! What pods and Deployments say about a revision's health: failures that will not heal,
//! container restarts, and the pods that count towards a step. Pure: the controller lists the
//! objects and passes them in.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::{Resource, ResourceExt};

use crate::resources::LABEL_REVISION;

/// Pod waiting reasons that will not heal by waiting.
const FATAL_WAITING: [&str; 4] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
];

/// Waiting reasons that often heal by themselves, fatal only after
/// [`CONFIG_ERROR_GRACE_SECONDS`]: `CreateContainerConfigError` usually means a Secret or
/// ConfigMap the pod references does not exist *yet* (applied a moment later, or written by a
/// secrets controller); the kubelet retries and the pod starts once it appears.
const HEALING_WAITING: [&str; 1] = ["CreateContainerConfigError"];

/// How long a pod may wait on a [`HEALING_WAITING`] reason before it fails its revision.
pub const CONFIG_ERROR_GRACE_SECONDS: i64 = 60;

/// What the pods of a service say: failures by revision, and when to look again because a
/// healing reason's grace ends (seconds from now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFailures {
    /// The first failure of any container, by revision.
    pub failures: BTreeMap<i64, String>,
    /// Seconds until the earliest grace period ends, if a pod is within one.
    pub recheck_after: Option<i64>,
}

fn revision_label<K: Resource>(obj: &K) -> Option<i64> {
    obj.labels().get(LABEL_REVISION)?.parse().ok()
}

fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
}

/// The pods of `d` that count towards a step: with `minReadySeconds`, the available ones (ready
/// for that long, as the Deployment controller counts them); otherwise the ready ones.
pub fn counted(d: &Deployment) -> i32 {
    let status = d.status.as_ref();
    let min_ready = d
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let counted = if min_ready > 0 {
        status.and_then(|s| s.available_replicas)
    } else {
        status.and_then(|s| s.ready_replicas)
    };
    counted.unwrap_or(0)
}

/// The first failure of any container, by revision, at Unix time `now`: a fatal waiting
/// reason at once, a healing one once the pod has waited [`CONFIG_ERROR_GRACE_SECONDS`] (its
/// age counts from the kubelet's start time, else its creation).
pub fn failures<'a>(pods: impl IntoIterator<Item = &'a Pod>, now: i64) -> PodFailures {
    let mut out = PodFailures::default();
    for pod in pods {
        let Some(number) = revision_label(pod) else {
            continue;
        };
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(pod.metadata.creation_timestamp.as_ref())
            .map_or(now, |t| t.0.as_second());
        for status in container_statuses(pod) {
            let Some(waiting) = status.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let Some(reason) = waiting.reason.as_deref() else {
                continue;
            };
            let detail = waiting
                .message
                .as_deref()
                .map_or_else(String::new, |m| format!(": {m}"));
            let failure = if FATAL_WAITING.contains(&reason) {
                format!("{reason} in pod {}{detail}", pod.name_any())
            } else if HEALING_WAITING.contains(&reason) {
                let waited = now - started;
                if waited < CONFIG_ERROR_GRACE_SECONDS {
                    let left = CONFIG_ERROR_GRACE_SECONDS - waited;
                    out.recheck_after = Some(out.recheck_after.map_or(left, |r| r.min(left)));
                    continue;
                }
                format!("{reason} for {waited}s in pod {}{detail}", pod.name_any())
            } else {
                continue;
            };
            out.failures.entry(number).or_insert(failure);
        }
    }
    out
}

/// The newest container restart of any pod, by revision: when the container's last run ended
/// (Unix seconds) and why, e.g. `OOMKilled (exit 137) in pod albums-2-x, restart 1`.
pub fn restarts<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> BTreeMap<i64, (i64, String)> {
    let mut restarts: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    for pod in pods {
        let Some(number) = revision_label(pod) else {
            continue;
        };
        for status in container_statuses(pod).filter(|s| s.restart_count > 0) {
            let Some(ended) = status
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
            else {
                continue;
            };
            let at = ended.finished_at.as_ref().map_or(0, |t| t.0.as_second());
            let why = format!(
                "{} (exit {}) in pod {}, restart {}",
                ended.reason.as_deref().unwrap_or("Error"),
                ended.exit_code,
                pod.name_any(),
                status.restart_count
            );
            if restarts.get(&number).is_none_or(|(newest, _)| at > *newest) {
                restarts.insert(number, (at, why));
            }
        }
    }
    restarts
}
