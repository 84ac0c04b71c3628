//! Watches: replay of the kept log, then live events pushed by the writer.
//!
//! The writer publishes each committed batch of events right after the commit (no polling,
//! unlike kine's 1 s poll loop), on one broadcast channel per watched prefix that the batch
//! touches: a watcher wakes only for batches with events under its prefix, and a burst of writes
//! elsewhere cannot make it lag. A watcher subscribes *before* it replays the
//! log, so every event is either already committed when the replay reads (and found there) or
//! published after the subscription (and received live); duplicates are dropped by revision.
//! A watcher too slow for the channel's buffer is not cut off: it re-reads the log from the last
//! revision it delivered, which fails with Compacted only if compaction overtook it — the
//! behaviour etcd gives a slow watcher.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::{Event, Result, Revision, WatchStream};

/// How many events one replay read returns at most.
const REPLAY_PAGE: usize = 1000;

/// Default number of committed batches a live watcher may fall behind before it re-reads the log.
pub(crate) const DEFAULT_BUFFER: usize = 1024;

/// Reads the kept log for watchers.
#[async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` events for keys under `prefix` with revision > `after`, in revision order;
    /// [`crate::Error::Compacted`] if `after` is older than the kept history.
    async fn events_after(&self, prefix: &str, after: Revision, limit: usize)
    -> Result<Vec<Event>>;
}

/// The writer's side: publishes committed events to the live watchers they concern.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    /// Batches each channel holds for its slowest watcher.
    buffer: usize,
    /// One channel per watched prefix, shared by that prefix's watchers. A few dozen at most
    /// (one per informer and API watch), so a batch is matched against each in turn.
    channels: Arc<Mutex<Vec<Channel>>>,
}

#[derive(Debug)]
struct Channel {
    prefix: String,
    sender: broadcast::Sender<Arc<[Event]>>,
}

impl Hub {
    pub fn new(buffer: usize) -> Self {
        Hub {
            // tokio refuses a capacity of 0 or beyond usize::MAX / 2; any setting must still
            // open.
            buffer: buffer.clamp(1, 1 << 20),
            channels: Arc::default(),
        }
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, Vec<Channel>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether anyone listens, so the writer can skip cloning events for nobody.
    pub fn has_watchers(&self) -> bool {
        self.channels()
            .iter()
            .any(|c| c.sender.receiver_count() > 0)
    }

    /// Publishes one committed batch, in revision order, to every prefix it has an event under.
    /// The whole batch goes to each: the watcher keeps what is under its prefix.
    pub fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let batch: Arc<[Event]> = events.into();
        let mut channels = self.channels();
        channels.retain(|c| c.sender.receiver_count() > 0);
        for c in channels.iter() {
            if batch.iter().any(|e| e.kv.key.starts_with(&c.prefix)) {
                // An error only means that its last watcher has just gone.
                let _ = c.sender.send(batch.clone());
            }
        }
    }

    /// A receiver on `prefix`'s channel, made if it has none.
    fn subscribe(&self, prefix: &str) -> broadcast::Receiver<Arc<[Event]>> {
        let mut channels = self.channels();
        if let Some(c) = channels.iter().find(|c| c.prefix == prefix) {
            return c.sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(self.buffer);
        channels.push(Channel {
            prefix: prefix.to_owned(),
            sender,
        });
        receiver
    }

    /// Starts a watch of `prefix` after revision `after`. The first replay page is read here so
    /// that a compacted start revision fails the call itself (the API server answers 410 before
    /// it starts streaming).
    pub async fn watch(
        &self,
        history: Arc<dyn History>,
        prefix: &str,
        after: Revision,
    ) -> Result<WatchStream> {
        let live = self.subscribe(prefix);
        let first = history.events_after(prefix, after, REPLAY_PAGE).await?;
        let mut watcher = Watcher {
            history,
            live,
            prefix: prefix.to_owned(),
            last: after,
            pending: VecDeque::new(),
            replaying: true,
            failed: false,
        };
        watcher.take_replay(first);
        Ok(futures::stream::unfold(watcher, |mut w| async move {
            w.next().await.map(|item| (item, w))
        })
        .boxed())
    }
}

struct Watcher {
    history: Arc<dyn History>,
    live: broadcast::Receiver<Arc<[Event]>>,
    prefix: String,
    /// The revision up to which the log has been read, from the replay or the live channel,
    /// whether or not its events were under the prefix (or the start revision). A replay after
    /// a lag starts there.
    last: Revision,
    pending: VecDeque<Event>,
    /// True while the log holds events the watcher has not read yet.
    replaying: bool,
    failed: bool,
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.failed {
                return None;
            }
            if self.replaying {
                match self
                    .history
                    .events_after(&self.prefix, self.last, REPLAY_PAGE)
                    .await
                {
                    Ok(page) => self.take_replay(page),
                    Err(error) => {
                        self.failed = true;
                        return Some(Err(error));
                    }
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => {
                    let newer = batch
                        .iter()
                        .filter(|e| e.revision() > self.last && e.kv.key.starts_with(&self.prefix));
                    self.pending.extend(newer.cloned());
                    if let Some(e) = batch.last() {
                        self.last = self.last.max(e.revision());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.replaying = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn take_replay(&mut self, page: Vec<Event>) {
        // A short page means the log is read up to what had been committed when it was read;
        // everything later arrives on the live channel, subscribed before that read.
        self.replaying = page.len() >= REPLAY_PAGE;
        if let Some(e) = page.last() {
            self.last = self.last.max(e.revision());
        }
        self.pending.extend(page);
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;
    use crate::{EventKind, KeyValue};

    /// A log in memory that records where each replay started.
    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<Event>>,
        replays_from: Mutex<Vec<Revision>>,
    }

    #[async_trait]
    impl History for Log {
        async fn events_after(
            &self,
            prefix: &str,
            after: Revision,
            limit: usize,
        ) -> Result<Vec<Event>> {
            self.replays_from.lock().unwrap().push(after);
            let events = self.events.lock().unwrap();
            Ok(events
                .iter()
                .filter(|e| e.revision() > after && e.kv.key.starts_with(prefix))
                .take(limit)
                .cloned()
                .collect())
        }
    }

    fn write(log: &Log, hub: &Hub, key: &str, revision: Revision) {
        let event = Event {
            kind: EventKind::Create,
            kv: KeyValue {
                key: key.to_owned(),
                value: vec![1],
                create_revision: revision,
                mod_revision: revision,
            },
            prev: None,
        };
        log.events.lock().unwrap().push(event.clone());
        hub.publish(vec![event]);
    }

    #[tokio::test]
    async fn writes_elsewhere_never_make_a_watcher_lag() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(2);
        let mut watch = hub.watch(log.clone(), "/quiet/", 0).await.unwrap();
        write(&log, &hub, "/quiet/a", 1);
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), 1);
        // Far more writes elsewhere than the channel holds, none of them read by the watcher.
        for revision in 2..=9 {
            write(&log, &hub, "/busy/x", revision);
        }
        assert!(watch.next().now_or_never().is_none());
        write(&log, &hub, "/quiet/b", 10);
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), 10);
        assert_eq!(
            log.replays_from.lock().unwrap()[..],
            [0],
            "only the watch's own start reads the log"
        );
    }

    #[tokio::test]
    async fn a_lagging_watcher_replays_from_what_it_last_read() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(2);
        let mut watch = hub.watch(log.clone(), "/w/", 0).await.unwrap();
        let mut other = hub.watch(log.clone(), "/w/", 0).await.unwrap();
        write(&log, &hub, "/w/a", 1);
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), 1);
        // More writes under the prefix than the channel holds: the watcher lags.
        for revision in 2..=6 {
            write(&log, &hub, "/w/a", revision);
        }
        for expected in 2..=6 {
            assert_eq!(watch.next().await.unwrap().unwrap().revision(), expected);
        }
        assert_eq!(
            log.replays_from.lock().unwrap()[..],
            [0, 0, 1],
            "the two watches' starts, then the lagging one's replay from revision 1"
        );
        // A second watcher of the same prefix shares the channel and lags on its own.
        for expected in 1..=6 {
            assert_eq!(other.next().await.unwrap().unwrap().revision(), expected);
        }
    }
}
