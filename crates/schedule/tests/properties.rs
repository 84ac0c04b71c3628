//! Property tests over generated five-field schedules: Next moves strictly
//! forward (C-15), is monotone in its argument, and in UTC every returned
//! instant matches the fields with no earlier match skipped (C-11, C-14).

use kbatch_schedule::{Instant, STAR_BIT, Schedule, SpecSchedule, Zone, parse, zone};
use proptest::prelude::*;

/// One range item within `min..=max`, in any of the grammar's spellings.
fn item(min: u32, max: u32) -> impl Strategy<Value = String> {
    let span = max - min;
    prop_oneof![
        Just("*".to_owned()),
        Just("?".to_owned()),
        (1..=span + 2).prop_map(|s| format!("*/{s}")),
        (min..=max).prop_map(|v| v.to_string()),
        (min..=max, 0..=span).prop_map(move |(a, len)| format!("{a}-{}", (a + len).min(max))),
        (min..=max, 0..=span, 1..=span + 1)
            .prop_map(move |(a, len, s)| format!("{a}-{}/{s}", (a + len).min(max))),
        (min..=max, 1..=span + 1).prop_map(|(a, s)| format!("{a}/{s}")),
    ]
}

/// A comma list of one to three items.
fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop::collection::vec(item(min, max), 1..=3).prop_map(|items| items.join(","))
}

fn spec() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12),
        field(0, 6),
    )
        .prop_map(|(mi, h, dom, mo, dow)| format!("{mi} {h} {dom} {mo} {dow}"))
}

/// Instants from 1990 to 2060, with sub-second parts.
fn instant() -> impl Strategy<Value = Instant> {
    (631_152_000i64..2_840_140_800, 0u32..1_000_000_000)
        .prop_map(|(s, n)| Instant::from_unix(s, n).unwrap())
}

const ZONES: [&str; 7] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
];

fn civil(t: Instant) -> jiff::civil::DateTime {
    t.to_jiff()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .datetime()
}

/// Whether the fields name this UTC instant (spec.go dayMatches for days).
fn matches(spec: &SpecSchedule, t: Instant) -> bool {
    let dt = civil(t);
    let has = |bits: u64, v: i8| bits & (1 << v) != 0;
    let dom = has(spec.dom, dt.day());
    let dow = has(spec.dow, dt.weekday().to_sunday_zero_offset());
    let day = if spec.dom & STAR_BIT != 0 || spec.dow & STAR_BIT != 0 {
        dom && dow
    } else {
        dom || dow
    };
    dt.second() == 0
        && dt.subsec_nanosecond() == 0
        && has(spec.minute, dt.minute())
        && has(spec.hour, dt.hour())
        && has(spec.month, dt.month())
        && day
}

fn parsed(text: &str) -> Schedule {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn next_is_strictly_later(text in spec(), t in instant(), z in 0..ZONES.len()) {
        let schedule = parsed(&text);
        let zone = zone(ZONES[z]).unwrap();
        if let Some(next) = schedule.next(t, &zone) {
            prop_assert!(next > t, "{text:?} in {}: {next:?} <= {t:?}", ZONES[z]);
            prop_assert_eq!(next.subsec_nanos(), 0);
        }
    }

    #[test]
    fn next_is_monotone_in_utc(text in spec(), t in instant(), gap in 0i64..10_000_000) {
        let schedule = parsed(&text);
        let utc = Zone::utc();
        let later = Instant::from_unix(t.unix_seconds() + gap, t.subsec_nanos()).unwrap();
        let (a, b) = (schedule.next(t, &utc), schedule.next(later, &utc));
        if let (Some(a), Some(b)) = (a, b) {
            prop_assert!(a <= b, "{text:?}: next({t:?}) = {a:?} > next({later:?}) = {b:?}");
        }
    }

    #[test]
    fn utc_results_match_fields_and_skip_nothing(text in spec(), t in instant()) {
        let schedule = parsed(&text);
        let spec = *schedule.spec().unwrap();
        let Some(next) = schedule.next(t, &Zone::utc()) else {
            return Ok(());
        };
        prop_assert!(matches(&spec, next), "{text:?}: {next:?} does not match");
        // No matching minute between t and the result (checked up to 3 days).
        let first = t.unix_seconds().div_euclid(60) * 60 + 60;
        let end = next.unix_seconds().min(first + 3 * 86_400);
        for s in (first..end).step_by(60) {
            let m = Instant::from_unix(s, 0).unwrap();
            prop_assert!(!matches(&spec, m), "{text:?}: skipped {m:?} before {next:?}");
        }
    }

    #[test]
    fn chained_results_increase_in_dst_zones(text in spec(), t in instant(), z in 0..ZONES.len()) {
        let schedule = parsed(&text);
        let zone = zone(ZONES[z]).unwrap();
        let mut prev = t;
        for _ in 0..20 {
            match schedule.next(prev, &zone) {
                Some(next) => {
                    prop_assert!(next > prev);
                    prev = next;
                }
                None => break,
            }
        }
    }

    #[test]
    fn every_adds_the_delay(hours in 0i64..1_000, seconds in 0i64..3_600, t in instant()) {
        let schedule = parsed(&format!("@every {hours}h{seconds}s"));
        let delay = (hours * 3_600 + seconds).max(1);
        let next = schedule.next(t, &Zone::utc()).unwrap();
        prop_assert_eq!(next.unix_seconds(), t.unix_seconds() + delay);
        prop_assert_eq!(next.subsec_nanos(), 0);
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,40}") {
        let _ = parse(&text);
    }
}
