//! PersistentVolumeClaims of the storage class `local` on this node, as k3s's local-path
//! provisioner serves them: one directory per claim under the agent's data dir, made and
//! bound when a pod on the node first uses the claim (`WaitForFirstConsumer`), which pins
//! the claim to the node.
//!
//! The agent is the claim's first consumer's node, so it is the one that binds: it records
//! the node in `volume.kubernetes.io/selected-node` (as the scheduler does before a
//! provisioner acts), names the volume `pvc-<claim uid>` (as provisioners do), and writes
//! the claim's status `Bound` with the capacity it requested.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimStatus};

/// The annotation that pins a claim to the node of its first consumer.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Set by the binder once a claim is bound to its volume.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Where the claims' directories are, under the agent's data dir.
const STORAGE_DIR: &str = "storage";

/// What the agent must do about a claim a pod on `node` uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Bound (to this node): its directory is ready to use.
    Bound(PathBuf),
    /// Not bound yet: write this claim (then its status) to bind it to this node.
    Bind {
        claim: Box<PersistentVolumeClaim>,
        status: PersistentVolumeClaimStatus,
        dir: PathBuf,
    },
}

/// The directory of a claim: `pvc-<uid>_<namespace>_<name>`, as local-path names them.
pub fn claim_dir(data_dir: &Path, pvc: &PersistentVolumeClaim) -> PathBuf {
    let meta = &pvc.metadata;
    data_dir.join(STORAGE_DIR).join(format!(
        "pvc-{}_{}_{}",
        meta.uid.as_deref().unwrap_or(""),
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    ))
}

/// Decides what a claim needs before a pod on `node` can use it; the error is the
/// `FailedMount` message (kubelet's `error processing PVC …` words).
pub fn resolve(data_dir: &Path, node: &str, pvc: &PersistentVolumeClaim) -> Result<Claim, String> {
    let meta = &pvc.metadata;
    let ns = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    if meta.deletion_timestamp.is_some() {
        return Err(format!(
            "error processing PVC {ns}/{name}: PVC is being deleted"
        ));
    }
    let selected = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(SELECTED_NODE))
        .map(String::as_str);
    if let Some(other) = selected.filter(|n| *n != node) {
        return Err(format!(
            "error processing PVC {ns}/{name}: the claim's volume is on node {other:?}, not on {node:?}"
        ));
    }
    let spec = pvc.spec.clone().unwrap_or_default();
    // No class at all is the default one, `local` (the DefaultStorageClass admission plugin
    // sets it on create; a claim made before it was there may still have none).
    let class = spec.storage_class_name.as_deref().unwrap_or("local");
    if class != "local" {
        return Err(format!(
            "error processing PVC {ns}/{name}: storage class {class:?} has no provisioner on this node (only \"local\")"
        ));
    }
    let dir = claim_dir(data_dir, pvc);
    let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
    match phase {
        Some("Bound") => Ok(Claim::Bound(dir)),
        Some("Lost") => Err(format!(
            "error processing PVC {ns}/{name}: the claim's volume is lost"
        )),
        _ => {
            let mut claim = pvc.clone();
            let meta = &mut claim.metadata;
            let annotations = meta.annotations.get_or_insert_with(Default::default);
            annotations.insert(SELECTED_NODE.to_owned(), node.to_owned());
            annotations.insert(BIND_COMPLETED.to_owned(), "yes".to_owned());
            let claim_spec = claim.spec.get_or_insert_with(Default::default);
            if claim_spec.volume_name.as_deref().unwrap_or("").is_empty() {
                claim_spec.volume_name =
                    Some(format!("pvc-{}", pvc.metadata.uid.as_deref().unwrap_or("")));
            }
            let status = PersistentVolumeClaimStatus {
                phase: Some("Bound".to_owned()),
                access_modes: spec.access_modes.clone(),
                capacity: spec
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"))
                    .map(|q| [("storage".to_owned(), q.clone())].into()),
                ..Default::default()
            };
            Ok(Claim::Bind {
                claim: Box::new(claim),
                status,
                dir,
            })
        }
    }
}

/// Makes a claim's directory (`0777`, as local-path makes them, so any user in the pod may
/// write).
pub fn make(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)))
        .map_err(|e| format!("creating the claim's directory {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvc(extra: serde_json::Value) -> PersistentVolumeClaim {
        let mut v = serde_json::json!({
            "metadata": {"name": "backups", "namespace": "ns", "uid": "u1"},
            "spec": {
                "storageClassName": "local",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}
            },
            "status": {"phase": "Pending"}
        });
        json_merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn first_use_binds_to_the_node() {
        let data = Path::new("/data");
        let Claim::Bind { claim, status, dir } =
            resolve(data, "n1", &pvc(serde_json::json!({}))).unwrap()
        else {
            panic!("not a binding");
        };
        assert_eq!(dir, Path::new("/data/storage/pvc-u1_ns_backups"));
        let annotations = claim.metadata.annotations.unwrap();
        assert_eq!(annotations[SELECTED_NODE], "n1");
        assert_eq!(annotations[BIND_COMPLETED], "yes");
        assert_eq!(claim.spec.unwrap().volume_name.as_deref(), Some("pvc-u1"));
        assert_eq!(status.phase.as_deref(), Some("Bound"));
        assert_eq!(status.capacity.unwrap()["storage"].0, "1Gi");
        assert_eq!(status.access_modes.unwrap(), ["ReadWriteOnce"]);
    }

    #[test]
    fn bound_claims_and_refusals() {
        let data = Path::new("/data");
        let bound = pvc(serde_json::json!({
            "metadata": {"annotations": {SELECTED_NODE: "n1"}},
            "status": {"phase": "Bound"}
        }));
        assert_eq!(
            resolve(data, "n1", &bound),
            Ok(Claim::Bound("/data/storage/pvc-u1_ns_backups".into()))
        );
        assert_eq!(
            resolve(data, "n2", &bound),
            Err("error processing PVC ns/backups: the claim's volume is on node \"n1\", not on \"n2\"".to_owned())
        );
        let deleting =
            pvc(serde_json::json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}));
        assert_eq!(
            resolve(data, "n1", &deleting),
            Err("error processing PVC ns/backups: PVC is being deleted".to_owned())
        );
        let other = pvc(serde_json::json!({"spec": {"storageClassName": "fast-ssd"}}));
        assert!(
            resolve(data, "n1", &other)
                .unwrap_err()
                .contains("storage class \"fast-ssd\"")
        );
    }
}
