//! The in-memory backend against the conformance suite, plus its own knobs.

use std::sync::Arc;

use futures::StreamExt;
use kbatch_store::{MemoryStore, Store};

fn fresh() -> (Arc<dyn Store>, ()) {
    (Arc::new(MemoryStore::new()), ())
}

kbatch_store::conformance_tests!(fresh);

#[tokio::test]
async fn slow_watcher_catches_up_from_the_log() {
    // With a live buffer of 4 writes, a watcher that reads nothing while 100 writes happen has
    // lagged; it must still see every event once, in order.
    let store = MemoryStore::with_watch_buffer(4);
    let mut watch = store.watch("/k/", 0).await.unwrap();
    for i in 0..100 {
        store.create(&format!("/k/{i}"), vec![1]).await.unwrap();
    }
    for expected in 1..=100 {
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(event.revision(), expected);
    }
}
