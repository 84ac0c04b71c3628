//! Pulling images from OCI and Docker registries with oci-client (token and basic auth, the
//! distribution API), into the store: the manifest (an index resolved to this node's
//! platform), the config, then each layer not already unpacked — downloaded to staging,
//! verified against its digest and size, unpacked with its diff id verified, and dropped.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{Descriptor, ImageIndex};

use crate::auth::{Credential, Keyring};
use crate::digest::Digest;
use crate::error::{Error, RegistryErrorKind, Result};
use crate::image::Image;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::store::{Store, verify_file};
use crate::unpack::Compression;

const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Layers downloaded at once per image (containerd's default is 3).
const PARALLEL_LAYERS: usize = 3;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Registries (`HOST:PORT`, as references name them) spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Credentials (kubelet's node-wide docker config).
    pub keyring: Keyring,
    /// The platform to pick from multi-platform images.
    pub platform: Platform,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure_registries: Vec::new(),
            keyring: Keyring::default(),
            platform: Platform::host(),
        }
    }
}

/// Pulls images into a store.
#[derive(Debug, Clone)]
pub struct Puller {
    options: PullOptions,
}

impl Puller {
    pub fn new(options: PullOptions) -> Puller {
        // reqwest is built without a compiled-in crypto provider: use the workspace's (ring).
        // Another part of the process may have installed it already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Puller { options }
    }

    fn client(&self, reference: &ImageRef) -> Result<Client> {
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.options.insecure_registries.clone()),
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(300)),
            ..ClientConfig::default()
        };
        Client::try_from(config).map_err(|e| registry_error(reference, e))
    }

    /// Pulls `reference` into `store` and names it there; returns the stored image. Each
    /// matching credential is tried in turn (kubelet's keyring order), then none.
    pub async fn pull(&self, store: &Store, reference: &ImageRef, now: Timestamp) -> Result<Image> {
        let creds = self.options.keyring.lookup(reference);
        let mut auths: Vec<RegistryAuth> = creds.iter().map(Credential::to_registry_auth).collect();
        if auths.is_empty() {
            auths.push(RegistryAuth::Anonymous);
        }
        let last = auths.len() - 1;
        for (i, auth) in auths.iter().enumerate() {
            let result = self.pull_with(store, reference, auth, now).await;
            let refused = matches!(
                result,
                Err(Error::Registry {
                    kind: RegistryErrorKind::Unauthorized,
                    ..
                })
            );
            if !refused || i == last {
                return result;
            }
        }
        unreachable!("the loop returns on its last credential")
    }

    async fn pull_with(
        &self,
        store: &Store,
        reference: &ImageRef,
        auth: &RegistryAuth,
        now: Timestamp,
    ) -> Result<Image> {
        let client = self.client(reference)?;
        let oci = reference.oci().clone();
        client
            .store_auth_if_needed(oci.resolve_registry(), auth)
            .await;
        let _lock = store.lock_shared_async().await?;

        let (manifest_digest, manifest) = self.manifest(&client, reference, &oci, auth).await?;
        store.put_blob(
            &manifest,
            &manifest_digest,
            &format!("manifest {manifest_digest}"),
        )?;
        let config = crate::image::config_descriptor(&manifest_digest, &manifest)?;
        if !store.has_blob(&config.digest) {
            let staging = store.tempdir()?;
            let path = staging.path().join("config");
            download(&client, reference, &oci, &config.digest, &path).await?;
            store.ingest_file(
                &path,
                &config.digest,
                Some(config.size),
                &format!("config {}", config.digest),
            )?;
        }
        let image = Image::parse(
            manifest_digest.clone(),
            &manifest,
            &store.read_blob(&config.digest)?,
        )?;

        let missing: Vec<(Descriptor, Digest)> = image
            .manifest
            .layers()
            .iter()
            .cloned()
            .zip(image.diff_ids.iter().cloned())
            .filter(|(_, diff_id)| !store.has_layer(diff_id))
            .collect();
        futures::stream::iter(missing)
            .map(|(layer, diff_id)| self.layer(&client, store, reference, &oci, layer, diff_id))
            .buffer_unordered(PARALLEL_LAYERS)
            .try_collect::<Vec<()>>()
            .await?;

        store.tag(std::slice::from_ref(reference), &manifest_digest, now)?;
        store
            .image_by_digest(&manifest_digest)?
            .ok_or_else(|| Error::NotPresent(reference.to_string()))
    }

    /// The image manifest (resolving an index to this platform), verified, with its digest.
    async fn manifest(
        &self,
        client: &Client,
        reference: &ImageRef,
        oci: &Reference,
        auth: &RegistryAuth,
    ) -> Result<(Digest, Vec<u8>)> {
        let (body, _) = client
            .pull_manifest_raw(oci, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| registry_error(reference, e))?;
        let expected = reference.digest();
        let digest = match &expected {
            Some(d) => verified(&body, d, None, reference)?,
            None => Digest::sha256(&body),
        };
        if !is_index(&body, &digest)? {
            return Ok((digest, body.to_vec()));
        }
        let index: ImageIndex = serde_json::from_slice(&body)
            .map_err(|e| Error::manifest(format!("image index {digest}"), e))?;
        let entry = self
            .options
            .platform
            .select(index.manifests())
            .ok_or_else(|| Error::NoMatchingPlatform {
                reference: reference.to_string(),
                platform: self.options.platform.to_string(),
            })?;
        let want: Digest = entry.digest().to_string().parse()?;
        let (body, _) = client
            .pull_manifest_raw(
                &oci.clone_with_digest(want.to_string()),
                auth,
                MANIFEST_TYPES,
            )
            .await
            .map_err(|e| registry_error(reference, e))?;
        let digest = verified(&body, &want, Some(entry.size()), reference)?;
        if is_index(&body, &digest)? {
            return Err(Error::manifest(
                format!("manifest {digest}"),
                "an image index where the index promised an image manifest",
            ));
        }
        Ok((digest, body.to_vec()))
    }

    async fn layer(
        &self,
        client: &Client,
        store: &Store,
        reference: &ImageRef,
        oci: &Reference,
        layer: Descriptor,
        diff_id: Digest,
    ) -> Result<()> {
        let digest: Digest = layer.digest().to_string().parse()?;
        let media_type = layer.media_type().to_string();
        let compression = Compression::from_media_type(&media_type).ok_or_else(|| {
            Error::layer(&digest, format!("unsupported media type {media_type:?}"))
        })?;
        let staging = store.tempdir()?;
        let path = staging.path().join("layer");
        download(client, reference, oci, &digest, &path).await?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            verify_file(
                &path,
                &digest,
                Some(layer.size()),
                &format!("layer {digest}"),
            )?;
            store.unpack_layer(&path, compression, &digest, &diff_id)?;
            drop(staging);
            Ok(())
        })
        .await
        .map_err(|e| Error::io("unpacking a layer", std::io::Error::other(e)))?
    }
}

/// Streams a blob to a file. oci-client checks the digest as it streams; the caller checks
/// the file again (with the size) before using it.
async fn download(
    client: &Client,
    reference: &ImageRef,
    oci: &Reference,
    digest: &Digest,
    path: &std::path::Path,
) -> Result<()> {
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::at(path, "creating", e))?;
    client
        .pull_blob(oci, digest.to_string().as_str(), file)
        .await
        .map_err(|e| registry_error(reference, e))
}

/// Checks manifest bytes against the digest (and size) they were asked for.
fn verified(body: &[u8], want: &Digest, size: Option<u64>, r: &ImageRef) -> Result<Digest> {
    let mut h = crate::digest::Hasher::new(want.algorithm());
    h.update(body);
    let actual = h.finish();
    if actual != *want || size.is_some_and(|s| s != body.len() as u64) {
        return Err(Error::DigestMismatch {
            what: format!("manifest of {r}"),
            expected: want.to_string(),
            actual: format!("{actual} ({} bytes)", body.len()),
        });
    }
    Ok(actual)
}

/// Whether a manifest document is an index (or Docker manifest list).
fn is_index(body: &[u8], digest: &Digest) -> Result<bool> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<i64>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(body)
        .map_err(|e| Error::manifest(format!("manifest {digest}"), e))?;
    if p.schema_version != Some(2) {
        return Err(Error::manifest(
            format!("manifest {digest}"),
            format!(
                "schema version {:?} is not supported (only 2)",
                p.schema_version
            ),
        ));
    }
    Ok(match p.media_type.as_deref() {
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => true,
        Some(_) => false,
        None => p.manifests.is_some(),
    })
}

/// oci-client's errors in the store's words, classified.
fn registry_error(reference: &ImageRef, e: OciDistributionError) -> Error {
    let kind = match &e {
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryErrorKind::NotFound,
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                RegistryErrorKind::NotFound
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                RegistryErrorKind::Unauthorized
            } else {
                RegistryErrorKind::Other
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => RegistryErrorKind::NotFound,
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        }
        | OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => RegistryErrorKind::Unauthorized,
        _ => RegistryErrorKind::Other,
    };
    let message = match (&e, kind) {
        (_, RegistryErrorKind::NotFound) => format!("not found ({e})"),
        (OciDistributionError::RequestError(re), _) => {
            // reqwest's Display hides the cause (connection refused, TLS); show the chain.
            let mut m = re.to_string();
            let mut src = std::error::Error::source(re);
            while let Some(s) = src {
                m.push_str(": ");
                m.push_str(&s.to_string());
                src = s.source();
            }
            m
        }
        _ => e.to_string(),
    };
    Error::Registry {
        reference: reference.to_string(),
        message,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_detection() {
        let d = Digest::sha256(b"x");
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(is_index(idx, &d).unwrap());
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert!(is_index(list, &d).unwrap());
        let untyped = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(is_index(untyped, &d).unwrap());
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
        assert!(!is_index(m, &d).unwrap());
        let v1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert!(
            is_index(v1, &d)
                .unwrap_err()
                .to_string()
                .contains("schema version")
        );
    }

    #[test]
    fn manifest_digests_are_checked() {
        let r = ImageRef::parse("busybox").unwrap();
        let body = b"{}";
        let d = Digest::sha256(body);
        assert_eq!(verified(body, &d, Some(2), &r).unwrap(), d);
        assert!(verified(body, &d, Some(3), &r).is_err());
        assert!(verified(b"{ }", &d, None, &r).is_err());
    }

    #[test]
    fn registry_errors_are_classified() {
        let r = ImageRef::parse("busybox").unwrap();
        let kind = |e| match registry_error(&r, e) {
            Error::Registry { kind, .. } => kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(OciDistributionError::ServerError {
                code: 404,
                url: "u".into(),
                message: String::new()
            }),
            RegistryErrorKind::NotFound
        );
        assert_eq!(
            kind(OciDistributionError::UnauthorizedError { url: "u".into() }),
            RegistryErrorKind::Unauthorized
        );
        assert_eq!(
            kind(OciDistributionError::GenericError(None)),
            RegistryErrorKind::Other
        );
    }
}
