//! HTTP handlers.
//!
//! | route | |
//! |---|---|
//! | `POST /v1/users` | register → 201 (409 `user_exists`); `Idempotency-Key` makes a retry safe |
//! | `POST /v1/tokens` | log in → 200 with an RS256 token (401 `invalid_credentials`, 429 over `tokens.login_attempts`) |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document |
//!
//! A login changes nothing a retry could double, and its answer is a secret: it takes no
//! `Idempotency-Key` and stores nothing (send it again as it is).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use lockstep_service_kit::idempotency::{Answer, Claim, Once, Stored};
use lockstep_service_kit::ratelimit::{KeyedLimiter, too_many_requests};
use lockstep_service_kit::{ApiError, ApiJson, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::domain::{
    DomainError, User, UserStore, canonical_username, check_password, check_tenant,
};
use crate::passwords::Hasher;
use crate::tokens::Issuer;

/// What the handlers share (behind one `Arc`: axum clones the state for every request).
#[derive(Clone, Debug)]
pub struct AppState<S> {
    /// Storage.
    pub store: S,
    /// Token signing.
    pub issuer: Issuer,
    /// Login attempts per tenant and user name.
    pub logins: Arc<KeyedLimiter>,
    /// Who may register.
    pub registration: lockstep_service_config::RegistrationConfig,
    /// Password hashing under a bound.
    pub hasher: Arc<Hasher>,
}

/// `POST /v1/users` and `POST /v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The tenant (1–64 of `A-Z a-z 0-9 _ . -`).
    pub tenant: String,
    /// 3–64 of `a-z 0-9 _ . -`; upper case is folded (`Alice` is `alice`).
    pub username: String,
    /// 12–256 characters.
    pub password: String,
}

/// A registered user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserDto {
    /// The `sub` of its tokens.
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// Canonical name.
    pub username: String,
    /// Registered: RFC 3339, UTC, microseconds (`2026-12-07T11:25:26.123456Z`).
    #[serde(serialize_with = "lockstep_service_kit::time::serialize")]
    pub created_at: DateTime<Utc>,
}

/// A token for the note service.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenDto {
    /// RS256 JWT: send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires; log in again then (there is no refresh token).
    pub expires_in: u32,
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid { field, message } => ApiError::invalid(field, &message),
            DomainError::Exists { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "user_exists",
                "this tenant already has a user of that name",
            ),
            DomainError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "unknown user or wrong password",
            ),
            DomainError::Overloaded { retry_after } => {
                ApiError::overloaded("password hashing", retry_after)
            }
            DomainError::Storage(cause) => ApiError::unavailable(&cause),
        }
    }
}

/// The answer to a registration (also what an `Idempotency-Key` stores and replays).
fn registered(user: &User) -> Stored {
    let dto = UserDto {
        id: user.id,
        tenant: user.tenant.clone(),
        username: user.username.clone(),
        created_at: user.created_at,
    };
    Stored::json(StatusCode::CREATED, None, None, &dto)
}

#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = Credentials,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1-255 visible ASCII characters (a UUID), per tenant. The same key for the same user name and password answers what the first request answered (with `Idempotent-Replayed: true`) and registers nothing; for another name or password, 422 `idempotency_key_reused`. Kept 24 h (the password is checked against the stored hash, never kept in the key's record).")),
    responses(
        (status = 201, body = UserDto),
        (status = 400, description = "`bad_idempotency_key`", body = ErrorBody),
        (status = 403, description = "Registration is closed for this tenant", body = ErrorBody),
        (status = 409, description = "The name is taken in this tenant", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "`overloaded`: password hashing is at capacity and nothing was done (see Retry-After); `unavailable`: storage is down", body = ErrorBody),
    ))]
async fn register<S: UserStore>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let tenant = check_tenant(&body.tenant)?;
    if !state.registration.allows(tenant) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "users cannot register in this tenant here",
        ));
    }
    let username = canonical_username(&body.username)?;
    // The fingerprint leaves the password out (a fast hash of it would be guessable from a
    // dump); a replay checks it against the user's argon2 hash instead.
    let once = Claim::from_headers(&headers, tenant, "POST /v1/users", &(tenant, &username))?.map(
        |claim| Once {
            claim,
            answer: registered,
        },
    );
    let hash = state.hasher.hash(check_password(&body.password)?).await?;
    // From here the request timeout no longer cancels: the answer is the insert's own result.
    lockstep_service_kit::commit::writing();
    let answer = state
        .store
        .insert(tenant, &username, &hash, once.as_ref())
        .await?;
    if let Answer::Replay(_) = &answer {
        let phc = state
            .store
            .find(tenant, &username)
            .await?
            .map(|u| u.password_hash);
        if !state.hasher.verify(&body.password, phc).await? {
            return Answer::<User>::Reused.respond(registered);
        }
    }
    answer.respond(registered)
}

#[utoipa::path(post, path = "/v1/tokens", tag = "users", request_body = Credentials,
    responses(
        (status = 200, body = TokenDto),
        (status = 401, description = "Unknown user or wrong password (one answer for both)", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
        (status = 429, description = "Too many attempts for this user; see Retry-After", body = ErrorBody),
        (status = 503, description = "`overloaded`: password hashing is at capacity (see Retry-After); `unavailable`: storage is down", body = ErrorBody),
    ))]
async fn login<S: UserStore>(
    State(state): State<Arc<AppState<S>>>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let tenant = check_tenant(&body.tenant)?;
    let username = canonical_username(&body.username)?;
    if let Err(wait) = state
        .logins
        .check(&format!("{tenant}/{username}"), Instant::now())
    {
        return Ok(too_many_requests("user", wait));
    }
    let user = state.store.find(tenant, &username).await?;
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    match user {
        Some(user) if state.hasher.verify(&body.password, phc).await? => {
            let (token, expires_in) = state
                .issuer
                .issue(&user)
                .map_err(|e| DomainError::Storage(format!("signing: {e}")))?;
            Ok(ApiJson(TokenDto {
                access_token: token,
                token_type: "Bearer".into(),
                expires_in,
            })
            .into_response())
        }
        Some(_) => Err(DomainError::InvalidCredentials.into()),
        None => {
            // The same work as a wrong password: the answer time does not tell names apart.
            state.hasher.verify(&body.password, None).await?;
            Err(DomainError::InvalidCredentials.into())
        }
    }
}

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "user-service",
        description = "Register and log in; tokens are RS256 JWTs the note service verifies."
    ),
    paths(register, login),
    tags((name = "users", description = "Users and their tokens"))
)]
pub struct UserApi;

static DOCUMENT: std::sync::LazyLock<Result<String, String>> =
    std::sync::LazyLock::new(|| UserApi::openapi().to_json().map_err(|e| e.to_string()));

async fn openapi() -> Response {
    lockstep_service_kit::http::openapi_response(&DOCUMENT)
}

/// The user routes.
pub fn routes<S: UserStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/v1/users", post(register::<S>))
        .route("/v1/tokens", post(login::<S>))
        .route("/openapi.json", get(openapi))
        .with_state(Arc::new(state))
}
