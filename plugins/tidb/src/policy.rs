//! Retry policy, TiDB's backoff, retry metrics and the generic retry loop.
//!
//! The loop is independent of sqlx and SeaORM: it runs an attempt, classifies the failure with
//! [`crate::classify`], sleeps `((1.5^n) + rand) * 100 ms` (TiDB's documented backoff, capped) and
//! tries again while the attempt and time budgets allow. [`crate::retry`] plugs sqlx and SeaORM
//! transactions into it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::classify::{ErrorClass, classify_error};
use crate::error::{Error, Result};

/// Which `BEGIN` statement opens the transaction on TiDB. Other servers always get `BEGIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxnMode {
    /// Plain `BEGIN`: the server's `tidb_txn_mode` decides (pessimistic by default since 3.0.8).
    #[default]
    ServerDefault,
    /// `BEGIN PESSIMISTIC`: locks on write, fewer commit-time conflicts.
    Pessimistic,
    /// `BEGIN OPTIMISTIC`: no locks until commit; conflicts surface as 9007/8005 at commit.
    Optimistic,
}

impl TxnMode {
    /// The statement that opens a transaction in this mode. Off TiDB, `Pessimistic` is plain
    /// `BEGIN` (InnoDB locks rows on write, which is what pessimistic means), while `Optimistic`
    /// cannot be honoured and is [`Error::Unsupported`].
    pub fn begin_statement(self, is_tidb: bool) -> Result<&'static str> {
        match (self, is_tidb) {
            (TxnMode::Pessimistic, true) => Ok("BEGIN PESSIMISTIC"),
            (TxnMode::Optimistic, true) => Ok("BEGIN OPTIMISTIC"),
            (TxnMode::Optimistic, false) => Err(Error::Unsupported {
                feature: "BEGIN OPTIMISTIC".into(),
                needs: "TiDB",
                server: "MySQL/MariaDB (InnoDB locks rows pessimistically)".into(),
            }),
            _ => Ok("BEGIN"),
        }
    }
}

/// Counters of retried work, shared by every transaction that uses the same policy.
#[derive(Debug, Default)]
pub struct RetryMetrics {
    transactions: AtomicU64,
    attempts: AtomicU64,
    retries: [AtomicU64; 5],
    exhausted: AtomicU64,
    failed: AtomicU64,
}

/// A point-in-time copy of [`RetryMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetrySnapshot {
    /// Units of work started.
    pub transactions: u64,
    /// Attempts made (≥ transactions).
    pub attempts: u64,
    /// Retries by class, indexed like [`CLASSES`].
    pub retries: [u64; 5],
    /// Work that ran out of attempts or time.
    pub exhausted: u64,
    /// Work that failed with a non-retryable error.
    pub failed: u64,
}

/// The classes in the order used by [`RetrySnapshot::retries`].
pub const CLASSES: [ErrorClass; 5] = [
    ErrorClass::RetryTransaction,
    ErrorClass::RetryWrite,
    ErrorClass::TransientIfIdempotent,
    ErrorClass::Connection,
    ErrorClass::Never,
];

fn class_index(class: ErrorClass) -> usize {
    CLASSES.iter().position(|c| *c == class).unwrap_or(4)
}

impl RetryMetrics {
    /// Reads all counters.
    pub fn snapshot(&self) -> RetrySnapshot {
        RetrySnapshot {
            transactions: self.transactions.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: std::array::from_fn(|i| self.retries[i].load(Ordering::Relaxed)),
            exhausted: self.exhausted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

impl RetrySnapshot {
    /// Total retries over all classes.
    pub fn total_retries(&self) -> u64 {
        self.retries.iter().sum()
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts including the first one (≥ 1).
    pub max_attempts: u32,
    /// Give up once this much time has passed since the first attempt started; no attempt runs
    /// past it either.
    pub max_elapsed: Duration,
    /// Bound of one attempt (acquire, `BEGIN`, work, `COMMIT`); an attempt that overruns is
    /// stopped with [`Error::TimedOut`] and its connection closed.
    pub attempt_timeout: Duration,
    /// The 100 ms unit of TiDB's backoff formula.
    pub base: Duration,
    /// Upper bound of one sleep.
    pub max_backoff: Duration,
    /// `BEGIN` flavour for sqlx transactions.
    pub mode: TxnMode,
    /// The work may run twice without harm (enables retry of 9001–9005 and of failed commits).
    pub idempotent: bool,
    /// Where attempts and retries are counted.
    pub metrics: Arc<RetryMetrics>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            mode: TxnMode::ServerDefault,
            idempotent: false,
            metrics: Arc::default(),
        }
    }
}

impl RetryPolicy {
    /// The sleep before retry number `retry` (1 for the first retry), for a random `jitter` in
    /// `[0, 1)`: `((1.5^retry) + jitter) * base`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let factor = 1.5_f64.powi(retry.min(64) as i32) + jitter.clamp(0.0, 1.0);
        self.base.mul_f64(factor).min(self.max_backoff)
    }
}

/// What one attempt reports when it fails.
///
/// `in_doubt` says whether the work may already have taken effect when it failed: a `COMMIT`
/// whose reply was lost, or an autocommit statement (its own commit) that was sent before the
/// link broke. Such a failure is retried only when the policy says the work is idempotent;
/// otherwise it becomes [`Error::OutcomeUnknown`], never a guess.
#[derive(Debug)]
pub struct AttemptError {
    /// The failure.
    pub error: Error,
    /// `Some(what)` when the outcome is unknown if the connection broke; `what` names the
    /// statement, chunk or `COMMIT` for the error message.
    pub in_doubt: Option<String>,
}

impl AttemptError {
    /// A failure inside an open transaction before `COMMIT` was sent: the server discards the
    /// transaction, so running the work again from `BEGIN` cannot apply it twice.
    pub fn before_commit(error: Error) -> Self {
        AttemptError {
            error,
            in_doubt: None,
        }
    }

    /// A failure of work that commits as it runs (`COMMIT`, an autocommit statement): if the
    /// connection broke after it was sent, whether it took effect is unknown.
    pub fn in_doubt(error: Error, what: impl Into<String>) -> Self {
        AttemptError {
            error,
            in_doubt: Some(what.into()),
        }
    }
}

/// The conservative reading: an error from work the driver knows nothing about may have been
/// an autocommit write that reached the server. Transactions use [`AttemptError::before_commit`].
impl From<Error> for AttemptError {
    fn from(error: Error) -> Self {
        AttemptError::in_doubt(error, "the statement")
    }
}

/// Whether a failure can have happened after the work reached the server. Failing to get a
/// connection at all means nothing was sent.
fn may_have_reached_server(error: &Error) -> bool {
    !matches!(
        error,
        Error::Sqlx {
            source: sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ..
        } | Error::SeaOrm {
            source: sea_orm::DbErr::ConnectionAcquire(_),
            ..
        } | Error::NoEndpointReachable { .. }
            | Error::EndpointDown { .. }
            | Error::TimedOut { sent: false, .. }
    )
}

/// The state of one unit of retried work; drives loops that cannot be written as a closure
/// (for example ones that lend a connection to the caller's closure):
///
/// ```text
/// let mut retry = Retry::start(&policy);
/// loop {
///     retry.attempt();
///     match work().await {
///         Ok(v) => return Ok(v),
///         Err(failure) => retry.failed(failure).await?, // sleeps, or returns the final error
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Retry<'p> {
    policy: &'p RetryPolicy,
    started: Instant,
    attempts: u32,
    deadline: Instant,
}

/// One attempt of retried work, as [`run_with_retry`] hands it to the work.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// 1-based attempt number.
    pub number: u32,
    /// When the attempt must be over: its own time-out, clipped to the retry budget. Work that
    /// bounds its own steps by it can say precisely which step timed out.
    pub deadline: Instant,
}

impl<'p> Retry<'p> {
    /// Starts counting a new unit of work.
    pub fn start(policy: &'p RetryPolicy) -> Self {
        policy.metrics.transactions.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        Retry {
            policy,
            started,
            attempts: 0,
            deadline: started,
        }
    }

    /// Records the start of an attempt and returns its 1-based number.
    pub fn attempt(&mut self) -> u32 {
        self.attempts += 1;
        self.policy.metrics.attempts.fetch_add(1, Ordering::Relaxed);
        let budget_end = self.started + self.policy.max_elapsed;
        self.deadline = (Instant::now() + self.policy.attempt_timeout).min(budget_end);
        self.attempts
    }

    /// When the current attempt must be over (see [`Attempt::deadline`]).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The work ends before another attempt with `error` (every endpoint is down): counted as
    /// failed.
    pub(crate) fn stopped(&self, error: Error) -> Error {
        self.policy.metrics.failed.fetch_add(1, Ordering::Relaxed);
        error
    }

    /// Decides what to do after a failed attempt: `Ok` after sleeping the backoff when another
    /// attempt is allowed, otherwise the error to return to the caller.
    pub async fn failed(&mut self, failure: AttemptError) -> Result<()> {
        let (policy, metrics, n) = (self.policy, &self.policy.metrics, self.attempts);
        let class = classify_error(&failure.error);
        // Only a broken link leaves the outcome open: a server error is a definite "no".
        let in_doubt = failure
            .in_doubt
            .filter(|_| class == ErrorClass::Connection && may_have_reached_server(&failure.error));
        if !class.retryable(policy.idempotent, in_doubt.is_some()) {
            metrics.failed.fetch_add(1, Ordering::Relaxed);
            return Err(match in_doubt {
                Some(what) => Error::OutcomeUnknown {
                    what,
                    endpoint: failure.error.endpoint().map(Box::from),
                    source: Box::new(failure.error),
                },
                None => failure.error,
            });
        }
        let sleep = policy.backoff(n, rand::random::<f64>());
        let elapsed = self.started.elapsed();
        if n >= policy.max_attempts || elapsed + sleep > policy.max_elapsed {
            metrics.exhausted.fetch_add(1, Ordering::Relaxed);
            return Err(Error::RetriesExhausted {
                attempts: n,
                elapsed,
                last: Box::new(failure.error),
            });
        }
        metrics.retries[class_index(class)].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(attempt = n, class = class.metric_label(), error = %failure.error,
            sleep_ms = sleep.as_millis() as u64, "retrying");
        tokio::time::sleep(sleep).await;
        Ok(())
    }
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, or the budget runs out.
///
/// This loop does not know where your work runs, so its errors name an endpoint only if your
/// work named it ([`Error::at`]). [`crate::Db::run_with_retry`] picks an endpoint per attempt,
/// hands your work its pool and names it in every error.
///
/// Each attempt is stopped at its [`Attempt::deadline`]; the stopped work counts as sent (a
/// statement may have reached the server), so it is in doubt unless the policy is idempotent.
/// Work that takes connections with [`crate::deadline::Lease`] and bounds its own steps by the
/// deadline reports which step overran instead, and a connection abandoned mid-statement is
/// closed rather than returned to the pool.
pub async fn run_with_retry<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = std::result::Result<T, AttemptError>>,
{
    let mut retry = Retry::start(policy);
    loop {
        let number = retry.attempt();
        let (started, deadline) = (Instant::now(), retry.deadline());
        let run = tokio::time::timeout_at(deadline, attempt(Attempt { number, deadline }));
        let failure = match run.await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(failure)) => failure,
            Err(_) => AttemptError::in_doubt(
                crate::deadline::timed_out("the attempt", started.elapsed(), true),
                "the statement",
            ),
        };
        retry.failed(failure).await?;
    }
}

#[cfg(test)]
mod tests;
