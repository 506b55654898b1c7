//! Batch jobs over a table: re-encrypt under the current key after a rotation ([`rewrap`]), and
//! encrypt a column that still holds plaintext ([`encrypt_plaintext_rows`]).
//!
//! Both walk one tenant's rows in primary-key order in batches and write each row with a
//! compare-and-set (`UPDATE … WHERE pk = ? AND col = <old value>`), so a row changed by the
//! application in the meantime is left alone rather than overwritten. They are idempotent and
//! can be stopped at any point: run again (or pass `resume_after`) and they continue.
//!
//! Every comparison the jobs make — the tenant, the compare-and-set, the key-id prefix — is byte
//! for byte on every backend. MySQL, MariaDB and TiDB compare text under the column's collation,
//! usually case-insensitive and PAD SPACE: there `'Hello' = 'hello '` holds, so a compare-and-set
//! would overwrite a concurrent case-only edit, `'AgEAAAAB' <> 'AgEAAAAb'` (key 1 vs key 27 in
//! base64) would be false, and tenant `ACME`'s rows would be read as `acme`'s.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};

use crate::context::require;
use crate::digest::column_digest;
use crate::envelope::{self, Header};
use crate::error::{Error, Result};
use crate::value::{ColumnBinding, Storage};

/// Which rows a job touches. Names are plain identifiers (checked).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Table name.
    pub table: &'a str,
    /// Integer primary key column.
    pub pk: &'a str,
    /// Column holding the tenant id.
    pub tenant_column: &'a str,
    /// The encrypted column.
    pub column: &'a str,
    /// Rows per batch.
    pub batch: u64,
}

/// How far a job got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows looked at.
    pub scanned: u64,
    /// Rows written.
    pub written: u64,
    /// Rows changed concurrently and therefore left alone.
    pub skipped: u64,
    /// Highest primary key processed: pass it as `resume_after` to continue.
    pub last_pk: Option<i64>,
    /// Rows that could not be opened and were left as they are, by primary key (only with
    /// quarantine on; otherwise the first such row stops the job with [`Error::Row`]).
    pub quarantined: Vec<i64>,
}

pub(crate) fn ident(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(Error::Db(sea_orm::DbErr::Custom(format!(
            "`{name}` is not a plain identifier"
        ))))
    }
}

/// `expr` as the backend compares bytes: MySQL-family servers compare text under the column's
/// collation, so there it is cast to a binary string (`CAST … AS BINARY`, not the deprecated
/// `BINARY` operator). SQLite's default collation and PostgreSQL's deterministic ones already
/// compare bytes.
pub(crate) fn exact(backend: DatabaseBackend, expr: &str) -> String {
    match backend {
        DatabaseBackend::MySql => format!("CAST({expr} AS BINARY)"),
        _ => expr.to_owned(),
    }
}

/// The compare-and-set a job writes a row with: `new` where the column still holds exactly
/// `old`, byte for byte. Zero rows affected means the row changed meanwhile.
pub(crate) fn compare_and_set(
    backend: DatabaseBackend,
    target: Target<'_>,
    pk_value: i64,
    new: Value,
    old: Value,
) -> Result<Statement> {
    let (t, pk, col) = (
        ident(target.table)?,
        ident(target.pk)?,
        ident(target.column)?,
    );
    let sql = format!(
        "UPDATE {t} SET {col} = ? WHERE {pk} = ? AND {} = ?",
        exact(backend, col)
    );
    Ok(Statement::from_sql_and_values(
        backend,
        sql,
        [new, pk_value.into(), old],
    ))
}

fn stored_value(storage: Storage, envelope: &[u8]) -> Value {
    match storage {
        Storage::Binary => Value::Bytes(Some(envelope.to_vec())),
        Storage::Base64 => Value::String(Some(envelope::to_base64(envelope))),
    }
}

fn stored_bytes(storage: Storage, name: &str, row: &sea_orm::QueryResult) -> Result<Vec<u8>> {
    Ok(match storage {
        Storage::Binary => row.try_get_by::<Vec<u8>, _>(1)?,
        Storage::Base64 => envelope::from_base64(&row.try_get_by::<String, _>(1)?, name)?,
    })
}

/// Whether `err` means the stored value cannot be opened (as opposed to a database or key
/// provider failure, which must stop the job).
fn undecryptable(err: &Error) -> bool {
    matches!(
        err,
        Error::Authentication { .. } | Error::UnknownKeyId { .. } | Error::MalformedEnvelope { .. }
    )
}

/// For one row: `Some((new, old))` to write `new` where the column still holds `old`, `None` to
/// leave the row alone.
type Rewrite<'a> = dyn FnMut(&sea_orm::QueryResult) -> Result<Option<(Value, Value)>> + Send + 'a;

/// Walks the tenant's rows in primary-key order, batch by batch, and writes what `rewrite`
/// returns for a row as `(new, old)` with a compare-and-set. `filter` is extra SQL (with at
/// most one `?`, bound to `filter_value`) that narrows the rows read. A row `rewrite` fails on
/// stops the walk with [`Error::Row`] naming its primary key, or, with `quarantine`, is listed in
/// [`Progress::quarantined`] and left alone when it cannot be opened.
#[allow(clippy::too_many_arguments)]
async fn walk(
    db: &DatabaseConnection,
    target: Target<'_>,
    tenant: &str,
    filter: &str,
    filter_value: Option<Value>,
    resume_after: Option<i64>,
    quarantine: bool,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    rewrite: &mut Rewrite<'_>,
) -> Result<Progress> {
    let (t, pk, tc, col) = (
        ident(target.table)?,
        ident(target.pk)?,
        ident(target.tenant_column)?,
        ident(target.column)?,
    );
    let backend = db.get_database_backend();
    // `{tc} = ?` lets an index on the tenant column narrow the scan; the exact comparison then
    // drops case and trailing-space variants of the tenant id that the collation let through.
    let select = format!(
        "SELECT {pk}, {col} FROM {t} WHERE {tc} = ? AND {} = ? AND {pk} > ? AND {col} IS NOT NULL{filter} ORDER BY {pk} LIMIT {}",
        exact(backend, tc),
        target.batch.max(1)
    );
    let mut progress = Progress {
        last_pk: resume_after,
        ..Progress::default()
    };
    loop {
        let mut values: Vec<Value> = vec![
            tenant.into(),
            tenant.into(),
            progress.last_pk.unwrap_or(i64::MIN).into(),
        ];
        values.extend(filter_value.clone());
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, &select, values))
            .await?;
        if rows.is_empty() {
            return Ok(progress);
        }
        for row in &rows {
            let id: i64 = row.try_get_by(0)?;
            progress.scanned += 1;
            progress.last_pk = Some(id);
            let (new, old) = match rewrite(row) {
                Ok(Some(change)) => change,
                Ok(None) => continue,
                Err(e) if quarantine && undecryptable(&e) => {
                    tracing::warn!(table = target.table, pk = id, error = %e, "row quarantined");
                    progress.quarantined.push(id);
                    continue;
                }
                Err(e) => {
                    return Err(Error::Row {
                        table: target.table.to_owned(),
                        pk: id,
                        source: Box::new(e),
                    });
                }
            };
            let done = db
                .execute_raw(compare_and_set(backend, target, id, new, old)?)
                .await?;
            if done.rows_affected() == 1 {
                progress.written += 1;
            } else {
                progress.skipped += 1;
            }
        }
        on_progress(&progress);
    }
}

/// Re-encrypts the tenant-in-scope's rows whose envelope names another key id than the current
/// one. Rows are found by the key id in the envelope header, in SQL, so rows already on the
/// current key are never read. `on_progress` is called after every batch. A row that cannot be
/// opened stops the job with [`Error::Row`]; [`crate::retire::rewrap_table`] covers every
/// encrypted column of a table and can quarantine such rows instead.
pub async fn rewrap<C: ColumnBinding>(
    db: &DatabaseConnection,
    target: Target<'_>,
    resume_after: Option<i64>,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<Progress> {
    let column = crate::value::Column::of::<C>(target.column);
    rewrap_column(db, target, &column, resume_after, false, &mut on_progress).await
}

/// [`rewrap`] for a column described at run time. A row-bound column's row key is the job's
/// primary key.
pub(crate) async fn rewrap_column(
    db: &DatabaseConnection,
    target: Target<'_>,
    column: &crate::value::Column<'_>,
    resume_after: Option<i64>,
    quarantine: bool,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Progress> {
    let (name, storage, digest) = (
        column.binding,
        column.storage,
        column_digest(column.binding),
    );
    let scope = require(name)?;
    let keys = scope.keys();
    // What this keyring seals now: values already like it are left alone (with version 1
    // sealing, comparing against a version 2 head would rewrite every row on every run).
    let prefix = Header::prefix_of(keys.seal_version(), keys.current_key_id());
    let (head_len, current_head) = match storage {
        Storage::Binary => (6, Value::Bytes(Some(prefix.to_vec()))),
        Storage::Base64 => (8, Value::String(Some(envelope::to_base64(&prefix)))),
    };
    let head = format!("SUBSTR({}, 1, {head_len})", ident(target.column)?);
    let filter = format!(" AND {} <> ?", exact(db.get_database_backend(), &head));
    let mut rewrite = |row: &sea_orm::QueryResult| -> Result<Option<(Value, Value)>> {
        let old = stored_bytes(storage, name, row)?;
        let row_key = column
            .row_bound
            .then(|| row.try_get_by::<i64, _>(0).map(|id| id.to_string()))
            .transpose()?;
        let row_key = row_key.as_deref();
        let plain =
            zeroize::Zeroizing::new(envelope::open_digest(keys, name, &digest, row_key, &old)?);
        let new = envelope::seal_digest(keys, name, &digest, row_key, &plain)?;
        Ok(Some((
            stored_value(storage, &new),
            stored_value(storage, &old),
        )))
    };
    walk(
        db,
        target,
        scope.tenant(),
        &filter,
        Some(current_head),
        resume_after,
        quarantine,
        on_progress,
        &mut rewrite,
    )
    .await
}

/// Encrypts the tenant-in-scope's rows whose column does not hold an envelope yet (a table that
/// predates encryption). Values that parse as an envelope are left as they are.
pub async fn encrypt_plaintext_rows<C: ColumnBinding>(
    db: &DatabaseConnection,
    target: Target<'_>,
    resume_after: Option<i64>,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<Progress> {
    let scope = require(C::NAME)?;
    let mut rewrite = |row: &sea_orm::QueryResult| -> Result<Option<(Value, Value)>> {
        let (old, plain, is_envelope) = match C::STORAGE {
            Storage::Binary => {
                let bytes: Vec<u8> = row.try_get_by(1)?;
                // Damaged envelopes too: never sealed as if they were plaintext.
                let is_envelope = envelope::may_be_envelope(&bytes);
                (Value::Bytes(Some(bytes.clone())), bytes, is_envelope)
            }
            Storage::Base64 => {
                let text: String = row.try_get_by(1)?;
                let is_envelope = envelope::may_be_envelope_text(&text);
                (
                    Value::String(Some(text.clone())),
                    text.into_bytes(),
                    is_envelope,
                )
            }
        };
        if is_envelope {
            return Ok(None);
        }
        let sealed = envelope::seal(scope.keys(), C::NAME, &plain)?;
        Ok(Some((stored_value(C::STORAGE, &sealed), old)))
    };
    walk(
        db,
        target,
        scope.tenant(),
        "",
        None,
        resume_after,
        false,
        &mut on_progress,
        &mut rewrite,
    )
    .await
}

/// Moves a column that became row-bound ([`ColumnBinding::ROW_KEY`]) over: every value of the
/// tenant in scope that does not open bound to its row (the job's primary key) is opened as
/// sealed before row binding and sealed again for its row. Read with
/// [`crate::Keyring::allow_unbound_rows`] until it has run and writes 0, then turn that off.
pub async fn bind_rows<C: ColumnBinding>(
    db: &DatabaseConnection,
    target: Target<'_>,
    resume_after: Option<i64>,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<Progress> {
    if C::ROW_KEY.is_none() {
        return Err(Error::Encode {
            place: crate::error::Place {
                tenant: String::new(),
                column: C::NAME.into(),
            },
            reason: "the column is not row-bound".into(),
        });
    }
    let scope = require(C::NAME)?;
    let keys = scope.keys();
    let mut rewrite = |row: &sea_orm::QueryResult| -> Result<Option<(Value, Value)>> {
        let old = stored_bytes(C::STORAGE, C::NAME, row)?;
        let id = row.try_get_by::<i64, _>(0)?.to_string();
        let bound = envelope::open_digest(keys, C::NAME, &C::DIGEST, Some(&id), &old);
        if bound.is_ok() {
            return Ok(None);
        }
        let plain = zeroize::Zeroizing::new(envelope::open_digest(
            keys,
            C::NAME,
            &C::DIGEST,
            None,
            &old,
        )?);
        let new = envelope::seal_digest(keys, C::NAME, &C::DIGEST, Some(&id), &plain)?;
        Ok(Some((
            stored_value(C::STORAGE, &new),
            stored_value(C::STORAGE, &old),
        )))
    };
    walk(
        db,
        target,
        scope.tenant(),
        "",
        None,
        resume_after,
        false,
        &mut on_progress,
        &mut rewrite,
    )
    .await
}
