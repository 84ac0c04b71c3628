//! The working directory of a pod whose containers name none, on runtimes without images:
//! `DATA/work/<pod uid>`, made before its first container starts and removed when the pod
//! is done here.
//!
//! A directory the pod left as a fresh one would be (empty once its contents are removed,
//! with the same owner and mode) is kept as a spare under `DATA/work/.spare` and renamed
//! into place for a later pod. A mkdir allocates an inode, and ext4 finds one by walking
//! its inode bitmaps — without a journal it also reads the inode of every recently freed
//! one it passes — which made the mkdir of a short pod's start a twentieth of the server's
//! CPU in `bench/jobs.sh`. A rename within one filesystem allocates nothing.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many spares are kept; more are removed. A node runs about this many pods
/// at once at most, and each spare is one empty directory.
const MAX_SPARES: usize = 256;

/// The pods' working directories under one data directory.
#[derive(Debug)]
pub(crate) struct WorkDirs {
    root: PathBuf,
    spare_root: PathBuf,
    spares: Mutex<Vec<PathBuf>>,
    /// Names the next spare.
    next: AtomicU64,
    /// Owner, group and permission bits of a directory this agent made: a spare must have
    /// the same, or a later pod would start in a directory an earlier one changed.
    fresh: Mutex<Option<(u32, u32, u32)>>,
}

impl WorkDirs {
    /// The working directories under `data_dir`; spares an earlier agent left are taken on.
    pub(crate) fn new(data_dir: &Path) -> WorkDirs {
        let root = data_dir.join("work");
        let spare_root = root.join(".spare");
        let spares: Vec<PathBuf> = fs::read_dir(&spare_root)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        WorkDirs {
            root,
            spare_root,
            next: AtomicU64::new(spares.len() as u64),
            spares: Mutex::new(spares),
            fresh: Mutex::new(None),
        }
    }

    /// Where the working directory of the pod `uid` is.
    pub(crate) fn path(&self, uid: &str) -> PathBuf {
        self.root.join(uid)
    }

    /// Makes the pod's working directory unless it is there already (a later container of
    /// the pod, a restart), from a spare when there is one.
    pub(crate) fn prepare(&self, uid: &str) -> io::Result<PathBuf> {
        let dir = self.path(uid);
        if dir.is_dir() {
            return Ok(dir);
        }
        // Until this agent has made a directory itself it does not know what a fresh one
        // looks like, so the spares an earlier agent left wait for the next pod.
        let fresh = *self.lock_fresh();
        while let Some(spare) = fresh.and_then(|_| self.take_spare()) {
            // A process that outlived its pod could still write into a spare it had as its
            // working directory, change its owner or mode, or put a symlink in its place;
            // only an empty directory as fresh as a new one is used.
            let as_fresh = fs::symlink_metadata(&spare).is_ok_and(|meta| {
                meta.is_dir() && fresh == Some((meta.uid(), meta.gid(), meta.mode() & 0o7777))
            });
            let empty =
                as_fresh && fs::read_dir(&spare).is_ok_and(|mut entries| entries.next().is_none());
            if !empty {
                let _ = remove_spare(&spare);
                continue;
            }
            match fs::rename(&spare, &dir) {
                Ok(()) => return Ok(dir),
                // Gone or not fit (left by another agent's run): made afresh below.
                Err(_) => {
                    let _ = remove_spare(&spare);
                }
            }
        }
        fs::create_dir_all(&dir)?;
        let meta = fs::metadata(&dir)?;
        *self.lock_fresh() = Some((meta.uid(), meta.gid(), meta.mode() & 0o7777));
        Ok(dir)
    }

    /// Removes the pod's working directory: what the pod left in it goes, and the
    /// directory itself is kept as a spare when it is as fresh as a new one.
    pub(crate) fn remove(&self, uid: &str) -> io::Result<()> {
        let dir = self.path(uid);
        let meta = match fs::symlink_metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let fresh = *self.lock_fresh();
        let reusable = meta.is_dir()
            && fresh == Some((meta.uid(), meta.gid(), meta.mode() & 0o7777))
            && self.spare_count() < MAX_SPARES;
        if !reusable {
            return fs::remove_dir_all(&dir);
        }
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        fs::create_dir_all(&self.spare_root)?;
        let spare = self
            .spare_root
            .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
        match fs::rename(&dir, &spare) {
            Ok(()) => {
                self.lock_spares().push(spare);
                Ok(())
            }
            Err(_) => fs::remove_dir_all(&dir),
        }
    }

    fn take_spare(&self) -> Option<PathBuf> {
        self.lock_spares().pop()
    }

    fn spare_count(&self) -> usize {
        self.lock_spares().len()
    }

    fn lock_spares(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.spares.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_fresh(&self) -> std::sync::MutexGuard<'_, Option<(u32, u32, u32)>> {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes a spare that is not used: a directory with what is in it, anything else (a
/// symlink put in its place) as the entry itself, never what it points to.
fn remove_spare(spare: &Path) -> io::Result<()> {
    match fs::symlink_metadata(spare) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(spare),
        Ok(_) => fs::remove_file(spare),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn inode(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn a_removed_directory_is_emptied_and_serves_the_next_pod() {
        let data = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::new(data.path());
        let first = dirs.prepare("a").unwrap();
        assert!(first.is_dir());
        fs::create_dir_all(first.join("sub/deeper")).unwrap();
        fs::write(first.join("sub/deeper/f"), "x").unwrap();
        fs::write(first.join("out.txt"), "y").unwrap();
        let ino = inode(&first);
        dirs.remove("a").unwrap();
        assert!(!first.exists());

        let second = dirs.prepare("b").unwrap();
        assert_eq!(second, data.path().join("work/b"));
        assert_eq!(inode(&second), ino, "the spare, renamed");
        assert_eq!(
            fs::read_dir(&second).unwrap().count(),
            0,
            "nothing of pod a"
        );
    }

    #[test]
    fn a_directory_the_pod_changed_is_not_reused() {
        let data = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::new(data.path());
        let dir = dirs.prepare("a").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        dirs.remove("a").unwrap();
        assert!(!dir.exists());
        let spares = fs::read_dir(data.path().join("work/.spare")).map_or(0, |d| d.count());
        assert_eq!(spares, 0, "removed, not kept");
        let next = dirs.prepare("b").unwrap();
        assert_ne!(fs::metadata(&next).unwrap().mode() & 0o7777, 0o700);
    }

    #[test]
    fn an_existing_directory_is_kept_and_spares_outlive_the_agent() {
        let data = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::new(data.path());
        let dir = dirs.prepare("a").unwrap();
        fs::write(dir.join("f"), "kept").unwrap();
        assert_eq!(dirs.prepare("a").unwrap(), dir);
        assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "kept");
        let ino = inode(&dir);
        dirs.remove("a").unwrap();
        dirs.remove("gone").unwrap();

        let later = WorkDirs::new(data.path());
        let fresh = later.prepare("b").unwrap();
        assert_ne!(
            inode(&fresh),
            ino,
            "made: the agent has no fresh directory to compare with"
        );
        let dir = later.prepare("c").unwrap();
        assert_eq!(inode(&dir), ino, "a spare of the earlier agent");
    }

    #[test]
    fn a_spare_changed_after_it_was_kept_is_not_used() {
        let data = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::new(data.path());
        for uid in ["a", "b", "c"] {
            dirs.prepare(uid).unwrap();
        }
        for uid in ["a", "b", "c"] {
            dirs.remove(uid).unwrap();
        }
        let spares: Vec<PathBuf> = dirs.lock_spares().clone();
        assert_eq!(spares.len(), 3);
        // A process that outlived its pod: one spare's mode changed, one replaced by a
        // symlink to a directory of its choosing, one left alone.
        fs::set_permissions(&spares[2], fs::Permissions::from_mode(0o777)).unwrap();
        let elsewhere = data.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("keep"), "x").unwrap();
        fs::remove_dir(&spares[1]).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &spares[1]).unwrap();
        let untouched = inode(&spares[0]);

        let dir = dirs.prepare("d").unwrap();
        assert_eq!(inode(&dir), untouched, "the one spare still as fresh");
        assert!(fs::symlink_metadata(&dir).unwrap().is_dir());
        assert!(!spares[1].exists() && !spares[2].exists(), "both removed");
        assert_eq!(fs::read_to_string(elsewhere.join("keep")).unwrap(), "x");
        assert!(dirs.lock_spares().is_empty());
    }
}
