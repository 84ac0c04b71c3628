//! The in-memory backend: the same log model and rules as SQLite, without durability. For tests
//! of the layers above the store, and as the reference the conformance suite checks first.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::continuation::{PageStart, check_readable, finish_page};
use crate::op::{self, Op};
use crate::watch::{self, History, Hub};
use crate::{
    Deleted, Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store,
    WatchStream,
};

/// A [`Store`] kept in process memory.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    log: Arc<Log>,
    hub: Hub,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_watch_buffer(watch::DEFAULT_BUFFER)
    }

    /// A store whose live watchers may fall `buffer` writes behind before they re-read the log.
    pub fn with_watch_buffer(buffer: usize) -> Self {
        MemoryStore {
            log: Arc::new(Log::default()),
            hub: Hub::new(buffer),
        }
    }

    fn write(&self, op: Op) -> Result<Event> {
        op::check_key(op.key())?;
        let mut state = self.log.lock();
        let live = state.live_at(op.key(), state.current);
        let event = op.apply(live, state.current + 1)?;
        state.append(&event);
        // Published under the lock so that concurrent writers reach watchers in revision order.
        if self.hub.has_watchers() {
            self.hub.publish(vec![event.clone()]);
        }
        Ok(event)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<KeyValue> {
        let state = self.log.lock();
        state
            .live_at(key, state.current)
            .ok_or_else(|| Error::NotFound {
                key: key.to_owned(),
            })
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let start = PageStart::resolve(prefix, &options)?;
        let state = self.log.lock();
        let revision = start.revision.unwrap_or(state.current);
        check_readable(revision, state.current, state.compacted)?;
        let items = state
            .versions
            .range::<str, _>((Bound::Included(start.from_key.as_str()), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, _)| state.live_at(key, revision))
            .take(start.fetch().unwrap_or(usize::MAX))
            .collect();
        Ok(finish_page(items, start.limit, revision))
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        op::revision_of(self.write(Op::Create {
            key: key.to_owned(),
            value,
        }))
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        op::revision_of(self.write(Op::Update {
            key: key.to_owned(),
            value,
            expected,
        }))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        op::deleted_of(self.write(Op::Delete {
            key: key.to_owned(),
            expected,
        }))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.hub.watch(self.log.clone(), prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.log.lock().current)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.log.lock().compact(revision)
    }
}

#[async_trait]
impl History for Log {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let state = self.lock();
        if after < state.compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted: state.compacted,
            });
        }
        Ok(state
            .rows
            .range(after.saturating_add(1)..)
            .filter(|(_, row)| row.key.starts_with(prefix))
            .take(limit)
            .map(|(revision, row)| state.event(*revision, row))
            .collect())
    }
}

/// The log, shared with watchers.
#[derive(Debug, Default)]
struct Log {
    state: Mutex<State>,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; should one ever, the state is still
        // consistent between statements, so keep serving rather than propagate the poison.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One row of the log, as in the SQLite table (kine's `kine` table).
#[derive(Debug)]
struct Row {
    key: String,
    kind: EventKind,
    create_revision: Revision,
    /// The revision this row supersedes, 0 for a create.
    prev_revision: Revision,
    value: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    rows: BTreeMap<Revision, Row>,
    /// Every kept row of each key, oldest first.
    versions: BTreeMap<String, Vec<Revision>>,
    current: Revision,
    compacted: Revision,
}

impl State {
    /// The live version of `key` as of `revision`.
    fn live_at(&self, key: &str, revision: Revision) -> Option<KeyValue> {
        let versions = self.versions.get(key)?;
        let newer = versions.partition_point(|r| *r <= revision);
        let id = *versions.get(newer.checked_sub(1)?)?;
        let row = self.rows.get(&id)?;
        (row.kind != EventKind::Delete).then(|| row.key_value(id))
    }

    fn append(&mut self, event: &Event) {
        let revision = event.revision();
        self.rows.insert(
            revision,
            Row {
                key: event.kv.key.clone(),
                kind: event.kind,
                create_revision: event.kv.create_revision,
                prev_revision: event.prev.as_ref().map_or(0, |p| p.mod_revision),
                value: event.kv.value.clone(),
            },
        );
        self.versions
            .entry(event.kv.key.clone())
            .or_default()
            .push(revision);
        self.current = revision;
    }

    fn event(&self, revision: Revision, row: &Row) -> Event {
        Event {
            kind: row.kind,
            kv: row.key_value(revision),
            prev: self
                .rows
                .get(&row.prev_revision)
                .map(|prev| prev.key_value(row.prev_revision)),
        }
    }

    /// kine's compaction rule: drop every row superseded by a row at or below `revision`, and
    /// the tombstones at or below it. What stays is exactly the state at `revision` plus all
    /// later rows and their predecessors (the `prev` of every event still to be replayed).
    fn compact(&mut self, revision: Revision) -> Result<()> {
        if revision <= self.compacted {
            return Ok(());
        }
        check_readable(revision, self.current, self.compacted)?;
        let mut doomed = Vec::new();
        for (id, row) in self.rows.range(self.compacted + 1..=revision) {
            if row.prev_revision > 0 {
                doomed.push(row.prev_revision);
            }
            if row.kind == EventKind::Delete {
                doomed.push(*id);
            }
        }
        for id in doomed {
            if let Some(row) = self.rows.remove(&id)
                && let Some(versions) = self.versions.get_mut(&row.key)
            {
                versions.retain(|r| *r != id);
                if versions.is_empty() {
                    self.versions.remove(&row.key);
                }
            }
        }
        self.compacted = revision;
        Ok(())
    }
}

impl Row {
    fn key_value(&self, revision: Revision) -> KeyValue {
        KeyValue {
            key: self.key.clone(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: revision,
        }
    }
}
