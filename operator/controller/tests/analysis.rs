//! Canary analysis: reading Prometheus answers, and the client against a local HTTP server that
//! answers like Prometheus.
#![allow(clippy::unwrap_used)]

mod prometheus_support;

use std::time::Duration;

use lockstep_operator::cluster::analysis::{
    AnalysisError, Prometheus, parse_response, render_query,
};
use lockstep_operator::core::rollout::AnalysisOutcome;
use prometheus_support::vector;

#[test]
fn answers_and_their_outcomes() {
    let ok = |body: &str| parse_response(200, body.as_bytes()).unwrap();
    assert_eq!(ok(&vector(&["0.25"])), AnalysisOutcome::Value(0.25));
    assert_eq!(ok(&vector(&[])), AnalysisOutcome::Inconclusive, "no data");
    assert_eq!(ok(&vector(&["NaN"])), AnalysisOutcome::Inconclusive, "NaN");
    assert_eq!(
        ok(&vector(&["+Inf"])),
        AnalysisOutcome::Value(f64::INFINITY),
        "an infinite latency is a value (and fails a LessThan gate)"
    );
    assert_eq!(
        ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#),
        AnalysisOutcome::Value(3.0)
    );
}

#[test]
fn answers_that_are_not_one_number_are_errors() {
    let err = |status, body: &str| parse_response(status, body.as_bytes()).unwrap_err();
    assert!(
        matches!(err(200, &vector(&["1", "2"])), AnalysisError::Shape(m) if m.contains("2 series"))
    );
    assert!(matches!(
        err(
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
        ),
        AnalysisError::Shape(_)
    ));
    assert!(matches!(
        err(200, &vector(&["abc"])),
        AnalysisError::Shape(_)
    ));
    assert!(matches!(err(200, "<html>"), AnalysisError::Shape(_)));
    let bad = err(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
    );
    assert!(
        matches!(&bad, AnalysisError::Query { status: 400, message } if message.contains("parse error")),
        "{bad}"
    );
    assert!(matches!(
        err(502, "Bad Gateway"),
        AnalysisError::Query { status: 502, .. }
    ));
}

#[test]
fn revision_placeholder() {
    assert_eq!(
        render_query(
            r#"sum(rate(http_requests_total{revision="$revision",code=~"5.."}[1m]))"#,
            7
        ),
        r#"sum(rate(http_requests_total{revision="7",code=~"5.."}[1m]))"#
    );
}

#[test]
fn urls_are_checked_up_front() {
    for url in ["prometheus:9090", "ftp://prometheus", "not a url"] {
        assert!(
            matches!(
                Prometheus::new(url, Duration::from_secs(1)),
                Err(AnalysisError::Url { .. })
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn queries_a_prometheus_over_http() {
    let (url, asked) = prometheus_support::serve(|_| vector(&["0.01"])).await;
    let prometheus = Prometheus::new(&format!("{url}/"), Duration::from_secs(5)).unwrap();
    let query = r#"sum(rate(errors{revision="3"}[1m])) / sum(rate(requests[1m]))"#;
    assert_eq!(
        prometheus.query(query).await.unwrap(),
        AnalysisOutcome::Value(0.01)
    );
    assert_eq!(
        asked.lock().unwrap()[0].1,
        query,
        "sent intact, URL-encoded"
    );
}

#[tokio::test]
async fn an_unreachable_prometheus_is_an_error_not_a_value() {
    // Bind and drop to get a loopback port that refuses connections.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let prometheus =
        Prometheus::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5)).unwrap();
    assert!(matches!(
        prometheus.query("up").await,
        Err(AnalysisError::Unreachable(_))
    ));
}

#[test]
fn credentials_in_the_url_never_show() {
    let prometheus = Prometheus::new(
        "https://reader:s3cr3t@prometheus.monitoring:9090/",
        Duration::from_secs(1),
    )
    .unwrap();
    let shown = format!("{prometheus:?}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("reader"),
        "{shown}"
    );
    assert!(shown.contains("prometheus.monitoring:9090"), "{shown}");
    let err = Prometheus::new("ftp://reader:s3cr3t@host", Duration::from_secs(1)).unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert_eq!(
        lockstep_operator::cluster::analysis::redacted("http://host:9090/path@x"),
        "http://host:9090/path@x",
        "an @ in the path is not userinfo"
    );
}
