//! `Idempotency-Key` on POST routes that create something, so a client can retry a request
//! whose answer it never saw without creating the thing twice.
//!
//! ```text
//!  request + Idempotency-Key ─► Claim{id = sha256(scope, key), fingerprint = sha256(route, body)}
//!    stored row with this id? ── same fingerprint ─► the stored answer again (+ Idempotent-Replayed)
//!                             └─ other fingerprint ─► 422 idempotency_key_reused, nothing done
//!    none ─► the write and the row with its answer in ONE transaction
//!            a concurrent twin inserted the id first (unique violation) ─► its answer, as above
//! ```
//!
//! Only answers of writes that committed are kept: a request that failed wrote nothing, so
//! sending it again is safe and does the work. Keys are kept [`RETENTION`]; an older row counts as
//! absent and is replaced. The scope (tenant and user, or none) is hashed into the id, so one
//! client's key never finds another's answer, and the id is hex: MySQL collations, which fold
//! case, never make `abc` and `ABC` one key. Services whose answers are secret seal them with an
//! [`AnswerCodec`] (the note service: under the tenant's key).

mod claim;
mod table;

use std::future::Future;

use sea_orm::ConnectionTrait;

pub use claim::{
    Answer, AnswerCodec, Claim, HEADER, InClear, MAX_KEY, Once, REPLAYED, RETENTION, Stored,
};
use table::Prior;
pub use table::{create_table, sweep, sweep_every};

/// Runs `work` (a create in a retried transaction that calls [`remember`] with the same `once`)
/// under `once`'s claim: a stored answer for the same request is replayed without running it, a
/// key used with another request is refused without running it, and a twin that committed
/// first while `work` ran wins — `work` then fails, on the key or on its own unique constraint
/// (a user name), its transaction is rolled back, and the twin's answer is replayed.
/// `convert` maps the driver's errors to the store's own, as for any transaction.
pub async fn run<T, E, Fut>(
    conn: &impl ConnectionTrait,
    once: Option<&Once<T>>,
    codec: &dyn AnswerCodec,
    work: impl FnOnce() -> Fut,
    convert: impl Fn(lockstep_tidb::Error) -> E,
) -> Result<Answer<T>, E>
where
    Fut: Future<Output = Result<T, lockstep_tidb::Error>>,
{
    let Some(once) = once else {
        return work().await.map(Answer::Done).map_err(convert);
    };
    let earlier = |prior| match prior {
        Prior::Same(stored) => Some(Answer::Replay(stored)),
        Prior::Other => Some(Answer::Reused),
        Prior::Fresh => None,
    };
    let prior = table::lookup(conn, &once.claim, codec).await;
    if let Some(answer) = earlier(prior.map_err(&convert)?) {
        return Ok(answer);
    }
    match work().await {
        Ok(value) => Ok(Answer::Done(value)),
        Err(e) => match table::lookup(conn, &once.claim, codec).await {
            Ok(prior) => earlier(prior).ok_or_else(|| convert(e)),
            Err(_) => Err(convert(e)),
        },
    }
}

/// Inside `work`'s transaction `txn`: stores the answer for `value` under `once`'s claim
/// (nothing without a claim).
pub async fn remember<T>(
    txn: &impl ConnectionTrait,
    once: Option<&Once<T>>,
    value: &T,
    codec: &dyn AnswerCodec,
) -> Result<(), lockstep_tidb::Error> {
    match once {
        Some(once) => table::record(txn, &once.claim, &(once.answer)(value), codec).await,
        None => Ok(()),
    }
}
