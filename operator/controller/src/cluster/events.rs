//! Kubernetes Events (`events.k8s.io/v1`) for every transition, with the text of *this*
//! transition.
//!
//! kube-runtime's `Recorder` folds events with the same type, reason and action into one series
//! and keeps the first event's note, so after revision 2 completes `kubectl describe` still said
//! "RolloutCompleted: revision 1 is stable". Here the note is part of what makes an event the
//! same: an identical event repeated within [`SERIES_WINDOW`] becomes a series (count and last
//! time), anything else is a new Event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

/// How long an identical event keeps counting into the same series (kube-runtime uses 6 min).
pub const SERIES_WINDOW: Duration = Duration::from_secs(360);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    regarding: (Option<String>, Option<String>, Option<String>),
    warning: bool,
    reason: String,
    action: String,
    note: Option<String>,
}

#[derive(Debug, Clone)]
struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

/// Publishes events; cheap to clone (the series cache is shared).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    reporter: Reporter,
    cache: Arc<Mutex<HashMap<Key, Published>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Events reported as `reporter` through `client`.
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            cache: Arc::default(),
        }
    }

    /// Records `event` about `regarding`: a new Event, or the next count of an identical one.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let window = k8s_openapi::jiff::SignedDuration::try_from(SERIES_WINDOW).unwrap_or_default();
        let key = Key {
            regarding: (
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            warning: event.type_ == EventType::Warning,
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: event.note.clone(),
        };
        let repeat = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.retain(|_, p| p.last + window > now);
            cache.get(&key).cloned()
        };
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let published = match repeat {
            Some(p) => {
                let count = p.count + 1;
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                let patch = serde_json::json!({ "series": series });
                events
                    .patch(&p.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Published {
                    count,
                    last: now,
                    ..p
                }
            }
            None => {
                let name = format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or("lockstep"),
                    now.as_nanosecond()
                );
                let object = K8sEvent {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace),
                        ..ObjectMeta::default()
                    },
                    event_time: Some(MicroTime(now)),
                    action: Some(event.action.clone()),
                    reason: Some(event.reason.clone()),
                    note: event.note.clone(),
                    type_: Some(if key.warning { "Warning" } else { "Normal" }.into()),
                    regarding: Some(regarding.clone()),
                    related: event.secondary.clone(),
                    reporting_controller: Some(self.reporter.controller.clone()),
                    reporting_instance: Some(
                        self.reporter
                            .instance
                            .clone()
                            .unwrap_or_else(|| self.reporter.controller.clone()),
                    ),
                    ..K8sEvent::default()
                };
                events.create(&PostParams::default(), &object).await?;
                Published {
                    name,
                    count: 1,
                    last: now,
                }
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, published);
        Ok(())
    }
}
