//! `/readyz` of a leader follows its caches: on a stalled API server the controller's cache
//! never gets its first LIST and the leader is not ready; once the server answers, it is.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::events::Reporter;
use lockstep_crd::AlbumService;
use lockstep_fake_api::FakeApi;
use lockstep_operator::controller::Context;
use lockstep_operator::events::Recorder;
use lockstep_operator::failure::Backoff;
use lockstep_operator::metrics::Metrics;
use lockstep_operator::readiness::{ready, synced};
use lockstep_operator::run::{control, controller};

#[tokio::test]
async fn a_leader_on_a_stalled_api_server_is_not_ready_until_it_answers() {
    let fake = FakeApi::start().await.unwrap();
    let client = fake.client();
    let metrics = Arc::new(Metrics::register(&prometheus::Registry::new()).unwrap());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "lockstep-operator".into(),
            instance: Some("test".into()),
        },
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: recorder.clone(),
        metrics: metrics.clone(),
        prometheus: None,
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_millis(800)),
    });
    fake.stall(true);
    let albums =
        controller::<AlbumService>(&client, None, 2, std::future::pending(), recorder, metrics);
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
