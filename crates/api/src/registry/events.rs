//! Recording events about objects, with repeats aggregated into one Event whose `count` and
//! `lastTimestamp` move on — what client-go's `record.EventRecorder` and its
//! `EventCorrelator` do, so `kubectl describe` shows `(x3 over 5m)`.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kbatch_core::object::{EVENT, Object};
use kbatch_core::selector::FieldSelector;

use super::{ListParams, Registry, WriteOptions};
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
                Ok(w) => return Ok(w.object),
                Err(e) if e.reason() == "AlreadyExists" => {
                    event.metadata.name = Some(format!("{involved_name}.{:x}", nanos + offset));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal("no free event name"))
    }

    async fn find_repeat(&self, namespace: &str, spec: &EventSpec) -> Result<Option<Event>> {
        let uid = spec.involved.uid.as_deref().unwrap_or("");
        let name = spec.involved.name.as_deref().unwrap_or("");
        let selector = FieldSelector::parse(&format!(
            "involvedObject.name={},involvedObject.uid={},reason={}",
            escape(name),
            escape(uid),
            escape(&spec.reason)
        ))
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let params = ListParams {
            field_selector: Some(selector),
            ..Default::default()
        };
        let list = self.list(&EVENT, Some(namespace), &params).await?;
        Ok(list.items.into_iter().find_map(|o| match o {
            Object::Event(e)
                if e.type_.as_deref() == Some(spec.type_.as_str())
                    && e.message.as_deref() == Some(spec.message.as_str())
                    && e.source.as_ref().and_then(|s| s.component.as_deref())
                        == Some(spec.component.as_str()) =>
            {
                Some(e)
            }
            _ => None,
        }))
    }
}

/// Escapes a value for a field selector (`fields.EscapeValue`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}
