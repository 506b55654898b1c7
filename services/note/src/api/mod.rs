//! HTTP handlers. Every route needs a verified token; its tenant selects the encryption key and
//! its user (`sub`) owns the notes: every query is scoped to both, and another user's or
//! tenant's note answers 404 exactly like a missing one.
//!
//! | route | |
//! |---|---|
//! | `POST /v1/notes` | create → 201; `Idempotency-Key` (per tenant and user) makes a retry safe |
//! | `GET /v1/notes?title=&created_from=&created_before=&cursor=&limit=` | newest first, cursor-paged; `title` is an exact match (blind index) |
//! | `GET /v1/notes/{id}`, `PATCH`, `DELETE` | one note; `ETag`, `If-None-Match` → 304, `If-Match` → 412 |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document (no token needed) |
//! | `POST /v1/control/notes`, `GET /v1/control/notes/{id}` | plaintext twin for benchmarks (opt-in) |

pub mod dto;
pub mod openapi;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lockstep_service_kit::idempotency::{Claim, Once, Stored};
use lockstep_service_kit::precondition::{self, Condition};
use lockstep_service_kit::{ApiError, ApiJson, ApiQuery, ErrorBody};

use crate::auth::{Caller, TenantLimit, Verifier};
use crate::domain::{DomainError, ListQuery, NewNote, Note, NoteChanges, NoteStore};
use crate::store::SeaStore;
use dto::{CreateNote, ListParams, NoteDto, NotesDto, UpdateNote};

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState<S> {
    /// Storage.
    pub store: S,
    /// Token verification.
    pub verifier: Verifier,
    /// The per-tenant rate limit.
    pub tenants: TenantLimit,
}

impl<S> AsRef<Verifier> for AppState<S> {
    fn as_ref(&self) -> &Verifier {
        &self.verifier
    }
}

impl<S> AsRef<TenantLimit> for AppState<S> {
    fn as_ref(&self) -> &TenantLimit {
        &self.tenants
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid { field, message } => ApiError::invalid(field, &message),
            DomainError::NotFound(id) => ApiError::not_found(format!("note {id} not found")),
            DomainError::PreconditionFailed => precondition::failed(),
            DomainError::UnknownTenant(tenant) => ApiError::new(
                StatusCode::FORBIDDEN,
                "tenant_not_provisioned",
                format!("tenant {tenant} has no encryption keys in this deployment"),
            ),
            DomainError::Keys(cause) => {
                tracing::error!(error = %cause, "tenant keys unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant_keys_unavailable",
                    "this tenant's encryption keys are not available",
                )
            }
            DomainError::Storage(cause) => ApiError::unavailable(&cause),
        }
    }
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("bad_id", format!("{raw:?} is not a note id")))
}

fn created(note: NoteDto, base: &str) -> Response {
    let location = format!("{base}/{}", note.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        ApiJson(note),
    )
        .into_response()
}

/// A note with its `ETag`.
fn one(note: Note) -> Response {
    ([note.etag().header()], ApiJson(NoteDto::from(note))).into_response()
}

/// The answer to a create (also what an `Idempotency-Key` stores, sealed, and replays).
fn answer(note: &Note) -> Stored {
    Stored::json(
        StatusCode::CREATED,
        Some(format!("/v1/notes/{}", note.id)),
        Some(note.etag().as_str().to_owned()),
        &NoteDto::from(note.clone()),
    )
}

#[utoipa::path(post, path = "/v1/notes", tag = "notes", request_body = CreateNote,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1-255 visible ASCII characters (a UUID), per tenant and user. The same key with the same body answers what the first request answered (with `Idempotent-Replayed: true`) and creates nothing; with another body, 422 `idempotency_key_reused`. Kept 24 h, sealed under the tenant's key; only answers of writes that committed are kept.")),
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` tags it", body = NoteDto),
        (status = 400, description = "`bad_idempotency_key`", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or `idempotency_key_reused`", body = ErrorBody),
    ))]
async fn create<S: NoteStore>(
    State(state): State<AppState<S>>,
    Caller(owner): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateNote>,
) -> Result<Response, ApiError> {
    let scope = format!("{}/{}", owner.tenant, owner.user);
    let once = Claim::from_headers(&headers, &scope, "POST /v1/notes", &body)?
        .map(|claim| Once { claim, answer });
    let note = NewNote::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    state
        .store
        .create(&owner, note, once.as_ref())
        .await?
        .respond(answer)
}

#[utoipa::path(get, path = "/v1/notes/{id}", tag = "notes",
    params(("id" = i64, Path, description = "Note id"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier read: 304 without a body while it is current")),
    responses(
        (status = 200, description = "The note; `ETag` tags this version", body = NoteDto),
        (status = 304, description = "`If-None-Match` names the current version"),
        (status = 400, description = "Not a note id, or a malformed `If-None-Match`", body = ErrorBody),
        (status = 404, description = "No such note of this user", body = ErrorBody),
    ))]
async fn get_one<S: NoteStore>(
    State(state): State<AppState<S>>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let unless = Condition::if_none_match(&headers)?;
    let note = state.store.get(&owner, id).await?;
    let etag = note.etag();
    if unless.is_some_and(|c| c.matches_weak(&etag)) {
        return Ok((StatusCode::NOT_MODIFIED, [etag.header()]).into_response());
    }
    Ok(one(note))
}

#[utoipa::path(get, path = "/v1/notes", tag = "notes", params(ListParams),
    responses(
        (status = 200, description = "Newest first; `next_cursor` when more follow", body = NotesDto),
        (status = 422, description = "A parameter breaks a rule", body = ErrorBody),
    ))]
async fn list<S: NoteStore>(
    State(state): State<AppState<S>>,
    Caller(owner): Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiJson<NotesDto>, ApiError> {
    let query = ListQuery::new(
        params.title.as_deref(),
        params.created_from,
        params.created_before,
        params.cursor.as_deref(),
        params.limit,
    )?;
    let page = state.store.list(&owner, &query).await?;
    Ok(ApiJson(NotesDto {
        items: page.items.into_iter().map(NoteDto::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

#[utoipa::path(patch, path = "/v1/notes/{id}", tag = "notes", request_body = UpdateNote,
    params(("id" = i64, Path, description = "Note id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change was based on: 412 and nothing changed when the note changed since")),
    responses(
        (status = 200, description = "The note as changed, with its new `ETag`", body = NoteDto),
        (status = 400, description = "Not a note id, or a malformed `If-Match`", body = ErrorBody),
        (status = 404, description = "No such note of this user", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ))]
async fn update<S: NoteStore>(
    State(state): State<AppState<S>>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateNote>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let expect = Condition::if_match(&headers)?;
    let changes = NoteChanges::from(body).validated()?;
    lockstep_service_kit::commit::writing();
    let note = state
        .store
        .update(&owner, id, changes, expect.as_ref())
        .await?;
    Ok(one(note))
}

#[utoipa::path(delete, path = "/v1/notes/{id}", tag = "notes",
    params(("id" = i64, Path, description = "Note id"),
        ("If-Match" = Option<String>, Header, description = "As for PATCH")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a note id, or a malformed `If-Match`", body = ErrorBody),
        (status = 404, description = "No such note of this user", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version", body = ErrorBody),
    ))]
async fn delete<S: NoteStore>(
    State(state): State<AppState<S>>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let expect = Condition::if_match(&headers)?;
    lockstep_service_kit::commit::writing();
    state.store.delete(&owner, id, expect.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_plain(
    State(state): State<AppState<SeaStore>>,
    Caller(owner): Caller,
    ApiJson(body): ApiJson<CreateNote>,
) -> Result<Response, ApiError> {
    let note = state
        .store
        .create_plain(&owner.tenant, NewNote::from(body).validated()?)
        .await?;
    Ok(created(note.into(), "/v1/control/notes"))
}

async fn get_plain(
    State(state): State<AppState<SeaStore>>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<NoteDto>, ApiError> {
    Ok(ApiJson(
        state
            .store
            .get_plain(&owner.tenant, parse_id(&id)?)
            .await?
            .into(),
    ))
}

/// The note routes.
pub fn routes<S: NoteStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/v1/notes", get(list::<S>).post(create::<S>))
        .route(
            "/v1/notes/{id}",
            get(get_one::<S>).patch(update::<S>).delete(delete::<S>),
        )
        .route("/openapi.json", get(openapi::serve))
        .with_state(state)
}

/// The plaintext control routes (benchmarks only: the same work as the note routes minus
/// encryption, so the cost of encryption can be measured side by side).
pub fn control_routes(state: AppState<SeaStore>) -> Router {
    Router::new()
        .route("/v1/control/notes", post(create_plain))
        .route("/v1/control/notes/{id}", get(get_plain))
        .with_state(state)
}
