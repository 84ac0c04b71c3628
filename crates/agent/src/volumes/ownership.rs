//! The pod's `fsGroup` on its volumes: kubelet's `SetVolumeOwnership`
//! (`pkg/volume/volume_linux.go`), which the configMap, secret, downwardAPI, projected and
//! emptyDir plugins call after setting a volume up. Every file and directory gets the group
//! (`Lchown(path, -1, fsGroup)`), and its mode gains group read (and write, unless the
//! volume is read-only), directories also group search and setgid, so that new files keep
//! the group (`changeFilePermission`). Symlinks get the group and keep their mode.
//!
//! That is what lets a container running as another user than the files' owner read its
//! Secret: a Secret file of mode `0400` becomes `0440`, group `fsGroup`, which the
//! container's process has as a supplementary group (the runc spec adds it).
//!
//! As in kubelet, a file whose group or mode cannot be changed is logged and left as it is
//! (an agent that is not root may give only its own groups): the volume is still set up.
//!
//! Claims are left alone: the class `local`'s directories are hostPath-like volumes (as
//! k3s's local-path provisioner makes them), and the hostPath plugin changes no ownership.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use super::atomic::Payload;

/// `rwMask`: what a writable volume's files gain.
const READ_WRITE: u32 = 0o660;
/// `roMask`: what a read-only volume's files gain.
const READ_ONLY: u32 = 0o440;
/// `execMask`: what directories gain besides.
const SEARCH: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// The pod's `securityContext.fsGroup`, if it sets one that is a group id.
pub fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .as_ref()?
        .security_context
        .as_ref()?
        .fs_group
        .and_then(|g| u32::try_from(g).ok())
}

/// The modes of a read-only volume's files as they will be once [`set`] has run: the
/// atomic writer compares modes to tell whether a payload changed, so they must be the
/// modes it will find, or every re-sync would write a new version.
pub fn payload_modes(payload: &mut Payload) {
    for file in payload.values_mut() {
        file.mode |= READ_ONLY;
    }
}

/// `SetVolumeOwnership` over `dir` and everything in it (symlinks not followed). Only a
/// directory that cannot be read is an error; `changeFilePermission`'s failures are logged,
/// the first of each call.
pub fn set(dir: &Path, fs_group: u32, read_only: bool) -> std::io::Result<()> {
    let mut failed = false;
    let mut log = |what: &str, path: &Path, e: std::io::Error| {
        if !std::mem::replace(&mut failed, true) {
            tracing::warn!(path = %path.display(), error = %e, fs_group, "{what} failed: the volume keeps its owner and modes");
        }
    };
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if let Err(e) = std::os::unix::fs::lchown(&path, None, Some(fs_group)) {
            log("lchown", &path, e);
        }
        if meta.file_type().is_symlink() {
            continue;
        }
        let mut mask = if read_only { READ_ONLY } else { READ_WRITE };
        if meta.is_dir() {
            mask |= SEARCH | SETGID;
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
        // chown clears a file's setgid bit, so the mode is set after it, from the mode
        // read before: kubelet's `info.Mode()|mask` does the same.
        let mode = meta.permissions().mode() & 0o7777;
        if let Err(e) =
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | mask))
        {
            log("chmod", &path, e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn gid(p: &Path) -> u32 {
        std::os::unix::fs::MetadataExt::gid(&std::fs::symlink_metadata(p).unwrap())
    }

    #[test]
    fn files_and_directories_gain_the_group_and_its_access() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join("sub/secret"), "x").unwrap();
        std::fs::set_permissions(
            dir.join("sub/secret"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/secret", dir.join("link")).unwrap();
        // Without root only the agent's own groups can be given; its primary one always can.
        let group = rustix::process::getegid().as_raw();

        set(&dir, group, true).unwrap();
        assert_eq!(mode(&dir), 0o2755);
        assert_eq!(mode(&dir.join("sub")), 0o2750);
        assert_eq!(mode(&dir.join("sub/secret")), 0o440);
        assert_eq!(mode(&dir.join("link")), 0o777, "symlinks keep their mode");
        for p in ["", "sub", "sub/secret", "link"] {
            assert_eq!(gid(&dir.join(p)), group, "{p}");
        }

        let scratch = tmp.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(scratch.join("f"), "x").unwrap();
        std::fs::set_permissions(scratch.join("f"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        set(&scratch, group, false).unwrap();
        assert_eq!(mode(&scratch), 0o2777);
        assert_eq!(mode(&scratch.join("f")), 0o660);
    }

    /// An agent that is not root cannot give a group it is not in: kubelet logs that and
    /// sets the volume up all the same.
    #[test]
    fn a_group_that_cannot_be_given_leaves_the_files_usable() {
        if rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED: root may give any group");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        std::fs::set_permissions(tmp.path().join("f"), std::fs::Permissions::from_mode(0o400))
            .unwrap();
        set(tmp.path(), 0, true).unwrap();
        assert_eq!(mode(&tmp.path().join("f")), 0o440);
    }

    #[test]
    fn as_root_the_files_get_the_pods_group() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED: only root may give another group");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        set(tmp.path(), 4321, true).unwrap();
        assert_eq!(gid(&tmp.path().join("f")), 4321);
        assert_eq!(gid(tmp.path()), 4321);
    }
}
