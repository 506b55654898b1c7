//! Sections shared by every service's config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) use crate::error::ConfigError;
pub(crate) use crate::error::invalid;
use crate::limits::RateLimitConfig;

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listening port (1–65535). Unset: the service's own (album 8080, note 8081), so both
    /// can run side by side on one machine with no config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Requests running longer are answered 504 (408 while the body is still arriving).
    pub request_timeout_ms: u64,
    /// Largest accepted request body.
    pub max_body_bytes: u64,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_grace_seconds: u32,
    /// After SIGTERM, `/readyz` answers 503 `draining` at once while the service keeps serving
    /// for this long (0–60 s), so Services and load balancers stop sending before it stops
    /// accepting; then the `shutdown_grace_seconds` drain starts.
    #[serde(skip_serializing_if = "is_default_drain_delay")]
    pub drain_delay_seconds: u32,
    /// Origins browsers may call the API from (CORS), e.g. `https://app.example.com`; empty
    /// (the default): no CORS headers, so browsers keep other origins out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_allowed_origins: Vec<String>,
    /// Compress responses of 1 KiB or more (gzip) for clients that accept it.
    #[serde(skip_serializing_if = "is_true")]
    pub compression: bool,
    /// Request rate limits (none by default).
    #[serde(skip_serializing_if = "RateLimitConfig::is_default")]
    pub rate_limit: RateLimitConfig,
    /// A connection must send a whole request head within this long of starting to wait for
    /// one (100 ms – 10 min, default 10 s), or it is closed. The wait starts when the
    /// connection opens and again after each answer, so this is also the idle keep-alive
    /// timeout: a client sending one header line a second, or nothing, holds no connection
    /// longer.
    #[serde(skip_serializing_if = "is_default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// Open connections at most (default 1024); more wait in the kernel's accept queue until
    /// one closes.
    #[serde(skip_serializing_if = "is_default_max_connections")]
    pub max_connections: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: None,
            request_timeout_ms: 5000,
            max_body_bytes: 1 << 20,
            shutdown_grace_seconds: 20,
            drain_delay_seconds: DEFAULT_DRAIN_DELAY,
            cors_allowed_origins: Vec::new(),
            compression: true,
            rate_limit: RateLimitConfig::default(),
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_MAX_CONNECTIONS: u32 = 1024;

/// Defaults are not written out, so configs that never set these render (and hash) as before
/// the fields existed.
fn is_default_header_read_timeout(value: &u64) -> bool {
    *value == DEFAULT_HEADER_READ_TIMEOUT_MS
}

fn is_default_max_connections(value: &u32) -> bool {
    *value == DEFAULT_MAX_CONNECTIONS
}

/// An origin as browsers send it: `http(s)://host[:port]`, no path, no wildcard.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// Long enough for endpoint controllers and kube-proxy to take a pod out of rotation.
const DEFAULT_DRAIN_DELAY: u32 = 5;

/// The default is not written out, so configs that never set it render (and hash) as before
/// the field existed.
fn is_default_drain_delay(value: &u32) -> bool {
    *value == DEFAULT_DRAIN_DELAY
}

impl ServerConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.drain_delay_seconds > 60 {
            return Err(invalid("server.drain_delay_seconds", "must be 0-60"));
        }
        if let Some(bad) = self.cors_allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(invalid(
                "server.cors_allowed_origins",
                format!("`{bad}` is not an origin (http(s)://host[:port], no path, no `*`)"),
            ));
        }
        if self.port == Some(0) {
            return Err(invalid("server.port", "must be 1-65535"));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("server.request_timeout_ms", "must be positive"));
        }
        if !(100..=600_000).contains(&self.header_read_timeout_ms) {
            return Err(invalid(
                "server.header_read_timeout_ms",
                "must be 100-600000 (100 ms to 10 min)",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if !(1024..=64 << 20).contains(&self.max_body_bytes) {
            return Err(invalid(
                "server.max_body_bytes",
                "must be between 1 KiB and 64 MiB",
            ));
        }
        self.rate_limit.validate()
    }
}

/// Where the data lives. The URL is a secret, so the file names the environment variable that
/// holds it; without one the service uses its embedded SQLite file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Environment variable with a `mysql://` / `tidb://` URL; unset = embedded SQLite.
    pub url_env: Option<String>,
    /// SQLite file used when `url_env` is unset. Unset: the service's own (`albums.db`,
    /// `notes.db` in the working directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlite_path: Option<String>,
    /// Pool size (on MySQL/TiDB, of each endpoint's pool).
    pub max_connections: u32,
    /// Apply pending schema migrations at start-up (under a lock, so replicas take turns).
    /// `false`: run `<service> migrate` yourself first (a Job, a pipeline step); the service
    /// then refuses to start while a migration is pending.
    #[serde(skip_serializing_if = "is_true")]
    pub migrate_on_start: bool,
}

/// The defaults `migrate_on_start` and `compression` (true) are not written out, so configs
/// that never set them render (and hash) as before the fields existed.
fn is_true(value: &bool) -> bool {
    *value
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url_env: None,
            sqlite_path: None,
            max_connections: 10,
            migrate_on_start: true,
        }
    }
}

/// `true` for a conventional environment variable name (`[A-Z_][A-Z0-9_]*`).
pub(crate) fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl DatabaseConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(env) = &self.url_env
            && !is_env_name(env)
        {
            return Err(invalid(
                "database.url_env",
                format!("`{env}` is not an environment variable name"),
            ));
        }
        if self
            .sqlite_path
            .as_deref()
            .is_some_and(|path| path.trim().is_empty())
        {
            return Err(invalid(
                "database.sqlite_path",
                "must not be empty (leave it out for the service's own file)",
            ));
        }
        if !(1..=1000).contains(&self.max_connections) {
            return Err(invalid("database.max_connections", "must be 1-1000"));
        }
        Ok(())
    }
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    #[default]
    Json,
    /// Human-readable lines (local development).
    Text,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

impl LogConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !["error", "warn", "info", "debug", "trace"].contains(&self.level.as_str()) {
            return Err(invalid(
                "log.level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.level
                ),
            ));
        }
        Ok(())
    }
}
