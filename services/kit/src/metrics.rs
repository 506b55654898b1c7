//! Prometheus metrics every service exports. Labels are bounded: the route *template*
//! (`/v1/albums/{id}`), the method and the status — never a raw path.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// HTTP, build and pool metrics of one service.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
}

impl HttpMetrics {
    /// Registers the metrics; `build_info{version, config_hash}` is set to 1 at once.
    pub fn new(version: &str, config_hash: &str) -> Result<HttpMetrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["route", "method"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "Binary version and config hash of this process",
            ),
            &["version", "config_hash"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        build.with_label_values(&[version, config_hash]).set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(build))?;
        registry.register(Box::new(pool.clone()))?;
        // The process's own figures (CPU, resident memory, open files, start time), as every
        // Prometheus client exports them; read from /proc at scrape time.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(HttpMetrics {
            registry,
            requests,
            latency,
            pool,
        })
    }

    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        // The status's own static text ("200"): no allocation per request.
        let code = axum::http::StatusCode::from_u16(status);
        let label = code
            .as_ref()
            .map_or("other", axum::http::StatusCode::as_str);
        self.requests
            .with_label_values(&[route, method, label])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Sets the pool gauges (`open`, `idle`).
    pub fn set_pool(&self, open: i64, idle: i64) {
        self.pool.with_label_values(&["open"]).set(open);
        self.pool.with_label_values(&["idle"]).set(idle);
    }

    /// The registry, for a service's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(buffer)
    }
}
