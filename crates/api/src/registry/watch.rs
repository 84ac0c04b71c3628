//! Watch: the store's change stream as Kubernetes watch events (the apiserver's etcd3
//! watcher): ADDED/MODIFIED/DELETED filtered by selectors — an object that stops matching is
//! DELETED for the watcher, one that starts matching is ADDED — with synthetic ADDED events for
//! the current state when a watch starts at resourceVersion "" or "0".

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kbatch_core::object::{Kind, Object};
use kbatch_core::selector::{FieldSelector, LabelSelector};
use kbatch_core::status;
use kbatch_store::{EventKind, ListOptions, Revision};

use super::{Registry, decode_stored, fields, selectors_match};
use crate::error::{ApiError, Result};

/// `watch.EventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

impl WatchEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
            WatchEventType::Bookmark => "BOOKMARK",
            WatchEventType::Error => "ERROR",
        }
    }
}

/// One event of a watch.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// ADDED, MODIFIED or DELETED with the object (a DELETED object carries the delete's
    /// resourceVersion).
    Object(WatchEventType, Box<Object>),
    /// The watch cannot go on (e.g. 410 Expired); the last event of the stream.
    Error(Box<Status>),
}

/// The stream of a watch; it ends only on an error or when the store closes.
pub type WatchStream = BoxStream<'static, WatchEvent>;

/// Options of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    pub label_selector: Option<LabelSelector>,
    pub field_selector: Option<FieldSelector>,
    /// "" or "0": start with the current state as ADDED events; N: changes after N.
    pub resource_version: Option<String>,
}

impl Registry {
    /// Watches a collection (`namespace` None: every namespace).
    pub async fn watch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        params: WatchParams,
    ) -> Result<(WatchStream, Revision)> {
        if let Some(fs) = &params.field_selector {
            fields::check_supported(kind, fs)?;
        }
        let prefix = Self::prefix(kind, namespace);
        let rv = params.resource_version.as_deref().unwrap_or("");
        let (initial, after): (WatchStream, Revision) = if rv.is_empty() || rv == "0" {
            let list = self
                .store
                .list(&prefix, ListOptions::default())
                .await
                .map_err(|e| ApiError::from_store(e, kind, ""))?;
            (added_events(*kind, list.items, &params), list.revision)
        } else {
            (stream::empty().boxed(), super::parse_resource_version(rv)?)
        };
        let kind = *kind;
        let live: WatchStream = match self.store.watch(&prefix, after).await {
            Ok(events) => {
                let labels = params.label_selector;
                let fields_sel = params.field_selector;
                events
                    .flat_map(move |item| {
                        let out: Vec<WatchEvent> = match item {
                            Ok(event) => {
                                translate(&kind, &event, labels.as_ref(), fields_sel.as_ref())
                                    .into_iter()
                                    .collect()
                            }
                            Err(e) => vec![stream_error(e, after)],
                        };
                        stream::iter(out)
                    })
                    .boxed()
            }
            Err(e @ kbatch_store::Error::Compacted { .. }) => {
                stream::iter(vec![stream_error(e, after)]).boxed()
            }
            Err(e) => return Err(ApiError::from_store(e, &kind, "")),
        };
        // An ERROR event is the stream's last, wherever it comes from.
        let events = initial.chain(live).scan(false, |ended, event| {
            if *ended {
                return futures::future::ready(None);
            }
            *ended = matches!(event, WatchEvent::Error(_));
            futures::future::ready(Some(event))
        });
        Ok((events.boxed(), after))
    }
}

/// The synthetic ADDED events of a watch from "0", each decoded as the watcher reads it: all
/// decoded at once, the collection would be held twice, as stored and as objects (1.5 GB for
/// 100,000 CronJobs when an informer starts). An object that cannot be decoded ends the
/// watch with an ERROR event.
fn added_events(
    kind: Kind,
    items: Vec<kbatch_store::KeyValue>,
    params: &WatchParams,
) -> WatchStream {
    let (labels, fields_sel) = (params.label_selector.clone(), params.field_selector.clone());
    stream::iter(items)
        .filter_map(move |kv| {
            let event = match decode_stored(&kind, &kv) {
                Ok(obj) => selectors_match(&obj, labels.as_ref(), fields_sel.as_ref())
                    .then(|| WatchEvent::Object(WatchEventType::Added, Box::new(obj))),
                Err(e) => Some(WatchEvent::Error(e.0)),
            };
            futures::future::ready(event)
        })
        .boxed()
}

/// An error inside a running watch: the apiserver sends it as an ERROR event holding a
/// Status (410 Expired when the watcher fell behind compaction).
fn stream_error(e: kbatch_store::Error, after: Revision) -> WatchEvent {
    let s = match e {
        kbatch_store::Error::Compacted { compacted, .. } => {
            status::gone(format!("too old resource version: {after} ({compacted})"))
        }
        other => status::internal(other.to_string()),
    };
    WatchEvent::Error(Box::new(s))
}

/// One store event as seen through the selectors.
fn translate(
    kind: &Kind,
    event: &kbatch_store::Event,
    labels: Option<&LabelSelector>,
    fields_sel: Option<&FieldSelector>,
) -> Option<WatchEvent> {
    let decode = |kv: &kbatch_store::KeyValue| decode_stored(kind, kv).ok();
    let matching = |o: &Object| selectors_match(o, labels, fields_sel);
    match event.kind {
        EventKind::Create => {
            let obj = decode(&event.kv)?;
            matching(&obj).then(|| WatchEvent::Object(WatchEventType::Added, Box::new(obj)))
        }
        EventKind::Update => {
            let new = decode(&event.kv)?;
            let old = event.prev.as_ref().and_then(decode);
            let old_matched = old.as_ref().is_some_and(&matching);
            match (old_matched, matching(&new)) {
                // The watcher last saw the previous state; it leaves with that state at the
                // update's resourceVersion (the etcd3 watcher's transform).
                (true, false) => {
                    let mut gone = old?;
                    super::set_resource_version(&mut gone, event.kv.mod_revision);
                    Some(WatchEvent::Object(WatchEventType::Deleted, Box::new(gone)))
                }
                (true, true) => Some(WatchEvent::Object(WatchEventType::Modified, Box::new(new))),
                (false, true) => Some(WatchEvent::Object(WatchEventType::Added, Box::new(new))),

                (false, false) => None,
            }
        }
        EventKind::Delete => {
            let prev = event.prev.as_ref()?;
            let mut obj = decode(prev)?;
            if !matching(&obj) {
                return None;
            }
            super::set_resource_version(&mut obj, event.kv.mod_revision);
            Some(WatchEvent::Object(WatchEventType::Deleted, Box::new(obj)))
        }
    }
}
