//! [`Db`]: one sqlx pool over one or several TiDB endpoints, with health-checked failover.
//!
//! ```text
//!            ┌──────────── Db ────────────┐
//!  callers ─►│ MySqlPool ── connect to ──►│── current endpoint (round robin over healthy ones)
//!            │     │ after_connect: rotate │
//!            │     ▼                       │
//!            │ health task (crate::health): ping each endpoint every `interval`,
//!            │   mark up/down, move the pool's target off a dead endpoint at once,
//!            │   rebalance when one recovers
//!            └────────────────────────────┘
//! ```
//!
//! TiDB servers are stateless, so any healthy endpoint can serve any connection. The pool re-reads
//! its connect options on every connection attempt and retries refused connections until its
//! acquire time-out, so moving the target off a dead endpoint lets waiting callers succeed on
//! another one instead of failing. Idle connections to a dead server fail their ping on acquire
//! and are replaced; a statement that breaks mid-transaction is retried by
//! [`crate::retry::transaction_with_retry`].

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::task::JoinHandle;

use crate::batch::{BatchLimits, BulkInsert};
use crate::classify::ErrorClass;
use crate::deadline::{Lease, Timeouts, within};
use crate::error::{Error, Result};
use crate::health::{EndpointStatus, Endpoints, HealthCheck, HealthStats, Prober, health_loop};
use crate::options::ConnectOptions;
use crate::policy::{RetryMetrics, RetryPolicy};
use crate::server::ServerInfo;

/// A connection handle to a TiDB (or MySQL/MariaDB) deployment. Cheap to share behind an `Arc`;
/// dropping it stops the health checker. `Debug` names the server and endpoints, never the
/// password.
pub struct Db {
    pool: MySqlPool,
    server: ServerInfo,
    endpoints: Arc<Endpoints>,
    metrics: Arc<RetryMetrics>,
    timeouts: Timeouts,
    max_allowed_packet: u64,
    /// Ends on `endpoints.shutdown`; kept so the task is owned, not detached silently.
    _health_task: JoinHandle<()>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("server", &self.server)
            .field("endpoints", &self.endpoints.list)
            .finish_non_exhaustive()
    }
}

/// Stops the health checker, which closes its probe connections politely first. The pool itself
/// stays open while clones of it (`Db::sea_orm()`, `Db::pool().clone()`) are in use.
impl Drop for Db {
    fn drop(&mut self) {
        self.endpoints.shutdown.notify_one();
    }
}

impl Db {
    /// Connects from a URL (see [`crate::options`]) with default health checking; probes are
    /// bounded by the URL's `connect-timeout`.
    pub async fn connect(url: &str) -> Result<Db> {
        Db::connect_options(url.parse()?).await
    }

    /// [`Db::connect`] with options already parsed (and perhaps adjusted, e.g. the pool size
    /// from a service's typed config).
    pub async fn connect_options(options: ConnectOptions) -> Result<Db> {
        let health = HealthCheck {
            timeout: options.timeouts.connect,
            ..HealthCheck::default()
        };
        Db::connect_with(options, health).await
    }

    /// Probes every endpoint, fails with [`Error::NoEndpointReachable`] if none answers, then
    /// builds the pool, detects the server and starts the health checker.
    pub async fn connect_with(options: ConnectOptions, health: HealthCheck) -> Result<Db> {
        let endpoints = Arc::new(Endpoints::new(options.endpoints));
        let mut prober = Prober::new(&endpoints, health);
        prober.round(&endpoints).await;
        let first = endpoints
            .next_target()
            .ok_or_else(|| unreachable_error(&endpoints))?;

        let (rotate, recycle) = (endpoints.clone(), endpoints.clone());
        // Checked literals only (see crate::session); one statement per new connection.
        let session: Option<Arc<str>> = options.session.statement().map(Arc::from);
        let hook_session = session.clone();
        let settings = &options.pool;
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(settings.idle_timeout)
            .max_lifetime(settings.max_lifetime)
            .after_connect(move |conn: &mut MySqlConnection, _meta| {
                rotate.rotate.notify_one();
                let session = hook_session.clone();
                Box::pin(async move {
                    if let Some(set) = session.as_deref() {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                }) as BoxFuture<'_, sqlx::Result<()>>
            })
            .after_release(move |_conn: &mut MySqlConnection, _meta| {
                let keep = !recycle.recycle_on_release();
                Box::pin(std::future::ready(Ok(keep))) as BoxFuture<'_, sqlx::Result<bool>>
            })
            .connect_lazy_with(first.options.clone());

        let timeouts = options.timeouts;
        let started = tokio::time::Instant::now();
        let deadline = started + timeouts.connect;
        // On a connection of its own: the pool would retry a failing `SET SESSION` until its
        // acquire time-out and report only that, hiding the server's "unknown variable".
        let first_connection = async {
            let mut conn = first.options.connect().await?;
            if let Some(set) = session.as_deref() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                    .execute(&mut conn)
                    .await?;
            }
            let server: (String, i64) =
                sqlx::query_as("SELECT VERSION(), CAST(@@max_allowed_packet AS SIGNED)")
                    .fetch_one(&mut conn)
                    .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(server)
        };
        let what = "the first connection (SET SESSION, SELECT VERSION())";
        let (version, packet) = within(deadline, started, what, first_connection).await?;
        let max_allowed_packet = u64::try_from(packet).unwrap_or(0);
        let server = ServerInfo::parse(&version);
        tracing::info!(server = %server.raw, max_allowed_packet, endpoints = endpoints.list.len(),
            "connected");
        let health_task = tokio::spawn(health_loop(pool.clone(), endpoints.clone(), prober));
        Ok(Db {
            pool,
            server,
            endpoints,
            metrics: Arc::default(),
            timeouts,
            max_allowed_packet,
            _health_task: health_task,
        })
    }

    /// The sqlx pool, for plain sqlx queries.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// A SeaORM connection over the same pool (same connections, same failover).
    pub fn sea_orm(&self) -> sea_orm::DatabaseConnection {
        sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(self.pool.clone())
    }

    /// What server answered at connect time.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The health of every endpoint.
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        self.endpoints.statuses()
    }

    /// Probe and rebalancing counters of the health checker.
    pub fn health_stats(&self) -> HealthStats {
        self.endpoints.stats()
    }

    /// Retry counters of every transaction run through this handle's policies.
    pub fn retry_metrics(&self) -> &RetryMetrics {
        &self.metrics
    }

    /// The default retry policy with the URL's `attempt-timeout` and `retry-budget`, counting
    /// into [`Db::retry_metrics`].
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            metrics: self.metrics.clone(),
            attempt_timeout: self.timeouts.attempt,
            max_elapsed: self.timeouts.retry_budget,
            ..RetryPolicy::default()
        }
    }

    /// The server's `max_allowed_packet`, read at connect: the largest statement it accepts.
    pub fn max_allowed_packet(&self) -> u64 {
        self.max_allowed_packet
    }

    /// Batch limits that fit this server's `max_allowed_packet` ([`BatchLimits::for_packet`]).
    pub fn batch_limits(&self) -> BatchLimits {
        BatchLimits::for_packet(self.max_allowed_packet)
    }

    /// A [`BulkInsert`] into `table` with [`Db::batch_limits`].
    pub fn bulk_insert<'a>(&self, table: &'a str, columns: &'a [&'a str]) -> BulkInsert<'a> {
        BulkInsert {
            table,
            columns,
            limits: self.batch_limits(),
        }
    }

    /// The time bounds this handle was built with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// [`crate::retry::transaction_with_retry`] on this pool with the default policy.
    pub async fn transaction_with_retry<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'c> FnMut(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
    {
        self.transaction_with_policy(&self.retry_policy(), work)
            .await
    }

    /// [`crate::retry::transaction_with_retry`] with an explicit policy; `BEGIN PESSIMISTIC` /
    /// `OPTIMISTIC` are only sent to TiDB.
    pub async fn transaction_with_policy<T, F>(&self, policy: &RetryPolicy, work: F) -> Result<T>
    where
        F: for<'c> FnMut(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
    {
        crate::retry::transaction_with_retry(&self.pool, policy, self.server.is_tidb(), work)
            .await
            .map_err(|e| self.explain_timeout(e))
    }

    /// Runs `work` in a read-only transaction that reads the snapshot `as_of` on TiDB 5.1+;
    /// other servers read the latest data. The returned flag says which happened. Bounded by
    /// the URL's `attempt-timeout`; not retried.
    pub async fn stale_read<T, F>(&self, as_of: &crate::sql::AsOf, work: F) -> Result<(T, bool)>
    where
        F: for<'c> FnOnce(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
    {
        let (begin, stale) = crate::sql::stale_read_begin(&self.server, as_of);
        let started = tokio::time::Instant::now();
        let deadline = started + self.timeouts.attempt;
        let mut lease = Lease::acquire(&self.pool, deadline)
            .await
            .map_err(|e| self.explain_timeout(e))?;
        let begin = sqlx::Connection::begin_with(lease.conn(), sqlx::AssertSqlSafe(begin));
        let mut tx = within(deadline, started, "BEGIN", begin).await?;
        let value = within(deadline, started, "the read", work(&mut tx)).await?;
        within(deadline, started, "COMMIT", tx.commit()).await?;
        lease.finished();
        Ok((value, stale))
    }

    /// Replaces a connection failure (a pool time-out, a refused or broken link, a step that
    /// timed out) by the endpoints' own errors when the health checker finds none healthy. An
    /// outcome in doubt stays what it is: that is the fact the caller must act on.
    fn explain_timeout(&self, err: Error) -> Error {
        let all_down = !self.endpoints.any_healthy();
        let connection = crate::classify::classify_error(&err) == ErrorClass::Connection;
        match err {
            Error::NoEndpointReachable { .. } => err,
            _ if all_down && connection => unreachable_error(&self.endpoints),
            // The budget ran out waiting for connections: say why, per endpoint.
            Error::RetriesExhausted {
                attempts,
                elapsed,
                last,
            } => Error::RetriesExhausted {
                attempts,
                elapsed,
                last: Box::new(self.explain_timeout(*last)),
            },
            other => other,
        }
    }
}

fn unreachable_error(endpoints: &Endpoints) -> Error {
    Error::NoEndpointReachable {
        attempts: endpoints
            .statuses()
            .into_iter()
            .map(|s| (s.name, s.last_error.unwrap_or_else(|| "not probed".into())))
            .collect(),
    }
}
