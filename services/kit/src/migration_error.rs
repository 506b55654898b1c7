//! Why migrating failed: apart from the migration runner so that the database handle (whose
//! open error wraps it) and the lock can name it without depending on the runner.

use std::time::Duration;

use sea_orm::DbErr;

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A migration failed; the ones before it are applied and recorded.
    #[error("migration {name} of {service} failed: {source}")]
    Failed {
        /// The service.
        service: String,
        /// The migration.
        name: &'static str,
        /// What the database said.
        source: DbErr,
    },
    /// Another replica held the migration lock for longer than the wait.
    #[error("another process is migrating {service}: lock not granted within {waited:?}")]
    Locked {
        /// The service.
        service: String,
        /// How long this one waited.
        waited: Duration,
    },
    /// Reading or writing the ledger failed.
    #[error("migration ledger: {0}")]
    Ledger(#[from] DbErr),
    /// Migrations are pending and the service was told not to run them (`database.migrate_on_start: false`).
    #[error("{service}: {} migration(s) pending ({}): run `{service} migrate` first", pending.len(), pending.join(", "))]
    Pending {
        /// The service.
        service: String,
        /// Their names.
        pending: Vec<String>,
    },
}
