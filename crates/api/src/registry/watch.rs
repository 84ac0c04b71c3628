//! Watch: the store's change stream as Kubernetes watch events (the apiserver's etcd3
//! watcher): ADDED/MODIFIED/DELETED filtered by selectors — an object that stops matching is
//! DELETED for the watcher, one that starts matching is ADDED — with synthetic ADDED events for
//! the current state when a watch starts at resourceVersion "" or "0".
//!
//! Every watcher of a kind sees the same store events, so the objects are decoded once and
//! shared (the apiserver's watch cache does the same): a [`DecodeCache`] keeps the recently
//! decoded objects by the revision they were written at. Plain reads go through it too: a
//! write reads the version the watchers have just decoded (admission's reads of namespaces
//! and service accounts come from `lister.rs` instead). [`Registry::watch_shared`] hands
//! them out as they are; [`Registry::watch`] gives each watcher its own copy.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kbatch_core::object::{Kind, Object};
use kbatch_core::selector::{FieldSelector, LabelSelector};
use kbatch_core::status;
use kbatch_store::{EventKind, KeyValue, ListOptions, Revision};

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

/// One event of a [`Registry::watch_shared`]: the object is shared with the registry's
/// decode cache and every other watcher, and read-only.
#[derive(Debug, Clone)]
pub enum SharedWatchEvent {
    Object(WatchEventType, Arc<Object>),
    Error(Box<Status>),
}

impl SharedWatchEvent {
    /// The event with an object of its own.
    pub fn into_owned(self) -> WatchEvent {
        match self {
            SharedWatchEvent::Object(t, obj) => {
                WatchEvent::Object(t, Box::new(Arc::unwrap_or_clone(obj)))
            }
            SharedWatchEvent::Error(status) => WatchEvent::Error(status),
        }
    }
}

/// The stream of a [`Registry::watch_shared`].
pub type SharedWatchStream = BoxStream<'static, SharedWatchEvent>;

/// How many decoded objects the [`DecodeCache`] keeps: the watchers of a kind read each event
/// within moments of each other, so a few thousand revisions cover them.
const DECODED_KEPT: usize = 2048;

/// Objects decoded for watchers, by the revision of the write that stored them (a revision
/// names one version of one key, so one object), the most recent [`DECODED_KEPT`].
#[derive(Debug, Clone, Default)]
pub(super) struct DecodeCache(Arc<Mutex<Decoded>>);

#[derive(Debug, Default)]
struct Decoded {
    objects: HashMap<Revision, Arc<Object>>,
    /// Insertion order, for eviction.
    order: VecDeque<Revision>,
}

impl DecodeCache {
    /// The object written at `revision`, if the cache holds it.
    fn peek(&self, revision: Revision) -> Option<Arc<Object>> {
        self.lock().objects.get(&revision).cloned()
    }

    /// The object stored by `kv` as readers see it (defaulted, with its resourceVersion):
    /// from the cache, or decoded and remembered. `None` if it cannot be decoded.
    pub(super) fn get(&self, kind: &Kind, kv: &KeyValue) -> Option<Arc<Object>> {
        let revision = kv.mod_revision;
        if let Some(obj) = self.lock().objects.get(&revision) {
            return Some(Arc::clone(obj));
        }
        let obj = Arc::new(decode_stored(kind, kv).ok()?);
        let mut decoded = self.lock();
        if let Some(other) = decoded.objects.get(&revision) {
            // Another watcher decoded it meanwhile: share one copy.
            return Some(Arc::clone(other));
        }
        if decoded.order.len() >= DECODED_KEPT
            && let Some(oldest) = decoded.order.pop_front()
        {
            decoded.objects.remove(&oldest);
        }
        decoded.order.push_back(revision);
        decoded.objects.insert(revision, Arc::clone(&obj));
        Some(obj)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Decoded> {
        // Each critical section is one map and one queue operation.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Options of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    pub label_selector: Option<LabelSelector>,
    pub field_selector: Option<FieldSelector>,
    /// "" or "0": start with the current state as ADDED events; N: changes after N.
    pub resource_version: Option<String>,
}

impl Registry {
    /// Watches a collection (`namespace` None: every namespace). Returns the stream and the
    /// revision it starts after.
    pub async fn watch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        params: WatchParams,
    ) -> Result<(WatchStream, Revision)> {
        let (events, after) = self.watch_shared(kind, namespace, params).await?;
        Ok((events.map(SharedWatchEvent::into_owned).boxed(), after))
    }

    /// [`Registry::watch`] with objects shared rather than copied, for watchers that only
    /// read them (informers, the garbage collector, HTTP watches).
    pub async fn watch_shared(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        params: WatchParams,
    ) -> Result<(SharedWatchStream, Revision)> {
        if let Some(fs) = &params.field_selector {
            fields::check_supported(kind, fs)?;
        }
        let prefix = Self::prefix(kind, namespace);
        let rv = params.resource_version.as_deref().unwrap_or("");
        let (initial, after): (SharedWatchStream, Revision) = if rv.is_empty() || rv == "0" {
            let list = self
                .store
                .list(&prefix, ListOptions::default())
                .await
                .map_err(|e| ApiError::from_store(e, kind, ""))?;
            (
                added_events(*kind, list.items, &params, self.decoded.clone()),
                list.revision,
            )
        } else {
            (stream::empty().boxed(), super::parse_resource_version(rv)?)
        };
        let kind = *kind;
        let live: SharedWatchStream = match self.store.watch(&prefix, after).await {
            Ok(events) => {
                let view = View {
                    kind,
                    labels: params.label_selector,
                    fields: params.field_selector,
                    decoded: self.decoded.clone(),
                };
                events
                    .flat_map(move |item| {
                        let out: Vec<SharedWatchEvent> = match item {
                            Ok(event) => view.translate(&event).into_iter().collect(),
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
            *ended = matches!(event, SharedWatchEvent::Error(_));
            futures::future::ready(Some(event))
        });
        Ok((events.boxed(), after))
    }
}

/// The synthetic ADDED events of a watch from "0", each decoded as the watcher reads it: all
/// decoded at once, the collection would be held twice, as stored and as objects (1.5 GB for
/// 100,000 CronJobs when an informer starts). Objects the decode cache holds are shared; the
/// others are decoded without being remembered, so one informer's start does not evict what
/// the live watchers share. An object that cannot be decoded ends the watch with an ERROR
/// event.
fn added_events(
    kind: Kind,
    items: Vec<KeyValue>,
    params: &WatchParams,
    decoded: DecodeCache,
) -> SharedWatchStream {
    let (labels, fields_sel) = (params.label_selector.clone(), params.field_selector.clone());
    stream::iter(items)
        .filter_map(move |kv| {
            let obj = match decoded.peek(kv.mod_revision) {
                Some(obj) => Ok(obj),
                None => decode_stored(&kind, &kv).map(Arc::new),
            };
            let event = match obj {
                Ok(obj) => selectors_match(&obj, labels.as_ref(), fields_sel.as_ref())
                    .then(|| SharedWatchEvent::Object(WatchEventType::Added, obj)),
                Err(e) => Some(SharedWatchEvent::Error(e.0)),
            };
            futures::future::ready(event)
        })
        .boxed()
}

/// An error inside a running watch: the apiserver sends it as an ERROR event holding a
/// Status (410 Expired when the watcher fell behind compaction).
fn stream_error(e: kbatch_store::Error, after: Revision) -> SharedWatchEvent {
    let s = match e {
        kbatch_store::Error::Compacted { compacted, .. } => {
            status::gone(format!("too old resource version: {after} ({compacted})"))
        }
        other => status::internal(other.to_string()),
    };
    SharedWatchEvent::Error(Box::new(s))
}

/// What one watcher sees: a kind through its selectors.
struct View {
    kind: Kind,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    decoded: DecodeCache,
}

impl View {
    fn matching(&self, obj: &Object) -> bool {
        selectors_match(obj, self.labels.as_ref(), self.fields.as_ref())
    }

    fn decode(&self, kv: &KeyValue) -> Option<Arc<Object>> {
        self.decoded.get(&self.kind, kv)
    }

    /// One store event as seen through the selectors.
    fn translate(&self, event: &kbatch_store::Event) -> Option<SharedWatchEvent> {
        let selective = self.labels.is_some() || self.fields.is_some();
        match event.kind {
            EventKind::Create => {
                let obj = self.decode(&event.kv)?;
                self.matching(&obj)
                    .then(|| SharedWatchEvent::Object(WatchEventType::Added, obj))
            }
            EventKind::Update => {
                let new = self.decode(&event.kv)?;
                // Without selectors every version matches: the previous one needs no decoding.
                let old_matched = match &event.prev {
                    None => false,
                    Some(_) if !selective => true,
                    Some(prev) => self.decode(prev).is_some_and(|o| self.matching(&o)),
                };
                match (old_matched, self.matching(&new)) {
                    // The watcher last saw the previous state; it leaves with that state at the
                    // update's resourceVersion (the etcd3 watcher's transform).
                    (true, false) => {
                        let mut gone = Arc::unwrap_or_clone(self.decode(event.prev.as_ref()?)?);
                        super::set_resource_version(&mut gone, event.kv.mod_revision);
                        Some(SharedWatchEvent::Object(
                            WatchEventType::Deleted,
                            Arc::new(gone),
                        ))
                    }
                    (true, true) => Some(SharedWatchEvent::Object(WatchEventType::Modified, new)),
                    (false, true) => Some(SharedWatchEvent::Object(WatchEventType::Added, new)),
                    (false, false) => None,
                }
            }
            EventKind::Delete => {
                let prev = self.decode(event.prev.as_ref()?)?;
                if !self.matching(&prev) {
                    return None;
                }
                let mut obj = Arc::unwrap_or_clone(prev);
                super::set_resource_version(&mut obj, event.kv.mod_revision);
                Some(SharedWatchEvent::Object(
                    WatchEventType::Deleted,
                    Arc::new(obj),
                ))
            }
        }
    }
}
