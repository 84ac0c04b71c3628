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
//! Level-triggered: the start of the watch replays the whole state, so work interrupted by a
//! restart is finished after it. As upstream's graph builder does, the collector remembers
//! what it saw of each object (its kind, name, owner references and whether it is being
//! deleted, by uid) and acts on what changed there: an object checks its owners when it
//! first appears or its references change, not on every status write; an owner that goes
//! makes its dependents check theirs; an owner being deleted in the foreground is finished
//! when its dependents go. Dependents are found in that graph rather than by listing; a
//! list confirms only that none is left before a finalizer goes, since the graph can lag
//! behind an object just created.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
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
/// How many times a judgement is made again after the object changed under it.
const ATTEMPTS: usize = 5;
const FOREGROUND: &str = "foregroundDeletion";

/// The garbage collector over the in-process API.
#[derive(Debug, Clone)]
pub struct GarbageCollector {
    registry: Registry,
    graph: Arc<Mutex<Graph>>,
}

/// One object as the collector last saw it (a node of upstream's graph).
#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    namespace: String,
    name: String,
    uid: String,
    owners: Vec<OwnerReference>,
    deleting: bool,
}

impl Node {
    fn of(obj: &Object) -> Node {
        let meta = obj.metadata();
        Node {
            kind: obj.kind(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: obj.name().to_owned(),
            uid: meta.uid.clone().unwrap_or_default(),
            owners: owner_refs(obj),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }
}

/// Every object seen, by uid, and the dependents of each owner uid.
#[derive(Debug, Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// Records `obj` as seen now. True if it is new to the graph or its owner references
    /// changed.
    fn observe(&mut self, obj: &Object) -> bool {
        let node = Node::of(obj);
        let uid = node.uid.clone();
        let changed = self.nodes.get(&uid).is_none_or(|n| n.owners != node.owners);
        if changed {
            self.unlink(&uid);
            for r in &node.owners {
                self.dependents
                    .entry(r.uid.clone())
                    .or_default()
                    .insert(uid.clone());
            }
        }
        self.nodes.insert(uid, node);
        changed
    }

    /// Forgets a deleted object; its dependents stay (they still name it).
    fn forget(&mut self, uid: &str) {
        self.unlink(uid);
        self.nodes.remove(uid);
    }

    fn unlink(&mut self, uid: &str) {
        let Some(node) = self.nodes.get(uid) else {
            return;
        };
        for r in &node.owners {
            if let Some(set) = self.dependents.get_mut(&r.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&r.uid);
                }
            }
        }
    }

    fn dependents_of(&self, owner_uid: &str) -> Vec<Node> {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.nodes.get(uid).cloned())
            .collect()
    }

    /// Whether every owner `obj` names is in the graph and not being deleted.
    fn owners_present(&self, obj: &Object) -> bool {
        owner_refs(obj)
            .iter()
            .all(|r| self.nodes.get(&r.uid).is_some_and(|n| !n.deleting))
    }

    fn is_deleting(&self, uid: &str) -> bool {
        self.nodes.get(uid).is_some_and(|n| n.deleting)
    }
}

/// The kinds that can own or depend: every served kind but events.
fn kinds() -> impl Iterator<Item = &'static Kind> {
    ADMITTED_KINDS.iter().filter(|k| **k != EVENT)
}

impl GarbageCollector {
    pub fn new(registry: Registry) -> Self {
        GarbageCollector {
            registry,
            graph: Arc::default(),
        }
    }

    fn graph(&self) -> MutexGuard<'_, Graph> {
        // Each critical section is a few map operations.
        self.graph.lock().unwrap_or_else(|p| p.into_inner())
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
        // The watches replay everything: the graph is built again from them, and each object
        // checked again, so nothing missed while no watch ran stays undone.
        *self.graph() = Graph::default();
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
            let uid = obj.metadata().uid.clone().unwrap_or_default();
            let dependents = {
                let mut graph = self.graph();
                graph.forget(&uid);
                graph.dependents_of(&uid)
            };
            for dependent in &dependents {
                self.check_owners(dependent).await?;
            }
            // A dependent that went may have been what a foreground owner waited for.
            for r in owner_refs(obj) {
                if self.graph().is_deleting(&r.uid)
                    && let Owner::Live(owner) = self.owner(obj, &r).await?
                {
                    self.finalize_owner(&owner).await?;
                }
            }
            return Ok(());
        }
        let (changed, owners_present) = {
            let mut graph = self.graph();
            (graph.observe(obj), graph.owners_present(obj))
        };
        if obj.metadata().deletion_timestamp.is_some() {
            self.finalize_owner(obj).await?;
        }
        // An owner the graph holds and that is not being deleted is live: its deletion will
        // come as an event, and make this object check again.
        if changed && !owners_present {
            self.check_owners(&Node::of(obj)).await?;
        }
        Ok(())
    }

    /// Acts on an owner being deleted with the orphan or foreground finalizer.
    async fn finalize_owner(&self, owner: &Object) -> Result<(), ApiError> {
        if owner.metadata().deletion_timestamp.is_none() {
            return Ok(());
        }
        let finalizers = owner.metadata().finalizers.clone().unwrap_or_default();
        let uid = owner.metadata().uid.clone().unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN) {
            let known = self.graph().dependents_of(&uid);
            for dependent in known {
                self.orphan(&dependent, &uid).await?;
            }
            for dependent in self.listed_dependents(owner).await? {
                self.orphan(&Node::of(&dependent), &uid).await?;
            }
            return self.remove_finalizer(owner, ORPHAN).await;
        }
        if finalizers.iter().any(|f| f == FOREGROUND) {
            let known = self.graph().dependents_of(&uid);
            if self.delete_dependents(&uid, &known).await? > 0 {
                return Ok(());
            }
            // The graph shows no blocking dependent: make sure none was created behind it.
            let listed: Vec<Node> = self
                .listed_dependents(owner)
                .await?
                .iter()
                .map(Node::of)
                .collect();
            if self.delete_dependents(&uid, &listed).await? == 0 {
                return self.remove_finalizer(owner, FOREGROUND).await;
            }
        }
        Ok(())
    }

    /// Removes the reference to `owner_uid` from a dependent.
    async fn orphan(&self, dependent: &Node, owner_uid: &str) -> Result<(), ApiError> {
        self.edit(dependent, |o| {
            if let Some(refs) = o.metadata_mut().owner_references.as_mut() {
                refs.retain(|r| r.uid != owner_uid);
            }
        })
        .await
    }

    /// Foreground: deletes the dependents of `owner_uid` not being deleted yet (in the
    /// foreground too). Returns how many of them block the owner's deletion.
    async fn delete_dependents(
        &self,
        owner_uid: &str,
        dependents: &[Node],
    ) -> Result<usize, ApiError> {
        let mut blocking = 0;
        for dependent in dependents {
            let blocks = dependent
                .owners
                .iter()
                .any(|r| r.uid == owner_uid && r.block_owner_deletion == Some(true));
            if blocks {
                blocking += 1;
            }
            if dependent.deleting {
                continue;
            }
            for _ in 0..ATTEMPTS {
                // Judged on its latest version: it may have lost the reference meanwhile.
                let Some(fresh) = self.fresh(dependent).await? else {
                    break;
                };
                let still = owner_refs(&fresh).iter().any(|r| r.uid == owner_uid);
                if !still
                    || fresh.metadata().deletion_timestamp.is_some()
                    || self.delete(&fresh, Propagation::Foreground).await?
                {
                    break;
                }
            }
        }
        Ok(blocking)
    }

    /// Deletes a dependent whose owners are all gone; drops references to owners that are
    /// gone while another owner lives.
    async fn check_owners(&self, seen: &Node) -> Result<(), ApiError> {
        if seen.owners.is_empty() {
            return Ok(());
        }
        for _ in 0..ATTEMPTS {
            if self.check_owners_once(seen).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One judgement of a dependent's owners; false if the dependent changed before the
    /// delete, to be judged again.
    async fn check_owners_once(&self, seen: &Node) -> Result<bool, ApiError> {
        // Decide on the latest version: the event may be older than an orphaning that
        // already removed the reference (the upstream collector re-reads it too).
        let Some(dependent) = self.fresh(seen).await? else {
            return Ok(true);
        };
        let dependent = &dependent;
        let refs = owner_refs(dependent);
        if refs.is_empty() || dependent.metadata().deletion_timestamp.is_some() {
            return Ok(true);
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
            return Ok(true);
        }
        if absent.len() == refs.len() {
            let propagation = if waiting_foreground {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            return self.delete(dependent, propagation).await;
        }
        self.edit(&Node::of(dependent), |o| {
            if let Some(list) = o.metadata_mut().owner_references.as_mut() {
                list.retain(|r| !absent.contains(&r.uid));
            }
        })
        .await?;
        Ok(true)
    }

    /// The latest version of the object a node stands for; `None` if it is gone or is
    /// another object of the same name now.
    async fn fresh(&self, node: &Node) -> Result<Option<Object>, ApiError> {
        match self
            .registry
            .get(&node.kind, &node.namespace, &node.name)
            .await
        {
            Ok(o) if o.metadata().uid.as_deref() == Some(node.uid.as_str()) => Ok(Some(o)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
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

    /// Every object that names `owner` in its ownerReferences, listed.
    async fn listed_dependents(&self, owner: &Object) -> Result<Vec<Object>, ApiError> {
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

    /// Deletes the version of `obj` that was judged. False if it changed since (a conflict),
    /// for the caller to judge it again: its next event may not tell the collector to.
    async fn delete(&self, obj: &Object, propagation: Propagation) -> Result<bool, ApiError> {
        let opts = DeleteOptions {
            propagation: Some(propagation),
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
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn remove_finalizer(&self, obj: &Object, finalizer: &str) -> Result<(), ApiError> {
        self.edit(&Node::of(obj), |o| {
            if let Some(list) = o.metadata_mut().finalizers.as_mut() {
                list.retain(|f| f != finalizer);
            }
        })
        .await
    }

    /// Updates the latest version of the object `node` stands for with `change`, retrying
    /// over concurrent writes.
    async fn edit(&self, node: &Node, change: impl Fn(&mut Object)) -> Result<(), ApiError> {
        for _ in 0..ATTEMPTS {
            let Some(mut current) = self.fresh(node).await? else {
                return Ok(());
            };
            change(&mut current);
            match self
                .registry
                .update(
                    &node.kind,
                    &node.namespace,
                    &node.name,
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
