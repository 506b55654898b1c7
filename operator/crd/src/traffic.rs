//! Exact traffic and blue-green: `rollout.trafficRouting`, the canary steps that only make sense
//! with it (`setHeaderRoute`, `setCanaryScale`), `rollout.blueGreen`, and what the status says
//! was written (`status.traffic`).
//!
//! Without `trafficRouting` a canary's share of requests is its share of ready pods behind the
//! one Service. With it, the operator keeps `<name>-stable` and `<name>-canary` Services and
//! writes the weights of exactly those two `backendRefs` in the named Gateway API `HTTPRoute`,
//! so `setWeight: 5` is 5 % of requests whatever the replica count.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;

/// `rollout.trafficRouting`: where the canary's share of requests is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    /// A Gateway API `HTTPRoute` (`gateway.networking.k8s.io/v1`) whose rules already send to
    /// `<name>-stable` and `<name>-canary`; the operator sets only those two weights.
    #[serde(rename = "gatewayAPI")]
    pub gateway_api: GatewayApiRoute,
}

/// The route of [`TrafficRouting`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiRoute {
    /// The `HTTPRoute`'s name.
    #[schemars(length(min = 1, max = 253))]
    pub http_route: String,
    /// Its namespace; unset: the service's own. A route elsewhere needs a `ReferenceGrant`
    /// for its backends, as Gateway API requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// `setHeaderRoute`: requests that match go to the canary only. Without `match` the step
/// removes the header route of that name; completion and abort remove every one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoute {
    /// Names the route, so a later step can remove it.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Every header must match (Gateway API ANDs a match's headers).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub matches: Vec<HeaderMatch>,
}

/// One header of a [`HeaderRoute`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// The header's name (case-insensitive, as HTTP's).
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
    )]
    pub header_name: String,
    /// How its value matches.
    pub value: HeaderValue,
}

/// Exactly one of `exact`, `prefix`, `regularExpression`. Gateway API has no prefix match for
/// headers: a prefix is written as the regular expression `^<prefix, escaped>.*`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.exact) ? 1 : 0) + (has(self.prefix) ? 1 : 0) + (has(self.regularExpression) ? 1 : 0) == 1").message("a header value is exactly one of exact, prefix, regularExpression"))]
pub struct HeaderValue {
    /// The whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub exact: Option<String>,
    /// The value's beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4000))]
    pub prefix: Option<String>,
    /// A regular expression the gateway implementation evaluates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub regular_expression: Option<String>,
}

/// `setCanaryScale`: the canary's pods from this step on, instead of following the weight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.replicas) ? 1 : 0) + (has(self.weight) ? 1 : 0) + (has(self.matchTrafficWeight) && self.matchTrafficWeight ? 1 : 0) == 1").message("setCanaryScale is exactly one of replicas, weight, matchTrafficWeight: true"))]
pub struct CanaryScale {
    /// This many pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replicas: Option<i32>,
    /// This percent of `spec.replicas`, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<u8>,
    /// Follow the traffic weight again (the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_traffic_weight: bool,
}

/// `rollout.blueGreen`: the new revision starts beside the stable one behind `<name>-preview`,
/// and promotion moves all traffic at once.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreen {
    /// Pods of the new revision before promotion; unset: `spec.replicas`. It grows to
    /// `spec.replicas` before the flip, so capacity never drops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub preview_replicas: Option<i32>,
    /// Promote this long after the preview is ready (and its analysis passed); unset: wait
    /// for `promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<u32>,
    /// Checked against the preview before promotion; a failure rolls back with no request
    /// served by the new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<Analysis>,
    /// Checked after the flip; a failure flips back to the previous revision, still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<Analysis>,
}

/// `status.traffic`: the split the operator last wrote, as the route holds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TrafficStatus {
    /// `namespace/name` of the `HTTPRoute`, when routing by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Percent of requests to `<name>-stable`.
    pub stable_weight: u8,
    /// Percent of requests to `<name>-canary`.
    pub canary_weight: u8,
    /// The revision `<name>-stable` selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<i64>,
    /// The revision `<name>-canary` selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<i64>,
    /// The header routes in place, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_routes: Vec<String>,
    /// Blue-green: the Service that reaches the new revision before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
}
