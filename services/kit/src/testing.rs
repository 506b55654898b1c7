//! Test helpers (feature `testing`): the services' HTTP suites run on SQLite always, and on a
//! MySQL-protocol server given by URL — the same variables as the driver testbench.
//!
//! | variable | |
//! |---|---|
//! | `DRIVER_TESTS_MARIADB_URL`, `DRIVER_TESTS_MYSQL_URL`, `DRIVER_TESTS_TIDB_URL` | the first one set is used |
//! | `DRIVER_TESTS_OPT_OUT=1` | skip the server-backed tests, and say so |
//!
//! With none set, [`fresh_database`] panics: a suite never passes by silently skipping.

const VARS: [&str; 3] = [
    "DRIVER_TESTS_MARIADB_URL",
    "DRIVER_TESTS_MYSQL_URL",
    "DRIVER_TESTS_TIDB_URL",
];

/// A database made for one test.
#[derive(Debug)]
pub struct FreshDatabase {
    /// Its URL.
    pub url: String,
    server: String,
    name: String,
}

impl FreshDatabase {
    /// Drops it (call at the end of a passing test; a failing one leaves it to inspect).
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn drop_database(self) {
        use sqlx::Connection;
        let mut conn = sqlx::MySqlConnection::connect(&self.server)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", redact(&self.server)));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE `{}`",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("DROP DATABASE {}: {e}", self.name));
    }
}

/// A new, empty database named `<prefix>_<random>` on the configured server, or `None` when
/// the user opted out.
///
/// # Panics
/// When no server is configured (and no opt-out), or the database cannot be created.
pub async fn fresh_database(prefix: &str) -> Option<FreshDatabase> {
    use sqlx::Connection;
    if std::env::var("DRIVER_TESTS_OPT_OUT").is_ok_and(|v| v.trim() == "1") {
        // Written to the stderr handle, not with `eprintln!`: libtest captures the macro's output
        // of a passing test, and a skip must show in the CI log, never pass silently.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED DRIVER_TESTS_OPT_OUT=1: a {prefix} test on a MySQL server, not passed"
        );
        return None;
    }
    let Some(url) = VARS.iter().find_map(|v| std::env::var(v).ok()) else {
        panic!(
            "no MySQL-protocol server for the {prefix} tests: set DRIVER_TESTS_MARIADB_URL \
             (e.g. mysql://root@127.0.0.1:3306/test), DRIVER_TESTS_MYSQL_URL or \
             DRIVER_TESTS_TIDB_URL, or opt out with DRIVER_TESTS_OPT_OUT=1"
        );
    };
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::MySqlConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", redact(&url)));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    Some(FreshDatabase {
        url: with_database(&url, &name),
        server: url,
        name,
    })
}

/// `url` with its path (database) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| {
        i + 3 + base[i + 3..].find('/').unwrap_or(base.len() - i - 3)
    });
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_in_url() {
        assert_eq!(
            super::with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            super::with_database("mysql://u:p@h:1/test?ssl-mode=disabled", "x"),
            "mysql://u:p@h:1/x?ssl-mode=disabled"
        );
        assert_eq!(super::with_database("mysql://h:1", "x"), "mysql://h:1/x");
    }
}

pub mod openapi;

/// Rows of `table`, counted in the database (a test's truth, never an answer's word).
///
/// # Panics
/// When the count fails.
#[cfg(feature = "database")]
pub async fn count_rows(conn: &impl sea_orm::ConnectionTrait, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let statement = sea_orm::Statement::from_string(conn.get_database_backend(), sql);
    let row = conn
        .query_one_raw(statement)
        .await
        .expect("count rows")
        .expect("one row");
    row.try_get_by(0).expect("a count")
}

/// What a service binary's `check-config FILE` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// What it printed on stdout (`ok <hash>` on success).
    pub stdout: String,
    /// What it printed on stderr (the reason, naming the field).
    pub stderr: String,
}

/// Runs `binary check-config FILE` on `config` written to a fresh file, exactly as the
/// operator's preflight Job runs it (`rollout.preflight: {}`).
pub fn check_config(binary: &str, config: &str) -> CheckConfig {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("check-config-{}-{n}.yaml", std::process::id()));
    std::fs::write(&path, config).expect("write the config file");
    let out = std::process::Command::new(binary)
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run the binary");
    let _ = std::fs::remove_file(&path);
    CheckConfig {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
