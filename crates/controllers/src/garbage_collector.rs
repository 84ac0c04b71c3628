//! The garbage collector (kube-controller-manager's `pkg/controller/garbagecollector`):
//! ownerReferences cascade.
//!
//! - Background: once an owner is gone, dependents whose owners are all gone are deleted;
//!   a dependent that still has a live owner loses only the dangling reference.
//! - Foreground: an owner marked with the `foregroundDeletion` finalizer has its dependents
//!   deleted first; the finalizer goes once no dependent with `blockOwnerDeletion` is left.
//! - Orphan: an owner marked with the `orphan` finalizer has its reference removed from every
//!   dependent, then the finalizer goes and with it the owner.
//!
//! Level-triggered: every change of any object re-checks that object as an owner (its
//! finalizers) and as a dependent (its owners), and the start of the watch replays the whole
//! state, so work interrupted by a restart is finished after it.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::select_all;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    DeleteOptions, ListParams, Propagation, Registry, SharedWatchEvent, WatchEventType,
    WatchParams, WriteOptions,
};
use kbatch_core::object::{ADMITTED_KINDS, EVENT, Kind, Object};

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// The garbage collector over the in-process API.
#[derive(Debug, Clone)]
pub struct GarbageCollector {
    registry: Registry,
}

/// The kinds that can own or depend: every served kind but events.
fn kinds() -> impl Iterator<Item = &'static Kind> {
    ADMITTED_KINDS.iter().filter(|k| **k != EVENT)
}

impl GarbageCollector {
    pub fn new(registry: Registry) -> Self {
        GarbageCollector { registry }
    }

    /// Watches every kind and acts on each change, forever; restarts its watches when they end.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "garbage collector watch failed; restarting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn run_once(&self) -> Result<(), ApiError> {
        let mut streams = Vec::new();
        for kind in kinds() {
            let params = WatchParams {
                resource_version: Some("0".to_owned()),
                ..Default::default()
            };
            let (stream, _) = self.registry.watch_shared(kind, None, params).await?;
            streams.push(stream);
        }
        let mut events = select_all(streams);
        while let Some(event) = events.next().await {
            match event {
                SharedWatchEvent::Object(t, obj) => {
                    if let Err(e) = self.sync(t, &obj).await {
                        tracing::warn!(
                            kind = obj.kind().kind, name = obj.name(), error = %e,
                            "garbage collection"
                        );
                    }
                }
                SharedWatchEvent::Error(status) => {
                    return Err(ApiError::from(*status));
                }
            }
        }
        Ok(())
    }

    /// Handles one change: the object as an owner, then as a dependent.
    pub async fn sync(&self, event: WatchEventType, obj: &Object) -> Result<(), ApiError> {
        if event == WatchEventType::Deleted {
            for dependent in self.dependents(obj).await? {
                self.check_owners(&dependent).await?;
            }
            // A dependent that went may have been what a foreground owner waited for.
            for r in owner_refs(obj) {
                if let Owner::Live(owner) = self.owner(obj, &r).await? {
                    self.finalize_owner(&owner).await?;
                }
            }
            return Ok(());
        }
        if obj.metadata().deletion_timestamp.is_some() {
            self.finalize_owner(obj).await?;
        }
        self.check_owners(obj).await
    }

    /// Acts on an owner being deleted with the orphan or foreground finalizer.
    async fn finalize_owner(&self, owner: &Object) -> Result<(), ApiError> {
        if owner.metadata().deletion_timestamp.is_none() {
            return Ok(());
        }
        let finalizers = owner.metadata().finalizers.clone().unwrap_or_default();
        let uid = owner.metadata().uid.clone().unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN) {
            for dependent in self.dependents(owner).await? {
                self.edit(&dependent, |o| {
                    if let Some(refs) = o.metadata_mut().owner_references.as_mut() {
                        refs.retain(|r| r.uid != uid);
                    }
                })
                .await?;
            }
            return self.remove_finalizer(owner, ORPHAN).await;
        }
        if finalizers.iter().any(|f| f == FOREGROUND) {
            let mut blocking = 0;
            for dependent in self.dependents(owner).await? {
                let blocks = owner_refs(&dependent)
                    .iter()
                    .any(|r| r.uid == uid && r.block_owner_deletion == Some(true));
                if blocks {
                    blocking += 1;
                }
                if dependent.metadata().deletion_timestamp.is_none() {
                    self.delete(&dependent, Propagation::Foreground).await?;
                }
            }
            if blocking == 0 {
                return self.remove_finalizer(owner, FOREGROUND).await;
            }
        }
        Ok(())
    }

    /// Deletes a dependent whose owners are all gone; drops references to owners that are
    /// gone while another owner lives.
    async fn check_owners(&self, seen: &Object) -> Result<(), ApiError> {
        if owner_refs(seen).is_empty() {
            return Ok(());
        }
        // Decide on the latest version: the event may be older than an orphaning that
        // already removed the reference (the upstream collector re-reads it too).
        let kind = seen.kind();
        let ns = seen.metadata().namespace.clone().unwrap_or_default();
        let dependent = match self.registry.get(&kind, &ns, seen.name()).await {
            Ok(d) if d.metadata().uid == seen.metadata().uid => d,
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let dependent = &dependent;
        let refs = owner_refs(dependent);
        if refs.is_empty() || dependent.metadata().deletion_timestamp.is_some() {
            return Ok(());
        }
        let mut absent = Vec::new();
        let mut waiting_foreground = false;
        for r in &refs {
            match self.owner(dependent, r).await? {
                Owner::Unchecked => {}
                Owner::Absent => absent.push(r.uid.clone()),
                Owner::Live(owner) => {
                    let finalizers = owner.metadata().finalizers.clone().unwrap_or_default();
                    if owner.metadata().deletion_timestamp.is_some()
                        && finalizers.iter().any(|f| f == FOREGROUND)
                    {
                        waiting_foreground = true;
                    }
                }
            }
        }
        if absent.is_empty() {
            return Ok(());
        }
        if absent.len() == refs.len() {
            let propagation = if waiting_foreground {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            return self.delete(dependent, propagation).await;
        }
        self.edit(dependent, |o| {
            if let Some(list) = o.metadata_mut().owner_references.as_mut() {
                list.retain(|r| !absent.contains(&r.uid));
            }
        })
        .await
    }

    /// The owner an ownerReference names (same namespace for namespaced kinds; the uid must
    /// match, or the owner is another incarnation and counts as absent).
    async fn owner(&self, dependent: &Object, r: &OwnerReference) -> Result<Owner, ApiError> {
        let Some(kind) = kinds()
            .find(|k| k.kind == r.kind && k.api_version() == r.api_version)
            .copied()
        else {
            return Ok(Owner::Unchecked);
        };
        let ns = if kind.namespaced {
            dependent.metadata().namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        match self.registry.get(&kind, &ns, &r.name).await {
            Ok(o) if o.metadata().uid.as_deref() == Some(r.uid.as_str()) => {
                Ok(Owner::Live(Box::new(o)))
            }
            Ok(_) => Ok(Owner::Absent),
            Err(e) if e.is_not_found() => Ok(Owner::Absent),
            Err(e) => Err(e),
        }
    }

    /// Every object that names `owner` in its ownerReferences.
    async fn dependents(&self, owner: &Object) -> Result<Vec<Object>, ApiError> {
        let uid = owner.metadata().uid.clone().unwrap_or_default();
        let namespace = if owner.kind().namespaced {
            owner.metadata().namespace.clone()
        } else {
            None
        };
        let mut out = Vec::new();
        for kind in kinds() {
            if !kind.namespaced && namespace.is_some() {
                continue;
            }
            let list = self
                .registry
                .list(kind, namespace.as_deref(), &ListParams::default())
                .await?;
            out.extend(
                list.items
                    .into_iter()
                    .filter(|o| owner_refs(o).iter().any(|r| r.uid == uid)),
            );
        }
        Ok(out)
    }

    async fn delete(&self, obj: &Object, propagation: Propagation) -> Result<(), ApiError> {
        let opts = DeleteOptions {
            propagation: Some(propagation),
            // Only the version that was judged: a dependent changed since is judged again
            // on its own event.
            preconditions: kbatch_api::registry::Preconditions {
                uid: obj.metadata().uid.clone(),
                resource_version: obj.metadata().resource_version.clone(),
            },
            ..Default::default()
        };
        let ns = obj.metadata().namespace.clone().unwrap_or_default();
        match self
            .registry
            .delete(&obj.kind(), &ns, obj.name(), &opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn remove_finalizer(&self, obj: &Object, finalizer: &str) -> Result<(), ApiError> {
        self.edit(obj, |o| {
            if let Some(list) = o.metadata_mut().finalizers.as_mut() {
                list.retain(|f| f != finalizer);
            }
        })
        .await
    }

    /// Updates the latest version of `obj` with `change`, retrying over concurrent writes.
    async fn edit(&self, obj: &Object, change: impl Fn(&mut Object)) -> Result<(), ApiError> {
        let kind = obj.kind();
        let ns = obj.metadata().namespace.clone().unwrap_or_default();
        for _ in 0..5 {
            let mut current = match self.registry.get(&kind, &ns, obj.name()).await {
                Ok(c) => c,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            if current.metadata().uid != obj.metadata().uid {
                return Ok(());
            }
            change(&mut current);
            match self
                .registry
                .update(
                    &kind,
                    &ns,
                    obj.name(),
                    current,
                    &WriteOptions::default(),
                    Vec::new(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => continue,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// What an ownerReference points at.
enum Owner {
    Live(Box<Object>),
    /// Gone, or replaced by another object of the same name.
    Absent,
    /// A kind kbatch does not serve: it cannot be checked, so the dependent is left alone.
    Unchecked,
}

fn owner_refs(obj: &Object) -> Vec<OwnerReference> {
    obj.metadata().owner_references.clone().unwrap_or_default()
}
