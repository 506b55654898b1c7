//! What pods and Deployments say about a revision's health: failures that will not heal,
//! container restarts, and the pods that count towards a step. Pure: the controller lists the
//! objects and passes them in.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::{Resource, ResourceExt};

use crate::resources::LABEL_REVISION;

/// Pod waiting reasons that will not heal by waiting.
const FATAL_WAITING: [&str; 5] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

fn revision_label<K: Resource>(obj: &K) -> Option<i64> {
    obj.labels().get(LABEL_REVISION)?.parse().ok()
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

/// The first fatal waiting reason of any container, by revision.
pub fn failures(pods: &[Pod]) -> BTreeMap<i64, String> {
    let mut failures = BTreeMap::new();
    for pod in pods {
        let Some(number) = revision_label(pod) else {
            continue;
        };
        let statuses = pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten());
        for status in statuses {
            let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref());
            if let Some(reason) = waiting.and_then(|w| w.reason.as_deref())
                && FATAL_WAITING.contains(&reason)
            {
                failures
                    .entry(number)
                    .or_insert_with(|| format!("{reason} in pod {}", pod.name_any()));
            }
        }
    }
    failures
}

/// The newest container restart of any pod, by revision: when the container's last run ended
/// (Unix seconds) and why, e.g. `OOMKilled (exit 137) in pod albums-2-x, restart 1`.
pub fn restarts(pods: &[Pod]) -> BTreeMap<i64, (i64, String)> {
    let mut restarts: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    for pod in pods {
        let Some(number) = revision_label(pod) else {
            continue;
        };
        let statuses = pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten());
        for status in statuses.filter(|s| s.restart_count > 0) {
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
