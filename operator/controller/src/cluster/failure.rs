//! What happens when a reconcile fails: the API server's refusal is shown where users look
//! (a Warning event, the status message) and the object is retried with a per-object
//! exponential backoff.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::events::Recorder;
use crate::error::Error;
use crate::kinds::LockstepService;

/// Exponential retry delay per object after failed reconciles: `base`, doubling up to `max`,
/// reset by a successful reconcile. A refusal that will not go away by itself (a quota, a 422)
/// is retried less and less often instead of every few seconds forever.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first delay.
    pub base: std::time::Duration,
    /// The longest delay.
    pub max: std::time::Duration,
    failures: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(300),
        )
    }
}

impl Backoff {
    /// Delays from `base` doubling up to `max`.
    pub fn new(base: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            base,
            max,
            failures: std::sync::Arc::default(),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a failure of `key` and returns how long to wait before the next attempt.
    pub fn failed(&self, key: &str) -> std::time::Duration {
        let mut failures = self.failures();
        let n = failures.entry(key.to_owned()).or_default();
        *n = n.saturating_add(1);
        self.base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16)))
            .min(self.max)
    }

    /// Forgets `key`'s failures.
    pub fn succeeded(&self, key: &str) {
        self.failures().remove(key);
    }
}

/// The API server's refusal in words: code, reason and its message, which names the field or
/// the quota (`422 Invalid: spec.template.spec.containers[0].image: Required value`).
fn refusal(error: &Error) -> String {
    match error {
        Error::Kube(kube::Error::Api(status)) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    }
}

/// Makes a failed write visible where users look: a Warning event `WriteRefused` with the
/// server's message, and the status message (written only when it changes, so a repeating
/// refusal does not write in a loop).
/// Takes the client and recorder, not the controller's context, so this module stays below
/// the controller.
pub(crate) async fn report<S>(client: &kube::Client, recorder: &Recorder, svc: &S, error: &Error)
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let text = refusal(error);
    let event = Event {
        type_: EventType::Warning,
        reason: "WriteRefused".into(),
        note: Some(text.clone()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &svc.object_ref(&())).await {
        tracing::warn!(error = %e, "event not recorded");
    }
    let message = format!("reconcile failed, retrying: {text}");
    if svc.status().and_then(|s| s.message.as_deref()) == Some(message.as_str()) {
        return;
    }
    let (Some(ns), name) = (svc.namespace(), svc.name_any()) else {
        return;
    };
    let patch = serde_json::json!({"status": {"message": message}});
    if let Err(e) = Api::<S>::namespaced(client.clone(), &ns)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(error = %e, "status message not written");
    }
}
