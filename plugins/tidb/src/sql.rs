//! TiDB-specific SQL fragments, generated from typed arguments so nothing user-supplied is
//! spliced into SQL unchecked.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::server::ServerInfo;

/// Checks that `name` is a plain SQL identifier (letters, digits, `_`, `$`, not starting with a
/// digit, at most 64 bytes) and returns it back-quoted.
pub fn quote_ident(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(format!("`{name}`"))
    } else {
        Err(Error::InvalidArgument(format!(
            "`{name}` is not a plain SQL identifier"
        )))
    }
}

/// The column definition of a `BIGINT` primary key that spreads writes over TiKV regions.
///
/// On TiDB: `` `id` BIGINT PRIMARY KEY AUTO_RANDOM(shard_bits, range_bits) ``, which avoids the
/// write hotspot of `AUTO_INCREMENT`. Elsewhere: `AUTO_INCREMENT`, so the same schema code runs
/// on MySQL/MariaDB in tests. `shard_bits` must be 1–15 and `range_bits` 32–64 (TiDB's limits).
pub fn auto_random_pk(
    server: &ServerInfo,
    column: &str,
    shard_bits: u8,
    range_bits: u8,
) -> Result<String> {
    let column = quote_ident(column)?;
    if !(1..=15).contains(&shard_bits) || !(32..=64).contains(&range_bits) {
        return Err(Error::InvalidArgument(format!(
            "AUTO_RANDOM({shard_bits}, {range_bits}): shard bits must be 1-15, range bits 32-64"
        )));
    }
    Ok(if server.supports_auto_random() {
        format!("{column} BIGINT PRIMARY KEY AUTO_RANDOM({shard_bits}, {range_bits})")
    } else {
        format!("{column} BIGINT PRIMARY KEY AUTO_INCREMENT")
    })
}

/// Which snapshot a stale read sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    /// Data as of this long ago (`NOW() - INTERVAL n MICROSECOND`).
    Staleness(Duration),
    /// Data as of an exact timestamp, `YYYY-MM-DD HH:MM:SS[.ffffff]` in the session time zone.
    Timestamp(chrono::NaiveDateTime),
    /// The freshest data at most this old that TiDB can serve locally
    /// (`TIDB_BOUNDED_STALENESS(NOW() - INTERVAL n, NOW())`).
    BoundedStaleness(Duration),
}

impl AsOf {
    /// The expression after `AS OF TIMESTAMP`.
    pub fn expression(&self) -> String {
        match self {
            AsOf::Staleness(d) => format!("NOW(6) - INTERVAL {} MICROSECOND", d.as_micros()),
            AsOf::Timestamp(t) => format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f")),
            AsOf::BoundedStaleness(d) => format!(
                "TIDB_BOUNDED_STALENESS(NOW(6) - INTERVAL {} MICROSECOND, NOW(6))",
                d.as_micros()
            ),
        }
    }

    /// `AS OF TIMESTAMP <expr>`, to put after a table name in a `SELECT` on TiDB 5.1+; on any
    /// other server [`Error::Unsupported`] (spliced there it would be a syntax error).
    pub fn clause(&self, server: &ServerInfo) -> Result<String> {
        if !server.supports_stale_read() {
            return Err(Error::Unsupported {
                feature: "AS OF TIMESTAMP".into(),
                needs: "TiDB 5.1+",
                server: server.raw.clone(),
            });
        }
        Ok(format!("AS OF TIMESTAMP {}", self.expression()))
    }
}

/// The statement that opens a read-only transaction reading at `as_of`.
///
/// On servers without stale reads it opens a plain read-only transaction, which reads the
/// latest data (a stronger guarantee than asked for), and says so through the second value.
pub fn stale_read_begin(server: &ServerInfo, as_of: &AsOf) -> (String, bool) {
    if server.supports_stale_read() {
        (
            format!(
                "START TRANSACTION READ ONLY AS OF TIMESTAMP {}",
                as_of.expression()
            ),
            true,
        )
    } else {
        ("START TRANSACTION READ ONLY".to_owned(), false)
    }
}

/// Wraps a DML statement into TiDB's non-transactional `BATCH ON <column> LIMIT <n> <dml>`.
///
/// TiDB 6.1 runs `DELETE` this way; `INSERT`, `REPLACE` and `UPDATE` need 6.5. Anything else,
/// or an older or non-TiDB server, is refused with [`Error::Unsupported`] (callers on other
/// servers use [`crate::batch::delete_in_chunks`]).
pub fn batch_dml(server: &ServerInfo, shard_column: &str, limit: u32, dml: &str) -> Result<String> {
    let verb = dml
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let (needs, since) = match verb.as_str() {
        "DELETE" => ("TiDB 6.1+", (6, 1, 0)),
        "INSERT" | "REPLACE" | "UPDATE" => ("TiDB 6.5+", (6, 5, 0)),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "BATCH ON … LIMIT takes DELETE, INSERT, REPLACE or UPDATE, got `{verb}`"
            )));
        }
    };
    if !server.supports_batch_dml(since) {
        return Err(Error::Unsupported {
            feature: format!("BATCH ON … LIMIT {verb}"),
            needs,
            server: server.raw.clone(),
        });
    }
    if limit == 0 {
        return Err(Error::InvalidArgument(
            "batch limit must be at least 1".into(),
        ));
    }
    Ok(format!(
        "BATCH ON {} LIMIT {limit} {dml}",
        quote_ident(shard_column)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tidb() -> ServerInfo {
        ServerInfo::parse("8.0.11-TiDB-v7.5.1")
    }
    fn maria() -> ServerInfo {
        ServerInfo::parse("10.11.19-MariaDB")
    }

    #[test]
    fn identifiers_are_checked() {
        assert_eq!(quote_ident("album_id").unwrap(), "`album_id`");
        for bad in ["", "1abc", "a b", "a`;DROP", &"x".repeat(65)] {
            assert!(quote_ident(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auto_random_degrades_to_auto_increment() {
        assert_eq!(
            auto_random_pk(&tidb(), "id", 5, 54).unwrap(),
            "`id` BIGINT PRIMARY KEY AUTO_RANDOM(5, 54)"
        );
        assert_eq!(
            auto_random_pk(&maria(), "id", 5, 64).unwrap(),
            "`id` BIGINT PRIMARY KEY AUTO_INCREMENT"
        );
        assert!(auto_random_pk(&tidb(), "id", 0, 64).is_err());
        assert!(auto_random_pk(&tidb(), "id", 5, 20).is_err());
    }

    #[test]
    fn stale_read_statements() {
        let as_of = AsOf::Staleness(Duration::from_secs(5));
        assert_eq!(
            as_of.clause(&tidb()).unwrap(),
            "AS OF TIMESTAMP NOW(6) - INTERVAL 5000000 MICROSECOND"
        );
        let err = as_of.clause(&maria()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    needs: "TiDB 5.1+",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("10.11.19-MariaDB"), "{err}");
        let (sql, stale) = stale_read_begin(&tidb(), &as_of);
        assert!(stale);
        assert_eq!(
            sql,
            "START TRANSACTION READ ONLY AS OF TIMESTAMP NOW(6) - INTERVAL 5000000 MICROSECOND"
        );
        assert_eq!(
            stale_read_begin(&maria(), &as_of),
            ("START TRANSACTION READ ONLY".into(), false)
        );
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 6)
            .unwrap();
        assert_eq!(
            AsOf::Timestamp(t).expression(),
            "'2026-01-02 03:04:05.000006'"
        );
        assert!(
            AsOf::BoundedStaleness(Duration::from_millis(1))
                .expression()
                .starts_with("TIDB_BOUNDED_STALENESS(")
        );
    }

    #[test]
    fn batch_dml_only_on_new_tidb() {
        assert_eq!(
            batch_dml(&tidb(), "id", 1000, "DELETE FROM t WHERE v < 3").unwrap(),
            "BATCH ON `id` LIMIT 1000 DELETE FROM t WHERE v < 3"
        );
        assert!(matches!(
            batch_dml(&maria(), "id", 1000, "DELETE FROM t"),
            Err(Error::Unsupported { .. })
        ));
        assert!(batch_dml(&tidb(), "id", 0, "DELETE FROM t").is_err());
        // 6.1–6.4 run only DELETE non-transactionally.
        let v63 = ServerInfo::parse("5.7.25-TiDB-v6.3.0");
        assert!(batch_dml(&v63, "id", 10, "delete from t").is_ok());
        for dml in [
            "UPDATE t SET v = 1",
            "INSERT INTO t SELECT * FROM s",
            "REPLACE INTO t SELECT * FROM s",
        ] {
            let err = batch_dml(&v63, "id", 10, dml).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Unsupported {
                        needs: "TiDB 6.5+",
                        ..
                    }
                ),
                "{dml}: {err}"
            );
            assert!(batch_dml(&tidb(), "id", 10, dml).is_ok(), "{dml}");
        }
        assert!(matches!(
            batch_dml(&tidb(), "id", 10, "SELECT 1"),
            Err(Error::InvalidArgument(_))
        ));
    }
}
