//! The single writer thread and its group commit.
//!
//! Every write goes through one thread that owns the only read-write connection (kine and etcd
//! both serialise writes; here that also makes revision assignment trivial). Callers enqueue a
//! request and await its answer. The thread takes *all* pending requests, runs them in one
//! `BEGIN IMMEDIATE … COMMIT` — each checked against the state left by the ones before it — and
//! answers them only after the commit, whose WAL fsync (synchronous=FULL) makes the whole batch
//! durable at once. Under concurrency one fsync is shared by many writes: that is the throughput
//! gain over committing row by row, with the same guarantee. After the commit the batch's events
//! are published to watchers and then the callers are answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::query::{self, Marks};
use crate::continuation::check_readable;
use crate::op::Op;
use crate::watch::Hub;
use crate::{Error, Event, Result, Revision};

/// The most requests one transaction takes, bounding its latency and memory.
const MAX_BATCH: usize = 1024;

enum Request {
    Write {
        op: Op,
        reply: oneshot::Sender<Result<Event>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// A request decided inside the transaction, answered once the transaction's fate is known.
enum Decided {
    Write(oneshot::Sender<Result<Event>>, Result<Event>),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

impl Decided {
    fn answer(self) {
        // A caller that went away (its future dropped) no longer needs the answer.
        match self {
            Decided::Write(reply, result) => drop(reply.send(result)),
            Decided::Compact(reply, result) => drop(reply.send(result)),
        }
    }

    fn fail(self, error: Error) {
        match self {
            Decided::Write(reply, _) => drop(reply.send(Err(error))),
            Decided::Compact(reply, _) => drop(reply.send(Err(error))),
        }
    }
}

impl Request {
    fn fail(self, error: Error) {
        match self {
            Request::Write { reply, .. } => drop(reply.send(Err(error))),
            Request::Compact { reply, .. } => drop(reply.send(Err(error))),
        }
    }
}

/// The handle callers use; dropping it lets the thread finish its queue and close the file.
#[derive(Debug)]
pub(crate) struct Writer {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, whose file is at `marks`. `published` is raised to
    /// each committed revision before its callers are answered.
    pub fn start(
        conn: Connection,
        marks: Marks,
        hub: Hub,
        published: Arc<AtomicI64>,
    ) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel();
        let committer = Committer {
            conn,
            marks,
            hub,
            published,
        };
        let thread = std::thread::Builder::new()
            .name("kbatch-store-writer".to_owned())
            .spawn(move || committer.run(queue))?;
        Ok(Writer {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    pub async fn write(&self, op: Op) -> Result<Event> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Write { op, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    pub async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Compact { revision, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn send(&self, request: Request) -> Result<()> {
        self.requests
            .as_ref()
            .ok_or(Error::Closed)?
            .send(request)
            .map_err(|_| Error::Closed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            // The thread answers what is queued, then closes the connection; waiting for it
            // means the file is closed once the store is dropped (a reopen sees a clean file).
            let _ = thread.join();
        }
    }
}

struct Committer {
    conn: Connection,
    marks: Marks,
    hub: Hub,
    published: Arc<AtomicI64>,
}

impl Committer {
    fn run(mut self, queue: mpsc::Receiver<Request>) {
        let mut last_batch = 0;
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            let mut yielded = false;
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    // The callers answered by the last commit are busy sending their next
                    // request. If fewer have arrived than took part last time, give them the
                    // CPU once before committing: with few cores this is what keeps batches
                    // whole instead of splitting writers into two alternating half-batches.
                    // No timer is involved, so a lone writer pays nothing.
                    Err(_) if !yielded && batch.len() < last_batch => {
                        yielded = true;
                        std::thread::yield_now();
                    }
                    Err(_) => break,
                }
            }
            last_batch = batch.len();
            self.commit(batch);
        }
    }

    /// Runs one batch as one transaction and answers every request of it.
    fn commit(&mut self, batch: Vec<Request>) {
        let before = self.marks;
        let mut pending = batch.into_iter();
        let mut decided = Vec::with_capacity(pending.len());
        if let Err(error) = self.transaction(&mut pending, &mut decided) {
            // Nothing of the batch is on disk: every request fails, and the revisions it
            // would have used are handed out again.
            self.marks = before;
            decided.into_iter().for_each(|d| d.fail(error.clone()));
            pending.for_each(|r| r.fail(error.clone()));
            return;
        }
        self.published.store(self.marks.current, Ordering::SeqCst);
        if self.hub.has_watchers() {
            let events = decided.iter().filter_map(|d| match d {
                Decided::Write(_, Ok(event)) => Some(event.clone()),
                _ => None,
            });
            self.hub.publish(events.collect());
        }
        decided.into_iter().for_each(Decided::answer);
    }

    fn transaction(
        &mut self,
        pending: &mut std::vec::IntoIter<Request>,
        decided: &mut Vec<Decided>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for request in pending.by_ref() {
            match request {
                Request::Write { op, reply } => match write(&tx, op, self.marks.current + 1) {
                    Ok(result) => {
                        if result.is_ok() {
                            self.marks.current += 1;
                        }
                        decided.push(Decided::Write(reply, result));
                    }
                    Err(error) => {
                        decided.push(Decided::Write(reply, Err(error.clone())));
                        return Err(error);
                    }
                },
                Request::Compact { revision, reply } => {
                    match compact(&tx, revision, &mut self.marks) {
                        Ok(result) => decided.push(Decided::Compact(reply, result)),
                        Err(error) => {
                            decided.push(Decided::Compact(reply, Err(error.clone())));
                            return Err(error);
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Decides `op` against the current state and appends its row. The outer error is a backend
/// failure that aborts the batch; the inner one is the op's own answer (NotFound, Conflict…).
fn write(tx: &Connection, op: Op, revision: Revision) -> Result<Result<Event>> {
    if let Err(refused) = crate::op::check_key(op.key()) {
        return Ok(Err(refused));
    }
    let live = query::latest_live(tx, op.key())?;
    let event = match op.apply(live, revision) {
        Ok(event) => event,
        Err(refused) => return Ok(Err(refused)),
    };
    tx.prepare_cached(
        "INSERT INTO kv (id, name, deleted, create_revision, prev_revision, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![
        revision,
        event.kv.key.as_bytes(),
        event.kind == crate::EventKind::Delete,
        event.kv.create_revision,
        event.prev.as_ref().map_or(0, |p| p.mod_revision),
        event.kv.value,
    ])?;
    Ok(Ok(event))
}

/// kine's compaction: delete every row superseded by a row at or below `revision`, and every
/// tombstone at or below it. Only rows above the previous compaction point can supersede rows
/// not yet deleted, so the scan covers that range alone. What stays is the state at `revision`
/// (the latest version of every key live then), every later row, and each later row's
/// predecessor, which its watch event reports as `prev`.
fn compact(tx: &Connection, revision: Revision, marks: &mut Marks) -> Result<Result<()>> {
    if revision <= marks.compacted {
        return Ok(Ok(()));
    }
    if let Err(refused) = check_readable(revision, marks.current, marks.compacted) {
        return Ok(Err(refused));
    }
    let range = rusqlite::params![marks.compacted, revision];
    tx.prepare_cached(
        "DELETE FROM kv WHERE id IN (
             SELECT prev_revision FROM kv WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)",
    )?
    .execute(range)?;
    tx.prepare_cached("DELETE FROM kv WHERE id > ?1 AND id <= ?2 AND deleted = 1")?
        .execute(range)?;
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compact_revision'")?
        .execute([revision])?;
    marks.compacted = revision;
    Ok(Ok(()))
}
