//! The one error of reading a config: it does not parse, or a field breaks a rule.

/// A config that does not parse or breaks a rule. `field` is the dotted path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not valid YAML for this config (unknown field, wrong type, …).
    #[error("config does not parse: {0}")]
    Parse(String),
    /// A field breaks a rule.
    #[error("config field `{field}`: {reason}")]
    Invalid {
        /// Dotted path, e.g. `pagination.max_limit`.
        field: &'static str,
        /// The rule it breaks.
        reason: String,
    },
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}
