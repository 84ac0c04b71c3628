//! How soon after its fire time ("slot") a CronJob's Job is created, on a running `kbatch
//! server` (issue 6: p99 ≤ 50 ms for a single CronJob's slot on an idle machine; the last of
//! 1,000 Jobs ≤ 1 s after a slot 1,000 CronJobs share).
//!
//! `cargo bench -p kbatch --bench cron_precision` (about 7 minutes with the defaults;
//! docs/benchmarks/cronjobs.md has figures). Two parts, each on a fresh server:
//!
//! 1. **One CronJob per slot.** `KBATCH_CRON_PRECISION_CRONJOBS` (60) CronJobs `@every 1m`,
//!    created one per second: robfig/cron's constant-delay schedule fires a whole number of
//!    minutes after the creation second, so each second of the minute is one CronJob's slot.
//!    They run `KBATCH_CRON_PRECISION_MINUTES` (3) minutes: 180 slots.
//! 2. **A shared slot.** `KBATCH_CRON_SHARED` (1000) CronJobs `* * * * *`, created by
//!    `KBATCH_CRON_CLIENTS` (16) clients, then `KBATCH_CRON_SHARED_SLOTS` (2) minute
//!    boundaries.
//!
//! Each Job is timed twice: by the controller's own histogram at /metrics
//! (`cronjob_controller_job_creation_skew_duration_seconds`: creationTimestamp − slot, with
//! kbatch's buckets below 1 s), and independently by this client: a watch of the Jobs stamps
//! each ADDED event on arrival, and the slot is the Job's
//! `batch.kubernetes.io/cronjob-scheduled-timestamp`; that difference also holds the watch's
//! delivery. The Jobs are suspended, so no pod runs and no node is needed.
//!
//! The baselines run in the same invocation, on the same servers, just before: for part 1,
//! 60 Jobs this client creates one at a time, from POST sent to ADDED received (what the API
//! and the watch take without the controller); for part 2, the same number of Jobs created
//! by the same number of clients, from the first POST to the last ADDED received.
//!
//! `KBATCH_CRON_PERF=<file>`: `perf record --call-graph dwarf` on the server from 1 s before
//! the first shared slot, for 8 s, into `<file>`.

mod cron_support;
mod machine;

use std::time::Duration;

use cron_support::*;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!("load before: {}", load_average());
        let cronjobs: usize = env_or("KBATCH_CRON_PRECISION_CRONJOBS", 60);
        let minutes: usize = env_or("KBATCH_CRON_PRECISION_MINUTES", 3);
        if cronjobs > 0 && minutes > 0 {
            one_per_slot(cronjobs, minutes).await;
        }
        let shared: usize = env_or("KBATCH_CRON_SHARED", 1000);
        let slots: usize = env_or("KBATCH_CRON_SHARED_SLOTS", 2);
        if shared > 0 && slots > 0 {
            shared_slot(shared, slots, env_or("KBATCH_CRON_CLIENTS", 16)).await;
        }
        println!("load after: {}", load_average());
    });
}

async fn sleep_until_ns(at: i128) {
    let left = at - now_ns();
    if left > 0 {
        tokio::time::sleep(Duration::from_nanos(left as u64)).await;
    }
}

const SECOND: i128 = 1_000_000_000;

async fn one_per_slot(cronjobs: usize, minutes: usize) {
    let server = Server::start();
    let target = server.target();
    let mut arrivals = watch_jobs(&target, "precision").await;
    let mut client = Client::connect(&target).await;
    let mut floor = Vec::new();
    for i in 0..60 {
        let sent = now_ns();
        client
            .create(JOBS, &job(&format!("baseline-{i}"), "precision"))
            .await;
        let arrival = arrivals.recv().await.expect("the watch");
        floor.push(arrival.arrived_ns - sent);
    }
    let before = client.skew_histogram().await;
    // Just after a whole second, so each creationTimestamp is the second it was sent in.
    let start = (now_ns() / SECOND + 1) * SECOND + 20_000_000;
    let spacing = 60 * SECOND / cronjobs as i128;
    for i in 0..cronjobs {
        sleep_until_ns(start + spacing * i as i128).await;
        let cj = cronjob(&format!("precise-{i}"), "@every 1m", None, "precision");
        client.create(CRONJOBS, &cj).await;
    }
    let expected = cronjobs * minutes;
    let cpu = server.cpu();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60 * minutes as u64 + 120);
    let mut seen = Vec::new();
    while seen.len() < expected {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some(arrival)) => seen.push(arrival),
            _ => break,
        }
    }
    let cpu = server.cpu() - cpu;
    let after = client.skew_histogram().await;
    let mut names: Vec<&str> = seen.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    println!(
        "\n1. one CronJob per slot: {cronjobs} CronJobs `@every 1m`, {minutes} minutes: {} of \
         {expected} Jobs seen ({} distinct names); server CPU {cpu:.2} s",
        seen.len(),
        names.len()
    );
    let skews: Vec<i128> = seen.iter().map(|a| a.arrived_ns - a.slot_ns).collect();
    println!("   watch: slot -> ADDED received: {}", quantiles(skews));
    println!(
        "   baseline, 60 Jobs POSTed one at a time: POST sent -> ADDED received: {}",
        quantiles(floor)
    );
    println!("   /metrics: {}", after.since(&before).describe());
}

async fn shared_slot(cronjobs: usize, slots: usize, clients: usize) {
    let server = Server::start();
    let target = server.target();
    let mut arrivals = watch_jobs(&target, "shared").await;
    let mut client = Client::connect(&target).await;
    let jobs = (0..cronjobs)
        .map(|i| job(&format!("baseline-{i}"), "shared"))
        .collect();
    let (start, cpu) = (now_ns(), server.cpu());
    create_all(&target, JOBS, jobs, clients).await;
    let mut last = start;
    for _ in 0..cronjobs {
        last = arrivals.recv().await.expect("the watch").arrived_ns;
    }
    println!(
        "\n2. baseline: {cronjobs} Jobs POSTed by {clients} clients: first POST -> last ADDED \
         received {:.1} ms; server CPU {:.2} s",
        (last - start) as f64 / 1e6,
        server.cpu() - cpu
    );
    let objects = (0..cronjobs)
        .map(|i| cronjob(&format!("shared-{i}"), "* * * * *", None, "shared"))
        .collect();
    let took = create_all(&target, CRONJOBS, objects, clients).await;
    println!(
        "   a shared slot: {cronjobs} CronJobs `* * * * *` created in {took:.1} s ({:.0}/s, \
         {clients} clients)",
        cronjobs as f64 / took
    );
    // The first boundary at least 15 s away, so the creations' own syncs are over.
    let mut slot = ((now_ns() + 15 * SECOND) / (60 * SECOND) + 1) * 60 * SECOND;
    for round in 0..slots {
        sleep_until_ns(slot - 2 * SECOND).await;
        let perf = std::env::var("KBATCH_CRON_PERF")
            .ok()
            .filter(|_| round == 0)
            .map(|file| {
                std::process::Command::new("perf")
                    .args([
                        "record",
                        "-F",
                        "499",
                        "--call-graph",
                        "dwarf",
                        "-o",
                        &file,
                        "-p",
                    ])
                    .arg(server.pid().to_string())
                    .args(["--", "sleep", "8"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("perf")
            });
        let before = client.skew_histogram().await;
        let cpu = server.cpu();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(62);
        let mut seen = Vec::new();
        while seen.len() < cronjobs {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some(arrival)) if arrival.slot_ns == slot => {
                    seen.push(arrival.arrived_ns - slot)
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        let cpu = server.cpu() - cpu;
        let after = client.skew_histogram().await;
        seen.sort_unstable();
        let at = jiff::Timestamp::from_nanosecond(slot).map_or(String::new(), |t| t.to_string());
        println!(
            "   slot {at}: {} of {cronjobs} Jobs; slot -> ADDED received: first {:.1} ms, \
             p50 {:.1}, p99 {:.1}, last {:.1} ms; server CPU {cpu:.2} s (to the last Job and \
             the 2 s before the slot)",
            seen.len(),
            quantile_ms(&seen, 0.0),
            quantile_ms(&seen, 0.5),
            quantile_ms(&seen, 0.99),
            quantile_ms(&seen, 1.0),
        );
        println!("   /metrics: {}", after.since(&before).describe());
        if let Some(mut perf) = perf {
            let _ = perf.wait();
        }
        slot += 60 * SECOND;
    }
}
