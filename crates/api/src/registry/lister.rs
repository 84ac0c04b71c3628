//! Watch-fed copies of the small kinds the admission plugins read on every create: namespaces
//! (NamespaceLifecycle), service accounts (ServiceAccount) and runtime classes (RuntimeClass),
//! as upstream's plugins read them from informer listers. On etcd each of those reads was a
//! round trip and a range in etcd per pod or Job created.
//!
//! A lister only ever answers "here it is": a miss (not listed yet, not seen yet, or gone) sends
//! the caller to the store, as upstream's plugins fall back to a live lookup, so a refusal is
//! always the store's answer. Like upstream's, a hit may lag the store by a watch event; a
//! delete made through this registry is seen at once ([`Lister::invalidate`], upstream's
//! `forceLiveLookupCache` in NamespaceLifecycle), so a create right after it is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use kbatch_core::object::{Kind, NAMESPACE, Object, RUNTIME_CLASS, SERVICEACCOUNT};
use kbatch_store::Revision;

use super::{ListParams, Registry, SharedWatchEvent, WatchEventType, WatchParams};
use crate::error::{ApiError, Result};

/// How long a reflection waits before it lists again after its watch ended.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// What [`reflect`] hands its sink.
pub(crate) enum Reflection<'a> {
    /// The whole collection and the revision it was read at, at the start and after every
    /// lost watch.
    Listed(&'a [Object], Revision),
    /// One change after the list.
    Changed(WatchEventType, &'a Arc<Object>),
    /// The watch ended; a new list follows.
    Lost,
}

/// Lists `kind` in every namespace, then follows its watch, handing each to `sink`; lists
/// again whenever the watch ends (client-go's reflector). Runs until the runtime stops.
pub(crate) async fn reflect(registry: Registry, kind: Kind, mut sink: impl FnMut(Reflection<'_>)) {
    loop {
        if let Err(e) = follow(&registry, &kind, &mut sink).await {
            tracing::warn!(kind = kind.kind, error = %e, "a watch-fed cache lost its watch; listing again");
        }
        sink(Reflection::Lost);
        tokio::time::sleep(RESTART_DELAY).await;
    }
}

async fn follow(
    registry: &Registry,
    kind: &Kind,
    sink: &mut impl FnMut(Reflection<'_>),
) -> Result<()> {
    let list = registry.list(kind, None, &ListParams::default()).await?;
    sink(Reflection::Listed(&list.items, list.resource_version));
    let params = WatchParams {
        resource_version: Some(list.resource_version.to_string()),
        ..Default::default()
    };
    let (mut events, _) = registry.watch_shared(kind, None, params).await?;
    while let Some(event) = events.next().await {
        match event {
            SharedWatchEvent::Object(t, obj) => sink(Reflection::Changed(t, &obj)),
            SharedWatchEvent::Error(status) => {
                return Err(ApiError::internal(status.message.unwrap_or_default()));
            }
        }
    }
    Ok(())
}

/// (namespace, name); namespace "" for cluster-scoped kinds.
type Key = (String, String);

#[derive(Debug, Default)]
struct State {
    /// Whether `objects` holds a whole list and the events after it.
    ready: bool,
    objects: HashMap<Key, Arc<Object>>,
    /// The revision of the last event applied.
    revision: Revision,
    /// Objects deleted through this registry at a revision the watch has not reached yet.
    deleted: HashMap<Key, Revision>,
}

impl State {
    fn apply(&mut self, reflection: Reflection<'_>) {
        match reflection {
            Reflection::Listed(items, at) => {
                self.objects = items
                    .iter()
                    .map(|o| (key(o), Arc::new(o.clone())))
                    .collect();
                self.revision = at;
                self.ready = true;
            }
            Reflection::Changed(t, obj) => {
                self.revision = self.revision.max(revision(obj));
                match t {
                    WatchEventType::Added | WatchEventType::Modified => {
                        self.objects.insert(key(obj), obj.clone());
                    }
                    WatchEventType::Deleted => {
                        self.objects.remove(&key(obj));
                    }
                    WatchEventType::Bookmark | WatchEventType::Error => {}
                }
            }
            Reflection::Lost => {
                self.ready = false;
                self.objects.clear();
            }
        }
        let seen = self.revision;
        self.deleted.retain(|_, at| *at > seen);
    }
}

fn key(obj: &Object) -> Key {
    let meta = obj.metadata();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn revision(obj: &Object) -> Revision {
    obj.metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_default()
}

/// The copy of one kind; cheap to clone. Starts following the store on its first
/// [`Lister::get`] inside a tokio runtime.
#[derive(Debug, Clone)]
pub(crate) struct Lister {
    kind: Kind,
    state: Arc<Mutex<State>>,
    started: Arc<AtomicBool>,
}

impl Lister {
    pub fn new(kind: Kind) -> Self {
        Lister {
            kind,
            state: Default::default(),
            started: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each critical section is a few map operations.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object as the watch last showed it; `None` when the caller must read the store.
    pub fn get(&self, registry: &Registry, namespace: &str, name: &str) -> Option<Arc<Object>> {
        if !self.started.swap(true, Ordering::SeqCst) {
            let state = self.state.clone();
            tokio::spawn(reflect(registry.clone(), self.kind, move |r| {
                state.lock().unwrap_or_else(|p| p.into_inner()).apply(r)
            }));
        }
        let state = self.lock();
        if !state.ready {
            return None;
        }
        let key = (namespace.to_owned(), name.to_owned());
        if state.deleted.contains_key(&key) {
            return None;
        }
        state.objects.get(&key).cloned()
    }

    /// The object was deleted (or marked for deletion) through this registry at `at`: until
    /// the watch has shown that, [`Lister::get`] sends callers to the store.
    pub fn invalidate(&self, namespace: &str, name: &str, at: Revision) {
        let mut state = self.lock();
        if at > state.revision {
            state
                .deleted
                .insert((namespace.to_owned(), name.to_owned()), at);
        }
    }
}

/// The listers of a registry, one per kind it caches.
#[derive(Debug, Clone)]
pub(crate) struct Listers([Lister; 3]);

impl Default for Listers {
    fn default() -> Self {
        Listers([
            Lister::new(NAMESPACE),
            Lister::new(SERVICEACCOUNT),
            Lister::new(RUNTIME_CLASS),
        ])
    }
}

impl Listers {
    /// The lister of `kind`, if it has one.
    pub fn of(&self, kind: &Kind) -> Option<&Lister> {
        self.0.iter().find(|l| l.kind == *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(name: &str, rv: u64, terminating: bool) -> Object {
        Object::Namespace(
            serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": name,
                    "resourceVersion": rv.to_string(),
                    "deletionTimestamp": terminating.then_some("2026-11-28T00:00:00Z"),
                },
            }))
            .unwrap(),
        )
    }

    fn cached(state: &State, name: &str) -> Option<bool> {
        if !state.ready
            || state
                .deleted
                .contains_key(&(String::new(), name.to_owned()))
        {
            return None;
        }
        state
            .objects
            .get(&(String::new(), name.to_owned()))
            .map(|o| o.metadata().deletion_timestamp.is_some())
    }

    #[test]
    fn nothing_is_answered_before_the_list_or_after_the_watch_is_lost() {
        let mut state = State::default();
        assert_eq!(cached(&state, "a"), None);
        state.apply(Reflection::Listed(&[namespace("a", 3, false)], 3));
        assert_eq!(cached(&state, "a"), Some(false));
        state.apply(Reflection::Lost);
        assert_eq!(cached(&state, "a"), None);
    }

    #[test]
    fn events_after_the_list_replace_and_remove_objects() {
        let mut state = State::default();
        state.apply(Reflection::Listed(&[namespace("a", 3, false)], 3));
        let b = Arc::new(namespace("b", 4, false));
        state.apply(Reflection::Changed(WatchEventType::Added, &b));
        let a = Arc::new(namespace("a", 5, true));
        state.apply(Reflection::Changed(WatchEventType::Modified, &a));
        assert_eq!(cached(&state, "a"), Some(true));
        assert_eq!(cached(&state, "b"), Some(false));
        let b = Arc::new(namespace("b", 6, false));
        state.apply(Reflection::Changed(WatchEventType::Deleted, &b));
        assert_eq!(cached(&state, "b"), None);
        assert_eq!(state.revision, 6);
    }

    #[test]
    fn a_local_delete_hides_the_object_until_the_watch_reaches_it() {
        let lister = Lister::new(kbatch_core::object::NAMESPACE);
        lister
            .lock()
            .apply(Reflection::Listed(&[namespace("a", 3, false)], 3));
        lister.invalidate("", "a", 5);
        assert_eq!(cached(&lister.lock(), "a"), None);
        // An event from before the delete does not bring it back.
        let older = Arc::new(namespace("x", 4, false));
        lister
            .lock()
            .apply(Reflection::Changed(WatchEventType::Added, &older));
        assert_eq!(cached(&lister.lock(), "a"), None);
        let marked = Arc::new(namespace("a", 5, true));
        lister
            .lock()
            .apply(Reflection::Changed(WatchEventType::Modified, &marked));
        assert_eq!(cached(&lister.lock(), "a"), Some(true));
        // A delete the watch has already shown needs no hiding.
        lister.invalidate("", "a", 5);
        assert!(lister.lock().deleted.is_empty());
    }
}
