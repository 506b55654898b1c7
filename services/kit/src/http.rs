//! The HTTP shell around a service's routes: ops endpoints, request ids, JSON errors, metrics,
//! timeout, body limit, and a server that drains in-flight requests on SIGTERM.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use lockstep_service_config::ServerConfig;

use crate::ApiError;
use crate::commit::Bounded;
use crate::metrics::HttpMetrics;
use crate::server::ConnectionLimits;
pub use crate::signals::{hangups_ignored, ignore_hangups, shutdown_signal};

pub use crate::layers::REQUEST_ID;

/// A readiness probe: `Ok` when the service can serve (its database answers).
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What the ops endpoints and the middleware need.
#[derive(Clone)]
pub struct Ops {
    /// Metrics (`/metrics`).
    pub metrics: Arc<HttpMetrics>,
    /// Binary version (`/version`).
    pub version: &'static str,
    /// Config hash (`/version`).
    pub config_hash: String,
    /// `/readyz`.
    pub ready: ReadyCheck,
    /// Pool gauges read at scrape time: `(open, idle)`.
    pub pool: Option<Arc<dyn Fn() -> (i64, i64) + Send + Sync>>,
    /// A request taking longer is answered 504 `timeout`.
    pub request_timeout: Duration,
    /// Larger bodies are answered 413 `body_too_large`.
    pub max_body_bytes: usize,
    /// Requests over the per-client rate are answered 429 `rate_limited` (`server.rate_limit`).
    pub clients: Option<crate::ratelimit::ClientLimit>,
    /// Origins allowed by CORS (`server.cors_allowed_origins`); empty: no CORS headers.
    pub cors_origins: Vec<HeaderValue>,
    /// gzip responses for clients that accept it (`server.compression`).
    pub compression: bool,
}

/// What the ops endpoints ask a service's storage.
pub trait Probe: Clone + Send + Sync + 'static {
    /// Whether the database answers (`/readyz`).
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// `(open, idle)` pool connections (`db_pool_connections`).
    fn pool_state(&self) -> (i64, i64);
}

impl Ops {
    /// Ops for a service at `version` with config hash `config_hash`, limits from `server`,
    /// readiness and pool gauges from `probe`.
    pub fn new(
        version: &'static str,
        config_hash: &str,
        server: &ServerConfig,
        probe: impl Probe,
    ) -> Result<Ops, prometheus::Error> {
        let ready_probe = probe.clone();
        Ok(Ops {
            metrics: Arc::new(HttpMetrics::new(version, config_hash)?),
            version,
            config_hash: config_hash.to_owned(),
            ready: Arc::new(move || {
                let probe = ready_probe.clone();
                Box::pin(async move { probe.ping().await.map_err(|e| format!("database: {e}")) })
            }),
            pool: Some(Arc::new(move || probe.pool_state())),
            request_timeout: Duration::from_millis(server.request_timeout_ms),
            max_body_bytes: usize::try_from(server.max_body_bytes).unwrap_or(usize::MAX),
            clients: crate::ratelimit::ClientLimit::from_config(&server.rate_limit),
            // Checked by the config's validation; an origin that is not a header value is
            // skipped rather than answered for.
            cors_origins: server
                .cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
            compression: server.compression,
        })
    }
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("version", &self.version)
            .field("config_hash", &self.config_hash)
            .finish_non_exhaustive()
    }
}

/// A client-supplied id is kept if it is short and printable; otherwise a fresh one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| format!("{:032x}", rand::random::<u128>()), str::to_owned)
}

/// The JSON error body, with the request id.
fn error_body(error: &ApiError, request_id: &str) -> Response {
    let body = serde_json::json!({
        "code": error.code,
        "message": error.message,
        "request_id": request_id,
    });
    (error.status, axum::Json(body)).into_response()
}

/// Makes the request span a child of the caller's span when the request carries a W3C
/// `traceparent`, so a trace crosses services. Without trace export this does nothing.
fn join_callers_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    if !headers.contains_key("traceparent") {
        return;
    }
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    // Fails only when no OpenTelemetry layer is installed: nothing to join then.
    let _ = span.set_parent(parent);
}

/// The method as a metric label from a fixed set: the method is chosen by the client, and any
/// token is a valid HTTP method, so a raw label lets unauthenticated requests mint series
/// without bound.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn middleware(State(ops): State<Ops>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", %method, %route, request_id = %id);
    join_callers_trace(&span, req.headers());
    let too_large = crate::body::declared_too_large(&req, ops.max_body_bytes);
    let (req, received) = crate::body::track_body(req);
    let mut response = if too_large {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body exceeds server.max_body_bytes",
        )
        .into_response()
    } else {
        let run =
            crate::commit::bounded(ops.request_timeout, next.run(req)).instrument(span.clone());
        match run.await {
            Bounded::Done(response) => response,
            Bounded::Late(response) => {
                span.in_scope(|| {
                    tracing::warn!("answered after the request timeout: a write had started")
                });
                response
            }
            // The body had not all arrived: the client is slow, not the service.
            Bounded::TimedOut if !received.load(std::sync::atomic::Ordering::Acquire) => {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {:?}",
                        ops.request_timeout
                    ),
                )
                .into_response()
            }
            Bounded::TimedOut => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!("no answer within {:?}", ops.request_timeout),
            )
            .into_response(),
        }
    };
    if let Some(error) = response.extensions().get::<ApiError>().cloned() {
        // Headers the error came with (`Allow`, `Retry-After`) stay; those describing the old
        // body do not.
        let headers = std::mem::take(response.headers_mut());
        response = error_body(&error, &id);
        for (name, value) in &headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                response.headers_mut().append(name, value.clone());
            }
        }
    }
    let status = response.status();
    let elapsed = started.elapsed();
    ops.metrics.observe(
        &route,
        method_label(&method),
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), micros, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), micros, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

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
        .layer(DefaultBodyLimit::max(ops.max_body_bytes))
        .layer(crate::layers::catch_panic());
    let (compression, cors_origins) = (ops.compression, ops.cors_origins.clone());
    let router = router.layer(axum::middleware::from_fn_with_state(ops, middleware));
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
