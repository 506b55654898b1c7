//! The migration lock: MySQL's `GET_LOCK`, held by a connection taken out of the pool for the
//! run. Detached, so that however the run ends (error, panic, cancellation) dropping it closes
//! the session and the server frees the lock — a pooled connection would carry it back into
//! the pool. SQLite needs none (one process's file).

use std::time::Duration;

use sea_orm::DbErr;
use sqlx::Connection;

use crate::database::Database;
use crate::migration_error::MigrateError;

pub(crate) struct Lock {
    held: Option<(sqlx::MySqlConnection, String)>,
}

impl Lock {
    /// Waits up to `wait` for the service's lock.
    pub(crate) async fn take(
        db: &Database,
        service: &str,
        wait: Duration,
    ) -> Result<Lock, MigrateError> {
        let Some(tidb) = &db.tidb() else {
            return Ok(Lock { held: None });
        };
        let ledger = |e: sqlx::Error| MigrateError::Ledger(DbErr::Custom(format!("lock: {e}")));
        let mut conn = tidb.pool().acquire().await.map_err(ledger)?.detach();
        let name = format!("lockstep_migrate_{service}");
        let seconds = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
        let granted: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&name)
            .bind(seconds)
            .fetch_one(&mut conn)
            .await
            .map_err(ledger)?;
        if granted != Some(1) {
            return Err(MigrateError::Locked {
                service: service.to_owned(),
                waited: wait,
            });
        }
        Ok(Lock {
            held: Some((conn, name)),
        })
    }

    /// Frees the lock and closes its connection (closing alone would free it too).
    pub(crate) async fn release(self) {
        if let Some((mut conn, name)) = self.held {
            let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(&name)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}
