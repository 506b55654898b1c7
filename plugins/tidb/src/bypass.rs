//! Skipping sqlx's ping before use for idempotent work on a connection used moments ago.
//!
//! sqlx pings every pooled connection before handing it out (`test_before_acquire`) and again
//! when it is returned. Under load that first ping is a whole extra round trip per unit of work:
//! a point select by id makes three (ping, statement, release ping) instead of two: a bare
//! axum + sqlx handler served 10.1–11.7k requests/s with it and 14.5–14.7k without it
//! (`services/bench/ratio.sh`'s two bare servers, 2026-12-07). HikariCP
//! skips its check for a connection used within the last 500 ms (`aliveBypassWindowMs`); the
//! driver does the same, but only where a dead connection costs a retry rather than an outcome
//! in doubt: inside [`crate::cluster::Db::run_with_retry`] with an idempotent policy. A
//! connection idle longer than the window (URL option `alive-bypass-window`, default 500 ms;
//! `0` always pings), and every acquire outside such work (writes, transactions, SeaORM), is
//! pinged as before — a connection that died while idle is then replaced before any statement
//! is sent, so a write is never put in doubt by it.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::mysql::MySqlConnection;

tokio::task_local! {
    /// Set while idempotent work runs in this task: its acquires may skip the ping.
    static IDEMPOTENT: ();
}

/// Runs `work` with its acquires allowed to skip the ping of a recently used connection.
pub(crate) async fn idempotent<F: Future>(work: F) -> F::Output {
    IDEMPOTENT.scope((), work).await
}

/// Whether an acquire may hand out a connection idle for `idle_for` without a ping.
fn may_skip(idle_for: Duration, window: Duration) -> bool {
    idle_for < window && IDEMPOTENT.try_with(|()| ()).is_ok()
}

/// The pool's `before_acquire` check: ping unless [`may_skip`]. A connection that fails its
/// ping is refused (sqlx closes it and tries another or opens one), as sqlx's own
/// `test_before_acquire` does.
pub(crate) fn check(
    conn: &mut MySqlConnection,
    idle_for: Duration,
    window: Duration,
) -> BoxFuture<'_, sqlx::Result<bool>> {
    let skip = may_skip(idle_for, window);
    Box::pin(async move {
        if skip {
            return Ok(true);
        }
        match sqlx::Connection::ping(conn).await {
            Ok(()) => Ok(true),
            Err(error) => {
                tracing::info!(%error, "ping on idle connection returned error");
                Ok(false)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_idempotent_work_within_the_window_skips() {
        let window = Duration::from_millis(500);
        let fresh = Duration::from_millis(10);
        assert!(!may_skip(fresh, window), "outside idempotent work");
        assert!(idempotent(async { may_skip(fresh, window) }).await);
        assert!(!idempotent(async { may_skip(Duration::from_millis(500), window) }).await);
        assert!(!idempotent(async { may_skip(Duration::ZERO, Duration::ZERO) }).await);
        // A task spawned from idempotent work is not part of it.
        let spawned =
            idempotent(async { tokio::spawn(async move { may_skip(fresh, window) }).await })
                .await
                .expect("task");
        assert!(!spawned);
    }
}
