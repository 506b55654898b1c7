//! The album API as an OpenAPI 3.1 document, served at `/openapi.json`. Written next to the
//! handlers (`#[utoipa::path]`); `tests/openapi.rs` sends a request for every documented
//! operation through the router, so the document cannot name a route that does not exist.

use utoipa::OpenApi;

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "album-service",
        description = "Albums: title, artist, price (a decimal string, two places). Errors are \
                       `ErrorBody`; 429 `rate_limited` with `Retry-After` over a configured rate."
    ),
    paths(super::create, super::list, super::get_one, super::update, super::delete),
    tags((name = "albums", description = "The album catalogue"))
)]
pub struct AlbumApi;

/// `GET /openapi.json`: the document, rendered once.
pub async fn serve() -> axum::response::Response {
    lockstep_service_kit::http::openapi_response(&DOCUMENT)
}

static DOCUMENT: std::sync::LazyLock<Result<String, String>> =
    std::sync::LazyLock::new(|| AlbumApi::openapi().to_json().map_err(|e| e.to_string()));
