//! A hung API server (the fake, stalled) fails a request after `--api-timeout-seconds` instead
//! of holding it forever, as kube's default (no read timeout) would.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use lockstep_fake_api::FakeApi;
use lockstep_operator::run::bound_requests;

#[tokio::test]
async fn a_stalled_api_server_fails_the_request_in_time() {
    let fake = FakeApi::start().await.unwrap();
    let mut config = kube::Config::new(fake.client_url().parse().unwrap());
    assert_eq!(
        config.read_timeout, None,
        "kube's default: reads wait forever"
    );
    bound_requests(&mut config, Duration::from_millis(500));
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    api.list(&ListParams::default()).await.unwrap();
    fake.stall(true);
    let started = Instant::now();
    let error = api.list(&ListParams::default()).await.unwrap_err();
    let waited = started.elapsed();
    fake.stall(false);
    assert!(
        waited < Duration::from_secs(3),
        "gave up after {waited:?}: {error}"
    );
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
}
