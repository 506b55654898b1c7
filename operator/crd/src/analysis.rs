//! `rollout.analysis` (and blue-green's pre- and post-promotion analysis): Prometheus queries
//! sampled while a new revision takes traffic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How an analysis sample compares with the threshold to pass.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum Comparison {
    /// Pass when the value is below the threshold (error rates, latencies).
    #[default]
    LessThan,
    /// Pass when the value is above the threshold (success rates).
    GreaterThan,
}

/// A Prometheus query checked during canary steps (and blue-green's pre- and post-promotion
/// analysis). No data or NaN is inconclusive, and an inconclusive analysis never promotes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// PromQL returning one number; `$revision` is replaced by the canary's revision number.
    pub query: String,
    /// The pass/fail threshold.
    pub threshold: f64,
    /// Which side of the threshold passes.
    #[serde(default)]
    pub comparison: Comparison,
    /// Seconds between samples.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5))]
    pub interval_seconds: u32,
    /// Passing samples needed per step.
    #[serde(default = "default_samples")]
    #[schemars(range(min = 1))]
    pub samples: u32,
    /// Further queries sampled together with `query`: a sample passes only when every query
    /// passes, fails when any fails, and is otherwise inconclusive when any has no number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub queries: Vec<AnalysisQuery>,
    /// Failed samples tolerated per step; one more rolls back. 0: the first failure does.
    #[serde(default)]
    pub failure_limit: u32,
    /// Inconclusive samples (no data, an unreachable Prometheus) tolerated per step; one more
    /// rolls back. Unset: no limit, and the progress deadline bounds the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<u32>,
}

impl Analysis {
    /// `query` passing below `threshold`, with the defaults a manifest gets: a sample every
    /// 30 s, 3 passes per step, no further queries, no failure tolerated, no inconclusive limit.
    pub fn new(query: impl Into<String>, threshold: f64) -> Analysis {
        Analysis {
            query: query.into(),
            threshold,
            comparison: Comparison::LessThan,
            interval_seconds: default_interval(),
            samples: default_samples(),
            queries: Vec::new(),
            failure_limit: 0,
            inconclusive_limit: None,
        }
    }
}

/// One more query of an [`Analysis`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisQuery {
    /// A name for messages and metrics, e.g. `latency-p99`.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// PromQL returning one number; `$revision` is replaced by the canary's revision number.
    pub query: String,
    /// The pass/fail threshold.
    pub threshold: f64,
    /// Which side of the threshold passes.
    #[serde(default)]
    pub comparison: Comparison,
}

fn default_interval() -> u32 {
    30
}
fn default_samples() -> u32 {
    3
}
