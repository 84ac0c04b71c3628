//! Image archives (`docker save`): the tar is read once, each regular file copied to staging
//! under a number (never under its own name, so the archive's paths cannot point anywhere),
//! symlinks and hard links kept as a map resolved inside the archive. Then manifest.json says
//! which files are each image's config and layers; the manifest kbatch stores for such an
//! image is an OCI manifest written from them, as containerd does for docker archives.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;

use crate::digest::{Algorithm, Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::clean;
use crate::import::{Imported, LayerFile, Source, store_image};
use crate::reference::ImageRef;
use crate::store::Store;
use crate::unpack::Compression;

/// How many links a path may go through inside an archive.
const MAX_HOPS: usize = 16;

/// An archive's files, staged.
pub(crate) struct Staged {
    _dir: tempfile::TempDir,
    files: HashMap<String, Staged1>,
    links: HashMap<String, String>,
}

struct Staged1 {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl Staged {
    fn resolve(&self, rel: &str) -> Option<&Staged1> {
        let mut key = key_of(rel.as_bytes())?;
        for _ in 0..MAX_HOPS {
            if let Some(f) = self.files.get(&key) {
                return Some(f);
            }
            key = self.links.get(&key)?.clone();
        }
        None
    }
}

impl Source for Staged {
    fn file(&self, rel: &str) -> Option<PathBuf> {
        self.resolve(rel).map(|f| f.path.clone())
    }
}

fn key_of(raw: &[u8]) -> Option<String> {
    let parts = clean(raw).ok()?;
    let parts: Vec<String> = parts
        .iter()
        .map(|p| p.to_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

/// A symlink's target as an archive path: relative to the link's directory, not above the
/// archive's root.
fn link_target(link: &str, target: &[u8]) -> Option<String> {
    if target.starts_with(b"/") {
        return key_of(&target[1..]);
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in std::str::from_utf8(target).ok()?.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Reads an archive (plain, gzip or zstd) into staging.
pub(crate) fn stage(store: &Store, path: &Path) -> Result<Staged> {
    let mut file = std::fs::File::open(path).at(path, "opening")?;
    let mut head = [0u8; 4];
    let n = file.read(&mut head).at(path, "reading")?;
    let file = std::fs::File::open(path).at(path, "opening")?;
    let reader: Box<dyn Read> = match Compression::sniff(&head[..n]) {
        Compression::None => Box::new(BufReader::new(file)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(BufReader::new(file)).at(path, "decompressing")?,
        ),
    };
    let dir = store.tempdir()?;
    let mut staged = Staged {
        _dir: dir,
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let bad = |e: std::io::Error| Error::import(path, format!("reading the archive: {e}"));
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let Some(key) = key_of(&entry.path_bytes()) else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dest = staged._dir.path().join(staged.files.len().to_string());
                let out = std::fs::File::create(&dest).at(&dest, "creating")?;
                let mut w = HashingWriter::new(out, Algorithm::Sha256);
                std::io::copy(&mut entry, &mut w).map_err(bad)?;
                let (_, digest, size) = w.finish().at(&dest, "writing")?;
                staged.files.insert(
                    key,
                    Staged1 {
                        path: dest,
                        digest,
                        size,
                    },
                );
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                if let Some(t) = link_target(&key, &target) {
                    staged.links.insert(key, t);
                }
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                if let Some(t) = key_of(&target) {
                    staged.links.insert(key, t);
                }
            }
            _ => {}
        }
    }
    Ok(staged)
}

/// One image of docker's manifest.json.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub(crate) fn import_docker(
    store: &Store,
    staged: &Staged,
    origin: &Path,
    name: Option<&ImageRef>,
    now: Timestamp,
) -> Result<Vec<Imported>> {
    let images: Vec<DockerImage> =
        serde_json::from_slice(&staged.read("manifest.json", origin)?)
            .map_err(|e| Error::import(origin, format!("manifest.json: {e}")))?;
    if images.is_empty() {
        return Err(Error::import(origin, "manifest.json lists no images"));
    }
    let mut out = Vec::new();
    for img in images {
        let refs: Vec<ImageRef> = match (img.repo_tags.as_deref(), name) {
            (Some(tags), _) if !tags.is_empty() => tags
                .iter()
                .map(|t| ImageRef::parse(t))
                .collect::<Result<_>>()?,
            (_, Some(n)) => vec![n.clone()],
            _ => {
                return Err(Error::import(
                    origin,
                    format!("image {} has no RepoTags: give a name (--name)", img.config),
                ));
            }
        };
        let config = staged.read(&img.config, origin)?;
        let mut layers = Vec::new();
        for l in &img.layers {
            let f = staged
                .resolve(l)
                .ok_or_else(|| Error::import(origin, format!("{l} is missing")))?;
            let mut head = [0u8; 4];
            let n = std::fs::File::open(&f.path)
                .and_then(|mut h| h.read(&mut head))
                .at(&f.path, "reading")?;
            layers.push(LayerFile {
                path: f.path.clone(),
                digest: f.digest.clone(),
                size: f.size,
                compression: Compression::sniff(&head[..n]),
            });
        }
        let manifest = oci_manifest(&config, &layers);
        let digest = Digest::sha256(&manifest);
        out.push(store_image(
            store, &digest, &manifest, &config, &layers, &refs, now,
        )?);
    }
    Ok(out)
}

/// The OCI manifest of an image that came without one.
fn oci_manifest(config: &[u8], layers: &[LayerFile]) -> Vec<u8> {
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": Digest::sha256(config).to_string(),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.compression.media_type(),
            "digest": l.digest.to_string(),
            "size": l.size,
        })).collect::<Vec<_>>(),
    });
    // Serialising a json! value cannot fail.
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_stay_inside_the_archive() {
        assert_eq!(
            link_target("abc/layer.tar", b"../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(link_target("x", b"y").as_deref(), Some("y"));
        assert_eq!(link_target("x", b"../../etc/passwd"), None);
        assert_eq!(link_target("x", b"/abs/file").as_deref(), Some("abs/file"));
        assert_eq!(key_of(b"./a//b").as_deref(), Some("a/b"));
        assert_eq!(key_of(b"../a"), None);
    }
}
