//! The behaviour every backend must show, as one suite run against each of them: each backend's
//! test file invokes [`conformance_tests!`](crate::conformance_tests) with its factory.
//!
//! Each case is an `async fn(Arc<dyn Store>)` that panics on a violation; it gets a fresh, empty
//! store that nothing else writes to. Cases check behaviour only — never timing. Revisions are
//! checked relative to the store's revision when the case starts (0 for the embedded backends,
//! 1 for a fresh etcd): with no other writer, every write takes exactly the next one.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::{Error, Event, EventKind, ListOptions, Revision, Store, WatchStream};

/// Generates one `#[test]` per conformance case. `$factory` is an expression of a type that
/// implements `Fn() -> (Arc<dyn Store>, G)`: a fresh empty store plus a guard (a temporary
/// directory, a server handle) kept alive until the case ends.
///
/// ```ignore
/// kbatch_store::conformance_tests!(|| (Arc::new(MemoryStore::new()) as Arc<dyn Store>, ()));
/// ```
///
/// A backend that must be reached asynchronously (etcd) passes `async $factory`, a
/// `Fn() -> impl Future<Output = Option<(Arc<dyn Store>, G)>>` run inside the case's runtime;
/// `None` skips the case (the factory says why, e.g. no etcd binary on this machine).
#[macro_export]
macro_rules! conformance_tests {
    (async $factory:expr) => {
        $crate::conformance_tests!(@cases run_case_async $factory);
    };
    ($factory:expr) => {
        $crate::conformance_tests!(@cases run_case $factory);
    };
    (@cases $run:ident $factory:expr) => {
        $crate::conformance_tests!(@each $run $factory;
            create_then_get,
            create_existing_is_already_exists,
            missing_key_is_not_found,
            update_compares_revisions,
            delete_compares_revisions,
            recreate_after_delete,
            revisions_increase_by_one_per_write,
            invalid_keys_are_refused,
            list_respects_prefix_boundaries,
            list_skips_deleted_keys,
            list_larger_than_a_grpc_message,
            list_at_old_revision,
            list_pages_form_one_snapshot,
            list_page_boundaries,
            list_rejects_bad_continue_tokens,
            list_refuses_future_revision,
            watch_replays_then_follows,
            watch_filters_by_prefix,
            watch_reports_tombstones,
            watch_from_now_sees_only_new_events,
            compaction_drops_old_history,
            compaction_keeps_live_keys,
            compaction_expires_continue_tokens,
            compaction_refuses_future_revision,
            compacted_watcher_is_told,
            concurrent_writers,
            watch_sees_concurrent_writes_in_order,
        );
    };
    (@each $run:ident $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$run(&$factory, $crate::conformance::$case);
            }
        )*
    };
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs one case on a fresh store from `factory`, on a multi-threaded runtime (some cases race
/// writers against each other).
pub fn run_case<F, G, C, Fut>(factory: &F, case: C)
where
    F: Fn() -> (Arc<dyn Store>, G),
    C: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = runtime();
    let (store, guard) = factory();
    runtime.block_on(case(store));
    drop(guard);
}

/// [`run_case`] for a factory that connects asynchronously, inside the case's runtime (a
/// network client's background tasks live there); a factory answering `None` skips the case.
pub fn run_case_async<F, FFut, G, C, Fut>(factory: &F, case: C)
where
    F: Fn() -> FFut,
    FFut: Future<Output = Option<(Arc<dyn Store>, G)>>,
    C: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    runtime().block_on(async {
        let Some((store, guard)) = factory().await else {
            return;
        };
        case(store).await;
        drop(guard);
    });
}

/// A guard against a hung watch: far longer than any correct backend needs, it only turns a
/// hang into a failure.
const HANG: Duration = Duration::from_secs(60);

async fn next(stream: &mut WatchStream) -> Event {
    tokio::time::timeout(HANG, stream.next())
        .await
        .expect("watch hung")
        .expect("watch ended")
        .expect("watch failed")
}

async fn take(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next(stream).await);
    }
    events
}

fn keys(items: &[crate::KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

fn page(limit: usize, token: Option<String>) -> ListOptions {
    ListOptions {
        limit: Some(limit),
        continue_token: token,
        ..ListOptions::default()
    }
}

fn at(revision: Revision) -> ListOptions {
    ListOptions {
        revision: Some(revision),
        ..ListOptions::default()
    }
}

pub async fn create_then_get(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let rev = store.create("/a", b"one".to_vec()).await.unwrap();
    assert_eq!(rev, start + 1);
    let kv = store.get("/a").await.unwrap();
    assert_eq!(kv.key, "/a");
    assert_eq!(kv.value, b"one");
    assert_eq!(kv.create_revision, rev);
    assert_eq!(kv.mod_revision, rev);
    assert_eq!(store.current_revision().await.unwrap(), rev);
}

pub async fn create_existing_is_already_exists(store: Arc<dyn Store>) {
    let rev = store.create("/a", b"one".to_vec()).await.unwrap();
    let err = store.create("/a", b"two".to_vec()).await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { ref key } if key == "/a"),
        "{err}"
    );
    assert_eq!(store.get("/a").await.unwrap().value, b"one");
    assert_eq!(store.current_revision().await.unwrap(), rev);
}

pub async fn missing_key_is_not_found(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let not_found = |e: Error| matches!(e, Error::NotFound { ref key } if key == "/nope");
    assert!(not_found(store.get("/nope").await.unwrap_err()));
    assert!(not_found(
        store.update("/nope", b"x".to_vec(), 1).await.unwrap_err()
    ));
    assert!(not_found(store.delete("/nope", None).await.unwrap_err()));
    assert!(not_found(store.delete("/nope", Some(1)).await.unwrap_err()));
    assert_eq!(store.current_revision().await.unwrap(), start);
}

pub async fn update_compares_revisions(store: Arc<dyn Store>) {
    let created = store.create("/a", b"1".to_vec()).await.unwrap();
    let updated = store.update("/a", b"2".to_vec(), created).await.unwrap();
    assert!(updated > created);
    let err = store
        .update("/a", b"3".to_vec(), created)
        .await
        .unwrap_err();
    match err {
        Error::Conflict {
            key,
            expected,
            actual,
        } => {
            assert_eq!(key, "/a");
            assert_eq!(expected, created);
            assert_eq!(actual, updated);
        }
        other => panic!("expected Conflict, got {other}"),
    }
    let kv = store.get("/a").await.unwrap();
    assert_eq!(kv.value, b"2");
    assert_eq!(kv.create_revision, created);
    assert_eq!(kv.mod_revision, updated);
    assert_eq!(store.current_revision().await.unwrap(), updated);
}

pub async fn delete_compares_revisions(store: Arc<dyn Store>) {
    let a = store.create("/a", b"1".to_vec()).await.unwrap();
    let err = store.delete("/a", Some(a + 100)).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict { expected, actual, .. } if expected == a + 100 && actual == a),
        "{err}"
    );
    let deleted = store.delete("/a", Some(a)).await.unwrap();
    assert!(deleted.revision > a);
    assert_eq!(deleted.prev.value, b"1");
    assert_eq!(deleted.prev.mod_revision, a);
    assert!(matches!(
        store.get("/a").await.unwrap_err(),
        Error::NotFound { .. }
    ));

    let b = store.create("/b", b"x".to_vec()).await.unwrap();
    let b2 = store.update("/b", b"y".to_vec(), b).await.unwrap();
    let unconditional = store.delete("/b", None).await.unwrap();
    assert_eq!(unconditional.prev.value, b"y");
    assert_eq!(unconditional.prev.mod_revision, b2);
    assert_eq!(
        store.current_revision().await.unwrap(),
        unconditional.revision
    );
}

pub async fn recreate_after_delete(store: Arc<dyn Store>) {
    let first = store.create("/a", b"1".to_vec()).await.unwrap();
    store.delete("/a", None).await.unwrap();
    let second = store.create("/a", b"2".to_vec()).await.unwrap();
    let kv = store.get("/a").await.unwrap();
    assert_eq!(kv.create_revision, second);
    assert!(second > first);
    // The old incarnation's revision does not apply to the new one.
    assert!(matches!(
        store.update("/a", b"3".to_vec(), first).await.unwrap_err(),
        Error::Conflict { .. }
    ));
}

pub async fn revisions_increase_by_one_per_write(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut revisions = vec![
        store.create("/a", b"1".to_vec()).await.unwrap(),
        store.create("/b", b"1".to_vec()).await.unwrap(),
    ];
    // Refused writes consume no revision.
    store.create("/a", b"again".to_vec()).await.unwrap_err();
    store.update("/a", b"2".to_vec(), 999).await.unwrap_err();
    revisions.push(
        store
            .update("/a", b"2".to_vec(), revisions[0])
            .await
            .unwrap(),
    );
    revisions.push(store.delete("/b", None).await.unwrap().revision);
    let expected: Vec<Revision> = (start + 1..=start + 4).collect();
    assert_eq!(revisions, expected, "each write takes the next revision");
    assert_eq!(store.current_revision().await.unwrap(), start + 4);
}

pub async fn invalid_keys_are_refused(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let invalid = |e: Error| matches!(e, Error::InvalidKey { .. });
    assert!(invalid(store.create("", b"x".to_vec()).await.unwrap_err()));
    assert!(invalid(
        store.update("", b"x".to_vec(), 1).await.unwrap_err()
    ));
    assert!(invalid(store.delete("", None).await.unwrap_err()));
    assert_eq!(store.current_revision().await.unwrap(), start);
}

pub async fn list_respects_prefix_boundaries(store: Arc<dyn Store>) {
    for key in [
        "/registry/jobs/default/a",
        "/registry/jobs/default/b",
        "/registry/jobs/default2/a",
        "/registry/jobs/defaul",
        "/registry/jobs/default",
        "/registry/jobs/d_fault/x",
        "/registry/jobs/d%/x",
        "/registry/jobs/default/\u{10FFFF}",
        "/registry/cronjobs/default/a",
    ] {
        store.create(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let listed = store
        .list("/registry/jobs/default/", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(
        keys(&listed.items),
        [
            "/registry/jobs/default/a",
            "/registry/jobs/default/b",
            "/registry/jobs/default/\u{10FFFF}"
        ]
    );
    assert_eq!(listed.revision, store.current_revision().await.unwrap());
    assert_eq!(listed.continue_token, None);
    assert_eq!(listed.items[0].value, b"/registry/jobs/default/a");
    // SQL wildcards in a prefix are plain characters.
    let wild = store
        .list("/registry/jobs/d_", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(keys(&wild.items), ["/registry/jobs/d_fault/x"]);
    let all = store.list("", ListOptions::default()).await.unwrap();
    assert_eq!(all.items.len(), 9);
    let sorted: Vec<_> = keys(&all.items).into_iter().collect();
    let mut expected = sorted.clone();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "lists are in key order");
}

pub async fn list_skips_deleted_keys(store: Arc<dyn Store>) {
    store.create("/p/a", b"a".to_vec()).await.unwrap();
    store.create("/p/b", b"b".to_vec()).await.unwrap();
    store.create("/p/c", b"c".to_vec()).await.unwrap();
    store.delete("/p/b", None).await.unwrap();
    let listed = store.list("/p/", ListOptions::default()).await.unwrap();
    assert_eq!(keys(&listed.items), ["/p/a", "/p/c"]);
}

/// A list whose values add up to more than gRPC's default 4 MiB message (a few thousand
/// stored pods) comes back whole, and so do the watch events of as many writes.
pub async fn list_larger_than_a_grpc_message(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let value = vec![b'x'; 256 * 1024];
    for i in 0..20 {
        store
            .create(&format!("/big/{i:02}"), value.clone())
            .await
            .unwrap();
    }
    let listed = store.list("/big/", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 20);
    assert!(listed.items.iter().all(|kv| kv.value == value));
    let mut watch = store.watch("/big/", start).await.unwrap();
    for _ in 0..20 {
        let event = tokio::time::timeout(Duration::from_secs(30), watch.next())
            .await
            .expect("an event in time")
            .expect("the watch goes on")
            .unwrap();
        assert_eq!(event.kind, EventKind::Create);
        assert_eq!(event.kv.value.len(), value.len());
    }
}

pub async fn list_at_old_revision(store: Arc<dyn Store>) {
    let a = store.create("/p/a", b"a1".to_vec()).await.unwrap();
    store.create("/p/b", b"b1".to_vec()).await.unwrap();
    let then = store.current_revision().await.unwrap();
    store.update("/p/a", b"a2".to_vec(), a).await.unwrap();
    store.delete("/p/b", None).await.unwrap();
    store.create("/p/c", b"c1".to_vec()).await.unwrap();

    let old = store.list("/p/", at(then)).await.unwrap();
    assert_eq!(old.revision, then);
    assert_eq!(keys(&old.items), ["/p/a", "/p/b"]);
    assert_eq!(old.items[0].value, b"a1");
    assert_eq!(old.items[0].mod_revision, a);
    assert_eq!(old.items[1].value, b"b1");

    let now = store.list("/p/", ListOptions::default()).await.unwrap();
    assert_eq!(keys(&now.items), ["/p/a", "/p/c"]);
    assert_eq!(now.items[0].value, b"a2");
}

pub async fn list_pages_form_one_snapshot(store: Arc<dyn Store>) {
    let mut revisions = Vec::new();
    for i in 0..10 {
        let key = format!("/p/{i:02}");
        revisions.push(store.create(&key, b"v1".to_vec()).await.unwrap());
    }
    let snapshot = store.current_revision().await.unwrap();
    let first = store.list("/p/", page(3, None)).await.unwrap();
    assert_eq!(keys(&first.items), ["/p/00", "/p/01", "/p/02"]);
    assert_eq!(first.revision, snapshot);

    // Writes between pages: update a key of a later page, delete one, create new keys in and
    // after the range already read, and write outside the prefix.
    store
        .update("/p/05", b"v2".to_vec(), revisions[5])
        .await
        .unwrap();
    store.delete("/p/06", None).await.unwrap();
    store.create("/p/015", b"new".to_vec()).await.unwrap();
    store.create("/p/99", b"new".to_vec()).await.unwrap();
    store.create("/q/00", b"other".to_vec()).await.unwrap();

    let mut all = first.items.clone();
    let mut token = first.continue_token;
    let mut pages = 1;
    while let Some(t) = token {
        let next = store.list("/p/", page(3, Some(t))).await.unwrap();
        assert_eq!(
            next.revision, snapshot,
            "every page is read at the first page's revision"
        );
        all.extend(next.items);
        token = next.continue_token;
        pages += 1;
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..10).map(|i| format!("/p/{i:02}")).collect();
    assert_eq!(keys(&all), expected);
    assert!(all.iter().all(|kv| kv.value == b"v1"));
    assert_eq!(all[5].mod_revision, revisions[5]);
}

pub async fn list_page_boundaries(store: Arc<dyn Store>) {
    for i in 0..6 {
        store
            .create(&format!("/p/{i}"), b"v".to_vec())
            .await
            .unwrap();
    }
    let first = store.list("/p/", page(3, None)).await.unwrap();
    let second = store
        .list("/p/", page(3, first.continue_token.clone()))
        .await
        .unwrap();
    assert_eq!(keys(&second.items), ["/p/3", "/p/4", "/p/5"]);
    assert_eq!(second.continue_token, None, "no token when nothing follows");

    let whole = store.list("/p/", page(6, None)).await.unwrap();
    assert_eq!(whole.items.len(), 6);
    assert_eq!(whole.continue_token, None);
    let unlimited = store.list("/p/", page(0, None)).await.unwrap();
    assert_eq!(unlimited.items.len(), 6, "a limit of 0 means no limit");
    // A page's explicit revision must agree with its token.
    let mismatched = ListOptions {
        revision: Some(1),
        ..page(3, first.continue_token)
    };
    assert!(matches!(
        store.list("/p/", mismatched).await.unwrap_err(),
        Error::InvalidContinue(_)
    ));
}

pub async fn list_rejects_bad_continue_tokens(store: Arc<dyn Store>) {
    for i in 0..4 {
        store
            .create(&format!("/p/{i}"), b"v".to_vec())
            .await
            .unwrap();
    }
    let first = store.list("/p/", page(2, None)).await.unwrap();
    let token = first.continue_token.unwrap();
    for bad in ["garbage", "zz", "0123"] {
        assert!(matches!(
            store
                .list("/p/", page(2, Some(bad.to_owned())))
                .await
                .unwrap_err(),
            Error::InvalidContinue(_)
        ));
    }
    assert!(matches!(
        store.list("/q/", page(2, Some(token))).await.unwrap_err(),
        Error::InvalidContinue(_)
    ));
}

pub async fn list_refuses_future_revision(store: Arc<dyn Store>) {
    let rev = store.create("/a", b"v".to_vec()).await.unwrap();
    assert!(matches!(
        store.list("/", at(rev + 10)).await.unwrap_err(),
        Error::FutureRevision { requested, current } if requested == rev + 10 && current == rev
    ));
}

pub async fn watch_replays_then_follows(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let a = store.create("/w/a", b"1".to_vec()).await.unwrap();
    let a2 = store.update("/w/a", b"2".to_vec(), a).await.unwrap();
    let mut watch = store.watch("/w/", start).await.unwrap();
    let replayed = take(&mut watch, 2).await;
    assert_eq!(replayed[0].kind, EventKind::Create);
    assert_eq!(replayed[0].kv.value, b"1");
    assert_eq!(replayed[0].prev, None);
    assert_eq!(replayed[1].kind, EventKind::Update);
    assert_eq!(replayed[1].revision(), a2);
    assert_eq!(replayed[1].kv.create_revision, a);
    assert_eq!(replayed[1].prev.as_ref().unwrap().value, b"1");
    assert_eq!(replayed[1].prev.as_ref().unwrap().mod_revision, a);

    let b = store.create("/w/b", b"x".to_vec()).await.unwrap();
    let a3 = store.update("/w/a", b"3".to_vec(), a2).await.unwrap();
    let live = take(&mut watch, 2).await;
    assert_eq!(live[0].revision(), b);
    assert_eq!(live[0].kind, EventKind::Create);
    assert_eq!(live[1].revision(), a3);
    assert_eq!(live[1].prev.as_ref().unwrap().value, b"2");

    // A second watcher from the middle replays only what follows.
    let mut late = store.watch("/w/", a2).await.unwrap();
    let events = take(&mut late, 2).await;
    assert_eq!(
        events.iter().map(Event::revision).collect::<Vec<_>>(),
        [b, a3]
    );
}

pub async fn watch_filters_by_prefix(store: Arc<dyn Store>) {
    let mut watch = store.watch("/w/default/", 0).await.unwrap();
    store.create("/w/default2/x", b"no".to_vec()).await.unwrap();
    store.create("/w/other/x", b"no".to_vec()).await.unwrap();
    let yes = store.create("/w/default/x", b"yes".to_vec()).await.unwrap();
    let event = next(&mut watch).await;
    assert_eq!(event.revision(), yes);
    assert_eq!(event.kv.key, "/w/default/x");
}

pub async fn watch_reports_tombstones(store: Arc<dyn Store>) {
    let a = store.create("/w/a", b"last".to_vec()).await.unwrap();
    let mut watch = store.watch("/w/", a).await.unwrap();
    let deleted = store.delete("/w/a", None).await.unwrap();
    let live = next(&mut watch).await;
    let replayed = next(&mut store.watch("/w/", a).await.unwrap()).await;
    for event in [live, replayed] {
        assert_eq!(event.kind, EventKind::Delete);
        assert_eq!(event.kv.key, "/w/a");
        assert_eq!(event.revision(), deleted.revision);
        assert_eq!(event.kv.create_revision, a);
        assert!(event.kv.value.is_empty());
        let prev = event.prev.expect("a delete carries the deleted value");
        assert_eq!(prev.value, b"last");
        assert_eq!(prev.mod_revision, a);
    }
}

pub async fn watch_from_now_sees_only_new_events(store: Arc<dyn Store>) {
    store.create("/w/old", b"o".to_vec()).await.unwrap();
    let now = store.current_revision().await.unwrap();
    let mut watch = store.watch("/w/", now).await.unwrap();
    let new = store.create("/w/new", b"n".to_vec()).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), new);
}

/// A history with every kind of row: several versions, a deleted key, a recreated key.
async fn history(store: &Arc<dyn Store>) -> Revision {
    let a = store.create("/h/a", b"a1".to_vec()).await.unwrap();
    let a = store.update("/h/a", b"a2".to_vec(), a).await.unwrap();
    store.update("/h/a", b"a3".to_vec(), a).await.unwrap();
    store.create("/h/b", b"b1".to_vec()).await.unwrap();
    store.delete("/h/b", None).await.unwrap();
    store.create("/h/c", b"c1".to_vec()).await.unwrap();
    store.delete("/h/c", None).await.unwrap();
    store.create("/h/c", b"c2".to_vec()).await.unwrap()
}

pub async fn compaction_drops_old_history(store: Arc<dyn Store>) {
    let compact_to = history(&store).await;
    let d = store.create("/h/d", b"d1".to_vec()).await.unwrap();
    store.compact(compact_to).await.unwrap();

    let compacted = |e: Error| matches!(e, Error::Compacted { requested, compacted } if requested == compact_to - 1 && compacted == compact_to);
    assert!(compacted(
        store.list("/h/", at(compact_to - 1)).await.unwrap_err()
    ));
    assert!(compacted(
        store.watch("/h/", compact_to - 1).await.err().unwrap()
    ));

    let kept = store.list("/h/", at(compact_to)).await.unwrap();
    assert_eq!(keys(&kept.items), ["/h/a", "/h/c"]);
    assert_eq!(kept.items[0].value, b"a3");
    assert_eq!(kept.items[1].value, b"c2");
    let mut watch = store.watch("/h/", compact_to).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), d);

    // Compacting again to the same or an older revision changes nothing.
    store.compact(compact_to).await.unwrap();
    store.compact(1).await.unwrap();
    assert_eq!(store.list("/h/", at(compact_to)).await.unwrap(), kept);
}

pub async fn compaction_keeps_live_keys(store: Arc<dyn Store>) {
    history(&store).await;
    let before = store.list("/h/", ListOptions::default()).await.unwrap();
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), current);
    let after = store.list("/h/", ListOptions::default()).await.unwrap();
    assert_eq!(after, before);
    let a = store.get("/h/a").await.unwrap();
    assert_eq!(a.value, b"a3");
    // Writes continue after the compaction point, and their watch events keep `prev`.
    let a2 = store
        .update("/h/a", b"a4".to_vec(), a.mod_revision)
        .await
        .unwrap();
    assert_eq!(a2, current + 1);
    let event = next(&mut store.watch("/h/", current).await.unwrap()).await;
    assert_eq!(event.prev.unwrap().value, b"a3");
    // Deleting everything and compacting keeps the revision.
    store.delete("/h/a", None).await.unwrap();
    let last = store.delete("/h/c", None).await.unwrap().revision;
    store.compact(last).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert!(
        store
            .list("/", ListOptions::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.create("/h/e", b"e".to_vec()).await.unwrap(), last + 1);
}

pub async fn compaction_expires_continue_tokens(store: Arc<dyn Store>) {
    let mut last = 0;
    for i in 0..4 {
        last = store
            .create(&format!("/p/{i}"), b"v".to_vec())
            .await
            .unwrap();
    }
    let first = store.list("/p/", page(2, None)).await.unwrap();
    store.update("/p/3", b"w".to_vec(), last).await.unwrap();
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    assert!(matches!(
        store
            .list("/p/", page(2, first.continue_token))
            .await
            .unwrap_err(),
        Error::Compacted { .. }
    ));
}

pub async fn compaction_refuses_future_revision(store: Arc<dyn Store>) {
    let rev = store.create("/a", b"v".to_vec()).await.unwrap();
    assert!(matches!(
        store.compact(rev + 1).await.unwrap_err(),
        Error::FutureRevision { .. }
    ));
}

pub async fn compacted_watcher_is_told(store: Arc<dyn Store>) {
    // A watcher that has not read its replay yet when history is compacted past it gets
    // Compacted as its last item instead of a silent gap. The history is longer than one
    // replay read, so the watcher has to go back to the log after the compaction.
    const WRITERS: usize = 16;
    const EACH: usize = 80;
    let start = store.create("/w/first", b"0".to_vec()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let key = format!("/w/{w}/{i}");
                let rev = store.create(&key, b"1".to_vec()).await.unwrap();
                if i % 2 == 0 {
                    store.delete(&key, Some(rev)).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut watch = store.watch("/w/", start).await.unwrap();
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    let mut seen = 0;
    let outcome = loop {
        match tokio::time::timeout(HANG, watch.next())
            .await
            .expect("hung")
        {
            Some(Ok(_)) => seen += 1,
            Some(Err(error)) => break Some(error),
            None => break None,
        }
    };
    assert!(
        matches!(outcome, Some(Error::Compacted { .. })),
        "{outcome:?}"
    );
    assert!(seen < WRITERS * EACH * 3 / 2);
    assert!(watch.next().await.is_none(), "the error ends the stream");
}

pub async fn concurrent_writers(store: Arc<dyn Store>) {
    const WRITERS: usize = 16;
    const EACH: usize = 10;
    let start = store.current_revision().await.unwrap();
    store.create("/counter", b"0".to_vec()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..EACH {
                revisions.push(
                    store
                        .create(&format!("/c/{w}/{i}"), vec![w as u8; 64])
                        .await
                        .unwrap(),
                );
                // Compare-and-swap increment with retry, as a controller would do.
                loop {
                    let kv = store.get("/counter").await.unwrap();
                    let n: u64 = String::from_utf8(kv.value).unwrap().parse().unwrap();
                    match store
                        .update(
                            "/counter",
                            (n + 1).to_string().into_bytes(),
                            kv.mod_revision,
                        )
                        .await
                    {
                        Ok(rev) => {
                            revisions.push(rev);
                            break;
                        }
                        Err(Error::Conflict { .. }) => continue,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            revisions
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        for rev in task.await.unwrap() {
            assert!(all.insert(rev), "revision {rev} handed out twice");
        }
    }
    let counter = store.get("/counter").await.unwrap();
    assert_eq!(counter.value, (WRITERS * EACH).to_string().into_bytes());
    let current = store.current_revision().await.unwrap();
    assert_eq!((current - start) as usize, 1 + 2 * WRITERS * EACH);
    assert_eq!(all.len(), 2 * WRITERS * EACH);
    let listed = store.list("/c/", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), WRITERS * EACH);
}

pub async fn watch_sees_concurrent_writes_in_order(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/c/", start).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                store
                    .create(&format!("/c/{w}/{i}"), b"v".to_vec())
                    .await
                    .unwrap();
            }
        }));
    }
    let events = take(&mut watch, WRITERS * EACH).await;
    for task in tasks {
        task.await.unwrap();
    }
    let revisions: Vec<Revision> = events.iter().map(Event::revision).collect();
    let expected: Vec<Revision> = (start + 1..=start + (WRITERS * EACH) as Revision).collect();
    assert_eq!(revisions, expected, "every write once, in revision order");
}
