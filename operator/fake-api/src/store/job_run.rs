//! What the played kubelet asks the test about a Job's pod: what running it does.

use std::collections::BTreeMap;

/// What a Job's pod runs: the container's image, command and args, and the files its ConfigMap
/// volumes mount (`mountPath/key` → content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// Namespace.
    pub namespace: String,
    /// The Job's name.
    pub job: String,
    /// The first container's image.
    pub image: String,
    /// Its `command` (empty: the image's entrypoint).
    pub command: Vec<String>,
    /// Its `args`.
    pub args: Vec<String>,
    /// The files of its ConfigMap volumes, by absolute path.
    pub files: BTreeMap<String, String>,
}

/// How a Job's pod ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The container's exit code: 0 succeeds.
    pub exit_code: i32,
    /// What it wrote to stdout and stderr.
    pub log: String,
}

/// Runs a Job's pod (the test decides what the image does). Without one every pod succeeds
/// silently.
pub type JobRunner = dyn Fn(&JobRun) -> JobResult + Send + Sync;
