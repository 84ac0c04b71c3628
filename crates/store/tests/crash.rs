//! Durability under SIGKILL: a child process writes as fast as it can from several concurrent
//! writers and prints every acknowledged write; the parent kills it at a random moment, reopens
//! the file and checks that every acknowledged write is there, the log has no gap, and writing
//! resumes at the next revision. Repeated on the same file, so each round also reopens a file
//! left by a killed process.
//!
//! The child is this very test binary, re-executed with `KBATCH_STORE_CRASH_DIR` set, running
//! only the `crash_writer` test (which does nothing in a normal run).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kbatch_store::{Error, Revision, SqliteStore, Store};
use rand::Rng;

const DIR_ENV: &str = "KBATCH_STORE_CRASH_DIR";
const ROUND_ENV: &str = "KBATCH_STORE_CRASH_ROUND";
const ROUNDS: usize = 60;
const WRITERS: usize = 8;

/// The child's side: writes until killed, printing `ACK <key> <revision>` once each write is
/// acknowledged. Bounded, so that a child whose parent died stops by itself.
#[test]
fn crash_writer() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                let round = round.clone();
                tokio::spawn(async move {
                    let counter = format!("/crash/{round}/{w}/counter");
                    let mut counter_rev = None;
                    for i in 0..20_000 {
                        let key = format!("/crash/{round}/{w}/{i}");
                        let rev = store.create(&key, value_of(&key, 0)).await.unwrap();
                        println!("ACK {key} {rev}");
                        // Also updates, so that the check covers compare-and-swap writes.
                        let rev = match counter_rev {
                            None => store.create(&counter, value_of(&counter, i)).await,
                            Some(expected) => {
                                store
                                    .update(&counter, value_of(&counter, i), expected)
                                    .await
                            }
                        }
                        .unwrap();
                        counter_rev = Some(rev);
                        println!("ACK {counter} {rev}");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

fn value_of(key: &str, n: usize) -> Vec<u8> {
    format!("{key}#{n}").repeat(20).into_bytes()
}

/// Kills the child if the parent's checks fail half-way.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = rand::rng();
    // The newest acknowledged revision of every key.
    let mut acked: HashMap<String, Revision> = HashMap::new();
    let mut checked_up_to: Revision = 0;
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let mut child = Killed(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "crash_writer", "--nocapture", "--test-threads=1"])
                .env(DIR_ENV, dir.path())
                .env(ROUND_ENV, round.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
        // Let the child get going (reach its first acknowledgement), then kill it at a random
        // moment up to 100 ms later, mid-flight.
        let mut lines = Vec::new();
        read_line(&mut stdout, &mut lines);
        std::thread::sleep(Duration::from_micros(rng.random_range(0..100_000)));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        while read_line(&mut stdout, &mut lines) {}
        drop(child);

        for line in &lines {
            let Some((key, rev)) = line.strip_prefix("ACK ").and_then(|l| l.split_once(' ')) else {
                continue;
            };
            let rev: Revision = rev.parse().unwrap();
            let newest = acked.entry(key.to_owned()).or_default();
            *newest = (*newest).max(rev);
            total_acks += 1;
        }
        checked_up_to = runtime.block_on(verify(dir.path(), &acked, checked_up_to));
    }
    assert!(
        total_acks >= ROUNDS,
        "the children acknowledged only {total_acks} writes"
    );
    println!("{ROUNDS} kills, {total_acks} acknowledged writes, all present");
}

/// Reads one complete line into `lines`; false at end of output. A line cut by the kill (no
/// newline) is not an acknowledgement and is dropped.
fn read_line(stdout: &mut impl BufRead, lines: &mut Vec<String>) -> bool {
    let mut line = String::new();
    match stdout.read_line(&mut line) {
        Ok(0) | Err(_) => false,
        Ok(_) => {
            if let Some(complete) = line.strip_suffix('\n') {
                lines.push(complete.to_owned());
            }
            true
        }
    }
}

/// Reopens the file and checks it; returns the revision checked up to.
async fn verify(
    dir: &std::path::Path,
    acked: &HashMap<String, Revision>,
    checked_up_to: Revision,
) -> Revision {
    let store = SqliteStore::open(dir).expect("a killed store reopens cleanly");
    let current = store.current_revision().await.unwrap();
    for (key, rev) in acked {
        let kv = store
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key}@{rev} lost: {e}"));
        assert!(
            kv.mod_revision >= *rev,
            "{key}: {kv:?} older than ack {rev}"
        );
        if !key.ends_with("/counter") {
            assert_eq!(kv.mod_revision, *rev, "{key} is never rewritten");
            assert_eq!(kv.value, value_of(key, 0));
        }
    }
    // The log since the last check holds every revision once, in order: no gap, no duplicate.
    let mut events = store.watch("/", checked_up_to).await.unwrap();
    for expected in checked_up_to + 1..=current {
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.revision(), expected);
    }
    // Writing resumes at the next revision.
    let probe = format!("/probe/{current}");
    assert_eq!(store.create(&probe, vec![]).await.unwrap(), current + 1);
    assert!(matches!(
        store.create(&probe, vec![]).await,
        Err(Error::AlreadyExists { .. })
    ));
    current + 1
}
