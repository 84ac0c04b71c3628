//! 100,000 CronJobs in one `kbatch server` on the embedded store (issue 6): what creating them
//! through the API costs, then what they cost while nothing fires: server CPU (target < 1% of
//! one core), store writes (target 0: the store's revision must not move) and resident memory
//! per CronJob beyond the objects themselves (target ≤ 2 KiB), and what a restart costs.
//!
//! `cargo bench -p kbatch --bench cron_scale` (about 15 minutes with the defaults;
//! docs/benchmarks/cronjobs.md has figures). Settings (environment):
//!
//! * `KBATCH_CRON_SCALE`: CronJobs (100000);
//! * `KBATCH_CRON_CLIENTS`: concurrent creating clients (16);
//! * `KBATCH_CRON_IDLE_MINUTES`: the measured idle window, in real minutes (5, at most 30);
//! * `KBATCH_CRON_SCALE_BASELINE`: 0 skips the baseline below.
//!
//! The baselines run in the same invocation: the empty server idle for a minute before the
//! CronJobs are created, and, at the end, the same CronJobs created on a server without
//! controllers (`--no-controllers`), whose RSS growth is what the API and the store alone
//! keep per CronJob.
//!
//! The schedules are the mix: half `*/5 H * * *` (every five minutes through one hour
//! of the day), four tenths hourly `M * * * *`, one tenth `M H * * 1-5`, each in one of eight
//! zones (UTC, New York, Berlin, Kolkata +5:30, Kathmandu +5:45, Lord Howe +10:30/+11, St.
//! John's −3:30, Chatham +12:45). Each CronJob's H and M are picked, with the schedule engine
//! itself, so that it does not fire from now until the end of the run: every CronJob is armed
//! in the controller's timer queue, and the idle window is real time in which none fires. The
//! hour of idle time the issue asks about is that window's figures times 60 / its minutes.
//!
//! "Settled" below means: the store's revision did not move and the server used under 2% of a
//! core for 5 s in a row.
//!
//! The objects' own size is measured in this process: 1,000 of the created CronJobs, as the
//! server returns them, decoded into `kbatch_core::object::Object` and held the way the
//! controllers' informer holds them (`HashMap<ObjectKey, Arc<Object>>`, without
//! managedFields), under a counting allocator. RSS growth per CronJob minus that is what the server spends per CronJob beyond
//! the objects (its store's caches included).

// The counting allocator below: a GlobalAlloc impl is unsafe by definition.
#![allow(unsafe_code)]

mod cron_support;
mod machine;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cron_support::*;
use kbatch_controllers::runtime::ObjectKey;
use kbatch_core::object::{CRONJOB, Object};
use serde_json::Value;

/// Counts the bytes this process holds, for the objects' own size.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter moves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `layout` is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ZONES: [Option<&str>; 8] = [
    None,
    Some("America/New_York"),
    Some("Europe/Berlin"),
    Some("Asia/Kolkata"),
    Some("Asia/Kathmandu"),
    Some("Australia/Lord_Howe"),
    Some("America/St_Johns"),
    Some("Pacific/Chatham"),
];

/// A schedule of the mix for CronJob `i` that does not fire within `horizon` of now.
fn schedule(i: usize, zone: Option<&str>, horizon: Duration) -> String {
    let zone_of = kbatch_schedule::zone(zone.unwrap_or("")).expect("a zone");
    let now = jiff::Timestamp::now();
    let until = kbatch_schedule::Instant::from(now + horizon);
    let from = kbatch_schedule::Instant::from(now);
    let quiet = |spec: &str| {
        let parsed = kbatch_schedule::parse(spec).expect("a schedule");
        parsed.next(from, &zone_of).is_none_or(|next| next > until)
    };
    let (h0, m0) = (i * 7, i * 13);
    let candidates: Vec<String> = match i % 10 {
        0..5 => (0..24)
            .map(|h| format!("*/5 {} * * *", (h0 + h) % 24))
            .collect(),
        5..9 => (0..60)
            .map(|m| format!("{} * * * *", (m0 + m) % 60))
            .collect(),
        _ => (0..24)
            .map(|h| format!("{} {} * * 1-5", m0 % 60, (h0 + h) % 24))
            .collect(),
    };
    candidates
        .into_iter()
        .find(|spec| quiet(spec))
        .expect("a schedule that stays quiet")
}

/// Waits until the revision stands still and the server is nearly idle for 5 s; returns how
/// long that took (the 5 s included).
async fn settle(server: &Server, client: &mut Client) -> f64 {
    let start = Instant::now();
    let mut quiet = 0;
    let mut revision = client.revision().await;
    let mut cpu = server.cpu();
    while quiet < 5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (now_revision, now_cpu) = (client.revision().await, server.cpu());
        if now_revision == revision && now_cpu - cpu < 0.02 {
            quiet += 1;
        } else {
            quiet = 0;
        }
        (revision, cpu) = (now_revision, now_cpu);
    }
    start.elapsed().as_secs_f64()
}

/// Bytes one CronJob takes as the informer holds it, from `items` as the server returned them.
fn object_size(items: &[Value]) -> f64 {
    let bodies: Vec<Vec<u8>> = items
        .iter()
        .map(|item| serde_json::to_vec(item).expect("JSON"))
        .collect();
    let before = LIVE.load(Ordering::SeqCst);
    let mut cache: HashMap<ObjectKey, Arc<Object>> = HashMap::with_capacity(bodies.len());
    for body in &bodies {
        let mut object = Object::from_json_slice(&CRONJOB, body).expect("a CronJob");
        // The informer drops them.
        object.metadata_mut().managed_fields = None;
        cache.insert(ObjectKey::of(&object), Arc::new(object));
    }
    let held = LIVE.load(Ordering::SeqCst) - before;
    drop(cache);
    held as f64 / bodies.len() as f64
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let n: usize = env_or("KBATCH_CRON_SCALE", 100_000);
    let clients: usize = env_or("KBATCH_CRON_CLIENTS", 16);
    let idle_minutes: u64 = env_or("KBATCH_CRON_IDLE_MINUTES", 5).clamp(1, 30);
    println!("load before: {}", load_average());
    let horizon = Duration::from_secs(60 * (idle_minutes + 25));
    let objects: Arc<Vec<Value>> = Arc::new(
        (0..n)
            .map(|i| {
                let zone = ZONES[i % ZONES.len()];
                cronjob(
                    &format!("scale-{i}"),
                    &schedule(i, zone, horizon),
                    zone,
                    "scale",
                )
            })
            .collect(),
    );

    let server = Server::start();
    let target = server.target();
    let mut client = Client::connect(&target).await;
    let first_settle = settle(&server, &mut client).await;
    println!("empty server settled in {first_settle:.0} s");
    idle(&server, &mut client, 1, "baseline: the empty server idle").await;
    let (rss0, cpu0, rev0) = (server.rss_kib(), server.cpu(), client.revision().await);

    let took = create_all(&target, CRONJOBS, objects.to_vec(), clients).await;
    let (cpu_created, rev_created) = (server.cpu(), client.revision().await);
    println!(
        "created {n} CronJobs in {took:.1} s: {:.0}/s with {clients} clients; server CPU \
         {:.1} s; {} store writes",
        n as f64 / took,
        cpu_created - cpu0,
        rev_created - rev0
    );
    let settled = settle(&server, &mut client).await;
    let (rss1, cpu1, rev1) = (server.rss_kib(), server.cpu(), client.revision().await);
    println!(
        "controllers settled {settled:.0} s later: server CPU {:.1} s and {} store writes \
         since the last create (each CronJob's first sync writes its next-schedule-time \
         annotation); RSS {:.1} MiB",
        cpu1 - cpu_created,
        rev1 - rev_created,
        mib(rss1)
    );
    let sample = client.get_json(&format!("{CRONJOBS}?limit=1000")).await;
    let items = sample["items"].as_array().cloned().unwrap_or_default();
    let json_size =
        items.iter().map(|i| i.to_string().len()).sum::<usize>() as f64 / items.len().max(1) as f64;
    let object = object_size(&items);
    let grown = rss1.saturating_sub(rss0);
    let per_cronjob = grown as f64 * 1024.0 / n as f64;
    println!(
        "memory: RSS +{:.1} MiB for {n} CronJobs = {per_cronjob:.0} B each; one CronJob is \
         {json_size:.0} B of JSON and {object:.0} B decoded as the informer holds it; beyond \
         the object: {:.0} B per CronJob",
        mib(grown),
        per_cronjob - object
    );

    idle(&server, &mut client, idle_minutes, "idle").await;

    let dir = server.stop();
    let restart = Instant::now();
    let server = Server::start_in(dir, &[]);
    let listening = restart.elapsed().as_secs_f64();
    let target = server.target();
    let mut client = Client::connect(&target).await;
    let rev_up = client.revision().await;
    let settled = settle(&server, &mut client).await;
    let rev_settled = client.revision().await;
    println!(
        "restart: listening after {listening:.1} s, settled {settled:.0} s later (the 5 quiet \
         s included); server CPU {:.1} s; {} store writes after listening (rev {rev_up} -> \
         {rev_settled}); RSS {:.1} MiB",
        server.cpu(),
        rev_settled - rev_up,
        mib(server.rss_kib())
    );
    idle(&server, &mut client, 1, "idle after the restart").await;
    drop(server);
    if env_or("KBATCH_CRON_SCALE_BASELINE", 1) == 1 {
        api_alone(objects.to_vec(), clients).await;
    }
    println!("load after: {}", load_average());
}

/// The baseline: the same CronJobs created on a server without controllers, whose RSS then
/// holds what the API and the store keep per CronJob.
async fn api_alone(objects: Vec<Value>, clients: usize) {
    let n = objects.len();
    let server = Server::start_in(
        tempfile::tempdir().expect("temp dir"),
        &["--no-controllers"],
    );
    let target = server.target();
    let mut client = Client::connect(&target).await;
    settle(&server, &mut client).await;
    let rss0 = server.rss_kib();
    let took = create_all(&target, CRONJOBS, objects, clients).await;
    settle(&server, &mut client).await;
    let grown = server.rss_kib().saturating_sub(rss0);
    println!(
        "baseline: the API alone (--no-controllers): {n} CronJobs created in {took:.1} s \
         ({:.0}/s); RSS +{:.1} MiB = {:.0} B per CronJob",
        n as f64 / took,
        mib(grown),
        grown as f64 * 1024.0 / n as f64
    );
}

/// The idle window: server CPU per minute and store writes.
async fn idle(server: &Server, client: &mut Client, minutes: u64, what: &str) {
    let (cpu_start, rev_start) = (server.cpu(), client.revision().await);
    let mut per_minute = Vec::new();
    let mut cpu = cpu_start;
    for _ in 0..minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let now = server.cpu();
        per_minute.push(format!("{:.2}%", (now - cpu) / 60.0 * 100.0));
        cpu = now;
    }
    let rev_end = client.revision().await;
    let spent = cpu - cpu_start;
    println!(
        "{what}: {minutes} min, server CPU {spent:.2} s = {:.3}% of one core (per minute: {}; \
         {:.1} s per hour); {} store writes (revision {rev_start} -> {rev_end}); RSS {:.1} MiB; \
         load {}",
        spent / (60.0 * minutes as f64) * 100.0,
        per_minute.join(" "),
        spent * 60.0 / minutes as f64,
        rev_end - rev_start,
        mib(server.rss_kib()),
        load_average()
    );
}
