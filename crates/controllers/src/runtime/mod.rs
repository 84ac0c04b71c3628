//! The controller runtime, as client-go provides it to kube-controller-manager: informers
//! (a watch-fed cache of one kind with change handlers), work queues, and the worker loop
//! that drains a queue through a controller's sync function.

pub mod informer;
pub mod queue;

use std::fmt::{self, Display};
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kbatch_core::object::Object;
use tokio::task::JoinSet;

pub use informer::{Change, Informer};
pub use queue::{QueueKey, RateLimiter, WorkQueue};

/// The key of a namespaced or cluster-scoped object (client-go's `namespace/name` string
/// key, kept as its two parts). `namespace` is empty for cluster-scoped kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn of(obj: &Object) -> Self {
        ObjectKey::new(
            obj.metadata().namespace.clone().unwrap_or_default(),
            obj.name(),
        )
    }
}

impl Display for ObjectKey {
    /// `MetaNamespaceKeyFunc`: `namespace/name`, or `name` for cluster-scoped objects.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// The reference an Event gives to the object it is about (`ref.GetReference`).
pub fn object_reference(obj: &Object) -> ObjectReference {
    let kind = obj.kind();
    let meta = obj.metadata();
    ObjectReference {
        api_version: Some(kind.api_version()),
        kind: Some(kind.kind.to_owned()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// Runs `workers` concurrent workers over `queue` until it is shut down and drained
/// (`processNextWorkItem`): each takes a key, syncs it, and then
/// - `Ok(None)`: forgets the key's failures;
/// - `Ok(Some(d))`: forgets its failures and queues it again after `d`;
/// - `Err(e)`: logs `e` and queues it again after its backoff.
pub async fn run_workers<K, F, Fut, E>(
    controller: &'static str,
    queue: WorkQueue<K>,
    workers: usize,
    sync: F,
) where
    K: QueueKey + Display,
    F: Fn(K) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Duration>, E>> + Send + 'static,
    E: Display,
{
    let mut tasks = JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(None) => queue.forget(&key),
                    Ok(Some(after)) => {
                        queue.forget(&key);
                        queue.add_after(key.clone(), after);
                    }
                    Err(e) => {
                        tracing::warn!(controller, key = %key, error = %e, "sync failed; retrying");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result {
            tracing::error!(controller, error = %e, "a worker stopped");
        }
    }
}
