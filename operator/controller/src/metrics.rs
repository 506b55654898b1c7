//! Prometheus metrics with bounded labels: kind (`album`, `note`) and error class only.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Reconcile metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    writes: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` (prefix `lockstep_`).
    pub fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let reconciles = IntCounterVec::new(
            Opts::new("lockstep_reconciles_total", "Reconciles started"),
            &["kind"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new("lockstep_reconcile_failures_total", "Failed reconciles"),
            &["kind", "error"],
        )?;
        let writes = IntCounterVec::new(
            Opts::new(
                "lockstep_api_writes_total",
                "API writes planned by reconciles",
            ),
            &["kind"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("lockstep_reconcile_duration_seconds", "Reconcile duration")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
            &["kind"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Metrics {
            reconciles,
            failures,
            writes,
            duration,
        })
    }

    /// Counts a reconcile and times it until the returned guard drops.
    pub fn reconcile_timer(&self, kind: &str) -> prometheus::HistogramTimer {
        self.reconciles.with_label_values(&[kind]).inc();
        self.duration.with_label_values(&[kind]).start_timer()
    }

    /// Counts the writes a reconcile planned.
    pub fn count_writes(&self, kind: &str, writes: usize) {
        self.writes.with_label_values(&[kind]).inc_by(writes as u64);
    }

    /// Counts a failed reconcile.
    pub fn count_failure(&self, kind: &str, error: &crate::error::Error) {
        self.failures
            .with_label_values(&[kind, error.metric_label()])
            .inc();
    }
}
