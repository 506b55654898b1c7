//! The album service's config file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ServiceConfig;
use crate::common::{ConfigError, DatabaseConfig, LogConfig, ServerConfig, invalid};

/// List endpoint paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Pagination {
    /// Page size when the request names none.
    pub default_limit: u32,
    /// Largest page a request may ask for (≤ 1000).
    pub max_limit: u32,
}

impl Default for Pagination {
    fn default() -> Self {
        Pagination {
            default_limit: 20,
            max_limit: 100,
        }
    }
}

/// The gRPC API (same domain and store as HTTP), off unless a port is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Port of the gRPC server (album API, `grpc.health.v1`, reflection); unset = no gRPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl GrpcConfig {
    /// Off: not written out, so configs without it render (and hash) as before it existed.
    pub fn is_off(&self) -> bool {
        self.port.is_none()
    }
}

/// `album-service` config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AlbumConfig {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// List paging.
    pub pagination: Pagination,
    /// The gRPC API.
    #[serde(skip_serializing_if = "GrpcConfig::is_off")]
    pub grpc: GrpcConfig,
    /// Logging.
    pub log: LogConfig,
}

impl ServiceConfig for AlbumConfig {
    const DEFAULT_PORT: u16 = 8080;
    const DEFAULT_SQLITE_PATH: &'static str = "albums.db";

    fn server(&self) -> &ServerConfig {
        &self.server
    }

    fn database(&self) -> &DatabaseConfig {
        &self.database
    }

    fn grpc_port(&self) -> Option<u16> {
        self.grpc.port
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.log.validate()?;
        if self.server.rate_limit.per_tenant.is_some() {
            return Err(invalid(
                "server.rate_limit.per_tenant",
                "the album service has no tenants (use per_client)",
            ));
        }
        if let Some(port) = self.grpc.port {
            if port == 0 {
                return Err(invalid("grpc.port", "must be 1-65535"));
            }
            if port == self.port() {
                return Err(invalid(
                    "grpc.port",
                    format!("{port} is the HTTP port too: gRPC needs its own"),
                ));
            }
        }
        let p = &self.pagination;
        if p.max_limit == 0 || p.max_limit > 1000 {
            return Err(invalid("pagination.max_limit", "must be 1-1000"));
        }
        if p.default_limit == 0 || p.default_limit > p.max_limit {
            return Err(invalid(
                "pagination.default_limit",
                format!("must be 1-{} (max_limit)", p.max_limit),
            ));
        }
        Ok(())
    }
}
