//! Analysis with several queries, `failureLimit` and `inconclusiveLimit` (pure: `decide`).
#![allow(clippy::unwrap_used)]

mod rollout_support;

use lockstep_crd::spec::{AnalysisQuery, Comparison};
use lockstep_crd::status::Phase;
use lockstep_operator::core::rollout::{AnalysisOutcome, Sample, judge};
use rollout_support::*;

use AnalysisOutcome::{Inconclusive, Value};

fn two_queries() -> lockstep_crd::spec::Analysis {
    let mut a = analysis("errors", 2);
    a.queries.push(AnalysisQuery {
        name: "success-rate".into(),
        query: "success".into(),
        threshold: 0.99,
        comparison: Comparison::GreaterThan,
    });
    a
}

#[test]
fn a_sample_passes_only_when_every_query_passes() {
    let a = two_queries();
    assert_eq!(judge(&a, &[Value(0.01), Value(0.999)]), Sample::Pass);
    assert_eq!(
        judge(&a, &[Value(0.01), Value(0.9)]),
        Sample::Fail("success-rate: 0.9 against threshold 0.99".into())
    );
    assert_eq!(
        judge(&a, &[Inconclusive, Value(0.9)]),
        Sample::Fail("success-rate: 0.9 against threshold 0.99".into()),
        "a failure outweighs a missing number"
    );
    assert_eq!(
        judge(&a, &[Value(0.01), Inconclusive]),
        Sample::Inconclusive("success-rate: no number".into())
    );
    assert_eq!(
        judge(&a, &[Value(0.01)]),
        Sample::Inconclusive("success-rate: no number".into()),
        "a query without an answer is not a pass"
    );
}

fn analysed(a: lockstep_crd::spec::Analysis) -> Run {
    let mut rollout = canary(vec![weight(50)]);
    rollout.analysis = Some(a);
    let mut run = Run::new(rollout, Some(1), 2);
    run.ready(1, 4).ready(2, 2);
    run
}

#[test]
fn both_queries_must_pass_for_the_step_to_complete() {
    let mut run = analysed(two_queries());
    run.sample(Some(vec![Value(0.01), Value(0.999)]));
    run.now += 30;
    // The second query has no data: not a pass, not a failure.
    run.sample(Some(vec![Value(0.01), Inconclusive]));
    assert_eq!(
        (run.state.analysis_passes, run.state.analysis_inconclusive),
        (1, 1)
    );
    run.now += 30;
    let d = run.sample(Some(vec![Value(0.01), Value(0.999)]));
    assert_eq!(reasons(&d), ["StepCompleted"]);
    assert_eq!(
        (run.state.analysis_passes, run.state.analysis_inconclusive),
        (0, 0),
        "counts start afresh for the next step"
    );
}

#[test]
fn failures_within_the_failure_limit_do_not_roll_back() {
    let mut a = analysis("errors", 2);
    a.failure_limit = 1;
    let mut run = analysed(a);
    let d = run.step(Some(Value(0.2)));
    assert_eq!(
        (d.phase, run.state.analysis_failures),
        (Phase::Progressing, 1)
    );
    run.now += 30;
    let d = run.step(Some(Value(0.3)));
    assert_eq!(
        d.phase,
        Phase::RolledBack,
        "the second failure is one too many"
    );
    assert!(
        d.message
            .contains("analysis failed at step 0: query: 0.3 against threshold 0.05"),
        "{}",
        d.message
    );

    // Without a limit the first failure rolls back, as before.
    let mut run = analysed(analysis("errors", 2));
    assert_eq!(run.step(Some(Value(0.2))).phase, Phase::RolledBack);
}

#[test]
fn inconclusive_samples_beyond_the_limit_roll_back_and_without_one_never_do() {
    let mut a = analysis("errors", 1);
    a.inconclusive_limit = Some(2);
    let mut run = analysed(a);
    for n in 1..=2 {
        let d = run.step(Some(Inconclusive));
        assert_eq!(
            (d.phase, run.state.analysis_inconclusive),
            (Phase::Progressing, n)
        );
        run.now += 30;
    }
    let d = run.step(Some(Inconclusive));
    assert_eq!(d.phase, Phase::RolledBack);
    assert!(
        d.message
            .contains("analysis inconclusive 3 times at step 0"),
        "{}",
        d.message
    );

    let mut run = analysed(analysis("errors", 1));
    for _ in 0..10 {
        assert_eq!(run.step(Some(Inconclusive)).phase, Phase::Progressing);
        run.now += 30;
    }
}
