//! # album-service
//!
//! Albums (title, artist, price DECIMAL(10,2), created_at) over HTTP and gRPC. Kratos-style
//! layers: two transports over one domain.
//!
//! ```text
//!  api/     axum handlers + DTOs, errors → {code, message, request_id}
//!  grpc.rs  tonic service (proto/album/v1), errors → status codes; health, reflection
//!    │  call
//!  domain/  Album, validation rules, the AlbumStore trait          (no axum, no SQL)
//!    ▲  implements
//!  store/   SeaORM: MySQL/TiDB through lockstep-tidb (retrying transactions) or SQLite
//! ```
//!
//! [`app`] assembles the router (with the kit's ops endpoints and middleware); `main.rs` only
//! parses arguments, loads the config, opens the store and serves.

pub mod api;
pub mod domain;
pub mod grpc;
pub mod store;

use axum::Router;
use lockstep_service_config::AlbumConfig;
use lockstep_service_kit::http::{Ops, wrap};

use crate::api::AppState;
use crate::domain::AlbumStore;

/// The binary's version, reported by `/version` and `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole HTTP application over `store`, configured by `config` (whose hash `/version`
/// reports).
pub fn app<S: AlbumStore>(
    store: S,
    config: &AlbumConfig,
    config_hash: &str,
) -> Result<Router, prometheus::Error> {
    let ops = Ops::new(VERSION, config_hash, &config.server, store.clone())?;
    let routes = api::routes(AppState {
        store,
        pagination: config.pagination.clone(),
    });
    Ok(wrap(routes, ops))
}
