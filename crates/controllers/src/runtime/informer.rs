//! An informer (client-go's `SharedIndexInformer` with its reflector): a cache of every
//! object of one kind, kept current by a watch, with handlers called on each change.
//!
//! The watch starts at resourceVersion "0", so the registry first replays the current state
//! as ADDED events and then streams live changes. The replayed objects are gathered and
//! replace the cache in one step (the reflector's `Replace`): new keys are reported as added,
//! known keys as updated, and keys that are gone as deleted. When the watch fails — 410 Gone
//! because it fell behind compaction, or any other error — the informer lists again the same
//! way, so handlers see what they missed.
//!
//! Handlers run on the informer's task, in event order, and should only queue work.
//!
//! Indexes (client-go's `Indexers`) group the cached objects by keys a function computes,
//! and are kept current on every change, so a controller reads a subset (a Job's pods)
//! without scanning or decoding anything. The informer also tells how far it has read: the
//! revision of the last change it applied. Store revisions are global and gapless, so once
//! the informer has applied a revision it has applied every earlier change of its kind; a
//! controller awaits the revision of its own last write before it trusts the cache again
//! ([`Informer::wait_for_revision`]), which is what upstream's expectations are for.
//!
//! Cached objects have no metadata.managedFields (client-go's `TransformStripManagedFields`):
//! writes go through the registry, which keeps the stored ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    Registry, SharedWatchEvent, SharedWatchStream, WatchEventType, WatchParams,
    parse_resource_version,
};
use kbatch_core::object::{Kind, Object};
use kbatch_core::selector::FieldSelector;
use tokio::sync::watch;

use super::ObjectKey;

/// The reflector's backoff after a failed list or watch (`backoffManager`: 800 ms doubling up
/// to 30 s).
const RETRY_MIN: Duration = Duration::from_millis(800);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// One change of the cache, as `ResourceEventHandler` sees it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Added(&'a Object),
    /// Also reported for objects a relist found unchanged (client-go's resync semantics).
    Updated {
        old: &'a Object,
        new: &'a Object,
    },
    /// The last state the informer knew of.
    Deleted(&'a Object),
}

type Handler = Box<dyn Fn(Change<'_>) + Send + Sync>;

/// The index keys of an object (client-go's `IndexFunc`).
pub type IndexFunc = fn(&Object) -> Vec<String>;

/// The cached objects and the indexes over them, changed together.
#[derive(Default)]
struct Cache {
    objects: HashMap<ObjectKey, Arc<Object>>,
    indexes: Vec<Index>,
}

struct Index {
    name: &'static str,
    func: IndexFunc,
    /// Index key → the objects with that key, by object key (so reads come out in the
    /// store's order).
    entries: HashMap<String, BTreeMap<ObjectKey, Arc<Object>>>,
}

impl Index {
    fn add(&mut self, key: &ObjectKey, obj: &Arc<Object>) {
        for k in (self.func)(obj) {
            self.entries
                .entry(k)
                .or_default()
                .insert(key.clone(), Arc::clone(obj));
        }
    }

    fn remove(&mut self, key: &ObjectKey, obj: &Object) {
        for k in (self.func)(obj) {
            if let Some(set) = self.entries.get_mut(&k) {
                set.remove(key);
                if set.is_empty() {
                    self.entries.remove(&k);
                }
            }
        }
    }
}

impl Cache {
    fn insert(&mut self, key: ObjectKey, obj: Arc<Object>) -> Option<Arc<Object>> {
        let old = self.objects.insert(key.clone(), Arc::clone(&obj));
        for index in &mut self.indexes {
            if let Some(old) = &old {
                index.remove(&key, old);
            }
            index.add(&key, &obj);
        }
        old
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<Object>> {
        let old = self.objects.remove(key)?;
        for index in &mut self.indexes {
            index.remove(key, &old);
        }
        Some(old)
    }

    /// Replaces every object, rebuilding the indexes; returns the objects replaced.
    fn replace(
        &mut self,
        objects: HashMap<ObjectKey, Arc<Object>>,
    ) -> HashMap<ObjectKey, Arc<Object>> {
        let old = std::mem::replace(&mut self.objects, objects);
        for index in &mut self.indexes {
            index.entries.clear();
            for (key, obj) in &self.objects {
                index.add(key, obj);
            }
        }
        old
    }
}
/// A watch-fed cache of one kind. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Informer {
    shared: Arc<Shared>,
}

struct Shared {
    registry: Registry,
    kind: Kind,
    /// Only the objects it selects are listed and watched.
    field_selector: Option<FieldSelector>,
    cache: RwLock<Cache>,
    /// Locked before `cache` wherever both are taken, and held while handlers run, so a
    /// handler added late sees the cache and then every later change, exactly once.
    handlers: RwLock<Vec<Handler>>,
    synced: watch::Sender<bool>,
    /// The revision the cache reflects: that of the last change applied, or of the last list.
    applied: watch::Sender<i64>,
}

impl std::fmt::Debug for Informer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informer")
            .field("kind", &self.shared.kind.kind)
            .field("objects", &self.read_cache().objects.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

/// What ended one list-and-watch.
enum WatchEnd {
    /// 410 Gone: list again at once.
    Expired,
    /// Anything else: list again after the backoff.
    Failed(ApiError),
}

impl Informer {
    /// An informer of every object of `kind`, in every namespace. It does nothing until
    /// [`Informer::run`].
    pub fn new(registry: Registry, kind: Kind) -> Self {
        Self::selecting(registry, kind, None)
    }

    /// An informer of the objects of `kind` that `field_selector` selects (client-go's
    /// `WithTweakListOptions` on a field selector), for a controller that cares about a few
    /// objects of a kind with many.
    pub fn selecting(
        registry: Registry,
        kind: Kind,
        field_selector: Option<FieldSelector>,
    ) -> Self {
        Informer {
            shared: Arc::new(Shared {
                registry,
                kind,
                field_selector,
                cache: RwLock::new(Cache::default()),
                handlers: RwLock::new(Vec::new()),
                synced: watch::Sender::new(false),
                applied: watch::Sender::new(0),
            }),
        }
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        // Every write to the cache is an insert, remove or swap with its index updates, none
        // of which can panic half way.
        self.shared.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.shared.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_handlers(&self) -> RwLockReadGuard<'_, Vec<Handler>> {
        self.shared
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `handler` on every later change. Objects already cached are reported to it as
    /// added first, as client-go does for handlers added to a running informer.
    pub fn add_handler(&self, handler: impl Fn(Change<'_>) + Send + Sync + 'static) {
        let mut handlers = self
            .shared
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for obj in self.read_cache().objects.values() {
            handler(Change::Added(obj));
        }
        handlers.push(Box::new(handler));
    }

    /// Adds the index `name`, built from the objects cached now and kept current from then
    /// on. An index of that name already there is replaced.
    pub fn add_index(&self, name: &'static str, func: IndexFunc) {
        let mut cache = self.write_cache();
        cache.indexes.retain(|i| i.name != name);
        let mut index = Index {
            name,
            func,
            entries: HashMap::new(),
        };
        for (key, obj) in &cache.objects {
            index.add(key, obj);
        }
        cache.indexes.push(index);
    }

    /// The cached objects whose index `name` holds `key`, ordered by namespace and name; none
    /// when there is no such index.
    pub fn by_index(&self, name: &str, key: &str) -> Vec<Arc<Object>> {
        let cache = self.read_cache();
        cache
            .indexes
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.entries.get(key))
            .map(|set| set.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The cached object, if any.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Object>> {
        self.read_cache()
            .objects
            .get(&ObjectKey::new(namespace, name))
            .cloned()
    }

    /// Every cached object, in no particular order.
    pub fn list(&self) -> Vec<Arc<Object>> {
        self.read_cache().objects.values().cloned().collect()
    }

    /// The revision the cache reflects: that of the last change applied or list read.
    pub fn applied_revision(&self) -> i64 {
        *self.shared.applied.borrow()
    }

    /// Waits until the cache reflects `revision`: the informer applied a change at or after
    /// it, or listed at or after it. For a revision its own kind was written at, that means
    /// the cache holds that write and every earlier one. It waits for as long as that takes,
    /// relists included.
    pub async fn wait_for_revision(&self, revision: i64) {
        if self.applied_revision() >= revision {
            return;
        }
        let mut applied = self.shared.applied.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = applied.wait_for(|a| *a >= revision).await;
    }

    /// Whether the cache has been filled from a first complete list.
    pub fn has_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits until [`Informer::has_synced`].
    pub async fn wait_synced(&self) {
        let mut synced = self.shared.synced.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Lists and watches forever, listing again whenever the watch fails.
    pub async fn run(self) {
        let mut retry = RETRY_MIN;
        loop {
            match self.list_and_watch(&mut retry).await {
                WatchEnd::Expired => {
                    tracing::info!(kind = self.shared.kind.kind, "watch expired; listing again");
                }
                WatchEnd::Failed(e) => {
                    tracing::warn!(
                        kind = self.shared.kind.kind, error = %e, retry_in = ?retry,
                        "list and watch failed"
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// One list-and-watch: the replayed state replaces the cache, then live events apply.
    /// `retry` goes back to its minimum once a list succeeds.
    async fn list_and_watch(&self, retry: &mut Duration) -> WatchEnd {
        let params = WatchParams {
            resource_version: Some("0".to_owned()),
            field_selector: self.shared.field_selector.clone(),
            ..Default::default()
        };
        let (mut stream, listed_at) = match self
            .shared
            .registry
            .watch_shared(&self.shared.kind, None, params)
            .await
        {
            Ok(w) => w,
            Err(e) => return WatchEnd::Failed(e),
        };
        let (listed, first_live) = replayed(&mut stream, listed_at);
        self.replace(listed, listed_at);
        *retry = RETRY_MIN;
        if let Some(event) = first_live
            && let Err(end) = self.apply(event)
        {
            return end;
        }
        while let Some(event) = stream.next().await {
            if let Err(end) = self.apply(event) {
                return end;
            }
        }
        WatchEnd::Failed(ApiError::internal("the watch closed"))
    }

    /// Replaces the cache with a fresh list, read at `revision`, and reports the difference.
    fn replace(&self, listed: HashMap<ObjectKey, Arc<Object>>, revision: i64) {
        let handlers = self.read_handlers();
        let old = self.write_cache().replace(listed.clone());
        self.advance(revision);
        for (key, new) in &listed {
            let change = match old.get(key) {
                Some(old) => Change::Updated { old, new },
                None => Change::Added(new),
            };
            handlers.iter().for_each(|h| h(change));
        }
        for (key, gone) in &old {
            if !listed.contains_key(key) {
                handlers.iter().for_each(|h| h(Change::Deleted(gone)));
            }
        }
        drop(handlers);
        self.shared.synced.send_replace(true);
    }

    /// Applies one live event to the cache and reports it.
    fn apply(&self, event: SharedWatchEvent) -> Result<(), WatchEnd> {
        let (kind, obj) = match event {
            SharedWatchEvent::Object(kind, obj) => (kind, obj),
            SharedWatchEvent::Error(status) => {
                return Err(if status.code == Some(410) {
                    WatchEnd::Expired
                } else {
                    WatchEnd::Failed(ApiError::from(*status))
                });
            }
        };
        let key = ObjectKey::of(&obj);
        let at = revision(&obj);
        let handlers = self.read_handlers();
        match kind {
            WatchEventType::Added | WatchEventType::Modified => {
                let new = stripped(obj);
                let old = self.write_cache().insert(key, Arc::clone(&new));
                self.advance(at);
                let change = match &old {
                    Some(old) => Change::Updated { old, new: &new },
                    None => Change::Added(&new),
                };
                handlers.iter().for_each(|h| h(change));
            }
            WatchEventType::Deleted => {
                let removed = self.write_cache().remove(&key).is_some();
                self.advance(at);
                if removed {
                    handlers.iter().for_each(|h| h(Change::Deleted(&obj)));
                }
            }
            WatchEventType::Bookmark => self.advance(at),
            WatchEventType::Error => {}
        }
        Ok(())
    }

    /// Records that the cache reflects `revision`, waking whoever waits for it.
    fn advance(&self, revision: i64) {
        self.shared.applied.send_if_modified(|applied| {
            let later = revision > *applied;
            if later {
                *applied = revision;
            }
            later
        });
    }
}

/// Takes the replayed state from the front of a watch started at resourceVersion "0": the
/// ADDED events the registry has ready at once, at or below the revision it listed at. The
/// first live event, if one is already waiting behind them, is returned separately.
fn replayed(
    stream: &mut SharedWatchStream,
    listed_at: i64,
) -> (HashMap<ObjectKey, Arc<Object>>, Option<SharedWatchEvent>) {
    let mut listed = HashMap::new();
    while let Some(next) = stream.next().now_or_never() {
        let Some(event) = next else {
            return (listed, None);
        };
        match event {
            SharedWatchEvent::Object(WatchEventType::Added, obj) if revision(&obj) <= listed_at => {
                listed.insert(ObjectKey::of(&obj), stripped(obj));
            }
            live => return (listed, Some(live)),
        }
    }
    (listed, None)
}

/// The object as the cache keeps it: without metadata.managedFields (client-go's
/// `TransformStripManagedFields`), which no handler reads and which is half a decoded
/// object's memory (8 of 15 KB for a CronJob). An object the informer alone holds (one a
/// watch from "0" decoded for it) is changed in place; one shared with the registry's decode
/// cache is copied without them, as the transform copies in client-go.
fn stripped(mut obj: Arc<Object>) -> Arc<Object> {
    if obj.metadata().managed_fields.is_none() {
        return obj;
    }
    match Arc::get_mut(&mut obj) {
        Some(own) => {
            own.metadata_mut().managed_fields = None;
            obj
        }
        None => Arc::new(obj.clone_without_managed_fields()),
    }
}

fn revision(obj: &Object) -> i64 {
    obj.metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| parse_resource_version(rv).ok())
        .unwrap_or(0)
}
