//! The canary analysis: one PromQL query per sample, compared with a threshold by
//! [`crate::core::rollout::decide`].
//!
//! Only a number is a result. No series, NaN, an error from Prometheus or an unreachable
//! Prometheus are all *inconclusive*: they never promote and never fail a step by themselves —
//! the progress deadline still bounds a step whose analysis never concludes. Every query is
//! counted by outcome in `lockstep_analysis_queries_total`, so a silent Prometheus is visible.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::core::rollout::AnalysisOutcome;

/// Why a query produced no number.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// `--prometheus-url` is not a usable http(s) URL.
    #[error("prometheus url {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Prometheus could not be reached or timed out.
    #[error("prometheus unreachable: {0}")]
    Unreachable(String),
    /// Prometheus answered with an error (bad PromQL, overload, …).
    #[error("prometheus error {status}: {message}")]
    Query {
        /// HTTP status.
        status: u16,
        /// Prometheus's `errorType: error`, or the body.
        message: String,
    },
    /// The answer is not one number (several series, a matrix, bad JSON).
    #[error("query must return a single number: {0}")]
    Shape(String),
}

impl AnalysisError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AnalysisError::Url { .. } => "url",
            AnalysisError::Unreachable(_) => "unreachable",
            AnalysisError::Query { .. } => "query",
            AnalysisError::Shape(_) => "shape",
        }
    }
}

/// The query with `$revision` replaced by the canary's revision number.
pub fn render_query(query: &str, revision: i64) -> String {
    query.replace("$revision", &revision.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status: String,
    data: Option<Data>,
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

fn sample(pair: &serde_json::Value) -> Result<AnalysisOutcome, AnalysisError> {
    let text = pair
        .get(1)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| AnalysisError::Shape(format!("sample {pair} has no value")))?;
    let value: f64 = text
        .parse()
        .map_err(|_| AnalysisError::Shape(format!("sample value {text:?} is not a number")))?;
    Ok(if value.is_nan() {
        AnalysisOutcome::Inconclusive
    } else {
        AnalysisOutcome::Value(value)
    })
}

/// Reads the body of `GET /api/v1/query` (HTTP status `status`).
pub fn parse_response(status: u16, body: &[u8]) -> Result<AnalysisOutcome, AnalysisError> {
    let response: Response = serde_json::from_slice(body).map_err(|e| {
        if (200..300).contains(&status) {
            AnalysisError::Shape(format!("not a Prometheus response: {e}"))
        } else {
            AnalysisError::Query {
                status,
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
            }
        }
    })?;
    if response.status != "success" {
        return Err(AnalysisError::Query {
            status,
            message: format!(
                "{}: {}",
                response.error_type.unwrap_or_default(),
                response.error.unwrap_or_default()
            ),
        });
    }
    let data = response
        .data
        .ok_or_else(|| AnalysisError::Shape("no data".into()))?;
    match data.result_type.as_str() {
        "scalar" => sample(&data.result),
        "vector" => match data.result.as_array().map(Vec::as_slice) {
            Some([]) => Ok(AnalysisOutcome::Inconclusive),
            Some([one]) => sample(one.get("value").unwrap_or(&serde_json::Value::Null)),
            Some(many) => Err(AnalysisError::Shape(format!(
                "{} series; aggregate them (e.g. sum(...))",
                many.len()
            ))),
            None => Err(AnalysisError::Shape("vector result is not a list".into())),
        },
        other => Err(AnalysisError::Shape(format!("result type {other}"))),
    }
}

/// A Prometheus HTTP API client (http or https with the system's roots).
#[derive(Clone)]
pub struct Prometheus {
    base: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

/// Debug names the server without credentials a URL may carry (`https://user:pass@host`).
impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("base", &redacted(&self.base))
            .finish_non_exhaustive()
    }
}

/// `url` with any `user:password@` replaced by `***@`, for logs, errors and `Debug`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

impl Prometheus {
    /// A client for the Prometheus at `url` (e.g. `http://prometheus.monitoring:9090`).
    pub fn new(url: &str, timeout: Duration) -> Result<Prometheus, AnalysisError> {
        let bad = |reason: &str| AnalysisError::Url {
            url: redacted(url),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad("needs http:// or https:// and a host"));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| bad(&format!("no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Prometheus {
            base: url.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// Runs one instant query.
    pub async fn query(&self, promql: &str) -> Result<AnalysisOutcome, AnalysisError> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        let uri: http::Uri = format!("{}/api/v1/query?{query}", self.base)
            .parse()
            .map_err(|_| AnalysisError::Url {
                url: redacted(&self.base),
                reason: "cannot append the query path".into(),
            })?;
        let call = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|e| AnalysisError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| AnalysisError::Unreachable(e.to_string()))?
                .to_bytes();
            parse_response(status, &body)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| AnalysisError::Unreachable(format!("no answer in {:?}", self.timeout)))?
    }
}
