//! Fuzzes `parse` and `Schedule::next` together: any text either parses or
//! yields an error whose text is non-empty, and a parsed schedule's next
//! activation, from an arbitrary instant in an arbitrary zone, is strictly
//! later than the start (or Go's zero time) and never panics or hangs.
#![no_main]

use kbatch_schedule::{Instant, parse, zone};
use libfuzzer_sys::fuzz_target;

/// A spread of zones with 30/45-minute offsets, DST in both hemispheres,
/// and none at all.
const ZONES: [&str; 8] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
    "Africa/Casablanca",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let (head, text) = data.split_at(10);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let schedule = match parse(text) {
        Ok(schedule) => schedule,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let zone = zone(ZONES[usize::from(head[0]) % ZONES.len()]).unwrap();
    // Instants from 1800 to 2400, sub-second part included.
    let raw = i64::from_le_bytes(head[1..9].try_into().unwrap());
    let span = 600 * 365 * 86_400_i64;
    let secs = raw.rem_euclid(span) - 170 * 365 * 86_400;
    let nanos = u32::from(head[9]) * 3_900_000;
    let after = Instant::from_unix(secs, nanos).unwrap();
    let mut t = after;
    for _ in 0..3 {
        match schedule.next(t, &zone) {
            Some(next) => {
                assert!(next > t, "{text:?} in {zone:?}: {next:?} <= {t:?}");
                t = next;
            }
            None => break,
        }
    }
});
