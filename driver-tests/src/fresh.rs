//! A fresh database per test case, dropped afterwards, so cases never see each other's rows and
//! can run in parallel on one server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use lockstep_tidb::{Db, HealthCheck};
use sqlx::{AssertSqlSafe, Connection as _, MySqlConnection};

use crate::target::TargetKind;

/// What a test case gets.
#[derive(Debug)]
pub struct Ctx {
    /// The server family under test.
    pub kind: TargetKind,
    /// The admin URL of the server (no database).
    pub admin_url: String,
    /// This case's database name.
    pub database: String,
    /// URL of this case's database.
    pub url: String,
    /// A driver handle on this case's database.
    pub db: Db,
}

impl Ctx {
    /// A fresh plain connection to this case's database (for side sessions in a test).
    pub async fn connection(&self) -> anyhow::Result<MySqlConnection> {
        Ok(MySqlConnection::connect(&self.url).await?)
    }

    /// Runs several `;`-free statements in order.
    pub async fn exec_all(&self, statements: &[&str]) -> anyhow::Result<()> {
        for sql in statements {
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(self.db.pool())
                .await
                .with_context(|| format!("executing `{sql}`"))?;
        }
        Ok(())
    }

    /// Runs fixed statements in one transaction, retried under `policy`.
    pub async fn tx_exec(
        &self,
        policy: &lockstep_tidb::RetryPolicy,
        statements: &'static [&'static str],
    ) -> lockstep_tidb::Result<()> {
        self.db
            .transaction_with_policy(policy, |tx| {
                Box::pin(async move {
                    for sql in statements {
                        sqlx::query(*sql).execute(&mut *tx).await?;
                    }
                    Ok(())
                })
            })
            .await
    }
}

/// The body of a test case.
pub type CaseFn =
    std::sync::Arc<dyn Fn(Ctx) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// One test of a suite.
#[derive(Clone)]
pub struct Case {
    /// Suite name (`crud`, `types`, …).
    pub suite: &'static str,
    /// Case name.
    pub name: &'static str,
    /// The test body.
    pub run: CaseFn,
    /// The case changes server-wide settings (`SET GLOBAL …`): it runs alone, with no other
    /// case of this process in flight.
    pub exclusive: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Case({}::{})", self.suite, self.name)
    }
}

/// Builds a [`Case`] from an `async fn(Ctx) -> anyhow::Result<()>`.
#[macro_export]
macro_rules! case {
    ($suite:expr, $f:ident) => {
        $crate::fresh::Case {
            suite: $suite,
            name: stringify!($f),
            run: std::sync::Arc::new(|ctx| Box::pin($f(ctx))),
            exclusive: false,
        }
    };
    (exclusive $suite:expr, $f:ident) => {
        $crate::fresh::Case {
            exclusive: true,
            ..$crate::case!($suite, $f)
        }
    };
}

/// Cases share the servers; an exclusive one takes this for writing, the others for reading.
/// (`cargo test` runs one test binary at a time, so this covers every case of a run.)
static SERVER_WIDE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// `admin_url` with its database path replaced by `database`.
pub fn database_url(admin_url: &str, database: &str) -> String {
    let (scheme, rest) = admin_url.split_once("://").unwrap_or(("mysql", admin_url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    format!("{scheme}://{authority}/{database}{query}")
}

fn unique_name(kind: TargetKind, label: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // The unique part comes first so that truncation to MySQL's 64-byte limit keeps it.
    let mut name = format!("dt_{seq}_{nanos:x}_{}_{label}", kind.name());
    name.truncate(64);
    name
}

/// Creates a database for `case`, runs it, and drops the database whatever the outcome.
pub async fn run_case(kind: TargetKind, admin_url: &str, case: &Case) -> anyhow::Result<()> {
    let (_shared, _alone) = if case.exclusive {
        (None, Some(SERVER_WIDE.write().await))
    } else {
        (Some(SERVER_WIDE.read().await), None)
    };
    let run = case.run.clone();
    with_database(
        kind,
        admin_url,
        &format!("{}_{}", case.suite, case.name),
        move |ctx| run(ctx),
    )
    .await
}

/// Creates a fresh database named after `label`, hands `work` a [`Ctx`] on it, and drops the
/// database afterwards whatever the outcome.
pub async fn with_database<T>(
    kind: TargetKind,
    admin_url: &str,
    label: &str,
    work: impl FnOnce(Ctx) -> BoxFuture<'static, anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let database = unique_name(kind, label);
    let mut admin = MySqlConnection::connect(&database_url(admin_url, ""))
        .await
        .with_context(|| format!("connecting to the {kind} target"))?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    )))
    .execute(&mut admin)
    .await?;
    let url = database_url(admin_url, &database);
    let health = HealthCheck {
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        max_backoff: Duration::from_secs(2),
    };
    let outcome = async {
        let db = Db::connect_with(url.parse()?, health).await?;
        let ctx = Ctx {
            kind,
            admin_url: admin_url.to_owned(),
            database: database.clone(),
            url,
            db,
        };
        work(ctx).await
    }
    .await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE `{database}`")))
        .execute(&mut admin)
        .await;
    let value = outcome?;
    dropped.with_context(|| format!("dropping {database}"))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_the_path_only() {
        assert_eq!(
            database_url("mysql://root@h:3306/test", "x"),
            "mysql://root@h:3306/x"
        );
        assert_eq!(
            database_url("mysql://root@h:3306", "x"),
            "mysql://root@h:3306/x"
        );
        assert_eq!(
            database_url("tidb://u:p@a,b/db?ssl-mode=REQUIRED", "x"),
            "tidb://u:p@a,b/x?ssl-mode=REQUIRED"
        );
    }
}
