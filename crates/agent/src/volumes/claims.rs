//! PersistentVolumeClaims of kbatch's local-path provisioner (`kbatch.dev/local-path`, the
//! default class `local`) on this node, as k3s's local-path provisioner serves them: one
//! directory per claim, `<agent data dir>/storage/<spec.volumeName>` (`pvc-<claim uid>`).
//!
//! The server's volume binder binds a claim when the first pod using it is bound to a node
//! (`WaitForFirstConsumer`): it names the node in `volume.kubernetes.io/selected-node`, which
//! pins the claim there, and writes the claim `Bound` (crates/controllers
//! `volume_binding.rs`). The agent, like kubelet, mounts only a Bound claim; it makes the
//! claim's directory on first use, recording beside it the reclaim policy of the claim's
//! class, and removes the directory once the claim is gone if that policy is `Delete`
//! ([`sweep`]).

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

/// The annotation that pins a claim to the node of its first consumer.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Where the claims' directories are, under the agent's data dir.
const STORAGE_DIR: &str = "storage";
/// The suffix of the file beside a claim's directory that holds its reclaim policy.
const POLICY_SUFFIX: &str = ".reclaim";

/// The directory of a claim: named by its `spec.volumeName`, which the binder sets to
/// `pvc-<claim uid>` (docs/api.md, "the binding contract").
pub fn claim_dir(data_dir: &Path, pvc: &PersistentVolumeClaim) -> PathBuf {
    let volume = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("pvc-{}", pvc.metadata.uid.as_deref().unwrap_or("")));
    data_dir.join(STORAGE_DIR).join(volume)
}

/// The directory of a claim a pod on `node` uses, once the claim is bound to this node; the
/// error is the `FailedMount` message (kubelet's `error processing PVC …` words).
pub fn resolve(
    data_dir: &Path,
    node: &str,
    pvc: &PersistentVolumeClaim,
) -> Result<PathBuf, String> {
    let meta = &pvc.metadata;
    let ns = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    if meta.deletion_timestamp.is_some() {
        return Err(format!(
            "error processing PVC {ns}/{name}: PVC is being deleted"
        ));
    }
    if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        return Err(format!(
            "error processing PVC {ns}/{name}: PVC is not bound"
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
    Ok(claim_dir(data_dir, pvc))
}

/// Makes a claim's directory if it is missing (`0777`, as local-path makes them, so any user
/// in the pod may write), recording `reclaim_policy` beside it.
pub fn make(dir: &Path, reclaim_policy: &str) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let policy = policy_file(dir);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)))
        .and_then(|()| std::fs::write(&policy, reclaim_policy))
        .map_err(|e| format!("creating the claim's directory {}: {e}", dir.display()))
}

fn policy_file(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(POLICY_SUFFIX);
    dir.with_file_name(name)
}

/// The claims this node has directories for, by uid (their volumes are `pvc-<uid>`).
pub fn present(data_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(data_dir.join(STORAGE_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let uid = name.strip_prefix("pvc-")?.to_owned();
            Some((uid, e.path()))
        })
        .collect()
}

/// Removes the directories of claims that are gone (their uid not in `live`) under a
/// `Delete` reclaim policy, and the policy files of both; a `Retain` directory stays.
pub fn sweep(data_dir: &Path, live: &HashSet<String>) {
    for (uid, dir) in present(data_dir) {
        if live.contains(&uid) {
            continue;
        }
        let policy = policy_file(&dir);
        // Without a policy file the directory was kept already (or is not the agent's).
        let Ok(recorded) = std::fs::read_to_string(&policy) else {
            continue;
        };
        if recorded.trim() == "Delete" {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "removing a deleted claim's directory");
                continue;
            }
        } else {
            tracing::info!(dir = %dir.display(), policy = %recorded.trim(), "a deleted claim's directory is kept");
        }
        let _ = std::fs::remove_file(&policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvc(annotations: serde_json::Value, phase: &str) -> PersistentVolumeClaim {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "backups", "namespace": "ns", "uid": "u1", "annotations": annotations},
            "spec": {"storageClassName": "local", "volumeName": "pvc-u1"},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn only_bound_claims_of_this_node_are_mounted() {
        let data = Path::new("/data");
        let bound = pvc(serde_json::json!({SELECTED_NODE: "n1"}), "Bound");
        assert_eq!(
            resolve(data, "n1", &bound),
            Ok("/data/storage/pvc-u1".into())
        );
        assert_eq!(
            resolve(data, "n2", &bound),
            Err("error processing PVC ns/backups: the claim's volume is on node \"n1\", not on \"n2\"".to_owned())
        );
        assert_eq!(
            resolve(data, "n1", &pvc(serde_json::json!({}), "Pending")),
            Err("error processing PVC ns/backups: PVC is not bound".to_owned())
        );
        let mut deleting = bound.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert_eq!(
            resolve(data, "n1", &deleting),
            Err("error processing PVC ns/backups: PVC is being deleted".to_owned())
        );
    }

    #[test]
    fn directories_of_deleted_claims_go_by_their_policy() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        let dir = |uid: &str| data.join(format!("storage/pvc-{uid}"));
        make(&dir("keep"), "Delete").unwrap();
        make(&dir("gone"), "Delete").unwrap();
        make(&dir("retained"), "Retain").unwrap();
        std::fs::write(dir("gone").join("f"), "x").unwrap();
        let mode = std::fs::metadata(dir("keep")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o777);
        let mut uids: Vec<String> = present(data).into_iter().map(|(u, _)| u).collect();
        uids.sort();
        assert_eq!(uids, ["gone", "keep", "retained"]);
        sweep(data, &HashSet::from(["keep".to_owned()]));
        assert!(dir("keep").is_dir());
        assert!(!dir("gone").exists());
        assert!(dir("retained").is_dir());
        assert!(!data.join("storage/pvc-gone.reclaim").exists());
        assert!(!data.join("storage/pvc-retained.reclaim").exists());
        assert!(data.join("storage/pvc-keep.reclaim").exists());
    }
}
