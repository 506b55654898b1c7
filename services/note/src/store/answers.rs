//! Stored idempotency answers hold a note's plaintext: they are sealed under the tenant's key
//! like the note itself, and the request fingerprint is keyed with the tenant's blind-index
//! key (an unkeyed SHA-256 of a short note could be guessed offline from a database dump).
//! Both run inside the tenant scope the store's create opened.

use lockstep_field_encryption::{BlindIndex, ColumnBinding, Encrypted, Storage, current};
use lockstep_service_kit::idempotency::AnswerCodec;

use crate::domain::DomainError;

/// The sealed column `idempotency_keys.body` (a `MEDIUMBLOB`, as for note bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerBody;

impl ColumnBinding for AnswerBody {
    const NAME: &'static str = "idempotency_keys.body";
    const STORAGE: Storage = Storage::Binary;
    const MAX_STORED: usize = (1 << 24) - 1;
}

/// The keyed fingerprint `idempotency_keys.fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerFingerprint;

impl ColumnBinding for AnswerFingerprint {
    const NAME: &'static str = "idempotency_keys.fingerprint";
    const STORAGE: Storage = Storage::Binary;
}

/// The codec of the note service's answers.
#[derive(Debug, Clone, Copy)]
pub struct Sealed;

fn keys(e: impl std::fmt::Display) -> lockstep_tidb::Error {
    lockstep_tidb::Error::Work(Box::new(DomainError::Keys(e.to_string())))
}

impl AnswerCodec for Sealed {
    fn fingerprint(&self, sha256: &str) -> Result<String, lockstep_tidb::Error> {
        let index = BlindIndex::<AnswerFingerprint>::of(&sha256.to_owned()).map_err(keys)?;
        Ok(index
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    fn seal(&self, body: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error> {
        let text = String::from_utf8(body.to_vec())
            .map_err(|e| lockstep_tidb::Error::Work(Box::new(e)))?;
        let sealed = Encrypted::<String, AnswerBody>::new(text).map_err(keys)?;
        Ok(sealed.envelope().to_vec())
    }

    fn open(&self, stored: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error> {
        let scope = current().ok_or_else(|| {
            keys(lockstep_field_encryption::Error::MissingTenant {
                column: AnswerBody::NAME.into(),
            })
        })?;
        let opened = Encrypted::<String, AnswerBody>::open_with(scope.keys(), stored.to_vec())
            .map_err(keys)?;
        Ok(opened.into_inner().into_bytes())
    }
}
