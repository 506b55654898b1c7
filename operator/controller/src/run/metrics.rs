//! Prometheus metrics with bounded labels: kind (`album`, `note`) and error class only.

use lockstep_crd::status::Phase;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Event reasons counted as rollout outcomes, and their `outcome` label.
const ROLLOUT_OUTCOMES: [(&str, &str); 5] = [
    ("RolloutStarted", "started"),
    ("RolloutCompleted", "completed"),
    ("Aborted", "aborted"),
    ("RolledBack", "rolled_back"),
    ("RolloutFailed", "failed"),
];

const PHASES: [(Phase, &str); 5] = [
    (Phase::Progressing, "Progressing"),
    (Phase::Paused, "Paused"),
    (Phase::Healthy, "Healthy"),
    (Phase::Degraded, "Degraded"),
    (Phase::RolledBack, "RolledBack"),
];

/// Reconcile metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    writes: IntCounterVec,
    duration: HistogramVec,
    rollouts: IntCounterVec,
    analysis: IntCounterVec,
    phases: IntGaugeVec,
    traffic: IntGaugeVec,
    leader: prometheus::IntGauge,
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
        let rollouts = IntCounterVec::new(
            Opts::new(
                "lockstep_rollouts_total",
                "Rollout transitions: started, completed, aborted, rolled_back, failed",
            ),
            &["kind", "outcome"],
        )?;
        let analysis = IntCounterVec::new(
            Opts::new(
                "lockstep_analysis_queries_total",
                "Canary analysis samples by result: pass, fail, inconclusive, or an error class",
            ),
            &["kind", "result"],
        )?;
        let phases = IntGaugeVec::new(
            Opts::new(
                "lockstep_services",
                "Services by phase, as of their last reconcile in this operator",
            ),
            &["kind", "phase"],
        )?;
        let traffic = IntGaugeVec::new(
            Opts::new(
                "lockstep_traffic_weight",
                "Percent of requests the route sends to <name>-stable and <name>-canary, as last written (rollout.trafficRouting)",
            ),
            &["kind", "namespace", "name", "backend"],
        )?;
        let leader = prometheus::IntGauge::new(
            "lockstep_leader",
            "1 while this replica holds the leader Lease and runs the controllers",
        )?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(rollouts.clone()))?;
        registry.register(Box::new(analysis.clone()))?;
        registry.register(Box::new(phases.clone()))?;
        registry.register(Box::new(traffic.clone()))?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Metrics {
            reconciles,
            failures,
            writes,
            duration,
            rollouts,
            analysis,
            phases,
            traffic,
            leader,
        })
    }

    /// The name of every metric registered, with the kind of its samples (`counter`,
    /// `gauge`, `histogram`): what dashboards and alerts may query (see
    /// `charts/lockstep/dashboards/`, checked by `tests/dashboard.rs`).
    pub fn names(&self) -> Vec<(String, &'static str)> {
        use prometheus::core::Collector;
        let of = |c: &dyn Collector, kind: &'static str| {
            c.desc()
                .into_iter()
                .map(move |d| (d.fq_name.clone(), kind))
                .collect::<Vec<_>>()
        };
        [
            of(&self.reconciles, "counter"),
            of(&self.failures, "counter"),
            of(&self.writes, "counter"),
            of(&self.rollouts, "counter"),
            of(&self.analysis, "counter"),
            of(&self.phases, "gauge"),
            of(&self.traffic, "gauge"),
            of(&self.leader, "gauge"),
            of(&self.duration, "histogram"),
        ]
        .concat()
    }

    /// Marks whether this replica is running the controllers.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Whether this replica is running the controllers (see [`Metrics::set_leader`]).
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// Counts a reconcile and times it until the returned guard drops.
    pub fn reconcile_timer(&self, kind: &str) -> prometheus::HistogramTimer {
        self.reconciles.with_label_values(&[kind]).inc();
        self.duration.with_label_values(&[kind]).start_timer()
    }

    /// Reconciles started for `kind` so far.
    pub fn reconciles(&self, kind: &str) -> u64 {
        self.reconciles.with_label_values(&[kind]).get()
    }

    /// Failed reconciles of `kind` so far.
    pub fn failures(&self, kind: &str) -> u64 {
        use prometheus::core::Collector;
        self.failures
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "kind" && l.value() == kind)
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
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

    /// Counts an object of `kind` that could not be decoded (it is not reconciled).
    pub fn count_undecodable(&self, kind: &str) {
        self.failures
            .with_label_values(&[kind, "undecodable"])
            .inc();
    }

    /// Counts the rollout transitions among the event reasons of one reconcile.
    pub fn count_transitions<'a>(&self, kind: &str, reasons: impl IntoIterator<Item = &'a str>) {
        for reason in reasons {
            if let Some((_, outcome)) = ROLLOUT_OUTCOMES.iter().find(|(r, _)| *r == reason) {
                self.rollouts.with_label_values(&[kind, outcome]).inc();
            }
        }
    }

    /// Counts one analysis sample (`pass`, `fail`, `inconclusive`, or an error label).
    pub fn count_analysis(&self, kind: &str, result: &str) {
        self.analysis.with_label_values(&[kind, result]).inc();
    }

    /// Sets the phase gauge of `kind` from the phases of every service the operator watches
    /// (read from the controller's cache at scrape time, so it never drifts).
    pub fn set_phases(&self, kind: &str, phases: impl IntoIterator<Item = Option<Phase>>) {
        let mut counts = [0i64; PHASES.len()];
        for phase in phases.into_iter().flatten() {
            if let Some(i) = PHASES.iter().position(|(p, _)| *p == phase) {
                counts[i] += 1;
            }
        }
        for ((_, label), count) in PHASES.iter().zip(counts) {
            self.phases.with_label_values(&[kind, label]).set(count);
        }
    }
}

impl Metrics {
    /// Forgets every service's traffic weights (a scrape sets those of the services that
    /// exist again, so a deleted service's series goes).
    pub fn reset_traffic(&self) {
        self.traffic.reset();
    }

    /// The weights service `namespace/name` of `kind` last wrote to its route.
    pub fn set_traffic(&self, kind: &str, namespace: &str, name: &str, stable: u8, canary: u8) {
        for (backend, weight) in [("stable", stable), ("canary", canary)] {
            self.traffic
                .with_label_values(&[kind, namespace, name, backend])
                .set(i64::from(weight));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader_value(registry: &Registry) -> Option<i64> {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "lockstep_leader")
            .map(|f| f.get_metric()[0].get_gauge().get_value() as i64)
    }

    #[test]
    fn the_leader_gauge_follows_leadership() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        assert_eq!(leader_value(&registry), Some(0), "a standby starts at 0");
        metrics.set_leader(true);
        assert_eq!(leader_value(&registry), Some(1));
        metrics.set_leader(false);
        assert_eq!(leader_value(&registry), Some(0));
    }

    #[test]
    fn traffic_weights_are_per_service_and_forgotten_on_reset() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        metrics.set_traffic("album", "shop", "web", 75, 25);
        let weights = |registry: &Registry| {
            registry
                .gather()
                .iter()
                .filter(|f| f.name() == "lockstep_traffic_weight")
                .flat_map(|f| f.get_metric().to_vec())
                .map(|m| {
                    let backend = m
                        .get_label()
                        .iter()
                        .find(|l| l.name() == "backend")
                        .map(|l| l.value().to_owned());
                    (
                        backend.unwrap_or_default(),
                        m.get_gauge().get_value() as i64,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            weights(&registry),
            [("canary".to_owned(), 25), ("stable".to_owned(), 75)]
        );
        metrics.reset_traffic();
        assert_eq!(weights(&registry), []);
    }
}
