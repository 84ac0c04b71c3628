//! Shared helpers for the table tests: run a schedule from an RFC 3339 time
//! in a zone and render results the way Go's `Time.Format(time.RFC3339)`
//! does in that zone (zero time: `0001-01-01T00:00:00Z`).

#![allow(dead_code)] // each test binary uses a subset

use kbatch_schedule::{Instant, Zone, parse, zone};

/// The next `n` activations after `after`, chained as Go's `Next` would be.
pub fn next_n(spec: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
    let schedule = parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    let zone = zone(tz).unwrap_or_else(|e| panic!("{tz:?}: {e}"));
    let display_zone = schedule.effective_zone(&zone).clone();
    let mut t: Instant = after.parse().unwrap();
    (0..n)
        .map(|_| {
            t = schedule.next_go(t, &zone);
            render(t, &display_zone)
        })
        .collect()
}

/// The first activation after `after`.
pub fn next1(spec: &str, tz: &str, after: &str) -> String {
    next_n(spec, tz, after, 1).remove(0)
}

/// Go's RFC 3339 rendering; the zero time is UTC in Go.
pub fn render(t: Instant, zone: &Zone) -> String {
    if t.is_go_zero() {
        t.rfc3339(&Zone::utc()).to_string()
    } else {
        t.rfc3339(zone).to_string()
    }
}

/// Declares one `#[test]` per case: `name: (spec, zone, after) => expected`.
#[macro_export]
macro_rules! next_cases {
    ($($name:ident: ($spec:expr, $tz:expr, $after:expr) => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(common::next1($spec, $tz, $after), $expected);
        }
    )*};
}
