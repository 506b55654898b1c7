//! The HTTP shell around a service's routes: ops endpoints, request ids, JSON errors, metrics,
//! timeout, body limit, and a server that drains in-flight requests on SIGTERM.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ApiError;
use crate::server::ConnectionLimits;
pub use crate::signals::{hangups_ignored, ignore_hangups, shutdown_signal};

pub use crate::context::REQUEST_ID;
pub use crate::layers::COMPRESS_FROM;
pub use crate::middleware::method_label;
pub use crate::ops::{Ops, Probe, ReadyCheck};

/// Set when the process starts draining (SIGTERM): `/readyz` answers 503 from then on. One HTTP
/// application per process, so the flag is the process's.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the process as draining: `/readyz` answers 503 `not_ready` ("draining").
pub fn begin_draining() {
    DRAINING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Resolves `delay` after `signal`: at the signal the process is marked draining (readiness
/// fails, so Services stop routing to it) but keeps serving; after the delay the server stops
/// accepting and drains in-flight requests. Without the delay, requests already routed to the
/// pod by a kube-proxy that has not seen it leave would be refused.
pub async fn drain_after(signal: impl Future<Output = ()>, delay: Duration) {
    signal.await;
    begin_draining();
    tracing::info!(
        ?delay,
        "draining: /readyz fails, still serving until the delay ends"
    );
    tokio::time::sleep(delay).await;
}

/// How long `/readyz` waits for the database: a probe must answer well inside a kubelet's
/// default 1 s timeout, and say what failed.
pub const READY_TIMEOUT: Duration = Duration::from_millis(800);

async fn readyz(State(ops): State<Ops>) -> Response {
    if DRAINING.load(std::sync::atomic::Ordering::SeqCst) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "draining: the service is shutting down",
        )
        .into_response();
    }
    // Inside the request timeout too, so the answer is this one, not a bare 504.
    let limit = READY_TIMEOUT.min(ops.request_timeout * 3 / 4);
    let outcome = tokio::time::timeout(limit, (ops.ready)())
        .await
        .unwrap_or_else(|_| Err(format!("database: no answer within {limit:?}")));
    match outcome {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(reason) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason).into_response()
        }
    }
}

async fn metrics(State(ops): State<Ops>) -> Response {
    if let Some(pool) = &ops.pool {
        let (open, idle) = pool();
        ops.metrics.set_pool(open, idle);
    }
    match ops.metrics.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "metrics", e.to_string())
            .into_response(),
    }
}

async fn version(State(ops): State<Ops>) -> Response {
    axum::Json(serde_json::json!({
        "version": ops.version,
        "config_hash": ops.config_hash,
    }))
    .into_response()
}

/// `routes` plus `/healthz`, `/readyz`, `/metrics`, `/version`, all behind the middleware; the
/// per-client rate limit (if any) covers `routes` only, so probes and scrapes always answer.
pub fn wrap(mut routes: Router, ops: Ops) -> Router {
    if let Some(clients) = ops.clients.clone() {
        routes = routes.layer(axum::middleware::from_fn_with_state(
            clients,
            crate::ratelimit::limit_clients,
        ));
    }
    let ops_routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/version", get(version))
        .with_state(ops.clone());
    let router = routes
        .merge(ops_routes)
        .fallback(|| async { ApiError::not_found("no such route") })
        // Like every other error, a 405 is JSON with a code (axum keeps the `Allow` header).
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the route exists but not with this method (see the Allow header)",
            )
        })
        .layer(DefaultBodyLimit::max(ops.max_body_bytes));
    let (compression, cors_origins) = (ops.compression, ops.cors_origins.clone());
    // One `Arc`: axum clones a middleware's state several times per request.
    let router = router.layer(axum::middleware::from_fn_with_state(
        std::sync::Arc::new(ops),
        crate::middleware::middleware,
    ));
    crate::layers::outer(router, compression, cors_origins)
}

/// Serves `router` until `shutdown` resolves, then stops accepting and lets in-flight requests
/// finish for at most `grace`; connections within the default [`ConnectionLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    crate::server::serve(
        listener,
        router,
        shutdown,
        grace,
        ConnectionLimits::default(),
    )
    .await
}

/// Binds `0.0.0.0:<port>` (the config's, or the service's own) and serves `app` until
/// SIGTERM/SIGINT plus `server.drain_delay_seconds` (readiness failing meanwhile), then drains
/// for at most `server.shutdown_grace_seconds`.
pub async fn run(
    app: Router,
    config: &impl lockstep_service_config::ServiceConfig,
    version: &str,
    config_hash: &str,
) -> std::io::Result<()> {
    let server = config.server();
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], config.port()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    tracing::info!(%addr, version, config_hash, "serving");
    ignore_hangups()?;
    let grace = Duration::from_secs(u64::from(server.shutdown_grace_seconds));
    let delay = Duration::from_secs(u64::from(server.drain_delay_seconds));
    let limits = ConnectionLimits::from_config(server);
    crate::server::serve(
        listener,
        app,
        drain_after(shutdown_signal(), delay),
        grace,
        limits,
    )
    .await
}

/// The answer of a service's `GET /openapi.json`: its rendered document, or 500 `openapi`
/// naming why it could not be rendered.
pub fn openapi_response(document: &Result<String, String>) -> Response {
    match document {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "openapi", e.clone()).into_response()
        }
    }
}
