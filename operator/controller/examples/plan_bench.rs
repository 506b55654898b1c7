//! Reconcile decision cost per custom resource: render the config, hash the revision, decide the
//! rollout and plan the API calls — everything a reconcile does besides IO.
//!
//! `cargo run --release -p lockstep-operator --example plan_bench [-- N [ROUNDS]]`
//! (default 1,000 services, 10 rounds)
//!
//! First reconcile: each service planned against an empty cluster. Steady state: the real
//! operator (`run::run_with`) makes the N services Healthy on `lockstep-fake-api` in this
//! process; then each service is planned from what the operator's caches observe of it — the
//! state a real server returned, not a model's — and the plans' writes are counted (a Healthy
//! service must plan none). Figures are µs per CR over `N × ROUNDS` plans.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a broken fixture stops it loudly

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::events::Reporter;
use kube::runtime::reflector::ObjectRef;
use lockstep_crd::AlbumService;
use lockstep_operator::cluster::events::Recorder;
use lockstep_operator::core::plan::{Cluster, plan};
use lockstep_operator::kinds::LockstepService as _;
use lockstep_operator::run::metrics::Metrics;

const NAMESPACE: &str = "bench";

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

fn template() -> AlbumService {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service.yaml"
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `n` services differing in their config (so each hashes its own revision).
fn services(n: usize) -> Vec<AlbumService> {
    let template = template();
    (0..n)
        .map(|i| {
            let mut svc = template.clone();
            svc.metadata.name = Some(format!("albums-{i}"));
            svc.metadata.namespace = Some(NAMESPACE.into());
            svc.spec.release.config.server.request_timeout_ms = 1000 + i as u64;
            svc
        })
        .collect()
}

/// Every service Healthy on the fake API server, as the operator's caches observe them.
async fn observed(input: &[AlbumService]) -> Vec<(AlbumService, Cluster)> {
    let mut store = lockstep_fake_api::Store::default();
    store.deployments_ready = true;
    let fake = lockstep_fake_api::FakeApi::start_with(store, Duration::from_secs(60))
        .await
        .unwrap();
    fake.install_crds(&lockstep_crd::crds());
    let api: kube::Api<AlbumService> = kube::Api::namespaced(fake.client(), NAMESPACE);
    for svc in input {
        let mut svc = svc.clone();
        svc.metadata.namespace = None;
        api.create(&Default::default(), &svc).await.unwrap();
    }
    let operator = tokio::spawn(lockstep_operator::run::run_with(
        fake.client(),
        lockstep_operator::run::args::Args {
            api_timeout_seconds: 30,
            ..lockstep_operator::run::args::Args::in_process("plan-bench")
        },
    ));
    let started = Instant::now();
    let healthy = |s: &AlbumService| {
        s.status.as_ref().and_then(|s| s.phase) == Some(lockstep_crd::status::Phase::Healthy)
    };
    while !api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .all(healthy)
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "never all Healthy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the last writes land, then stop the operator and read with caches of our own.
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator.abort();
    let client = fake.client();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "plan-bench".into(),
            instance: None,
        },
    );
    let metrics = Arc::new(Metrics::register(&prometheus::Registry::new()).unwrap());
    let (caches, feeds) =
        lockstep_operator::run::triggers::start_caches(&client, None, &recorder, &metrics);
    let feeds = tokio::spawn(feeds);
    caches.wait_synced(Duration::from_secs(120)).await.unwrap();
    let now = unix_now();
    let observed = input
        .iter()
        .map(|svc| {
            let name = svc.metadata.name.as_deref().unwrap();
            let cached = caches
                .kinds
                .get::<AlbumService>()
                .expect("albums are watched")
                .store
                .get(&ObjectRef::new(name).within(NAMESPACE))
                .expect("the service in the cache");
            let ports = lockstep_operator::core::render::service_ports(&cached.service_ports());
            let cluster = caches.observe(NAMESPACE, name, now, &ports);
            ((*cached).clone(), cluster)
        })
        .collect();
    feeds.abort();
    observed
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let fresh = services(n);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (n * rounds) as f64;

    let empty = Cluster::default();
    let started = Instant::now();
    for _ in 0..rounds {
        for svc in &fresh {
            black_box(plan(svc, &empty, 1_800_000_000, None));
        }
    }
    let first = started.elapsed();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let steady_input = runtime.block_on(observed(&fresh));
    let now = unix_now() + 1;
    let mut writes = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        for (svc, cluster) in &steady_input {
            writes += black_box(plan(svc, cluster, now, None)).actions.len();
        }
    }
    let steady = started.elapsed();
    if writes > 0 && std::env::var_os("PLAN_BENCH_DEBUG").is_some() {
        let (svc, cluster) = &steady_input[0];
        eprintln!("{:#?}", plan(svc, cluster, now, None).actions);
    }
    println!("{n} AlbumServices, {rounds} rounds");
    println!(
        "first reconcile (new revision):     {:>6.1} us/CR",
        per(first)
    );
    println!(
        "steady-state reconcile (observed):  {:>6.1} us/CR, writes planned: {writes}",
        per(steady)
    );
}
