//! The traffic a decision asks for, as actions: the revision Services (`<name>-stable`,
//! `<name>-canary` with `trafficRouting`, `<name>-preview` for blue-green) selecting what the
//! split says, the route's weights (only when they differ), and what the status shows of it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use lockstep_crd::spec::{RolloutSpec, Strategy};
use lockstep_crd::status::ServiceStatus;
use lockstep_crd::status::condition::TRAFFIC_ROUTED;
use lockstep_crd::traffic::{TrafficRouting, TrafficStatus};

use super::status::{condition, replace_condition};
use super::types::{Action, Cluster, RouteSeen};
use crate::core::rollout::{Decision, Transition};
use crate::core::traffic::route::{self, Backends, RouteProblem};
use crate::core::traffic::{
    Split, canary_service, header_routes_at, preview_service, stable_service,
};

/// Where the route is and which of its backends are ours.
#[derive(Debug, Clone)]
pub(super) struct Routing {
    /// `namespace/name`, for messages and the status.
    pub(super) route: String,
    namespace: String,
    name: String,
    backends: Backends,
}

impl Routing {
    /// The routing of service `name` in `namespace`, when its spec asks for one.
    pub(super) fn of(name: &str, namespace: &str, rollout: &RolloutSpec) -> Option<Routing> {
        let TrafficRouting { gateway_api } = rollout.traffic_routing.as_ref()?;
        let route_ns = gateway_api.namespace.as_deref().unwrap_or(namespace);
        Some(Routing {
            route: format!("{route_ns}/{}", gateway_api.http_route),
            namespace: route_ns.to_owned(),
            name: gateway_api.http_route.clone(),
            backends: Backends {
                stable: stable_service(name),
                canary: canary_service(name),
                namespace: namespace.to_owned(),
                route_namespace: route_ns.to_owned(),
            },
        })
    }

    /// Why the route cannot take the rollout's splits now; the rollout holds while there is a
    /// reason. Besides a missing route or backends, the edit at the step with the most header
    /// routes is tried, so a route it would push past upstream's limits holds the first step.
    pub(super) fn blocked(&self, cluster: &Cluster, rollout: &RolloutSpec) -> Option<String> {
        let rules = match &cluster.route {
            None => return Some(format!("HTTPRoute {} was not read", self.route)),
            Some(RouteSeen::Problem(p)) => return Some(p.to_string()),
            Some(RouteSeen::Found { rules, .. }) => rules,
        };
        // The step with the most header routes in place: the rule count is what can break a
        // limit (each header rule's matches are the split rules', whatever the headers).
        let headers = (0..rollout.steps.len())
            .map(|i| header_routes_at(&rollout.steps, i))
            .max_by_key(Vec::len)
            .unwrap_or_default();
        let most = Split {
            headers,
            ..Split::default()
        };
        route::edit(&self.route, rules, &self.backends, &most)
            .err()
            .map(|p| p.to_string())
    }

    /// The route write the decision needs, if any; a split the route cannot hold is the
    /// reason instead.
    fn write(
        &self,
        cluster: &Cluster,
        decision: &Decision,
    ) -> Result<Option<Action>, RouteProblem> {
        let Some(RouteSeen::Found {
            rules,
            resource_version,
        }) = &cluster.route
        else {
            return Ok(None);
        };
        let edited = route::edit(&self.route, rules, &self.backends, &decision.traffic)?;
        Ok(edited.map(|rules| Action::PatchRoute {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            resource_version: resource_version.clone(),
            rules,
        }))
    }
}

/// The revision Services the spec asks for, each with the revision it selects.
fn wanted(
    name: &str,
    rollout: &RolloutSpec,
    decision: &Decision,
    target: i64,
) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let split = &decision.traffic;
    if rollout.traffic_routing.is_some() {
        out.extend(split.stable.map(|n| (stable_service(name), n)));
        out.extend(split.canary.map(|n| (canary_service(name), n)));
    }
    if rollout.strategy == Strategy::BlueGreen {
        out.push((preview_service(name), target));
    }
    out
}

/// Whether the last status says the route could not take the split.
pub(super) fn was_blocked(prev: Option<&ServiceStatus>) -> bool {
    prev.into_iter()
        .flat_map(|s| &s.conditions)
        .any(|c| c.type_ == TRAFFIC_ROUTED && c.status == "False")
}

/// Blue-green's preview Service name, for the status.
pub(super) fn preview(name: &str, rollout: &RolloutSpec) -> Option<String> {
    (rollout.strategy == Strategy::BlueGreen).then(|| preview_service(name))
}

/// Applies the revision Services that are missing or select another revision (before the
/// route: a weight never points at a Service that selects the wrong pods), deletes those the
/// spec no longer asks for, then writes the route.
pub(super) fn actions(
    name: &str,
    rollout: &RolloutSpec,
    routing: Option<&Routing>,
    cluster: &Cluster,
    decision: &Decision,
    target: i64,
    actions: &mut Vec<Action>,
) -> Option<RouteProblem> {
    let wanted = wanted(name, rollout, decision, target);
    for (service, revision) in &wanted {
        if cluster.revision_services.get(service) != Some(&Some(Some(*revision))) {
            actions.push(Action::ApplyRevisionService {
                name: service.clone(),
                revision: *revision,
            });
        }
    }
    for service in cluster.revision_services.keys() {
        if !wanted.iter().any(|(w, _)| w == service) {
            actions.push(Action::DeleteService(service.clone()));
        }
    }
    match routing.map(|r| r.write(cluster, decision)) {
        Some(Ok(Some(write))) => {
            actions.push(write);
            None
        }
        Some(Err(problem)) => Some(problem),
        _ => None,
    }
}

/// `status.traffic` and the `TrafficRouted` condition, with a Warning event when routing stops.
///
/// `before` is the status as the server holds it: the condition keeps its transition time and
/// the event is sent once per reason, not at every reconcile.
pub(super) fn status(
    routing: Option<&Routing>,
    preview: Option<String>,
    decision: &Decision,
    blocked: Option<&str>,
    before: &[Condition],
    status: &mut ServiceStatus,
    now: i64,
) -> Option<Transition> {
    let Some(routing) = routing else {
        status.conditions.retain(|c| c.type_ != TRAFFIC_ROUTED);
        status.traffic = preview.map(|preview_service| TrafficStatus {
            preview_service: Some(preview_service),
            ..TrafficStatus::default()
        });
        return None;
    };
    let generation = status.observed_generation;
    let was = before.iter().find(|c| c.type_ == TRAFFIC_ROUTED);
    let Some(why) = blocked else {
        let split = &decision.traffic;
        status.traffic = Some(TrafficStatus {
            route: Some(routing.route.clone()),
            stable_weight: 100 - split.weight.min(100),
            canary_weight: split.weight.min(100),
            stable_revision: split.stable,
            canary_revision: split.canary,
            header_routes: split.headers.iter().map(|h| h.name.clone()).collect(),
            preview_service: preview,
        });
        let message = format!("HTTPRoute {} carries the split", routing.route);
        let routed = condition(
            before,
            TRAFFIC_ROUTED,
            true,
            "Routed",
            &message,
            now,
            generation,
        );
        replace_condition(status, routed);
        return None;
    };
    let unrouted = condition(
        before,
        TRAFFIC_ROUTED,
        false,
        "RouteUnavailable",
        why,
        now,
        generation,
    );
    replace_condition(status, unrouted);
    // Once per reason: the condition keeps it, a reconcile every few seconds does not repeat it.
    let new = was.is_none_or(|c| c.status != "False" || c.message != why);
    new.then(|| Transition {
        reason: "TrafficNotRouted",
        message: why.to_owned(),
        warning: true,
    })
}
