//! Users in SQL (MySQL/TiDB through the Lockstep driver, or an embedded SQLite file), the
//! schema as migrations. Tenant and name compare byte for byte on every backend.

use std::sync::Arc;

use lockstep_service_config::UserConfig;
use lockstep_service_kit::database::{Database, OpenError};
use lockstep_service_kit::idempotency::{self, Answer, InClear, Once};
use lockstep_service_kit::migrate::prepare_schema;
use lockstep_service_kit::migrate::{Migration, Step};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, SqlErr, Statement};

use crate::domain::{DomainError, User, UserStore};

/// The service's name in the migration ledger.
pub const SERVICE: &str = "user-service";

/// Every migration, in order (append only; see `lockstep_service_kit::migrate`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_users",
        up: users,
    },
    Migration {
        name: "0002_idempotency_keys",
        up: idempotency::create_table,
    },
];

fn users(db: &Database) -> Step<'_> {
    Box::pin(async move {
        let (id, text, time) = match db.conn().get_database_backend() {
            DatabaseBackend::Sqlite => (
                "id INTEGER PRIMARY KEY AUTOINCREMENT",
                "VARCHAR(64)",
                "TEXT",
            ),
            // ASCII and binary: `ACME` is not `acme`, on MySQL-family servers too.
            _ => (
                "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
                "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin",
                "DATETIME(6)",
            ),
        };
        db.conn()
            .execute_unprepared(&format!(
                "CREATE TABLE IF NOT EXISTS users ({id}, tenant {text} NOT NULL, \
                 username {text} NOT NULL, password_hash VARCHAR(255) NOT NULL, \
                 created_at {time} NOT NULL)"
            ))
            .await?;
        db.ensure_index(
            "users_tenant_username",
            "users",
            &["tenant", "username"],
            true,
        )
        .await
    })
}

/// The SeaORM store.
#[derive(Clone, Debug)]
pub struct SeaStore {
    db: Database,
    policy: Arc<lockstep_tidb::RetryPolicy>,
}

fn storage(e: impl std::fmt::Display) -> DomainError {
    DomainError::Storage(e.to_string())
}

impl SeaStore {
    /// Opens the database `config` names and migrates it (or checks it is current).
    pub async fn open(config: &UserConfig) -> Result<SeaStore, OpenError> {
        let db = Database::open(config).await?;
        prepare_schema(&db, SERVICE, MIGRATIONS, config.database.migrate_on_start).await?;
        Ok(SeaStore::on(db))
    }

    /// A MySQL/TiDB `url`, or the SQLite file `sqlite_path`; migrated.
    pub async fn connect(url: Option<&str>, sqlite_path: &str) -> Result<SeaStore, OpenError> {
        let db = Database::connect(url, sqlite_path, 4).await?;
        prepare_schema(&db, SERVICE, MIGRATIONS, true).await?;
        Ok(SeaStore::on(db))
    }

    /// With the driver's retry policy (the URL's attempt time-out and budget).
    fn on(db: Database) -> SeaStore {
        let policy = db
            .tidb()
            .as_ref()
            .map_or_else(lockstep_tidb::RetryPolicy::default, |tidb| {
                tidb.retry_policy()
            });
        SeaStore {
            db,
            policy: Arc::new(policy),
        }
    }

    /// The connection (tests count rows; the key sweeper).
    pub fn connection(&self) -> sea_orm::DatabaseConnection {
        self.db.conn()
    }

    fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(self.db.conn().get_database_backend(), sql, values)
    }
}

fn from_txn(e: lockstep_tidb::Error) -> DomainError {
    lockstep_service_kit::database::work_error::<DomainError>(e).unwrap_or_else(storage)
}

impl UserStore for SeaStore {
    async fn insert(
        &self,
        tenant: &str,
        username: &str,
        password_hash: &str,
        once: Option<&Once<User>>,
    ) -> Result<Answer<User>, DomainError> {
        let backend = self.db.conn().get_database_backend();
        let insert = || {
            self.db.transaction_with_retry(&self.policy, |txn| {
                let user = User {
                    id: 0,
                    tenant: tenant.to_owned(),
                    username: username.to_owned(),
                    password_hash: password_hash.to_owned(),
                    created_at: lockstep_service_kit::time::now(),
                };
                let once = once.cloned();
                Box::pin(async move {
                    let sql = "INSERT INTO users (tenant, username, password_hash, created_at) \
                               VALUES (?, ?, ?, ?)";
                    let values = vec![
                        user.tenant.clone().into(),
                        user.username.clone().into(),
                        user.password_hash.clone().into(),
                        user.created_at.into(),
                    ];
                    let done = match txn
                        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                        .await
                    {
                        Ok(done) => done,
                        Err(e)
                            if matches!(
                                e.sql_err(),
                                Some(SqlErr::UniqueConstraintViolation(_))
                            ) =>
                        {
                            return Err(lockstep_tidb::Error::Work(Box::new(
                                DomainError::Exists {
                                    tenant: user.tenant,
                                    username: user.username,
                                },
                            )));
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let id = i64::try_from(done.last_insert_id())
                        .map_err(|e| DbErr::Custom(e.to_string()))?;
                    let user = User { id, ..user };
                    idempotency::remember(txn, once.as_ref(), &user, &InClear).await?;
                    Ok(user)
                })
            })
        };
        idempotency::run(&self.db.conn(), once, &InClear, insert, from_txn).await
    }

    async fn find(&self, tenant: &str, username: &str) -> Result<Option<User>, DomainError> {
        let row = self
            .db
            .conn()
            .query_one_raw(self.statement(
                "SELECT id, password_hash, created_at FROM users WHERE tenant = ? AND username = ?",
                vec![tenant.into(), username.into()],
            ))
            .await
            .map_err(storage)?;
        row.map(|row| {
            Ok(User {
                id: row.try_get_by(0).map_err(storage)?,
                tenant: tenant.to_owned(),
                username: username.to_owned(),
                password_hash: row.try_get_by(1).map_err(storage)?,
                created_at: row.try_get_by(2).map_err(storage)?,
            })
        })
        .transpose()
    }
}

impl lockstep_service_kit::http::Probe for SeaStore {
    async fn ping(&self) -> Result<(), String> {
        self.db.ping().await
    }

    fn pool_state(&self) -> (i64, i64) {
        self.db.pool_state()
    }
}
