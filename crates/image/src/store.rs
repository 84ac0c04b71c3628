//! The content-addressed image store under one root directory (the agent's `DATA_DIR/images`):
//!
//! ```text
//! lock                    flock: shared while content is added or used, exclusive to delete
//! index.lock              flock around rewriting images.json
//! images.json             references → manifest digest; per image: first seen, last used
//! blobs/sha256/<hex>      manifests and configs, each verified against its digest
//! layers/sha256/<hex>/    one unpacked layer per uncompressed digest (diff id): layer.json, fs/
//! containers/<id>/        one prepared rootfs per container (see rootfs.rs)
//! tmp/<pid>-<random>/     staging; whatever a dead process left is removed on open
//! ```
//!
//! Content is written to `tmp/` and renamed into place, so a blob or layer that exists is
//! complete and verified. Deleting content (image removal, garbage collection) takes the lock
//! exclusively, so it never races a pull, import or rootfs being prepared, which hold it shared.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::reference::ImageRef;

/// How much later than the recorded last use of an image a use must be to be written
/// (`Store::mark_used`): garbage collection's ages are minutes and more.
const USE_RESOLUTION_SECS: i64 = 10;

/// The image store. Clones share the probes of what the host allows.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// What this host lets the store do (probed once, on first need).
    pub(crate) whiteouts: Arc<OnceLock<crate::unpack::WhiteoutFormat>>,
    pub(crate) overlay: Arc<OnceLock<Result<(), String>>>,
}

/// The references file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    /// Normalised reference → manifest digest.
    pub(crate) refs: BTreeMap<String, Digest>,
    /// Manifest digest → bookkeeping for garbage collection.
    pub(crate) images: BTreeMap<Digest, ImageMeta>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageMeta {
    /// When the image was first stored (kubelet's `firstDetected`).
    pub(crate) added: Timestamp,
    /// When a rootfs was last prepared from it (kubelet's `lastUsed`), or `added`.
    pub(crate) last_used: Timestamp,
}

/// A row of `kbatch image ls`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    pub reference: String,
    pub digest: Digest,
    pub size: u64,
    pub created: Option<Timestamp>,
    pub added: Timestamp,
    pub last_used: Timestamp,
}

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct Lock(#[allow(dead_code)] File);

impl Store {
    /// Opens (creating) a store and removes staging left by processes that are gone.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for dir in [
            "blobs/sha256",
            "blobs/sha512",
            "layers/sha256",
            "layers/sha512",
        ] {
            std::fs::create_dir_all(root.join(dir)).at(&root.join(dir), "creating")?;
        }
        for dir in ["containers", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).at(&root.join(dir), "creating")?;
        }
        // Unpacked layers hold set-uid files and device-free but otherwise arbitrary trees:
        // only root may enter the store.
        set_mode(&root, 0o700)?;
        // Mount points are found by path in /proc/self/mountinfo, which has no symlinks.
        let root = std::fs::canonicalize(&root).at(&root, "resolving")?;
        let store = Store {
            root,
            whiteouts: Arc::new(OnceLock::new()),
            overlay: Arc::new(OnceLock::new()),
        };
        store.clean_stale_tmp()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn clean_stale_tmp(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        for entry in std::fs::read_dir(&tmp).at(&tmp, "listing")? {
            let entry = entry.at(&tmp, "listing")?;
            let name = entry.file_name();
            let alive = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
            if !alive {
                let path = entry.path();
                remove_any(&path)?;
            }
        }
        Ok(())
    }

    /// A staging directory under `tmp/`, removed when dropped.
    pub(crate) fn tempdir(&self) -> Result<tempfile::TempDir> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempdir_in(&tmp)
            .at(&tmp, "creating a staging directory in")
    }

    pub(crate) fn lock_shared(&self) -> Result<Lock> {
        self.flock("lock", FlockOperation::LockShared)
    }

    /// The shared lock, waited for off the async runtime's threads.
    pub(crate) async fn lock_shared_async(&self) -> Result<Lock> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.lock_shared())
            .await
            .map_err(|e| Error::io("waiting for the store lock", std::io::Error::other(e)))?
    }

    pub(crate) fn lock_exclusive(&self) -> Result<Lock> {
        self.flock("lock", FlockOperation::LockExclusive)
    }

    fn flock(&self, name: &str, op: FlockOperation) -> Result<Lock> {
        let path = self.root.join(name);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path, "opening")?;
        rustix::fs::flock(&f, op).at(&path, "locking")?;
        Ok(Lock(f))
    }

    // ---- blobs ----

    pub(crate) fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    pub(crate) fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub(crate) fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        std::fs::read(&p).at(&p, "reading")
    }

    /// Moves a downloaded or staged file into the blob store if it hashes to `expected`
    /// (and has `size` bytes, when given); else deletes it and fails.
    pub(crate) fn ingest_file(
        &self,
        staged: &Path,
        expected: &Digest,
        size: Option<u64>,
        what: &str,
    ) -> Result<PathBuf> {
        verify_file(staged, expected, size, what)?;
        let dest = self.blob_path(expected);
        std::fs::rename(staged, &dest).at(&dest, "storing")?;
        Ok(dest)
    }

    /// Stores small content (a manifest, a config) held in memory.
    pub(crate) fn put_blob(&self, bytes: &[u8], expected: &Digest, what: &str) -> Result<()> {
        if self.has_blob(expected) {
            return Ok(());
        }
        let dir = self.tempdir()?;
        let staged = dir.path().join("blob");
        let mut f = File::create(&staged).at(&staged, "creating")?;
        f.write_all(bytes).at(&staged, "writing")?;
        f.sync_all().at(&staged, "syncing")?;
        self.ingest_file(&staged, expected, Some(bytes.len() as u64), what)?;
        Ok(())
    }

    // ---- layers ----

    pub(crate) fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(diff_id.algorithm().as_str())
            .join(diff_id.hex())
    }

    /// A layer directory exists only once fully unpacked (it is renamed into place).
    pub(crate) fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id)
            .join(crate::unpack::LAYER_META)
            .is_file()
    }

    // ---- images and references ----

    pub(crate) fn read_index(&self) -> Result<Index> {
        let p = self.root.join("images.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::io(format!("reading {}", p.display()), e.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(Error::at(&p, "reading", e)),
        }
    }

    /// Read-modify-write of the references file under its own lock.
    pub(crate) fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let _l = self.flock("index.lock", FlockOperation::LockExclusive)?;
        let mut index = self.read_index()?;
        let out = f(&mut index)?;
        // Images no reference names any more are forgotten; their content stays until a
        // removal or garbage collection sweeps it.
        let named: BTreeSet<&Digest> = index.refs.values().collect();
        let dangling: Vec<Digest> = index
            .images
            .keys()
            .filter(|d| !named.contains(d))
            .cloned()
            .collect();
        for d in dangling {
            index.images.remove(&d);
        }
        let p = self.root.join("images.json");
        let staged = self.root.join("images.json.tmp");
        let bytes = serde_json::to_vec_pretty(&index)
            .map_err(|e| Error::io("encoding images.json", e.into()))?;
        let mut file = File::create(&staged).at(&staged, "creating")?;
        file.write_all(&bytes).at(&staged, "writing")?;
        file.sync_all().at(&staged, "syncing")?;
        std::fs::rename(&staged, &p).at(&p, "replacing")?;
        Ok(out)
    }

    /// Records that `refs` name the stored image `manifest`.
    pub(crate) fn tag(&self, refs: &[ImageRef], manifest: &Digest, now: Timestamp) -> Result<()> {
        self.update_index(|index| {
            for r in refs {
                index.refs.insert(r.to_string(), manifest.clone());
            }
            index.images.entry(manifest.clone()).or_insert(ImageMeta {
                added: now,
                last_used: now,
            });
            Ok(())
        })
    }

    /// Loads a stored image by its manifest digest; None unless the manifest, the config and
    /// every layer are present.
    pub fn image_by_digest(&self, manifest: &Digest) -> Result<Option<Image>> {
        Ok(self
            .image_parts(manifest)?
            .filter(|image| image.diff_ids.iter().all(|d| self.has_layer(d))))
    }

    /// The image a reference names, if it is fully present.
    pub fn image(&self, reference: &ImageRef) -> Result<Option<Image>> {
        match self.read_index()?.refs.get(&reference.to_string()) {
            Some(d) => self.image_by_digest(d),
            None => Ok(None),
        }
    }

    /// Every reference with its image, sorted by reference.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let index = self.read_index()?;
        let mut out = Vec::new();
        for (reference, digest) in &index.refs {
            let Some(image) = self.image_by_digest(digest)? else {
                continue;
            };
            // `tag` records both with every reference; the epoch marks a hand-edited index.
            let meta = index.images.get(digest).copied().unwrap_or(ImageMeta {
                added: Timestamp::UNIX_EPOCH,
                last_used: Timestamp::UNIX_EPOCH,
            });
            out.push(ImageSummary {
                reference: reference.clone(),
                digest: digest.clone(),
                size: image.size(),
                created: image.created(),
                added: meta.added,
                last_used: meta.last_used,
            });
        }
        Ok(out)
    }

    /// Records a use of the image (a rootfs prepared from it) for garbage collection, to
    /// within [`USE_RESOLUTION_SECS`]: each write of the index is a synced rewrite on the
    /// path of a container's start, and a use this close to the recorded one changes
    /// nothing garbage collection decides.
    pub(crate) fn mark_used(&self, manifest: &Digest, now: Timestamp) -> Result<()> {
        let recent = self.read_index()?.images.get(manifest).is_some_and(|m| {
            now.duration_since(m.last_used) < jiff::SignedDuration::from_secs(USE_RESOLUTION_SECS)
                && now >= m.last_used
        });
        if recent {
            return Ok(());
        }
        self.update_index(|index| {
            if let Some(m) = index.images.get_mut(manifest) {
                m.last_used = m.last_used.max(now);
            }
            Ok(())
        })
    }

    /// Removes an image by reference (that reference only; the image goes with its last one)
    /// or by digest (`sha256:…`, or a prefix of at least 12 hex digits of the manifest digest:
    /// every reference). Refuses when `in_use` (the images pods use, as written in their
    /// specs) names it, or a prepared rootfs uses the image. Returns the references removed.
    pub fn remove(&self, name: &str, in_use: &[String]) -> Result<Vec<String>> {
        let _l = self.lock_exclusive()?;
        let index = self.read_index()?;
        let (manifest, refs) = self.find(&index, name)?;
        let in_use: BTreeSet<String> = in_use
            .iter()
            .filter_map(|i| ImageRef::parse(i).ok())
            .map(|r| r.to_string())
            .collect();
        let remaining: Vec<&String> = index
            .refs
            .iter()
            .filter(|(r, d)| **d == manifest && !refs.contains(r))
            .map(|(r, _)| r)
            .collect();
        let mut users: Vec<String> = refs
            .iter()
            .filter(|r| in_use.contains(*r))
            .cloned()
            .collect();
        if remaining.is_empty() {
            users.extend(
                index
                    .refs
                    .iter()
                    .filter(|(r, d)| **d == manifest && in_use.contains(*r) && !refs.contains(r))
                    .map(|(r, _)| r.clone()),
            );
            users.extend(
                crate::rootfs::records(self)?
                    .into_iter()
                    .filter(|(_, rec)| rec.manifest == manifest)
                    .map(|(id, _)| format!("container {id}")),
            );
        }
        if !users.is_empty() {
            users.sort();
            users.dedup();
            return Err(Error::InUse {
                image: name.to_owned(),
                users: users.join(", "),
            });
        }
        self.update_index(|index| {
            for r in &refs {
                index.refs.remove(r);
            }
            Ok(())
        })?;
        // Every writer of the index holds the shared lock, so this read is current.
        self.sweep_locked(&self.read_index()?)?;
        Ok(refs)
    }

    /// The manifest digest and the references `name` selects.
    fn find(&self, index: &Index, name: &str) -> Result<(Digest, Vec<String>)> {
        let not_present = || Error::NotPresent(name.to_owned());
        let hex = name
            .strip_prefix("sha256:")
            .or_else(|| name.strip_prefix("sha512:"))
            .unwrap_or(name);
        let by_digest = hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if by_digest {
            let matches: BTreeSet<&Digest> = index
                .refs
                .values()
                .filter(|d| d.hex().starts_with(hex))
                .collect();
            let mut it = matches.into_iter();
            if let (Some(d), None) = (it.next(), it.next()) {
                let refs = index
                    .refs
                    .iter()
                    .filter(|(_, v)| *v == d)
                    .map(|(r, _)| r.clone())
                    .collect();
                return Ok((d.clone(), refs));
            }
            if name.contains(':') {
                return Err(not_present());
            }
        }
        let r = ImageRef::parse(name)?.to_string();
        let d = index.refs.get(&r).ok_or_else(not_present)?;
        Ok((d.clone(), vec![r]))
    }

    /// Deletes blobs and layers that neither a named image nor a prepared rootfs uses. The
    /// caller holds the exclusive lock. Returns the bytes freed.
    pub(crate) fn sweep_locked(&self, index: &Index) -> Result<u64> {
        let mut blobs: BTreeSet<Digest> = BTreeSet::new();
        let mut layers: BTreeSet<Digest> = BTreeSet::new();
        for manifest in index.refs.values() {
            blobs.insert(manifest.clone());
            if let Ok(Some(image)) = self.image_parts(manifest) {
                blobs.insert(image.config_digest.clone());
                layers.extend(image.diff_ids.iter().cloned());
            }
        }
        for (_, rec) in crate::rootfs::records(self)? {
            layers.extend(rec.diff_ids);
        }
        let mut freed = 0;
        for (kind, live) in [("blobs", &blobs), ("layers", &layers)] {
            for alg in ["sha256", "sha512"] {
                let dir = self.root.join(kind).join(alg);
                for entry in std::fs::read_dir(&dir).at(&dir, "listing")? {
                    let entry = entry.at(&dir, "listing")?;
                    let keep = entry
                        .file_name()
                        .to_str()
                        .and_then(|hex| format!("{alg}:{hex}").parse::<Digest>().ok())
                        .is_some_and(|d| live.contains(&d));
                    if !keep {
                        let path = entry.path();
                        freed += disk_usage(&path);
                        remove_any(&path)?;
                    }
                }
            }
        }
        Ok(freed)
    }

    /// The manifest and config of an image, whether or not its layers are all present.
    fn image_parts(&self, manifest: &Digest) -> Result<Option<Image>> {
        if !self.has_blob(manifest) {
            return Ok(None);
        }
        let m = self.read_blob(manifest)?;
        let config_digest = crate::image::config_descriptor(manifest, &m)?.digest;
        if !self.has_blob(&config_digest) {
            return Ok(None);
        }
        let c = self.read_blob(&config_digest)?;
        Image::parse(manifest.clone(), &m, &c).map(Some)
    }
}

/// Checks that a file of ours hashes to `expected` (and has `size` bytes, when given); a
/// file that does not is deleted.
pub(crate) fn verify_file(
    path: &Path,
    expected: &Digest,
    size: Option<u64>,
    what: &str,
) -> Result<()> {
    check_file(path, expected, size, what).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// Checks that a file (perhaps someone else's) hashes to `expected` and has `size` bytes.
pub(crate) fn check_file(
    path: &Path,
    expected: &Digest,
    size: Option<u64>,
    what: &str,
) -> Result<()> {
    let f = File::open(path).at(path, "opening")?;
    let (actual, n) = HashingReader::new(f, expected.algorithm())
        .finish()
        .at(path, "reading")?;
    if actual != *expected || size.is_some_and(|s| s != n) {
        return Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: match size {
                Some(s) => format!("{expected} ({s} bytes)"),
                None => expected.to_string(),
            },
            actual: format!("{actual} ({n} bytes)"),
        });
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).at(path, "chmod")
}

/// Removes a file or a whole tree, never following symlinks (std's `remove_dir_all` does not).
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::at(path, "inspecting", e)),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(path).at(path, "removing")
    } else {
        std::fs::remove_file(path).at(path, "removing")
    }
}

/// Bytes a file or tree takes on disk (allocated blocks), not following symlinks.
pub(crate) fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return own;
    };
    own + entries
        .filter_map(|e| e.ok())
        .map(|e| disk_usage(&e.path()))
        .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_the_layout_and_cleans_dead_staging() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        let store = Store::open(&root).unwrap();
        // A pid that cannot exist and a name with no pid are both stale; ours is not.
        std::fs::create_dir_all(root.join("tmp/2147483647-x/deep")).unwrap();
        std::fs::write(root.join("tmp/junk"), "x").unwrap();
        let mine = store.tempdir().unwrap();
        drop(store);
        let _store = Store::open(&root).unwrap();
        let left: Vec<_> = std::fs::read_dir(root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, vec![mine.path().to_path_buf()]);
        for d in ["blobs/sha256", "layers/sha256", "containers"] {
            assert!(root.join(d).is_dir(), "{d}");
        }
    }

    #[test]
    fn ingest_verifies_digest_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let staging = store.tempdir().unwrap();
        let f = staging.path().join("x");
        std::fs::write(&f, b"hello").unwrap();
        let wrong = Digest::sha256(b"other");
        let e = store.ingest_file(&f, &wrong, None, "blob x").unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(!f.exists(), "the bad download is deleted");
        assert!(!store.has_blob(&wrong));

        std::fs::write(&f, b"hello").unwrap();
        let right = Digest::sha256(b"hello");
        let e = store
            .ingest_file(&f, &right, Some(4), "blob x")
            .unwrap_err();
        assert!(e.to_string().contains("(4 bytes)"), "{e}");

        std::fs::write(&f, b"hello").unwrap();
        store.ingest_file(&f, &right, Some(5), "blob x").unwrap();
        assert_eq!(store.read_blob(&right).unwrap(), b"hello");
        store.put_blob(b"hello", &right, "again").unwrap();
        assert!(store.put_blob(b"bye", &wrong, "bye").is_err());
    }

    #[test]
    fn index_forgets_images_without_references() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let a = Digest::sha256(b"a");
        let b = Digest::sha256(b"b");
        let r = ImageRef::parse("app:v1").unwrap();
        store.tag(std::slice::from_ref(&r), &a, now).unwrap();
        store.tag(std::slice::from_ref(&r), &b, now).unwrap();
        let index = store.read_index().unwrap();
        assert_eq!(index.refs.get("docker.io/library/app:v1"), Some(&b));
        assert!(!index.images.contains_key(&a));
        assert!(index.images.contains_key(&b));
    }

    #[test]
    fn remove_of_an_unknown_name_is_not_present() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            store.remove("nothing:here", &[]),
            Err(Error::NotPresent(_))
        ));
        assert!(matches!(
            store.remove("Bad Name", &[]),
            Err(Error::InvalidReference { .. })
        ));
    }
}
