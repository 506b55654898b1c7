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

/// `CHECK (…)` for `column`: the whole shape of an envelope.
///
/// Binary: at least the 34-byte envelope overhead, a known version and the AES-256-GCM
/// algorithm byte, compared byte for byte.
///
/// Base64: the text is Base64 and nothing else — only `A–Z a–z 0–9 + /`, at most two `=` and
/// only at the end, a length that is a multiple of 4 and at least the overhead's 48 characters —
/// and its first three characters are those of a known version, the algorithm byte and a key
/// id (`AgE`–`AgH`, `AQE`–`AQH`), compared byte for byte (a case-insensitive collation would
/// let `agE…` through). Checking two characters and a length let any plaintext that happened to
/// start with `Ag`/`AQ` in: `update_many` and raw `UPDATE`s with plaintext stored it verbatim.
///
/// NULL passes, as `CHECK` always lets it. The per-backend DDL is in the tests below and in the
/// README (*The database refuses plaintext*).
pub fn sealed_check(backend: DatabaseBackend, column: &str, storage: Storage) -> Result<String> {
    let col = ident(column)?;
    Ok(match storage {
        Storage::Binary => format!(
            "CHECK (LENGTH({col}) >= {OVERHEAD} AND SUBSTR({col}, 1, 2) IN (X'{VERSION:02x}{ALG_AES_256_GCM:02x}', X'{VERSION_1:02x}{ALG_AES_256_GCM:02x}'))"
        ),
        Storage::Base64 => {
            let heads: Vec<String> = base64_heads()
                .iter()
                .map(|h| match backend {
                    DatabaseBackend::MySql => format!("CAST('{h}' AS BINARY)"),
                    _ => format!("'{h}'"),
                })
                .collect();
            let head = exact(backend, &format!("SUBSTR({col}, 1, 3)"));
            let alphabet = match backend {
                // GLOB is case-sensitive; `=` only as the last one or two characters.
                DatabaseBackend::Sqlite => format!(
                    "NOT ({col} GLOB '*[^A-Za-z0-9+/=]*') AND NOT (RTRIM({col}, '=') GLOB '*=*') \
                     AND LENGTH({col}) - LENGTH(RTRIM({col}, '=')) <= 2"
                ),
                // Both letter cases are in the class, so the column's collation cannot widen it.
                _ => format!("{col} REGEXP '^[A-Za-z0-9+/]+={{0,2}}$'"),
            };
            format!(
                "CHECK (LENGTH({col}) >= {} AND LENGTH({col}) % 4 = 0 AND {alphabet} AND {head} IN ({}))",
                OVERHEAD.div_ceil(3) * 4,
                heads.join(", ")
            )
        }
    })
}

/// The first three Base64 characters of every envelope: version, algorithm, and the top two
/// bits of the key id's first byte (any).
fn base64_heads() -> Vec<String> {
    use base64::Engine as _;
    [VERSION, VERSION_1]
        .iter()
        .flat_map(|v| {
            [0u8, 0x40, 0x80, 0xc0].map(|k| {
                base64::engine::general_purpose::STANDARD.encode([*v, ALG_AES_256_GCM, k])[..3]
                    .to_owned()
            })
        })
        .collect()
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
        for part in [
            "LENGTH(legacy) >= 48",
            "LENGTH(legacy) % 4 = 0",
            "legacy REGEXP '^[A-Za-z0-9+/]+={0,2}$'",
            "CAST(SUBSTR(legacy, 1, 3) AS BINARY) IN (CAST('AgE' AS BINARY), CAST('AgF' AS BINARY), CAST('AgG' AS BINARY), CAST('AgH' AS BINARY), CAST('AQE' AS BINARY)",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        let sqlite = sealed_check(DatabaseBackend::Sqlite, "legacy", Storage::Base64).unwrap();
        assert!(
            sqlite.contains("NOT (legacy GLOB '*[^A-Za-z0-9+/=]*')"),
            "{sqlite}"
        );
        assert!(sealed_check(DatabaseBackend::Sqlite, "body; DROP", Storage::Binary).is_err());
    }

    #[test]
    fn every_envelope_head_is_listed() {
        let heads = base64_heads();
        for key_id in [0u32, 1, 63, 64, 1 << 24, 0xffff_ffff] {
            for version in [VERSION, VERSION_1] {
                let mut env = vec![version, ALG_AES_256_GCM];
                env.extend(key_id.to_be_bytes());
                let text = crate::envelope::to_base64(&env);
                assert!(heads.contains(&text[..3].to_owned()), "{text}");
            }
        }
    }
}
