//! Endpoint health: cheap probes, backoff for dead endpoints, and rebalancing on recovery.
//!
//! ```text
//!  every `interval`:   healthy endpoint ── ping on its own kept connection (one round trip)
//!                      ping fails ──────── reconnect once (the server may have restarted)
//!                      down endpoint ───── reconnect only when its backoff is due
//!                                          (interval · 2^(failures-1), at most `max_backoff`)
//!  down → up:          close ~pool/healthy connections as they are released; the new ones
//!                      replacing them go to the recovered endpoint, so the pool spreads
//!                      again without waiting for `max-lifetime`
//! ```
//!
//! A probe used to open a new connection (TCP, handshake, authentication) to every endpoint on
//! every round: 30 handshakes per endpoint per minute per `Db`. Keeping one probe connection per
//! endpoint makes a round one `COM_PING` per healthy endpoint, and a dead endpoint costs a
//! connection attempt only when its backoff is due. [`HealthStats`] counts both.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool};
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
    /// Released pool connections closed to rebalance after an endpoint recovered.
    pub recycled: u64,
}

pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) options: MySqlConnectOptions,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
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
}

/// The endpoints of one `Db`, shared by the pool's connect hook and the health task.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) list: Vec<Endpoint>,
    next: AtomicUsize,
    /// Set by the pool's connect hook: a connection was opened, move the target on.
    pub(crate) rotate: Notify,
    /// Set when the `Db` is dropped: close the probe connections and stop.
    pub(crate) shutdown: Notify,
    /// After a recovery: (endpoint index, new connections still to send there).
    pinned: Mutex<Option<(usize, u64)>>,
    /// Released pool connections still to close for a rebalance.
    recycle: AtomicU32,
    pings: AtomicU64,
    connects: AtomicU64,
    recycled: AtomicU64,
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
            })
            .collect();
        Endpoints {
            list,
            next: AtomicUsize::new(0),
            rotate: Notify::new(),
            shutdown: Notify::new(),
            pinned: Mutex::new(None),
            recycle: AtomicU32::new(0),
            pings: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            recycled: AtomicU64::new(0),
        }
    }

    /// The endpoint for the next new connection: a recovered endpoint while it is pinned,
    /// otherwise the next healthy one after the round-robin cursor.
    pub(crate) fn next_target(&self) -> Option<&Endpoint> {
        if let Ok(mut pinned) = self.pinned.lock()
            && let Some((index, left)) = pinned.as_mut()
        {
            let endpoint = &self.list[*index];
            *left -= 1;
            if !endpoint.is_healthy() {
                // Down again: stop moving connections to it.
                self.recycle.store(0, Ordering::Relaxed);
            }
            if *left == 0 || !endpoint.is_healthy() {
                *pinned = None;
            }
            if endpoint.is_healthy() {
                return Some(endpoint);
            }
        }
        // The k-th healthy endpoint, so that a dead one's turns spread evenly over the rest
        // (skipping to "the next healthy after the cursor" gave its turns all to its neighbour).
        let healthy = self.list.iter().filter(|e| e.is_healthy()).count();
        if healthy == 0 {
            return None;
        }
        let k = self.next.fetch_add(1, Ordering::Relaxed) % healthy;
        self.list.iter().filter(|e| e.is_healthy()).nth(k)
    }

    /// The pool's release hook: true when this released connection is to be closed for a
    /// rebalance. One relaxed load when none is running.
    pub(crate) fn recycle_on_release(&self) -> bool {
        if self.recycle.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let taken = self
            .recycle
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if taken {
            self.recycled.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    pub(crate) fn any_healthy(&self) -> bool {
        self.list.iter().any(Endpoint::is_healthy)
    }

    /// Records a probe result; true when the endpoint just came back.
    fn mark(&self, endpoint: &Endpoint, result: &Result<()>) -> bool {
        let healthy = result.is_ok();
        let was = endpoint.healthy.swap(healthy, Ordering::Relaxed);
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
        healthy && !was
    }

    pub(crate) fn statuses(&self) -> Vec<EndpointStatus> {
        self.list
            .iter()
            .map(|e| EndpointStatus {
                name: e.name.clone(),
                healthy: e.is_healthy(),
                last_error: e.last_error.lock().ok().and_then(|l| l.clone()),
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> HealthStats {
        HealthStats {
            pings: self.pings.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            recycled: self.recycled.load(Ordering::Relaxed),
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

    /// Probes every endpoint that is due, concurrently; returns the indices that recovered.
    pub(crate) async fn round(&mut self, endpoints: &Endpoints) -> Vec<usize> {
        let now = Instant::now();
        let health = self.health;
        let probes = self
            .states
            .iter_mut()
            .zip(&endpoints.list)
            .enumerate()
            .filter(|(_, (state, _))| state.next_at.is_none_or(|at| at <= now))
            .map(|(i, (state, endpoint))| async move {
                let result = probe(endpoint, state, health, endpoints).await;
                (i, result)
            });
        let results = futures::future::join_all(probes).await;
        let mut recovered = Vec::new();
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
            if endpoints.mark(&endpoints.list[i], &result) {
                recovered.push(i);
            }
        }
        recovered
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
        Err(_) => Err(Error::Sqlx(sqlx::Error::Io(
            std::io::ErrorKind::TimedOut.into(),
        ))),
    }
}

/// Points the pool at the endpoint for its next new connection.
pub(crate) fn retarget(pool: &MySqlPool, endpoints: &Endpoints) {
    if endpoints.list.len() > 1
        && let Some(next) = endpoints.next_target()
    {
        pool.set_connect_options(next.options.clone());
    }
}

/// After `index` recovered: its fair share is `pool size / healthy endpoints` (its old
/// connections died with it, so the pool now lives on the others). That many released
/// connections are closed instead of pooled ([`Endpoints::recycle_on_release`], the pool's
/// release hook), and the new connections that replace them are pinned to `index`, so the pool
/// spreads again within a few requests per connection instead of waiting for `max-lifetime`.
/// Released, not idle: a busy pool has no idle connection to close.
fn start_rebalance(pool: &MySqlPool, endpoints: &Endpoints, index: usize) {
    let healthy = endpoints.list.iter().filter(|e| e.is_healthy()).count() as u32;
    if endpoints.list.len() < 2 || healthy < 2 {
        return;
    }
    let share = pool.size() / healthy;
    if share == 0 {
        return;
    }
    // The pool's target covers the next connection; the pin the rest of the share.
    if let Ok(mut pinned) = endpoints.pinned.lock() {
        *pinned = (share > 1).then(|| (index, u64::from(share - 1)));
    }
    pool.set_connect_options(endpoints.list[index].options.clone());
    endpoints.recycle.store(share, Ordering::Relaxed);
    tracing::info!(endpoint = %endpoints.list[index].name, share, "rebalancing after recovery");
}

/// The health task: probe rounds every `interval`, retargeting after each new connection.
pub(crate) async fn health_loop(
    pool: MySqlPool,
    endpoints: std::sync::Arc<Endpoints>,
    mut prober: Prober,
) {
    let mut ticker = tokio::time::interval(prober.health.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = endpoints.shutdown.notified() => {
                prober.close().await;
                return;
            }
            _ = ticker.tick() => {
                let recovered = prober.round(&endpoints).await;
                let current = endpoint_name(&pool.connect_options());
                let current_down = endpoints
                    .list
                    .iter()
                    .any(|e| e.name == current && !e.is_healthy());
                if current_down {
                    retarget(&pool, &endpoints);
                }
                if let Some(&index) = recovered.last() {
                    start_rebalance(&pool, &endpoints, index);
                }
            }
            () = endpoints.rotate.notified() => retarget(&pool, &endpoints),
        }
    }
}

#[cfg(test)]
mod tests;
