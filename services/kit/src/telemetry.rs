//! Logs and traces.
//!
//! Logs: JSON lines (or text) at the config's level; `RUST_LOG` overrides for debugging.
//!
//! Traces: every request span (see [`crate::http`]) is exported over OTLP/HTTP (protobuf) when
//! the standard OpenTelemetry environment names a collector — `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base; `/v1/traces` is appended), as Jaeger,
//! Tempo and the OpenTelemetry Collector accept. `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` work as the specification says. The collector is deployment
//! environment, not release content, so it is not part of the service's config file.
//!
//! Why a client of our own: the SDK's batch processor exports from a plain thread with no Tokio
//! runtime, where any async HTTP client panics ("no reactor running") and every span after that
//! is dropped. [`RuntimeClient`] hands each export to the service's runtime and waits for it
//! there, on the hyper + rustls stack the build already has.

use std::time::Duration;

use lockstep_service_config::LogConfig;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;

use crate::logs::{LogFilter, log_directives, log_lines, needs_request_spans};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How long one export may take before the batch is given up (the SDK logs the failure).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Trace export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Called outside a Tokio runtime: exports need one to run on.
    #[error("trace export needs a Tokio runtime: {0}")]
    NoRuntime(#[from] tokio::runtime::TryCurrentError),
    /// The endpoint is not an `http://` or `https://` URL with a host.
    #[error("OTLP endpoint `{endpoint}`: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The system's TLS root certificates could not be loaded.
    #[error("loading TLS root certificates: {0}")]
    TlsRoots(std::io::Error),
    /// The exporter refused its settings.
    #[error("OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The traces URL from OpenTelemetry's environment variables, read through `var`:
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT` +
/// `/v1/traces`, else `None` (export off). Empty values count as unset.
pub fn traces_endpoint(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(url) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Some(url.trim().to_owned());
    }
    set("OTEL_EXPORTER_OTLP_ENDPOINT")
        .map(|base| format!("{}/v1/traces", base.trim().trim_end_matches('/')))
}

/// An OTLP [`HttpClient`] whose requests run on the Tokio runtime it was made on, so the SDK's
/// export thread (which has no runtime) can use an async client. See the module docs.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    inner: opentelemetry_http::hyper::HyperClient<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    >,
    runtime: tokio::runtime::Handle,
}

impl RuntimeClient {
    /// A client for `http://` and `https://` (the system's roots) bound to the current runtime.
    pub fn new(timeout: Duration) -> Result<RuntimeClient, TelemetryError> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(TelemetryError::TlsRoots)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(RuntimeClient {
            inner: opentelemetry_http::hyper::HyperClient::new(connector, timeout, None),
            runtime,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let inner = self.inner.clone();
        // A JoinHandle can be awaited from any executor; the request itself runs on the runtime.
        self.runtime
            .spawn(async move { inner.send_bytes(request).await })
            .await?
    }
}

/// A tracer provider exporting batches to `endpoint` (the full `/v1/traces` URL) as `service`
/// at `version` (`OTEL_SERVICE_NAME` wins over `service`). Call inside the service's runtime.
pub fn tracer_provider(
    endpoint: &str,
    service: &str,
    version: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let bad = |reason: &str| TelemetryError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| bad("needs http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("needs a host"));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(RuntimeClient::new(EXPORT_TIMEOUT)?)
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", version.to_owned()))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes the spans still buffered.
#[derive(Debug)]
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is buffered and stops the exporter. The SDK blocks while it flushes, so it
    /// runs on a blocking thread: the export itself needs the runtime's workers free.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "flushing traces at shutdown failed");
            }
        }
    }
}

/// The subscriber [`init`] installs: logs filtered by `log.level` (or `RUST_LOG`), and, with a
/// provider, request spans at `info` and above exported whatever the log level. With a provider
/// the filters are per layer (a service logging at `warn` still exports its request spans);
/// without one the log filter is global, which spares a filter check per layer and span.
pub fn subscriber(
    log: &LogConfig,
    provider: Option<&SdkTracerProvider>,
) -> Box<dyn tracing::Subscriber + Send + Sync + 'static> {
    let filter = LogFilter::of(&log_directives(&log.level, std::env::var("RUST_LOG").ok()));
    let Some(provider) = provider else {
        return Box::new(
            tracing_subscriber::registry()
                .with(filter.global())
                .with(log_lines(log.format)),
        );
    };
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("lockstep-service-kit"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    Box::new(
        tracing_subscriber::registry()
            .with(log_lines(log.format).with_filter(filter.per_layer()))
            .with(traces),
    )
}

/// Installs the global subscriber ([`subscriber`]): logs per `log`, plus OTLP trace export when
/// the environment names a collector (see the module docs). Call once, from `main`, inside the
/// runtime.
pub fn init(log: &LogConfig, service: &str, version: &str) -> Result<Telemetry, TelemetryError> {
    let endpoint = traces_endpoint(|name| std::env::var(name).ok());
    let provider = match &endpoint {
        Some(endpoint) => Some(tracer_provider(endpoint, service, version)?),
        None => None,
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    crate::context::use_spans(needs_request_spans(log, provider.is_some(), rust_log));
    // A second init (tests) is not an error worth stopping for: the first subscriber stays.
    let _ = subscriber(log, provider.as_ref()).try_init();
    match endpoint {
        Some(endpoint) => tracing::info!(%endpoint, "exporting traces over OTLP/HTTP"),
        None => tracing::info!("trace export off (OTEL_EXPORTER_OTLP_ENDPOINT is unset)"),
    }
    Ok(Telemetry { provider })
}

/// Runs a service's `work` with telemetry installed ([`init`]) and flushes buffered spans after
/// it ends, whether it ended well or not.
pub async fn traced<T, E: From<TelemetryError>>(
    log: &LogConfig,
    service: &str,
    version: &str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let telemetry = init(log, service, version)?;
    let out = work.await;
    telemetry.shutdown().await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_traces_endpoint_follows_the_specification() {
        assert_eq!(traces_endpoint(env(&[])), None);
        assert_eq!(
            traces_endpoint(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            None
        );
        assert_eq!(
            traces_endpoint(env(&[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://jaeger:4318/"
            )])),
            Some("http://jaeger:4318/v1/traces".into())
        );
        // The signal-specific variable is a full URL and wins.
        assert_eq!(
            traces_endpoint(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://b/otlp/traces"
                ),
            ])),
            Some("https://b/otlp/traces".into())
        );
    }

    #[tokio::test]
    async fn a_bad_endpoint_is_a_typed_error_naming_it() {
        for endpoint in ["jaeger:4318", "http://", "ftp://jaeger/v1/traces"] {
            let error = tracer_provider(endpoint, "svc", "1").unwrap_err();
            assert!(
                matches!(&error, TelemetryError::Endpoint { endpoint: e, .. } if e == endpoint),
                "{endpoint}: {error}"
            );
        }
    }

    #[test]
    fn outside_a_runtime_the_client_says_so() {
        assert!(matches!(
            RuntimeClient::new(EXPORT_TIMEOUT),
            Err(TelemetryError::NoRuntime(_))
        ));
    }
}
