//! Trace export end to end: requests through the kit's middleware, spans exported by the real
//! OTLP/HTTP exporter (on its own thread, through `RuntimeClient`) to a loopback collector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::routing::{get, post};
use lockstep_service_config::LogConfig;
use lockstep_service_kit::http::{Ops, wrap};
use lockstep_service_kit::metrics::HttpMetrics;
use lockstep_service_kit::telemetry::{self, tracer_provider};
use opentelemetry::trace::TracerProvider as _;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A collector that keeps every body POSTed to `/v1/traces`.
async fn collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1/traces"), bodies)
}

fn app() -> Router {
    let ops = Ops {
        metrics: Arc::new(HttpMetrics::new("1.2.3", "cafe").unwrap()),
        version: "1.2.3",
        config_hash: "cafe".into(),
        ready: Arc::new(|| Box::pin(async { Ok(()) })),
        pool: None,
        clients: None,
        cors_origins: Vec::new(),
        compression: true,
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 1 << 20,
    };
    wrap(
        Router::new().route("/things/{id}", get(|| async { "thing" })),
        ops,
    )
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_inside_the_callers_trace() {
    let (endpoint, bodies) = collector().await;
    let provider = tracer_provider(&endpoint, "kit-test", "1.2.3").unwrap();
    // The services' own subscriber, logging at warn: request spans (info) are exported anyway.
    let log = LogConfig {
        level: "warn".into(),
        ..LogConfig::default()
    };
    let subscriber = telemetry::subscriber(&log, Some(&provider));
    let response = {
        // The request future is polled on this thread (the runtime's block_on thread).
        let _guard = tracing::subscriber::set_default(subscriber);
        app()
            .oneshot(
                Request::get("/things/7")
                    .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    };
    assert_eq!(response.status(), 200);

    // The batch thread exports through the runtime, so flush from a blocking thread.
    let flush = provider.clone();
    tokio::task::spawn_blocking(move || flush.force_flush())
        .await
        .unwrap()
        .expect("the exporter delivered the batch");

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one batch for one request");
    let body = &bodies[0];
    // OTLP protobuf keeps ids as raw bytes and strings as UTF-8.
    assert!(
        contains(body, &hex(TRACE_ID)),
        "span is in the caller's trace"
    );
    assert!(
        contains(body, &hex(CALLER_SPAN)),
        "caller's span is the parent"
    );
    assert!(contains(body, b"kit-test"), "service.name");
    assert!(contains(body, b"1.2.3"), "service.version");
    assert!(contains(body, b"/things/{id}"), "route template attribute");
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_costs_spans_not_requests() {
    // A port nothing listens on: the export fails, the request does not.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let provider =
        tracer_provider(&format!("http://127.0.0.1:{port}/v1/traces"), "k", "1").unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let status = {
        let _guard = tracing::subscriber::set_default(subscriber);
        app()
            .oneshot(Request::get("/things/1").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status, 200);
    let flushed = tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .unwrap();
    assert!(
        flushed.is_err(),
        "the failed export is reported: {flushed:?}"
    );
}
