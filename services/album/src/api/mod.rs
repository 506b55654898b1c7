//! HTTP handlers: parse, call the store, map errors to stable codes.
//!
//! | route | |
//! |---|---|
//! | `POST /v1/albums` | create → 201 + `Location` |
//! | `GET /v1/albums?artist=&after=&limit=` | list by id, keyset pagination |
//! | `GET /v1/albums/{id}` | one |
//! | `PATCH /v1/albums/{id}` | change some fields |
//! | `DELETE /v1/albums/{id}` | 204 |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document |

pub mod dto;
pub mod openapi;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lockstep_service_config::Pagination;
use lockstep_service_kit::{ApiError, ApiJson, ApiQuery, ErrorBody};

use crate::domain::{AlbumChanges, AlbumStore, DomainError, ListQuery, NewAlbum};
use dto::{AlbumDto, CreateAlbum, ListParams, PageDto, UpdateAlbum};

/// What the handlers share.
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

#[utoipa::path(post, path = "/v1/albums", tag = "albums", request_body = CreateAlbum,
    responses(
        (status = 201, description = "Created; `Location` names it", body = AlbumDto),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ))]
async fn create<S: AlbumStore>(
    State(state): State<AppState<S>>,
    ApiJson(body): ApiJson<CreateAlbum>,
) -> Result<Response, ApiError> {
    let album = NewAlbum::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    let album = state.store.create(album).await?;
    let location = format!("/v1/albums/{}", album.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        ApiJson(AlbumDto::from(album)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = i64, Path, description = "Album id")),
    responses(
        (status = 200, body = AlbumDto),
        (status = 400, description = "Not an album id", body = ErrorBody),
        (status = 404, description = "No such album", body = ErrorBody),
    ))]
async fn get_one<S: AlbumStore>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
) -> Result<ApiJson<AlbumDto>, ApiError> {
    let album = state.store.get(parse_id(&id)?).await?;
    Ok(ApiJson(album.into()))
}

#[utoipa::path(get, path = "/v1/albums", tag = "albums", params(ListParams),
    responses(
        (status = 200, description = "By id; `next` when more follow", body = PageDto),
        (status = 422, description = "A parameter breaks a rule", body = ErrorBody),
    ))]
async fn list<S: AlbumStore>(
    State(state): State<AppState<S>>,
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
    params(("id" = i64, Path, description = "Album id")),
    responses(
        (status = 200, body = AlbumDto),
        (status = 404, description = "No such album", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ))]
async fn update<S: AlbumStore>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAlbum>,
) -> Result<ApiJson<AlbumDto>, ApiError> {
    let id = parse_id(&id)?;
    let changes = AlbumChanges::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    Ok(ApiJson(state.store.update(id, changes).await?.into()))
}

#[utoipa::path(delete, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = i64, Path, description = "Album id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such album", body = ErrorBody),
    ))]
async fn delete<S: AlbumStore>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    lockstep_service_kit::commit::writing();
    state.store.delete(id).await?;
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
        .with_state(state)
}
