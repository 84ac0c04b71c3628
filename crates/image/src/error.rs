//! The crate's one error type. Each variant names what failed (the image, the layer digest and
//! entry, the file) so that a pod's waiting message or the CLI's error is enough to act on.

use std::path::Path;

/// Everything that can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image name does not parse as a docker reference (kubelet: InvalidImageName).
    #[error("couldn't parse image reference {image:?}: {reason}")]
    InvalidReference { image: String, reason: String },

    /// A digest string that is not `sha256:<64 hex>` or `sha512:<128 hex>`.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),

    /// Content whose digest or size is not the one its descriptor promised.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// The registry answered with an error, or could not be reached.
    #[error("{reference}: {message}")]
    Registry {
        reference: String,
        message: String,
        kind: RegistryErrorKind,
    },

    /// A manifest, index or config that is not what the image specs allow.
    #[error("{what}: {message}")]
    Manifest { what: String, message: String },

    /// An image index with no manifest for this node's platform.
    #[error("{reference}: no manifest in the image index matches the platform {platform}")]
    NoMatchingPlatform { reference: String, platform: String },

    /// A layer entry the unpacker refuses: it would write outside the layer's directory, or
    /// through a symlink, or is otherwise unsafe.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },

    /// A layer that cannot be read: bad compression, a broken tar stream, an unknown media type.
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },

    /// No image by that reference or digest in the store.
    #[error("image {0:?} is not present")]
    NotPresent(String),

    /// The image is used by a container (or by a rootfs still prepared) and cannot be removed.
    #[error("image {image:?} is in use by {users}")]
    InUse { image: String, users: String },

    /// An image archive or layout that cannot be imported.
    #[error("importing {path}: {message}")]
    Import { path: String, message: String },

    /// The docker-style credentials file cannot be read.
    #[error("registry credentials {path}: {message}")]
    Credentials { path: String, message: String },

    /// A container rootfs that cannot be prepared or released.
    #[error("rootfs {id:?}: {message}")]
    Rootfs { id: String, message: String },

    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// What kind of registry failure, for callers that word them differently (not found is not
/// worth retrying soon; unauthorized asks for credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// The repository, tag or blob does not exist.
    NotFound,
    /// The registry refused the credentials (or asked for some).
    Unauthorized,
    /// Anything else: connection refused, TLS, a 5xx, a malformed answer.
    Other,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn at(path: &Path, doing: &str, source: std::io::Error) -> Error {
        Error::io(format!("{doing} {}", path.display()), source)
    }

    pub(crate) fn manifest(what: impl Into<String>, message: impl ToString) -> Error {
        Error::Manifest {
            what: what.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn layer(layer: impl ToString, message: impl ToString) -> Error {
        Error::Layer {
            layer: layer.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn unsafe_entry(layer: impl ToString, entry: &str, reason: impl ToString) -> Error {
        Error::UnsafeEntry {
            layer: layer.to_string(),
            entry: entry.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn import(path: &Path, message: impl ToString) -> Error {
        Error::Import {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn rootfs(id: &str, message: impl ToString) -> Error {
        Error::Rootfs {
            id: id.to_owned(),
            message: message.to_string(),
        }
    }
}

/// `io::Result` → `Result` with the path and what was being done.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path, doing: &str) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path, doing: &str) -> Result<T> {
        self.map_err(|e| Error::at(path, doing, e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn at(self, path: &Path, doing: &str) -> Result<T> {
        self.map_err(|e| Error::at(path, doing, e.into()))
    }
}
