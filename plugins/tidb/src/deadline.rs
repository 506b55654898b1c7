//! Bounded waits: every step of the driver's work finishes, fails or times out.
//!
//! ```text
//!  retry budget (retry-budget, default 30 s) ─────────────────────────────────────────────┐
//!  attempt 1: acquire ─ BEGIN ─ work ─ COMMIT   (each attempt ≤ attempt-timeout, default 10 s,
//!  attempt 2: …                                  and never past the budget's end)
//! ```
//!
//! sqlx has no read time-out: a statement on a server that stopped answering (SIGSTOP, a stalled
//! network path) waits forever, and a connection abandoned mid-statement goes back to the pool,
//! whose release ping then waits forever too. So the driver bounds each attempt with a deadline
//! and takes connections as a [`Lease`]: a lease dropped before its work finished — cancelled by
//! the deadline or by the caller — closes its connection instead of returning it to the pool.

use std::time::Duration;

use sqlx::MySql;
use sqlx::mysql::{MySqlConnection, MySqlPool};
use sqlx::pool::PoolConnection;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Time bounds from the URL (`connect-timeout`, `attempt-timeout`, `retry-budget`; a number of
/// seconds, or with a unit: `500ms`, `2s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The first connection at start and, when built by `Db::connect`, one health probe
    /// (connect, handshake, ping); default 5 s. The pool's own connections are bounded by its
    /// `acquire-timeout`.
    pub connect: Duration,
    /// One attempt of retried work: acquire, `BEGIN`, the work, `COMMIT` (default 10 s).
    pub attempt: Duration,
    /// All attempts of one unit of work, backoff sleeps included (default 30 s).
    pub retry_budget: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(10),
            retry_budget: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// The URL options this struct reads.
    pub const KEYS: [&'static str; 3] = ["connect-timeout", "attempt-timeout", "retry-budget"];

    /// Sets the bound named by the URL option `key`.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        let duration = parse_duration(key, value)?;
        match key {
            "connect-timeout" => self.connect = duration,
            "attempt-timeout" => self.attempt = duration,
            "retry-budget" => self.retry_budget = duration,
            other => return Err(format!("`{other}` is not a time-out option")),
        }
        Ok(())
    }
}

/// The longest time bound a URL may set. Longer is a typo (`attempt-timeout=4294967295`), and
/// sqlx's pool treats some huge durations as "never".
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// `5` (seconds), `5s` or `500ms`; more than zero and at most [`MAX_DURATION`].
pub(crate) fn parse_duration(key: &str, value: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("option `{key}` wants seconds or a duration like `500ms`, got `{value}`");
    let (digits, unit) = match value.strip_suffix("ms") {
        Some(ms) => (ms, Duration::from_millis(1)),
        None => (
            value.strip_suffix('s').unwrap_or(value),
            Duration::from_secs(1),
        ),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let duration = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .map(|n| unit * n)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| format!("option `{key}` must be at most 24 h, got `{value}`"))?;
    if duration.is_zero() {
        return Err(format!("option `{key}` must be more than zero"));
    }
    Ok(duration)
}

/// A step did not finish before its deadline. `sent` says whether the step may have reached the
/// server (false only while waiting for a connection).
pub(crate) fn timed_out(what: &str, after: Duration, sent: bool) -> Error {
    Error::TimedOut {
        what: what.to_owned(),
        after,
        sent,
        endpoint: None,
    }
}

/// Runs `step` until `deadline`; `started` is when the attempt began (for the error message).
pub(crate) async fn within<T, E: Into<Error>>(
    deadline: Instant,
    started: Instant,
    what: &str,
    step: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout_at(deadline, step).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(timed_out(what, started.elapsed(), true)),
    }
}

/// A pooled connection that is closed, not returned to the pool, unless its work finished.
#[derive(Debug)]
pub struct Lease {
    conn: PoolConnection<MySql>,
    finished: bool,
}

impl Lease {
    /// Takes a connection from `pool`, waiting no later than `deadline`.
    pub async fn acquire(pool: &MySqlPool, deadline: Instant) -> Result<Lease> {
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, pool.acquire()).await {
            Ok(Ok(conn)) => Ok(Lease {
                conn,
                finished: false,
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(timed_out(
                "waiting for a connection",
                started.elapsed(),
                false,
            )),
        }
    }

    /// The connection, for statements.
    pub fn conn(&mut self) -> &mut MySqlConnection {
        &mut self.conn
    }

    /// The work on this connection ended in a known state (a reply, success or server error,
    /// was read): it may go back to the pool.
    pub fn finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            // Mid-statement: unread replies or a hung server. sqlx would ping it on release,
            // and that ping can wait forever.
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("k", "5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("k", "5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("k", "250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "ms", "1.5", "-1", "5m", "5 s"] {
            let err = parse_duration("attempt-timeout", bad).unwrap_err();
            assert!(
                err.contains("attempt-timeout") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn zero_and_unknown_bounds_are_refused() {
        let mut t = Timeouts::default();
        assert!(
            t.set("attempt-timeout", "0ms")
                .unwrap_err()
                .contains("more than zero")
        );
        assert!(t.set("read-timeout", "1").is_err());
        t.set("connect-timeout", "2").unwrap();
        t.set("attempt-timeout", "1500ms").unwrap();
        t.set("retry-budget", "60s").unwrap();
        assert_eq!(
            t,
            Timeouts {
                connect: Duration::from_secs(2),
                attempt: Duration::from_millis(1500),
                retry_budget: Duration::from_secs(60),
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_past_its_deadline_is_a_timed_out_error() {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(2);
        let err = within(deadline, started, "COMMIT", async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
        match err {
            Error::TimedOut {
                what, after, sent, ..
            } => {
                assert_eq!(what, "COMMIT");
                assert_eq!(after, Duration::from_secs(2));
                assert!(sent);
            }
            other => panic!("unexpected {other:?}"),
        }
        let ok = within(deadline, started, "x", async { Ok::<_, Error>(7) }).await;
        assert_eq!(ok.unwrap(), 7);
    }
}
