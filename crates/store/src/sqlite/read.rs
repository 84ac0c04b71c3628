//! Read connections. WAL lets any number of readers run beside the single writer, each inside a
//! read transaction that sees one committed snapshot; reads run on tokio's blocking pool so a
//! long list never stalls the async executor.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::Connection;

use super::{query, schema};
use crate::watch::History;
use crate::{Error, Event, Result, Revision};

/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const MAX_IDLE: usize = 8;

#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` inside one read transaction on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || readers.read(read))
            .await
            .map_err(|_| Error::Closed)?
    }

    fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let popped = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match popped {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        // A deferred transaction: the snapshot is taken at the first read and held to the end,
        // so the revision marks and the rows come from the same state.
        let result = {
            let tx = conn.transaction()?;
            read(&tx)
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}

/// The log as watchers replay it.
#[derive(Debug, Clone)]
pub(crate) struct Replay(pub Arc<Readers>);

#[async_trait]
impl History for Replay {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let prefix = prefix.to_owned();
        self.0
            .run(move |conn| query::events_after(conn, &prefix, after, limit))
            .await
    }
}
