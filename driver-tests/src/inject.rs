//! Making a real server return TiDB's error codes.
//!
//! MySQL and MariaDB run a trigger that raises `SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = <code>`
//! for the first `n` attempts. The attempt counter lives in a MyISAM table, which is not
//! transactional, so the rollback that follows each failure does not reset it. TiDB has no
//! triggers; there the suites provoke real write conflicts instead (see `suites::retry`).

use crate::fresh::Ctx;

/// Tables used by the injection: `ledger` (the work), `inject_counter` (attempts seen).
pub const LEDGER_DDL: &str =
    "CREATE TABLE ledger (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, amount INT NOT NULL)";

/// Makes the next `fail_first` inserts into `ledger` fail with server error `code`.
pub async fn fail_ledger_inserts(ctx: &Ctx, code: u16, fail_first: u32) -> anyhow::Result<()> {
    ctx.exec_all(&[
        LEDGER_DDL,
        "CREATE TABLE inject_counter (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=MyISAM",
        "INSERT INTO inject_counter VALUES (1, 0)",
        &format!(
            "CREATE TRIGGER ledger_inject BEFORE INSERT ON ledger FOR EACH ROW
             BEGIN
               UPDATE inject_counter SET n = n + 1 WHERE id = 1;
               IF (SELECT n FROM inject_counter WHERE id = 1) <= {fail_first} THEN
                 SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = {code}, MESSAGE_TEXT = 'injected error {code}';
               END IF;
             END"
        ),
    ])
    .await
}

/// How many inserts into `ledger` the trigger has seen.
pub async fn attempts_seen(ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT n FROM inject_counter WHERE id = 1")
            .fetch_one(ctx.db.pool())
            .await?,
    )
}

/// Makes about `percent` % of updates of `counter` fail with 9007 (write conflict).
pub async fn fail_counter_updates_randomly(ctx: &Ctx, percent: u32) -> anyhow::Result<()> {
    ctx.exec_all(&[&format!(
        "CREATE TRIGGER counter_conflict BEFORE UPDATE ON counter FOR EACH ROW
         BEGIN
           IF RAND() * 100 < {percent} THEN
             SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 9007, MESSAGE_TEXT = 'Write conflict (injected)';
           END IF;
         END"
    )])
    .await
}
