//! # note-service
//!
//! Per-user notes (title, body, tags) over HTTP. Tenant and user come from a verified JWT (the
//! user service issues them); titles and bodies are sealed with AES-256-GCM under the tenant's
//! key (lockstep-field-encryption), exact-title search goes through a blind index, and listing
//! pages newest first.
//!
//! ```text
//!  api/     axum handlers + DTOs; auth.rs: Bearer token → Caller {tenant, user} (401 otherwise)
//!    │
//!  domain/  Note, validation, the NoteStore trait (owner-scoped)   (no axum, no SQL)
//!    ▲
//!  store/   SeaORM + Encrypted<String, notes.title|notes.body> + BlindIndex, inside with_tenant
//! ```

pub mod api;
pub mod auth;
pub mod domain;
pub mod seals;
pub mod store;

use axum::Router;
use lockstep_service_config::NoteConfig;
use lockstep_service_kit::http::{Ops, wrap};

use crate::api::AppState;
use crate::auth::Verifier;
use crate::store::SeaStore;

/// The binary's version, reported by `/version` and `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole HTTP application. `control_routes` adds the plaintext benchmark twin.
pub fn app(
    store: SeaStore,
    verifier: Verifier,
    config: &NoteConfig,
    config_hash: &str,
    control_routes: bool,
) -> Result<Router, prometheus::Error> {
    let mut ops = Ops::new(VERSION, config_hash, &config.server, store.clone())?;
    // Ready when the database answers and the tenant keys can be read (a Secret not mounted
    // would fail every request).
    let (database, keyring) = (ops.ready.clone(), store.keyring());
    ops.ready = std::sync::Arc::new(move || {
        let (database, keyring) = (database.clone(), keyring.clone());
        Box::pin(async move {
            database().await?;
            keyring
                .ready()
                .await
                .map_err(|e| format!("tenant keys: {e}"))
        })
    });
    ops.metrics
        .registry()
        .register(Box::new(seals::SealMetrics::new(store.keyring())?))?;
    let state = AppState {
        store,
        verifier,
        tenants: auth::TenantLimit::from_config(&config.server.rate_limit),
    };
    let mut routes = api::routes(state.clone());
    if control_routes {
        routes = routes.merge(api::control_routes(state));
    }
    Ok(wrap(routes, ops))
}

/// What `check-config` checks beyond the file itself: the RS256 public key file is there and is a
/// key, the tenant keys directory can be listed, and the SQLite file can be written. (A config
/// can be valid and still name paths this machine does not have; the service would then fail at
/// start.) The HS256 secret comes from the environment at run time: when its variable is set
/// here, it must be long enough (at least 32 bytes).
pub fn preflight(config: &NoteConfig) -> Result<(), String> {
    if config.auth.rs256_public_key_file.is_some() || config.auth.rs256_public_keys_dir.is_some() {
        Verifier::from_config(&config.auth).map_err(|e| e.to_string())?;
    }
    if let Some(env) = &config.auth.hs256_secret_env
        && std::env::var_os(env).is_some()
    {
        auth::hs256_secret(env).map_err(|e| e.to_string())?;
    }
    let keys = &config.encryption.keys_dir;
    std::fs::read_dir(keys).map_err(|e| format!("encryption.keys_dir: {keys}: {e}"))?;
    lockstep_service_kit::config::writable_sqlite_path(config)
}
