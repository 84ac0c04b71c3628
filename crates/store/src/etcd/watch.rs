//! Watches on etcd's own watch: one gRPC watch stream per store watch, over the prefix's range,
//! from `after + 1`, with `prev_kv` (the replaced version every update and delete event
//! carries) and progress notifications.
//!
//! Like clientv3's watcher, a watch survives the loss of its etcd member: when the stream
//! breaks it is opened again from the revision after the last one delivered, against whichever
//! member answers, so the consumer sees every event once and in order. Progress notifications
//! move that resume point forward while nothing under the prefix changes, so an idle watch is
//! not needlessly told Compacted after a restart. Only etcd's compaction overtaking the resume
//! point ends the stream, with `Err(Compacted)` — as the other backends' watches end.

use std::collections::VecDeque;
use std::sync::Arc;

use etcd_client::proto::{PbEvent, PbWatchResponse};
use etcd_client::{GetOptions, WatchOptions};
use futures::StreamExt;

use super::Inner;
use super::errors::Failure;
use crate::{Error, Event, EventKind, KeyValue, Result, Revision, WatchStream};

/// etcd's event types (`mvccpb.Event_EventType`).
const PUT: i32 = 0;
const DELETE: i32 = 1;

/// Starts a watch of `prefix` after `after`; a compacted `after` fails the call itself, so the
/// API server can answer 410 before it streams.
pub(crate) async fn watch(inner: Arc<Inner>, prefix: &str, after: Revision) -> Result<WatchStream> {
    check_kept(&inner, after).await?;
    let mut state = State {
        inner,
        prefix: prefix.to_owned(),
        last: after,
        open: None,
        pending: VecDeque::new(),
        failure: None,
        done: false,
    };
    // Each member gets one chance before the caller hears that etcd is unavailable.
    let mut attempt = 0;
    loop {
        match state.open().await {
            Ok(()) => break,
            Err(Error::Unavailable(_)) if attempt + 1 < state.inner.members.len() => attempt += 1,
            Err(error) => return Err(error),
        }
    }
    Ok(futures::stream::unfold(state, |mut state| async move {
        state.next().await.map(|item| (item, state))
    })
    .boxed())
}

/// Fails with Compacted when events after `after` are no longer all kept. etcd itself would
/// start a watch at `after + 1` when the compaction point is exactly `after + 1` (the state
/// there is kept, the event that produced it is not): the store's rule is the stricter one
/// the other backends follow, so it is checked with a read at `after`.
async fn check_kept(inner: &Inner, after: Revision) -> Result<()> {
    let at = after.max(1);
    let read = inner
        .retry(false, |member| {
            let mut kv = member.kv.clone();
            let key = inner.keys.key("");
            async move {
                kv.get(
                    key,
                    Some(GetOptions::new().with_count_only().with_revision(at)),
                )
                .await
            }
        })
        .await;
    match read {
        // A watch from the future waits for it, as on the other backends.
        Ok(_) | Err(Failure::FutureRevision) => Ok(()),
        Err(failure) => Err(inner.revision_error(failure, Some(after)).await),
    }
}

struct State {
    inner: Arc<Inner>,
    prefix: String,
    /// Every event up to this revision has been delivered (or lies before the start).
    last: Revision,
    /// The etcd watch and the member serving it (the stream holds both directions of the
    /// watch: dropping it ends the watch in etcd).
    open: Option<(usize, etcd_client::WatchStream)>,
    pending: VecDeque<Event>,
    /// The error that ends the stream, once the events before it in the same response are
    /// delivered.
    failure: Option<Error>,
    done: bool,
}

impl State {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.revision();
                return Some(Ok(event));
            }
            if let Some(error) = self.failure.take() {
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            let Some((member, stream)) = self.open.as_mut() else {
                if let Err(error) = self.reopen().await {
                    return Some(Err(self.finish(error)));
                }
                continue;
            };
            match stream.message().await {
                // An event of a response can fail (its prev_kv compacted away) after earlier
                // ones were taken: those come first, then the error, then the end.
                Ok(Some(response)) => {
                    if let Err(error) = self.take(response.0).await {
                        self.failure = Some(self.finish(error));
                    }
                }
                // The member went away (a closed stream, a reset connection, a lost leader):
                // resume on the next one.
                Ok(None) => {
                    self.inner.members.failed(*member);
                    self.open = None;
                }
                Err(error) => match Failure::of(&error) {
                    Failure::Unavailable { .. } => {
                        self.inner.members.failed(*member);
                        self.open = None;
                    }
                    failure => return Some(Err(self.finish(failure.into_error()))),
                },
            }
        }
    }

    fn finish(&mut self, error: Error) -> Error {
        self.done = true;
        self.open = None;
        error
    }

    /// Opens the etcd watch from the revision after the last delivered one and waits until
    /// etcd has created it (etcd announces a watch before it sends any of its events).
    async fn open(&mut self) -> Result<()> {
        let (start, end) = self.inner.keys.range(&self.prefix);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(self.last + 1)
            .with_prev_key()
            .with_progress_notify();
        let (member, clients) = self.inner.members.pinned();
        let mut client = clients.watch.clone();
        let opened = async {
            let mut stream = client.watch(start, Some(options)).await?;
            let created = stream.message().await?;
            Ok::<_, etcd_client::Error>((stream, created))
        };
        let (stream, created) = match opened.await {
            Ok((stream, Some(created))) => (stream, created),
            Ok((_, None)) => {
                self.inner.members.failed(member);
                return Err(Error::Unavailable(
                    "etcd closed a watch it was creating".into(),
                ));
            }
            Err(error) => {
                let failure = Failure::of(&error);
                if matches!(failure, Failure::Unavailable { .. }) {
                    self.inner.members.failed(member);
                }
                return Err(failure.into_error());
            }
        };
        self.take(created.0).await?;
        self.open = Some((member, stream));
        Ok(())
    }

    /// Opens the watch again after its member went away, on the next member, for as long as
    /// it takes (clientv3 does the same); only a refusal or compaction ends the stream.
    async fn reopen(&mut self) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.open().await {
                Ok(()) => return Ok(()),
                Err(Error::Unavailable(_)) => {
                    tokio::time::sleep(self.inner.members.pause(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Takes one watch response: its events, a progress notification, or the cancellation.
    async fn take(&mut self, response: PbWatchResponse) -> Result<()> {
        if response.compact_revision > 0 {
            return Err(Error::Compacted {
                requested: self.last,
                compacted: response.compact_revision,
            });
        }
        if response.canceled {
            return Err(Error::Etcd(format!(
                "etcd cancelled the watch of {:?}: {}",
                self.prefix, response.cancel_reason
            )));
        }
        if response.events.is_empty() {
            if !response.created
                && let Some(header) = response.header
            {
                // A progress notification: everything up to the header's revision was sent.
                self.last = self.last.max(header.revision);
            }
            return Ok(());
        }
        for event in response.events {
            let event = self.event(event).await?;
            // A resumed watch may repeat what was already delivered.
            if event.revision() > self.last {
                self.pending.push_back(event);
            }
        }
        Ok(())
    }

    async fn event(&self, event: PbEvent) -> Result<Event> {
        let keys = &self.inner.keys;
        let kv = event
            .kv
            .ok_or_else(|| Error::Corrupt("etcd sent a watch event without a key".to_owned()))?;
        let revision = kv.mod_revision;
        let created = event.r#type == PUT && kv.create_revision == kv.mod_revision;
        let prev = match event.prev_kv {
            Some(prev) => Some(keys.key_value(prev)?),
            None if created => None,
            // etcd reads prev_kv at revision - 1 when it sends the event; compaction got there
            // first (Kubernetes' etcd3 watcher fails the same way).
            None => {
                let requested = revision - 1;
                return Err(match self.inner.compacted_revision(requested).await {
                    Ok(compacted) => Error::Compacted {
                        requested,
                        compacted,
                    },
                    Err(error) => error,
                });
            }
        };
        let key = keys.store_key(&kv.key)?;
        match event.r#type {
            PUT => Ok(Event {
                kind: if created {
                    EventKind::Create
                } else {
                    EventKind::Update
                },
                kv: KeyValue {
                    key,
                    value: kv.value,
                    create_revision: kv.create_revision,
                    mod_revision: revision,
                },
                prev,
            }),
            DELETE => Ok(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Vec::new(),
                    // etcd's tombstone carries no create_revision; the deleted version does.
                    create_revision: prev.as_ref().map_or(0, |p| p.create_revision),
                    mod_revision: revision,
                },
                prev,
            }),
            other => Err(Error::Corrupt(format!(
                "etcd sent watch event type {other}"
            ))),
        }
    }
}
