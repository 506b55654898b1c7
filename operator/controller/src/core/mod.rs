//! Pure decisions: values in, values out — no client, no cache, no clock (the time is an
//! argument). Everything a reconcile decides is here and testable without a cluster.

pub mod plan;
pub mod pods;
pub mod render;
pub mod rollout;
pub mod traffic;
