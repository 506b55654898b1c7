//! `rollout.scaleDownDelaySeconds`: the previous stable revision stays at full size, out of the
//! Service, for that long after a rollout completes, so an undo within the window only switches
//! the Service (no pod starts); after it, the revision is scaled down and an undo starts pods.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use std::time::Duration;

use lockstep_crd::status::Phase;
use rollout_support::*;

/// Revision 2 rolled out over revision 1 (one 25 % step) and completed at `run.now`.
fn completed() -> Run {
    let mut run = Run::new(warm_canary(vec![weight(25)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    // The last stretch keeps revision 1 at full size: its pods are the ones kept warm.
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.scale.clone()),
        (Phase::Progressing, scale(&[(1, 4), (2, 4)]))
    );
    assert_eq!(d.serving, None, "both revisions serve while it rolls out");
    run.ready(2, 4);
    run
}

#[test]
fn the_previous_revision_stays_warm_out_of_the_service_then_goes() {
    let mut run = completed();
    let d = run.step(None);
    assert_eq!(d.phase, Phase::Healthy);
    assert_eq!(
        d.scale,
        scale(&[(1, 4), (2, 4)]),
        "revision 1 stays at full size"
    );
    assert_eq!(d.serving, Some(2), "but only revision 2 is in the Service");
    assert_eq!(run.state.warm, Some((1, run.now + 60)));
    assert_eq!(d.requeue_after, Some(Duration::from_secs(60)));
    assert!(
        d.events[0]
            .message
            .contains("revision 1 stays warm for 60s")
    );

    run.now += 45;
    let d = run.step(None);
    assert_eq!(
        (d.scale.clone(), d.events.len()),
        (scale(&[(1, 4), (2, 4)]), 0)
    );
    assert_eq!(
        d.requeue_after,
        Some(Duration::from_secs(15)),
        "looked at when it ends"
    );

    run.now += 15;
    let d = run.step(None);
    assert_eq!(
        d.scale,
        scale(&[(2, 4)]),
        "scaled down when the delay is over"
    );
    assert_eq!(run.state.warm, None);
}

#[test]
fn an_undo_within_the_window_switches_at_once_and_keeps_the_other_warm() {
    let mut run = completed();
    run.step(None);
    run.now += 10;
    run.target = 1; // undo
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Healthy, vec!["RolloutStarted", "RolloutCompleted"]),
        "completed in the same reconcile: no step, no wait, its pods are running"
    );
    assert_eq!(d.serving, Some(1));
    assert_eq!(d.scale, scale(&[(1, 4), (2, 4)]));
    assert_eq!(
        run.state.warm,
        Some((2, run.now + 60)),
        "a redo is instant too"
    );
}

#[test]
fn an_undo_after_the_window_starts_pods_again() {
    let mut run = completed();
    run.step(None);
    run.now += 61;
    assert_eq!(run.step(None).scale, scale(&[(2, 4)]));
    run.health.remove(&1);
    run.target = 1;
    let d = run.step(None);
    assert_eq!(
        d.phase,
        Phase::Progressing,
        "revision 1 must start its pods"
    );
    assert_eq!(d.scale, scale(&[(1, 4), (2, 4)]));
}

#[test]
fn a_new_rollout_drops_the_warm_revision() {
    let mut run = completed();
    run.step(None);
    run.target = 3;
    let d = run.step(None);
    assert!(
        !d.scale.contains_key(&1),
        "a canary splits traffic across every revision with pods: {:?}",
        d.scale
    );
    assert_eq!((d.serving, run.state.warm), (None, None));
}

#[test]
fn no_delay_scales_the_previous_revision_down_as_before() {
    let mut run = Run::new(canary(vec![weight(25)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.ready(2, 2);
    assert_eq!(run.step(None).scale, scale(&[(1, 2), (2, 4)]));
    run.ready(2, 4);
    let d = run.step(None);
    assert_eq!((d.scale, run.state.warm), (scale(&[(2, 4)]), None));
}
