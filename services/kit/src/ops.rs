//! What the HTTP shell needs from a service: its metrics, version, readiness probe and the
//! limits of its `server` config section.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use lockstep_service_config::ServerConfig;

use crate::metrics::HttpMetrics;

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
