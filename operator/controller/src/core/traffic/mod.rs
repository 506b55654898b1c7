//! Exact traffic: which revision `<name>-stable` and `<name>-canary` select, the canary's
//! share of requests, and the header routes in place ([`Split`]); what a canary step asks for
//! ([`header_routes_at`], [`canary_pods`]); and the route edit that writes it ([`route`]).
//!
//! The rollout state machine decides a [`Split`] with every decision; the plan renders the two
//! Services from it and, with `rollout.trafficRouting`, the weights of the route.

pub mod route;

use lockstep_crd::spec::Step;
use lockstep_crd::traffic::{CanaryScale, HeaderRoute};

/// `<name>-stable`: selects the stable revision (the serving one at rest).
pub fn stable_service(name: &str) -> String {
    format!("{name}-stable")
}

/// `<name>-canary`: selects the revision being rolled out (the serving one at rest).
pub fn canary_service(name: &str) -> String {
    format!("{name}-canary")
}

/// `<name>-preview`: blue-green's Service selecting the new revision before promotion.
pub fn preview_service(name: &str) -> String {
    format!("{name}-preview")
}

/// How requests are split, as a decision wants it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// The revision `<name>-stable` selects.
    pub stable: Option<i64>,
    /// The revision `<name>-canary` selects.
    pub canary: Option<i64>,
    /// Percent of requests to `<name>-canary` (the rest to `<name>-stable`).
    pub weight: u8,
    /// Header routes in place: matching requests go to the canary only.
    pub headers: Vec<HeaderRoute>,
}

impl Split {
    /// Everything to revision `n`: both Services select it, the canary's weight is 0, no header
    /// route. At rest, after a rollback, and once a rollout completes.
    pub fn only(n: i64) -> Split {
        Split {
            stable: Some(n),
            canary: Some(n),
            weight: 0,
            headers: Vec::new(),
        }
    }
}

/// The header routes in place at step `index`: each `setHeaderRoute` with a `match` adds (or
/// replaces) its route, one without removes it, in step order.
pub fn header_routes_at(steps: &[Step], index: usize) -> Vec<HeaderRoute> {
    let mut routes: Vec<HeaderRoute> = Vec::new();
    for route in steps
        .iter()
        .take(index + 1)
        .filter_map(|s| s.set_header_route.as_ref())
    {
        routes.retain(|r| r.name != route.name);
        if !route.matches.is_empty() {
            routes.push(route.clone());
        }
    }
    routes
}

/// Pods for `weight` percent of `replicas`, rounded up so any non-zero weight gets a pod.
pub fn canary_replicas(replicas: i32, weight: u8) -> i32 {
    ((i64::from(replicas) * i64::from(weight) + 99) / 100) as i32
}

/// The canary's pods at step `index` when requests are routed: the last `setCanaryScale` at or
/// before it, else the weight's share of `replicas` rounded up — at least 1, so a header route
/// has a pod to reach.
pub fn canary_pods(steps: &[Step], index: usize, replicas: i32, weight: u8) -> i32 {
    let share = |w: u8| canary_replicas(replicas, w);
    let scale = steps
        .iter()
        .take(index + 1)
        .filter_map(|s| s.set_canary_scale.as_ref())
        .next_back();
    let pods = match scale {
        Some(CanaryScale {
            replicas: Some(n), ..
        }) => *n,
        Some(CanaryScale {
            weight: Some(w), ..
        }) => share(*w),
        _ => share(weight),
    };
    pods.clamp(1, replicas.max(1))
}
