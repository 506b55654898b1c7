//! The operator's album controller running against the fake API server, and helpers to drive
//! it: what the `fake_*` test files share.
#![allow(dead_code)] // each test file uses its own subset

#[path = "../rbac_support/mod.rs"]
mod rbac_support;
pub(crate) use rbac_support::operator_client;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, PostParams};
use kube::runtime::events::Reporter;
use lockstep_crd::AlbumService;
use lockstep_crd::spec::{Step, Strategy};
use lockstep_crd::status::Phase;
use lockstep_fake_api::{Collection, FakeApi, Store};
use lockstep_operator::cluster::events::Recorder;
use lockstep_operator::cluster::failure::Backoff;
use lockstep_operator::run::control;
use lockstep_operator::run::metrics::Metrics;
use lockstep_operator::run::reconcile::Context;
use lockstep_operator::run::triggers::{controller, start_caches};

use crate::common;

/// A running operator (album controller only) that stops when dropped.
pub(crate) struct Operator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    feeds: tokio::task::JoinHandle<()>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
        self.feeds.abort();
    }
}

/// The album controller on `fake`, stopping when `shutdown` resolves, with the context its
/// reconciles run with (no Prometheus, short backoff) and its caches' feeds (spawned; abort
/// the handle to stop them).
pub(crate) fn album_controller(
    fake: &FakeApi,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    idle_requeue: Duration,
) -> (
    kube::runtime::Controller<AlbumService>,
    Arc<Context>,
    tokio::task::JoinHandle<()>,
) {
    album_controller_with(fake, shutdown, idle_requeue, None)
}

/// [`album_controller`] with canary analysis against the Prometheus at `prometheus`.
pub(crate) fn album_controller_with(
    fake: &FakeApi,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    idle_requeue: Duration,
    prometheus: Option<&str>,
) -> (
    kube::runtime::Controller<AlbumService>,
    Arc<Context>,
    tokio::task::JoinHandle<()>,
) {
    let client = operator_client(fake);
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::register(&registry).unwrap());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "lockstep-operator".into(),
            instance: Some("test".into()),
        },
    );
    let (caches, feeds) = start_caches(&client, None, &recorder, &metrics);
    let feeds = tokio::spawn(feeds);
    // As the operator's run does while leading (an undecodable service's Warning event).
    metrics.set_leader(true);
    let ctx = Arc::new(Context {
        client,
        recorder,
        metrics,
        prometheus: prometheus.map(|url| {
            lockstep_operator::cluster::analysis::Prometheus::new(url, Duration::from_secs(5))
                .unwrap()
        }),
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_millis(800)),
        caches: caches.clone(),
        idle_requeue,
    });
    let albums = controller::<AlbumService>(&caches, 4, shutdown).expect("every kind is watched");
    (albums, ctx, feeds)
}

impl Operator {
    pub(crate) fn start(fake: &FakeApi) -> Operator {
        Operator::start_with(fake, lockstep_operator::run::reconcile::IDLE_REQUEUE).0
    }

    /// An operator whose idle requeue is `idle_requeue`, and its reconcile metrics.
    pub(crate) fn start_with(fake: &FakeApi, idle_requeue: Duration) -> (Operator, Arc<Metrics>) {
        Operator::start_full(fake, idle_requeue, None)
    }

    /// An operator analysing canaries with the Prometheus at `prometheus`.
    pub(crate) fn start_analysing(fake: &FakeApi, prometheus: &str) -> Operator {
        Operator::start_full(
            fake,
            lockstep_operator::run::reconcile::IDLE_REQUEUE,
            Some(prometheus),
        )
        .0
    }

    fn start_full(
        fake: &FakeApi,
        idle_requeue: Duration,
        prometheus: Option<&str>,
    ) -> (Operator, Arc<Metrics>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (albums, ctx, feeds) = album_controller_with(
            fake,
            async move {
                let _ = stopped.await;
            },
            idle_requeue,
            prometheus,
        );
        let metrics = ctx.metrics.clone();
        let task = tokio::spawn(control(albums, ctx));
        let operator = Operator {
            stop: Some(stop),
            task,
            feeds,
        };
        (operator, metrics)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

pub(crate) async fn fake() -> FakeApi {
    let mut store = Store::default();
    store.deployments_ready = true;
    let fake = FakeApi::start_with(store, Duration::from_millis(500))
        .await
        .unwrap();
    // As on a cluster: every write of a service (status included) is admitted by the CRD.
    fake.install_crds(&lockstep_crd::crds());
    fake
}

pub(crate) fn albums() -> Collection {
    Collection {
        prefix: "/apis/lockstep.dev/v1alpha1".into(),
        resource: "albumservices".into(),
    }
}

/// A Canary service with `steps`, created in `shop` as `albums`; returns its API.
pub(crate) async fn create_canary(fake: &FakeApi, steps: Vec<Step>) -> Api<AlbumService> {
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    let mut svc = rolling("albums", "shop");
    svc.spec.rollout.strategy = Strategy::Canary;
    svc.spec.rollout.steps = steps;
    api.create(&PostParams::default(), &svc).await.unwrap();
    api
}

/// A Rolling service created in `shop` as `name`; returns its API.
pub(crate) async fn create_rolling(fake: &FakeApi, name: &str) -> Api<AlbumService> {
    let api: Api<AlbumService> = Api::namespaced(fake.client(), "shop");
    api.create(&PostParams::default(), &rolling(name, "shop"))
        .await
        .unwrap();
    api
}

/// A Rolling service named `name` in `ns`, as a user would create it.
pub(crate) fn rolling(name: &str, ns: &str) -> AlbumService {
    let mut svc = common::album();
    svc.metadata = kube::api::ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        ..Default::default()
    };
    svc.spec.rollout.strategy = Strategy::Rolling;
    svc.spec.rollout.steps.clear();
    svc
}

pub(crate) async fn wait_for_phase(
    api: &Api<AlbumService>,
    name: &str,
    phase: Phase,
) -> AlbumService {
    for _ in 0..300 {
        if let Some(svc) = api.get_opt(name).await.unwrap()
            && svc.status.as_ref().and_then(|s| s.phase) == Some(phase)
        {
            return svc;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let now = api.get_opt(name).await.unwrap();
    panic!(
        "{name} never reached {phase:?}: {:?}",
        now.and_then(|s| s.status)
    );
}
/// `query` passing below 0.05 with `samples` passes per step (the manifest defaults otherwise).
pub(crate) fn analysis(query: &str, samples: u32) -> lockstep_crd::spec::Analysis {
    lockstep_crd::spec::Analysis {
        samples,
        ..lockstep_crd::spec::Analysis::new(query, 0.05)
    }
}

/// Polls `done` every 20 ms; fails the test with `what` after 15 s.
pub(crate) async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(15), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls every 10 ms until `albums` is Healthy with stable revision `stable`; the service then
/// and how long it took.
pub(crate) async fn until_stable(api: &Api<AlbumService>, stable: i64) -> (AlbumService, Duration) {
    let started = std::time::Instant::now();
    loop {
        let svc = api.get("albums").await.unwrap();
        let status = svc.status.clone().unwrap_or_default();
        if status.phase == Some(Phase::Healthy) && status.stable_revision == Some(stable) {
            return (svc, started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
