//! [`Db`]: one sqlx pool per TiDB endpoint, an endpoint chosen per unit of work, health-checked
//! failover.
//!
//! ```text
//!            ┌──────────────── Db ────────────────┐
//!  callers ─►│ pick: the healthy endpoint with the │── pool of endpoint 0 ──► tidb-0
//!            │ fewest busy connections (ties: round│── pool of endpoint 1 ──► tidb-1
//!            │ robin)                              │
//!            │ health task (crate::health): ping each endpoint every `interval`, and at once
//!            │   when work lost a connection; work waiting for a dead endpoint's connection
//!            │   is woken and retried on another
//!            └─────────────────────────────────────┘
//! ```
//!
//! TiDB servers are stateless, so any healthy endpoint can serve any unit of work. One pool per
//! endpoint (instead of one pool whose connect target moves) means every connection's endpoint
//! is known, so every error of the driver's work names it ([`Error::endpoint`]); and an
//! endpoint that recovers has an empty pool, so it gets new work at once instead of after
//! `max-lifetime`. `max-connections` is per endpoint, like TiDB's own per-server limits.
//!
//! Take [`Db::pool`] / [`Db::sea_orm`] per unit of work: each call picks. The driver's own
//! operations ([`Db::transaction_with_retry`], [`Db::sea_transaction_with_retry`]) pick again
//! for every attempt, so a retry after a lost connection goes to a healthy endpoint.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::task::JoinHandle;

use crate::batch::{BatchLimits, BulkInsert};
use crate::classify::ErrorClass;
use crate::deadline::{Timeouts, within};
use crate::error::{Error, Result};
use crate::health::{EndpointStatus, Endpoints, HealthCheck, HealthStats, Prober, health_loop};
use crate::options::{ConnectOptions, PoolSettings};
use crate::policy::{Attempt, AttemptError, RetryMetrics, RetryPolicy};
use crate::route::Route;
use crate::server::ServerInfo;

/// A connection handle to a TiDB (or MySQL/MariaDB) deployment. Cheap to share behind an `Arc`;
/// dropping it stops the health checker. `Debug` names the server and endpoints, never the
/// password.
pub struct Db {
    /// One per endpoint, in the order of `endpoints.list`.
    pools: Vec<MySqlPool>,
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

/// Stops the health checker, which closes its probe connections politely first. The pools
/// themselves stay open while clones of them (`Db::sea_orm()`, `Db::pool().clone()`) are in use.
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
    /// builds one pool per endpoint, detects the server and starts the health checker.
    pub async fn connect_with(options: ConnectOptions, health: HealthCheck) -> Result<Db> {
        let endpoints = Arc::new(Endpoints::new(options.endpoints));
        let mut prober = Prober::new(&endpoints, health);
        prober.round(&endpoints).await;
        let first = endpoints
            .list
            .iter()
            .find(|e| e.is_healthy())
            .ok_or_else(|| unreachable_error(&endpoints))?;

        // Checked literals only (see crate::session); one statement per new connection.
        let session: Option<Arc<str>> = options.session.statement().map(Arc::from);
        let pools = endpoints
            .list
            .iter()
            .map(|e| endpoint_pool(&options.pool, session.clone(), e.options.clone()))
            .collect();

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
        let (version, packet) = within(deadline, started, what, first_connection)
            .await
            .map_err(|e| e.at(&first.name))?;
        let max_allowed_packet = u64::try_from(packet).unwrap_or(0);
        let server = ServerInfo::parse(&version);
        tracing::info!(server = %server.raw, max_allowed_packet, endpoints = endpoints.list.len(),
            "connected");
        let health_task = tokio::spawn(health_loop(endpoints.clone(), prober));
        Ok(Db {
            pools,
            server,
            endpoints,
            metrics: Arc::default(),
            timeouts,
            max_allowed_packet,
            _health_task: health_task,
        })
    }

    /// The endpoint for the next unit of work and its pool.
    fn pick(&self) -> Route<'_> {
        let index = self.endpoints.pick(|i| busy(&self.pools[i]));
        Route::of(&self.endpoints, index, &self.pools[index])
    }

    /// [`Db::pick`] for the driver's own operations: while the health checker knows every
    /// endpoint is down, [`Error::NoEndpointReachable`] at once instead of a wait for a
    /// connection that cannot come (it probes every `interval / 4` then, so work is accepted
    /// again soon after an endpoint returns).
    fn route(&self) -> Result<Route<'_>> {
        if self.endpoints.any_healthy() {
            Ok(self.pick())
        } else {
            Err(unreachable_error(&self.endpoints))
        }
    }

    /// A pool for plain sqlx queries: the one of the healthy endpoint with the fewest busy
    /// connections. Take it per unit of work (cheap); a pool kept stays on its endpoint. A
    /// query that took it just before its endpoint died waits up to `acquire-timeout` (sqlx
    /// retries refused connections until then); [`Db::transaction_with_retry`] stops waiting
    /// when the endpoint is found down and retries elsewhere.
    pub fn pool(&self) -> &MySqlPool {
        self.pick().pool
    }

    /// Every endpoint's `host:port` with its pool, in URL order.
    pub fn pools(&self) -> impl Iterator<Item = (&str, &MySqlPool)> {
        self.endpoints
            .list
            .iter()
            .map(|e| e.name.as_str())
            .zip(&self.pools)
    }

    /// Open and idle connections over all endpoints' pools.
    pub fn pool_state(&self) -> (u32, usize) {
        self.pools.iter().fold((0, 0), |(open, idle), pool| {
            (open + pool.size(), idle + pool.num_idle())
        })
    }

    /// A SeaORM connection over [`Db::pool`]'s pool: take it per unit of work, like the pool.
    pub fn sea_orm(&self) -> DatabaseConnection {
        sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(self.pool().clone())
    }

    /// What server answered at connect time.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The health of every endpoint.
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        self.endpoints.statuses()
    }

    /// Probe counters of the health checker.
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

    /// [`crate::retry::transaction_with_retry`] with an explicit policy, each attempt on the
    /// endpoint [`Db::pool`] would pick then; `BEGIN PESSIMISTIC` / `OPTIMISTIC` are only sent
    /// to TiDB.
    pub async fn transaction_with_policy<T, F>(&self, policy: &RetryPolicy, work: F) -> Result<T>
    where
        F: for<'c> FnMut(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
    {
        crate::retry::transaction_routed(|| self.route(), policy, self.server.is_tidb(), work)
            .await
            .map_err(|e| self.explain_timeout(e))
    }

    /// [`crate::retry::sea_transaction_with_retry`], each attempt on the endpoint
    /// [`Db::sea_orm`] would pick then.
    pub async fn sea_transaction_with_retry<T, F>(&self, policy: &RetryPolicy, work: F) -> Result<T>
    where
        F: for<'c> FnMut(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>>,
    {
        let next = || {
            let route = self.route()?;
            let conn = sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(route.pool.clone());
            Ok((Cow::Owned(conn), Some(route)))
        };
        crate::retry::sea_transaction_routed(next, policy, work)
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
        let route = self.route()?;
        let mut lease = route
            .lease(deadline)
            .await
            .map_err(|e| self.explain_timeout(route.named(e)))?;
        let read = async {
            let begin = sqlx::Connection::begin_with(lease.conn(), sqlx::AssertSqlSafe(begin));
            let mut tx = within(deadline, started, "BEGIN", begin).await?;
            let value = within(deadline, started, "the read", work(&mut tx)).await?;
            within(deadline, started, "COMMIT", tx.commit()).await?;
            Ok::<_, Error>(value)
        };
        let value = read.await.map_err(|e| route.named(e))?;
        lease.finished();
        Ok((value, stale))
    }

    /// [`crate::policy::run_with_retry`] with each attempt on the endpoint [`Db::pool`] would
    /// pick then: `attempt` gets that endpoint's pool, the driver names the endpoint in every
    /// error of the attempt (also one your closure returns unnamed, and a time-out), and a
    /// call while every endpoint is down is refused at once. With `policy.idempotent`, a
    /// connection used within `alive-bypass-window` is handed out without sqlx's ping (a dead
    /// one fails the attempt, which is retried): one round trip less per unit of work.
    pub async fn run_with_retry<'a, T, F, Fut>(
        &'a self,
        policy: &RetryPolicy,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Attempt, &'a MySqlPool) -> Fut,
        Fut: Future<Output = std::result::Result<T, AttemptError>>,
    {
        let run = crate::retry::run_routed(|| self.route(), policy, attempt);
        let outcome = if policy.idempotent {
            crate::bypass::idempotent(run).await
        } else {
            run.await
        };
        outcome.map_err(|e| self.explain_timeout(e))
    }

    /// When the health checker finds every endpoint down, a connection failure (a pool
    /// time-out, a refused or broken link, a step that timed out), also as the last attempt of
    /// [`Error::RetriesExhausted`], becomes a top-level [`Error::NoEndpointReachable`] naming
    /// each endpoint and its last error: the one variant to match for "the database is down".
    /// An outcome in doubt stays what it is: that is the fact the caller must act on.
    fn explain_timeout(&self, err: Error) -> Error {
        if self.endpoints.any_healthy() {
            return err;
        }
        let connection = |e: &Error| crate::classify::classify_error(e) == ErrorClass::Connection;
        match &err {
            Error::NoEndpointReachable { .. } | Error::OutcomeUnknown { .. } => err,
            Error::RetriesExhausted { last, .. } if connection(last) => {
                unreachable_error(&self.endpoints)
            }
            e if connection(e) => unreachable_error(&self.endpoints),
            _ => err,
        }
    }
}

/// Busy connections of a pool: open minus idle.
fn busy(pool: &MySqlPool) -> u32 {
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    pool.size().saturating_sub(idle)
}

/// The pool of one endpoint: every connection it opens goes there, and runs the URL's
/// `SET SESSION` first.
fn endpoint_pool(
    settings: &PoolSettings,
    session: Option<Arc<str>>,
    options: MySqlConnectOptions,
) -> MySqlPool {
    let window = settings.alive_bypass_window;
    MySqlPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        // sqlx's ping before every use, except for idempotent work on a connection used
        // within the window (crate::bypass).
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| crate::bypass::check(conn, meta.idle_for, window))
        .after_connect(move |conn: &mut MySqlConnection, _meta| {
            let session = session.clone();
            Box::pin(async move {
                if let Some(set) = session.as_deref() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                        .execute(conn)
                        .await?;
                }
                Ok(())
            }) as BoxFuture<'_, sqlx::Result<()>>
        })
        .connect_lazy_with(options)
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
