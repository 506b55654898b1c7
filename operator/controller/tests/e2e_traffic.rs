//! Exact traffic end to end: a canary routed by a Gateway API `HTTPRoute` that another team owns
//! (a foreign rule, a foreign backend in our rule, filters, their field manager). Every version
//! of the route the operator writes is recorded by a watch, so the test sees each write, not
//! only the last: weights 5, 25 and 100 written exactly, a header route added and removed by its
//! steps, abort restoring 100/0 in one write, and everything else unchanged in every version.
//! On the fake API server (with its `HTTPRoute` CRD) in every `cargo test`; on a cluster with
//! `LOCKSTEP_E2E_TARGET=cluster` after the kind workflow installed the Gateway API CRDs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed call fails the test

mod e2e_support;

use e2e_support::traffic::{
    TEAM, header_step, record, route, routed_env, routes, settled, split, team_still_manages,
    theirs,
};
use e2e_support::{album, wait_for};
use kube::api::{Patch, PatchParams};
use lockstep_crd::status::Phase;
use serde_json::{Value, json};

#[tokio::test]
async fn a_routed_canary_writes_exact_weights_and_nothing_else() {
    let env = routed_env("traffic").await;
    let api = routes(&env);
    let apply = PatchParams::apply(TEAM);
    api.patch("web", &apply, &Patch::Apply(route()))
        .await
        .unwrap();
    let seen = record(api.clone());

    let steps = [
        json!({"setWeight": 5}),
        header_step(true),
        json!({"setWeight": 25}),
        header_step(false),
        json!({"setWeight": 100}),
    ];
    let mut web = album("web", 4, &steps);
    web.spec.rollout.traffic_routing =
        serde_json::from_value(json!({"gatewayAPI": {"httpRoute": "web"}})).unwrap();
    env.create(web).await;
    wait_for(&env, "web", "revision 1 healthy, routed", |s| {
        s.phase == Some(Phase::Healthy)
            && s.traffic.as_ref().is_some_and(|t| t.stable_weight == 100)
    })
    .await;
    let before = seen.lock().unwrap().len();
    env.patch_spec(
        "web",
        json!({"release": {"version": "1.0.1", "config": {"log": {"level": "debug"}}}}),
    )
    .await;
    let done = wait_for(&env, "web", "revision 2 stable", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    assert_eq!(
        done.traffic
            .as_ref()
            .map(|t| (t.stable_weight, t.canary_weight)),
        Some((100, 0))
    );
    settled(&seen, before, (100, 0, 0)).await;
    let versions = seen.lock().unwrap().clone();
    let writes: Vec<_> = versions[before..].iter().map(split).collect();
    // One write per step; completion one more (100/0 with both Services on revision 2).
    assert_eq!(
        writes,
        [
            (95, 5, 0),
            (95, 5, 1),
            (75, 25, 1),
            (75, 25, 0),
            (0, 100, 0),
            (100, 0, 0)
        ],
        "every write of the rollout"
    );
    for v in &versions {
        assert_eq!(
            theirs(v),
            theirs(&versions[0]),
            "their part of the route, at {:?}",
            v.metadata.resource_version
        );
    }
    assert!(
        team_still_manages(&env, versions.last().unwrap()),
        "the team's fields stay its own"
    );

    // Abort from a header route at 25 %: 100/0 and no header rule, in one write.
    env.patch_spec("web", json!({"rollout": {"steps": [{"setWeight": 25}, header_step(true), {"pause": {}}]},
                                 "release": {"version": "1.0.2", "config": {"log": {"level": "warn"}}}}))
        .await;
    wait_for(&env, "web", "paused with the header route", |s| {
        s.phase == Some(Phase::Paused)
            && s.traffic
                .as_ref()
                .is_some_and(|t| t.header_routes == ["testers"])
    })
    .await;
    let before = seen.lock().unwrap().len();
    env.patch_spec("web", json!({"abort": "a1"})).await;
    wait_for(&env, "web", "rolled back", |s| {
        s.phase == Some(Phase::RolledBack)
    })
    .await;
    settled(&seen, before, (100, 0, 0)).await;
    let versions = seen.lock().unwrap().clone();
    let writes: Vec<_> = versions[before..].iter().map(split).collect();
    assert_eq!(writes, [(100, 0, 0)], "abort is one write");
    assert_eq!(theirs(versions.last().unwrap()), theirs(&versions[0]));
    env.teardown().await;
}

#[tokio::test]
async fn a_missing_route_holds_the_rollout_with_a_condition_until_it_exists() {
    let env = routed_env("noroute").await;
    let mut web = album("web", 2, &[json!({"setWeight": 50})]);
    web.spec.rollout.traffic_routing =
        serde_json::from_value(json!({"gatewayAPI": {"httpRoute": "web"}})).unwrap();
    env.create(web).await;
    // A first deploy needs no split: it goes to full size and serves, the condition says why
    // the route is not carrying anything.
    let s = wait_for(&env, "web", "TrafficRouted=False", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "TrafficRouted" && c.status == "False")
    })
    .await;
    let routed = s
        .conditions
        .iter()
        .find(|c| c.type_ == "TrafficRouted")
        .unwrap();
    assert!(routed.message.contains("not found"), "{}", routed.message);
    env.patch_spec(
        "web",
        json!({"release": {"version": "1.0.1", "config": {"log": {"level": "debug"}}}}),
    )
    .await;
    // Held with the canary's pod ready (2 + 1): nothing left to change in the status.
    let s = wait_for(&env, "web", "holding at step 0, pods ready", |s| {
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("waiting for traffic routing"))
            && s.ready_replicas == 3
            && s.updated_replicas == 1
    })
    .await;
    assert_eq!(s.stable_revision, Some(1));
    // Held, it writes nothing: past a recheck of the route (5 s) the object is unchanged.
    let held = env.get("web").await.metadata.resource_version;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(
        env.get("web").await.metadata.resource_version,
        held,
        "no status write while held"
    );
    routes(&env)
        .patch("web", &PatchParams::apply(TEAM), &Patch::Apply(route()))
        .await
        .unwrap();
    wait_for(
        &env,
        "web",
        "revision 2 stable once the route exists",
        |s| s.phase == Some(Phase::Healthy) && s.stable_revision == Some(2),
    )
    .await;
    env.teardown().await;
}

/// `examples/album-service-gateway.yaml` as shipped (the e2e image and an embedded database
/// instead of the release's): the route is admitted, the service serves through it at 100/0,
/// and the first step puts the testers' header route in place and waits for a person.
#[tokio::test]
async fn the_gateway_example_routes_and_its_first_step_adds_the_header_route() {
    let env = routed_env("gwexample").await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service-gateway.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let api = routes(&env);
    api.patch("albums", &PatchParams::apply(TEAM), &Patch::Apply(&docs[0]))
        .await
        .unwrap();
    let mut svc = album("albums", 2, &[]);
    svc.spec.rollout = serde_json::from_value(docs[1]["spec"]["rollout"].clone()).unwrap();
    env.create(svc).await;
    let s = wait_for(&env, "albums", "healthy, routed", |s| {
        s.phase == Some(Phase::Healthy)
            && s.conditions
                .iter()
                .any(|c| c.type_ == "TrafficRouted" && c.status == "True")
    })
    .await;
    let t = s.traffic.unwrap();
    assert_eq!(
        (t.route.as_deref(), t.stable_weight, t.canary_weight),
        (Some(&*format!("{}/albums", env.ns)), 100, 0)
    );
    env.patch_spec(
        "albums",
        json!({"release": {"version": "1.4.3", "config": {"log": {"level": "debug"}}}}),
    )
    .await;
    let s = wait_for(&env, "albums", "paused after the header step", |s| {
        s.phase == Some(Phase::Paused)
    })
    .await;
    assert_eq!(s.traffic.unwrap().header_routes, ["testers"]);
    let route = api.get("albums").await.unwrap();
    let rules = route.data["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[1]["matches"][0]["headers"][0]["value"], "yes");
    assert_eq!(rules[1]["backendRefs"][0]["name"], "albums-canary");
    env.teardown().await;
}

/// A write that loses a race (409: the route changed after the operator read it) is retried
/// from a fresh read: the step waits for it, and the other writer's change survives every later
/// write. On the fake, which injects the conflict.
#[tokio::test]
async fn a_conflicting_route_write_is_retried_from_a_fresh_read() {
    let env = routed_env("conflict").await;
    let Some(fake) = env.fake() else {
        return;
    };
    let api = routes(&env);
    api.patch("web", &PatchParams::apply(TEAM), &Patch::Apply(route()))
        .await
        .unwrap();
    let mut web = album("web", 2, &[json!({"setWeight": 50}), json!({"pause": {}})]);
    web.spec.rollout.traffic_routing =
        serde_json::from_value(json!({"gatewayAPI": {"httpRoute": "web"}})).unwrap();
    env.create(web).await;
    wait_for(&env, "web", "revision 1 healthy", |s| {
        s.phase == Some(Phase::Healthy)
    })
    .await;
    fake.refuse(lockstep_fake_api::Refusal {
        verb: Some("patch"),
        resource: Some("httproutes".into()),
        error: lockstep_fake_api::store::ApiError::new(
            409,
            "Conflict",
            "the object has been modified",
        ),
        times: 1,
    });
    env.patch_spec(
        "web",
        json!({"release": {"version": "1.0.1", "config": {"log": {"level": "debug"}}}}),
    )
    .await;
    let s = wait_for(&env, "web", "paused at 50 % after the retry", |s| {
        s.phase == Some(Phase::Paused)
    })
    .await;
    assert_eq!(s.traffic.map(|t| t.canary_weight), Some(50));
    let events =
        kube::Api::<k8s_openapi::api::events::v1::Event>::namespaced(env.client.clone(), &env.ns)
            .list(&Default::default())
            .await
            .unwrap();
    let notes: Vec<String> = events.items.iter().filter_map(|e| e.note.clone()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the object has been modified")),
        "the refused write is reported: {notes:?}"
    );
    // Someone else edits the route while the canary runs.
    let hostnames = json!({"spec": {"hostnames": ["shop.example.com", "www.shop.example.com"]}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&hostnames))
        .await
        .unwrap();
    env.patch_spec("web", json!({"promote": "p1"})).await;
    wait_for(&env, "web", "revision 2 stable", |s| {
        s.phase == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    let last = api.get("web").await.unwrap();
    assert_eq!(split(&last), (100, 0, 0));
    assert_eq!(
        last.data["spec"]["hostnames"], hostnames["spec"]["hostnames"],
        "their edit survived"
    );
    env.teardown().await;
}
