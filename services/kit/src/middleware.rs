//! What every request goes through inside [`crate::http::wrap`]: its context (request id, log
//! scope, span), the declared-size check, the request timeout ([`crate::commit`]), a caught
//! panic as a 500, the JSON error body, per-route metrics and the access log line.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;

use crate::ApiError;
use crate::commit::Bounded;
use crate::context::{REQUEST_ID, RequestContext, Scope};
use crate::ops::Ops;

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

/// The target of these lines, as before the middleware had a module of its own: a `RUST_LOG`
/// directive naming it keeps working.
const TARGET: &str = "lockstep_service_kit::http";

/// The middleware of [`crate::http::wrap`].
pub(crate) async fn middleware(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    let context = RequestContext::of(&req);
    let scope = Scope::new(context.clone(), req.headers());
    scope.run(handle(&ops, context, req, next)).await
}

/// Everything but the scope: the answer to `req`, counted, logged and tagged with its id.
async fn handle(ops: &Ops, context: RequestContext, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = if crate::body::declared_too_large(&req, ops.max_body_bytes) {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body exceeds server.max_body_bytes",
        )
        .into_response()
    } else {
        let (req, received) = crate::body::track_body(req);
        // A panicking handler answers 500 `internal` instead of dropping the connection, and is
        // counted and logged like any error.
        let run = AssertUnwindSafe(next.run(req)).catch_unwind();
        let outcome = crate::commit::bounded(ops.request_timeout, run).await;
        answer(ops, outcome, &received)
    };
    if let Some(error) = response.extensions().get::<ApiError>().cloned() {
        response = error_body(response, &error, context.id_str());
    }
    let status = response.status();
    let elapsed = started.elapsed();
    ops.metrics.observe(
        context.route(),
        method_label(context.http_method()),
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if status.is_server_error() {
        tracing::warn!(target: TARGET, status = status.as_u16(), micros, "request failed");
    } else {
        tracing::info!(target: TARGET, status = status.as_u16(), micros, "request");
    }
    response
        .headers_mut()
        .insert(REQUEST_ID, context.id().clone());
    response
}

type Handled = Result<Response, Box<dyn Any + Send>>;

/// The response for how the handler ended under the request timeout.
fn answer(ops: &Ops, outcome: Bounded<Handled>, received: &AtomicBool) -> Response {
    match outcome {
        Bounded::Done(handled) => handled.unwrap_or_else(panicked),
        Bounded::Late(handled) => {
            tracing::warn!(target: TARGET, "answered after the request timeout: a write had started");
            handled.unwrap_or_else(panicked)
        }
        // The body had not all arrived: the client is slow, not the service.
        Bounded::TimedOut if !received.load(Ordering::Acquire) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {:?}",
                ops.request_timeout
            ),
        )
        .into_response(),
        Bounded::TimedOut => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("no answer within {:?}", ops.request_timeout),
        )
        .into_response(),
    }
}

fn panicked(_: Box<dyn Any + Send>) -> Response {
    tracing::error!(target: TARGET, "a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request failed inside the service",
    )
    .into_response()
}

/// `response` (which carries `error`) with the JSON error body and the request id. Headers the
/// error came with (`Allow`, `Retry-After`) stay; those describing the old body do not.
fn error_body(mut response: Response, error: &ApiError, request_id: &str) -> Response {
    let headers = std::mem::take(response.headers_mut());
    let body = serde_json::json!({
        "code": error.code,
        "message": error.message,
        "request_id": request_id,
    });
    let mut rendered = (error.status, axum::Json(body)).into_response();
    for (name, value) in &headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().append(name, value.clone());
        }
    }
    rendered
}
