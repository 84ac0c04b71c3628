//! Durable write throughput of the SQLite store against SQLite's own one-by-one rate.
//!
//! `cargo bench -p kbatch-store` (about 40 s). Every figure is for 2 KB values with the same
//! durability (WAL, synchronous=FULL: a write counts once fsynced) on the same disk, in the same
//! run: the raw rate is single-row INSERTs each committed on its own, the floor a store without
//! group commit would have; the store's rates show what group commit adds under concurrency.
//!
//! Disks of shared machines vary from second to second, so the five figures are measured in
//! interleaved rounds and each ratio to raw is taken within its round; the summary gives the
//! median of the rounds. `KBATCH_BENCH_SECONDS` sets each measurement's length (default 1.5),
//! `KBATCH_BENCH_ROUNDS` the number of rounds (default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kbatch_store::{SqliteStore, Store};

const VALUE_SIZE: usize = 2048;

const FIGURES: [(&str, usize, Kind); 4] = [
    ("creates, 1 writer", 1, Kind::Create),
    ("updates, 1 writer", 1, Kind::Update),
    ("creates, 16 writers", 16, Kind::Create),
    ("updates, 16 writers", 16, Kind::Update),
];

fn main() {
    let setting = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let seconds = setting("KBATCH_BENCH_SECONDS", 1.5);
    let rounds = setting("KBATCH_BENCH_ROUNDS", 5.0) as usize;
    let span = Duration::from_secs_f64(seconds);
    let value: Vec<u8> = (0..VALUE_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    println!(
        "durable writes/s, {VALUE_SIZE} B values, WAL + synchronous=FULL, {seconds} s per figure"
    );
    println!(
        "{:>6} {:>10} {}",
        "round",
        "raw",
        FIGURES.map(|(name, ..)| format!("{name:>21}")).join("")
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); FIGURES.len() + 1];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); FIGURES.len()];
    for round in 1..=rounds.max(1) {
        let raw = raw_inserts(span, &value);
        rates[0].push(raw);
        let mut line = format!("{round:>6} {raw:>10.0}");
        for (i, (_, writers, kind)) in FIGURES.iter().enumerate() {
            let rate = runtime.block_on(store_writes(span, &value, *writers, *kind));
            rates[i + 1].push(rate);
            ratios[i].push(rate / raw);
            line.push_str(&format!("{:>13.0} ({:>4.1}x)", rate, rate / raw));
        }
        println!("{line}");
    }
    let mut summary = format!("{:>6} {:>10.0}", "median", median(&mut rates[0]));
    for i in 0..FIGURES.len() {
        summary.push_str(&format!(
            "{:>13.0} ({:>4.1}x)",
            median(&mut rates[i + 1]),
            median(&mut ratios[i])
        ));
    }
    println!("{summary}");
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
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
