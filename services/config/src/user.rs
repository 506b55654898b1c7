//! The user service's config file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ServiceConfig;
use crate::common::{ConfigError, DatabaseConfig, LogConfig, ServerConfig, invalid};
use crate::limits::Quota;

/// How tokens are issued: RS256, signed with a private key file (a mounted Secret), verified
/// by the note service with the public half (`auth.rs256_public_key_file` there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    /// `iss` of issued tokens (the note service's `auth.issuer`).
    pub issuer: String,
    /// `aud` of issued tokens (the note service's `auth.audience`).
    pub audience: String,
    /// PEM file with the RSA private key.
    pub private_key_file: String,
    /// The `kid` header of issued tokens: which key of the note service's
    /// `auth.rs256_public_keys_dir` verifies them. Unset: the key file's name without `.pem`
    /// (`keys/2026-12.pem` signs as `2026-12`), so naming both halves by key id is enough.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Token lifetime (60–86,400 s). There is no refresh token: a client logs in again, so a
    /// short lifetime bounds what a stolen token is worth.
    pub token_ttl_seconds: u32,
    /// Login attempts per tenant and user name: after a burst, a steady trickle, so guessing a
    /// password is slow whichever addresses the guesses come from.
    pub login_attempts: Quota,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        IssuerConfig {
            issuer: "lockstep".into(),
            audience: "note-service".into(),
            private_key_file: "/var/run/secrets/lockstep/jwt/private.pem".into(),
            key_id: None,
            token_ttl_seconds: 900,
            login_attempts: Quota {
                per_second: 1,
                burst: 5,
            },
        }
    }
}

/// Who may register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// The tenants users may register in; unset, any tenant id. A user of a tenant gets tokens
    /// for it, so its notes are sealed with that tenant's keys: in production list them (or put
    /// registration behind your own sign-up flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
}

impl RegistrationConfig {
    /// Open to any tenant: not written out.
    pub fn is_open(&self) -> bool {
        self.tenants.is_none()
    }

    /// Whether users may register in `tenant` (byte for byte).
    pub fn allows(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|list| list.iter().any(|t| t == tenant))
    }
}

/// `user-service` config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Token issuing.
    pub tokens: IssuerConfig,
    /// Who may register.
    #[serde(skip_serializing_if = "RegistrationConfig::is_open")]
    pub registration: RegistrationConfig,
    /// Logging.
    pub log: LogConfig,
}

impl ServiceConfig for UserConfig {
    const DEFAULT_PORT: u16 = 8082;
    const DEFAULT_SQLITE_PATH: &'static str = "users.db";

    fn server(&self) -> &ServerConfig {
        &self.server
    }

    fn database(&self) -> &DatabaseConfig {
        &self.database
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.log.validate()?;
        let t = &self.tokens;
        for (field, value) in [
            ("tokens.issuer", &t.issuer),
            ("tokens.audience", &t.audience),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        if t.private_key_file.trim().is_empty() {
            return Err(invalid("tokens.private_key_file", "must not be empty"));
        }
        if !(60..=86_400).contains(&t.token_ttl_seconds) {
            return Err(invalid("tokens.token_ttl_seconds", "must be 60-86400"));
        }
        let q = t.login_attempts;
        if !((1..=1000).contains(&q.per_second) && (1..=1000).contains(&q.burst)) {
            return Err(invalid(
                "tokens.login_attempts",
                "per_second and burst must each be 1-1000",
            ));
        }
        Ok(())
    }
}
