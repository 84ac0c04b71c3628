//! Removing what runs leave: one run's container, rootfs and bundle once it has ended; a
//! pod's, whatever state its runs are in, once the pod is done on the node; and, at the
//! agent's start, those of every pod no worker runs (a server killed and restarted), found
//! by their names: runc's containers, bundles and root filesystems are all named
//! `<pod uid>_<run id>`.

use std::path::{Path, PathBuf};

use kbatch_image::Store;

use super::bundle::{bundle_dir, pod_dir};
use super::command::Runc;
use crate::checkpoint::RunRecord;

/// Where the runtime keeps things.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
    pub store: Store,
}

/// The parent of every container's cgroup (below each hierarchy's root).
pub const CGROUP_PARENT: &str = "/kbatch-runc";

/// The cgroup runc puts a container in (below each hierarchy's root).
pub fn cgroups_path(container_id: &str) -> String {
    format!("{CGROUP_PARENT}/{container_id}")
}

/// Removes the containers' parent cgroup from each hierarchy where no container's cgroup
/// is left in it (runc creates it with the first container); one still in use stays.
pub fn remove_cgroup_parent() {
    for dir in super::command::cgroup_dirs(CGROUP_PARENT) {
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EBUSY | libc::ENOTEMPTY)
                ) => {}
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "removing the containers' parent cgroup")
            }
        }
    }
}

/// The pod uid of a container id, if it is one of ours (`<uid>_<64 hex digits>`).
fn pod_of(container_id: &str) -> Option<&str> {
    let (uid, run) = container_id.rsplit_once('_')?;
    (run.len() == 64 && run.bytes().all(|b| b.is_ascii_hexdigit()) && !uid.is_empty())
        .then_some(uid)
}

/// The pod of a recorded run: from its shim's status file (`<uid>_<run id>.json`), else
/// from its bundle.
pub fn pod_of_record(dir: &Path, run: &RunRecord) -> Option<String> {
    let from_status = run
        .process
        .as_ref()
        .and_then(|p| p.shim.as_ref())
        .and_then(|s| s.status_file.file_stem()?.to_str().map(str::to_owned));
    if let Some(stem) = from_status
        && let Some(uid) = pod_of(&stem)
    {
        return Some(uid.to_owned());
    }
    names(&dir.join("bundles"))
        .into_iter()
        .find(|n| n.ends_with(&format!("_{}", run.id)))
        .and_then(|n| pod_of(&n).map(str::to_owned))
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every container id something is left of: runc's state, a bundle, a root filesystem.
fn container_ids(paths: &Paths, runc: Option<&Runc>) -> Vec<String> {
    let mut ids = names(&paths.dir.join("bundles"));
    if let Some(runc) = runc {
        ids.extend(runc.ids());
    }
    ids.extend(paths.store.rootfs_ids().unwrap_or_default());
    ids.retain(|id| pod_of(id).is_some());
    ids.sort();
    ids.dedup();
    ids
}

/// The pods something is left of.
pub fn pods(paths: &Paths, runc: Option<&Runc>) -> Vec<String> {
    let mut pods: Vec<String> = container_ids(paths, runc)
        .iter()
        .filter_map(|id| pod_of(id).map(str::to_owned))
        .collect();
    pods.extend(names(&paths.dir.join("pods")));
    pods
}

/// Removes one run's container (killing what still runs in it, and its cgroup), its root
/// filesystem (unmounted) and its bundle.
pub async fn end_run(runc: &Runc, paths: &Paths, container_id: &str) {
    runc.delete(container_id).await;
    release(paths, container_id).await;
}

/// [`end_run`] for a run whose `runc run` has returned: the container has stopped, and
/// its cgroups and state go without a `runc delete` when nothing is left in them
/// ([`Runc::remove_stopped`]).
pub async fn end_stopped_run(runc: &Runc, paths: &Paths, container_id: &str) {
    if !runc.remove_stopped(container_id) {
        runc.delete(container_id).await;
    }
    release(paths, container_id).await;
}

async fn release(paths: &Paths, container_id: &str) {
    let store = paths.store.clone();
    let id = container_id.to_owned();
    let released = tokio::task::spawn_blocking(move || store.release_rootfs(&id)).await;
    match released {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(container = %container_id, error = %e, "removing a container's root filesystem")
        }
        Err(e) => {
            tracing::warn!(container = %container_id, error = %e, "removing a container's root filesystem")
        }
    }
    let bundle = bundle_dir(&paths.dir, container_id);
    if let Err(e) = std::fs::remove_dir_all(&bundle)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %bundle.display(), error = %e, "removing a container's bundle");
    }
}

/// Removes everything left of pod `uid`'s runs, and the pod's files.
pub async fn end_pod(runc: Option<&Runc>, paths: &Paths, uid: &str) {
    for id in container_ids(paths, runc)
        .into_iter()
        .filter(|id| pod_of(id) == Some(uid))
    {
        match runc {
            Some(runc) => end_run(runc, paths, &id).await,
            None => release(paths, &id).await,
        }
    }
    let dir = pod_dir(&paths.dir, uid);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "removing a pod's files");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_name_their_pod() {
        let run = "a".repeat(64);
        let id = format!("0f9a-uid_{run}");
        assert_eq!(pod_of(&id), Some("0f9a-uid"));
        assert_eq!(pod_of("0f9a-uid_abc"), None);
        assert_eq!(pod_of(&run), None);
        assert_eq!(cgroups_path(&id), format!("/kbatch-runc/{id}"));
    }
}
