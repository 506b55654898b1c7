//! Schema migrations that survive a rollback (feature `database`).
//!
//! Lockstep rolls a service back by running the previous image against the same database. So
//! a migration must leave a schema the previous release still works with (add, never drop or
//! rename, in the release that needs it), and the runner of an older binary must accept a
//! ledger written by a newer one. sea-orm-migration 2.0 does not: it refuses to run when the
//! ledger records a migration the binary lacks ("… has been applied but its file is missing"),
//! so the rolled-back pods would never start. This runner instead reports such rows and goes on.
//!
//! * The ledger is `lockstep_migrations (service, name, applied_at)`; services may share a
//!   database.
//! * Migrations run in the order given, each once. MySQL-family DDL commits on its own, so a
//!   crash between a migration and its ledger row runs it again: every migration is idempotent
//!   (`IF NOT EXISTS`, or checks what it changes), and the tests run each one twice.
//! * On MySQL/TiDB, replicas starting together serialise on `GET_LOCK('lockstep_migrate_<service>')`,
//!   held on a connection of its own for the whole run. An embedded SQLite file belongs to one
//!   process.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

use crate::database::{Database, OpenError};
pub use crate::migration_error::MigrateError;

/// What a migration's step returns: a future borrowing the database.
pub type Step<'a> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 'a>>;

/// One schema change: a stable `name` (recorded in the ledger; never renamed) and its step.
#[derive(Clone, Copy)]
pub struct Migration {
    /// `0001_albums`, …: sorted by the order they must run in.
    pub name: &'static str,
    /// The change. Must be idempotent (see the module docs).
    pub up: for<'a> fn(&'a Database) -> Step<'a>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("name", &self.name)
            .finish()
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Applied now, in order.
    pub applied: Vec<String>,
    /// Already in the ledger.
    pub already: Vec<String>,
    /// In the ledger but unknown to this binary: applied by a newer release (this one is a
    /// rollback). Left alone.
    pub newer: Vec<String>,
}

impl std::fmt::Display for Report {
    /// One line per migration, for the `migrate` subcommand.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for name in &self.already {
            writeln!(f, "already applied  {name}")?;
        }
        for name in &self.applied {
            writeln!(f, "applied          {name}")?;
        }
        for name in &self.newer {
            writeln!(f, "newer release's  {name} (left alone)")?;
        }
        Ok(())
    }
}

/// How long a replica waits for another one's migration run.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

const LEDGER: &str = "lockstep_migrations";

async fn ensure_ledger(db: &Database) -> Result<(), DbErr> {
    let time = match db.conn().get_database_backend() {
        DatabaseBackend::Sqlite => "TEXT",
        _ => "DATETIME(6)",
    };
    db.conn()
        .execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {LEDGER} (service VARCHAR(64) NOT NULL, \
             name VARCHAR(200) NOT NULL, applied_at {time} NOT NULL, PRIMARY KEY (service, name))"
        ))
        .await?;
    Ok(())
}

/// The ledger's names for `service`.
async fn recorded(db: &Database, service: &str) -> Result<Vec<String>, DbErr> {
    let backend = db.conn().get_database_backend();
    let rows = db
        .conn()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT name FROM {LEDGER} WHERE service = ? ORDER BY name"),
            [service.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get_by::<String, _>(0))
        .collect()
}

/// The migrations of `migrations` not in the ledger yet (for `migrate_on_start: false`).
pub async fn pending(
    db: &Database,
    service: &str,
    migrations: &[Migration],
) -> Result<Vec<String>, DbErr> {
    ensure_ledger(db).await?;
    let done = recorded(db, service).await?;
    Ok(migrations
        .iter()
        .filter(|m| !done.iter().any(|d| d == m.name))
        .map(|m| m.name.to_owned())
        .collect())
}

/// Fails with [`MigrateError::Pending`] unless every migration is recorded.
pub async fn require_current(
    db: &Database,
    service: &str,
    migrations: &[Migration],
) -> Result<(), MigrateError> {
    let pending = pending(db, service, migrations).await?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Pending {
            service: service.to_owned(),
            pending,
        })
    }
}

/// Applies what is pending, in order, under the service's lock.
pub async fn run(
    db: &Database,
    service: &str,
    migrations: &[Migration],
) -> Result<Report, MigrateError> {
    run_waiting(db, service, migrations, LOCK_WAIT).await
}

/// [`run`] with another lock wait (tests).
pub async fn run_waiting(
    db: &Database,
    service: &str,
    migrations: &[Migration],
    wait: Duration,
) -> Result<Report, MigrateError> {
    ensure_ledger(db).await?;
    let lock = crate::migrate_lock::Lock::take(db, service, wait).await?;
    let outcome = apply(db, service, migrations).await;
    lock.release().await;
    outcome
}

async fn apply(
    db: &Database,
    service: &str,
    migrations: &[Migration],
) -> Result<Report, MigrateError> {
    let done = recorded(db, service).await?;
    let mut report = Report {
        newer: done
            .iter()
            .filter(|d| !migrations.iter().any(|m| m.name == d.as_str()))
            .cloned()
            .collect(),
        ..Report::default()
    };
    if !report.newer.is_empty() {
        tracing::warn!(service, newer = ?report.newer,
            "the schema has migrations of a newer release (this binary is a rollback); leaving them");
    }
    let backend = db.conn().get_database_backend();
    for migration in migrations {
        if done.iter().any(|d| d == migration.name) {
            report.already.push(migration.name.to_owned());
            continue;
        }
        let failed = |source| MigrateError::Failed {
            service: service.to_owned(),
            name: migration.name,
            source,
        };
        (migration.up)(db).await.map_err(failed)?;
        db.conn()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!("INSERT INTO {LEDGER} (service, name, applied_at) VALUES (?, ?, ?)"),
                [
                    service.into(),
                    migration.name.into(),
                    chrono::Utc::now().into(),
                ],
            ))
            .await
            .map_err(failed)?;
        tracing::info!(service, migration = migration.name, "applied");
        report.applied.push(migration.name.to_owned());
    }
    Ok(report)
}

/// Brings the schema up to date (`migrate_on_start`), or checks that it is (see
/// this module).
pub async fn prepare_schema(
    db: &Database,
    service: &str,
    migrations: &[Migration],
    migrate_on_start: bool,
) -> Result<(), OpenError> {
    if migrate_on_start {
        run(db, service, migrations).await?;
    } else {
        require_current(db, service, migrations).await?;
    }
    Ok(())
}

/// Why the `migrate` subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateCommandError {
    /// The config file.
    #[error(transparent)]
    Config(#[from] crate::config::LoadError),
    /// The database or a migration.
    #[error("migrating: {0}")]
    Open(#[from] OpenError),
}

/// The services' `migrate` subcommand: loads the config (`path`, or the built-in defaults),
/// opens the database it names, applies what is pending and prints what it did (for
/// `migrate_on_start: false`, from a Job or a pipeline step).
pub async fn migrate_command<C: lockstep_service_config::ServiceConfig + Default>(
    path: Option<&str>,
    service: &str,
    migrations: &[Migration],
) -> Result<(), MigrateCommandError> {
    let loaded = crate::config::load_or_default::<C>(path)?;
    let db = Database::open(&loaded.config).await?;
    let report = run(&db, service, migrations)
        .await
        .map_err(OpenError::from)?;
    print!("{report}");
    Ok(())
}
