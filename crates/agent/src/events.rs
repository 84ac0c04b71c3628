//! A pod's events, written in the order they were recorded by a task of their own, off the
//! pod worker's path. kubelet's recorder does not wait for its writes either (client-go's
//! `record.EventRecorder` queues each event for its broadcaster), and here a container's
//! start no longer waits for the write of its `Pulled` event. One writer per pod keeps a
//! pod's events in order while different pods' events are written side by side.
//!
//! The worker waits for the events it has queued before it writes the pod's status
//! ([`PodEvents::flush`]): whoever sees a status can read the events that led to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kbatch_api::registry::EventSpec;
use tokio::sync::{mpsc, oneshot};

use crate::api::NodeApi;

enum Queued {
    Event(Box<EventSpec>),
    Flush(oneshot::Sender<()>),
}

/// One pod's event writer; it ends once this is dropped and its queue is written.
#[derive(Debug)]
pub(crate) struct PodEvents {
    tx: mpsc::UnboundedSender<Queued>,
    /// Events queued and not yet written (or given up on).
    unwritten: Arc<AtomicUsize>,
}

impl PodEvents {
    /// Starts the writer (on the current tokio runtime); `pod` names it in the log.
    pub(crate) fn new(api: Arc<dyn NodeApi>, pod: String) -> PodEvents {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let unwritten = Arc::new(AtomicUsize::new(0));
        let count = unwritten.clone();
        tokio::spawn(async move {
            while let Some(queued) = rx.recv().await {
                match queued {
                    Queued::Event(spec) => {
                        if let Err(e) = api.record_event(*spec).await {
                            tracing::debug!(pod = %pod, error = %e, "recording an event");
                        }
                        count.fetch_sub(1, Ordering::AcqRel);
                    }
                    Queued::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        PodEvents { tx, unwritten }
    }

    /// Queues an event; a repeat of a recent one bumps its count when it is written.
    pub(crate) fn record(&self, spec: EventSpec) {
        self.unwritten.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(Queued::Event(Box::new(spec))).is_err() {
            self.unwritten.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Returns once every event queued before it has been written or given up on.
    pub(crate) async fn flush(&self) {
        if self.unwritten.load(Ordering::Acquire) == 0 {
            return;
        }
        let (done, written) = oneshot::channel();
        if self.tx.send(Queued::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{List, Result};
    use async_trait::async_trait;
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use kbatch_api::registry::WatchStream;
    use kbatch_core::object::{Kind, Object};
    use std::sync::Mutex;
    use tokio::sync::Semaphore;

    /// Records the events' reasons; each write waits for a permit.
    #[derive(Debug)]
    struct Slow {
        written: Mutex<Vec<String>>,
        permits: Semaphore,
    }

    #[async_trait]
    impl NodeApi for Slow {
        async fn get(&self, _: &Kind, _: &str, _: &str) -> Result<Object> {
            unreachable!()
        }
        async fn list(&self, _: &Kind, _: Option<&str>) -> Result<List> {
            unreachable!()
        }
        async fn watch(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<WatchStream> {
            unreachable!()
        }
        async fn create(&self, _: &Kind, _: &str, _: Object) -> Result<Object> {
            unreachable!()
        }
        async fn update(&self, _: &Kind, _: &str, _: &str, _: Object) -> Result<Object> {
            unreachable!()
        }
        async fn update_status(&self, _: &Kind, _: &str, _: &str, _: Object) -> Result<Object> {
            unreachable!()
        }
        async fn delete_pod(&self, _: &str, _: &str, _: Option<&str>) -> Result<()> {
            unreachable!()
        }
        async fn record_event(&self, spec: EventSpec) -> Result<()> {
            self.permits.acquire().await.unwrap().forget();
            self.written.lock().unwrap().push(spec.reason);
            Ok(())
        }
        async fn create_token(&self, _: &str, _: &str, _: TokenRequest) -> Result<TokenRequest> {
            unreachable!()
        }
    }

    fn event(reason: &str) -> EventSpec {
        EventSpec {
            involved: Default::default(),
            type_: "Normal".into(),
            reason: reason.into(),
            message: String::new(),
            component: "kubelet".into(),
            host: None,
        }
    }

    #[tokio::test]
    async fn recording_does_not_wait_and_a_flush_waits_for_every_event_in_order() {
        let api = Arc::new(Slow {
            written: Mutex::new(Vec::new()),
            permits: Semaphore::new(0),
        });
        let events = PodEvents::new(api.clone(), "p".into());
        events.record(event("Pulled"));
        events.record(event("Created"));
        events.record(event("Started"));
        tokio::task::yield_now().await;
        assert!(
            api.written.lock().unwrap().is_empty(),
            "nothing written yet"
        );
        let flushed = events.flush();
        tokio::pin!(flushed);
        assert!(
            futures::poll!(&mut flushed).is_pending(),
            "a flush waits for the writes"
        );
        api.permits.add_permits(3);
        flushed.await;
        assert_eq!(
            *api.written.lock().unwrap(),
            ["Pulled", "Created", "Started"]
        );
        // Nothing queued: a flush returns at once.
        events.flush().await;
    }
}
