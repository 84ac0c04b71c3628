//! The embedded backend: one SQLite file in the data directory, kine's log model, one writer
//! thread with group commit, WAL readers, watches woken by the writer.

mod query;
mod read;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

use crate::continuation::PageStart;
use crate::op::{self, Op};
use crate::watch::{self, Hub};
use crate::{
    Deleted, Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream,
};
use read::{Readers, Replay};
use writer::Writer;

/// Settings of [`SqliteStore::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How many committed batches a live watcher may fall behind before it re-reads the log.
    pub watch_buffer: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            watch_buffer: watch::DEFAULT_BUFFER,
        }
    }
}

/// A durable [`Store`] in `<data dir>/kbatch.db`. Clones share the same file and writer; the
/// writer thread stops (after answering its queue) when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
    hub: Hub,
    /// The last committed revision, raised by the writer before it answers.
    current: Arc<AtomicI64>,
}

impl SqliteStore {
    /// Opens the store in `data_dir`, creating the directory and the file if needed. An existing
    /// file resumes at its last revision; a file that is not a kbatch store is refused with
    /// [`Error::Incompatible`].
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(data_dir, SqliteOptions::default())
    }

    pub fn open_with(data_dir: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let data_dir = data_dir.as_ref();
        std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
            path: data_dir.to_owned(),
            source: Arc::new(source),
        })?;
        let path = data_dir.join(schema::FILE_NAME);
        let conn = schema::open_writer(&path)?;
        let marks = query::marks(&conn)?;
        let hub = Hub::new(options.watch_buffer);
        let current = Arc::new(AtomicI64::new(marks.current));
        let writer =
            Writer::start(conn, marks, hub.clone(), current.clone()).map_err(|source| {
                Error::Io {
                    path: path.clone(),
                    source: Arc::new(source),
                }
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers: Arc::new(Readers::new(path.clone())),
                path,
                writer,
                hub,
                current,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<KeyValue> {
        let key = key.to_owned();
        self.inner
            .readers
            .run(move |conn| query::latest_live(conn, &key)?.ok_or(Error::NotFound { key }))
            .await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let start = PageStart::resolve(prefix, &options)?;
        let prefix = prefix.to_owned();
        self.inner
            .readers
            .run(move |conn| query::list(conn, &prefix, &start))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        let op = Op::Create {
            key: key.to_owned(),
            value,
        };
        op::revision_of(self.inner.writer.write(op).await)
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        let op = Op::Update {
            key: key.to_owned(),
            value,
            expected,
        };
        op::revision_of(self.inner.writer.write(op).await)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let op = Op::Delete {
            key: key.to_owned(),
            expected,
        };
        op::deleted_of(self.inner.writer.write(op).await)
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let history = Arc::new(Replay(self.inner.readers.clone()));
        self.inner.hub.watch(history, prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.current.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.writer.compact(revision).await
    }
}
