//! Reconcile plans as pure functions: one observed state in, the API calls out. Everything
//! that needs the cluster to answer — several reconciles in a row, statuses merged, children
//! collected — runs the real controller on the fake API server (`tests/fake_*.rs`), not a model
//! of it.
#![allow(clippy::unwrap_used)] // fixture helpers

mod common;

use std::time::Duration;

use lockstep_crd::AlbumService;
use lockstep_crd::spec::Strategy;
use lockstep_crd::status::Phase;
use lockstep_operator::core::plan::{Action, Cluster, plan};

const T0: i64 = 1_800_000_000;

/// A new Rolling service, as a user creates it.
fn service() -> AlbumService {
    let mut svc = common::album();
    svc.spec.rollout.strategy = Strategy::Rolling;
    svc.spec.rollout.steps.clear();
    svc
}

/// The status a plan's status patch writes (a new service has none to merge into).
fn written_status(actions: &[Action]) -> lockstep_crd::status::ServiceStatus {
    let patch = actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { patch, .. } => Some(patch.clone()),
            _ => None,
        })
        .expect("a status patch");
    serde_json::from_value(patch).unwrap()
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::CreateRevision(r) => format!("CreateRevision({})", r.number),
            Action::ScaleRevision { revision, replicas } => {
                format!("Scale({}={replicas})", revision.number)
            }
            Action::DeleteDeployment(n) => format!("DeleteDeployment({n})"),
            Action::ApplyService(None) => "ApplyService(all)".into(),
            Action::ApplyService(Some(n)) => format!("ApplyService({n})"),
            Action::ApplyRevisionService { name, revision } => {
                format!("ApplyService({name}={revision})")
            }
            Action::DeleteService(name) => format!("DeleteService({name})"),
            Action::PatchRoute { rules, .. } => format!("PatchRoute({} rules)", rules.len()),
            Action::CreateConfigMap(r) => format!("CreateConfigMap({})", r.number),
            Action::DeleteRevision(n) => format!("DeleteRevision({n})"),
            Action::PatchSpec(_) => "PatchSpec".into(),
            Action::PatchStatus { .. } => "PatchStatus".into(),
            Action::CreatePreflight { revision, .. } => {
                format!("CreatePreflight({})", revision.number)
            }
            Action::RecordPreflight(r) => format!("RecordPreflight({})", r.number),
            Action::Event(t) => format!("Event({})", t.reason),
        })
        .collect()
}

#[test]
fn first_reconcile_creates_revision_deployment_and_service() {
    let actions = plan(&service(), &Cluster::default(), T0, None).actions;
    assert_eq!(
        kinds(&actions),
        [
            "CreateRevision(1)",
            "Scale(1=4)",
            "ApplyService(all)",
            "Event(RolloutStarted)",
            "PatchStatus"
        ]
    );
    let status = written_status(&actions);
    assert_eq!(status.phase, Some(Phase::Progressing));
    assert_eq!(status.current_revision, Some(1));
}

#[test]
fn an_invalid_config_touches_no_pods() {
    let mut svc = service();
    svc.spec.release.config.pagination.default_limit = 999;
    let actions = plan(&svc, &Cluster::default(), T0, None).actions;
    assert_eq!(kinds(&actions), ["Event(InvalidConfig)", "PatchStatus"]);
    let status = written_status(&actions);
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ConfigValid")
        .unwrap();
    assert_eq!(valid.status, "False");
    assert!(
        valid.message.contains("pagination.default_limit"),
        "{}",
        valid.message
    );
    // Mutation check: without it the phase stayed unset (`<none>` in `kubectl get`).
    assert_eq!(status.phase, Some(Phase::Degraded));
    assert!(status.message.unwrap().starts_with("config rejected"));
}

/// A pod within the grace period of a failure that may heal (a Secret not created yet) gets the
/// service looked at again when the grace ends, if nothing else brings the reconcile earlier.
#[test]
fn a_pod_in_its_grace_period_is_rechecked_when_it_ends() {
    let svc = service();
    let own = plan(&svc, &Cluster::default(), T0, None)
        .requeue_after
        .expect("a rollout in progress looks again");
    let sooner = own / 2;
    let cluster = Cluster {
        recheck_after: Some(sooner),
        ..Cluster::default()
    };
    assert_eq!(plan(&svc, &cluster, T0, None).requeue_after, Some(sooner));
    let later = Cluster {
        recheck_after: Some(own + Duration::from_secs(60)),
        ..Cluster::default()
    };
    assert_eq!(plan(&svc, &later, T0, None).requeue_after, Some(own));
}

/// A route that the rollout's header routes would push past upstream's 16 rules is refused
/// before any step: `TrafficRouted=False` naming the limit, and a Warning event.
#[test]
fn a_route_the_header_routes_would_overfill_is_a_problem_before_the_first_step() {
    use lockstep_operator::core::plan::RouteSeen;
    let mut svc = service();
    svc.spec.rollout = serde_json::from_value(serde_json::json!({
        "strategy": "Canary",
        "trafficRouting": {"gatewayAPI": {"httpRoute": "web"}},
        "steps": [{"setHeaderRoute": {"name": "a", "match": [{"headerName": "x", "value": {"exact": "1"}}]}},
                  {"setHeaderRoute": {"name": "a"}},
                  {"setHeaderRoute": {"name": "b", "match": [{"headerName": "x", "value": {"exact": "2"}}]}}]
    }))
    .unwrap();
    let ours = serde_json::json!({"backendRefs": [{"name": "albums-stable", "port": 8080, "weight": 100},
                                                  {"name": "albums-canary", "port": 8080, "weight": 0}]});
    let other = serde_json::json!({"backendRefs": [{"name": "docs", "port": 80, "weight": 1}]});
    let route = |foreign: usize| Cluster {
        route: Some(RouteSeen::Found {
            rules: std::iter::once(ours.clone())
                .chain(std::iter::repeat_n(other.clone(), foreign))
                .collect(),
            resource_version: "7".into(),
        }),
        ..Cluster::default()
    };
    let routed = |cluster: &Cluster| {
        let actions = plan(&svc, cluster, T0, None).actions;
        let status = written_status(&actions);
        let c = status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "TrafficRouted")
            .unwrap();
        (
            c.status,
            c.message,
            kinds(&actions).contains(&"Event(TrafficNotRouted)".to_owned()),
        )
    };
    // 15 rules + one header route at a time (a is removed before b) = 16: fine.
    let (status, _, warned) = routed(&route(14));
    assert_eq!((status.as_str(), warned), ("True", false));
    let (status, message, warned) = routed(&route(15));
    assert_eq!((status.as_str(), warned), ("False", true));
    assert!(
        message.contains("17 rules") && message.contains("16"),
        "{message}"
    );
}
