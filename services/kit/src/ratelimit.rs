//! Rate limits per key (client address, tenant): the generic cell rate algorithm (GCRA), the
//! token bucket written as one timestamp per key.
//!
//! Each key keeps its *theoretical arrival time* (TAT): when its bucket would be full again. A
//! request at `now` is admitted while `TAT - now ≤ (burst - 1) · interval`, and pushes TAT one
//! `interval` (`1 s / per_second`) further. Otherwise it is refused with the time until that
//! holds again, sent as `Retry-After`. A key whose TAT has passed holds a full bucket, exactly
//! like an absent key, so such keys are what is forgotten when the map is full. Forgetting
//! scans the map, so it runs at most once per [`PURGE_EVERY`]: a flood of new keys against a
//! full map of limited ones costs a lookup each, not a scan each.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockstep_service_config::{Quota, RateLimitConfig};

use crate::ApiError;

/// How often a full map may be scanned for keys to forget.
pub const PURGE_EVERY: Duration = Duration::from_secs(1);

/// Longest key kept: an IPv6 address has 45 characters, a tenant 64; a longer client-chosen
/// key (an `X-Forwarded-For` value) is cut, so the map's memory stays bounded.
pub const MAX_KEY: usize = 130;

/// Admits requests per key at a [`Quota`], tracking at most `max_keys` keys.
#[derive(Debug)]
pub struct KeyedLimiter {
    interval: Duration,
    tolerance: Duration,
    max_keys: usize,
    state: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    tats: HashMap<Box<str>, Instant>,
    /// No scan of a full map before this.
    next_purge: Option<Instant>,
}

impl KeyedLimiter {
    /// A limiter admitting `quota` per key.
    pub fn new(quota: Quota, max_keys: u32) -> KeyedLimiter {
        let interval = Duration::from_secs(1) / quota.per_second.max(1);
        KeyedLimiter {
            interval,
            tolerance: interval * quota.burst.max(1).saturating_sub(1),
            max_keys: usize::try_from(max_keys.max(1)).unwrap_or(usize::MAX),
            state: Mutex::default(),
        }
    }

    /// Admits a request of `key` at `now`, or says how long until one would be admitted.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let key = cut(key);
        // The map is only ever left consistent: a panic elsewhere cannot corrupt a timestamp.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tat) = state.tats.get_mut(key) {
            return admit(tat, now, self.interval, self.tolerance);
        }
        if state.tats.len() >= self.max_keys {
            if state.next_purge.is_some_and(|at| now < at) {
                return Err(self.interval);
            }
            state.tats.retain(|_, tat| *tat > now);
            state.next_purge = Some(now + PURGE_EVERY);
            if state.tats.len() >= self.max_keys {
                return Err(self.interval);
            }
        }
        let mut tat = now;
        let verdict = admit(&mut tat, now, self.interval, self.tolerance);
        state.tats.insert(key.into(), tat);
        verdict
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tats
            .len()
    }
}

/// `key` cut to at most [`MAX_KEY`] bytes, on a character boundary.
fn cut(key: &str) -> &str {
    if key.len() <= MAX_KEY {
        return key;
    }
    let mut end = MAX_KEY;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

fn admit(
    tat: &mut Instant,
    now: Instant,
    interval: Duration,
    tolerance: Duration,
) -> Result<(), Duration> {
    let start = (*tat).max(now);
    let ahead = start - now;
    if ahead > tolerance {
        return Err(ahead - tolerance);
    }
    *tat = start + interval;
    Ok(())
}

/// The 429 answer: `rate_limited`, with `Retry-After` in whole seconds (at least 1).
pub fn too_many_requests(what: &str, retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many requests for this {what}; retry in {}s",
            seconds.max(1)
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The per-client limit of a service: the limiter and how a request names its client.
#[derive(Debug, Clone)]
pub struct ClientLimit {
    limiter: Arc<KeyedLimiter>,
    trust_forwarded_for: bool,
}

impl ClientLimit {
    /// From the config section; `None` when per-client limiting is off.
    pub fn from_config(config: &RateLimitConfig) -> Option<ClientLimit> {
        config.per_client.map(|quota| ClientLimit {
            limiter: Arc::new(KeyedLimiter::new(quota, config.max_tracked)),
            trust_forwarded_for: config.trust_forwarded_for,
        })
    }

    /// The client's key: the first `X-Forwarded-For` address when trusted and present, else the
    /// connection's peer address; `unknown` for a request served without one (in-process).
    fn key(&self, req: &Request) -> String {
        if self.trust_forwarded_for
            && let Some(first) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return first.to_owned();
        }
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
    }
}

/// Middleware: answers 429 before the handler runs when the client is over its limit.
pub async fn limit_clients(State(limit): State<ClientLimit>, req: Request, next: Next) -> Response {
    match limit.limiter.check(&limit.key(&req), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many_requests("client", wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota { per_second, burst }
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = KeyedLimiter::new(quota(10, 3), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check("a", t0).unwrap();
        }
        // The fourth at once waits one interval (100 ms) minus nothing.
        assert_eq!(limiter.check("a", t0), Err(Duration::from_millis(100)));
        // Another key has its own bucket.
        limiter.check("b", t0).unwrap();
        // After 100 ms one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        limiter.check("a", t1).unwrap();
        assert!(limiter.check("a", t1).is_err());
        // A quiet second refills the whole burst, not more.
        let t2 = t1 + Duration::from_secs(1);
        for _ in 0..3 {
            limiter.check("a", t2).unwrap();
        }
        assert!(limiter.check("a", t2).is_err());
    }

    #[test]
    fn refusals_do_not_use_up_tokens() {
        let limiter = KeyedLimiter::new(quota(1, 1), 10);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        for _ in 0..100 {
            assert!(limiter.check("a", t0).is_err());
        }
        limiter.check("a", t0 + Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn the_map_stays_bounded_and_forgets_full_buckets_first() {
        let limiter = KeyedLimiter::new(quota(1, 1), 2);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        limiter.check("b", t0).unwrap();
        // Both still limited: a third key is refused rather than tracked.
        assert!(limiter.check("c", t0).is_err());
        assert_eq!(limiter.tracked(), 2);
        // Once their buckets are full again they are forgotten and `c` gets in.
        let later = t0 + Duration::from_secs(2);
        limiter.check("c", later).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_full_map_is_scanned_at_most_once_a_second_and_keys_are_cut() {
        let limiter = KeyedLimiter::new(quota(10, 1), 1);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        // Full and `a` still limited: the scan frees nothing.
        assert!(limiter.check("b", t0).is_err());
        // `a`'s bucket is full again after 100 ms, but the next scan waits a second.
        assert!(limiter.check("c", t0 + Duration::from_millis(500)).is_err());
        limiter.check("c", t0 + PURGE_EVERY).unwrap();
        let long = "x".repeat(10_000);
        let limiter = KeyedLimiter::new(quota(1, 1), 10);
        limiter.check(&long, t0).unwrap();
        // The same 130-byte prefix is the same key.
        assert!(
            limiter
                .check(&format!("{}y", &long[..MAX_KEY]), t0)
                .is_err()
        );
        assert_eq!(cut("é".repeat(100).as_str()).len(), MAX_KEY);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let r = too_many_requests("client", Duration::from_millis(1500));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = too_many_requests("client", Duration::from_millis(10));
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
