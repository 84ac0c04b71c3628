//! kbatch's storage layer: a revisioned key-value log shaped like the subset of etcd's API that a
//! Kubernetes API server uses (kine's view of it).
//!
//! Keys are strings such as `/registry/jobs/<ns>/<name>`, values are opaque bytes. One global,
//! strictly increasing [`Revision`] is bumped by every successful write and becomes the object's
//! `resourceVersion`; updates and deletes compare-and-swap on it; watches replay the log after a
//! revision and then follow live writes; compaction drops history older than a revision.
//!
//! Backends: [`SqliteStore`] (embedded, durable, the default), `EtcdStore` (feature `etcd`: an
//! etcd v3 cluster, for several servers) and [`MemoryStore`] (tests). All three pass the same
//! `conformance` suite (feature `conformance`).

mod compactor;
#[cfg(feature = "conformance")]
pub mod conformance;
mod continuation;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod memory;
mod op;
mod sqlite;
mod watch;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use compactor::{Clock, Compactor, Retention, SystemClock};
pub use error::{Error, Result};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdStore, EtcdTls};
pub use memory::MemoryStore;
pub use sqlite::{SqliteOptions, SqliteStore};

/// A point in the store's history. Every successful write gets the next one (etcd's
/// `mod_revision`, Kubernetes' `resourceVersion`); revision 0 means "nothing written yet".
pub type Revision = i64;

/// One version of a key, as etcd's `mvccpb.KeyValue` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// Revision of the write that produced this version.
    pub mod_revision: Revision,
}

/// What a watch event reports, in the shape the API server needs for ADDED/MODIFIED/DELETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Create,
    Update,
    Delete,
}

/// One write, as replayed or streamed by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The new version. For a delete this is the tombstone: empty value, `mod_revision` is the
    /// delete's revision and `create_revision` that of the deleted incarnation.
    pub kv: KeyValue,
    /// The version this write replaced (etcd's `prev_kv`): `None` for a create. A delete carries
    /// the deleted object here, so the API server can send it in the DELETED event.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision of the write this event reports.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// The result of a successful delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The revision of the delete itself (what Kubernetes sets as the returned object's
    /// resourceVersion).
    pub revision: Revision,
    /// The last live version of the key.
    pub prev: KeyValue,
}

/// Options of [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read the state as of this revision instead of the latest one (etcd's range `revision`).
    pub revision: Option<Revision>,
    /// Return at most this many items, then a continue token. `None` returns everything.
    pub limit: Option<usize>,
    /// A token from a previous page of the same prefix: the next page is read at that page's
    /// revision, so all pages form one consistent snapshot.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Live keys under the prefix at `revision`, in key order.
    pub items: Vec<KeyValue>,
    /// The revision the page was read at (the list's resourceVersion).
    pub revision: Revision,
    /// Set when more items follow: pass it back in [`ListOptions::continue_token`].
    pub continue_token: Option<String>,
}

/// The events of a watch, in revision order. An `Err` (e.g. [`Error::Compacted`] when the watcher
/// fell behind compaction) is the stream's last item; the stream also ends when the store closes.
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// The revisioned key-value store the API server holds as `Arc<dyn Store>`.
///
/// Object safe and async, so backends may be embedded (SQLite) or remote (etcd).
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The latest live version of `key`, or [`Error::NotFound`].
    async fn get(&self, key: &str) -> Result<KeyValue>;

    /// Live keys starting with `prefix` (a plain byte prefix: `/registry/jobs/default/` does
    /// not match `/registry/jobs/default2/x`), in key order, paged by `options`.
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult>;

    /// Creates `key`; [`Error::AlreadyExists`] if it is live. Returns the write's revision.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision>;

    /// Replaces `key`'s value if its current `mod_revision` is `expected`
    /// ([`Error::Conflict`] otherwise, [`Error::NotFound`] if absent). Returns the new revision.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision>;

    /// Deletes `key`, only if its `mod_revision` is `expected` when that is given.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted>;

    /// Events for keys starting with `prefix` whose revision is greater than `after`: first
    /// the kept history, then live writes. [`Error::Compacted`] if `after` is older than the
    /// kept history.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The revision of the latest acknowledged write.
    async fn current_revision(&self) -> Result<Revision>;

    /// Drops history up to `revision`: afterwards reads and watches need a revision of at least
    /// `revision` ([`Error::Compacted`] below it). The latest version of every live key is kept.
    /// Compacting to a revision at or below the current compaction point does nothing.
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// A continue token that resumes a list of `prefix` at `revision` right after `last_key`: for
/// callers that filter a page and stop in the middle of it (the API server's selectors), as
/// Kubernetes' etcd3 storage does when a predicate fills the limit mid-page.
pub fn continue_after(revision: Revision, last_key: &str) -> String {
    continuation::Continuation {
        revision,
        last_key: last_key.to_owned(),
    }
    .encode()
}
