//! Wiring: leader election, a controller per kind (`every_kind!`), the health/metrics server and
//! shutdown.
//!
//! ```text
//!  SIGTERM/SIGINT ──► shutdown ──► controllers drain ──► Lease released ──► HTTP server stops
//!  Lease lost ─────────────────────────────────────────► exit non-zero (the pod restarts as standby)
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::Controller;
use kube::runtime::events::Reporter;
use kube::{Api, Client};
use prometheus::{Encoder, Registry, TextEncoder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub mod args;
pub mod metrics;
pub mod rbac;
pub mod reconcile;
pub mod triggers;

use crate::cluster::analysis::{AnalysisError, Prometheus};
use crate::cluster::events::Recorder;
use crate::cluster::leader::{Elector, LeaderError};
use crate::cluster::observe::Caches;
use crate::kinds::{LockstepService, every_kind};
use crate::run::args::Args;
use crate::run::metrics::Metrics;
use crate::run::reconcile::{Context, error_policy, reconcile};
pub use crate::run::triggers::controller;

/// Why the operator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No cluster configuration (in-cluster or kubeconfig) or the API server refused the client.
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `--prometheus-url` is unusable.
    #[error(transparent)]
    Prometheus(#[from] AnalysisError),
    /// Leadership was lost or the Lease is not accessible.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// `--manage-crds`: the CRDs could not be applied or are not served.
    #[error(transparent)]
    Crds(#[from] crate::cluster::crds::CrdError),
    /// No cluster configuration (in-cluster or kubeconfig).
    #[error("kubernetes config: {0}")]
    Config(#[from] kube::config::InferConfigError),
    /// The HTTP server could not bind or failed.
    #[error("http server on {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves once shutdown was requested.
#[derive(Clone, Debug)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Sets the returned token when SIGTERM or SIGINT arrives.
    fn on_signal() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no SIGTERM handler");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = term => {}
            }
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Runs `controller` with the operator's reconcile and error policy until it stops.
pub async fn control<S>(controller: Controller<S>, ctx: Arc<Context>)
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    controller
        .run(reconcile::<S>, error_policy::<S>, ctx)
        .for_each(|outcome| async move {
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

/// The phase gauge is read from the caches at scrape time.
#[derive(Clone)]
struct Phases {
    metrics: Arc<Metrics>,
    caches: Caches,
}

impl Phases {
    fn refresh(&self) {
        self.metrics.reset_traffic();
        macro_rules! each_kind {
            ($($kind:ty),*) => {$(
                self.refresh_kind::<$kind>();
            )*};
        }
        every_kind!(each_kind);
    }

    fn refresh_kind<S: LockstepService>(&self) {
        let Ok(services) = self.caches.kinds.get::<S>() else {
            return;
        };
        let services = services.store.state();
        let phases = services.iter().map(|s| s.status().and_then(|s| s.phase));
        self.metrics.set_phases(S::COMPONENT, phases);
        for svc in &services {
            let routed = svc
                .status()
                .and_then(|s| s.traffic.as_ref())
                .filter(|t| t.route.is_some());
            if let (Some(t), Some(ns)) = (routed, kube::ResourceExt::namespace(&**svc)) {
                let name = kube::ResourceExt::name_any(&**svc);
                let (stable, canary) = (t.stable_weight, t.canary_weight);
                self.metrics
                    .set_traffic(S::COMPONENT, &ns, &name, stable, canary);
            }
        }
    }

    /// `/readyz` (see [`crate::cluster::readiness`]).
    fn ready(&self) -> bool {
        crate::cluster::readiness::ready(&self.caches.synced())
    }
}

async fn readyz(
    axum::extract::State(phases): axum::extract::State<Phases>,
) -> (axum::http::StatusCode, &'static str) {
    if phases.ready() {
        (axum::http::StatusCode::OK, "ok")
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the caches have no complete LIST yet",
        )
    }
}

async fn serve(
    addr: std::net::SocketAddr,
    registry: Registry,
    phases: Phases,
    shutdown: Shutdown,
) -> Result<(), RunError> {
    let for_ready = phases.clone();
    let metrics = move || {
        let registry = registry.clone();
        let phases = phases.clone();
        async move {
            phases.refresh();
            let mut buffer = Vec::new();
            match TextEncoder::new().encode(&registry.gather(), &mut buffer) {
                Ok(()) => (axum::http::StatusCode::OK, buffer),
                Err(e) => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string().into_bytes(),
                ),
            }
        }
    };
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(for_ready);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.requested())
        .await
        .map_err(|source| RunError::Http { addr, source })
}

/// Stops a spawned task when the owner returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Bounds connecting and every read and write of a request to the API server by `limit`
/// (kube leaves reads unbounded by default: a hung server would stall a reconcile forever).
pub fn bound_requests(config: &mut kube::Config, limit: Duration) {
    config.connect_timeout = Some(limit);
    config.read_timeout = Some(limit);
    config.write_timeout = Some(limit);
}

/// Runs a controller per kind (while leader) and the HTTP server until SIGINT/SIGTERM, on the
/// cluster of the kubeconfig or the pod's service account.
pub async fn run(args: Args) -> Result<(), RunError> {
    let mut config = kube::Config::infer().await?;
    bound_requests(&mut config, Duration::from_secs(args.api_timeout_seconds));
    run_with(Client::try_from(config)?, args).await
}

/// [`run`] with the given client (benchmarks run the operator in-process on the fake API).
pub async fn run_with(client: Client, args: Args) -> Result<(), RunError> {
    if args.manage_crds {
        // Boxed: awaited once at start, it would otherwise grow the whole operator future.
        Box::pin(crate::cluster::crds::ensure(
            &client,
            Duration::from_secs(60),
        ))
        .await?;
    }
    let prometheus = args
        .prometheus_url
        .as_deref()
        .map(|url| Prometheus::new(url, Duration::from_secs(10)))
        .transpose()?;
    let registry = Registry::new_custom(None, None)?;
    let metrics = Arc::new(Metrics::register(&registry)?);
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("lockstep-operator-{}", std::process::id()));
    let reporter = Reporter {
        controller: "lockstep-operator".into(),
        instance: Some(identity.clone()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    // The caches fill whether or not this replica leads: a standby takes over warm.
    let (caches, feeds) =
        crate::run::triggers::start_caches(&client, args.namespace.as_deref(), &recorder, &metrics);
    let feeds = tokio::spawn(feeds);
    let ctx = Arc::new(Context {
        recorder,
        client: client.clone(),
        metrics: metrics.clone(),
        prometheus,
        backoff: crate::cluster::failure::Backoff::default(),
        caches: caches.clone(),
        idle_requeue: crate::run::reconcile::IDLE_REQUEUE,
    });
    let shutdown = Shutdown::on_signal();
    let phases = Phases {
        metrics: metrics.clone(),
        caches: caches.clone(),
    };
    tracing::info!(namespace = ?args.namespace, addr = %args.http_addr, %identity, "starting");
    let (concurrency, stop) = (args.concurrency, shutdown.clone());
    let work = async move {
        // Polled only while leading (see leader::Elector::lead).
        metrics.set_leader(true);
        let mut controllers: Vec<BoxFuture<'static, ()>> = Vec::new();
        macro_rules! control_kinds {
            ($($kind:ty),*) => {$(
                match controller::<$kind>(&caches, concurrency, stop.clone().requested()) {
                    Ok(c) => controllers.push(control(c, ctx.clone()).boxed()),
                    Err(e) => tracing::error!(error = %e, "a kind is not reconciled"),
                }
            )*};
        }
        every_kind!(control_kinds);
        // Boxed each: the controllers inline would make the whole operator future too large
        // to move around cheaply (clippy's large_futures).
        futures::future::join_all(controllers).await;
        metrics.set_leader(false);
    };
    let led = async {
        if !args.leader_election {
            work.await;
            return Ok(());
        }
        let lease_ns = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let elector = Elector::new(
            Api::<Lease>::namespaced(client.clone(), &lease_ns),
            &args.lease_name,
            &identity,
            Duration::from_secs(args.lease_seconds),
        );
        // Standing by ends on shutdown. Leading does not end by being dropped: shutdown ends
        // `work` (the controllers' graceful shutdown), then `while_leading` releases the Lease
        // so the standby takes over at once instead of at expiry.
        tokio::select! {
            acquired = elector.acquire() => acquired?,
            () = shutdown.clone().requested() => return Ok(()),
        }
        elector.while_leading(work).await.map(|_| ())
    };
    let server = serve(args.http_addr, registry, phases, shutdown.clone());
    tokio::pin!(led, server);
    let _feeds = AbortOnDrop(feeds);
    tokio::select! {
        led = &mut led => led.map_err(RunError::from),
        served = &mut server => {
            served?;
            // The server stops on shutdown; let the controllers drain and the Lease go.
            match tokio::time::timeout(Duration::from_secs(20), led).await {
                Ok(led) => led.map_err(RunError::from),
                Err(_) => {
                    tracing::warn!("controllers did not stop within 20 s");
                    Ok(())
                }
            }
        }
    }
}
