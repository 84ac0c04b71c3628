//! An image as the store holds it: its manifest, its parsed config (what a container runtime
//! reads: Entrypoint, Cmd, Env, WorkingDir, User) and its layers' uncompressed digests.

use oci_spec::image::{Config, ImageConfiguration, ImageManifest};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// One stored image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image manifest's digest: the image's identity in the store.
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: ImageConfiguration,
    /// The layers' uncompressed digests (`rootfs.diff_ids`), bottom first; each names the
    /// layer's unpacked directory.
    pub diff_ids: Vec<Digest>,
}

/// The config a manifest names.
#[derive(Debug, Clone)]
pub(crate) struct ConfigRef {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

/// The config descriptor of a manifest, read without parsing the rest.
pub(crate) fn config_descriptor(manifest_digest: &Digest, manifest: &[u8]) -> Result<ConfigRef> {
    #[derive(serde::Deserialize)]
    struct Partial {
        config: Desc,
    }
    #[derive(serde::Deserialize)]
    struct Desc {
        digest: String,
        size: u64,
    }
    let p: Partial = serde_json::from_slice(manifest)
        .map_err(|e| Error::manifest(format!("image {manifest_digest}"), e))?;
    Ok(ConfigRef {
        digest: p.config.digest.parse()?,
        size: p.config.size,
    })
}

impl Image {
    /// Parses a manifest and its config and checks they agree: one diff id per layer.
    pub(crate) fn parse(manifest_digest: Digest, manifest: &[u8], config: &[u8]) -> Result<Image> {
        let what = || format!("image {manifest_digest}");
        let manifest: ImageManifest =
            serde_json::from_slice(manifest).map_err(|e| Error::manifest(what(), e))?;
        let config_digest: Digest = manifest.config().digest().to_string().parse()?;
        let config: ImageConfiguration = serde_json::from_slice(config)
            .map_err(|e| Error::manifest(format!("config {config_digest}"), e))?;
        let diff_ids = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse::<Digest>())
            .collect::<Result<Vec<_>>>()?;
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::manifest(
                what(),
                format!(
                    "{} layers but {} diff ids in the config",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        Ok(Image {
            manifest_digest,
            manifest,
            config_digest,
            config,
            diff_ids,
        })
    }

    /// An image from its manifest's digest, manifest and config bytes, checked as a pull
    /// checks them (for runtimes' tests, which build configs of their own).
    pub fn from_parts(manifest_digest: Digest, manifest: &[u8], config: &[u8]) -> Result<Image> {
        Image::parse(manifest_digest, manifest, config)
    }

    /// The size registries and `crictl images` report: config plus compressed layers.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// When the image was built, if its config says.
    pub fn created(&self) -> Option<jiff::Timestamp> {
        self.config.created().as_deref()?.parse().ok()
    }

    fn runtime_config(&self) -> Option<&Config> {
        self.config.config().as_ref()
    }

    /// ENTRYPOINT.
    pub fn entrypoint(&self) -> Vec<String> {
        self.runtime_config()
            .and_then(|c| c.entrypoint().clone())
            .unwrap_or_default()
    }

    /// CMD.
    pub fn cmd(&self) -> Vec<String> {
        self.runtime_config()
            .and_then(|c| c.cmd().clone())
            .unwrap_or_default()
    }

    /// ENV, `NAME=value` each.
    pub fn env(&self) -> Vec<String> {
        self.runtime_config()
            .and_then(|c| c.env().clone())
            .unwrap_or_default()
    }

    /// WORKDIR; None when unset or empty.
    pub fn working_dir(&self) -> Option<String> {
        self.runtime_config()
            .and_then(|c| c.working_dir().clone())
            .filter(|w| !w.is_empty())
    }

    /// USER (`uid`, `uid:gid`, `name` or `name:group`); None when unset or empty.
    pub fn user(&self) -> Option<String> {
        self.runtime_config()
            .and_then(|c| c.user().clone())
            .filter(|u| !u.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(config: &[u8], layers: usize) -> Vec<u8> {
        let layer = serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", "1".repeat(64)),
            "size": 100
        });
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::sha256(config).to_string(),
                "size": config.len()
            },
            "layers": vec![layer; layers]
        }))
        .unwrap()
    }

    fn config(diff_ids: usize) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "created": "2024-05-01T10:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": ["/bin/busybox"],
                "Cmd": ["echo", "hi"],
                "Env": ["PATH=/bin"],
                "WorkingDir": "/work",
                "User": "1000:1000"
            },
            "rootfs": {"type": "layers", "diff_ids": vec![format!("sha256:{}", "2".repeat(64)); diff_ids]}
        }))
        .unwrap()
    }

    #[test]
    fn reads_the_runtime_config() {
        let c = config(1);
        let m = manifest(&c, 1);
        let img = Image::parse(Digest::sha256(&m), &m, &c).unwrap();
        assert_eq!(img.entrypoint(), ["/bin/busybox"]);
        assert_eq!(img.cmd(), ["echo", "hi"]);
        assert_eq!(img.env(), ["PATH=/bin"]);
        assert_eq!(img.working_dir().as_deref(), Some("/work"));
        assert_eq!(img.user().as_deref(), Some("1000:1000"));
        assert_eq!(img.size(), c.len() as u64 + 100);
        assert_eq!(img.created().unwrap().to_string(), "2024-05-01T10:00:00Z");
        assert_eq!(img.config_digest, Digest::sha256(&c));
    }

    #[test]
    fn layers_and_diff_ids_must_agree() {
        let c = config(2);
        let m = manifest(&c, 1);
        let e = Image::parse(Digest::sha256(&m), &m, &c).unwrap_err();
        assert!(e.to_string().contains("1 layers but 2 diff ids"), "{e}");
    }
}
