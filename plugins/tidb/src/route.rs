//! Where one attempt runs: a pool, and the endpoint all of that pool's connections go to.
//!
//! Every pool the driver builds connects to one endpoint only (see [`crate::cluster`]), so the
//! endpoint of a failure is known exactly and every error of the driver's work names it. A pool
//! the caller passes in is asked for its endpoint the same way, from its connect options.

use sqlx::mysql::MySqlPool;
use tokio::time::Instant;

use crate::classify::{ErrorClass, classify_error};
use crate::deadline::Lease;
use crate::error::{Error, Result};
use crate::health::Endpoints;
use crate::options::endpoint_name;
use crate::policy::AttemptError;

/// A pool, and under a [`crate::Db`] the health of its endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route<'a> {
    pub(crate) pool: &'a MySqlPool,
    endpoint: Option<(&'a Endpoints, usize)>,
}

impl<'a> Route<'a> {
    /// A pool the caller passed in.
    pub(crate) fn single(pool: &'a MySqlPool) -> Self {
        Route {
            pool,
            endpoint: None,
        }
    }

    /// Endpoint `index` of a `Db` and its pool.
    pub(crate) fn of(endpoints: &'a Endpoints, index: usize, pool: &'a MySqlPool) -> Self {
        Route {
            pool,
            endpoint: Some((endpoints, index)),
        }
    }

    /// `host:port` of the endpoint (only computed when something failed).
    pub(crate) fn name(&self) -> String {
        match self.endpoint {
            Some((endpoints, index)) => endpoints.list[index].name.clone(),
            None => endpoint_name(&self.pool.connect_options()),
        }
    }

    /// A connection by `deadline`. Under a `Db` the wait also ends when the health checker
    /// finds the endpoint down (sqlx would keep retrying a refused connection until its
    /// acquire time-out), so the next attempt can go to another endpoint. The caller names
    /// the error ([`Route::named`], [`Route::failed`]) with the rest of the attempt's.
    pub(crate) async fn lease(&self, deadline: Instant) -> Result<Lease> {
        match self.endpoint {
            Some((endpoints, index)) if endpoints.list[index].is_healthy() => {
                let endpoint = &endpoints.list[index];
                tokio::select! {
                    biased;
                    lease = Lease::acquire(self.pool, deadline) => lease,
                    () = endpoint.went_down() => Err(Error::EndpointDown {
                        endpoint: endpoint.name.clone(),
                        reason: endpoint.last_error().unwrap_or_else(|| "probe failed".into()),
                    }),
                }
            }
            // A pool the caller passed in (no health known), or an endpoint found down
            // between its pick and here: try it, and its own error follows.
            _ => Lease::acquire(self.pool, deadline).await,
        }
    }

    /// `error` with this route's endpoint named; a lost connection also makes the endpoint
    /// suspect until the health checker, asked to probe now, has an answer, so the next
    /// attempt goes elsewhere.
    pub(crate) fn named(&self, error: Error) -> Error {
        if let Some((endpoints, index)) = self.endpoint
            && classify_error(&error) == ErrorClass::Connection
        {
            endpoints.suspect(index);
        }
        error.at(&self.name())
    }

    /// [`Route::named`] for an attempt's failure.
    pub(crate) fn failed(&self, failure: AttemptError) -> AttemptError {
        AttemptError {
            error: self.named(failure.error),
            in_doubt: failure.in_doubt,
        }
    }
}
