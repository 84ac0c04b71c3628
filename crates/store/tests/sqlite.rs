//! The SQLite backend against the conformance suite, plus what only a file can show: reopening,
//! refusing foreign files.

use std::sync::Arc;

use futures::StreamExt;
use kbatch_store::{Error, ListOptions, SqliteOptions, SqliteStore, Store};

fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

kbatch_store::conformance_tests!(fresh);

#[tokio::test]
async fn reopening_resumes_revision_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let (a, last) = {
        let store = SqliteStore::open(dir.path()).unwrap();
        let a = store.create("/a", b"1".to_vec()).await.unwrap();
        store.create("/b", b"1".to_vec()).await.unwrap();
        let last = store.delete("/b", None).await.unwrap().revision;
        (a, last)
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert_eq!(store.get("/a").await.unwrap().mod_revision, a);
    assert!(matches!(
        store.get("/b").await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(store.create("/c", vec![]).await.unwrap(), last + 1);
}

#[tokio::test]
async fn reopening_keeps_the_compaction_point() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.create("/a", b"1".to_vec()).await.unwrap();
        // The newest row is a tombstone that compaction removes: the revision must survive it.
        let last = store.delete("/a", None).await.unwrap().revision;
        store.compact(last).await.unwrap();
        last
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert!(matches!(
        store.watch("/", last - 1).await.err(),
        Some(Error::Compacted { .. })
    ));
    assert_eq!(store.create("/b", vec![]).await.unwrap(), last + 1);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kbatch.db"), vec![0x42; 8192]).unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("kbatch.db")).unwrap();
    conn.execute_batch("CREATE TABLE kv (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("another application"), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("kbatch.db")).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("schema version 2"), "{err}");
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let err = SqliteStore::open(file.join("sub")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[tokio::test]
async fn slow_watcher_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), SqliteOptions { watch_buffer: 2 }).unwrap();
    let mut watch = store.watch("/k/", 0).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store.create(&format!("/k/{w}/{i}"), vec![1]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for expected in 1..=80 {
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(event.revision(), expected);
    }
    let listed = store.list("/k/", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 80);
}
