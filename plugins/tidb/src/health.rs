//! Endpoint health: cheap probes, backoff for dead endpoints, and the choice of endpoint for
//! each unit of work.
//!
//! ```text
//!  every `interval`:   healthy endpoint ── ping on its own kept connection (one round trip)
//!                      ping fails ──────── reconnect once (the server may have restarted)
//!                      down endpoint ───── reconnect only when its backoff is due
//!                                          (interval · 2^(failures-1), at most `max_backoff`)
//!  a connection failure in the driver's work ── probe now, not at the next tick
//!  each unit of work:  the healthy endpoint with the fewest busy connections (ties: round robin)
//! ```
//!
//! Every endpoint has a pool of its own (see [`crate::cluster`]), so balancing is a choice per
//! unit of work: an endpoint that recovers has an empty pool, the fewest busy connections, and
//! gets new work at once. A probe used to open a new connection (TCP, handshake,
//! authentication) to every endpoint on every round: 30 handshakes per endpoint per minute per
//! `Db`. Keeping one probe connection per endpoint makes a round one `COM_PING` per healthy
//! endpoint, and a dead endpoint costs a connection attempt only when its backoff is due.
//! [`HealthStats`] counts both.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::options::endpoint_name;

/// The health of one endpoint as last probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    /// `host:port`.
    pub name: String,
    /// Whether the last probe succeeded.
    pub healthy: bool,
    /// Why the last probe failed, if it did.
    pub last_error: Option<String>,
}

/// How often endpoints are probed, how long one probe may take, and how far probes of a dead
/// endpoint back off.
#[derive(Debug, Clone, Copy)]
pub struct HealthCheck {
    /// Time between probe rounds (default 2 s).
    pub interval: Duration,
    /// Time-out of one probe (default 2 s).
    pub timeout: Duration,
    /// Longest wait between connection attempts to a dead endpoint (default 16 s); this bounds
    /// how late a recovered endpoint is noticed.
    pub max_backoff: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(16),
        }
    }
}

/// What the health checker has done since the `Db` was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthStats {
    /// Pings on kept probe connections.
    pub pings: u64,
    /// New probe connections attempted (first contact, reconnects, dead-endpoint retries).
    pub connects: u64,
}

pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) options: MySqlConnectOptions,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Work lost a connection here since the last good probe: chosen only when no endpoint
    /// without such a loss is healthy.
    suspect: AtomicBool,
    /// Wakes everyone waiting for a connection of this endpoint when it is found down.
    down: Notify,
}

/// Names and health only: the options hold the password.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Why the last probe failed, if it did.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    /// Resolves when the health checker finds this endpoint down (at once if it is down now):
    /// a wait for one of its connections can stop and go elsewhere.
    pub(crate) async fn went_down(&self) {
        let notified = self.down.notified();
        tokio::pin!(notified);
        // Registered before the check, so a transition in between is not missed.
        notified.as_mut().enable();
        if self.is_healthy() {
            notified.await;
        }
    }
}

/// The endpoints of one `Db`, shared by its operations and the health task.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) list: Vec<Endpoint>,
    /// Round-robin cursor for ties in [`choose`].
    next: AtomicUsize,
    /// Set by work that lost its connection: probe now instead of at the next tick.
    pub(crate) probe_now: Notify,
    /// Set when the `Db` is dropped: close the probe connections and stop.
    pub(crate) shutdown: Notify,
    pings: AtomicU64,
    connects: AtomicU64,
}

impl Endpoints {
    pub(crate) fn new(endpoints: Vec<MySqlConnectOptions>) -> Self {
        let list = endpoints
            .into_iter()
            .map(|options| Endpoint {
                name: endpoint_name(&options),
                options,
                healthy: AtomicBool::new(false),
                last_error: Mutex::new(None),
                suspect: AtomicBool::new(false),
                down: Notify::new(),
            })
            .collect();
        Endpoints {
            list,
            next: AtomicUsize::new(0),
            probe_now: Notify::new(),
            shutdown: Notify::new(),
            pings: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        }
    }

    /// The endpoint for the next unit of work, given each endpoint's busy connections
    /// (see [`choose`]); a suspect endpoint counts as far busier than any other.
    pub(crate) fn pick(&self, busy: impl Fn(usize) -> u32) -> usize {
        if self.list.len() == 1 {
            return 0;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        choose(
            self.list.iter().enumerate().map(|(i, e)| {
                let penalty = if e.suspect.load(Ordering::Relaxed) {
                    SUSPECT_PENALTY
                } else {
                    0
                };
                e.is_healthy().then(|| busy(i).saturating_add(penalty))
            }),
            start,
        )
    }

    /// Work on endpoint `index` lost its connection: avoid it and probe it now (a good probe
    /// clears this; a bad one marks it down).
    pub(crate) fn suspect(&self, index: usize) {
        self.list[index].suspect.store(true, Ordering::Relaxed);
        self.probe_now.notify_one();
    }

    pub(crate) fn any_healthy(&self) -> bool {
        self.list.iter().any(Endpoint::is_healthy)
    }

    /// Records a probe result; a recovered endpoint then gets new work first (its pool is
    /// the least busy), a dead one wakes the work waiting for its connections.
    fn mark(&self, endpoint: &Endpoint, result: &Result<()>) {
        let healthy = result.is_ok();
        let was = endpoint.healthy.swap(healthy, Ordering::Relaxed);
        endpoint.suspect.store(false, Ordering::Relaxed);
        if was && !healthy {
            endpoint.down.notify_waiters();
        }
        let failed_before = endpoint.last_error.lock().ok().and_then(|mut last| {
            std::mem::replace(&mut *last, result.as_ref().err().map(ToString::to_string))
        });
        match result {
            // "Back" only after a failure: the first probe of a live endpoint is no news.
            Ok(()) if !was && failed_before.is_some() => {
                tracing::info!(endpoint = %endpoint.name, "endpoint is back");
            }
            Err(e) if was || failed_before.is_none() => {
                tracing::warn!(endpoint = %endpoint.name, error = %e, "endpoint is down");
            }
            _ => {}
        }
    }

    pub(crate) fn statuses(&self) -> Vec<EndpointStatus> {
        self.list
            .iter()
            .map(|e| EndpointStatus {
                name: e.name.clone(),
                healthy: e.is_healthy(),
                last_error: e.last_error(),
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> HealthStats {
        HealthStats {
            pings: self.pings.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
        }
    }
}

/// The health task's own state per endpoint.
#[derive(Debug, Default)]
struct ProbeState {
    conn: Option<MySqlConnection>,
    failures: u32,
    next_at: Option<Instant>,
}

/// Probes endpoints; owned by the health task (and used once at connect).
#[derive(Debug)]
pub(crate) struct Prober {
    states: Vec<ProbeState>,
    health: HealthCheck,
}

impl Prober {
    pub(crate) fn new(endpoints: &Endpoints, health: HealthCheck) -> Self {
        Prober {
            states: endpoints
                .list
                .iter()
                .map(|_| ProbeState::default())
                .collect(),
            health,
        }
    }

    /// Says goodbye on every kept probe connection (`COM_QUIT`), so the server does not count
    /// and log an aborted client per endpoint each time a `Db` goes away.
    async fn close(&mut self) {
        let closes = self
            .states
            .iter_mut()
            .filter_map(|s| s.conn.take())
            .map(|conn| {
                let timeout = self.health.timeout;
                async move {
                    let _ = tokio::time::timeout(timeout, conn.close()).await;
                }
            });
        futures::future::join_all(closes).await;
    }

    /// Probes every endpoint that is due, concurrently. While no endpoint is healthy every one
    /// is due, whatever its backoff: work is refused at once then (see [`crate::Db`]), so the
    /// first endpoint back must be seen soon.
    pub(crate) async fn round(&mut self, endpoints: &Endpoints) {
        let now = Instant::now();
        let health = self.health;
        let all_down = !endpoints.any_healthy();
        let probes = self
            .states
            .iter_mut()
            .zip(&endpoints.list)
            .enumerate()
            .filter(|(_, (state, _))| all_down || state.next_at.is_none_or(|at| at <= now))
            .map(|(i, (state, endpoint))| async move {
                let result = probe(endpoint, state, health, endpoints).await;
                (i, result)
            });
        let results = futures::future::join_all(probes).await;
        for (i, result) in results {
            let state = &mut self.states[i];
            if result.is_ok() {
                state.failures = 0;
                state.next_at = None;
            } else {
                state.failures = state.failures.saturating_add(1);
                let wait = health.interval * 2u32.saturating_pow(state.failures - 1).min(1 << 16);
                state.next_at = Some(Instant::now() + wait.min(health.max_backoff));
            }
            endpoints.mark(&endpoints.list[i], &result);
        }
    }
}

/// Pings the kept connection; on failure (or without one) connects afresh and keeps that.
async fn probe(
    endpoint: &Endpoint,
    state: &mut ProbeState,
    health: HealthCheck,
    counters: &Endpoints,
) -> Result<()> {
    if let Some(conn) = state.conn.as_mut() {
        counters.pings.fetch_add(1, Ordering::Relaxed);
        if let Ok(Ok(())) = tokio::time::timeout(health.timeout, conn.ping()).await {
            return Ok(());
        }
        // Broken or hung: drop it (no goodbye to a server that does not answer).
        state.conn = None;
    }
    counters.connects.fetch_add(1, Ordering::Relaxed);
    let attempt = async {
        let mut conn = endpoint.options.connect().await?;
        conn.ping().await?;
        Ok::<_, sqlx::Error>(conn)
    };
    match tokio::time::timeout(health.timeout, attempt).await {
        Ok(Ok(conn)) => {
            state.conn = Some(conn);
            Ok(())
        }
        Ok(Err(e)) => Err(Error::from(e)),
        Err(_) => Err(Error::from(sqlx::Error::Io(
            std::io::ErrorKind::TimedOut.into(),
        ))),
    }
}

/// What a suspect endpoint adds to its busy count: more than any pool holds.
const SUSPECT_PENALTY: u32 = 1 << 20;

/// The endpoint for a unit of work: among the healthy ones (`Some(busy connections)`), the one
/// with the fewest busy connections, the first from `start` (a round-robin cursor) on a tie.
/// When none is healthy, the one at `start`: the driver's operations refuse work then
/// ([`Error::NoEndpointReachable`]), but [`crate::Db::pool`] must still return a pool, whose
/// queries then fail with that endpoint's own error.
pub(crate) fn choose(busy: impl ExactSizeIterator<Item = Option<u32>>, start: usize) -> usize {
    let n = busy.len().max(1);
    let first = start % n;
    busy.enumerate()
        .filter_map(|(i, b)| b.map(|b| (b, (i + n - first) % n, i)))
        .min_by_key(|&(b, turn, _)| (b, turn))
        .map_or(first, |(_, _, i)| i)
}

/// The health task: a probe round every `interval`, one soon when work lost a connection (at
/// most one such round per `interval / 4`, however many failures ask for it), and one every
/// `interval / 4` while no endpoint is healthy, so that calls refused then start succeeding
/// within about that long of an endpoint's return.
pub(crate) async fn health_loop(endpoints: std::sync::Arc<Endpoints>, mut prober: Prober) {
    let mut ticker = tokio::time::interval(prober.health.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let min_gap = prober.health.interval / 4;
    let mut last_round = Instant::now();
    loop {
        let all_down = !endpoints.any_healthy();
        tokio::select! {
            biased;
            () = endpoints.shutdown.notified() => {
                prober.close().await;
                return;
            }
            _ = ticker.tick() => {}
            () = tokio::time::sleep_until(last_round + min_gap), if all_down => {}
            () = endpoints.probe_now.notified() => {
                tokio::time::sleep_until(last_round + min_gap).await;
            }
        }
        prober.round(&endpoints).await;
        last_round = Instant::now();
    }
}

#[cfg(test)]
mod tests;
