//! Users as the business sees them: who may register, and what a login checks. No HTTP, no SQL.

use std::future::Future;

use chrono::{DateTime, Utc};
use lockstep_service_kit::idempotency::{Answer, Once};

/// Shortest password, in characters (NIST SP 800-63B asks for at least 8; more costs nothing).
pub const MIN_PASSWORD: usize = 12;
/// Longest password, in bytes: argon2 takes any length, a bound keeps one request's hashing
/// from being a denial of service.
pub const MAX_PASSWORD: usize = 256;

/// A registered user. `id` is the token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (the `sub` claim).
    pub id: i64,
    /// The tenant the user belongs to.
    pub tenant: String,
    /// Lower case, unique within the tenant.
    pub username: String,
    /// The argon2id hash (PHC string).
    pub password_hash: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
}

/// What a user operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input breaks a rule; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        message: String,
    },
    /// The tenant already has a user of this name.
    #[error("user {username} exists in tenant {tenant}")]
    Exists {
        /// Tenant.
        tenant: String,
        /// Name.
        username: String,
    },
    /// Unknown user or wrong password (deliberately the same error).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Password hashing is at its limit (see [`crate::passwords::Hasher`]); nothing was done.
    #[error("password hashing is overloaded")]
    Overloaded {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// The database failed.
    #[error("storage: {0}")]
    Storage(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        message: message.into(),
    }
}

/// A tenant id as the note service accepts it in a token (1–64 of `[A-Za-z0-9_.-]`, compared
/// byte for byte): the very rule its token check and its key files use, so a registered
/// tenant can never be one the note service refuses.
pub fn check_tenant(tenant: &str) -> Result<&str, DomainError> {
    lockstep_field_encryption::keys::validate_tenant(tenant)
        .map(|()| tenant)
        .map_err(|_| invalid("tenant", "1-64 characters of A-Z a-z 0-9 _ . -"))
}

/// A user name in its canonical form: trimmed, lower case, 3–64 of `[a-z0-9_.-]`. `Alice` and
/// `alice` are one user, on every backend.
pub fn canonical_username(name: &str) -> Result<String, DomainError> {
    let name = name.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(invalid("username", "3-64 characters of a-z 0-9 _ . -"))
    }
}

/// A password long enough and not too long (never trimmed: spaces are characters).
pub fn check_password(password: &str) -> Result<&str, DomainError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(invalid(
            "password",
            format!("at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(invalid("password", format!("at most {MAX_PASSWORD} bytes")));
    }
    Ok(password)
}

/// Where users live.
pub trait UserStore: lockstep_service_kit::http::Probe {
    /// Stores a new user; [`DomainError::Exists`] when the name is taken in the tenant. With
    /// `once`, at most once per idempotency key.
    fn insert(
        &self,
        tenant: &str,
        username: &str,
        password_hash: &str,
        once: Option<&Once<User>>,
    ) -> impl Future<Output = Result<Answer<User>, DomainError>> + Send;
    /// The user, if any.
    fn find(
        &self,
        tenant: &str,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, DomainError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical_and_rules_name_the_field() {
        assert_eq!(canonical_username("  Alice.B ").unwrap(), "alice.b");
        for bad in ["al", "a b c", "ålice", &"x".repeat(65)] {
            assert!(matches!(
                canonical_username(bad),
                Err(DomainError::Invalid {
                    field: "username",
                    ..
                })
            ));
        }
        assert!(check_tenant("acme").is_ok() && check_tenant("../x").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password(&"p".repeat(MAX_PASSWORD + 1)).is_err());
        assert!(check_password("twelve chars").is_ok());
    }
}
