//! Request rate limits: part of the config file, so a limit rolls out and rolls back with the
//! revision like any other setting.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, invalid};

/// Requests admitted per key: `per_second` sustained, up to `burst` at once after a quiet spell
/// (a token bucket of `burst` tokens refilled at `per_second`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Sustained requests per second (1–1,000,000).
    pub per_second: u32,
    /// Requests admitted at once (1–1,000,000).
    pub burst: u32,
}

/// Rate limits; each is off when absent. Over the limit, a request is answered 429
/// `rate_limited` with `Retry-After` before any work is done. Health, readiness and metrics
/// endpoints are never limited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Per client address: the connection's peer, or with `trust_forwarded_for` the first
    /// `X-Forwarded-For` address.
    pub per_client: Option<Quota>,
    /// Per tenant of a verified token (services with tenants only).
    pub per_tenant: Option<Quota>,
    /// Key clients by the first `X-Forwarded-For` address. Only behind a proxy that sets the
    /// header itself: otherwise any client can pick its own key.
    pub trust_forwarded_for: bool,
    /// Most clients (or tenants) tracked at once. Keys back at a full burst are forgotten
    /// first; when every tracked key is still limited, a new key is limited too (so a flood
    /// from many addresses cannot grow memory without bound).
    pub max_tracked: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_client: None,
            per_tenant: None,
            trust_forwarded_for: false,
            max_tracked: 100_000,
        }
    }
}

impl RateLimitConfig {
    /// The default: nothing limited. Such a section is not written out, so configs that never
    /// set it render (and hash) as before it existed.
    pub fn is_default(&self) -> bool {
        *self == RateLimitConfig::default()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (field, quota) in [
            ("server.rate_limit.per_client", &self.per_client),
            ("server.rate_limit.per_tenant", &self.per_tenant),
        ] {
            if let Some(q) = quota
                && !((1..=1_000_000).contains(&q.per_second) && (1..=1_000_000).contains(&q.burst))
            {
                return Err(invalid(
                    field,
                    "per_second and burst must each be 1-1000000",
                ));
            }
        }
        if !(1..=10_000_000).contains(&self.max_tracked) {
            return Err(invalid(
                "server.rate_limit.max_tracked",
                "must be 1-10000000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{AlbumConfig, ConfigError, NoteConfig, ServiceConfig};

    #[test]
    fn limits_parse_validate_and_name_the_field() {
        let yaml = "server: {rate_limit: {per_client: {per_second: 50, burst: 100}, \
                    per_tenant: {per_second: 200, burst: 400}}}";
        let note = NoteConfig::from_yaml(yaml).unwrap();
        assert_eq!(note.server.rate_limit.per_tenant.unwrap().burst, 400);
        for (yaml, field) in [
            (
                "server: {rate_limit: {per_client: {per_second: 0, burst: 1}}}",
                "server.rate_limit.per_client",
            ),
            (
                "server: {rate_limit: {per_tenant: {per_second: 1, burst: 0}}}",
                "server.rate_limit.per_tenant",
            ),
            (
                "server: {rate_limit: {max_tracked: 0}}",
                "server.rate_limit.max_tracked",
            ),
        ] {
            let err = NoteConfig::from_yaml(yaml).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { field: f, .. } if *f == field),
                "{yaml}: {err}"
            );
        }
        // The album service has no tenants to key on.
        let err = AlbumConfig::from_yaml(yaml).unwrap_err();
        assert!(
            err.to_string().contains("server.rate_limit.per_tenant"),
            "{err}"
        );
        assert!(matches!(
            NoteConfig::from_yaml("server: {rate_limit: {per_client: {per_second: 1}}}"),
            Err(ConfigError::Parse(_))
        ));
    }

    /// A config that never set limits renders as before the section existed, so the operator's
    /// config hash (and so the revision) of an existing service does not change.
    #[test]
    fn unset_limits_are_not_rendered() {
        let plain = AlbumConfig::default().to_yaml().unwrap();
        for section in [
            "rate_limit",
            "grpc",
            "migrate_on_start",
            "port",
            "sqlite_path",
        ] {
            assert!(!plain.contains(section), "{section}: {plain}");
        }
        AlbumConfig::from_yaml("grpc: {port: 9090}").unwrap();
        AlbumConfig::from_yaml("server: {cors_allowed_origins: ['https://app.example:8443']}")
            .unwrap();
        let limited =
            AlbumConfig::from_yaml("server: {rate_limit: {per_client: {per_second: 5, burst: 5}}}")
                .unwrap();
        let text = limited.to_yaml().unwrap();
        assert!(text.contains("rate_limit"), "{text}");
        assert_eq!(AlbumConfig::from_yaml(&text).unwrap(), limited);
    }
}
