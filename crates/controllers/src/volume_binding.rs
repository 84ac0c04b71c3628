//! Binding PersistentVolumeClaims of kbatch's local-path provisioner at first use.
//!
//! Kubernetes splits this between the scheduler's volume binding (for `WaitForFirstConsumer`
//! classes it writes `volume.kubernetes.io/selected-node` on the claim), an external
//! provisioner (it makes a PersistentVolume) and the PV controller (it binds the two). kbatch
//! has no PersistentVolume objects: a claim of a class whose provisioner is
//! `kbatch.dev/local-path` is bound by this controller as soon as a pod using it is bound to a
//! node, and the claim itself carries what a PV would:
//!
//! - `spec.volumeName`: `pvc-<claim uid>`, as external provisioners name their volumes;
//! - annotations `volume.kubernetes.io/selected-node` (the node of the first pod),
//!   `volume.kubernetes.io/storage-provisioner`, `pv.kubernetes.io/bind-completed: "yes"` and
//!   `pv.kubernetes.io/bound-by-controller: "yes"`;
//! - status `phase: Bound`, `capacity.storage` = the request, `accessModes` = the spec's.
//!
//! The node agent makes the claim's directory when it first mounts a Bound claim and removes
//! it when the claim is deleted under a `Delete` reclaim policy (docs/api.md, "Volumes").
//! Claims of other provisioners stay Pending, as they would without their provisioner.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kbatch_api::error::ApiError;
use kbatch_api::registry::plugins::LOCAL_PATH_PROVISIONER;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_core::object::{Object, PERSISTENTVOLUMECLAIM, STORAGECLASS};

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};

/// The pods index by the claims they mount: `namespace/claim`.
pub const CLAIM_INDEX: &str = "claims";
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
pub const STORAGE_PROVISIONER_ANNOTATION: &str = "volume.kubernetes.io/storage-provisioner";
const BETA_STORAGE_PROVISIONER_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-provisioner";
const BIND_COMPLETED_ANNOTATION: &str = "pv.kubernetes.io/bind-completed";
const BOUND_BY_CONTROLLER_ANNOTATION: &str = "pv.kubernetes.io/bound-by-controller";
/// How long a claim waits before its class is looked up again (a class created later).
const CLASS_RETRY: Duration = Duration::from_secs(5);

fn claim_names(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// The index function of [`CLAIM_INDEX`].
pub fn claim_index(obj: &Object) -> Vec<String> {
    let Object::Pod(pod) = obj else {
        return Vec::new();
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    claim_names(pod).map(|c| format!("{ns}/{c}")).collect()
}

/// The binder over the pod and claim informers. Cheap to clone.
#[derive(Clone)]
pub struct VolumeBinder {
    registry: Registry,
    pods: Informer,
    claims: Informer,
    queue: WorkQueue<ObjectKey>,
}

impl std::fmt::Debug for VolumeBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeBinder")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl VolumeBinder {
    /// Indexes `pods` by claim and queues a claim when a pod using it is bound to a node, or
    /// when the claim itself is added or changed while Pending.
    pub fn new(registry: Registry, pods: &Informer, claims: &Informer) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        pods.add_index(CLAIM_INDEX, claim_index);
        pods.add_handler({
            let queue = queue.clone();
            move |change| {
                if let Change::Added(obj) | Change::Updated { new: obj, .. } = change
                    && let Object::Pod(pod) = obj
                    && pod.spec.as_ref().is_some_and(|s| s.node_name.is_some())
                {
                    let ns = pod.metadata.namespace.clone().unwrap_or_default();
                    for claim in claim_names(pod) {
                        queue.add(ObjectKey::new(ns.clone(), claim));
                    }
                }
            }
        });
        claims.add_handler({
            let queue = queue.clone();
            move |change| {
                if let Change::Added(obj) | Change::Updated { new: obj, .. } = change
                    && let Object::PersistentVolumeClaim(pvc) = obj
                    && pending(pvc)
                {
                    queue.add(ObjectKey::of(obj));
                }
            }
        });
        VolumeBinder {
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
        run_workers("volume-binder", queue, workers, move |key: ObjectKey| {
            let binder = self.clone();
            async move { binder.sync(&key.namespace, &key.name).await }
        })
        .await;
    }

    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// Binds the claim if it is Pending, of the local-path provisioner, and used by a pod
    /// already bound to a node.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<Option<Duration>, ApiError> {
        let Some(cached) = self.claims.get(namespace, name) else {
            return Ok(None);
        };
        let Object::PersistentVolumeClaim(pvc) = cached.as_ref() else {
            return Ok(None);
        };
        if !pending(pvc) || pvc.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let node = self
            .pods
            .by_index(CLAIM_INDEX, &format!("{namespace}/{name}"))
            .iter()
            .filter_map(|o| match o.as_ref() {
                Object::Pod(p) if p.metadata.deletion_timestamp.is_none() => {
                    p.spec.as_ref().and_then(|s| s.node_name.clone())
                }
                _ => None,
            })
            .min();
        let Some(node) = node else {
            return Ok(None);
        };
        let class = pvc
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default();
        let provisioner = match self.registry.get(&STORAGECLASS, "", &class).await {
            Ok(Object::StorageClass(sc)) => sc.provisioner,
            Ok(_) => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(Some(CLASS_RETRY)),
            Err(e) => return Err(e),
        };
        if provisioner != LOCAL_PATH_PROVISIONER {
            return Ok(None);
        }
        let uid = pvc.metadata.uid.clone().unwrap_or_default();
        let volume = format!("pvc-{uid}");
        let opts = WriteOptions {
            field_manager: Some("kbatch-volume-binder".to_owned()),
            ..Default::default()
        };
        let bound = self
            .registry
            .edit(&PERSISTENTVOLUMECLAIM, namespace, name, &opts, |obj| {
                let Object::PersistentVolumeClaim(pvc) = obj else {
                    return false;
                };
                if pvc.metadata.uid.as_deref() != Some(uid.as_str()) {
                    return false;
                }
                let spec = pvc.spec.get_or_insert_with(Default::default);
                if spec.volume_name.as_deref().is_some_and(|v| !v.is_empty()) {
                    return false;
                }
                spec.volume_name = Some(volume.clone());
                let annotations = pvc.metadata.annotations.get_or_insert_with(BTreeMap::new);
                for (k, v) in [
                    (SELECTED_NODE_ANNOTATION, node.as_str()),
                    (STORAGE_PROVISIONER_ANNOTATION, LOCAL_PATH_PROVISIONER),
                    (BETA_STORAGE_PROVISIONER_ANNOTATION, LOCAL_PATH_PROVISIONER),
                    (BIND_COMPLETED_ANNOTATION, "yes"),
                    (BOUND_BY_CONTROLLER_ANNOTATION, "yes"),
                ] {
                    annotations.insert(k.to_owned(), v.to_owned());
                }
                true
            })
            .await;
        match bound {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
        let status_opts = WriteOptions {
            subresource: Some("status".to_owned()),
            ..opts
        };
        let written = self
            .registry
            .edit(
                &PERSISTENTVOLUMECLAIM,
                namespace,
                name,
                &status_opts,
                |obj| {
                    let Object::PersistentVolumeClaim(pvc) = obj else {
                        return false;
                    };
                    let spec = pvc.spec.clone().unwrap_or_default();
                    if spec.volume_name.as_deref() != Some(volume.as_str()) {
                        return false;
                    }
                    let status = pvc.status.get_or_insert_with(Default::default);
                    status.phase = Some("Bound".to_owned());
                    status.access_modes = spec.access_modes.clone();
                    status.capacity = spec
                        .resources
                        .as_ref()
                        .and_then(|r| r.requests.as_ref())
                        .and_then(|r| r.get("storage"))
                        .map(|q| BTreeMap::from([("storage".to_owned(), q.clone())]));
                    true
                },
            )
            .await;
        match written {
            Ok(_) => {
                tracing::info!(claim = %ObjectKey::new(namespace, name), %node, %volume, "claim bound");
                Ok(None)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A claim not reported Bound yet (its volume name may already be written: the status write
/// is then what remains).
fn pending(pvc: &PersistentVolumeClaim) -> bool {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound")
}
