//! The copying fallback: a container's root filesystem made by copying its layers, bottom
//! first, into one directory, with overlayfs' rules — a whiteout deletes the name below it,
//! an opaque directory hides everything below it, a directory over a non-directory (or the
//! reverse) replaces it. Both whiteout forms are read (unpack.rs): overlayfs' (0/0 character
//! devices, `trusted.overlay.opaque`) and the OCI marker files. Links are copied as links,
//! never followed; hard links within a layer stay hard links.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Timestamps, Uid, XattrFlags};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, DIR_FLAGS, os};
use crate::unpack::OVERLAY_OPAQUE_XATTR;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Owner, mode and times of a directory, set once every layer is merged (so a read-only
/// directory in one layer still receives the next layer's files).
#[derive(Debug, Clone, Copy)]
struct DirMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

/// Merges `layers` (each a layer's `fs/` directory, bottom first) into `dest`, which must
/// not exist.
pub(crate) fn merge(layers: &[&Path], dest: &Path) -> Result<()> {
    std::fs::create_dir(dest).at(dest, "creating")?;
    let dst = rustix::fs::open(dest, DIR_FLAGS, Mode::empty()).at(dest, "opening")?;
    let mut m = Merger {
        chown: fsutil::is_root(),
        dirs: BTreeMap::new(),
    };
    for layer in layers {
        let src = rustix::fs::open(*layer, DIR_FLAGS, Mode::empty()).at(layer, "opening")?;
        if is_opaque(&src) {
            clear(&dst).at(dest, "clearing")?;
        }
        m.dirs.insert(
            Vec::new(),
            dir_meta(&rustix::fs::fstat(&src).at(layer, "stat")?),
        );
        let mut links = HashMap::new();
        m.merge_dir(&src, &dst, &[], &mut links)
            .map_err(|e| Error::at(layer, "merging", e))?;
    }
    m.finish(&dst).at(dest, "setting directory modes in")
}

struct Merger {
    chown: bool,
    /// Relative path → metadata of the topmost layer's directory there.
    dirs: BTreeMap<Vec<OsString>, DirMeta>,
}

/// Where a multiply-linked file of the current layer was first copied to.
type Links = HashMap<u64, (OwnedFd, CString)>;

impl Merger {
    fn merge_dir(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        path: &[OsString],
        links: &mut Links,
    ) -> io::Result<()> {
        for name in fsutil::list_at(src)? {
            let n = os(&name);
            let bytes = n.as_bytes();
            if let Some(target) = bytes.strip_prefix(WHITEOUT_PREFIX) {
                // The opaque marker is read with its directory; other `.wh..wh.` names
                // are aufs bookkeeping.
                if bytes != OPAQUE_MARKER && !target.starts_with(WHITEOUT_PREFIX) {
                    fsutil::remove_at(dst, OsStr::from_bytes(target))?;
                }
                continue;
            }
            let Some(st) = fsutil::lstat_at(src, n)? else {
                continue;
            };
            let kind = FileType::from_raw_mode(st.st_mode);
            match kind {
                FileType::CharacterDevice if st.st_rdev == 0 => fsutil::remove_at(dst, n)?,
                FileType::Directory => {
                    match fsutil::lstat_at(dst, n)? {
                        Some(d) if fsutil::is_dir(&d) => {}
                        Some(_) => {
                            fsutil::remove_at(dst, n)?;
                            rustix::fs::mkdirat(dst, n, Mode::from_raw_mode(0o700))?;
                        }
                        None => rustix::fs::mkdirat(dst, n, Mode::from_raw_mode(0o700))?,
                    }
                    let sub_src = fsutil::open_dir_at(src, n)?;
                    let sub_dst = fsutil::open_dir_at(dst, n)?;
                    if is_opaque(&sub_src) {
                        clear(&sub_dst)?;
                    }
                    let mut sub = path.to_vec();
                    sub.push(n.to_owned());
                    self.dirs.insert(sub.clone(), dir_meta(&st));
                    copy_xattrs(&sub_src, &sub_dst)?;
                    self.merge_dir(&sub_src, &sub_dst, &sub, links)?;
                }
                FileType::RegularFile => {
                    fsutil::remove_at(dst, n)?;
                    if st.st_nlink > 1
                        && let Some((dir, first)) = links.get(&st.st_ino)
                    {
                        rustix::fs::linkat(dir, first.as_c_str(), dst, n, AtFlags::empty())?;
                        continue;
                    }
                    self.copy_file(src, dst, n, &st)?;
                    if st.st_nlink > 1 {
                        links.insert(st.st_ino, (rustix::io::dup(dst)?, name.clone()));
                    }
                }
                FileType::Symlink => {
                    fsutil::remove_at(dst, n)?;
                    let target = rustix::fs::readlinkat(src, n, Vec::new())?;
                    rustix::fs::symlinkat(target.as_c_str(), dst, n)?;
                    self.name_meta(dst, n, &st)?;
                }
                FileType::Fifo => {
                    fsutil::remove_at(dst, n)?;
                    rustix::fs::mknodat(dst, n, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
                    rustix::fs::chmodat(dst, n, mode_of(&st), AtFlags::empty())?;
                    self.name_meta(dst, n, &st)?;
                }
                // Devices and sockets are never unpacked into layers.
                _ => {}
            }
        }
        Ok(())
    }

    fn copy_file(&self, src: &OwnedFd, dst: &OwnedFd, n: &OsStr, st: &Stat) -> io::Result<()> {
        let from = rustix::fs::openat(
            src,
            n,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let to = rustix::fs::openat(
            dst,
            n,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
        // std uses copy_file_range here: in-kernel, and a reflink where the filesystem can.
        io::copy(&mut from, &mut to)?;
        if self.chown {
            rustix::fs::fchown(&to, Some(uid_of(st)), Some(gid_of(st)))?;
        }
        rustix::fs::fchmod(&to, mode_of(st))?;
        copy_xattrs(&from, &to)?;
        rustix::fs::futimens(&to, &times(st))?;
        Ok(())
    }

    /// Owner and times by name, not following a symlink.
    fn name_meta(&self, dst: &OwnedFd, n: &OsStr, st: &Stat) -> io::Result<()> {
        if self.chown {
            rustix::fs::chownat(
                dst,
                n,
                Some(uid_of(st)),
                Some(gid_of(st)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        rustix::fs::utimensat(dst, n, &times(st), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// Directory metadata, deepest first; directories a later whiteout removed are skipped.
    fn finish(&self, root: &OwnedFd) -> io::Result<()> {
        let mut dirs: Vec<_> = self.dirs.iter().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (path, meta) in dirs {
            let Some(fd) = walk(root, path)? else {
                continue;
            };
            if self.chown {
                rustix::fs::fchown(
                    &fd,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                )?;
            }
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(meta.mode))?;
            let t = rustix::fs::Timespec {
                tv_sec: meta.mtime,
                tv_nsec: 0,
            };
            rustix::fs::futimens(
                &fd,
                &Timestamps {
                    last_access: t,
                    last_modification: t,
                },
            )?;
        }
        Ok(())
    }
}

/// Opens a directory by relative path without following links; None if it is gone.
fn walk(root: &OwnedFd, path: &[OsString]) -> io::Result<Option<OwnedFd>> {
    let mut cur = rustix::io::dup(root)?;
    for c in path {
        match fsutil::open_dir_at(&cur, c) {
            Ok(fd) => cur = fd,
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut buf = [0u8; 4];
    let xattr = matches!(
        rustix::fs::fgetxattr(dir, OVERLAY_OPAQUE_XATTR, &mut buf),
        Ok(1) if buf[0] == b'y'
    );
    xattr
        || matches!(
            fsutil::lstat_at(dir, OsStr::from_bytes(OPAQUE_MARKER)),
            Ok(Some(_))
        )
}

/// Empties a directory.
fn clear(dir: &OwnedFd) -> io::Result<()> {
    for name in fsutil::list_at(dir)? {
        fsutil::remove_at(dir, os(&name))?;
    }
    Ok(())
}

/// Copies the extended attributes a container may have (fsutil::xattr_allowed).
fn copy_xattrs(from: impl AsFd, to: impl AsFd) -> io::Result<()> {
    let (from, to) = (from.as_fd(), to.as_fd());
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::flistxattr(from, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !fsutil::xattr_allowed(name) {
            continue;
        }
        let name = OsStr::from_bytes(name);
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::fgetxattr(from, name, &mut value[..])?;
        rustix::fs::fsetxattr(to, name, &value[..len], XattrFlags::empty())?;
    }
    Ok(())
}

fn dir_meta(st: &Stat) -> DirMeta {
    DirMeta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
    }
}

fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

fn uid_of(st: &Stat) -> Uid {
    Uid::from_raw(st.st_uid)
}

fn gid_of(st: &Stat) -> Gid {
    Gid::from_raw(st.st_gid)
}

fn times(st: &Stat) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn marker_whiteouts_opaque_dirs_and_type_changes() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("out"),
        );
        write(&l1.join("keep"), "1");
        write(&l1.join("gone"), "1");
        write(&l1.join("opq/old"), "1");
        write(&l1.join("d/inner"), "1");
        write(&l1.join("f-becomes-dir"), "1");
        symlink("/etc", l1.join("etc-link")).unwrap();
        write(&l2.join(".wh.gone"), "");
        write(&l2.join("opq/.wh..wh..opq"), "");
        write(&l2.join("opq/new"), "2");
        write(&l2.join("d"), "now a file");
        write(&l2.join("f-becomes-dir/x"), "2");
        write(&l2.join("keep"), "2");
        std::fs::set_permissions(l2.join("opq"), std::fs::Permissions::from_mode(0o555)).unwrap();
        merge(&[&l1, &l2], &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("keep")).unwrap(), "2");
        assert!(!out.join("gone").exists());
        assert!(!out.join(".wh.gone").exists());
        assert!(!out.join("opq/old").exists());
        assert!(!out.join("opq/.wh..wh..opq").exists());
        assert_eq!(std::fs::read_to_string(out.join("opq/new")).unwrap(), "2");
        assert_eq!(
            std::fs::metadata(out.join("opq"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o555
        );
        assert_eq!(
            std::fs::read_to_string(out.join("d")).unwrap(),
            "now a file"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("f-becomes-dir/x")).unwrap(),
            "2"
        );
        assert_eq!(
            std::fs::read_link(out.join("etc-link")).unwrap(),
            Path::new("/etc")
        );
    }

    #[test]
    fn hard_links_stay_links_and_copies_are_independent() {
        let t = tempfile::tempdir().unwrap();
        let (l1, out) = (t.path().join("l1"), t.path().join("out"));
        write(&l1.join("a"), "x");
        std::fs::hard_link(l1.join("a"), l1.join("b")).unwrap();
        merge(&[&l1], &out).unwrap();
        let (a, b) = (
            std::fs::metadata(out.join("a")).unwrap(),
            std::fs::metadata(out.join("b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino());
        assert_ne!(a.ino(), std::fs::metadata(l1.join("a")).unwrap().ino());
        std::fs::write(out.join("a"), "changed").unwrap();
        assert_eq!(std::fs::read_to_string(l1.join("a")).unwrap(), "x");
    }

    #[test]
    fn overlay_form_whiteouts_when_root() {
        if !fsutil::is_root() {
            eprintln!("skipped: overlay-form whiteouts need root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("out"),
        );
        write(&l1.join("gone"), "1");
        write(&l1.join("opq/old"), "1");
        std::fs::create_dir_all(l2.join("opq")).unwrap();
        let l2fd = rustix::fs::open(&l2, DIR_FLAGS, Mode::empty()).unwrap();
        rustix::fs::mknodat(&l2fd, "gone", FileType::CharacterDevice, Mode::empty(), 0).unwrap();
        let opq = fsutil::open_dir_at(&l2fd, OsStr::new("opq")).unwrap();
        if rustix::fs::fsetxattr(&opq, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty()).is_err() {
            eprintln!("skipped: this filesystem takes no trusted xattrs");
            return;
        }
        merge(&[&l1, &l2], &out).unwrap();
        assert!(std::fs::symlink_metadata(out.join("gone")).is_err());
        assert!(out.join("opq").is_dir());
        assert!(!out.join("opq/old").exists());
        let out_opq = rustix::fs::open(out.join("opq"), DIR_FLAGS, Mode::empty()).unwrap();
        assert!(!is_opaque(&out_opq), "trusted xattrs are not copied");
    }
}
