//! Issuing the RS256 tokens the note service verifies: `sub` (the user id), `tenant`, `iss`,
//! `aud`, `exp`, `nbf` — the claims of `note_service::auth::Claims`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lockstep_service_config::IssuerConfig;
use serde::Serialize;

use crate::domain::User;

/// Why the issuer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The key file could not be read.
    #[error("tokens.private_key_file: {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an RSA private key in PEM.
    #[error("tokens.private_key_file: {path}: not an RSA private key (PEM): {source}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        source: jsonwebtoken::errors::Error,
    },
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: String,
    tenant: &'a str,
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
}

/// Signs tokens with the configured key.
#[derive(Clone)]
pub struct Issuer {
    key: EncodingKey,
    /// The `kid` header (see [`IssuerConfig::key_id`]).
    key_id: String,
    config: IssuerConfig,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Reads the private key the config names.
    pub fn from_config(config: &IssuerConfig) -> Result<Issuer, IssuerError> {
        let path = config.private_key_file.clone();
        let pem = std::fs::read(&path).map_err(|source| IssuerError::Read {
            path: path.clone(),
            source,
        })?;
        let key_id = config.key_id.clone().unwrap_or_else(|| {
            let name = std::path::Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.strip_suffix(".pem").unwrap_or(&name).to_owned()
        });
        let key =
            EncodingKey::from_rsa_pem(&pem).map_err(|source| IssuerError::Key { path, source })?;
        Ok(Issuer {
            key,
            key_id,
            config: config.clone(),
        })
    }

    /// The `kid` header of the tokens this issuer signs.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A token for `user`, and its lifetime in seconds.
    pub fn issue(&self, user: &User) -> Result<(String, u32), jsonwebtoken::errors::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ttl = self.config.token_ttl_seconds;
        let claims = Claims {
            sub: user.id.to_string(),
            tenant: &user.tenant,
            iss: &self.config.issuer,
            aud: &self.config.audience,
            exp: now + u64::from(ttl),
            nbf: now,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)?;
        Ok((token, ttl))
    }
}
