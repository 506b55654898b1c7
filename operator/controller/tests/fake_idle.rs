//! What an idle service costs: its reconciles read the watch caches, so a Healthy service's
//! periodic requeues and a child's change cost no API request at all, and the caches follow
//! the operator's own writes before the next reconcile plans from them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;

use std::time::Duration;

use fake_support::{Operator, create_canary, fake, rolling, wait_for_phase};
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::status::Phase;
use serde_json::json;

/// Requests other than watches, by `(verb, resource)`.
fn non_watch(counters: &lockstep_fake_api::Counters) -> Vec<(String, String, u64)> {
    counters
        .by_verb
        .iter()
        .filter(|((verb, _), _)| verb != "watch")
        .map(|((verb, resource), n)| (verb.clone(), resource.clone(), *n))
        .collect()
}

/// Ten and more idle requeues (shortened to 100 ms) and a foreign edit of the service's
/// Deployment (a child event): reconciles run, and not one request reaches the API server.
/// Before the caches, each reconcile listed ControllerRevisions, Deployments, Pods and
/// ConfigMaps and got the Service (5 requests).
#[tokio::test]
async fn idle_reconciles_send_no_request() {
    let fake = fake().await;
    let api = create_canary(&fake, vec![]).await;
    let (operator, metrics) = Operator::start_with(&fake, Duration::from_millis(100));
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = metrics.reconciles("album");
    fake.reset_counters();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requeues = metrics.reconciles("album") - before;
    let idle = fake.counters();
    assert!(requeues >= 10, "only {requeues} reconciles in 1.5 s");
    assert_eq!(
        non_watch(&idle),
        vec![],
        "requests of {requeues} idle reconciles"
    );

    // A child changes (another manager annotates the Deployment): the reconcile it triggers
    // reads the cache.
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "shop");
    let name = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    fake.reset_counters();
    deployments
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"owner": "catalogue"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_child = fake.counters();
    operator.stop().await;
    assert_eq!(
        non_watch(&after_child),
        vec![("patch".to_owned(), "deployments".to_owned(), 1)],
        "only the test's own edit"
    );
}

/// Many services created at once, each reconciled from caches that lag the operator's writes
/// by whatever the watch takes: each writes its two status transitions once and records each
/// event once, and ends with one revision.
#[tokio::test]
async fn reconciles_see_their_own_writes() {
    let fake = fake().await;
    // Every request is slowed, so watch events trail the writes that caused them.
    fake.set_latency(Duration::from_millis(15));
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let (operator, metrics) =
        Operator::start_with(&fake, lockstep_operator::run::reconcile::IDLE_REQUEUE);
    for i in 0..12 {
        api.create(&PostParams::default(), &rolling(&format!("a{i}"), "shop"))
            .await
            .unwrap();
    }
    for i in 0..12 {
        wait_for_phase(&api, &format!("a{i}"), Phase::Healthy).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    operator.stop().await;
    let counters = fake.counters();
    assert_eq!(metrics.failures("album"), 0);
    let count = |verb: &str, resource: &str| {
        counters
            .by_verb
            .get(&(verb.to_owned(), resource.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    // Progressing, then Healthy: a reconcile planning from a status the cache did not show
    // yet wrote it again and repeated its transition's event (seen: 29 and 6).
    assert_eq!(count("patch", "albumservices"), 24, "{counters:?}");
    assert_eq!(
        count("patch", "events"),
        0,
        "a transition was recorded twice: {counters:?}"
    );
    let revisions: Api<ControllerRevision> = Api::namespaced(fake.client(), "shop");
    let names: Vec<String> = revisions
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert_eq!(names.len(), 12, "one revision per service: {names:?}");
}

/// A restarted operator whose ControllerRevision cache is slow to fill (its first LISTs fail)
/// while the services' cache is ready: no reconcile plans from the empty cache (which reads
/// as "no revision yet" and would create revision 1 again); once every cache is filled, the
/// Healthy service gets no write at all.
#[tokio::test]
async fn a_restart_plans_nothing_before_every_cache_is_filled() {
    let fake = fake().await;
    let api = create_canary(&fake, vec![]).await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    operator.stop().await;

    fake.refuse(lockstep_fake_api::Refusal {
        verb: Some("list"),
        resource: Some("controllerrevisions".into()),
        error: lockstep_fake_api::ApiError::new(500, "InternalError", "etcd is slow today"),
        times: 2,
    });
    fake.reset_counters();
    let operator = Operator::start(&fake);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let counters = fake.counters();
    operator.stop().await;
    assert!(
        counters.by_verb[&("list".to_owned(), "controllerrevisions".to_owned())] >= 3,
        "the cache filled after the refusals: {counters:?}"
    );
    assert_eq!(counters.writes(), 0, "{counters:?}");
}

/// A routed service at rest: each reconcile reads its route (one GET, the route is not watched)
/// and writes nothing. A route that cannot take the split is looked at every 5 s, and its
/// condition and event are written once, not at every look.
#[tokio::test]
async fn a_routed_service_at_rest_reads_its_route_and_writes_nothing() {
    let fake = fake().await;
    fake.install_crds(&[lockstep_fake_api::gateway::httproute_crd().unwrap()]);
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = rolling("albums", "shop");
    svc.spec.rollout.traffic_routing =
        serde_json::from_value(json!({"gatewayAPI": {"httpRoute": "albums"}})).unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
    let (operator, metrics) = Operator::start_with(&fake, Duration::from_millis(100));
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = metrics.reconciles("album");
    fake.reset_counters();
    // Past one recheck (ROUTE_RECHECK, 5 s): the idle requeue does not apply while it waits.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    let rechecks = metrics.reconciles("album") - before;
    let blocked = non_watch(&fake.counters());
    assert!(rechecks >= 1, "no recheck of the missing route in 6.5 s");
    assert!(
        blocked
            .iter()
            .all(|(verb, resource, _)| verb == "get" && resource == "httproutes"),
        "a missing route: only reads, {blocked:?}"
    );

    let routes = Api::<kube::api::DynamicObject>::namespaced_with(
        fake.client(),
        "shop",
        &lockstep_fake_api::gateway::httproute_resource(),
    );
    let route: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "albums"},
        "spec": {"rules": [{"backendRefs": [{"name": "albums-stable", "port": 8080, "weight": 100},
                                            {"name": "albums-canary", "port": 8080, "weight": 0}]}]}
    }))
    .unwrap();
    routes.create(&PostParams::default(), &route).await.unwrap();
    for _ in 0..100 {
        let routed = api
            .get("albums")
            .await
            .unwrap()
            .status
            .and_then(|s| s.traffic);
        if routed.is_some_and(|t| t.route.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = metrics.reconciles("album");
    fake.reset_counters();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requeues = metrics.reconciles("album") - before;
    let idle = non_watch(&fake.counters());
    operator.stop().await;
    assert!(requeues >= 10, "only {requeues} reconciles in 1.5 s");
    // One read per reconcile (± the one in flight when the window opened or closed), no write.
    let reads = match idle.as_slice() {
        [(verb, resource, n)] if verb == "get" && resource == "httproutes" => *n,
        other => panic!("only route reads at rest: {other:?}"),
    };
    assert!(
        reads.abs_diff(requeues) <= 1,
        "{reads} route reads in {requeues} reconciles"
    );
}
