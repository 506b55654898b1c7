//! Wiring: the two controllers, the health/metrics server and shutdown.
//!
//! One replica runs at a time until Lease leader election lands; the Helm chart must not scale
//! it beyond one before then.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use prometheus::{Encoder, Registry, TextEncoder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::args::Args;
use crate::controller::{Context, error_policy, reconcile};
use crate::metrics::Metrics;
use crate::service::LockstepService;

/// Why the operator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No cluster configuration (in-cluster or kubeconfig) or the API server refused the client.
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
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

fn api<S: LockstepService>(client: &Client, namespace: Option<&str>) -> Api<S> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn control<S>(ctx: Arc<Context>, namespace: Option<String>)
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let client = ctx.client.clone();
    let deployments: Api<Deployment> = match namespace.as_deref() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    Controller::new(
        api::<S>(&client, namespace.as_deref()),
        watcher::Config::default(),
    )
    .owns(
        deployments,
        watcher::Config::default().labels(crate::resources::LABEL_SERVICE),
    )
    .shutdown_on_signal()
    .run(reconcile::<S>, error_policy::<S>, ctx)
    .for_each(|outcome| async move {
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "controller event");
        }
    })
    .await;
}

async fn serve(addr: std::net::SocketAddr, registry: Registry) -> Result<(), RunError> {
    let metrics = move || {
        let registry = registry.clone();
        async move {
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
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .route("/metrics", axum::routing::get(metrics));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|source| RunError::Http { addr, source })
}

/// Runs both controllers and the HTTP server until SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    let registry = Registry::new_custom(None, None)?;
    let metrics = Arc::new(Metrics::register(&registry)?);
    let reporter = Reporter {
        controller: "lockstep-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        metrics,
    });
    tracing::info!(namespace = ?args.namespace, addr = %args.http_addr, "starting");
    let controllers = futures::future::join(
        control::<lockstep_crd::AlbumService>(ctx.clone(), args.namespace.clone()),
        control::<lockstep_crd::NoteService>(ctx, args.namespace.clone()),
    );
    tokio::select! {
        _ = controllers => Ok(()),
        served = serve(args.http_addr, registry) => served,
    }
}
