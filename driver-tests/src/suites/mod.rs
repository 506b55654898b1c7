//! The suites, each a list of [`Case`]s that run on every target.

pub mod batch;
pub mod concurrency;
pub mod crud;
pub mod encryption;
pub mod failover;
pub mod health;
pub mod outcome;
pub mod packet;
pub mod pool;
pub mod retry;
pub mod session;
pub mod timeouts;
pub mod tx;
pub mod types;
pub mod types_limits;

use crate::fresh::Case;

/// Every case of every suite, in a stable order.
pub fn all() -> Vec<Case> {
    [
        crud::cases(),
        types::cases(),
        types_limits::cases(),
        tx::cases(),
        retry::cases(),
        concurrency::cases(),
        failover::cases(),
        health::cases(),
        pool::cases(),
        outcome::cases(),
        timeouts::cases(),
        batch::cases(),
        packet::cases(),
        session::cases(),
        encryption::cases(),
    ]
    .concat()
}
