//! Retiring a key without losing data: which rows each key still seals, re-encryption of every
//! encrypted column of a table in one job, and a retire step that refuses while any row remains.
//!
//! ```text
//!  rotate (new current key id)
//!    ─► wait past the key-cache TTL on every replica (a replica with cached keys still seals
//!       new rows under the old id)
//!    ─► rewrap_table for each tenant and table, until a run writes 0 rows
//!    ─► keys_in_use over every table: 0 values on the old id
//!    ─► FileKeys::retire / WrappedKeys::retire (they check the report themselves)
//! ```
//!
//! The report groups by the exact bytes of the tenant and of the envelope header (MySQL-family
//! collations would fold `ACME` into `acme`, and key 1 into key 27 in base64).

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Statement};

use crate::envelope::Header;
use crate::error::{Error, Result};
use crate::jobs::{Progress, Target, exact, ident, rewrap_column};
pub use crate::value::Column;
use crate::value::Storage;

/// A table with encrypted columns, as the jobs need it.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    /// Table name.
    pub table: &'a str,
    /// Integer primary key column.
    pub pk: &'a str,
    /// Column holding the tenant id.
    pub tenant_column: &'a str,
    /// Every encrypted column of the table.
    pub columns: &'a [Column<'a>],
    /// Rows per batch.
    pub batch: u64,
}

impl<'a> Table<'a> {
    fn target(&self, column: &Column<'a>) -> Target<'a> {
        Target {
            table: self.table,
            pk: self.pk,
            tenant_column: self.tenant_column,
            column: column.column,
            batch: self.batch,
        }
    }
}

/// Values per tenant, `table.column` and key id; `None` is a value that is not an envelope
/// (plaintext awaiting migration, or damage).
///
/// Only [`keys_in_use`] makes one (and [`KeyUsage::merge`] combines them): a retire step cannot
/// be handed an empty report it did not scan (`retire(tenant, 1, &KeyUsage::default())`
/// deleted a key that still sealed a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    /// `(tenant, "table.column", key id) → values`.
    values: BTreeMap<(String, String, Option<u32>), u64>,
}

impl KeyUsage {
    pub(crate) fn empty() -> Self {
        KeyUsage {
            values: BTreeMap::new(),
        }
    }

    /// `(tenant, "table.column", key id) → values`.
    pub fn values(&self) -> &BTreeMap<(String, String, Option<u32>), u64> {
        &self.values
    }

    /// Adds another report (another table).
    pub fn merge(&mut self, other: KeyUsage) {
        for (k, n) in other.values {
            *self.values.entry(k).or_default() += n;
        }
    }

    /// Values of `tenant` still sealed under `key_id`, and where.
    pub fn sealed_under(&self, tenant: &str, key_id: u32) -> (u64, Vec<&str>) {
        let mut total = 0;
        let mut columns = Vec::new();
        for ((t, column, id), n) in &self.values {
            if t == tenant && *id == Some(key_id) && *n > 0 {
                total += n;
                columns.push(column.as_str());
            }
        }
        (total, columns)
    }

    /// `Ok` when no value of `tenant` is sealed under `key_id`, else [`Error::KeyInUse`].
    pub fn check_retirable(&self, tenant: &str, key_id: u32) -> Result<()> {
        match self.sealed_under(tenant, key_id) {
            (0, _) => Ok(()),
            (rows, columns) => Err(Error::KeyInUse {
                tenant: tenant.to_owned(),
                key_id,
                rows,
                columns: columns.join(", "),
            }),
        }
    }
}

/// The bytes of a selected value, whichever type the backend returns it as.
fn bytes_at(row: &QueryResult, index: usize) -> Result<Vec<u8>> {
    match row.try_get_by::<Vec<u8>, _>(index) {
        Ok(bytes) => Ok(bytes),
        Err(_) => Ok(row.try_get_by::<String, _>(index)?.into_bytes()),
    }
}

/// The key id an envelope's stored head names, `None` when it is not an envelope head.
fn key_id_of(storage: Storage, head: &[u8]) -> Option<u32> {
    let head = match storage {
        Storage::Binary => head.to_vec(),
        Storage::Base64 => {
            use base64::Engine as _;
            // 8 base64 characters are exactly the 6 header bytes.
            base64::engine::general_purpose::STANDARD
                .decode(head)
                .ok()?
        }
    };
    // Any version this crate opens: version 1 values on a key are still on that key.
    (head.len() == 6 && Header::is_prefix(&head))
        .then(|| u32::from_be_bytes([head[2], head[3], head[4], head[5]]))
}

/// Counts, for every tenant and encrypted column of `table`, the values sealed under each key
/// id. Reads only the 6-byte header of each value (8 characters in base64), grouped in SQL.
pub async fn keys_in_use(db: &DatabaseConnection, table: &Table<'_>) -> Result<KeyUsage> {
    let backend = db.get_database_backend();
    let (t, tc) = (ident(table.table)?, ident(table.tenant_column)?);
    let mut usage = KeyUsage::empty();
    for column in table.columns {
        let col = ident(column.column)?;
        let head_len = match column.storage {
            Storage::Binary => 6,
            Storage::Base64 => 8,
        };
        let (tenant, head) = (
            exact(backend, tc),
            exact(backend, &format!("SUBSTR({col}, 1, {head_len})")),
        );
        let sql = format!(
            "SELECT {tenant}, {head}, COUNT(*) FROM {t} WHERE {col} IS NOT NULL GROUP BY {tenant}, {head}"
        );
        for row in db
            .query_all_raw(Statement::from_string(backend, sql))
            .await?
        {
            let tenant = String::from_utf8_lossy(&bytes_at(&row, 0)?).into_owned();
            let key_id = key_id_of(column.storage, &bytes_at(&row, 1)?);
            let n: i64 = row.try_get_by(2)?;
            *usage
                .values
                .entry((tenant, column.binding.to_owned(), key_id))
                .or_default() += n as u64;
        }
    }
    Ok(usage)
}

/// How [`rewrap_table`] went, per column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableProgress {
    /// `(column, progress)` in the order of [`Table::columns`].
    pub columns: Vec<(String, Progress)>,
}

impl TableProgress {
    /// Values re-encrypted in all columns.
    pub fn written(&self) -> u64 {
        self.columns.iter().map(|(_, p)| p.written).sum()
    }

    /// Rows quarantined in any column, by primary key.
    pub fn quarantined(&self) -> Vec<i64> {
        let mut pks: Vec<i64> = self
            .columns
            .iter()
            .flat_map(|(_, p)| p.quarantined.iter().copied())
            .collect();
        pks.sort_unstable();
        pks.dedup();
        pks
    }
}

/// Re-encrypts every encrypted column of the tenant-in-scope's rows of `table` under the current
/// key, in one job (retiring a key after one column was done would break the others). With
/// `quarantine`, a value that cannot be opened is skipped and reported instead of stopping the
/// job. Run it until [`TableProgress::written`] is 0 after every replica has picked up the
/// rotation; then [`keys_in_use`] shows what is left.
pub async fn rewrap_table(
    db: &DatabaseConnection,
    table: &Table<'_>,
    quarantine: bool,
    mut on_progress: impl FnMut(&str, &Progress) + Send,
) -> Result<TableProgress> {
    let mut done = TableProgress::default();
    for column in table.columns {
        let mut report = |p: &Progress| on_progress(column.column, p);
        let progress = rewrap_column(
            db,
            table.target(column),
            column,
            None,
            quarantine,
            &mut report,
        )
        .await?;
        done.columns.push((column.column.to_owned(), progress));
    }
    Ok(done)
}

/// The check before a key is deleted: it is not the current key and `usage` (which must cover
/// every table) shows no value sealed under it.
pub(crate) fn ensure_retirable(
    usage: &KeyUsage,
    tenant: &str,
    key_id: u32,
    current: u32,
) -> Result<()> {
    if key_id == current {
        return Err(Error::KeyIsCurrent {
            tenant: tenant.to_owned(),
            key_id,
        });
    }
    usage.check_retirable(tenant, key_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope;

    #[test]
    fn heads_decode_to_key_ids_in_both_storages() {
        for id in [0, 1, 27, 70_000, u32::MAX] {
            let head = Header::prefix(id);
            assert_eq!(key_id_of(Storage::Binary, &head), Some(id));
            let b64 = envelope::to_base64(&head);
            assert_eq!(key_id_of(Storage::Base64, b64.as_bytes()), Some(id));
        }
        assert_eq!(
            key_id_of(Storage::Binary, &[1, 1, 0, 0, 0, 9]),
            Some(9),
            "version 1"
        );
        assert_eq!(key_id_of(Storage::Binary, b"plain!"), None);
        assert_eq!(key_id_of(Storage::Binary, b"ab"), None);
        assert_eq!(key_id_of(Storage::Base64, b"aGVsbG8h"), None);
    }

    #[test]
    fn a_key_in_use_or_current_is_not_retirable() {
        let mut usage = KeyUsage::empty();
        usage
            .values
            .insert(("acme".into(), "notes.body".into(), Some(1)), 2);
        usage
            .values
            .insert(("acme".into(), "notes.title".into(), Some(1)), 1);
        usage
            .values
            .insert(("ACME".into(), "notes.body".into(), Some(3)), 5);
        let err = ensure_retirable(&usage, "acme", 1, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 value(s)") && err.contains("notes.body, notes.title"),
            "{err}"
        );
        assert!(matches!(
            ensure_retirable(&usage, "acme", 2, 2),
            Err(Error::KeyIsCurrent { .. })
        ));
        // Another tenant's rows (a case variant) do not hold acme's key 3.
        ensure_retirable(&usage, "acme", 3, 2).unwrap();
    }
}
