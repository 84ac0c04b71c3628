//! OCI image layouts (image-spec `image-layout.md`): `oci-layout`, `index.json`, and
//! `blobs/<alg>/<hex>`. Each index entry is an image (or an index, resolved to the platform);
//! its name comes from the `io.containerd.image.name` annotation (a full reference, as
//! containerd and `docker save` write it) or `org.opencontainers.image.ref.name` (a full
//! reference, or a bare tag completed with the name the caller gives).

use std::path::Path;

use jiff::Timestamp;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::import::{Imported, LayerFile, Source, store_image};
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::store::Store;
use crate::unpack::Compression;

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// How deep indexes may nest before the layout is considered broken.
const MAX_NESTING: usize = 4;

pub(crate) fn import(
    store: &Store,
    src: &dyn Source,
    origin: &Path,
    name: Option<&ImageRef>,
    platform: &Platform,
    now: Timestamp,
) -> Result<Vec<Imported>> {
    let layout = src.read("oci-layout", origin)?;
    let version = serde_json::from_slice::<serde_json::Value>(&layout)
        .ok()
        .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_owned));
    if version.is_none() {
        return Err(Error::import(
            origin,
            "oci-layout has no imageLayoutVersion",
        ));
    }
    let index: ImageIndex = serde_json::from_slice(&src.read("index.json", origin)?)
        .map_err(|e| Error::import(origin, format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for entry in index.manifests() {
        let refs = names(entry, name, origin)?;
        let (manifest_digest, manifest) = resolve(src, origin, entry, platform)?;
        let parsed: ImageManifest = serde_json::from_slice(&manifest)
            .map_err(|e| Error::manifest(format!("manifest {manifest_digest}"), e))?;
        let config = read_blob(src, origin, parsed.config())?;
        let layers = parsed
            .layers()
            .iter()
            .map(|l| layer_file(src, origin, l))
            .collect::<Result<Vec<_>>>()?;
        out.push(store_image(
            store,
            &manifest_digest,
            &manifest,
            &config,
            &layers,
            &refs,
            now,
        )?);
    }
    if out.is_empty() {
        return Err(Error::import(origin, "index.json lists no images"));
    }
    Ok(out)
}

/// The references an index entry gives its image.
fn names(entry: &Descriptor, name: Option<&ImageRef>, origin: &Path) -> Result<Vec<ImageRef>> {
    let annotations = entry.annotations().clone().unwrap_or_default();
    if let Some(full) = annotations.get(CONTAINERD_NAME) {
        return Ok(vec![ImageRef::parse(full)?]);
    }
    match (annotations.get(REF_NAME), name) {
        (Some(r), _) if r.contains(['/', ':', '@']) => Ok(vec![ImageRef::parse(r)?]),
        (Some(tag), Some(n)) => Ok(vec![n.with_tag(tag)?]),
        (Some(tag), None) => Err(Error::import(
            origin,
            format!("an image is named by its tag {tag:?} only: give the repository name (--name)"),
        )),
        (None, Some(n)) => Ok(vec![n.clone()]),
        (None, None) => Err(Error::import(
            origin,
            format!("image {} has no name: give one (--name)", entry.digest()),
        )),
    }
}

/// The image manifest an entry leads to (through indexes, by platform), verified.
fn resolve(
    src: &dyn Source,
    origin: &Path,
    entry: &Descriptor,
    platform: &Platform,
) -> Result<(Digest, Vec<u8>)> {
    let mut desc = entry.clone();
    for _ in 0..MAX_NESTING {
        let bytes = read_blob(src, origin, &desc)?;
        let digest: Digest = desc.digest().to_string().parse()?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::manifest(format!("manifest {digest}"), e))?;
        if doc.get("manifests").is_none() {
            return Ok((digest, bytes));
        }
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::manifest(format!("image index {digest}"), e))?;
        desc = platform.select(index.manifests()).cloned().ok_or_else(|| {
            Error::NoMatchingPlatform {
                reference: format!("{} in {}", digest, origin.display()),
                platform: platform.to_string(),
            }
        })?;
    }
    Err(Error::import(origin, "image indexes nest too deep"))
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// A small blob (manifest, index, config), checked against its descriptor.
fn read_blob(src: &dyn Source, origin: &Path, desc: &Descriptor) -> Result<Vec<u8>> {
    let digest: Digest = desc.digest().to_string().parse()?;
    let bytes = src.read(&blob_path(&digest), origin)?;
    let mut h = crate::digest::Hasher::new(digest.algorithm());
    h.update(&bytes);
    let actual = h.finish();
    if actual != digest || bytes.len() as u64 != desc.size() {
        return Err(Error::DigestMismatch {
            what: format!("blob {} in {}", digest, origin.display()),
            expected: format!("{digest} ({} bytes)", desc.size()),
            actual: format!("{actual} ({} bytes)", bytes.len()),
        });
    }
    Ok(bytes)
}

fn layer_file(src: &dyn Source, origin: &Path, desc: &Descriptor) -> Result<LayerFile> {
    let digest: Digest = desc.digest().to_string().parse()?;
    let media_type = desc.media_type().to_string();
    let compression = Compression::from_media_type(&media_type)
        .ok_or_else(|| Error::layer(&digest, format!("unsupported media type {media_type:?}")))?;
    let path = src
        .file(&blob_path(&digest))
        .ok_or_else(|| Error::import(origin, format!("{} is missing", blob_path(&digest))))?;
    Ok(LayerFile {
        path,
        digest,
        size: desc.size(),
        compression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{DescriptorBuilder, MediaType};
    use std::collections::HashMap;

    fn entry(annotations: &[(&str, &str)]) -> Descriptor {
        let mut b = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .size(1u64)
            .digest(
                format!("sha256:{}", "e".repeat(64))
                    .parse::<oci_spec::image::Digest>()
                    .unwrap(),
            );
        if !annotations.is_empty() {
            b = b.annotations(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            );
        }
        b.build().unwrap()
    }

    fn named(annotations: &[(&str, &str)], name: Option<&str>) -> Result<Vec<String>> {
        let n = name.map(|n| ImageRef::parse(n).unwrap());
        names(&entry(annotations), n.as_ref(), Path::new("x"))
            .map(|v| v.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn image_names_from_annotations() {
        assert_eq!(
            named(
                &[
                    (CONTAINERD_NAME, "docker.io/library/app:1"),
                    (REF_NAME, "1")
                ],
                None
            )
            .unwrap(),
            ["docker.io/library/app:1"]
        );
        assert_eq!(
            named(&[(REF_NAME, "localhost:5000/app:v2")], None).unwrap(),
            ["localhost:5000/app:v2"]
        );
        assert_eq!(
            named(&[(REF_NAME, "v3")], Some("registry.example/team/app")).unwrap(),
            ["registry.example/team/app:v3"]
        );
        assert_eq!(
            named(&[], Some("app:dev")).unwrap(),
            ["docker.io/library/app:dev"]
        );
        assert!(
            named(&[(REF_NAME, "v3")], None)
                .unwrap_err()
                .to_string()
                .contains("--name")
        );
        assert!(
            named(&[], None)
                .unwrap_err()
                .to_string()
                .contains("no name")
        );
    }
}
