//! Directory-relative file operations that never follow a symlink. Unpacking and merging
//! layers work through directory descriptors opened with `O_NOFOLLOW`, component by
//! component, so a symlink in a layer (`etc -> /etc`) is data, never a way out.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` in `dir`, failing (ELOOP/ENOTDIR) on a symlink.
pub(crate) fn open_dir_at(dir: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// `lstat` relative to `dir`; None when absent.
pub(crate) fn lstat_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn is_dir(st: &Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn list_at(dir: impl AsFd) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

pub(crate) fn os(name: &CStr) -> &OsStr {
    OsStr::from_bytes(name.to_bytes())
}

/// Removes `name` from `dir`, a whole tree if it is a directory; absent is fine.
pub(crate) fn remove_at(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dir = dir.as_fd();
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = open_dir_at(dir, name)?;
        for child in list_at(&sub)? {
            remove_at(&sub, os(&child))?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// An archive entry name as path components: no absolute paths, no `..`; `.` and empty
/// components dropped. `Ok(vec![])` is the root itself.
pub(crate) fn clean(raw: &[u8]) -> Result<Vec<OsString>, &'static str> {
    if raw.is_empty() {
        return Err("empty name");
    }
    if raw.starts_with(b"/") {
        return Err("absolute path");
    }
    if raw.contains(&0) {
        return Err("NUL byte in name");
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("\"..\" in path"),
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Ok(out)
}

/// Whether this process may set owners (unprivileged unpacks keep the caller's).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The extended attributes a layer may carry into a container: file capabilities (what
/// `ping` needs) and the `user.` namespace. Never `trusted.` (overlayfs reads its own
/// metadata from there: a layer must not forge whiteouts or redirects) nor `security.selinux`.
pub(crate) fn xattr_allowed(name: &[u8]) -> bool {
    name == b"security.capability" || name.starts_with(b"user.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_at_deletes_trees_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let t = dir.path().join("t");
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.join("a/link")).unwrap();
        let root = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        remove_at(&root, OsStr::new("t")).unwrap();
        assert!(!t.exists());
        assert!(outside.path().join("keep").exists());
        remove_at(&root, OsStr::new("t")).unwrap();
    }

    #[test]
    fn open_dir_at_refuses_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("l")).unwrap();
        let root = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        assert!(open_dir_at(&root, OsStr::new("l")).is_err());
    }

    #[test]
    fn xattr_allow_list() {
        assert!(xattr_allowed(b"security.capability"));
        assert!(xattr_allowed(b"user.mime"));
        assert!(!xattr_allowed(b"trusted.overlay.opaque"));
        assert!(!xattr_allowed(b"trusted.overlay.redirect"));
        assert!(!xattr_allowed(b"security.selinux"));
    }
}
