//! A blue-green rollout, in four stages kept in `status.step`:
//!
//! ```text
//!  0 preview   new revision at previewReplicas behind <name>-preview, stable serves;
//!              prePromotionAnalysis samples it            ── fails ──► rolled back (no request
//!       │ ready (and analysed)                                          reached it)
//!  1 ready     waits for `promote` or autoPromotionSeconds (no deadline: a person decides)
//!       │ promoted
//!  2 scaling   new revision grows to spec.replicas, still out of the Service
//!       │ all ready
//!  3 promoted  the Service selects the new revision alone: one selector write; the previous
//!              revision keeps every pod; postPromotionAnalysis ── fails ──► the selector flips
//!       │ passed                                                           back (one write)
//!  completed   the previous revision stays warm for scaleDownDelaySeconds (undo = a flip)
//! ```
//!
//! Image and config flip together: the preview pods run the new revision, both.

use std::ops::ControlFlow::{Break, Continue};
use std::time::Duration;

use lockstep_crd::spec::{Analysis, RolloutSpec};
use lockstep_crd::status::Phase;
use lockstep_crd::traffic::BlueGreen;

use super::analyse::{judge_sample, sample_due};
use super::at::At;
use super::end::finish;
use super::types::{Decision, Observed, RolloutState};

/// The new revision starts behind the preview Service (and is analysed there).
const PREVIEW: u32 = 0;
/// The preview is ready: waiting for promotion.
const READY: u32 = 1;
/// Promoted: the new revision grows to full size before the flip.
const SCALING: u32 = 2;
/// Flipped: the new revision serves alone.
const PROMOTED: u32 = 3;

fn label(stage: u32) -> &'static str {
    match stage {
        PREVIEW => "preview",
        READY => "preview ready",
        SCALING => "promoting",
        _ => "promoted",
    }
}

/// Whether the rollout waits for a person (`promote`): no progress deadline applies.
pub(super) fn waits_for_promotion(s: &RolloutState) -> bool {
    s.step == Some(READY)
}

/// The analysis sampled at the rollout's stage: pre-promotion against the preview,
/// post-promotion after the flip.
pub(super) fn analysis<'a>(rollout: &'a RolloutSpec, s: &RolloutState) -> Option<&'a Analysis> {
    let bg = rollout.blue_green.as_ref()?;
    match s.step {
        None | Some(PREVIEW) => bg.pre_promotion_analysis.as_ref(),
        Some(PROMOTED) => bg.post_promotion_analysis.as_ref(),
        Some(_) => None,
    }
}

/// The next decision of a blue-green rollout of `at.target` after the stable revision.
pub(super) fn next(obs: &Observed<'_>, mut s: RolloutState, at: At<'_>) -> Decision {
    let default = BlueGreen::default();
    let bg = obs.rollout.blue_green.as_ref().unwrap_or(&default);
    if s.step.is_none() {
        s.step = Some(PREVIEW);
        s.step_started = Some(at.started);
    }
    let stage = s.step.unwrap_or(PREVIEW);
    let at = staged(obs, bg, at, stage, s.stable);
    if obs.paused && stage != PROMOTED {
        // A token given while paused is acted on once `paused` is lifted, as a canary's.
        let message = format!("{}: paused (spec.paused)", at.label);
        return at.hold(obs, s, Phase::Paused, message);
    }
    // Any new `promote` token (`--full` too) promotes; seen before the preview is ready it is
    // spent, as a canary step's is.
    let promoted = obs.promote.is_some() && obs.promote.map(str::to_owned) != s.observed_promote;
    s.observed_promote = obs.promote.map(str::to_owned);
    match stage {
        PREVIEW => preview(obs, s, &at, bg, promoted),
        READY => ready(obs, s, &at, bg, promoted),
        SCALING => scaling(obs, s, &at),
        _ => flipped(obs, s, &at, bg),
    }
}

/// `at` for `stage`: the new revision's pods and what the Service selects.
fn staged<'a>(
    obs: &Observed<'_>,
    bg: &BlueGreen,
    mut at: At<'a>,
    stage: u32,
    stable: Option<i64>,
) -> At<'a> {
    let full = obs.replicas;
    let preview = bg.preview_replicas.unwrap_or(full).clamp(1, full.max(1));
    at.canary = if stage >= SCALING { full } else { preview };
    at.serving = if stage == PROMOTED {
        Some(at.target)
    } else {
        stable.or(Some(at.target))
    };
    at.label = label(stage).to_owned();
    at
}

fn preview(
    obs: &Observed<'_>,
    s: RolloutState,
    at: &At<'_>,
    bg: &BlueGreen,
    promoted: bool,
) -> Decision {
    if at.health.ready < at.canary {
        return pods_wait(obs, s, at);
    }
    if promoted {
        return advance(obs, s, at, SCALING, "promoted");
    }
    let Some(a) = &bg.pre_promotion_analysis else {
        return advance(obs, s, at, READY, "preview ready");
    };
    sampled(obs, s, at, a, READY)
}

fn ready(
    obs: &Observed<'_>,
    s: RolloutState,
    at: &At<'_>,
    bg: &BlueGreen,
    promoted: bool,
) -> Decision {
    if promoted {
        return advance(obs, s, at, SCALING, "promoted");
    }
    let Some(after) = bg.auto_promotion_seconds else {
        let message = format!("{}: waiting for promote", at.label);
        return at.hold(obs, s, Phase::Paused, message);
    };
    let waited = obs.now - at.started;
    if waited >= i64::from(after) {
        return advance(obs, s, at, SCALING, "autoPromotionSeconds elapsed");
    }
    let left = i64::from(after) - waited;
    let message = format!("{}: promoting in {left}s (autoPromotionSeconds)", at.label);
    let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
    at.hold(obs, s, Phase::Progressing, message).requeue(left)
}

fn scaling(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Decision {
    if at.health.ready < obs.replicas {
        return pods_wait(obs, s, at);
    }
    advance(obs, s, at, PROMOTED, "ready at full size")
}

fn flipped(obs: &Observed<'_>, s: RolloutState, at: &At<'_>, bg: &BlueGreen) -> Decision {
    if at.health.ready < obs.replicas {
        return pods_wait(obs, s, at);
    }
    let Some(a) = &bg.post_promotion_analysis else {
        return finish(obs, s, &at.health, 0).requeue(at.remaining);
    };
    let Some(outcomes) = &obs.analysis else {
        return sample_due(obs, s, at, a);
    };
    match judge_sample(obs, s, at, a, outcomes) {
        Break(rolled_back) => rolled_back,
        Continue((s, Some(_))) => finish(obs, s, &at.health, 0),
        Continue((s, None)) => analysing(obs, s, at, a),
    }
}

/// The pre-promotion analysis: a sample when due, `to` once enough passed.
fn sampled(obs: &Observed<'_>, s: RolloutState, at: &At<'_>, a: &Analysis, to: u32) -> Decision {
    let Some(outcomes) = &obs.analysis else {
        return sample_due(obs, s, at, a);
    };
    match judge_sample(obs, s, at, a, outcomes) {
        Break(rolled_back) => rolled_back,
        Continue((s, Some(why))) => advance(obs, s, at, to, why),
        Continue((s, None)) => analysing(obs, s, at, a),
    }
}

fn analysing(obs: &Observed<'_>, s: RolloutState, at: &At<'_>, a: &Analysis) -> Decision {
    let message = format!("{}: analysing", at.label);
    let interval = Duration::from_secs(u64::from(a.interval_seconds));
    at.hold(obs, s, Phase::Progressing, message)
        .requeue(interval.min(at.remaining))
}

fn pods_wait(obs: &Observed<'_>, s: RolloutState, at: &At<'_>) -> Decision {
    let message = format!("{}: {}/{} ready", at.label, at.health.ready, at.canary);
    at.hold(obs, s, Phase::Progressing, message)
        .requeue(at.remaining)
}

/// On to stage `to`, at once: the decision already holds what `to` asks for (the flip is in
/// the same reconcile as the last pod becoming ready).
fn advance(obs: &Observed<'_>, mut s: RolloutState, at: &At<'_>, to: u32, why: &str) -> Decision {
    let from = label(s.step.unwrap_or(PREVIEW));
    s.step = Some(to);
    s.step_started = Some(obs.now);
    s.reset_analysis();
    s.last_sample = None;
    let default = BlueGreen::default();
    let bg = obs.rollout.blue_green.as_ref().unwrap_or(&default);
    let next = staged(obs, bg, at.clone(), to, s.stable);
    let target = at.target;
    let (reason, message) = match to {
        READY => (
            "PreviewReady",
            format!("revision {target} is ready for promotion ({why})"),
        ),
        SCALING => ("Promoted", format!("revision {target} promoted ({why})")),
        _ => (
            "TrafficSwitched",
            format!("revision {target} serves all traffic ({why})"),
        ),
    };
    next.hold(obs, s, Phase::Progressing, format!("{from} done ({why})"))
        .event(reason, message, false)
        .requeue(Duration::ZERO)
}
