//! The spec patches behind each action (RFC 7386 merge patches). They are the whole interface
//! to the operator: `kubectl patch … --type merge -p '<the same JSON>'` is equivalent.

use lockstep_crd::status::ServiceStatus;
use serde_json::{Value, json};

/// `promote`: a new token each time (the operator acts on a token it has not seen). A token
/// starting with `full` skips the remaining steps.
pub fn promote(now: &str, full: bool) -> Value {
    let token = if full {
        format!("full-{now}")
    } else {
        now.to_owned()
    };
    json!({"spec": {"promote": token}})
}

/// `pause`.
pub fn pause() -> Value {
    json!({"spec": {"paused": true}})
}

/// `resume`.
pub fn resume() -> Value {
    json!({"spec": {"paused": false}})
}

/// `abort`: a new token each time.
pub fn abort(now: &str) -> Value {
    json!({"spec": {"abort": now}})
}

/// `retry`: a new value rolls the rolled-back revision out again.
pub fn retry(now: &str) -> Value {
    json!({"spec": {"retry": now}})
}

/// `restart`: a new value rolls every pod of the service; no new revision.
pub fn restart(now: &str) -> Value {
    json!({"spec": {"restartAt": now}})
}

/// `undo`: make `revision` the target again (the operator rewrites the release to it).
pub fn undo(revision: i64) -> Value {
    json!({"spec": {"rollbackTo": {"revision": revision}}})
}

/// The revision `undo` without `--to-revision` goes back to: what served before the current
/// one. While a rollout is in progress or was rolled back, that is the stable revision; at
/// rest, the warm revision when there is one, else the status's `previousRevision`. Without
/// those (a status from before `previousRevision` existed), the newest kept revision older
/// than the current one that was not rolled back. Only kept revisions; `None` when none fits.
pub fn previous_revision(kept: &[i64], status: &ServiceStatus) -> Option<i64> {
    let kept_one = |n: Option<i64>| n.filter(|n| kept.contains(n));
    let stable = status.stable_revision;
    if stable.is_some()
        && status.current_revision != stable
        && let Some(n) = kept_one(stable)
    {
        return Some(n);
    }
    if let Some(n) = kept_one(status.warm_revision.or(status.previous_revision)) {
        return Some(n);
    }
    let current = status
        .current_revision
        .or_else(|| kept.iter().copied().max())?;
    kept.iter()
        .copied()
        .filter(|&n| n < current && Some(n) != status.aborted_revision)
        .max()
}
