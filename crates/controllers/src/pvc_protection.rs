//! The PVC protection controller (`pkg/controller/volume/pvcprotection`): a claim keeps the
//! `kubernetes.io/pvc-protection` finalizer, which admission adds to every claim at creation
//! (`StorageObjectInUseProtection`, crates/api `registry/plugins.rs`), for as long as a pod
//! uses it, so a claim deleted while in use stays `Terminating` and its files stay until
//! its pods are gone.
//!
//! A pod uses a claim (`podUsesPVC`) when it is bound to a node and one of its volumes names
//! the claim, whatever its phase: a finished pod that still exists holds its claims too, as
//! upstream's tests require ("pod with the PVC finished but is not deleted -> finalizer is not
//! removed"). A pod not yet bound does not: the node agent, like kubelet, never starts a pod
//! whose claim is being deleted.
//!
//! - A claim added or changed is synced when it lacks the finalizer and is not being deleted
//!   (claims made before the admission plugin: the finalizer is added) or when it is being
//!   deleted with the finalizer (`NeedToAddFinalizer`, `IsDeletionCandidate`).
//! - A pod's claims are synced when the pod is deleted, finished, or not bound to a node
//!   (`enqueuePVCs`), and those of the pod a same-named new pod replaced.
//! - A claim being deleted loses its finalizer when neither the pod cache (through its index
//!   by claim) nor a fresh list of its namespace's pods shows a pod using it (`isBeingUsed`:
//!   the cache may not have seen a pod created a moment ago).

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kbatch_api::error::ApiError;
use kbatch_api::registry::plugins::PVC_PROTECTION_FINALIZER;
use kbatch_api::registry::{ListParams, Registry, WriteOptions};
use kbatch_core::object::{Object, PERSISTENTVOLUMECLAIM, POD};

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};
use crate::volume_binding::{CLAIM_INDEX, claim_index};

const FIELD_MANAGER: &str = "kbatch-pvc-protection-controller";

/// The controller over the pod and claim informers. Cheap to clone.
#[derive(Clone)]
pub struct PvcProtectionController {
    registry: Registry,
    pods: Informer,
    claims: Informer,
    queue: WorkQueue<ObjectKey>,
}

impl std::fmt::Debug for PvcProtectionController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PvcProtectionController")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

fn has_finalizer(pvc: &PersistentVolumeClaim) -> bool {
    pvc.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == PVC_PROTECTION_FINALIZER)
}

/// `protectionutil.NeedToAddFinalizer`.
fn need_to_add_finalizer(pvc: &PersistentVolumeClaim) -> bool {
    pvc.metadata.deletion_timestamp.is_none() && !has_finalizer(pvc)
}

/// `protectionutil.IsDeletionCandidate`.
fn is_deletion_candidate(pvc: &PersistentVolumeClaim) -> bool {
    pvc.metadata.deletion_timestamp.is_some() && has_finalizer(pvc)
}

/// `podUsesPVC`: bound to a node, with a volume of the claim.
pub fn pod_uses_claim(pod: &Pod, claim: &str) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
        && spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .any(|c| c.claim_name == claim)
}

/// `volumeutil.IsPodTerminated`: finished, or being deleted with no container running.
fn pod_terminated(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Failed" | "Succeeded")) {
        return true;
    }
    pod.metadata.deletion_timestamp.is_some()
        && status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .all(|c| {
                c.state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some() || s.waiting.is_some())
            })
}

/// `enqueuePVCs`: the claims of a pod that may no longer hold them.
fn enqueue_claims(queue: &WorkQueue<ObjectKey>, obj: &Object, deleted: bool) {
    let Object::Pod(pod) = obj else {
        return;
    };
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if !deleted && !pod_terminated(pod) && scheduled {
        return;
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    for claim in pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
    {
        queue.add(ObjectKey::new(namespace, &claim.claim_name));
    }
}

impl PvcProtectionController {
    /// Indexes `pods` by claim (the volume binder's index, the same function) and registers
    /// its handlers on both informers.
    pub fn new(registry: Registry, pods: &Informer, claims: &Informer) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        pods.add_index(CLAIM_INDEX, claim_index);
        claims.add_handler({
            let queue = queue.clone();
            move |change| {
                if let Change::Added(obj) | Change::Updated { new: obj, .. } = change
                    && let Object::PersistentVolumeClaim(pvc) = obj
                    && (need_to_add_finalizer(pvc) || is_deletion_candidate(pvc))
                {
                    queue.add(ObjectKey::of(obj));
                }
            }
        });
        pods.add_handler({
            let queue = queue.clone();
            move |change| match change {
                Change::Added(pod) => enqueue_claims(&queue, pod, false),
                Change::Deleted(pod) => enqueue_claims(&queue, pod, true),
                Change::Updated { old, new } => {
                    enqueue_claims(&queue, new, false);
                    // A pod deleted and another made under its name, seen as one update:
                    // the old one's claims may be free now.
                    if old.metadata().uid != new.metadata().uid {
                        enqueue_claims(&queue, old, true);
                    }
                }
            }
        });
        PvcProtectionController {
            registry,
            pods: pods.clone(),
            claims: claims.clone(),
            queue,
        }
    }

    pub async fn run(self, workers: usize) {
        self.pods.wait_synced().await;
        self.claims.wait_synced().await;
        let queue = self.queue.clone();
        run_workers(
            "pvc-protection-controller",
            queue,
            workers,
            move |key: ObjectKey| {
                let controller = self.clone();
                async move {
                    controller
                        .sync(&key.namespace, &key.name)
                        .await
                        .map(|()| None::<std::time::Duration>)
                }
            },
        )
        .await;
    }

    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// `processPVC`: the finalizer removed from a claim being deleted that no pod uses, or
    /// added to a claim without it.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<(), ApiError> {
        let Some(cached) = self.claims.get(namespace, name) else {
            return Ok(());
        };
        let Object::PersistentVolumeClaim(pvc) = cached.as_ref() else {
            return Ok(());
        };
        if is_deletion_candidate(pvc) {
            if self.in_use(namespace, name).await? {
                tracing::debug!(claim = %ObjectKey::new(namespace, name), "keeping the claim: a pod uses it");
                return Ok(());
            }
            return self.set_finalizer(pvc, false).await;
        }
        if need_to_add_finalizer(pvc) {
            return self.set_finalizer(pvc, true).await;
        }
        Ok(())
    }

    /// `isBeingUsed`: the cache first, then a list read now.
    async fn in_use(&self, namespace: &str, name: &str) -> Result<bool, ApiError> {
        let cached = self
            .pods
            .by_index(CLAIM_INDEX, &format!("{namespace}/{name}"));
        if cached
            .iter()
            .any(|o| matches!(o.as_ref(), Object::Pod(p) if pod_uses_claim(p, name)))
        {
            return Ok(true);
        }
        let live = self
            .registry
            .list(&POD, Some(namespace), &ListParams::default())
            .await?;
        Ok(live
            .items
            .iter()
            .any(|o| matches!(o, Object::Pod(p) if pod_uses_claim(p, name))))
    }

    /// `addFinalizer` / `removeFinalizer`, on the claim of the cached one's uid.
    async fn set_finalizer(&self, pvc: &PersistentVolumeClaim, add: bool) -> Result<(), ApiError> {
        let namespace = pvc.metadata.namespace.as_deref().unwrap_or("");
        let name = pvc.metadata.name.as_deref().unwrap_or("");
        let uid = pvc.metadata.uid.clone();
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let written = self
            .registry
            .edit(&PERSISTENTVOLUMECLAIM, namespace, name, &opts, |obj| {
                let Object::PersistentVolumeClaim(pvc) = obj else {
                    return false;
                };
                if pvc.metadata.uid != uid || has_finalizer(pvc) == add {
                    return false;
                }
                let finalizers = pvc.metadata.finalizers.get_or_insert_with(Vec::new);
                if add {
                    finalizers.push(PVC_PROTECTION_FINALIZER.to_owned());
                } else {
                    finalizers.retain(|f| f != PVC_PROTECTION_FINALIZER);
                }
                true
            })
            .await;
        match written {
            Ok(_) => {
                let claim = ObjectKey::new(namespace, name);
                if add {
                    tracing::debug!(%claim, "added the protection finalizer");
                } else {
                    tracing::info!(%claim, "claim no longer in use: protection finalizer removed");
                }
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_bound_pods_with_a_volume_of_the_claim_use_it() {
        let bound = pod(json!({"spec": {"nodeName": "n", "containers": [],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "e", "emptyDir": {}}]},
            "status": {"phase": "Succeeded"}}));
        assert!(pod_uses_claim(&bound, "data"), "finished, still there");
        assert!(!pod_uses_claim(&bound, "other"));
        let unbound = pod(json!({"spec": {"containers": [],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}));
        assert!(!pod_uses_claim(&unbound, "data"));
    }

    #[test]
    fn terminated_pods() {
        assert!(pod_terminated(&pod(json!({"status": {"phase": "Failed"}}))));
        assert!(!pod_terminated(&pod(
            json!({"status": {"phase": "Running"}})
        )));
        let deleting = |state: serde_json::Value| {
            pod(
                json!({"metadata": {"deletionTimestamp": "2030-01-01T00:00:00Z"},
                "status": {"phase": "Running", "containerStatuses": [
                    {"name": "c", "image": "i", "imageID": "", "ready": false,
                     "restartCount": 0, "state": state}]}}),
            )
        };
        assert!(pod_terminated(&deleting(
            json!({"terminated": {"exitCode": 0}})
        )));
        assert!(!pod_terminated(&deleting(json!({"running": {}}))));
    }
}
