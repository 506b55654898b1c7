//! Tenants come from a verified JWT, never from a bare header: `Authorization: Bearer <token>`
//! signed with HS256 (secret from an environment variable) or RS256 (public key file), with
//! `iss`, `aud` and `exp` checked.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lockstep_service_config::{AuthConfig, RateLimitConfig};
use lockstep_service_kit::ApiError;
use lockstep_service_kit::ratelimit::{KeyedLimiter, too_many_requests};
use serde::{Deserialize, Serialize};

use crate::domain::Owner;

/// The claims a note-service token carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The tenant whose notes and keys the request may use.
    pub tenant: String,
    /// Issuer.
    pub iss: String,
    /// Audience: one string or an array of strings (RFC 7519 section 4.1.3); the validation
    /// requires ours among them.
    pub aud: Audience,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// Not before (Unix seconds), enforced when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// The `aud` claim in either of its RFC 7519 forms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "notes"`.
    One(String),
    /// `"aud": ["notes", "other"]`.
    Many(Vec<String>),
}

/// Why auth could not be set up from the config.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The secret's environment variable is unset or empty.
    #[error("auth.hs256_secret_env: environment variable {0} is not set (or empty)")]
    MissingSecret(String),
    /// The secret is shorter than HS256 needs.
    #[error(
        "auth.hs256_secret_env: environment variable {env} holds {len} bytes; an HS256 secret needs at least {MIN_HS256_SECRET} (RFC 7518 §3.2: no shorter than the hash)"
    )]
    WeakSecret {
        /// The variable.
        env: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The public key file is unreadable or not a PEM RSA key.
    #[error("auth.rs256_public_key_file: {0}")]
    PublicKey(String),
    /// The public key directory is unreadable, empty, or holds a file that is not a PEM RSA
    /// public key.
    #[error("auth.rs256_public_keys_dir: {0}")]
    PublicKeys(String),
    /// Neither key source (the config validation normally prevents this).
    #[error("auth: no key source configured")]
    NoKey,
}

/// The keys tokens are verified with.
enum Keys {
    /// One key (a secret or a public key file), whatever the token's `kid`.
    One(DecodingKey),
    /// Public keys by `kid` (`auth.rs256_public_keys_dir`): the token's `kid` picks one.
    ByKid(std::collections::HashMap<String, DecodingKey>),
}

/// Verifies tokens.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Keys>,
    validation: Arc<Validation>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

fn validation(config: &AuthConfig, algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[config.issuer.as_str()]);
    v.set_audience(&[config.audience.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = u64::from(config.leeway_seconds);
    // jsonwebtoken skips `nbf` unless asked: a token must not work before its time.
    v.validate_nbf = true;
    v
}

/// The shortest HS256 secret accepted: the size of SHA-256's output (RFC 7518 §3.2). A 5-byte
/// secret passed `check-config` and start-up before, and such a secret falls to a brute force.
pub const MIN_HS256_SECRET: usize = 32;

/// The HS256 secret named by the config: set, and at least [`MIN_HS256_SECRET`] bytes.
pub fn hs256_secret(env: &str) -> Result<Vec<u8>, AuthSetupError> {
    let secret = std::env::var(env)
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes)
        .ok_or_else(|| AuthSetupError::MissingSecret(env.to_owned()))?;
    if secret.len() < MIN_HS256_SECRET {
        return Err(AuthSetupError::WeakSecret {
            env: env.to_owned(),
            len: secret.len(),
        });
    }
    Ok(secret)
}

impl Verifier {
    /// From the config (reading the secret or key file it names).
    pub fn from_config(config: &AuthConfig) -> Result<Verifier, AuthSetupError> {
        if let Some(dir) = &config.rs256_public_keys_dir {
            return Ok(Verifier {
                keys: Arc::new(Keys::ByKid(public_keys(dir)?)),
                validation: Arc::new(validation(config, Algorithm::RS256)),
            });
        }
        match (&config.hs256_secret_env, &config.rs256_public_key_file) {
            (Some(env), _) => Ok(Verifier::hs256(config, &hs256_secret(env)?)),
            (None, Some(file)) => {
                let pem = std::fs::read(file)
                    .map_err(|e| AuthSetupError::PublicKey(format!("{file}: {e}")))?;
                let key = DecodingKey::from_rsa_pem(&pem)
                    .map_err(|e| AuthSetupError::PublicKey(format!("{file}: {e}")))?;
                Ok(Verifier {
                    keys: Arc::new(Keys::One(key)),
                    validation: Arc::new(validation(config, Algorithm::RS256)),
                })
            }
            (None, None) => Err(AuthSetupError::NoKey),
        }
    }

    /// An HS256 verifier with `secret`.
    pub fn hs256(config: &AuthConfig, secret: &[u8]) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::One(DecodingKey::from_secret(secret))),
            validation: Arc::new(validation(config, Algorithm::HS256)),
        }
    }

    /// The tenant of a valid `token`.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let key = match &*self.keys {
            Keys::One(key) => key,
            Keys::ByKid(keys) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| rejection(e.kind(), &self.validation))?;
                header
                    .kid
                    .as_deref()
                    .and_then(|kid| keys.get(kid))
                    .ok_or_else(|| {
                        ApiError::unauthorized(
                            "invalid_token",
                            "the token's key id (kid) names none of the keys this service accepts",
                        )
                    })?
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| rejection(e.kind(), &self.validation))?;
        if lockstep_field_encryption::keys::validate_tenant(&data.claims.tenant).is_err() {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the token's tenant is not a valid tenant id",
            ));
        }
        // The owner of notes: printable, and short enough for its column.
        let sub = &data.claims.sub;
        if sub.is_empty() || sub.len() > 64 || !sub.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the token's sub must be 1-64 printable ASCII characters",
            ));
        }
        Ok(data.claims)
    }
}

/// The `<kid>.pem` public keys of `dir`. Other files are ignored; a `.pem` that is not an RSA
/// public key, or a directory without any, is an error naming it.
fn public_keys(
    dir: &str,
) -> Result<std::collections::HashMap<String, DecodingKey>, AuthSetupError> {
    let fail = |reason: String| AuthSetupError::PublicKeys(reason);
    let mut keys = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| fail(format!("{dir}: {e}")))? {
        let path = entry.map_err(|e| fail(format!("{dir}: {e}")))?.path();
        let Some(kid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pem"))
            .map(str::to_owned)
        else {
            continue;
        };
        let pem = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
            fail(format!(
                "{}: not an RSA public key (PEM): {e}",
                path.display()
            ))
        })?;
        keys.insert(kid, key);
    }
    if keys.is_empty() {
        return Err(fail(format!("{dir}: no <kid>.pem public key")));
    }
    Ok(keys)
}

/// Why a token was refused, in this service's words: the rule it broke and the claim it names,
/// never the JWT library's internals (it answered ``unknown variant `none`, expected one of
/// `HS256`…`` and ``missing field `sub` at line 1 column 89``).
fn rejection(kind: &ErrorKind, validation: &Validation) -> ApiError {
    let accepted = || {
        validation
            .algorithms
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = match kind {
        ErrorKind::ExpiredSignature => {
            return ApiError::unauthorized("token_expired", "the token has expired (exp)");
        }
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
        ErrorKind::InvalidIssuer => {
            "the token's issuer (iss) is not the one this service accepts".to_owned()
        }
        ErrorKind::InvalidAudience => {
            "the token's audience (aud) does not include this service".to_owned()
        }
        ErrorKind::InvalidSubject => "the token's subject (sub) is not accepted".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => {
            format!("the token's algorithm (alg) must be {}", accepted())
        }
        // The header or the claims are not the JSON they must be: which field is said by the
        // rule above, not by the parser.
        ErrorKind::Json(_) => format!(
            "the token's header must name a supported algorithm ({}) and its claims must hold string `sub`, `tenant`, `iss`, `aud` and numeric `exp`",
            accepted()
        ),
        _ => "the token is not a well-formed JWT (three base64url parts)".to_owned(),
    };
    ApiError::unauthorized("invalid_token", message)
}

/// Signs an HS256 token (the `token` dev command and tests).
pub fn mint_hs256(
    config: &AuthConfig,
    secret: &[u8],
    sub: &str,
    tenant: &str,
    ttl_seconds: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: sub.to_owned(),
        tenant: tenant.to_owned(),
        iss: config.issuer.clone(),
        aud: Audience::One(config.audience.clone()),
        exp: now + ttl_seconds,
        nbf: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
}

/// The verified caller of a request (extractor): the token's tenant and user (`sub`). Missing
/// or bad tokens are 401; a tenant over its rate (`server.rate_limit.per_tenant`) is 429
/// before the handler runs.
#[derive(Debug, Clone)]
pub struct Caller(pub Owner);

/// The per-tenant rate limit, checked once the token is verified (so a request without a valid
/// token cannot spend a tenant's budget).
#[derive(Debug, Clone, Default)]
pub struct TenantLimit(Option<Arc<KeyedLimiter>>);

impl TenantLimit {
    /// From the config section; no limit when `per_tenant` is absent.
    pub fn from_config(config: &RateLimitConfig) -> TenantLimit {
        TenantLimit(
            config
                .per_tenant
                .map(|quota| Arc::new(KeyedLimiter::new(quota, config.max_tracked))),
        )
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync + AsRef<Verifier> + AsRef<TenantLimit>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| {
                ApiError::unauthorized("missing_token", "send Authorization: Bearer <token>")
                    .into_response()
            })?;
        let verifier: &Verifier = state.as_ref();
        let claims = verifier
            .verify(token.trim())
            .map_err(IntoResponse::into_response)?;
        let tenant = claims.tenant;
        let limit: &TenantLimit = state.as_ref();
        if let Some(limiter) = &limit.0 {
            limiter
                .check(&tenant, Instant::now())
                .map_err(|wait| too_many_requests("tenant", wait))?;
        }
        Ok(Caller(Owner {
            tenant,
            user: claims.sub,
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 section 11.1), so `bearer` and `BEARER` are accepted too.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
