//! What pods and Deployments say about a revision's health: failures that will not heal,
//! container restarts, and the pods that count towards a step. Pure: the controller passes in
//! the pods as its cache keeps them (anything that is a [`PodStatus`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ContainerStatus;

/// What the health checks read of one pod.
pub trait PodStatus {
    /// Its name, for messages.
    fn name(&self) -> &str;
    /// Its `lockstep.dev/revision` label.
    fn revision(&self) -> Option<i64>;
    /// Unix seconds: the kubelet's start time, else the creation time.
    fn started(&self) -> Option<i64>;
    /// Its containers that are waiting or restarted.
    fn containers(&self) -> &[ContainerHealth];
}

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

/// How long a pod may wait on a reason that often heals (`CreateContainerConfigError`) before it
/// fails its revision.
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
pub fn failures<'a, P: PodStatus + 'a>(
    pods: impl IntoIterator<Item = &'a P>,
    now: i64,
) -> PodFailures {
    let mut out = PodFailures::default();
    for pod in pods {
        let Some(number) = pod.revision() else {
            continue;
        };
        let started = pod.started().unwrap_or(now);
        for status in pod.containers() {
            let Some(reason) = status.waiting_reason.as_deref() else {
                continue;
            };
            let detail = status
                .waiting_message
                .as_deref()
                .map_or_else(String::new, |m| format!(": {m}"));
            let failure = if FATAL_WAITING.contains(&reason) {
                format!("{reason} in pod {}{detail}", pod.name())
            } else if HEALING_WAITING.contains(&reason) {
                let waited = now - started;
                if waited < CONFIG_ERROR_GRACE_SECONDS {
                    let left = CONFIG_ERROR_GRACE_SECONDS - waited;
                    out.recheck_after = Some(out.recheck_after.map_or(left, |r| r.min(left)));
                    continue;
                }
                format!("{reason} for {waited}s in pod {}{detail}", pod.name())
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
pub fn restarts<'a, P: PodStatus + 'a>(
    pods: impl IntoIterator<Item = &'a P>,
) -> BTreeMap<i64, (i64, String)> {
    let mut restarts: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    for pod in pods {
        let Some(number) = pod.revision() else {
            continue;
        };
        for status in pod.containers().iter().filter(|s| s.restart_count > 0) {
            let Some(ended) = status.last_terminated.as_ref() else {
                continue;
            };
            let at = ended.finished_at.unwrap_or(0);
            let why = format!(
                "{} (exit {}) in pod {}, restart {}",
                ended.reason.as_deref().unwrap_or("Error"),
                ended.exit_code,
                pod.name(),
                status.restart_count
            );
            if restarts.get(&number).is_none_or(|(newest, _)| at > *newest) {
                restarts.insert(number, (at, why));
            }
        }
    }
    restarts
}

/// What the health checks read of one container's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerHealth {
    /// `state.waiting.reason`.
    pub waiting_reason: Option<String>,
    /// `state.waiting.message`.
    pub waiting_message: Option<String>,
    /// `restartCount`.
    pub restart_count: i32,
    /// `lastState.terminated`, when the container ended before.
    pub last_terminated: Option<Terminated>,
}

/// How a container's previous run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terminated {
    /// `reason`, e.g. `OOMKilled`.
    pub reason: Option<String>,
    /// `exitCode`.
    pub exit_code: i32,
    /// `finishedAt`, Unix seconds.
    pub finished_at: Option<i64>,
}

impl ContainerHealth {
    /// The parts of `status` that say something about health; `None` for a container that
    /// is not waiting and never restarted (a healthy pod is its metadata alone).
    pub fn of(status: ContainerStatus) -> Option<ContainerHealth> {
        let waiting = status.state.and_then(|s| s.waiting);
        let health = ContainerHealth {
            waiting_reason: waiting.as_ref().and_then(|w| w.reason.clone()),
            waiting_message: waiting.and_then(|w| w.message),
            restart_count: status.restart_count,
            last_terminated: status
                .last_state
                .and_then(|s| s.terminated)
                .map(|t| Terminated {
                    reason: t.reason,
                    exit_code: t.exit_code,
                    finished_at: t.finished_at.map(|at| at.0.as_second()),
                }),
        };
        (health.waiting_reason.is_some() || health.restart_count > 0).then_some(health)
    }
}
