//! HTTP handlers: parse, call the store, map errors to stable codes.
//!
//! | route | |
//! |---|---|
//! | `POST /v1/albums` | create → 201 + `Location`; `Idempotency-Key` makes a retry safe |
//! | `GET /v1/albums?artist=&after=&limit=` | list by id, keyset pagination |
//! | `GET /v1/albums/{id}` | one, with its `ETag` (`If-None-Match` → 304) |
//! | `PATCH /v1/albums/{id}` | change some fields (`If-Match` → 412 when it changed) |
//! | `DELETE /v1/albums/{id}` | 204 (`If-Match` as PATCH) |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document |
//!
//! Albums have no callers to tell apart: idempotency keys are shared by every client, so send
//! unguessable ones (a UUID).

pub mod dto;
pub mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lockstep_service_config::Pagination;
use lockstep_service_kit::idempotency::{Claim, Once, Stored};
use lockstep_service_kit::precondition::{self, Condition, IfNoneMatch};
use lockstep_service_kit::{ApiError, ApiJson, ApiQuery, ErrorBody};

use crate::domain::{Album, AlbumChanges, AlbumStore, DomainError, ListQuery, NewAlbum};
use dto::{AlbumDto, CreateAlbum, ListParams, PageDto, UpdateAlbum};

/// What the handlers share (behind one `Arc`: axum clones the state for every request).
#[derive(Clone, Debug)]
pub struct AppState<S> {
    /// Storage.
    pub store: S,
    /// Page sizes.
    pub pagination: Pagination,
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid { field, message } => ApiError::invalid(field, &message),
            DomainError::NotFound(id) => ApiError::not_found(format!("album {id} not found")),
            DomainError::PreconditionFailed => precondition::failed(),
            DomainError::Storage(cause) => ApiError::unavailable(&cause),
        }
    }
}

/// Ids are positive integers; anything else is 400 `bad_id` (axum's own rejection is text).
fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("bad_id", format!("{raw:?} is not an album id")))
}

/// An album with its `ETag`.
fn one(album: Album) -> Response {
    ([album.etag().header()], ApiJson(AlbumDto::from(album))).into_response()
}

/// The answer to a create (also what an `Idempotency-Key` stores and replays).
fn created(album: &Album) -> Stored {
    Stored::json(
        StatusCode::CREATED,
        Some(format!("/v1/albums/{}", album.id)),
        Some(album.etag().as_str().to_owned()),
        &AlbumDto::from(album.clone()),
    )
}

#[utoipa::path(post, path = "/v1/albums", tag = "albums", request_body = CreateAlbum,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1-255 visible ASCII characters (a UUID). The same key with the same body answers what the first request answered (with `Idempotent-Replayed: true`) and creates nothing; with another body, 422 `idempotency_key_reused`. Kept 24 h; only answers of writes that committed are kept.")),
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` tags it", body = AlbumDto),
        (status = 400, description = "`bad_idempotency_key`", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or `idempotency_key_reused`", body = ErrorBody),
    ))]
async fn create<S: AlbumStore>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateAlbum>,
) -> Result<Response, ApiError> {
    let once = Claim::from_headers(&headers, "", "POST /v1/albums", &body)?.map(|claim| Once {
        claim,
        answer: created,
    });
    let album = NewAlbum::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    state
        .store
        .create(album, once.as_ref())
        .await?
        .respond(created)
}

#[utoipa::path(get, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = i64, Path, description = "Album id"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier read: 304 without a body while it is current")),
    responses(
        (status = 200, description = "The album; `ETag` tags this version", body = AlbumDto),
        (status = 304, description = "`If-None-Match` names the current version"),
        (status = 400, description = "Not an album id, or a malformed `If-None-Match`", body = ErrorBody),
        (status = 404, description = "No such album", body = ErrorBody),
    ))]
async fn get_one<S: AlbumStore>(
    State(state): State<Arc<AppState<S>>>,
    Path(id): Path<String>,
    IfNoneMatch(unless): IfNoneMatch,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let album = state.store.get(id).await?;
    let etag = album.etag();
    if unless.is_some_and(|c| c.matches_weak(&etag)) {
        return Ok((StatusCode::NOT_MODIFIED, [etag.header()]).into_response());
    }
    Ok(one(album))
}

#[utoipa::path(get, path = "/v1/albums", tag = "albums", params(ListParams),
    responses(
        (status = 200, description = "By id; `next` when more follow", body = PageDto),
        (status = 422, description = "A parameter breaks a rule", body = ErrorBody),
    ))]
async fn list<S: AlbumStore>(
    State(state): State<Arc<AppState<S>>>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiJson<PageDto>, ApiError> {
    let query = ListQuery::checked(
        params.artist.as_deref(),
        params.after,
        params.limit,
        &state.pagination,
    )?;
    let page = state.store.list(query).await?;
    Ok(ApiJson(page.into()))
}

#[utoipa::path(patch, path = "/v1/albums/{id}", tag = "albums", request_body = UpdateAlbum,
    params(("id" = i64, Path, description = "Album id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change was based on: 412 and nothing changed when the album changed since")),
    responses(
        (status = 200, description = "The album as changed, with its new `ETag`", body = AlbumDto),
        (status = 400, description = "Not an album id, or a malformed `If-Match`", body = ErrorBody),
        (status = 404, description = "No such album", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ))]
async fn update<S: AlbumStore>(
    State(state): State<Arc<AppState<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateAlbum>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let expect = Condition::if_match(&headers)?;
    let changes = AlbumChanges::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    Ok(one(state
        .store
        .update(id, changes, expect.as_ref())
        .await?))
}

#[utoipa::path(delete, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = i64, Path, description = "Album id"),
        ("If-Match" = Option<String>, Header, description = "As for PATCH")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not an album id, or a malformed `If-Match`", body = ErrorBody),
        (status = 404, description = "No such album", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version", body = ErrorBody),
    ))]
async fn delete<S: AlbumStore>(
    State(state): State<Arc<AppState<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let expect = Condition::if_match(&headers)?;
    lockstep_service_kit::commit::writing();
    state.store.delete(id, expect.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The album routes.
pub fn routes<S: AlbumStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/v1/albums", get(list::<S>).post(create::<S>))
        .route(
            "/v1/albums/{id}",
            get(get_one::<S>).patch(update::<S>).delete(delete::<S>),
        )
        .route("/openapi.json", get(openapi::serve))
        .with_state(Arc::new(state))
}
