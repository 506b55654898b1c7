//! Server detection from `SELECT VERSION()`.
//!
//! TiDB reports a MySQL-compatible version with its own appended (`8.0.11-TiDB-v7.5.1`), so one
//! query tells the driver whether TiDB-only SQL (`BEGIN PESSIMISTIC`, `AS OF TIMESTAMP`,
//! `BATCH ON … LIMIT`, `AUTO_RANDOM`) may be used, or whether to degrade to plain MySQL.

/// Which server family answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// PingCAP TiDB.
    Tidb,
    /// MariaDB.
    MariaDb,
    /// MySQL or another compatible server.
    MySql,
}

/// What the driver knows about the server it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The family.
    pub kind: ServerKind,
    /// The family's own version (TiDB's, not the MySQL version it emulates).
    pub version: (u32, u32, u32),
    /// `VERSION()` as reported.
    pub raw: String,
}

impl ServerInfo {
    /// Parses the result of `SELECT VERSION()`.
    pub fn parse(raw: &str) -> ServerInfo {
        let (kind, version_text) = match raw.find("-TiDB-") {
            Some(at) => (
                ServerKind::Tidb,
                raw[at + "-TiDB-".len()..].trim_start_matches('v'),
            ),
            None if raw.contains("MariaDB") => (ServerKind::MariaDb, raw),
            None => (ServerKind::MySql, raw),
        };
        ServerInfo {
            kind,
            version: leading_version(version_text),
            raw: raw.to_owned(),
        }
    }

    /// True on TiDB.
    pub fn is_tidb(&self) -> bool {
        self.kind == ServerKind::Tidb
    }

    fn tidb_at_least(&self, min: (u32, u32, u32)) -> bool {
        self.is_tidb() && self.version >= min
    }

    /// `AS OF TIMESTAMP` stale reads (TiDB 5.1+).
    pub fn supports_stale_read(&self) -> bool {
        self.tidb_at_least((5, 1, 0))
    }

    /// Non-transactional `BATCH ON … LIMIT` DML for a statement kind that TiDB has run that
    /// way since `since` (`DELETE` 6.1, `INSERT`/`REPLACE`/`UPDATE` 6.5).
    pub fn supports_batch_dml(&self, since: (u32, u32, u32)) -> bool {
        self.tidb_at_least(since.max((6, 1, 0)))
    }

    /// `AUTO_RANDOM` primary keys (TiDB 3.1+).
    pub fn supports_auto_random(&self) -> bool {
        self.tidb_at_least((3, 1, 0))
    }
}

/// Reads `major.minor.patch` from the start of `text`; missing parts are 0.
fn leading_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_server_families_and_versions() {
        let table = [
            ("8.0.11-TiDB-v7.5.1", ServerKind::Tidb, (7, 5, 1)),
            ("5.7.25-TiDB-v6.5.0-serverless", ServerKind::Tidb, (6, 5, 0)),
            (
                "8.0.11-TiDB-v8.5.0-alpha-12-gdeadbeef",
                ServerKind::Tidb,
                (8, 5, 0),
            ),
            (
                "10.11.19-MariaDB-0+deb12u1",
                ServerKind::MariaDb,
                (10, 11, 19),
            ),
            ("11.4.2-MariaDB-ubu2404", ServerKind::MariaDb, (11, 4, 2)),
            ("8.4.3", ServerKind::MySql, (8, 4, 3)),
            ("garbage", ServerKind::MySql, (0, 0, 0)),
        ];
        for (raw, kind, version) in table {
            let info = ServerInfo::parse(raw);
            assert_eq!((info.kind, info.version), (kind, version), "{raw}");
        }
    }

    #[test]
    fn features_follow_tidb_versions() {
        let old = ServerInfo::parse("5.7.25-TiDB-v5.0.6");
        let new = ServerInfo::parse("8.0.11-TiDB-v7.5.1");
        let maria = ServerInfo::parse("10.11.19-MariaDB");
        assert!(!old.supports_stale_read() && !old.supports_batch_dml((6, 1, 0)));
        assert!(old.supports_auto_random());
        assert!(new.supports_stale_read() && new.supports_batch_dml((6, 5, 0)));
        assert!(!maria.supports_stale_read() && !maria.supports_auto_random());
    }
}
