//! The one error type handlers return.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API failure: HTTP status, a stable `code` clients can branch on, a human message.
///
/// Its response carries the error as an extension; [`crate::http::wrap`]'s middleware renders
/// the JSON body `{code, message, request_id}` (it knows the request id, the handler does not).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, snake_case.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Seconds for a `Retry-After` header (503 `overloaded`, 429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 `overloaded` with `Retry-After`: `what` is at its limit of work in progress (e.g.
    /// password hashing); nothing was done, so the request can be sent again as it is.
    pub fn overloaded(what: &str, retry_after: std::time::Duration) -> ApiError {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "{what} is at capacity; nothing was done, retry in {}s",
                    seconds.max(1)
                ),
            )
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 `invalid_field`, naming the field.
    pub fn invalid(field: &str, message: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: {message}"),
        )
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 401 with `code`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 503 `unavailable`: the database is down or busy. The cause is logged, not returned.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "storage failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The JSON body of every error answer, for API documents (rendered by
/// [`crate::http::wrap`]'s middleware from an [`ApiError`]).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, snake_case: clients branch on it (`invalid_field`, `not_found`, `rate_limited`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// The request's `x-request-id`.
    pub request_id: String,
}
