//! Helpers shared by the scenarios.

use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::{NoteTitle, note};
use crate::{Encrypted, Error, KeyMaterial, Keyring, StaticKeys, seal_indexed};

/// Fails the scenario with a message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}
pub(crate) use ensure;

pub(crate) fn key(byte: u8) -> KeyMaterial {
    KeyMaterial::new([byte; 32])
}

/// acme and globex, one key each (id 1), blind-index keys.
pub(crate) fn keyring() -> Keyring {
    Keyring::new(
        StaticKeys::new()
            .with_tenant("acme", 1, vec![(1, key(1))], Some(key(101)))
            .with_tenant("globex", 1, vec![(1, key(2))], Some(key(102))),
    )
}

pub(crate) fn new_note(tenant: &str, title: &str, body: &str) -> crate::Result<note::ActiveModel> {
    let (title, title_idx) = seal_indexed::<String, NoteTitle>(title.to_owned())?;
    Ok(note::ActiveModel {
        tenant: Set(tenant.to_owned()),
        title: Set(title),
        title_idx: Set(title_idx),
        body: Set(Encrypted::new(body.to_owned())?),
        legacy: Set(None),
        ..Default::default()
    })
}

pub(crate) async fn raw_bytes(
    db: &DatabaseConnection,
    sql: &str,
) -> Result<Vec<Vec<u8>>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter().map(|r| r.try_get_by::<Vec<u8>, _>(0)).collect()
}

pub(crate) fn typed(err: &sea_orm::DbErr) -> Option<&Error> {
    Error::from_db_err(err)
}
