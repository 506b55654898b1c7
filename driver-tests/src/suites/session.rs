//! Session variables from the URL (`set.<name>=<value>`) are in force on every pooled
//! connection, for sqlx and SeaORM alike; an unknown one fails at connect, naming it.

use anyhow::{Context as _, bail, ensure};
use lockstep_tidb::{Db, Error};
use sea_orm::{ConnectionTrait, Statement};

use super::failover::FAST;
use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("session", url_session_variables_hold_on_every_connection),
        case!("session", an_unknown_session_variable_fails_the_connect),
    ]
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' })
}

/// Variables every server family has, set away from their defaults (50 s, strict mode).
const SET: &str = "set.innodb_lock_wait_timeout=7&set.sql_mode=ANSI_QUOTES,STRICT_ALL_TABLES";

async fn url_session_variables_hold_on_every_connection(ctx: Ctx) -> anyhow::Result<()> {
    let db = Db::connect_with(with_query(&ctx.url, SET).parse()?, FAST).await?;
    // Three connections open at once: each was set up by the connect hook.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(db.pool().acquire().await?);
    }
    for conn in &mut held {
        let (wait, mode): (i64, String) = sqlx::query_as(
            "SELECT CAST(@@SESSION.innodb_lock_wait_timeout AS SIGNED), @@SESSION.sql_mode",
        )
        .fetch_one(&mut **conn)
        .await?;
        ensure!(wait == 7, "innodb_lock_wait_timeout {wait}");
        ensure!(
            mode.contains("ANSI_QUOTES") && mode.contains("STRICT_ALL_TABLES"),
            "sql_mode {mode}"
        );
    }
    drop(held);
    let orm = db.sea_orm();
    let row = orm
        .query_one_raw(Statement::from_string(
            orm.get_database_backend(),
            "SELECT CAST(@@SESSION.innodb_lock_wait_timeout AS SIGNED) AS w",
        ))
        .await?
        .context("no row")?;
    let wait: i64 = row.try_get("", "w")?;
    ensure!(
        wait == 7,
        "SeaORM connection: innodb_lock_wait_timeout {wait}"
    );
    // The test's own handle (no `set.` options) keeps the server default.
    let default: i64 =
        sqlx::query_scalar("SELECT CAST(@@SESSION.innodb_lock_wait_timeout AS SIGNED)")
            .fetch_one(ctx.db.pool())
            .await?;
    ensure!(default != 7, "the variable leaked into another pool");
    Ok(())
}

async fn an_unknown_session_variable_fails_the_connect(ctx: Ctx) -> anyhow::Result<()> {
    let url = with_query(&ctx.url, "set.lockstep_no_such_variable=1");
    let err = Db::connect_with(url.parse()?, FAST)
        .await
        .err()
        .context("connecting with an unknown session variable succeeded")?;
    match &err {
        // ER_UNKNOWN_SYSTEM_VARIABLE
        Error::Server {
            code: 1193,
            message,
            ..
        } => {
            ensure!(message.contains("lockstep_no_such_variable"), "{message}")
        }
        other => bail!("expected server error 1193, got {other:?}"),
    }
    Ok(())
}
