//! argon2id password hashes (PHC strings, with the crate's default parameters: 19 MiB, 2
//! passes, the OWASP recommendation). Hashing is CPU work of tens of milliseconds, so it runs
//! on the blocking pool, not on a request's executor thread.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::domain::DomainError;

/// A hash of a random password, verified against when the user does not exist, so an unknown
/// name costs the same time as a wrong password and the answer time does not tell which names
/// exist.
static DECOY: LazyLock<Result<String, String>> = LazyLock::new(|| {
    let random: [u8; 32] = rand::random();
    hash_now(&format!("{random:02x?}"))
});

fn hash_now(password: &str) -> Result<String, String> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DomainError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DomainError::Storage(format!("password hashing task: {e}")))
}

/// The PHC string of `password` under a fresh salt.
pub async fn hash(password: &str) -> Result<String, DomainError> {
    let password = password.to_owned();
    blocking(move || hash_now(&password))
        .await?
        .map_err(|e| DomainError::Storage(format!("hashing: {e}")))
}

/// Whether `password` matches `phc`; with `None` (no such user) the decoy is checked instead
/// and the answer is `false`, after the same work.
pub async fn verify(password: &str, phc: Option<String>) -> Result<bool, DomainError> {
    let password = password.to_owned();
    blocking(move || match phc {
        Some(phc) => verify_now(&password, &phc),
        None => {
            if let Ok(decoy) = DECOY.as_ref() {
                let _ = verify_now(&password, decoy);
            }
            false
        }
    })
    .await
}
