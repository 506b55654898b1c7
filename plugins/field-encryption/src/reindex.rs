//! Rewriting a blind-index column after its [`IndexSpec`](crate::blind::IndexSpec) changed
//! (version 2: tenant-bound, normalised): each row's index is recomputed from its opened value.
//!
//! Like the other jobs it walks the tenant-in-scope's rows in primary-key order and writes with
//! a compare-and-set — here on both the index and the value, byte for byte — so a row the
//! application changed meanwhile (which then already carries a new index) is left alone. Run it
//! until it writes 0; search with [`BlindIndex::search_terms`](crate::BlindIndex::search_terms)
//! until then.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use crate::blind::BlindIndex;
use crate::context::require;
use crate::envelope;
use crate::error::{Error, Result};
use crate::jobs::{Progress, Target, exact, ident};
use crate::value::{ColumnBinding, Plaintext, Storage};

/// Recomputes `index_column` from the sealed `target.column` for every row of the tenant in
/// scope whose index differs from what `C`'s current spec gives. `T` is the field's type.
pub async fn reindex<T: Plaintext, C: ColumnBinding>(
    db: &DatabaseConnection,
    target: Target<'_>,
    index_column: &str,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<Progress> {
    let scope = require(C::NAME)?;
    let keys = scope.keys();
    let backend = db.get_database_backend();
    let (t, pk, tc, col, idx) = (
        ident(target.table)?,
        ident(target.pk)?,
        ident(target.tenant_column)?,
        ident(target.column)?,
        ident(index_column)?,
    );
    let select = format!(
        "SELECT {pk}, {col}, {idx} FROM {t} WHERE {tc} = ? AND {} = ? AND {pk} > ? AND {col} IS NOT NULL ORDER BY {pk} LIMIT {}",
        exact(backend, tc),
        target.batch.max(1)
    );
    let update = format!(
        "UPDATE {t} SET {idx} = ? WHERE {pk} = ? AND {} = ? AND {} = ?",
        exact(backend, idx),
        exact(backend, col)
    );
    // A NULL index (a row written before the column had one) is compared with `IS NULL`:
    // `= NULL` is never true, so such rows were never filled.
    let fill = format!(
        "UPDATE {t} SET {idx} = ? WHERE {pk} = ? AND {idx} IS NULL AND {} = ?",
        exact(backend, col)
    );
    let mut progress = Progress::default();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                &select,
                [
                    scope.tenant().into(),
                    scope.tenant().into(),
                    progress.last_pk.unwrap_or(i64::MIN).into(),
                ],
            ))
            .await?;
        if rows.is_empty() {
            return Ok(progress);
        }
        for row in &rows {
            let id: i64 = row.try_get_by(0)?;
            progress.scanned += 1;
            progress.last_pk = Some(id);
            let (stored, sealed): (Value, Vec<u8>) = match C::STORAGE {
                Storage::Binary => {
                    let bytes: Vec<u8> = row.try_get_by(1)?;
                    (bytes.clone().into(), bytes)
                }
                Storage::Base64 => {
                    let text: String = row.try_get_by(1)?;
                    let bytes = envelope::from_base64(&text, C::NAME)?;
                    (text.into(), bytes)
                }
            };
            let old_index: Option<Vec<u8>> = row.try_get_by(2)?;
            let row_key = C::ROW_KEY.map(|_| id.to_string());
            let fresh =
                envelope::open_digest(keys, C::NAME, &C::DIGEST, row_key.as_deref(), &sealed)
                    .and_then(|plain| {
                        T::from_bytes(plain).map_err(|reason| Error::Decode {
                            place: crate::error::Place {
                                tenant: keys.tenant().into(),
                                column: C::NAME.into(),
                            },
                            reason,
                        })
                    })
                    .and_then(|value| BlindIndex::<C>::with(keys, &value))
                    .map_err(|e| Error::Row {
                        table: target.table.to_owned(),
                        pk: id,
                        source: Box::new(e),
                    })?;
            if old_index.as_deref() == Some(&fresh.as_bytes()[..]) {
                continue;
            }
            let statement = match old_index {
                Some(old) => Statement::from_sql_and_values(
                    backend,
                    &update,
                    [fresh.into(), id.into(), old.into(), stored],
                ),
                None => Statement::from_sql_and_values(
                    backend,
                    &fill,
                    [fresh.into(), id.into(), stored],
                ),
            };
            let done = db.execute_raw(statement).await?;
            if done.rows_affected() == 1 {
                progress.written += 1;
            } else {
                progress.skipped += 1;
            }
        }
        on_progress(&progress);
    }
}
