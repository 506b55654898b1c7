//! Database-side guards for encrypted columns.
//!
//! The type system cannot stop a raw value from reaching an encrypted column: SeaORM's
//! `update_many().col_expr(col, Expr::value("plain"))` or a hand-written `UPDATE` writes what it
//! is given. [`sealed_check`] is a `CHECK` constraint that makes the database refuse any value
//! that does not start like an envelope of a version this crate opens, so such a write fails
//! and stores nothing. It stops mistakes, not an attacker who forges the six header bytes.
//! Enforced by SQLite, MariaDB ≥ 10.2 and MySQL ≥ 8.0.16; TiDB ignores `CHECK` unless
//! `tidb_enable_check_constraint` is on (TiDB ≥ 7.2).

use sea_orm::DatabaseBackend;

use crate::envelope::{ALG_AES_256_GCM, OVERHEAD, VERSION, VERSION_1};
use crate::error::Result;
use crate::jobs::{exact, ident};
use crate::value::Storage;

/// `CHECK (…)` for `column`: at least the 34-byte envelope overhead, a known version and the
/// AES-256-GCM algorithm byte — compared byte for byte (a case-insensitive collation would let
/// base64 `ag…` through). NULL passes, as `CHECK` always lets it.
pub fn sealed_check(backend: DatabaseBackend, column: &str, storage: Storage) -> Result<String> {
    let col = ident(column)?;
    Ok(match storage {
        Storage::Binary => format!(
            "CHECK (LENGTH({col}) >= {OVERHEAD} AND SUBSTR({col}, 1, 2) IN (X'{VERSION:02x}{ALG_AES_256_GCM:02x}', X'{VERSION_1:02x}{ALG_AES_256_GCM:02x}'))"
        ),
        Storage::Base64 => {
            use base64::Engine as _;
            let head = |v: u8| {
                base64::engine::general_purpose::STANDARD.encode([v, ALG_AES_256_GCM, 0])[..2]
                    .to_owned()
            };
            let expr = exact(backend, &format!("SUBSTR({col}, 1, 2)"));
            let (a, b) = (head(VERSION), head(VERSION_1));
            let (a, b) = match backend {
                DatabaseBackend::MySql => (
                    format!("CAST('{a}' AS BINARY)"),
                    format!("CAST('{b}' AS BINARY)"),
                ),
                _ => (format!("'{a}'"), format!("'{b}'")),
            };
            format!(
                "CHECK (LENGTH({col}) >= {} AND {expr} IN ({a}, {b}))",
                OVERHEAD.div_ceil(3) * 4
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_column_and_the_heads() {
        let binary = sealed_check(DatabaseBackend::Sqlite, "body", Storage::Binary).unwrap();
        assert_eq!(
            binary,
            "CHECK (LENGTH(body) >= 34 AND SUBSTR(body, 1, 2) IN (X'0201', X'0101'))"
        );
        let text = sealed_check(DatabaseBackend::MySql, "legacy", Storage::Base64).unwrap();
        assert!(
            text.contains("LENGTH(legacy) >= 48")
                && text.contains("CAST('Ag' AS BINARY)")
                && text.contains("CAST('AQ' AS BINARY)"),
            "{text}"
        );
        assert!(sealed_check(DatabaseBackend::Sqlite, "body; DROP", Storage::Binary).is_err());
    }
}
