//! Recording events about objects, with repeats aggregated into one Event whose `count` and
//! `lastTimestamp` move on — what client-go's `record.EventRecorder` and its
//! `EventCorrelator` do, so `kubectl describe` shows `(x3 over 5m)`.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kbatch_core::object::{EVENT, Object};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Registry, WriteOptions};
use crate::error::{ApiError, Result};

/// What happened to which object, and who saw it.
#[derive(Debug, Clone)]
pub struct EventSpec {
    /// The object the event is about (kind, namespace, name, uid, apiVersion).
    pub involved: ObjectReference,
    /// `Normal` or `Warning`.
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// The reporting component, e.g. `job-controller`.
    pub component: String,
    /// The node, for events an agent reports.
    pub host: Option<String>,
}

impl Registry {
    /// Records an event: a repeat of an event already stored (same object, type, reason,
    /// source and message) bumps its count and lastTimestamp instead of adding another.
    pub async fn record_event(&self, spec: EventSpec) -> Result<Object> {
        let namespace = spec
            .involved
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let now = Time(self.clock.now());
        let key = repeat_key(&namespace, &spec);
        if let Some(mut existing) = self.find_repeat(&namespace, &spec).await? {
            existing.count = Some(existing.count.unwrap_or(1) + 1);
            existing.last_timestamp = Some(now.clone());
            let name = existing.metadata.name.clone().unwrap_or_default();
            match self
                .update(
                    &EVENT,
                    &namespace,
                    &name,
                    Object::Event(existing),
                    &WriteOptions::default(),
                    Vec::new(),
                )
                .await
            {
                Ok(w) => return Ok(w.object),
                // Gone or changed in between: record it as a new event below.
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        let involved_name = spec.involved.name.clone().unwrap_or_default();
        // client-go names events `<object>.<unix nanoseconds in hex>`.
        let nanos = now.0.as_nanosecond();
        let mut event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{involved_name}.{nanos:x}")),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: spec.involved,
            type_: Some(spec.type_),
            reason: Some(spec.reason),
            message: Some(spec.message),
            source: Some(EventSource {
                component: Some(spec.component.clone()),
                host: spec.host,
            }),
            reporting_component: Some(spec.component),
            reporting_instance: Some(String::new()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        // Two events about one object in the same nanosecond (a clock that did not move) take
        // the next free name rather than failing.
        for offset in 1..=16i128 {
            match self
                .create(
                    &EVENT,
                    &namespace,
                    Object::Event(event.clone()),
                    &WriteOptions::default(),
                    Vec::new(),
                )
                .await
            {
                Ok(w) => {
                    let name = w.object.name().to_owned();
                    self.recent_events.remember(key, name);
                    return Ok(w.object);
                }
                Err(e) if e.reason() == "AlreadyExists" => {
                    event.metadata.name = Some(format!("{involved_name}.{:x}", nanos + offset));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal("no free event name"))
    }

    /// The stored event this one repeats, found through the recent-events cache: a get by
    /// name, never a list (client-go's recorder keeps the same cache on its side).
    async fn find_repeat(&self, namespace: &str, spec: &EventSpec) -> Result<Option<Event>> {
        let key = repeat_key(namespace, spec);
        let Some(name) = self.recent_events.get(&key) else {
            return Ok(None);
        };
        match self.get(&EVENT, namespace, &name).await {
            Ok(Object::Event(e))
                if e.involved_object.uid == spec.involved.uid
                    && e.type_.as_deref() == Some(spec.type_.as_str())
                    && e.reason.as_deref() == Some(spec.reason.as_str())
                    && e.message.as_deref() == Some(spec.message.as_str()) =>
            {
                Ok(Some(e))
            }
            Ok(_) => {
                self.recent_events.forget(&key);
                Ok(None)
            }
            Err(e) if e.is_not_found() => {
                self.recent_events.forget(&key);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// What makes an event a repeat of another: the same object, type, reason, source and message.
fn repeat_key(namespace: &str, spec: &EventSpec) -> String {
    let io = &spec.involved;
    [
        namespace,
        io.kind.as_deref().unwrap_or(""),
        io.name.as_deref().unwrap_or(""),
        io.uid.as_deref().unwrap_or(""),
        &spec.type_,
        &spec.reason,
        &spec.component,
        &spec.message,
    ]
    .join("\u{0}")
}

/// Recent events' names by repeat key, bounded like client-go's correlator cache (4096
/// entries; when full it starts over, so a repeat of a long-forgotten event starts a new one).
#[derive(Debug, Clone, Default)]
pub(super) struct RecentEvents(Arc<Mutex<HashMap<String, String>>>);

const RECENT_EVENTS: usize = 4096;

impl RecentEvents {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn remember(&self, key: String, name: String) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= RECENT_EVENTS {
            map.clear();
        }
        map.insert(key, name);
    }

    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}
