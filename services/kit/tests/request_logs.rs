//! A request's log lines are the same whether the request runs in a `tracing` span or only in
//! its task-local context (`kit::context`): the access line, a line the handler logs, and the
//! line of a handler that panicked all carry `span` with the method, route and request id.
//! One test in this binary: it switches the process-wide span setting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use lockstep_service_kit::context::use_spans;
use lockstep_service_kit::http::wrap;
use lockstep_service_kit::logfmt::JsonLines;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

fn routes() -> Router {
    Router::new()
        .route(
            "/v1/things/{id}",
            get(|| async {
                tracing::warn!(detail = "a \"quoted\" value", "inside the handler");
                "thing"
            }),
        )
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a bug");
                }
                "unreachable"
            }),
        )
}

/// The lines three requests log, without what differs between runs (time, duration).
async fn lines_with_spans(spans: bool) -> Vec<serde_json::Value> {
    use_spans(spans);
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(buffer.clone())
            .fmt_fields(JsonLines)
            .event_format(JsonLines),
    );
    let _default = tracing::subscriber::set_default(subscriber);
    let app = wrap(routes(), common::ready_ops(None));
    for (path, id) in [
        ("/v1/things/7", "id-1"),
        ("/boom", "id-2"),
        ("/nowhere", "id-3"),
    ] {
        let req = Request::get(path)
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.headers()["x-request-id"], id);
    }
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("timestamp");
            if let Some(fields) = value["fields"].as_object_mut() {
                fields.remove("micros");
            }
            value
        })
        .collect()
}

#[tokio::test]
async fn lines_are_the_same_with_or_without_request_spans() {
    let with_spans = lines_with_spans(true).await;
    let without = lines_with_spans(false).await;
    use_spans(true);
    assert_eq!(with_spans, without);
    let messages: Vec<&str> = without
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "inside the handler",
            "request",
            "a handler panicked",
            "request failed",
            "request"
        ]
    );
    let span = |i: usize| &without[i]["span"];
    assert_eq!(
        *span(0),
        serde_json::json!({"method": "GET", "route": "/v1/things/{id}",
            "request_id": "id-1", "name": "request"})
    );
    assert_eq!(span(2)["request_id"], "id-2");
    assert_eq!(span(3)["route"], "/boom");
    assert_eq!(span(4)["route"], "unmatched");
    assert_eq!(without[1]["target"], "lockstep_service_kit::http");
}
