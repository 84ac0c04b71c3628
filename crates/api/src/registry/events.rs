//! Recording events about objects as client-go's `record.EventRecorder` does: repeats counted
//! into one Event whose `count` and `lastTimestamp` move on (so `kubectl describe` shows
//! `(x3 over 5m)`), similar events combined, floods throttled — see `correlator.rs`.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_core::object::{EVENT, Object};

use jiff::Timestamp;

use super::correlator::{Correlation, Observed};
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

impl EventSpec {
    /// The namespace the event goes to: the involved object's, or `default` for a
    /// cluster-scoped object (as client-go's recorder does).
    pub fn namespace(&self) -> String {
        self.involved
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }
}

impl Registry {
    /// Records an event as client-go's recorder would: through the recording component's
    /// correlator (see `correlator.rs`), so a repeat bumps the count and lastTimestamp of the
    /// Event it repeats, similar events are combined, and a source that floods one object is
    /// throttled. Returns the Event written, or `None` when the spam filter dropped it.
    pub async fn record_event(&self, spec: EventSpec) -> Result<Option<Object>> {
        let namespace = spec.namespace();
        let now = self.clock.now();
        let observed = match self.events.correlate(&namespace, &spec, now) {
            Correlation::Skip => return Ok(None),
            Correlation::Record(observed) => observed,
        };
        if observed.repeat {
            let edited = self
                .edit(
                    &EVENT,
                    &namespace,
                    &observed.name,
                    &WriteOptions::default(),
                    |object| {
                        let Object::Event(e) = object else {
                            return false;
                        };
                        // A later occurrence written first wins: counts never go back.
                        if e.count.unwrap_or(1) >= observed.count {
                            return false;
                        }
                        e.count = Some(observed.count);
                        e.last_timestamp = Some(Time(now));
                        e.message = Some(observed.message.clone());
                        true
                    },
                )
                .await;
            match edited {
                Ok(w) if matches!(w.object, Object::Event(_)) => return Ok(Some(w.object)),
                // Gone in between (or never stored): created again below, as client-go does
                // when its patch finds no event.
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let component = spec.component.clone();
        let written = self.create_event(&namespace, spec, &observed, now).await?;
        self.events.recorded(&component, &observed, written.name());
        Ok(Some(written))
    }

    /// Writes an event as it is, past every correlator: for kbatch's own records, such as a
    /// CronJob's `SkippedSchedule` entries, which bound their number themselves and must be
    /// complete, never combined or dropped.
    pub async fn write_event(&self, spec: EventSpec) -> Result<Object> {
        let namespace = spec.namespace();
        let now = self.clock.now();
        let observed = Observed::uncorrelated(&spec, now);
        self.create_event(&namespace, spec, &observed, now).await
    }

    /// Creates the Event of `observed`.
    async fn create_event(
        &self,
        namespace: &str,
        spec: EventSpec,
        observed: &Observed,
        now: Timestamp,
    ) -> Result<Object> {
        let involved_name = spec.involved.name.clone().unwrap_or_default();
        let mut event = observed.to_event(spec, now);
        // Two events about one object in the same nanosecond (a clock that did not move) take
        // the next free name rather than failing.
        let nanos = now.as_nanosecond();
        for offset in 1..=16i128 {
            match self
                .create(
                    &EVENT,
                    namespace,
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
}
