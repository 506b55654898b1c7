//! A Prometheus look-alike on loopback for the analysis tests: answers `GET /api/v1/query`
//! with the body `answer(query)` returns and records every query with the time it came.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The queries asked so far, with when.
pub(crate) type Asked = Arc<Mutex<Vec<(Instant, String)>>>;

/// Starts the server; returns its base URL and the record of queries.
pub(crate) async fn serve(
    answer: impl Fn(&str) -> String + Clone + Send + Sync + 'static,
) -> (String, Asked) {
    let asked: Asked = Arc::default();
    let log = asked.clone();
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let (log, answer) = (log.clone(), answer.clone());
                async move {
                    let query = q.get("query").cloned().unwrap_or_default();
                    let body = answer(&query);
                    log.lock().unwrap().push((Instant::now(), query));
                    body
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), asked)
}

/// A Prometheus vector answer with one series per value.
pub(crate) fn vector(values: &[&str]) -> String {
    let series: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"metric":{{}},"value":[1700000000.1,"{v}"]}}"#))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        series.join(",")
    )
}
