//! The informer over a registry on the in-memory store: the initial list, live changes, and
//! the relist after its watch fell behind compaction (410).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kbatch_api::clock::SystemClock;
use kbatch_api::registry::{DeleteOptions, Registry, WriteOptions};
use kbatch_controllers::runtime::{Change, Informer};
use kbatch_core::object::{Object, POD};
use kbatch_store::MemoryStore;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

async fn registry(store: MemoryStore) -> Registry {
    let registry = Registry::new(Arc::new(store), Arc::new(SystemClock));
    registry.bootstrap().await.unwrap();
    registry
}

fn pod(name: &str, color: &str) -> Object {
    let json = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"color": color}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    });
    Object::Pod(serde_json::from_value::<Pod>(json).unwrap())
}

fn color(obj: &Object) -> String {
    obj.metadata()
        .labels
        .as_ref()
        .and_then(|l| l.get("color").cloned())
        .unwrap_or_default()
}

async fn create(r: &Registry, obj: Object) {
    r.create(&POD, "default", obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap();
}

async fn recolor(r: &Registry, name: &str, to: &str) {
    let mut obj = r.get(&POD, "default", name).await.unwrap();
    obj.metadata_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert("color".into(), to.into());
    r.update(
        &POD,
        "default",
        name,
        obj,
        &WriteOptions::default(),
        Vec::new(),
    )
    .await
    .unwrap();
}

async fn delete(r: &Registry, name: &str) {
    let opts = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    r.delete(&POD, "default", name, &opts).await.unwrap();
}

/// An informer of pods whose handler reports each change as a line.
fn informer(r: &Registry) -> (Informer, UnboundedReceiver<String>) {
    let informer = Informer::new(r.clone(), POD);
    let (tx, rx) = unbounded_channel();
    informer.add_handler(move |change| {
        let line = match change {
            Change::Added(o) => format!("added {} {}", o.name(), color(o)),
            Change::Updated { old, new } => {
                format!("updated {} {}->{}", new.name(), color(old), color(new))
            }
            Change::Deleted(o) => format!("deleted {} {}", o.name(), color(o)),
        };
        let _ = tx.send(line);
    });
    (informer, rx)
}

async fn next_lines(rx: &mut UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..n {
        lines.push(rx.recv().await.unwrap());
    }
    lines.sort();
    lines
}

fn cached(informer: &Informer) -> Vec<String> {
    let mut list: Vec<String> = informer
        .list()
        .iter()
        .map(|o| format!("{} {}", o.name(), color(o)))
        .collect();
    list.sort();
    list
}

#[tokio::test]
async fn the_first_list_fills_the_cache_and_marks_it_synced() {
    let r = registry(MemoryStore::new()).await;
    create(&r, pod("a", "red")).await;
    create(&r, pod("b", "blue")).await;
    let (informer, mut rx) = informer(&r);
    assert!(!informer.has_synced());
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    assert!(informer.has_synced());
    assert_eq!(cached(&informer), ["a red", "b blue"]);
    assert_eq!(
        next_lines(&mut rx, 2).await,
        ["added a red", "added b blue"]
    );
    let a = informer.get("default", "a").unwrap();
    assert_eq!(a.metadata().namespace.as_deref(), Some("default"));
    assert!(informer.get("default", "nope").is_none());
    assert!(informer.get("other", "a").is_none());
}

#[tokio::test]
async fn live_changes_reach_the_cache_and_the_handlers() {
    let r = registry(MemoryStore::new()).await;
    create(&r, pod("a", "red")).await;
    let (informer, mut rx) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    assert_eq!(next_lines(&mut rx, 1).await, ["added a red"]);

    create(&r, pod("b", "blue")).await;
    assert_eq!(next_lines(&mut rx, 1).await, ["added b blue"]);
    recolor(&r, "a", "green").await;
    assert_eq!(next_lines(&mut rx, 1).await, ["updated a red->green"]);
    delete(&r, "b").await;
    assert_eq!(next_lines(&mut rx, 1).await, ["deleted b blue"]);
    assert_eq!(cached(&informer), ["a green"]);
}

#[tokio::test]
async fn a_handler_added_later_first_sees_the_cache() {
    let r = registry(MemoryStore::new()).await;
    create(&r, pod("a", "red")).await;
    let (informer, mut first) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    assert_eq!(next_lines(&mut first, 1).await, ["added a red"]);
    let (tx, mut late) = unbounded_channel();
    informer.add_handler(move |change| {
        if let Change::Added(o) | Change::Updated { new: o, .. } = change {
            let _ = tx.send(format!("{} {}", o.name(), color(o)));
        }
    });
    assert_eq!(next_lines(&mut late, 1).await, ["a red"]);
    recolor(&r, "a", "green").await;
    assert_eq!(next_lines(&mut late, 1).await, ["a green"]);
}

/// A watch that falls behind a compaction ends with 410 Gone; the informer lists again and
/// reports what it missed as adds, updates and deletes.
#[tokio::test]
async fn a_watch_expired_by_compaction_is_replaced_by_a_new_list() {
    // A live watcher may fall one write behind before it re-reads the log.
    let store = MemoryStore::with_watch_buffer(1);
    let r = registry(store.clone()).await;
    create(&r, pod("a", "red")).await;
    create(&r, pod("b", "blue")).await;
    let (informer, mut rx) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    assert_eq!(
        next_lines(&mut rx, 2).await,
        ["added a red", "added b blue"]
    );

    // The test's single-threaded runtime does not run the informer until the test awaits
    // something pending, so all of this happens behind its back.
    create(&r, pod("c", "white")).await;
    recolor(&r, "a", "green").await;
    recolor(&r, "a", "yellow").await;
    create(&r, pod("t", "grey")).await;
    delete(&r, "t").await;
    delete(&r, "b").await;
    let now = kbatch_store::Store::current_revision(&store).await.unwrap();
    kbatch_store::Store::compact(&store, now).await.unwrap();
    assert_eq!(cached(&informer), ["a red", "b blue"]);

    // Only the difference between the two lists: no intermediate colour of "a", nothing of
    // the short-lived "t" (live events would have shown both).
    assert_eq!(
        next_lines(&mut rx, 3).await,
        ["added c white", "deleted b blue", "updated a red->yellow"]
    );
    assert_eq!(cached(&informer), ["a yellow", "c white"]);
    assert!(informer.has_synced());
    // And it watches on after the relist; nothing else came before this.
    create(&r, pod("d", "black")).await;
    assert_eq!(next_lines(&mut rx, 1).await, ["added d black"]);
}

fn by_color(obj: &Object) -> Vec<String> {
    vec![color(obj)]
}

fn indexed(informer: &Informer, key: &str) -> Vec<String> {
    informer
        .by_index("color", key)
        .iter()
        .map(|o| o.name().to_owned())
        .collect()
}

/// An index follows every change: adds, updates that move an object to another key,
/// deletes, and a relist after the watch expired. Reads come out by name.
#[tokio::test]
async fn an_index_follows_changes_and_relists() {
    let store = MemoryStore::with_watch_buffer(1);
    let r = registry(store.clone()).await;
    create(&r, pod("b", "red")).await;
    let (informer, mut rx) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    // Added to a synced informer: built from what it holds.
    informer.add_index("color", by_color);
    assert_eq!(indexed(&informer, "red"), ["b"]);
    assert_eq!(next_lines(&mut rx, 1).await, ["added b red"]);

    create(&r, pod("a", "red")).await;
    create(&r, pod("c", "blue")).await;
    next_lines(&mut rx, 2).await;
    assert_eq!(indexed(&informer, "red"), ["a", "b"]);
    recolor(&r, "b", "blue").await;
    next_lines(&mut rx, 1).await;
    assert_eq!(indexed(&informer, "red"), ["a"]);
    assert_eq!(indexed(&informer, "blue"), ["b", "c"]);
    delete(&r, "c").await;
    next_lines(&mut rx, 1).await;
    assert_eq!(indexed(&informer, "blue"), ["b"]);
    assert!(indexed(&informer, "green").is_empty());
    assert!(informer.by_index("no such index", "red").is_empty());

    // Behind the informer's back, then a relist.
    recolor(&r, "a", "green").await;
    recolor(&r, "b", "green").await;
    create(&r, pod("d", "red")).await;
    let now = kbatch_store::Store::current_revision(&store).await.unwrap();
    kbatch_store::Store::compact(&store, now).await.unwrap();
    next_lines(&mut rx, 3).await;
    assert_eq!(indexed(&informer, "green"), ["a", "b"]);
    assert_eq!(indexed(&informer, "red"), ["d"]);
    assert!(indexed(&informer, "blue").is_empty());
}

/// `wait_for_revision` returns once the cache shows a write of its kind at that revision,
/// and at once for one it already shows.
#[tokio::test]
async fn waiting_for_a_revision_waits_for_that_write() {
    let r = registry(MemoryStore::new()).await;
    let (informer, _rx) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    let written = r
        .create(
            &POD,
            "default",
            pod("a", "red"),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    let revision: i64 = written
        .object
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    // The single-threaded runtime has not run the informer since the write.
    assert!(informer.get("default", "a").is_none());
    informer.wait_for_revision(revision).await;
    assert_eq!(cached(&informer), ["a red"]);
    assert!(informer.applied_revision() >= revision);
    informer.wait_for_revision(revision - 1).await;
}

/// The cache keeps no managedFields (client-go's `TransformStripManagedFields`), from the
/// first list and from live events alike; the store keeps them.
#[tokio::test]
async fn cached_objects_have_no_managed_fields() {
    let r = registry(MemoryStore::new()).await;
    let opts = WriteOptions {
        field_manager: Some("kubectl-create".into()),
        ..Default::default()
    };
    r.create(&POD, "default", pod("listed", "red"), &opts, Vec::new())
        .await
        .unwrap();
    let (informer, mut rx) = informer(&r);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    r.create(&POD, "default", pod("live", "blue"), &opts, Vec::new())
        .await
        .unwrap();
    next_lines(&mut rx, 2).await;
    for name in ["listed", "live"] {
        let stored = r.get(&POD, "default", name).await.unwrap();
        assert!(stored.metadata().managed_fields.is_some(), "{name}");
        let cached = informer.get("default", name).unwrap();
        assert_eq!(cached.metadata().managed_fields, None, "{name}");
        assert_eq!(color(&cached), color(&stored));
    }
}
