//! # lockstep-service-config — the services' config files, as types
//!
//! One struct per service is the single source of truth for its config file:
//!
//! ```text
//!  AlbumConfig / NoteConfig ──serde──► the YAML file the service reads (--config)
//!         │                  ──schemars──► spec.release.config schema in the operator's CRDs
//!         └── validate() ──► the `check-config` command and the operator's ConfigValid gate
//! ```
//!
//! So a custom resource that passes the apiserver's schema is a file the binary can parse, and
//! `validate` catches what a schema cannot say (cross-field rules). Secrets never appear here:
//! fields name the environment variable or file that holds them.
//!
//! This crate depends on serde and schemars only, so the services do not pull in Kubernetes
//! crates and the operator does not pull in the services.

mod album;
mod common;
mod error;
mod limits;
mod note;
mod user;

pub use album::{AlbumConfig, GrpcConfig, Pagination};
pub use common::{DatabaseConfig, LogConfig, LogFormat, ServerConfig};
pub use error::ConfigError;
pub use limits::{Quota, RateLimitConfig};
pub use note::{AuthConfig, EncryptionConfig, NoteConfig};
pub use user::{IssuerConfig, RegistrationConfig, UserConfig};

/// A service config: parse, validate, render.
pub trait ServiceConfig: serde::Serialize + serde::de::DeserializeOwned + Sized {
    /// The port the service listens on when `server.port` is unset.
    const DEFAULT_PORT: u16;
    /// The embedded SQLite file when `database.sqlite_path` is unset.
    const DEFAULT_SQLITE_PATH: &'static str;

    /// The HTTP server section.
    fn server(&self) -> &ServerConfig;

    /// The database section.
    fn database(&self) -> &DatabaseConfig;

    /// The port the service listens on (and the operator's pod port unless `pod.port` is set).
    fn port(&self) -> u16 {
        self.server().port.unwrap_or(Self::DEFAULT_PORT)
    }

    /// The gRPC port, when the service serves gRPC (the operator exposes it on the pods and the
    /// Service as the port named `grpc`).
    fn grpc_port(&self) -> Option<u16> {
        None
    }

    /// The embedded SQLite file (used when `database.url_env` is unset).
    fn sqlite_path(&self) -> &str {
        self.database()
            .sqlite_path
            .as_deref()
            .unwrap_or(Self::DEFAULT_SQLITE_PATH)
    }

    /// Checks the rules a schema cannot express; errors name the field (`server.port`).
    fn validate(&self) -> Result<(), ConfigError>;

    /// Parses YAML and validates it. Unknown fields are errors.
    fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The canonical file text: what the operator writes into the revision's ConfigMap and hashes.
    /// Field order is the struct's, so equal configs render to equal bytes.
    fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_yaml::to_string(self).map_err(|e| ConfigError::Parse(e.to_string()))
    }
}
