//! Talking to the API server: the watches and the caches they fill, what a reconcile observes
//! in them, executing a plan's writes, events, the leader Lease, the CRDs, and the Prometheus
//! queries of canary analysis.

pub mod analysis;
pub mod caches;
pub mod children;
pub mod crds;
pub mod create;
pub mod events;
pub mod execute;
pub mod failure;
pub mod leader;
pub mod observe;
pub mod preflight;
pub mod readiness;
pub mod route;
pub mod services;
pub mod watch;
