//! `cargo bench -p kbatch-schedule`: `Schedule::next` calls per second on
//! one core for a frequent UTC schedule, a weekday schedule in a DST zone,
//! and a schedule that never fires (bounded by the five-year search).

use std::hint::black_box;
use std::time::{Duration, Instant as Clock};

use kbatch_schedule::{Instant, Zone, parse, zone};

/// Runs `next` chained from `start` (each result feeds the next call; a
/// zero result restarts from `start`) for about `budget`, returning calls/s.
fn measure(spec: &str, zone: &Zone, start: Instant, budget: Duration) -> f64 {
    let schedule = parse(spec).unwrap();
    let mut calls = 0u64;
    let mut t = start;
    let began = Clock::now();
    while began.elapsed() < budget {
        for _ in 0..1_000 {
            t = match schedule.next(black_box(t), zone) {
                Some(next) => next,
                None => start,
            };
        }
        calls += 1_000;
    }
    black_box(t);
    calls as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` passes --bench-less args; keep such runs short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = Duration::from_millis(if quick { 50 } else { 2_000 });
    let start: Instant = "2025-01-01T00:00:00Z".parse().unwrap();
    let utc = Zone::utc();
    let berlin = zone("Europe/Berlin").unwrap();
    for (label, spec, zone) in [
        ("*/5 * * * * (UTC)", "*/5 * * * *", &utc),
        ("0 0 * * 1-5 (Europe/Berlin)", "0 0 * * 1-5", &berlin),
        ("0 0 30 2 * (UTC, never fires)", "0 0 30 2 *", &utc),
    ] {
        let rate = measure(spec, zone, start, budget);
        println!("{label:<32} {:>12.0} next() calls/s", rate);
    }
}
