//! A container's root filesystem, prepared from an image's layers under
//! `containers/<id>/`: an overlayfs mount (`merged/`) with the shared layer directories as
//! read-only lowerdirs and the container's own `upper/` and `work/`, or — where overlayfs
//! cannot be mounted (no privileges, an unsupported upper filesystem) or a layer keeps OCI
//! whiteout files — a private copy of the merged layers (merge.rs).
//!
//! `rootfs.json` is written before anything else, so garbage collection keeps the layers of
//! a half-prepared rootfs, and `release_rootfs` (or the agent's clean-up at start, over
//! `rootfs_ids`) can always undo one.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::store::{Store, remove_any};
use crate::unpack::{LAYER_FS, WhiteoutFormat};

const RECORD: &str = "rootfs.json";

/// How a rootfs was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootfsMode {
    Overlay,
    Copy,
}

/// A prepared root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub id: String,
    /// The directory to use as the container's root.
    pub path: PathBuf,
    pub mode: RootfsMode,
    /// The image (manifest digest) it was made from.
    pub manifest: Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RootfsRecord {
    pub(crate) manifest: Digest,
    pub(crate) diff_ids: Vec<Digest>,
    pub(crate) mode: RootfsMode,
}

/// A container id names a directory: one path component of safe characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Every rootfs record in the store.
pub(crate) fn records(store: &Store) -> Result<Vec<(String, RootfsRecord)>> {
    let mut out = Vec::new();
    for id in store.rootfs_ids()? {
        let p = store.root().join("containers").join(&id).join(RECORD);
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if let Ok(rec) = serde_json::from_slice(&bytes) {
            out.push((id, rec));
        }
    }
    Ok(out)
}

impl Store {
    fn container_dir(&self, id: &str) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(Error::rootfs(id, "not a valid container id"));
        }
        Ok(self.root().join("containers").join(id))
    }

    /// The ids of every prepared (or half-prepared) rootfs.
    pub fn rootfs_ids(&self) -> Result<Vec<String>> {
        let dir = self.root().join("containers");
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&dir).at(&dir, "listing")? {
            let entry = entry.at(&dir, "listing")?;
            if let Some(id) = entry.file_name().to_str().filter(|id| valid_id(id)) {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The prepared rootfs `id`, if there is one.
    pub fn rootfs(&self, id: &str) -> Result<Option<Rootfs>> {
        let dir = self.container_dir(id)?;
        let p = dir.join(RECORD);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::at(&p, "reading", e)),
        };
        let rec: RootfsRecord = serde_json::from_slice(&bytes)
            .map_err(|e| Error::rootfs(id, format!("{RECORD}: {e}")))?;
        let path = dir.join("merged");
        let ready = match rec.mode {
            RootfsMode::Overlay => is_mount_point(&path)?,
            RootfsMode::Copy => path.is_dir(),
        };
        Ok(ready.then(|| Rootfs {
            id: id.to_owned(),
            path,
            mode: rec.mode,
            manifest: rec.manifest,
        }))
    }

    /// Whether overlayfs can be mounted over this store (probed once): Err says why not.
    pub fn overlay_support(&self) -> Result<Result<(), String>> {
        if let Some(r) = self.overlay.get() {
            return Ok(r.clone());
        }
        let probe = self.tempdir()?;
        Ok(self
            .overlay
            .get_or_init(|| probe_overlay(probe.path()))
            .clone())
    }

    /// Prepares the root filesystem of container `id` from `image` (whose layers must all be
    /// present). Preparing an id again for the same image returns the existing rootfs
    /// (mounting it again if a restart lost the mount); for another image it is an error.
    pub fn prepare_rootfs(&self, id: &str, image: &Image, now: Timestamp) -> Result<Rootfs> {
        let dir = self.container_dir(id)?;
        let _lock = self.lock_shared()?;
        for d in &image.diff_ids {
            if !self.has_layer(d) {
                return Err(Error::NotPresent(format!(
                    "layer {d} of {}",
                    image.manifest_digest
                )));
            }
        }
        if let Some(existing) = self.existing(id, &dir, image)? {
            self.mark_used(&image.manifest_digest, now)?;
            return Ok(existing);
        }
        let overlay_ok = self.overlay_support()?.is_ok()
            && image.diff_ids.iter().all(|d| {
                self.layer_meta(d)
                    .is_ok_and(|m| m.whiteouts == WhiteoutFormat::Overlay)
            });
        let mode = if overlay_ok {
            RootfsMode::Overlay
        } else {
            RootfsMode::Copy
        };
        std::fs::create_dir(&dir).at(&dir, "creating")?;
        write_record(
            &dir,
            &RootfsRecord {
                manifest: image.manifest_digest.clone(),
                diff_ids: image.diff_ids.clone(),
                mode,
            },
        )?;
        let layers: Vec<PathBuf> = image
            .diff_ids
            .iter()
            .map(|d| self.layer_path(d).join(LAYER_FS))
            .collect();
        let merged = dir.join("merged");
        let made = match mode {
            RootfsMode::Overlay => mount_overlay(&layers, &dir),
            RootfsMode::Copy => copy_layers(&layers, &dir),
        };
        if let Err(e) = made {
            let _ = self.release_rootfs(id);
            return Err(Error::rootfs(id, e));
        }
        self.mark_used(&image.manifest_digest, now)?;
        Ok(Rootfs {
            id: id.to_owned(),
            path: merged,
            mode,
            manifest: image.manifest_digest.clone(),
        })
    }

    fn existing(&self, id: &str, dir: &Path, image: &Image) -> Result<Option<Rootfs>> {
        if !dir.join(RECORD).exists() {
            if dir.exists() {
                // A crash between mkdir and the record: nothing in it is worth keeping.
                remove_any(dir)?;
            }
            return Ok(None);
        }
        let bytes = std::fs::read(dir.join(RECORD)).at(&dir.join(RECORD), "reading")?;
        let Ok(rec) = serde_json::from_slice::<RootfsRecord>(&bytes) else {
            // A record cut short (it is not synced: `write_record`) by a power loss, which
            // also ended the mount: nothing in the directory is worth keeping.
            self.release_rootfs(id)?;
            return Ok(None);
        };
        if rec.manifest != image.manifest_digest {
            return Err(Error::rootfs(
                id,
                format!("already prepared from image {}", rec.manifest),
            ));
        }
        if let Some(r) = self.rootfs(id)? {
            return Ok(Some(r));
        }
        // Prepared once but not ready (the mount is gone after a reboot, or a copy was cut
        // short): start again.
        self.release_rootfs(id)?;
        Ok(None)
    }

    /// Unmounts and deletes container `id`'s rootfs; nothing there is fine. Refuses to
    /// delete while anything is still mounted below it.
    pub fn release_rootfs(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id)?;
        if !dir.exists() {
            return Ok(());
        }
        let mut mounts = mounts_under(&dir)?;
        // Deepest first: a bind mount inside the rootfs before the rootfs itself.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in &mounts {
            match rustix::mount::unmount(m, UnmountFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
                Err(rustix::io::Errno::BUSY) => {
                    rustix::mount::unmount(m, UnmountFlags::DETACH).at(m, "detaching")?
                }
                Err(e) => return Err(Error::at(m, "unmounting", e.into())),
            }
        }
        let left = mounts_under(&dir)?;
        if !left.is_empty() {
            return Err(Error::rootfs(
                id,
                format!("still mounted: {}", left[0].display()),
            ));
        }
        remove_any(&dir)
    }
}

/// Not synced: the record describes a mount, which a power loss ends with every container
/// on the node, and what such a loss leaves (a directory with no record, or a torn one) the
/// runtime's clean-up at start removes by its directory, record or not. Its readers see it
/// once written; a sync would cost every container start an fsync (0.3 ms measured).
fn write_record(dir: &Path, rec: &RootfsRecord) -> Result<()> {
    let p = dir.join(RECORD);
    let bytes = serde_json::to_vec(rec).map_err(|e| Error::io("encoding rootfs.json", e.into()))?;
    let mut f = std::fs::File::create(&p).at(&p, "creating")?;
    f.write_all(&bytes).at(&p, "writing")
}

fn copy_layers(layers: &[PathBuf], dir: &Path) -> Result<()> {
    // Copy into a staging name so that `merged/` exists only once complete.
    let staging = dir.join("merging");
    let refs: Vec<&Path> = layers.iter().map(PathBuf::as_path).collect();
    crate::merge::merge(&refs, &staging)?;
    let merged = dir.join("merged");
    std::fs::rename(&staging, &merged).at(&merged, "renaming")
}

fn mount_overlay(layers: &[PathBuf], dir: &Path) -> Result<()> {
    for sub in ["upper", "work", "merged"] {
        std::fs::create_dir(dir.join(sub)).at(&dir.join(sub), "creating")?;
    }
    let merged = dir.join("merged");
    if layers.is_empty() {
        // overlayfs needs a lowerdir; an image without layers gets an empty one.
        std::fs::create_dir(dir.join("empty")).at(&dir.join("empty"), "creating")?;
        return overlay(
            &[dir.join("empty")],
            &dir.join("upper"),
            &dir.join("work"),
            &merged,
        );
    }
    overlay(layers, &dir.join("upper"), &dir.join("work"), &merged)
}

/// Mounts overlayfs: `lowers` bottom first (overlayfs wants the top first).
fn overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let top_first: Vec<&PathBuf> = lowers.iter().rev().collect();
    match overlay_fsconfig(&top_first, upper, work, target) {
        Ok(()) => Ok(()),
        Err(new_api) => overlay_legacy(&top_first, upper, work, target).map_err(|legacy| {
            Error::io(
                format!(
                    "mounting overlayfs on {} (fsconfig: {new_api})",
                    target.display()
                ),
                legacy,
            )
        }),
    }
}

/// The new mount API with one `lowerdir+` per layer (Linux 6.8+): no length limit on the
/// layer list and no escaping of `:` or `,` in paths.
fn overlay_fsconfig(
    lowers: &[&PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::io::Result<()> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs, "source", "overlay")?;
    for l in lowers {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l.as_os_str())?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper.as_os_str())?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work.as_os_str())?;
    // As Docker's overlay2: the inode index (hard links across copy-up, NFS export) is not
    // needed, and it binds layers to the upper directories they were first used with.
    let _ = rustix::mount::fsconfig_set_string(&fs, "index", "off");
    rustix::mount::fsconfig_create(&fs)?;
    let mnt = rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NODEV,
    )?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// mount(2) with the options in one string, for kernels before `lowerdir+`.
fn overlay_legacy(
    lowers: &[&PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::io::Result<()> {
    let text = |p: &Path| -> std::io::Result<String> {
        let s = p
            .to_str()
            .ok_or_else(|| std::io::Error::other("path is not UTF-8"))?;
        if s.contains([',', ':']) {
            return Err(std::io::Error::other(format!("{s}: ',' or ':' in a path")));
        }
        Ok(s.to_owned())
    };
    let lower = lowers
        .iter()
        .map(|p| text(p))
        .collect::<std::io::Result<Vec<_>>>()?
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={},index=off",
        text(upper)?,
        text(work)?
    );
    if data.len() >= 4096 {
        return Err(std::io::Error::other(
            "too many layers for one page of mount options",
        ));
    }
    let data = std::ffi::CString::new(data).map_err(std::io::Error::other)?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::NODEV,
        Some(data.as_c_str()),
    )?;
    Ok(())
}

/// Mounts a tiny overlay in `dir` and reads through it.
fn probe_overlay(dir: &Path) -> Result<(), String> {
    let attempt = || -> std::io::Result<()> {
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir(dir.join(sub))?;
        }
        std::fs::write(dir.join("lower/probe"), "ok")?;
        overlay(
            &[dir.join("lower")],
            &dir.join("upper"),
            &dir.join("work"),
            &dir.join("merged"),
        )
        .map_err(std::io::Error::other)?;
        let read = std::fs::read_to_string(dir.join("merged/probe"));
        rustix::mount::unmount(dir.join("merged"), UnmountFlags::DETACH)?;
        if read? != "ok" {
            return Err(std::io::Error::other("the probe file did not read back"));
        }
        Ok(())
    };
    attempt().map_err(|e| {
        tracing::info!("overlayfs is not available here ({e}); container rootfs will be copies");
        e.to_string()
    })
}

/// Mount points at or below `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).at(info, "reading")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect())
}

fn is_mount_point(path: &Path) -> Result<bool> {
    Ok(mounts_under(path)?.iter().any(|m| m == path))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::reference::ImageRef;
    use crate::testutil::{E, layer, oci_layout};
    use crate::unpack::Compression;

    fn now() -> Timestamp {
        "2024-06-01T00:00:00Z".parse().unwrap()
    }

    /// A store holding `app:v1`: two layers with a whiteout and an opaque directory.
    fn store_with_image(t: &Path) -> (Store, Image) {
        let store = Store::open(t.join("store")).unwrap();
        let layers = vec![
            layer(&[
                E::Dir("bin"),
                E::File("bin/a", "1"),
                E::File("etc/gone", "x"),
                E::File("opq/old", "o"),
                E::Link("bin/sh", "/bin/a"),
            ]),
            layer(&[
                E::File("bin/a", "2"),
                E::File("etc/.wh.gone", ""),
                E::File("opq/.wh..wh..opq", ""),
                E::File("opq/new", "n"),
            ]),
        ];
        oci_layout(
            &t.join("layout"),
            &layers,
            Compression::Gzip,
            Some("app:v1"),
        );
        crate::import::import(&store, &t.join("layout"), None, &Platform::host(), now()).unwrap();
        let image = store
            .image(&ImageRef::parse("app:v1").unwrap())
            .unwrap()
            .unwrap();
        (store, image)
    }

    fn check_tree(root: &Path) {
        assert_eq!(std::fs::read_to_string(root.join("bin/a")).unwrap(), "2");
        assert!(std::fs::symlink_metadata(root.join("etc/gone")).is_err());
        assert!(!root.join("etc/.wh.gone").exists());
        assert!(!root.join("opq/old").exists());
        assert_eq!(std::fs::read_to_string(root.join("opq/new")).unwrap(), "n");
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/a")
        );
    }

    #[test]
    fn copied_rootfs_honours_whiteouts_and_is_private() {
        let t = tempfile::tempdir().unwrap();
        let (store, image) = store_with_image(t.path());
        store
            .overlay
            .set(Err("disabled by the test".into()))
            .unwrap();
        let r = store.prepare_rootfs("c1", &image, now()).unwrap();
        assert_eq!(r.mode, RootfsMode::Copy);
        check_tree(&r.path);
        std::fs::write(r.path.join("bin/a"), "changed").unwrap();
        let fresh = store.prepare_rootfs("c2", &image, now()).unwrap();
        assert_eq!(
            std::fs::read_to_string(fresh.path.join("bin/a")).unwrap(),
            "2"
        );
        // Preparing again is idempotent; another image on the same id is refused.
        assert_eq!(store.prepare_rootfs("c1", &image, now()).unwrap(), r);
        let mut other = image.clone();
        other.manifest_digest = Digest::sha256(b"other");
        assert!(store.prepare_rootfs("c1", &other, now()).is_err());
        assert_eq!(store.rootfs_ids().unwrap(), ["c1", "c2"]);
        store.release_rootfs("c1").unwrap();
        store.release_rootfs("c1").unwrap();
        assert!(store.rootfs("c1").unwrap().is_none());
        assert_eq!(store.rootfs_ids().unwrap(), ["c2"]);
        assert!(store.prepare_rootfs("../x", &image, now()).is_err());
    }

    #[test]
    fn a_record_cut_short_is_prepared_again() {
        let t = tempfile::tempdir().unwrap();
        let (store, image) = store_with_image(t.path());
        store
            .overlay
            .set(Err("disabled by the test".into()))
            .unwrap();
        let r = store.prepare_rootfs("c1", &image, now()).unwrap();
        std::fs::write(r.path.join("bin/a"), "changed").unwrap();
        let record = store.root().join("containers/c1").join(RECORD);
        assert!(record.exists(), "{}", record.display());
        std::fs::write(&record, b"").unwrap();
        let again = store.prepare_rootfs("c1", &image, now()).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path.join("bin/a")).unwrap(),
            "2"
        );
        assert!(std::fs::read(&record).unwrap().starts_with(b"{"));
    }

    #[test]
    fn marker_layers_are_always_copied() {
        let t = tempfile::tempdir().unwrap();
        let (store, image) = {
            let s = Store::open(t.path().join("store")).unwrap();
            s.whiteouts.set(WhiteoutFormat::Marker).unwrap();
            let layers = vec![
                layer(&[E::File("a", "1"), E::File("gone", "x")]),
                layer(&[E::File(".wh.gone", "")]),
            ];
            oci_layout(
                &t.path().join("layout"),
                &layers,
                Compression::None,
                Some("m:1"),
            );
            crate::import::import(&s, &t.path().join("layout"), None, &Platform::host(), now())
                .unwrap();
            let image = s.image(&ImageRef::parse("m:1").unwrap()).unwrap().unwrap();
            (s, image)
        };
        let r = store.prepare_rootfs("c", &image, now()).unwrap();
        assert_eq!(r.mode, RootfsMode::Copy);
        assert!(!r.path.join("gone").exists());
        assert!(!r.path.join(".wh.gone").exists());
        store.release_rootfs("c").unwrap();
    }

    #[test]
    fn overlay_rootfs_when_the_host_allows() {
        let t = tempfile::tempdir().unwrap();
        let (store, image) = store_with_image(t.path());
        if let Err(why) = store.overlay_support().unwrap() {
            eprintln!("skipped: overlayfs cannot be mounted here: {why}");
            return;
        }
        let r = store.prepare_rootfs("c1", &image, now()).unwrap();
        assert_eq!(r.mode, RootfsMode::Overlay);
        check_tree(&r.path);
        std::fs::write(r.path.join("bin/a"), "changed").unwrap();
        std::fs::remove_file(r.path.join("opq/new")).unwrap();
        let dir = store.root().join("containers/c1");
        assert_eq!(
            std::fs::read_to_string(dir.join("upper/bin/a")).unwrap(),
            "changed"
        );
        let layer = store.layer_path(&image.diff_ids[1]).join(LAYER_FS);
        assert_eq!(std::fs::read_to_string(layer.join("bin/a")).unwrap(), "2");
        assert!(
            layer.join("opq/new").exists(),
            "the shared layer is untouched"
        );
        let second = store.prepare_rootfs("c2", &image, now()).unwrap();
        assert_eq!(
            std::fs::read_to_string(second.path.join("bin/a")).unwrap(),
            "2"
        );
        // A restart loses the mount: preparing again mounts it again.
        rustix::mount::unmount(&second.path, UnmountFlags::empty()).unwrap();
        assert!(store.rootfs("c2").unwrap().is_none());
        let again = store.prepare_rootfs("c2", &image, now()).unwrap();
        assert!(is_mount_point(&again.path).unwrap());
        for id in ["c1", "c2"] {
            store.release_rootfs(id).unwrap();
        }
        assert!(
            mounts_under(&store.root().join("containers"))
                .unwrap()
                .is_empty()
        );
        assert!(store.rootfs_ids().unwrap().is_empty());
    }

    #[test]
    fn images_with_a_rootfs_are_not_removed() {
        let t = tempfile::tempdir().unwrap();
        let (store, image) = store_with_image(t.path());
        store
            .overlay
            .set(Err("disabled by the test".into()))
            .unwrap();
        store.prepare_rootfs("c1", &image, now()).unwrap();
        let e = store.remove("app:v1", &[]).unwrap_err();
        assert_eq!(e.to_string(), "image \"app:v1\" is in use by container c1");
        let e = store.remove("app:v1", &["app:v1".into()]).unwrap_err();
        assert!(e.to_string().contains("docker.io/library/app:v1"), "{e}");
        store.release_rootfs("c1").unwrap();
        assert_eq!(
            store.remove(image.manifest_digest.short(), &[]).unwrap(),
            ["docker.io/library/app:v1"]
        );
        assert!(store.list().unwrap().is_empty());
        for d in &image.diff_ids {
            assert!(!store.layer_path(d).exists(), "layer {d} swept");
        }
        assert!(!store.has_blob(&image.manifest_digest));
        assert!(!store.has_blob(&image.config_digest));
    }

    #[test]
    fn container_ids_are_single_safe_components() {
        assert!(valid_id("pod-uid_ctr.0"));
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(201)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\04"), r"/end\04");
    }
}
