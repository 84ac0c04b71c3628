//! Where a node keeps its per-boot state: the runs' claim and status files (`runs/`, the
//! shims'), the pods' checkpoints (`pods/`), and the volumes the agent writes from the API
//! (configMap, secret, downward API, projected) or mounts in memory (`pod-volumes/`,
//! `crate::volumes`). Like containerd's state directory
//! (`/run/containerd`, beside its root `/var/lib/containerd`), what is in it describes
//! processes of this boot only, so it belongs on a tmpfs: it survives a crash of the server,
//! which is what adoption needs, and goes with a reboot, which ends the runs anyway.
//!
//! The reason is the disk's, not memory's: each run creates and removes a handful of these
//! files, and on ext4 without a journal every new inode is searched for past each inode freed
//! in the last one to six minutes (`find_inode_bit`'s `recently_deleted`), which made file
//! creation a quarter of the server's CPU in a Job of short pods (docs/benchmarks/jobs.md
//! §5.7). Logs, emptyDir volumes on disk and the pods' working directories stay in the data
//! directory: they hold what the pods write.
//!
//! The default is a directory of its own, named after the data directory, on the first tmpfs
//! among `$XDG_RUNTIME_DIR`, `/run` and `/dev/shm` that this user owns a private directory
//! on; without one, the agent's own directory in the data directory, as before. An agent
//! directory that still holds runs or checkpoints (written by an earlier kbatch, or with the
//! tmpfs unavailable) keeps them there until they are done, so no live run is forgotten.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The shims' claim and status files, under the run directory.
pub const RUNS: &str = "runs";
/// The pods' checkpoints, under the run directory.
pub const PODS: &str = "pods";

/// `TMPFS_MAGIC` from linux/magic.h.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The default run directory of the agent whose files are in `agent_dir` (the data
/// directory's `agent`).
pub fn default_for(agent_dir: &Path) -> PathBuf {
    let mut bases = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        bases.push(PathBuf::from(dir));
    }
    bases.push(PathBuf::from("/run"));
    bases.push(PathBuf::from("/dev/shm"));
    choose(agent_dir, &bases)
}

/// [`default_for`] over the given tmpfs candidates, in order.
pub fn choose(agent_dir: &Path, bases: &[PathBuf]) -> PathBuf {
    // Made first, so that its canonical path, and with it the key, is the same at each start.
    let _ = std::fs::create_dir_all(agent_dir);
    if holds_state(agent_dir) {
        return agent_dir.to_owned();
    }
    let key = key(agent_dir);
    let uid = rustix::process::geteuid().as_raw();
    bases
        .iter()
        .filter(|base| is_tmpfs(base))
        .find_map(|base| private_dir(&base.join(format!("kbatch-{uid}"))).ok())
        .map(|own| own.join(key))
        .unwrap_or_else(|| agent_dir.to_owned())
}

/// Removes the run directory's subdirectories, and the directory itself unless it is
/// `agent_dir`, where they are empty: what a server that stops with no runs left leaves.
pub fn release(run_dir: &Path, agent_dir: &Path) {
    for sub in [RUNS, PODS, crate::volumes::PODS_DIR] {
        let _ = std::fs::remove_dir(run_dir.join(sub));
    }
    if run_dir != agent_dir {
        let _ = std::fs::remove_dir(run_dir);
    }
}

/// Whether `dir` holds a run's files or a checkpoint.
fn holds_state(dir: &Path) -> bool {
    [RUNS, PODS].iter().any(|sub| {
        std::fs::read_dir(dir.join(sub))
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    })
}

/// The data directory's name among others on the same tmpfs: its canonical path, hashed.
fn key(agent_dir: &Path) -> String {
    let path = std::fs::canonicalize(agent_dir).unwrap_or_else(|_| agent_dir.to_owned());
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    crate::shim::hex(&digest[..8])
}

/// Whether `dir` is on a tmpfs.
// `f_type` is an i64 on x86-64 and narrower on some other targets.
#[allow(clippy::useless_conversion)]
pub(crate) fn is_tmpfs(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|fs| i64::from(fs.f_type) == TMPFS_MAGIC)
}

/// `dir`, made if missing, when it is a directory (not a link) that this user owns and no one
/// else can write to. A shim runs what its claim file says, so a directory another user could
/// have made, or could write to, must never hold claims.
fn private_dir(dir: &Path) -> io::Result<PathBuf> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a private directory of user {uid}", dir.display()),
        ));
    }
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shm() -> Option<PathBuf> {
        let shm = PathBuf::from("/dev/shm");
        is_tmpfs(&shm).then_some(shm)
    }

    #[test]
    fn a_tmpfs_is_chosen_with_a_directory_per_data_directory() {
        let Some(shm) = shm() else { return };
        let data = tempfile::tempdir().unwrap();
        let (a, b) = (data.path().join("a"), data.path().join("b"));
        let chosen = choose(&a, &[data.path().to_owned(), shm.clone()]);
        let uid = rustix::process::geteuid().as_raw();
        assert_eq!(
            chosen.parent(),
            Some(shm.join(format!("kbatch-{uid}")).as_path())
        );
        assert_eq!(
            chosen,
            choose(&a, std::slice::from_ref(&shm)),
            "the same data directory, again"
        );
        assert_ne!(chosen, choose(&b, &[shm]));
    }

    #[test]
    fn without_a_tmpfs_the_agent_directory_is_kept() {
        let data = tempfile::tempdir().unwrap();
        let agent = data.path().join("agent");
        assert_eq!(choose(&agent, &[data.path().to_owned()]), agent);
    }

    #[test]
    fn state_left_in_the_agent_directory_keeps_it_there() {
        let Some(shm) = shm() else { return };
        let data = tempfile::tempdir().unwrap();
        let agent = data.path().join("agent");
        std::fs::create_dir_all(agent.join(PODS)).unwrap();
        assert_ne!(
            choose(&agent, std::slice::from_ref(&shm)),
            agent,
            "an empty pods/ moves on"
        );
        std::fs::write(agent.join(PODS).join("uid.json"), "{}").unwrap();
        assert_eq!(choose(&agent, &[shm]), agent);
    }

    #[test]
    fn a_directory_others_can_write_to_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("kbatch-x");
        assert_eq!(private_dir(&dir).unwrap(), dir);
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&dir).is_err());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(private_dir(&dir).is_ok());
        // Another user's directory, where a test runs as root and can make one.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(private_dir(&dir).is_err(), "another user's directory");
        }
        let link = base.path().join("link");
        std::os::unix::fs::symlink(base.path(), &link).unwrap();
        assert!(private_dir(&link).is_err(), "a link is never followed");
    }

    #[test]
    fn release_removes_only_empty_directories() {
        let base = tempfile::tempdir().unwrap();
        let (agent, run) = (base.path().join("agent"), base.path().join("run"));
        std::fs::create_dir_all(run.join(RUNS)).unwrap();
        std::fs::create_dir_all(run.join(PODS)).unwrap();
        std::fs::write(run.join(PODS).join("uid.json"), "{}").unwrap();
        release(&run, &agent);
        assert!(!run.join(RUNS).exists());
        assert!(run.join(PODS).join("uid.json").exists());
        std::fs::remove_file(run.join(PODS).join("uid.json")).unwrap();
        release(&run, &agent);
        assert!(!run.exists());
    }
}
