//! What one analysis sample says: each query's value against its threshold.

use lockstep_crd::spec::{Analysis, Comparison};

use super::types::{AnalysisOutcome, Sample};

/// Whether one analysis sample `value` passes `analysis`'s (first query's) threshold.
pub fn passes(analysis: &Analysis, value: f64) -> bool {
    compare(analysis.comparison, value, analysis.threshold)
}

/// Whether `value` is on the passing side of `threshold`.
pub fn compare(comparison: Comparison, value: f64, threshold: f64) -> bool {
    match comparison {
        Comparison::LessThan => value < threshold,
        Comparison::GreaterThan => value > threshold,
    }
}

/// What one sample of every query of `analysis` says, `outcomes` in query order (`query`
/// first, then `queries`): a failure of any query fails the sample; otherwise a query without
/// a number makes it inconclusive; a sample passes only when every query passes. A missing
/// outcome counts as inconclusive.
pub fn judge(analysis: &Analysis, outcomes: &[AnalysisOutcome]) -> Sample {
    let checks = std::iter::once(("query", analysis.comparison, analysis.threshold)).chain(
        analysis
            .queries
            .iter()
            .map(|q| (q.name.as_str(), q.comparison, q.threshold)),
    );
    let mut inconclusive = None;
    for (i, (name, comparison, threshold)) in checks.enumerate() {
        match outcomes.get(i) {
            Some(AnalysisOutcome::Value(v)) if compare(comparison, *v, threshold) => {}
            Some(AnalysisOutcome::Value(v)) => {
                return Sample::Fail(format!("{name}: {v} against threshold {threshold}"));
            }
            Some(AnalysisOutcome::Inconclusive) | None => {
                inconclusive.get_or_insert_with(|| format!("{name}: no number"));
            }
        }
    }
    inconclusive.map_or(Sample::Pass, Sample::Inconclusive)
}
