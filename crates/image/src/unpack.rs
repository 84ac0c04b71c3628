//! Unpacking one layer (a tar stream, gzip- or zstd-compressed or not) into its own
//! directory, safely, and verifying the uncompressed stream against the config's diff id.
//!
//! The rules (docs/images.md says why):
//! - entry names are relative and contain no `..`: an absolute name or a `..` component is an
//!   error, as are hard-link targets of either kind;
//! - no entry is written through a symlink: the parents of every entry are opened component
//!   by component with `O_NOFOLLOW`, so a symlink planted by an earlier entry (`x -> /etc`,
//!   then `x/passwd`) fails the unpack instead of writing to the host;
//! - a relative symlink whose target climbs above the layer's root is an error; absolute
//!   targets are kept, since they name paths inside the container's root (`/bin/sh ->
//!   /bin/busybox`), and nothing on the host ever follows a link in a layer;
//! - hard links must name a non-directory this layer already holds;
//! - block and character devices are skipped (recorded in layer.json), as container runtimes
//!   skip them when they cannot create devices: a container's /dev comes from the runtime;
//! - whiteouts (`.wh.NAME`, `.wh..wh..opq`) become overlayfs' own form (a 0/0 character
//!   device, the `trusted.overlay.opaque` xattr) when the host allows it, so a layer directory
//!   is directly an overlay lowerdir; otherwise they are kept as marker files, and such
//!   layers are only ever merged by copying (merge.rs), which reads both forms;
//! - extended attributes: only `security.capability` and `user.*` (never `trusted.*`);
//!   owners only when running as root.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dev, FileType, Gid, Mode, OFlags, Timestamps, Uid, XattrFlags};
use serde::{Deserialize, Serialize};
use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, DIR_FLAGS, clean};

/// The file beside `fs/` in a layer directory.
pub(crate) const LAYER_META: &str = "layer.json";
/// The layer's tree inside its directory.
pub(crate) const LAYER_FS: &str = "fs";

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How a layer directory records deletions of lower layers' files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhiteoutFormat {
    /// overlayfs' form: a 0/0 character device per deleted name, `trusted.overlay.opaque=y`
    /// on opaque directories. Needs CAP_MKNOD and CAP_SYS_ADMIN.
    Overlay,
    /// The OCI form, kept as is: `.wh.NAME` and `.wh..wh..opq` empty files.
    Marker,
}

/// What layer.json says about an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LayerMeta {
    pub(crate) whiteouts: WhiteoutFormat,
    /// Bytes of regular file content.
    pub(crate) size: u64,
    /// Device nodes left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) skipped: Vec<String>,
}

/// A layer's compression, from its media type or (for `docker save` archives, which have
/// none) its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI media type for a layer in this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    fn decoder<'a>(self, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// Whether this host lets the store write overlayfs whiteouts: tried once, in `probe_dir`.
pub(crate) fn probe_whiteouts(probe_dir: &Path) -> WhiteoutFormat {
    let try_it = || -> io::Result<()> {
        let dir = rustix::fs::open(probe_dir, DIR_FLAGS, Mode::empty())?;
        rustix::fs::mknodat(&dir, "w", FileType::CharacterDevice, Mode::empty(), 0)?;
        rustix::fs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())?;
        Ok(())
    };
    match try_it() {
        Ok(()) => WhiteoutFormat::Overlay,
        Err(e) => {
            tracing::info!(
                "layers keep OCI whiteout files (overlayfs whiteouts need root: {e}); \
                 containers get copied root filesystems"
            );
            WhiteoutFormat::Marker
        }
    }
}

/// Unpacks `blob` into the new directory `dest` (its `fs/` and `layer.json`). `layer` names
/// the layer in errors (its blob digest); the uncompressed stream must hash to `diff_id`.
pub(crate) fn unpack_layer(
    blob: &Path,
    compression: Compression,
    layer: &Digest,
    diff_id: &Digest,
    dest: &Path,
    format: WhiteoutFormat,
) -> Result<LayerMeta> {
    let file = std::fs::File::open(blob).at(blob, "opening")?;
    let decoded = compression
        .decoder(io::BufReader::new(file))
        .map_err(|e| Error::layer(layer, e))?;
    let fs = dest.join(LAYER_FS);
    std::fs::create_dir_all(&fs).at(&fs, "creating")?;
    let root = rustix::fs::open(&fs, DIR_FLAGS, Mode::empty()).at(&fs, "opening")?;
    let mut u = Unpacker {
        root,
        layer,
        format,
        chown: fsutil::is_root(),
        dirs: Vec::new(),
        root_meta: None,
        skipped: BTreeSet::new(),
        size: 0,
    };
    let mut archive = tar::Archive::new(HashingReader::new(decoded, diff_id.algorithm()));
    let entries = archive.entries().map_err(|e| Error::layer(layer, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::layer(layer, format!("reading the tar: {e}")))?;
        u.entry(&mut entry)?;
    }
    u.finish_dirs()?;
    let (actual, _) = archive
        .into_inner()
        .finish()
        .map_err(|e| Error::layer(layer, format!("reading the tar: {e}")))?;
    if actual != *diff_id {
        return Err(Error::DigestMismatch {
            what: format!("layer {layer} (uncompressed)"),
            expected: diff_id.to_string(),
            actual: actual.to_string(),
        });
    }
    let meta = LayerMeta {
        whiteouts: format,
        size: u.size,
        skipped: u
            .skipped
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
    };
    let meta_path = dest.join(LAYER_META);
    let json = serde_json::to_vec(&meta).map_err(|e| Error::io("encoding layer.json", e.into()))?;
    std::fs::write(&meta_path, json).at(&meta_path, "writing")?;
    Ok(meta)
}

/// An entry's metadata, applied after its content.
#[derive(Debug, Clone)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Unpacker<'a> {
    root: OwnedFd,
    layer: &'a Digest,
    format: WhiteoutFormat,
    chown: bool,
    /// Directories whose mode and times are set once their contents are written (a 0555
    /// directory must still receive its entries).
    dirs: Vec<(Vec<OsString>, Meta)>,
    root_meta: Option<Meta>,
    /// Paths of skipped device nodes; hard links to them are skipped too.
    skipped: BTreeSet<Vec<u8>>,
    size: u64,
}

/// Whether a relative symlink target, resolved from a link `depth` directories below the
/// layer root, climbs above the root.
fn symlink_escapes(depth: usize, target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut d = depth as i64;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                d -= 1;
                if d < 0 {
                    return true;
                }
            }
            _ => d += 1,
        }
    }
    false
}

impl Unpacker<'_> {
    fn unsafe_entry(&self, entry: &str, reason: impl ToString) -> Error {
        Error::unsafe_entry(self.layer, entry, reason)
    }

    fn failed(&self, entry: &str, doing: &str, e: impl Into<io::Error>) -> Error {
        Error::layer(
            self.layer,
            format!("entry {entry:?}: {doing}: {}", e.into()),
        )
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let parts = clean(&raw).map_err(|r| self.unsafe_entry(&shown, r))?;
        let meta = self.meta(entry, &shown)?;
        let Some((name, parents)) = parts.split_last() else {
            if kind != EntryType::Directory {
                return Err(self.unsafe_entry(&shown, "the layer root must be a directory"));
            }
            self.root_meta = Some(meta);
            return Ok(());
        };
        if let Some(target) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parents, name, target, &shown);
        }
        let parent = self.open_parent(parents, true, &shown)?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.replace(&parent, name, false, &shown)?;
                self.file(&parent, name, entry, &meta, &shown)
            }
            EntryType::Directory => {
                self.replace(&parent, name, true, &shown)?;
                match rustix::fs::mkdirat(&parent, name.as_os_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(self.failed(&shown, "mkdir", e)),
                }
                self.dirs.push((parts.clone(), meta));
                Ok(())
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(self.unsafe_entry(&shown, "symlink with an empty target"));
                }
                if target.contains(&0) {
                    return Err(self.unsafe_entry(&shown, "NUL byte in symlink target"));
                }
                if symlink_escapes(parents.len(), &target) {
                    return Err(self.unsafe_entry(
                        &shown,
                        format!(
                            "symlink target {:?} leads outside the layer",
                            String::from_utf8_lossy(&target)
                        ),
                    ));
                }
                self.replace(&parent, name, false, &shown)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, name.as_os_str())
                    .map_err(|e| self.failed(&shown, "symlink", e))?;
                self.link_meta(&parent, name, &meta, &shown)
            }
            EntryType::Link => self.hard_link(&parent, name, entry, &raw, &shown),
            EntryType::Fifo => {
                self.replace(&parent, name, false, &shown)?;
                rustix::fs::mknodat(
                    &parent,
                    name.as_os_str(),
                    FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .map_err(|e| self.failed(&shown, "mkfifo", e))?;
                rustix::fs::chmodat(
                    &parent,
                    name.as_os_str(),
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )
                .map_err(|e| self.failed(&shown, "chmod", e))?;
                self.link_meta(&parent, name, &meta, &shown)
            }
            EntryType::Char | EntryType::Block => {
                tracing::warn!(layer = %self.layer, entry = %shown, "skipping a device node");
                self.skipped.insert(canonical(&parts));
                Ok(())
            }
            other => Err(self.unsafe_entry(&shown, format!("unsupported entry type {other:?}"))),
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta> {
        let h = entry.header();
        let bad = |what: &str, e: io::Error| self.unsafe_entry(shown, format!("{what}: {e}"));
        // Go's archive/tar reads an empty numeric field as 0; so do layers Go tools write.
        let old = h.as_old();
        let empty = |f: &[u8]| f.iter().all(|b| *b == 0 || *b == b' ');
        let number = |field: &[u8], parsed: io::Result<u64>, what: &str| {
            if empty(field) {
                Ok(0)
            } else {
                parsed.map_err(|e| bad(what, e))
            }
        };
        let mode = number(&old.mode, h.mode().map(u64::from), "mode")? as u32 & 0o7777;
        let uid = number(&old.uid, h.uid(), "uid")?;
        let gid = number(&old.gid, h.gid(), "gid")?;
        let mut mtime = number(&old.mtime, h.mtime(), "mtime")? as i64;
        let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
            (Ok(u), Ok(g)) => (u, g),
            _ => return Err(self.unsafe_entry(shown, "owner out of range")),
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
            for ext in pax {
                let ext = ext.map_err(|e| bad("pax header", e))?;
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    if fsutil::xattr_allowed(name) {
                        xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                    }
                } else if ext.key_bytes() == b"mtime" {
                    let v = String::from_utf8_lossy(ext.value_bytes());
                    if let Some(secs) = v.split('.').next().and_then(|s| s.parse::<i64>().ok()) {
                        mtime = secs;
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// Opens (creating missing ones, when asked) the directories above an entry, refusing
    /// to pass through a symlink or a non-directory.
    fn open_parent(&self, parents: &[OsString], create: bool, shown: &str) -> Result<OwnedFd> {
        let mut cur = rustix::io::dup(&self.root).map_err(|e| self.failed(shown, "dup", e))?;
        for (i, c) in parents.iter().enumerate() {
            let next = match fsutil::open_dir_at(&cur, c) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    rustix::fs::mkdirat(&cur, c.as_os_str(), Mode::from_raw_mode(0o755))
                        .map_err(|e| self.failed(shown, "mkdir", e))?;
                    fsutil::open_dir_at(&cur, c).map_err(|e| self.failed(shown, "open", e))?
                }
                Err(e) => {
                    let prefix = display(&parents[..=i]);
                    let st = fsutil::lstat_at(&cur, c).ok().flatten();
                    let is_link = st
                        .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                    return Err(if is_link {
                        self.unsafe_entry(shown, format!("writes through the symlink {prefix:?}"))
                    } else if st.is_some() {
                        self.unsafe_entry(shown, format!("{prefix:?} is not a directory"))
                    } else {
                        self.failed(shown, "open", e)
                    });
                }
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Clears the way for an entry: whatever is at `name` goes, except a directory that a
    /// directory entry only updates (tar's rule: later entries replace earlier ones).
    fn replace(&self, parent: &OwnedFd, name: &OsStr, keep_dir: bool, shown: &str) -> Result<()> {
        match fsutil::lstat_at(parent, name).map_err(|e| self.failed(shown, "stat", e))? {
            None => Ok(()),
            Some(st) if keep_dir && fsutil::is_dir(&st) => Ok(()),
            Some(_) => {
                fsutil::remove_at(parent, name).map_err(|e| self.failed(shown, "replace", e))
            }
        }
    }

    fn file<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<()> {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.failed(shown, "create", e))?;
        let mut file = std::fs::File::from(fd);
        let n = io::copy(entry, &mut file).map_err(|e| {
            Error::layer(self.layer, format!("entry {shown:?}: reading the tar: {e}"))
        })?;
        self.size += n;
        self.apply(&file, meta, shown)
    }

    fn hard_link<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        entry: &tar::Entry<'_, R>,
        raw: &[u8],
        shown: &str,
    ) -> Result<()> {
        let target = entry
            .link_name_bytes()
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let tparts = clean(&target)
            .map_err(|r| self.unsafe_entry(shown, format!("hard link target {}", r.to_owned())))?;
        let Some((tname, tparents)) = tparts.split_last() else {
            return Err(self.unsafe_entry(shown, "hard link to the layer root"));
        };
        if self.skipped.contains(&canonical(&tparts)) {
            self.skipped
                .insert(canonical(&clean(raw).unwrap_or_default()));
            return Ok(());
        }
        let tparent = self
            .open_parent(tparents, false, shown)
            .map_err(|e| match e {
                Error::UnsafeEntry { .. } => e,
                _ => self.unsafe_entry(shown, "hard link target is not in this layer"),
            })?;
        match fsutil::lstat_at(&tparent, tname).map_err(|e| self.failed(shown, "stat", e))? {
            None => {
                return Err(self.unsafe_entry(shown, "hard link target is not in this layer"));
            }
            Some(st) if fsutil::is_dir(&st) => {
                return Err(self.unsafe_entry(shown, "hard link to a directory"));
            }
            Some(_) => {}
        }
        if tparts.as_slice() == clean(raw).unwrap_or_default().as_slice() {
            return Ok(());
        }
        self.replace(parent, name, false, shown)?;
        rustix::fs::linkat(&tparent, tname.as_os_str(), parent, name, AtFlags::empty())
            .map_err(|e| self.failed(shown, "link", e))
    }

    fn whiteout(
        &mut self,
        parents: &[OsString],
        name: &OsStr,
        target: &[u8],
        shown: &str,
    ) -> Result<()> {
        let parent = self.open_parent(parents, true, shown)?;
        if name.as_bytes() == OPAQUE_MARKER {
            return match self.format {
                WhiteoutFormat::Overlay => {
                    rustix::fs::fsetxattr(&parent, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                        .map_err(|e| self.failed(shown, "marking opaque", e))
                }
                WhiteoutFormat::Marker => self.marker(&parent, name, shown),
            };
        }
        // Other `.wh..wh.` names are aufs bookkeeping (hard-link dirs), not whiteouts.
        if target.starts_with(WHITEOUT_PREFIX) {
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(self.unsafe_entry(shown, "whiteout of no name"));
        }
        match self.format {
            WhiteoutFormat::Overlay => {
                let victim = OsStr::from_bytes(target);
                self.replace(&parent, victim, false, shown)?;
                rustix::fs::mknodat(
                    &parent,
                    victim,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    Dev::default(),
                )
                .map_err(|e| self.failed(shown, "whiteout", e))
            }
            WhiteoutFormat::Marker => self.marker(&parent, name, shown),
        }
    }

    fn marker(&self, parent: &OwnedFd, name: &OsStr, shown: &str) -> Result<()> {
        self.replace(parent, name, false, shown)?;
        rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map(drop)
        .map_err(|e| self.failed(shown, "whiteout", e))
    }

    /// Owner, mode, xattrs and times of an open file or directory (owner first: chown
    /// clears set-uid bits).
    fn apply(&self, fd: impl AsFd, meta: &Meta, shown: &str) -> Result<()> {
        let fd = fd.as_fd();
        if self.chown {
            rustix::fs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|e| self.failed(shown, "chown", e))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| self.failed(shown, "chmod", e))?;
        for (k, v) in &meta.xattrs {
            rustix::fs::fsetxattr(fd, OsStr::from_bytes(k), v, XattrFlags::empty())
                .map_err(|e| self.failed(shown, "setxattr", e))?;
        }
        rustix::fs::futimens(fd, &times(meta.mtime)).map_err(|e| self.failed(shown, "set times", e))
    }

    /// Owner and times of a symlink or fifo, by name, without following it.
    fn link_meta(&self, parent: &OwnedFd, name: &OsStr, meta: &Meta, shown: &str) -> Result<()> {
        if self.chown {
            rustix::fs::chownat(
                parent,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.failed(shown, "chown", e))?;
        }
        rustix::fs::utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.failed(shown, "set times", e))
    }

    /// Directory metadata, deepest first, then the root's. A directory a later entry replaced
    /// is passed over.
    fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (parts, meta) in &dirs {
            let shown = display(parts);
            let Some((name, parents)) = parts.split_last() else {
                continue;
            };
            let Ok(parent) = self.open_parent(parents, false, &shown) else {
                continue;
            };
            let Ok(fd) = fsutil::open_dir_at(&parent, name) else {
                continue;
            };
            self.apply(&fd, meta, &shown)?;
        }
        if let Some(meta) = self.root_meta.take() {
            let root = rustix::io::dup(&self.root).map_err(|e| self.failed(".", "dup", e))?;
            self.apply(&root, &meta, ".")?;
        }
        Ok(())
    }
}

impl crate::store::Store {
    /// The whiteout form this host allows, probed once.
    pub(crate) fn whiteout_format(&self) -> Result<WhiteoutFormat> {
        if let Some(f) = self.whiteouts.get() {
            return Ok(*f);
        }
        let probe = self.tempdir()?;
        Ok(*self.whiteouts.get_or_init(|| probe_whiteouts(probe.path())))
    }

    /// Unpacks a verified layer blob into `layers/<diff id>` unless it is there already. Two
    /// unpacks of one layer may race: both stage, the first rename wins, the other is dropped.
    pub(crate) fn unpack_layer(
        &self,
        blob: &Path,
        compression: Compression,
        layer: &Digest,
        diff_id: &Digest,
    ) -> Result<()> {
        if self.has_layer(diff_id) {
            return Ok(());
        }
        let format = self.whiteout_format()?;
        let staging = self.tempdir()?;
        let staged = staging.path().join("layer");
        unpack_layer(blob, compression, layer, diff_id, &staged, format)?;
        let dest = self.layer_path(diff_id);
        match std::fs::rename(&staged, &dest) {
            Ok(()) => Ok(()),
            Err(_) if self.has_layer(diff_id) => Ok(()),
            Err(e) => Err(Error::at(&dest, "storing", e)),
        }
    }

    /// What layer.json records for a stored layer.
    pub(crate) fn layer_meta(&self, diff_id: &Digest) -> Result<LayerMeta> {
        let p = self.layer_path(diff_id).join(LAYER_META);
        let bytes = std::fs::read(&p).at(&p, "reading")?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::io(format!("reading {}", p.display()), e.into()))
    }
}

fn times(mtime: i64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn canonical(parts: &[OsString]) -> Vec<u8> {
    parts
        .iter()
        .map(|p| p.as_bytes())
        .collect::<Vec<_>>()
        .join(&b'/')
}

fn display(parts: &[OsString]) -> String {
    String::from_utf8_lossy(&canonical(parts)).into_owned()
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod security_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names() {
        let c = |s: &str| clean(s.as_bytes()).map(|v| display(&v));
        assert_eq!(c("a/b/c"), Ok("a/b/c".into()));
        assert_eq!(c("./a//b/./c/"), Ok("a/b/c".into()));
        assert_eq!(c("./"), Ok(String::new()));
        assert_eq!(c("/etc/passwd"), Err("absolute path"));
        assert_eq!(c("a/../../etc"), Err("\"..\" in path"));
        assert_eq!(c(".."), Err("\"..\" in path"));
        assert_eq!(c(""), Err("empty name"));
        assert_eq!(c("a..b/..c"), Ok("a..b/..c".into()));
    }

    #[test]
    fn symlink_escape_rule() {
        assert!(!symlink_escapes(0, b"/etc/passwd"));
        assert!(!symlink_escapes(0, b"bin/busybox"));
        assert!(symlink_escapes(0, b"../x"));
        assert!(!symlink_escapes(2, b"../../x"));
        assert!(symlink_escapes(2, b"../../../x"));
        assert!(symlink_escapes(1, b"a/../../../x"));
        assert!(!symlink_escapes(1, b"./../x"));
    }

    #[test]
    fn compression_from_media_type_and_magic() {
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(Compression::from_media_type("application/json"), None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
    }
}
