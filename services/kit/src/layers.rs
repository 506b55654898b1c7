//! tower-http layers around the middleware of `http::wrap`: a panicking handler becomes
//! a 500 (inside the middleware, so it is rendered as JSON, counted and logged like any error),
//! gzip for clients that accept it and CORS for the configured origins (outside it, so they see
//! the final body and answer preflights before routing).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};

use crate::ApiError;

/// The request-id header, read from the client (if sane) or generated, and echoed back (CORS
/// exposes it, the middleware of `http::wrap` sets it).
pub const REQUEST_ID: &str = "x-request-id";

/// A panicking handler answers 500 `internal` instead of dropping the connection.
pub(crate) fn catch_panic()
-> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(panicked as fn(Box<dyn std::any::Any + Send + 'static>) -> Response)
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request failed inside the service",
    )
    .into_response()
}

/// Compression (when on) and CORS (when `cors_origins` are configured) around `router`.
pub(crate) fn outer(router: Router, compression: bool, cors_origins: Vec<HeaderValue>) -> Router {
    let router = if compression {
        router.layer(CompressionLayer::new())
    } else {
        router
    };
    if cors_origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(cors_origins)
            .allow_methods(Any)
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([HeaderName::from_static(REQUEST_ID), header::RETRY_AFTER]),
    )
}
