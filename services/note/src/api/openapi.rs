//! The note API as an OpenAPI 3.1 document, served at `/openapi.json`. Written next to the
//! handlers (`#[utoipa::path]`), and `tests/openapi.rs` sends a request for every documented
//! operation through the router, so the document cannot name a route that does not exist.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Every note route needs `Authorization: Bearer <JWT>` (see `auth.rs`).
struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "note-service",
        description = "Per-tenant notes: the tenant comes from the verified token, titles and \
                       bodies are encrypted under the tenant's key. Errors are `ErrorBody`; \
                       401 without a valid token, 429 `rate_limited` with `Retry-After` over a \
                       configured rate."
    ),
    paths(super::create, super::list, super::get_one, super::update, super::delete),
    modifiers(&BearerJwt),
    security(("bearer" = [])),
    tags((name = "notes", description = "One tenant's notes"))
)]
pub struct NoteApi;

/// `GET /openapi.json`: the document, rendered once.
pub async fn serve() -> axum::response::Response {
    lockstep_service_kit::http::openapi_response(&DOCUMENT)
}

static DOCUMENT: std::sync::LazyLock<Result<String, String>> =
    std::sync::LazyLock::new(|| NoteApi::openapi().to_json().map_err(|e| e.to_string()));
