//! `/readyz` follows the caches: on a stalled API server they never get their first LIST and
//! the replica is not ready (leader or standby: both run the caches); once the server
//! answers, it is — and a standby's caches fill without any controller running.
#![allow(clippy::unwrap_used)]

mod common;
mod fake_support;

use std::time::{Duration, Instant};

use lockstep_fake_api::FakeApi;
use lockstep_operator::cluster::readiness::ready;

#[tokio::test]
async fn a_replica_on_a_stalled_api_server_is_not_ready_until_it_answers() {
    let fake = FakeApi::start().await.unwrap();
    fake.stall(true);
    // The controller is never run: these are a standby's caches.
    let (_albums, ctx, feeds) = fake_support::album_controller(
        &fake,
        std::future::pending(),
        lockstep_operator::run::reconcile::IDLE_REQUEUE,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let synced = ctx.caches.synced();
    assert!(
        synced.iter().all(|s| !s),
        "no LIST has completed: {synced:?}"
    );
    assert!(!ready(&synced), "so the replica is not ready");
    fake.stall(false);
    let started = Instant::now();
    while !ready(&ctx.caches.synced()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never synced: {:?}",
            ctx.caches.synced()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    feeds.abort();
}
