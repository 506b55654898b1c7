//! # lockstep-service-kit — what the album, note and user services share
//!
//! ```text
//!  --config FILE ──► load::<C>() ──► (config, sha256 of its canonical text)
//!  app routes ──► kit::http::wrap(routes, ops) ──► + /healthz /readyz /metrics /version
//!                                                  + request id, JSON error bodies, per-route
//!                                                    metrics, timeout (kit::commit: a write
//!                                                    that started finishes), body limit, access log
//!  kit::server::serve(listener, router, …, limits) ──► header-read timeout, connection cap,
//!                                                  drains in-flight requests on SIGTERM
//!  kit::signals: SIGTERM/SIGINT start the drain, SIGHUP is logged and ignored
//!  kit::idempotency: Idempotency-Key on creates (answer stored in the create's transaction)
//!  kit::precondition: ETag / If-Match (412) / If-None-Match (304)
//!  kit::time: timestamps on the wire, RFC 3339 UTC with microseconds
//!  kit::telemetry::traced(log, name, version, work) ──► JSON logs + OTLP spans (when
//!                                                  OTEL_EXPORTER_OTLP_ENDPOINT is set), flushed at exit
//! ```
//!
//! Handlers return [`ApiError`] for every failure: a status, a stable machine-readable `code`
//! and a message. The request-id middleware renders it as `{code, message, request_id}`, so a
//! client can quote the id and an operator can find the request's log line.

pub mod body;
pub mod commit;
pub mod config;
pub mod context;
#[cfg(feature = "database")]
pub mod database;
pub mod error;
pub mod http;
#[cfg(feature = "database")]
pub mod idempotency;
pub mod json;
mod layers;
pub mod logfmt;
mod logs;
pub mod metrics;
mod middleware;
#[cfg(feature = "database")]
pub mod migrate;
#[cfg(feature = "database")]
mod migrate_lock;
#[cfg(feature = "database")]
mod migration_error;
pub mod ops;
pub mod precondition;
pub mod ratelimit;
pub mod server;
pub mod signals;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use error::{ApiError, ErrorBody};
pub use json::{ApiJson, ApiQuery};
