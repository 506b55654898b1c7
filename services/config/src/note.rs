//! The note service's config file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ServiceConfig;
use crate::common::{ConfigError, DatabaseConfig, LogConfig, ServerConfig, invalid, is_env_name};

/// How request tokens are verified. Exactly one key source: an HS256 secret from an environment
/// variable, or an RS256 public key file (both mounted from Secrets, never inline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Environment variable holding the HS256 secret.
    pub hs256_secret_env: Option<String>,
    /// File holding the RS256 public key (PEM).
    pub rs256_public_key_file: Option<String>,
    /// Directory of RS256 public keys, `<kid>.pem` each: a token's `kid` header picks the key,
    /// so a signing key can be rotated without downtime (add the new key here, switch the
    /// issuer, remove the old key once its tokens expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rs256_public_keys_dir: Option<String>,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway_seconds: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "lockstep".into(),
            audience: "note-service".into(),
            hs256_secret_env: Some("NOTE_JWT_SECRET".into()),
            rs256_public_key_file: None,
            rs256_public_keys_dir: None,
            leeway_seconds: 30,
        }
    }
}

/// Where tenant keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// Directory with `<tenant>.<key_id>.key` (32 raw bytes), `.key.hex` or `.key.b64` files
    /// and optional `<tenant>.blind[.hex|.b64]` (a mounted Secret).
    pub keys_dir: String,
    /// How long resolved keys are cached; rotations show up within this time.
    pub cache_ttl_seconds: u32,
    /// Load key files that other users may read (mode 0644). Key files must be 0600/0400, or
    /// 0640/0440 when owned by root (a Secret mounted with `fsGroup`); this is for development
    /// stacks that mount a checkout, never for real keys.
    pub allow_loose_key_file_permissions: bool,
    /// Envelope version new values are sealed as: 2, or 1 while a binary that may read the data
    /// (another replica mid-rollout, the revision a rollback returns to) predates version 2.
    /// Every version reads both.
    pub envelope_version: u8,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            keys_dir: "/var/run/secrets/lockstep/tenant-keys".into(),
            cache_ttl_seconds: 60,
            allow_loose_key_file_permissions: false,
            envelope_version: 2,
        }
    }
}

/// `note-service` config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NoteConfig {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Token verification.
    pub auth: AuthConfig,
    /// Tenant keys.
    pub encryption: EncryptionConfig,
    /// Logging.
    pub log: LogConfig,
}

impl ServiceConfig for NoteConfig {
    const DEFAULT_PORT: u16 = 8081;
    const DEFAULT_SQLITE_PATH: &'static str = "notes.db";

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
        let a = &self.auth;
        if a.issuer.trim().is_empty() {
            return Err(invalid("auth.issuer", "must not be empty"));
        }
        if a.audience.trim().is_empty() {
            return Err(invalid("auth.audience", "must not be empty"));
        }
        let sources = [
            a.hs256_secret_env.is_some(),
            a.rs256_public_key_file.is_some(),
            a.rs256_public_keys_dir.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(invalid(
                "auth",
                "set exactly one of hs256_secret_env, rs256_public_key_file and rs256_public_keys_dir",
            ));
        }
        if let Some(env) = &a.hs256_secret_env
            && !is_env_name(env)
        {
            return Err(invalid(
                "auth.hs256_secret_env",
                format!("`{env}` is not an environment variable name"),
            ));
        }
        if self.encryption.keys_dir.trim().is_empty() {
            return Err(invalid("encryption.keys_dir", "must not be empty"));
        }
        if !matches!(self.encryption.envelope_version, 1 | 2) {
            return Err(invalid("encryption.envelope_version", "must be 1 or 2"));
        }
        if self.encryption.cache_ttl_seconds > 3600 {
            return Err(invalid(
                "encryption.cache_ttl_seconds",
                "must be at most 3600",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlbumConfig;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let album = AlbumConfig::default();
        album.validate().unwrap();
        assert_eq!(
            AlbumConfig::from_yaml(&album.to_yaml().unwrap()).unwrap(),
            album
        );
        let note = NoteConfig::default();
        note.validate().unwrap();
        assert_eq!(
            NoteConfig::from_yaml(&note.to_yaml().unwrap()).unwrap(),
            note
        );
        // An empty file is the defaults.
        assert_eq!(AlbumConfig::from_yaml("{}").unwrap(), album);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("server: {port: 0}", "server.port"),
            (
                "pagination: {default_limit: 500, max_limit: 100}",
                "pagination.default_limit",
            ),
            ("pagination: {max_limit: 5000}", "pagination.max_limit"),
            ("log: {level: loud}", "log.level"),
            ("database: {url_env: 'lower-case'}", "database.url_env"),
            ("database: {max_connections: 0}", "database.max_connections"),
            ("grpc: {port: 0}", "grpc.port"),
            (
                "server: {cors_allowed_origins: ['*']}",
                "server.cors_allowed_origins",
            ),
            (
                "server: {cors_allowed_origins: ['https://a.example/app']}",
                "server.cors_allowed_origins",
            ),
            (
                "server: {drain_delay_seconds: 61}",
                "server.drain_delay_seconds",
            ),
            ("grpc: {port: 8080}", "grpc.port"),
            ("server: {port: 9000}\ngrpc: {port: 9000}", "grpc.port"),
        ];
        for (yaml, field) in cases {
            let err = AlbumConfig::from_yaml(yaml).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { field: f, .. } if f == field),
                "{yaml}: {err}"
            );
        }
        for both in [
            "auth: {hs256_secret_env: S, rs256_public_key_file: /k.pem}",
            "auth: {hs256_secret_env: null, rs256_public_key_file: /k.pem, rs256_public_keys_dir: /keys}",
            "auth: {hs256_secret_env: null}",
        ] {
            assert!(
                NoteConfig::from_yaml(both)
                    .unwrap_err()
                    .to_string()
                    .contains("exactly one"),
                "{both}"
            );
        }
        NoteConfig::from_yaml("auth: {hs256_secret_env: null, rs256_public_keys_dir: /keys}")
            .unwrap();
        assert!(
            NoteConfig::from_yaml("auth: {issuer: ''}")
                .unwrap_err()
                .to_string()
                .contains("auth.issuer")
        );
        for version in [0, 3] {
            let yaml = format!("encryption: {{envelope_version: {version}}}");
            assert!(
                NoteConfig::from_yaml(&yaml)
                    .unwrap_err()
                    .to_string()
                    .contains("encryption.envelope_version"),
                "{yaml}"
            );
        }
        NoteConfig::from_yaml("encryption: {envelope_version: 1}").unwrap();
    }

    #[test]
    fn unknown_fields_and_wrong_types_do_not_parse() {
        assert!(matches!(
            AlbumConfig::from_yaml("server: {prot: 80}"),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            AlbumConfig::from_yaml("colour: blue"),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            AlbumConfig::from_yaml("server: {port: lots}"),
            Err(ConfigError::Parse(_))
        ));
    }

    #[test]
    fn rendering_is_canonical() {
        let a = AlbumConfig::from_yaml("log: {format: text}\nserver: {port: 9000}").unwrap();
        let b = AlbumConfig::from_yaml("server: {port: 9000}\nlog: {format: text}").unwrap();
        assert_eq!(a.to_yaml().unwrap(), b.to_yaml().unwrap());
    }

    #[test]
    fn schema_describes_every_section() {
        let schema = serde_json::to_value(schemars::schema_for!(NoteConfig)).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for section in ["server", "database", "auth", "encryption", "log"] {
            assert!(props.contains_key(section), "{section}");
        }
    }
}
