//! Importing images without a registry (`kbatch image import PATH`): an OCI image layout
//! directory (layout.rs), or a tar archive — `docker save`'s, with its manifest.json
//! (archive.rs), or an OCI layout packed as a tar (`podman save --format oci-archive`). A
//! gzip- or zstd-compressed archive is read too. Every blob is verified as a pull verifies
//! it, and layers are unpacked by the same safe unpacker.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::clean;
use crate::image::Image;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::store::{Store, check_file};
use crate::unpack::Compression;

/// One image an import stored.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// The references now naming it.
    pub references: Vec<String>,
    /// Its manifest digest.
    pub digest: Digest,
}

/// Files of an archive or layout, by their path inside it.
pub(crate) trait Source {
    /// The file at `rel` on disk, if the source has it.
    fn file(&self, rel: &str) -> Option<PathBuf>;

    fn read(&self, rel: &str, origin: &Path) -> Result<Vec<u8>> {
        let p = self
            .file(rel)
            .ok_or_else(|| Error::import(origin, format!("{rel} is missing")))?;
        std::fs::read(&p).at(&p, "reading")
    }
}

/// A layout directory.
struct Dir(PathBuf);

impl Source for Dir {
    fn file(&self, rel: &str) -> Option<PathBuf> {
        let parts = clean(rel.as_bytes()).ok()?;
        let p = parts.iter().fold(self.0.clone(), |p, c| p.join(c));
        p.is_file().then_some(p)
    }
}

/// Imports every image in `path` (a layout directory or an archive file). `name` names images
/// the source leaves unnamed (or names by tag only); index entries resolve to `platform`.
pub fn import(
    store: &Store,
    path: &Path,
    name: Option<&ImageRef>,
    platform: &Platform,
    now: Timestamp,
) -> Result<Vec<Imported>> {
    let _lock = store.lock_shared()?;
    let meta = std::fs::metadata(path).at(path, "reading")?;
    if meta.is_dir() {
        return crate::layout::import(store, &Dir(path.to_owned()), path, name, platform, now);
    }
    let staged = crate::archive::stage(store, path)?;
    if staged.file("manifest.json").is_some() {
        crate::archive::import_docker(store, &staged, path, name, now)
    } else if staged.file("index.json").is_some() {
        crate::layout::import(store, &staged, path, name, platform, now)
    } else {
        Err(Error::import(
            path,
            "neither a docker save archive (no manifest.json) nor an OCI layout (no index.json)",
        ))
    }
}

/// A layer of an image being imported: where it is, what it claims to be.
pub(crate) struct LayerFile {
    pub(crate) path: PathBuf,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) compression: Compression,
}

/// Stores one image whose parts are at hand: the manifest (its digest already checked), the
/// config, the layers — each verified — and names it.
pub(crate) fn store_image(
    store: &Store,
    manifest_digest: &Digest,
    manifest: &[u8],
    config: &[u8],
    layers: &[LayerFile],
    refs: &[ImageRef],
    now: Timestamp,
) -> Result<Imported> {
    let image = Image::parse(manifest_digest.clone(), manifest, config)?;
    store.put_blob(
        config,
        &image.config_digest,
        &format!("config {}", image.config_digest),
    )?;
    if layers.len() != image.diff_ids.len() {
        return Err(Error::manifest(
            format!("image {manifest_digest}"),
            "the layers found do not match the manifest",
        ));
    }
    for (layer, diff_id) in layers.iter().zip(&image.diff_ids) {
        if store.has_layer(diff_id) {
            continue;
        }
        check_file(
            &layer.path,
            &layer.digest,
            Some(layer.size),
            &format!("layer {}", layer.digest),
        )?;
        store.unpack_layer(&layer.path, layer.compression, &layer.digest, diff_id)?;
    }
    store.put_blob(
        manifest,
        manifest_digest,
        &format!("manifest {manifest_digest}"),
    )?;
    store.tag(refs, manifest_digest, now)?;
    Ok(Imported {
        references: refs.iter().map(ToString::to_string).collect(),
        digest: manifest_digest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{E, compress, docker_archive, layer, oci_layout};

    fn now() -> Timestamp {
        "2024-06-01T00:00:00Z".parse().unwrap()
    }

    fn layers() -> Vec<Vec<u8>> {
        vec![
            layer(&[
                E::Dir("bin"),
                E::File("bin/a", "1"),
                E::File("etc/gone", "x"),
            ]),
            layer(&[E::File("bin/a", "2"), E::File("etc/.wh.gone", "")]),
        ]
    }

    #[test]
    fn imports_an_oci_layout_in_each_compression() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let t = tempfile::tempdir().unwrap();
            let store = Store::open(t.path().join("store")).unwrap();
            let dir = t.path().join("layout");
            let md = oci_layout(&dir, &layers(), c, Some("localhost:5000/app:v1"));
            let out = import(&store, &dir, None, &Platform::host(), now()).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].references, ["localhost:5000/app:v1"]);
            assert_eq!(out[0].digest, md);
            let r = ImageRef::parse("localhost:5000/app:v1").unwrap();
            let image = store.image(&r).unwrap().expect("stored");
            assert_eq!(image.manifest_digest, md);
            assert_eq!(image.cmd(), ["sh"]);
            assert!(image.diff_ids.iter().all(|d| store.has_layer(d)));
            let ls = store.list().unwrap();
            assert_eq!(ls.len(), 1);
            assert_eq!(ls[0].reference, "localhost:5000/app:v1");
            assert_eq!(ls[0].added, now());
        }
    }

    #[test]
    fn imports_docker_archives_plain_or_compressed() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let tar = t.path().join("save.tar");
        docker_archive(&tar, &layers(), &["app:v1", "app:latest"]);
        let out = import(&store, &tar, None, &Platform::host(), now()).unwrap();
        assert_eq!(
            out[0].references,
            ["docker.io/library/app:v1", "docker.io/library/app:latest"]
        );
        let image = store
            .image(&ImageRef::parse("app").unwrap())
            .unwrap()
            .expect("stored");
        assert_eq!(image.manifest_digest, out[0].digest);

        let gz = t.path().join("save.tar.gz");
        std::fs::write(
            &gz,
            compress(&std::fs::read(&tar).unwrap(), Compression::Gzip),
        )
        .unwrap();
        let again = import(&store, &gz, None, &Platform::host(), now()).unwrap();
        assert_eq!(again[0].digest, out[0].digest);
        let staging: Vec<_> = std::fs::read_dir(store.root().join("tmp"))
            .unwrap()
            .collect();
        assert!(staging.is_empty());
    }

    #[test]
    fn tampered_blobs_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let dir = t.path().join("layout");
        let ls = layers();
        oci_layout(&dir, &ls, Compression::None, Some("app:v1"));
        let victim = dir.join("blobs/sha256").join(Digest::sha256(&ls[1]).hex());
        let mut bytes = std::fs::read(&victim).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&victim, &bytes).unwrap();
        let e = import(&store, &dir, None, &Platform::host(), now()).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(victim.exists(), "the user's file is left alone");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn names_come_from_annotations_or_the_caller() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let dir = t.path().join("layout");
        oci_layout(&dir, &layers(), Compression::Gzip, Some("v9"));
        let e = import(&store, &dir, None, &Platform::host(), now()).unwrap_err();
        assert!(e.to_string().contains("--name"), "{e}");
        let name = ImageRef::parse("registry.example/team/app").unwrap();
        let out = import(&store, &dir, Some(&name), &Platform::host(), now()).unwrap();
        assert_eq!(out[0].references, ["registry.example/team/app:v9"]);
    }

    #[test]
    fn other_files_are_not_images() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        let f = t.path().join("x.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&f).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "readme", &b"x"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        let e = import(&store, &f, None, &Platform::host(), now()).unwrap_err();
        assert!(
            e.to_string().contains("neither a docker save archive"),
            "{e}"
        );
        let e = import(
            &store,
            &t.path().join("missing"),
            None,
            &Platform::host(),
            now(),
        );
        assert!(e.is_err());
    }
}
