//! `Schedule::next` allocates nothing: counted with a wrapping global
//! allocator around calls in UTC and in DST zones.

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use kbatch_schedule::{Instant, parse, zone};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the test's own thread counts: libtest's main thread may
    /// allocate while the test runs.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn next_does_not_allocate() {
    COUNTING.with(|c| c.set(true));
    let cases = [
        ("*/5 * * * *", "UTC"),
        ("0 0 * * 1-5", "Europe/Berlin"),
        ("30 2 * * *", "America/New_York"),
        ("50 2 * * *", "Pacific/Chatham"),
        ("0 0 30 2 *", "Australia/Lord_Howe"),
        ("@every 1h30m", "Asia/Kathmandu"),
        ("TZ=Europe/London 0 1 * * *", "UTC"),
    ];
    let start: Instant = "2025-01-01T00:00:00Z".parse().unwrap();
    // The counter works: loading a zone allocates.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    drop(zone("Europe/Paris").unwrap());
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
    for (text, name) in cases {
        let schedule = parse(text).unwrap();
        let zone = zone(name).unwrap();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let mut t = start;
        for _ in 0..500 {
            t = schedule.next_go(t, &zone);
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(after - before, 0, "{text} in {name} allocated");
    }
}
