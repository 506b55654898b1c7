//! How a rollout ends: completed (the target becomes stable, the previous stable stays warm for
//! `rollout.scaleDownDelaySeconds`), rolled back to the stable revision, or failed with none.

use std::time::Duration;

use lockstep_crd::status::Phase;

use super::types::{Decision, Observed, RevisionHealth, RolloutState};
use crate::core::traffic::Split;

pub(super) fn rolled_back(obs: &Observed<'_>, mut s: RolloutState) -> Decision {
    s.acknowledge_tokens(obs);
    match s.stable {
        Some(stable) => {
            let message = format!(
                "revision {} was rolled back ({}); revision {stable} serves. Change the spec to try again",
                obs.target,
                s.abort_reason.as_deref().unwrap_or("reason not recorded")
            );
            let mut d = Decision::new(s, Phase::RolledBack, message);
            d.scale.insert(stable, obs.replicas);
            d.serving = Some(stable);
            d
        }
        None => {
            let message = format!(
                "revision {} failed ({}) and there is no earlier revision to return to",
                obs.target,
                s.abort_reason.as_deref().unwrap_or("reason not recorded")
            );
            let mut d = Decision::new(s, Phase::Degraded, message);
            d.scale.insert(obs.target, obs.replicas);
            d.serving = Some(obs.target);
            d
        }
    }
}

pub(super) fn roll_back(obs: &Observed<'_>, mut s: RolloutState, reason: String) -> Decision {
    s.aborted = Some(obs.target);
    s.abort_reason = Some(reason.clone());
    s.step = None;
    s.step_started = None;
    s.reset_analysis();
    s.last_sample = None;
    let to = s.stable;
    let d = rolled_back(obs, s);
    match to {
        Some(stable) => d.event(
            "RolledBack",
            format!("{reason}; returned to revision {stable} (image and config)"),
            true,
        ),
        None => d.event("RolloutFailed", reason, true),
    }
}

/// The last stretch: the target takes every replica. With `scaleDownDelaySeconds` the stable
/// revision keeps its replicas until the target serves alone, then stays warm (at full size,
/// out of the Service) for that long; without, it shrinks only as target pods become ready, so
/// capacity never drops either way.
///
/// With `trafficRouting` the stable revision keeps every pod and `weight` (the last step's) of
/// requests go to the target until it serves alone.
pub(super) fn finish(
    obs: &Observed<'_>,
    mut s: RolloutState,
    health: &RevisionHealth,
    weight: u8,
) -> Decision {
    let target = obs.target;
    let delay = i64::from(obs.rollout.scale_down_delay_seconds);
    if health.ready >= obs.replicas {
        let previous = s.stable.replace(target);
        s.step = None;
        s.step_started = None;
        s.reset_analysis();
        s.last_sample = None;
        s.warm = previous
            .filter(|p| *p != target && delay > 0)
            .map(|p| (p, obs.now + delay));
        let warm = s.warm;
        let mut d = Decision::new(
            s,
            Phase::Healthy,
            format!("revision {target} serves all {} replicas", obs.replicas),
        );
        d.scale.insert(target, obs.replicas);
        d.serving = Some(target);
        if let Some((w, _)) = warm {
            d.scale.insert(w, obs.replicas);
            d.requeue_after = Some(Duration::from_secs(delay.unsigned_abs()));
        }
        let from = previous.map_or(String::new(), |p| format!(" (was {p})"));
        let kept = warm.map_or(String::new(), |(w, _)| {
            format!("; revision {w} stays warm for {delay}s (undo needs no new pod)")
        });
        return d.event(
            "RolloutCompleted",
            format!("revision {target} is stable{from}{kept}"),
            false,
        );
    }
    let mut d = Decision::new(
        s,
        Phase::Progressing,
        format!("revision {target}: {}/{} ready", health.ready, obs.replicas),
    );
    d.scale.insert(target, obs.replicas);
    let routed = obs.rollout.traffic_routing.is_some();
    d.traffic = Split {
        stable: d.state.stable.or(Some(target)),
        canary: Some(target),
        weight,
        headers: Vec::new(),
    };
    if let Some(stable) = d.state.stable {
        let keep = if delay > 0 || routed {
            obs.replicas
        } else {
            (obs.replicas - health.ready).max(0)
        };
        d.scale.insert(stable, keep);
    }
    d
}
