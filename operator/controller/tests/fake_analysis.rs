//! Canary analysis end to end: the real controller on the fake API server queries a loopback
//! Prometheus. Two queries, `samples: 2`, `intervalSeconds: 5`: the step takes exactly 2 samples
//! of both queries (4 requests), at least 5 s apart, however often status writes and pod events
//! make the operator reconcile in between.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;
mod prometheus_support;

use std::time::{Duration, Instant};

use fake_support::{Operator, fake, rolling, wait_for_phase};
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::spec::{AnalysisQuery, Comparison, Step, Strategy};
use lockstep_crd::status::Phase;
use serde_json::json;

#[tokio::test]
async fn a_step_takes_its_samples_of_every_query_on_schedule() {
    let fake = fake().await;
    // `errors…` passes below 0.05, anything else (the success rate) above 0.99.
    let (url, asked) = prometheus_support::serve(|query| {
        prometheus_support::vector(&[if query.starts_with("errors") {
            "0.01"
        } else {
            "0.999"
        }])
    })
    .await;
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = rolling("albums", "shop");
    svc.spec.rollout.strategy = Strategy::Canary;
    svc.spec.rollout.steps = vec![Step {
        set_weight: Some(50),
        pause: None,
        ..Step::default()
    }];
    let mut analysis = fake_support::analysis("errors{revision=\"$revision\"}", 2);
    analysis.interval_seconds = 5;
    analysis.queries.push(AnalysisQuery {
        name: "success-rate".into(),
        query: "success{revision=\"$revision\"}".into(),
        threshold: 0.99,
        comparison: Comparison::GreaterThan,
    });
    svc.spec.rollout.analysis = Some(analysis);
    api.create(&PostParams::default(), &svc).await.unwrap();
    let operator = Operator::start_analysing(&fake, &url);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    let first = asked.lock().unwrap().len();

    // Revision 2 walks the 50 % step under analysis.
    let change = json!({"spec": {"release": {"config": {"pagination": {"default_limit": 33}}}}});
    api.patch("albums", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let status = api.get("albums").await.unwrap().status.unwrap_or_default();
        if status.stable_revision == Some(2) && status.phase == Some(Phase::Healthy) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    operator.stop().await;
    let asked = asked.lock().unwrap()[first..].to_vec();
    let queries: Vec<&str> = asked.iter().map(|(_, q)| q.as_str()).collect();
    assert_eq!(
        queries,
        [
            "errors{revision=\"2\"}",
            "success{revision=\"2\"}",
            "errors{revision=\"2\"}",
            "success{revision=\"2\"}"
        ],
        "two samples of both queries, for the canary's revision"
    );
    let spacing = asked[2].0 - asked[0].0;
    eprintln!("samples {spacing:?} apart");
    assert!(
        spacing >= Duration::from_millis(4900),
        "samples {spacing:?} apart, interval 5 s"
    );
}
