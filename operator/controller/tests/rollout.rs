//! The rollout state machine, transition by transition.

mod rollout_support;

use std::time::Duration;

use lockstep_crd::spec::RolloutSpec;
use lockstep_crd::status::Phase;
use lockstep_operator::core::rollout::{AnalysisOutcome, Decision, canary_replicas, weight_at};
use rollout_support::*;

#[test]
fn weights_and_replica_shares() {
    let steps = vec![pause(None), weight(20), pause(None), weight(60)];
    assert_eq!([0, 1, 2, 3].map(|i| weight_at(&steps, i)), [0, 20, 20, 60]);
    for (replicas, w, want) in [
        (4, 25, 1),
        (4, 10, 1),
        (3, 50, 2),
        (4, 0, 0),
        (4, 100, 4),
        (0, 50, 0),
        (10, 33, 4),
    ] {
        assert_eq!(canary_replicas(replicas, w), want, "{replicas} x {w}%");
    }
}

#[test]
fn first_deploy_rolls_out_then_becomes_stable() {
    let mut run = Run::new(RolloutSpec::default(), None, 1);
    run.ready(1, 0);
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone(), reasons(&d)),
        (Phase::Progressing, scale(&[(1, 4)]), vec!["RolloutStarted"])
    );
    assert!(d.requeue_after.is_some(), "the deadline needs a timer");
    run.ready(1, 4);
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Healthy, vec!["RolloutCompleted"])
    );
    assert_eq!(run.state.stable, Some(1));
    // Steady state: nothing to do, no events, no timers.
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone(), d.events.len(), d.requeue_after),
        (Phase::Healthy, scale(&[(1, 4)]), 0, None)
    );
}

#[test]
fn a_first_deploy_skips_canary_steps() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), None, 1);
    let d = run.step(None);
    assert_eq!((d.phase, d.scale), (Phase::Progressing, scale(&[(1, 4)])));
    run.ready(1, 4);
    assert_eq!(run.step(None).phase, Phase::Healthy);
}

#[test]
fn canary_walks_its_steps() {
    let mut run = Run::new(
        canary(vec![weight(25), pause(None), weight(50), pause(Some(60))]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 0);
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone()),
        (Phase::Progressing, scale(&[(1, 3), (2, 1)]))
    );
    assert_eq!(reasons(&d), ["RolloutStarted"]);
    run.ready(2, 1);
    let d = run.step(None);
    assert_eq!(
        (reasons(&d), run.state.step),
        (vec!["StepCompleted"], Some(1))
    );
    assert_eq!(d.requeue_after, Some(Duration::ZERO));
    // pause {}: waits for a person, however long.
    run.now += 10_000;
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.requeue_after, d.scale),
        (Phase::Paused, None, scale(&[(1, 3), (2, 1)]))
    );
    run.promote = Some("p1".into());
    let d = run.step(None);
    assert_eq!(
        (reasons(&d), run.state.step),
        (vec!["StepCompleted"], Some(2))
    );
    // 50 %: two canary pods.
    let d = run.step(None);
    assert_eq!(d.scale, scale(&[(1, 2), (2, 2)]));
    run.ready(2, 2);
    run.step(None);
    assert_eq!(run.state.step, Some(3));
    // The same promote token does not skip the timed pause.
    run.now += 30;
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.requeue_after),
        (Phase::Paused, Some(Duration::from_secs(30)))
    );
    run.now += 30;
    let d = run.step(None);
    assert_eq!(
        (reasons(&d), run.state.step),
        (vec!["StepCompleted"], Some(4))
    );
    // Last stretch: stable shrinks only as the canary's pods become ready.
    run.ready(2, 3);
    let d = run.step(None);
    assert_eq!(d.scale, scale(&[(1, 1), (2, 4)]));
    run.ready(2, 4);
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d), d.scale.clone()),
        (Phase::Healthy, vec!["RolloutCompleted"], scale(&[(2, 4)]))
    );
    assert_eq!(run.state.stable, Some(2));
}

#[test]
fn crash_looping_canary_rolls_back_and_stays_back_until_the_spec_changes() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 2);
    run.ready(1, 4).failing(2, "CrashLoopBackOff");
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone()),
        (Phase::RolledBack, scale(&[(1, 4)]))
    );
    assert_eq!(reasons(&d), ["RolloutStarted", "RolledBack"]);
    assert!(d.events[1].warning && d.events[1].message.contains("CrashLoopBackOff"));
    assert_eq!(run.state.aborted, Some(2));
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.events.len()),
        (Phase::RolledBack, 0),
        "not retried"
    );
    run.target = 3;
    run.health.clear();
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d), run.state.aborted),
        (Phase::Progressing, vec!["RolloutStarted"], None)
    );
}

#[test]
fn progress_deadline_rolls_back_but_not_while_waiting_for_a_person() {
    let mut run = Run::new(
        canary(vec![weight(25), pause(None), weight(50)]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 0);
    run.step(None);
    run.now += 600;
    assert_eq!(
        run.step(None).phase,
        Phase::Progressing,
        "600 s is within the deadline"
    );
    run.now += 1;
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::RolledBack, vec!["RolledBack"])
    );
    assert!(d.events[0].message.contains("no progress within 600s"));

    let mut run = Run::new(
        canary(vec![weight(25), pause(None), weight(50)]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.step(None);
    assert_eq!(run.state.step, Some(1));
    run.now += 86_400;
    assert_eq!(
        run.step(None).phase,
        Phase::Paused,
        "a pause step has no deadline"
    );
    run.paused = true;
    run.state.step = Some(2);
    assert_eq!(
        run.step(None).phase,
        Phase::Paused,
        "spec.paused has no deadline either"
    );
}

#[test]
fn abort_token_rolls_back_once() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.abort = Some("a1".into());
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::RolledBack, vec!["Aborted", "RolledBack"])
    );
    // A new spec with the old token still set rolls out normally.
    run.target = 3;
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Progressing, vec!["RolloutStarted"])
    );
}

#[test]
fn analysis_gates_each_weight_step() {
    let mut rollout = canary(vec![weight(50), pause(None)]);
    rollout.analysis = Some(analysis("rate(errors[1m])", 2));
    let mut run = Run::new(rollout, Some(1), 2);
    run.ready(1, 4).ready(2, 2);
    let d = run.step(None);
    assert!(d.analysis_needed && d.phase == Phase::Progressing);
    let d = run.step(Some(AnalysisOutcome::Inconclusive));
    assert_eq!(
        (run.state.analysis_passes, run.state.step, d.requeue_after),
        (0, Some(0), Some(Duration::from_secs(30)))
    );
    run.step(Some(AnalysisOutcome::Value(0.01)));
    assert_eq!((run.state.analysis_passes, run.state.step), (1, Some(0)));
    let d = run.step(Some(AnalysisOutcome::Value(0.02)));
    assert_eq!(
        (reasons(&d), run.state.step),
        (vec!["StepCompleted"], Some(1))
    );

    let mut rollout = canary(vec![weight(50)]);
    rollout.analysis = Some(analysis("q", 1));
    let mut run = Run::new(rollout, Some(1), 2);
    run.ready(1, 4).ready(2, 2);
    let d = run.step(Some(AnalysisOutcome::Value(0.2)));
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::RolledBack, vec!["RolloutStarted", "RolledBack"])
    );
}

#[test]
fn a_restarted_operator_resumes_mid_step() {
    let mut run = Run::new(canary(vec![weight(25), pause(Some(120))]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.step(None);
    assert_eq!(run.state.step, Some(1));
    let saved = run.state.clone();
    run.now += 50;
    let uninterrupted = run.step(None);
    // A new operator process starts from the stored state alone.
    let mut fresh = Run::new(canary(vec![weight(25), pause(Some(120))]), Some(1), 2);
    fresh.ready(1, 4).ready(2, 1);
    fresh.state = saved;
    fresh.now = run.now;
    let resumed = fresh.step(None);
    assert_eq!(resumed, uninterrupted);
    assert_eq!(
        resumed.requeue_after,
        Some(Duration::from_secs(70)),
        "the step is not restarted"
    );
    assert!(resumed.events.is_empty());
}

#[test]
fn promote_full_skips_the_remaining_steps() {
    let mut run = Run::new(
        canary(vec![weight(10), pause(None), weight(50), pause(None)]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.step(None);
    run.promote = Some("full-1".into());
    let d = run.step(None);
    assert_eq!(reasons(&d), ["Promoted"]);
    assert_eq!(d.scale, scale(&[(1, 3), (2, 4)]));
    run.ready(2, 4);
    assert_eq!(run.step(None).phase, Phase::Healthy);
}

#[test]
fn rolling_back_to_an_older_revision_is_a_rollout_of_it() {
    let no_delay = RolloutSpec {
        scale_down_delay_seconds: 0,
        ..RolloutSpec::default()
    };
    let mut run = Run::new(no_delay, Some(3), 1);
    run.ready(3, 4).ready(1, 2);
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale),
        (Phase::Progressing, scale(&[(1, 4), (3, 2)]))
    );
    run.ready(1, 4);
    let d = run.step(None);
    assert_eq!(
        (d.phase, run.state.stable, reasons(&d)),
        (Phase::Healthy, Some(1), vec!["RolloutCompleted"])
    );
}

#[test]
fn a_failing_first_deploy_is_degraded() {
    let mut run = Run::new(RolloutSpec::default(), None, 1);
    run.failing(1, "ImagePullBackOff");
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone()),
        (Phase::Degraded, scale(&[(1, 4)]))
    );
    assert_eq!(reasons(&d), ["RolloutStarted", "RolloutFailed"]);
}

/// `abort` and `promote --full` given while nothing rolls out are acknowledged and do nothing:
/// the next rollout walks its steps (before, the stale abort rolled it back at once and the
/// stale promote skipped every step).
#[test]
fn tokens_given_while_steady_never_touch_a_later_rollout() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 1);
    run.ready(1, 4);
    assert_eq!(run.step(None).phase, Phase::Healthy);
    run.abort = Some("stale-abort".into());
    run.promote = Some("full-stale".into());
    let d = run.step(None);
    assert_eq!((d.phase, reasons(&d)), (Phase::Healthy, vec![]));
    run.target = 2;
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Progressing, vec!["RolloutStarted"]),
        "a stale token acted on the new rollout"
    );
    assert_eq!(
        d.scale,
        scale(&[(1, 3), (2, 1)]),
        "the canary step was skipped"
    );
    run.ready(2, 1);
    assert_eq!(reasons(&run.step(None)), ["StepCompleted"]);
    let d = run.step(None);
    assert_eq!(
        d.phase,
        Phase::Paused,
        "waits for a person at the pause step"
    );
    // A fresh token acts on the rollout in progress.
    run.promote = Some("full-now".into());
    assert_eq!(reasons(&run.step(None)), ["Promoted"]);
}

/// Going back to an older revision (undo / rollbackTo) skips the canary steps: the e2e plugin
/// scenario's undo used to stop at "Paused … waiting for promote at 50 %".
#[test]
fn a_rollback_to_an_older_revision_goes_straight_to_full_size() {
    let mut run = Run::new(canary(vec![weight(50), pause(None)]), Some(2), 1);
    run.ready(2, 4).ready(1, 0);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["RolloutStarted"]);
    assert_eq!(
        d.scale[&1], 4,
        "the older revision is scaled to full size at once: {d:?}"
    );
    run.ready(1, 4);
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d), d.scale.clone()),
        (Phase::Healthy, vec!["RolloutCompleted"], scale(&[(1, 4)]))
    );
    // A newer revision still walks its steps.
    run.target = 3;
    run.ready(3, 0);
    let d = run.step(None);
    assert_eq!(d.scale, scale(&[(1, 2), (3, 2)]));
}

/// As the controller does it: plan without a sample, take one only if asked, plan again.
fn reconcile(run: &mut Run, value: f64, queries: &mut u32) -> Decision {
    let d = run.step(None);
    if !d.analysis_needed {
        return d;
    }
    *queries += 1;
    run.step(Some(AnalysisOutcome::Value(value)))
}

/// Samples follow `intervalSeconds` however often the operator reconciles (every status write
/// and pod event triggers one): reconciling every second, `samples: 3, intervalSeconds: 30`
/// takes 3 queries and 60 s per step — not 3 queries about a second apart.
#[test]
fn analysis_samples_keep_their_interval_whatever_triggers_a_reconcile() {
    let mut rollout = canary(vec![weight(25), weight(50)]);
    rollout.analysis = Some(analysis("q", 3));
    let mut run = Run::new(rollout, Some(1), 2);
    run.ready(1, 4).ready(2, 4);
    let started = run.now;
    let mut queries = 0;
    let mut sample_times = Vec::new();
    let mut completed_at = None;
    for _ in 0..200 {
        let before = queries;
        let d = reconcile(&mut run, 0.01, &mut queries);
        if queries > before {
            sample_times.push(run.now - started);
        }
        if reasons(&d).contains(&"StepCompleted") {
            completed_at = Some(run.now - started);
            break;
        }
        run.now += 1;
    }
    assert_eq!(
        sample_times,
        [0, 30, 60],
        "sample times (s after the step began)"
    );
    assert_eq!(completed_at, Some(60));
    assert_eq!(queries, 3);
    // The next step starts its own count: no pass carries over.
    assert_eq!(run.state.analysis_passes, 0);
    assert_eq!(run.state.step, Some(1));
}

/// `retry` rolls a rolled-back revision out again from its first step without a spec edit; a
/// retry token seen at any other time does nothing, then or later.
#[test]
fn retry_rolls_a_rolled_back_revision_out_again() {
    let mut run = Run::new(canary(vec![weight(25), pause(None)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.failing(2, "CrashLoopBackOff");
    assert_eq!(run.step(None).phase, Phase::RolledBack);
    // Still rolled back on later reconciles: not retried by itself.
    assert_eq!(run.step(None).phase, Phase::RolledBack);
    run.health.remove(&2);
    run.ready(2, 0);
    run.retry = Some("r1".into());
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Progressing, vec!["RolloutRetried"])
    );
    assert_eq!(
        d.scale,
        scale(&[(1, 3), (2, 1)]),
        "from the first step again"
    );
    assert_eq!(run.state.aborted, None);
    // The same token again does nothing more; a retry token while steady is ignored later.
    run.ready(2, 1);
    run.step(None);
    run.step(None);
    run.promote = Some("full-go".into());
    run.ready(2, 4);
    run.step(None);
    assert_eq!(run.step(None).phase, Phase::Healthy);
    run.retry = Some("r2-while-healthy".into());
    assert_eq!(reasons(&run.step(None)), Vec::<&str>::new());
    run.target = 3;
    run.failing(3, "ErrImagePull");
    assert_eq!(run.step(None).phase, Phase::RolledBack);
    assert_eq!(
        run.step(None).phase,
        Phase::RolledBack,
        "a stale retry token must not retry revision 3"
    );
}
