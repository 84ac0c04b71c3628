//! The etcd store's create rate against etcd's own put rate, on one etcd started for the run.
//!
//! `cargo bench -p kbatch-store --bench etcd` (about 80 s; needs Debian's etcd-server). One
//! single-member etcd on loopback with its data in a temporary directory (fsync on, as etcd
//! always runs), 2 KB values. "raw" is plain etcd Puts of fresh keys through the same client
//! library — what etcd itself sustains at that concurrency; "txn" is the transaction a create
//! sends (put if the key's create_revision is 0), sent directly — what the compare-and-swap
//! costs in etcd; "store" is `Store::create` of fresh keys, that transaction through the store.
//! Each ratio to raw is taken within its round, rounds interleave the three, and the summary
//! is the median over rounds
//! (the shared machine's disk changes speed from one second to the next). History is compacted
//! after every figure so the database stays small. The machine's load average is printed at the
//! start and the end. `KBATCH_BENCH_SECONDS` sets each figure's length (default 1.5),
//! `KBATCH_BENCH_ROUNDS` the number of rounds (default 5).

#[allow(dead_code)]
#[path = "../tests/support/etcd.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kbatch_store::{EtcdStore, Store};

const VALUE_SIZE: usize = 2048;
const WRITERS: [usize; 3] = [1, 16, 64];

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
    runtime.block_on(async {
        let Some(cluster) = support::Cluster::start("the etcd benchmark", 1, false).await else {
            return;
        };
        let endpoint = cluster.endpoint(0);
        let store = Arc::new(cluster.store("").await);
        let raw = etcd_client::Client::connect([endpoint.as_str()], None)
            .await
            .expect("etcd client");
        println!("load average at start: {}", load());
        println!(
            "writes/s to one etcd member ({endpoint}), {VALUE_SIZE} B values, {seconds} s per figure"
        );
        let mut header = format!("{:>6}", "round");
        for writers in WRITERS {
            header.push_str(&format!(
                "{:>10}{:>16}{:>16}",
                format!("raw ×{writers}"),
                format!("txn ×{writers}"),
                format!("store ×{writers}")
            ));
        }
        println!("{header}");
        // Per concurrency: raw rates, then txn and store rates and their ratios to raw.
        let mut raws: Vec<Vec<f64>> = vec![Vec::new(); WRITERS.len()];
        let mut rates: Vec<[Vec<f64>; 2]> = vec![Default::default(); WRITERS.len()];
        let mut ratios: Vec<[Vec<f64>; 2]> = vec![Default::default(); WRITERS.len()];
        for round in 1..=rounds.max(1) {
            let mut line = format!("{round:>6}");
            for (i, writers) in WRITERS.into_iter().enumerate() {
                let tag = format!("{round}/{writers}");
                let put = writes(&raw, span, &value, writers, &tag, Via::Put).await;
                compact(&store).await;
                let txn = writes(&raw, span, &value, writers, &tag, Via::Txn).await;
                compact(&store).await;
                let created = creates_through(&store, span, &value, writers, &tag).await;
                compact(&store).await;
                raws[i].push(put);
                line.push_str(&format!("{put:>10.0}"));
                for (j, rate) in [txn, created].into_iter().enumerate() {
                    rates[i][j].push(rate);
                    ratios[i][j].push(rate / put);
                    line.push_str(&format!("{rate:>9.0} ({:>3.0}%)", 100.0 * rate / put));
                }
            }
            println!("{line}");
        }
        let mut summary = format!("{:>6}", "median");
        for i in 0..WRITERS.len() {
            summary.push_str(&format!("{:>10.0}", median(&mut raws[i])));
            for j in 0..2 {
                summary.push_str(&format!(
                    "{:>9.0} ({:>3.0}%)",
                    median(&mut rates[i][j]),
                    100.0 * median(&mut ratios[i][j])
                ));
            }
        }
        println!("{summary}");
        println!("load average at end: {}", load());
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The 1, 5 and 15 minute load averages, as `uptime` prints them.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn compact(store: &EtcdStore) {
    let current = store.current_revision().await.expect("revision");
    store.compact(current).await.expect("compact");
}

/// How the etcd client writes: a plain put, or the create's transaction.
#[derive(Debug, Clone, Copy)]
enum Via {
    Put,
    Txn,
}

/// `writers` tasks writing fresh keys through etcd's client as fast as etcd acknowledges.
async fn writes(
    client: &etcd_client::Client,
    span: Duration,
    value: &[u8],
    writers: usize,
    tag: &str,
    via: Via,
) -> f64 {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let mut kv = client.kv_client();
            let (value, tag) = (value.to_vec(), tag.to_owned());
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < span {
                    let key = format!("/raw/{tag}/{w}/{n}");
                    match via {
                        Via::Put => {
                            kv.put(key, value.clone(), None).await.expect("put");
                        }
                        Via::Txn => {
                            let txn = Txn::new()
                                .when([Compare::create_revision(
                                    format!("{key}/txn"),
                                    CompareOp::Equal,
                                    0,
                                )])
                                .and_then([TxnOp::put(format!("{key}/txn"), value.clone(), None)]);
                            kv.txn(txn).await.expect("txn");
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

/// `writers` tasks creating fresh keys through the store.
async fn creates_through(
    store: &Arc<EtcdStore>,
    span: Duration,
    value: &[u8],
    writers: usize,
    tag: &str,
) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let (value, tag) = (value.to_vec(), tag.to_owned());
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < span {
                    store
                        .create(&format!("/registry/bench/{tag}/{w}/{n}"), value.clone())
                        .await
                        .expect("create");
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
