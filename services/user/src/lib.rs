//! # user-service
//!
//! The users of the note service: register and log in with argon2id password hashes, and get
//! RS256 tokens (`sub` = user id, `tenant`, `iss`, `aud`, `exp`, `nbf`) that the note service
//! verifies with the public key — EasyNote's user service, on the same kit and layout.
//!
//! ```text
//!  api.rs        axum handlers + DTOs; login attempts limited per tenant and name
//!    │
//!  domain.rs     rules (canonical names, password length), the UserStore trait (no HTTP, no SQL)
//!    ▲
//!  store.rs      SQL + migrations;  passwords.rs argon2id;  tokens.rs RS256 signing
//! ```

pub mod api;
pub mod domain;
pub mod passwords;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use lockstep_service_config::UserConfig;
use lockstep_service_kit::http::{Ops, wrap};
use lockstep_service_kit::ratelimit::KeyedLimiter;

use crate::api::AppState;
use crate::domain::UserStore;
use crate::tokens::Issuer;

/// The binary's version, reported by `/version` and `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The metrics registry refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The password hashing threads could not be started.
    #[error("password hashing threads: {0}")]
    Hashing(String),
}

/// The whole HTTP application. Password hashing goes through the process's one
/// [`passwords::Hasher`] ([`passwords::shared`]), so the bound holds for the process.
pub fn app<S: UserStore>(
    store: S,
    issuer: Issuer,
    config: &UserConfig,
    config_hash: &str,
) -> Result<Router, AppError> {
    let hasher = passwords::shared().map_err(AppError::Hashing)?;
    let ops = Ops::new(VERSION, config_hash, &config.server, store.clone())?;
    let logins = Arc::new(KeyedLimiter::new(
        config.tokens.login_attempts,
        config.server.rate_limit.max_tracked,
    ));
    Ok(wrap(
        api::routes(AppState {
            store,
            issuer,
            logins,
            registration: config.registration.clone(),
            hasher,
        }),
        ops,
    ))
}

/// What `check-config` checks beyond the file: the private key parses, the SQLite file can be
/// written.
pub fn preflight(config: &UserConfig) -> Result<(), String> {
    Issuer::from_config(&config.tokens).map_err(|e| e.to_string())?;
    lockstep_service_kit::config::writable_sqlite_path(config)
}
