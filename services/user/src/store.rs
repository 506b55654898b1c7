//! Users in SQL (MySQL/TiDB through the Lockstep driver, or an embedded SQLite file), the
//! schema as migrations. Tenant and name compare byte for byte on every backend.

use chrono::{DateTime, Utc};
use lockstep_service_config::UserConfig;
use lockstep_service_kit::database::{Database, OpenError};
use lockstep_service_kit::migrate::prepare_schema;
use lockstep_service_kit::migrate::{Migration, Step};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, SqlErr, Statement};

use crate::domain::{DomainError, User, UserStore};

/// The service's name in the migration ledger.
pub const SERVICE: &str = "user-service";

/// Every migration, in order (append only; see `lockstep_service_kit::migrate`).
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "0001_users",
    up: users,
}];

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
}

fn storage(e: impl std::fmt::Display) -> DomainError {
    DomainError::Storage(e.to_string())
}

impl SeaStore {
    /// Opens the database `config` names and migrates it (or checks it is current).
    pub async fn open(config: &UserConfig) -> Result<SeaStore, OpenError> {
        let db = Database::open(config).await?;
        prepare_schema(&db, SERVICE, MIGRATIONS, config.database.migrate_on_start).await?;
        Ok(SeaStore { db })
    }

    /// A MySQL/TiDB `url`, or the SQLite file `sqlite_path`; migrated.
    pub async fn connect(url: Option<&str>, sqlite_path: &str) -> Result<SeaStore, OpenError> {
        let db = Database::connect(url, sqlite_path, 4).await?;
        prepare_schema(&db, SERVICE, MIGRATIONS, true).await?;
        Ok(SeaStore { db })
    }

    fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(self.db.conn().get_database_backend(), sql, values)
    }
}

fn is_duplicate(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl UserStore for SeaStore {
    async fn insert(
        &self,
        tenant: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<User, DomainError> {
        let now: DateTime<Utc> = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        let result = self
            .db
            .conn()
            .execute_raw(self.statement(
                "INSERT INTO users (tenant, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                vec![tenant.into(), username.into(), password_hash.into(), now.into()],
            ))
            .await
            .map_err(|e| {
                if is_duplicate(&e) {
                    DomainError::Exists {
                        tenant: tenant.to_owned(),
                        username: username.to_owned(),
                    }
                } else {
                    storage(e)
                }
            })?;
        Ok(User {
            id: i64::try_from(result.last_insert_id()).map_err(storage)?,
            tenant: tenant.to_owned(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now,
        })
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
