//! Durable write throughput of the SQLite store against SQLite's own one-by-one rate.
//!
//! `cargo bench -p kbatch-store` (about 30 s). Every figure is for 2 KB values with the same
//! durability (WAL, synchronous=FULL: a write counts once fsynced) on the same disk, in the same
//! run: the raw rate is single-row INSERTs each committed on its own, the floor a store without
//! group commit would have; the store's rates show what group commit adds under concurrency.
//! `KBATCH_BENCH_SECONDS` sets each measurement's length (default 3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kbatch_store::{SqliteStore, Store};

const VALUE_SIZE: usize = 2048;

fn main() {
    let seconds = std::env::var("KBATCH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let span = Duration::from_secs_f64(seconds);
    let value: Vec<u8> = (0..VALUE_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let raw = raw_inserts(span, &value);
    println!("value size {VALUE_SIZE} B, {seconds} s per figure, WAL + synchronous=FULL");
    println!(
        "{:<40} {:>10.0} writes/s",
        "raw sqlite, one insert per commit", raw
    );
    for writers in [1, 16] {
        for kind in [Kind::Create, Kind::Update] {
            let rate = runtime.block_on(store_writes(span, &value, writers, kind));
            println!(
                "{:<40} {:>10.0} writes/s  ({:.1}x raw)",
                format!("store {kind:?}, {writers} writer(s)"),
                rate,
                rate / raw
            );
        }
    }
}

/// Single-row inserts, each its own durable transaction.
fn raw_inserts(span: Duration, value: &[u8]) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open");
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.execute_batch("CREATE TABLE kv (id INTEGER PRIMARY KEY, name BLOB, value BLOB)")
        .expect("schema");
    let mut insert = conn
        .prepare("INSERT INTO kv (name, value) VALUES (?1, ?2)")
        .expect("prepare");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < span {
        insert
            .execute(rusqlite::params![format!("/raw/{n}").as_bytes(), value])
            .expect("insert");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Create,
    Update,
}

/// `writers` tasks writing as fast as acknowledgements come back, for `span`.
async fn store_writes(span: Duration, value: &[u8], writers: usize, kind: Kind) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let value = value.to_vec();
            tokio::spawn(async move {
                let key = format!("/bench/{w}");
                let mut revision = store.create(&key, value.clone()).await.expect("create");
                let mut n = 0u64;
                while start.elapsed() < span {
                    match kind {
                        Kind::Create => {
                            store
                                .create(&format!("/bench/{w}/{n}"), value.clone())
                                .await
                                .expect("create");
                        }
                        Kind::Update => {
                            revision = store
                                .update(&key, value.clone(), revision)
                                .await
                                .expect("update");
                        }
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("writer");
    }
    total as f64 / start.elapsed().as_secs_f64()
}
