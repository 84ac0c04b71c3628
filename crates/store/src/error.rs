//! The store's errors, shaped after the answers etcd gives (and kine mimics) so the API server can
//! turn each into a Kubernetes Status: NotFound → 404, AlreadyExists → 409, Conflict → 409,
//! Compacted → 410 Gone (clients re-list).

use std::path::PathBuf;
use std::sync::Arc;

use crate::Revision;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a store operation can fail with. `Clone` because one failed group commit answers
/// every request of its batch with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("key {key:?} not found")]
    NotFound { key: String },

    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },

    #[error("conflict on key {key:?}: expected revision {expected}, current revision is {actual}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },

    #[error("revision {requested} has been compacted; the oldest revision kept is {compacted}")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("invalid continue token: {0}")]
    InvalidContinue(&'static str),

    /// The file exists but is not a kbatch store this version can read.
    #[error("{path}: not a usable kbatch store: {reason}")]
    Incompatible { path: PathBuf, reason: String },

    /// Data read back from the backend breaks the store's invariants.
    #[error("corrupt store: {0}")]
    Corrupt(String),

    #[error("sqlite: {0}")]
    Sqlite(Arc<rusqlite::Error>),

    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },

    /// A remote backend (etcd) did not answer in time or could not be reached. A write that
    /// fails so may or may not have been applied, as with any remote store.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),

    /// A remote backend (etcd) refused the request for a reason other than the ones above
    /// (permissions, a malformed request, a cluster in alarm).
    #[error("etcd: {0}")]
    Etcd(String),

    /// The backend's settings cannot work (an etcd endpoint, key prefix or TLS file).
    #[error("store configuration: {0}")]
    Config(String),

    /// The store was dropped or its writer stopped.
    #[error("the store is closed")]
    Closed,
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Sqlite(Arc::new(error))
    }
}
