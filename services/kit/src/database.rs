//! The services' database (feature `database`): a MySQL/TiDB URL goes through the Lockstep
//! driver (health-checked endpoints, a pool per endpoint, SeaORM over the one each call picks);
//! no URL means an embedded SQLite file, so a service runs on a fresh machine with nothing
//! installed.

use std::sync::Arc;

use lockstep_service_config::ServiceConfig;
use lockstep_tidb::Db;
use sea_orm::DatabaseConnection;

/// Why the database could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `database.url_env` names a variable that is not set.
    #[error("database.url_env: environment variable {0} is not set")]
    MissingUrl(String),
    /// The MySQL/TiDB URL or connection failed.
    #[error("database: {0}")]
    Tidb(#[from] lockstep_tidb::Error),
    /// SQLite or schema creation failed.
    #[error("database: {0}")]
    Sea(#[from] sea_orm::DbErr),
    /// The schema could not be brought up to date, or is behind while migrations are manual.
    #[error("database: {0}")]
    Migrate(#[from] crate::migration_error::MigrateError),
}

/// An open database.
#[derive(Clone, Debug)]
pub struct Database {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    /// The driver's handle on MySQL/TiDB.
    Tidb(Arc<Db>),
    /// SeaORM over the SQLite file.
    Sqlite(DatabaseConnection),
}

impl Database {
    /// Opens the database a service's config names: the URL in `database.url_env`, or the
    /// service's SQLite file.
    pub async fn open(service: &impl ServiceConfig) -> Result<Database, OpenError> {
        let config = service.database();
        let url = match &config.url_env {
            Some(var) => Some(std::env::var(var).map_err(|_| OpenError::MissingUrl(var.clone()))?),
            None => None,
        };
        Database::connect(
            url.as_deref(),
            service.sqlite_path(),
            config.max_connections,
        )
        .await
    }

    /// Opens a MySQL/TiDB `url`, or the SQLite file `sqlite_path` when `url` is `None`.
    pub async fn connect(
        url: Option<&str>,
        sqlite_path: &str,
        max_connections: u32,
    ) -> Result<Database, OpenError> {
        Ok(match url {
            Some(url) => {
                // The typed config's pool size holds for MySQL/TiDB too: it rolls out and back
                // with the revision, like every other setting.
                let mut options: lockstep_tidb::ConnectOptions = url.parse()?;
                if options.pool.min_connections > max_connections {
                    return Err(OpenError::Tidb(lockstep_tidb::Error::InvalidUrl {
                        url: lockstep_tidb::options::redact(url),
                        reason: format!(
                            "min-connections {} is over database.max_connections {max_connections}",
                            options.pool.min_connections
                        ),
                    }));
                }
                options.pool.max_connections = max_connections;
                let db = Db::connect_options(options).await?;
                Database {
                    backend: Backend::Tidb(Arc::new(db)),
                }
            }
            None => {
                let url = format!("sqlite://{sqlite_path}?mode=rwc");
                let mut options = sea_orm::ConnectOptions::new(url);
                options.max_connections(max_connections).sqlx_logging(false);
                Database {
                    backend: Backend::Sqlite(sea_orm::Database::connect(options).await?),
                }
            }
        })
    }

    /// SeaORM for one unit of work: on MySQL/TiDB over the pool of the healthy endpoint with
    /// the fewest busy connections (take it per request, do not keep it), on SQLite the file.
    pub fn conn(&self) -> DatabaseConnection {
        match &self.backend {
            Backend::Tidb(db) => db.sea_orm(),
            Backend::Sqlite(sqlite) => sqlite.clone(),
        }
    }

    /// The driver's handle, on MySQL/TiDB.
    pub fn tidb(&self) -> Option<&Arc<Db>> {
        match &self.backend {
            Backend::Tidb(db) => Some(db),
            Backend::Sqlite(_) => None,
        }
    }

    /// A retried SeaORM transaction: on MySQL/TiDB each attempt picks an endpoint (a retry
    /// after a lost connection goes to a healthy one), on SQLite it runs on the file.
    pub async fn transaction_with_retry<T, F>(
        &self,
        policy: &lockstep_tidb::RetryPolicy,
        work: F,
    ) -> Result<T, lockstep_tidb::Error>
    where
        F: for<'c> FnMut(
            &'c sea_orm::DatabaseTransaction,
        )
            -> futures::future::BoxFuture<'c, Result<T, lockstep_tidb::Error>>,
    {
        match &self.backend {
            Backend::Tidb(db) => db.sea_transaction_with_retry(policy, work).await,
            Backend::Sqlite(sqlite) => {
                lockstep_tidb::sea_transaction_with_retry(sqlite, policy, work).await
            }
        }
    }

    /// `(open, idle)` pool connections (over all endpoints on MySQL/TiDB).
    pub fn pool_state(&self) -> (i64, i64) {
        let (open, idle) = match &self.backend {
            Backend::Tidb(db) => db.pool_state(),
            Backend::Sqlite(sqlite) => {
                let pool = sqlite.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        (i64::from(open), i64::try_from(idle).unwrap_or(i64::MAX))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), String> {
        self.conn().ping().await.map_err(|e| e.to_string())
    }

    /// Creates the index `name` on `table`'s `columns` unless it exists (migrations are
    /// idempotent; see [`Database::create_index`]).
    pub async fn ensure_index(
        &self,
        name: &str,
        table: &str,
        columns: &[&str],
        unique: bool,
    ) -> Result<(), sea_orm::DbErr> {
        use sea_orm::sea_query::{Alias, Index};
        let mut index = Index::create();
        index.if_not_exists().name(name).table(Alias::new(table));
        if unique {
            index.unique();
        }
        for column in columns {
            index.col(Alias::new(*column));
        }
        self.create_index(&index).await
    }

    /// Runs a CREATE INDEX, treating "already exists" as done (MySQL has no IF NOT EXISTS for
    /// indexes; its error 1061 is "duplicate key name").
    pub async fn create_index(
        &self,
        index: &sea_orm::sea_query::IndexCreateStatement,
    ) -> Result<(), sea_orm::DbErr> {
        use sea_orm::ConnectionTrait;
        match self.conn().execute(index).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("1061") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The caller's own error `E` carried out of a retried transaction as `Error::Work` (the driver
/// never retries those), or the driver's error when it is something else.
pub fn work_error<E: std::error::Error + Send + Sync + 'static>(
    e: lockstep_tidb::Error,
) -> Result<E, lockstep_tidb::Error> {
    match e {
        lockstep_tidb::Error::Work(inner) => match inner.downcast::<E>() {
            Ok(own) => Ok(*own),
            Err(other) => Err(lockstep_tidb::Error::Work(other)),
        },
        other => Err(other),
    }
}
