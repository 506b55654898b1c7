//! `/readyz` of a leader follows its caches: on a stalled API server the controller's cache
//! never gets its first LIST and the leader is not ready; once the server answers, it is.
#![allow(clippy::unwrap_used)]

mod common;
mod fake_support;

use std::time::{Duration, Instant};

use lockstep_fake_api::FakeApi;
use lockstep_operator::readiness::{ready, synced};
use lockstep_operator::run::control;

#[tokio::test]
async fn a_leader_on_a_stalled_api_server_is_not_ready_until_it_answers() {
    let fake = FakeApi::start().await.unwrap();
    fake.stall(true);
    let (albums, ctx) = fake_support::album_controller(&fake, std::future::pending());
    let store = albums.store();
    let task = tokio::spawn(control(albums, ctx));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!synced(&store), "no LIST has completed");
    assert!(!ready(true, &[synced(&store)]), "so a leader is not ready");
    assert!(ready(false, &[synced(&store)]), "a standby is");
    fake.stall(false);
    let started = Instant::now();
    while !synced(&store) {
        assert!(started.elapsed() < Duration::from_secs(10), "never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready(true, &[synced(&store)]));
    task.abort();
}
