//! Descriptors and `@every` (C-13), the zero time for schedules that never
//! fire and chaining from it (C-15), and `TZ=`/`CRON_TZ=` prefixes (C-16).

mod common;

use common::next_n;
use kbatch_schedule::{STAR_BIT, parse, zone};

next_cases! {
    // C-13 descriptors: exact midnight/hour instants.
    yearly: ("@yearly", "UTC", "2025-06-01T00:00:00Z") => "2026-01-01T00:00:00Z";
    annually: ("@annually", "UTC", "2025-06-01T00:00:00Z") => "2026-01-01T00:00:00Z";
    yearly_on_new_year: ("@yearly", "UTC", "2026-01-01T00:00:00Z") => "2027-01-01T00:00:00Z";
    monthly: ("@monthly", "UTC", "2025-01-31T12:00:00Z") => "2025-02-01T00:00:00Z";
    monthly_december: ("@monthly", "UTC", "2025-12-15T00:00:00Z") => "2026-01-01T00:00:00Z";
    weekly_is_sunday: ("@weekly", "UTC", "2025-01-01T00:00:00Z") => "2025-01-05T00:00:00Z";
    weekly_from_sunday: ("@weekly", "UTC", "2025-01-05T00:00:00Z") => "2025-01-12T00:00:00Z";
    daily: ("@daily", "UTC", "2025-01-01T00:00:00Z") => "2025-01-02T00:00:00Z";
    midnight: ("@midnight", "UTC", "2025-01-01T23:59:59.999Z") => "2025-01-02T00:00:00Z";
    hourly: ("@hourly", "UTC", "2025-01-01T10:59:59Z") => "2025-01-01T11:00:00Z";
    hourly_strictly_after: ("@hourly", "UTC", "2025-01-01T11:00:00Z") => "2025-01-01T12:00:00Z";
    daily_in_tokyo: ("@daily", "Asia/Tokyo", "2025-01-01T00:00:00Z") => "2025-01-02T00:00:00+09:00";
    weekly_in_new_york: ("@weekly", "America/New_York", "2025-01-05T04:59:59Z") => "2025-01-05T00:00:00-05:00";
    // C-13 @every: not aligned to the clock, sub-second part of `after` dropped.
    every_90m: ("@every 1h30m", "UTC", "2025-01-01T00:00:00.5Z") => "2025-01-01T01:30:00Z";
    every_unaligned: ("@every 1h", "UTC", "2025-01-01T00:17:23Z") => "2025-01-01T01:17:23Z";
    every_below_one_second: ("@every 500ms", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:01Z";
    every_sub_second_truncated: ("@every 1.9s", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:01Z";
    every_fraction_of_second_dropped: ("@every 1h0.999s", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T01:00:00Z";
    every_zero: ("@every 0", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:01Z";
    every_negative: ("@every -5m", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:01Z";
    every_plus_sign: ("@every +2m", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:02:00Z";
    every_fractional_hour: ("@every 1.5h", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T01:30:00Z";
    every_micro_sign: ("@every 2000000µs", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:02Z";
    every_greek_mu: ("@every 3000000μs", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:03Z";
    every_nanoseconds: ("@every 61000000000ns", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:01:01Z";
    every_repeated_units: ("@every 1m1m", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:02:00Z";
    every_is_absolute_across_dst: ("@every 24h", "Europe/Berlin", "2025-03-29T12:00:00+01:00") => "2025-03-30T13:00:00+02:00";
    every_ignores_tz_prefix: ("TZ=Asia/Tokyo @every 1h", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T10:00:00+09:00";
    every_from_go_zero: ("@every 1h", "UTC", "0001-01-01T00:00:00Z") => "0001-01-01T01:00:00Z";
    every_past_year_9999: ("@every 48h", "UTC", "9999-12-31T00:00:00Z") => "10000-01-02T00:00:00Z";
    daily_at_year_9999_end: ("0 0 * * *", "UTC", "9999-12-31T12:00:00Z") => "10000-01-01T00:00:00Z";
    yearly_beyond_9999_keeps_offset_rules: ("@yearly", "Europe/Berlin", "9999-06-01T00:00:00Z") => "10000-01-01T00:00:00+01:00";
    summer_beyond_9999_is_cest: ("0 12 1 7 *", "Europe/Berlin", "9999-12-01T00:00:00Z") => "10000-07-01T12:00:00+02:00";
    // C-15: from the zero time, and past year 9999 as Go does.
    daily_from_go_zero: ("0 0 * * *", "UTC", "0001-01-01T00:00:00Z") => "0001-01-02T00:00:00Z";
    never_from_go_zero: ("0 0 30 2 *", "UTC", "0001-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    empty_dom_list_never: ("0 0 , * *", "UTC", "2025-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    empty_dow_list_never: ("0 0 * * ,", "UTC", "2025-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    empty_month_list_never: ("0 0 1 , *", "UTC", "2025-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    empty_minute_list_never: (", * * * *", "UTC", "2025-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    empty_hour_list_never: ("0 , * * *", "UTC", "2025-01-01T00:00:00Z") => "0001-01-01T00:00:00Z";
    // C-16 prefixes: the schedule's own zone overrides the caller's.
    tz_prefix_overrides_zone: ("TZ=America/New_York @daily", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T00:00:00-05:00";
    cron_tz_prefix: ("CRON_TZ=Asia/Tokyo 0 9 * * *", "UTC", "2025-01-01T00:00:00Z") => "2025-01-02T09:00:00+09:00";
    tz_prefix_over_berlin: ("TZ=UTC 0 9 * * *", "Europe/Berlin", "2025-01-01T00:00:00Z") => "2025-01-01T09:00:00Z";
    tz_empty_name_is_utc: ("TZ= 0 9 * * *", "Europe/Berlin", "2025-01-01T00:00:00Z") => "2025-01-01T09:00:00Z";
    tz_local_defers_to_caller: ("TZ=Local 0 9 * * *", "Europe/Berlin", "2025-01-01T00:00:00Z") => "2025-01-01T09:00:00+01:00";
    tz_prefix_trims_rest: ("TZ=Europe/London    @hourly   ", "UTC", "2025-07-01T00:30:00Z") => "2025-07-01T02:00:00+01:00";
    tz_prefix_with_descriptor_dst: ("CRON_TZ=America/New_York 30 2 * * *", "UTC", "2025-03-09T05:00:00Z") => "2025-03-10T02:30:00-04:00";
    tz_prefix_link_name: ("TZ=US/Pacific 0 12 * * *", "UTC", "2025-01-01T00:00:00Z") => "2025-01-01T12:00:00-08:00";
}

#[test]
fn never_firing_chains_as_zero() {
    // C-15: Next keeps returning the zero time, and Next(zero) too.
    assert_eq!(
        next_n("59 23 31 2 *", "Europe/Berlin", "2025-01-01T00:00:00Z", 3),
        ["0001-01-01T00:00:00Z"; 3]
    );
}

#[test]
fn every_chains_by_delay() {
    assert_eq!(
        next_n("@every 90m", "UTC", "2025-01-01T00:00:00Z", 3),
        [
            "2025-01-01T01:30:00Z",
            "2025-01-01T03:00:00Z",
            "2025-01-01T04:30:00Z"
        ]
    );
}

#[test]
fn weekday_sequence_matches_a13() {
    // test-cases A13/B2: 30 10,11,12 * * 1-5, Friday to Monday.
    assert_eq!(
        next_n("30 10,11,12 * * 1-5", "UTC", "2025-01-03T10:30:00Z", 4),
        [
            "2025-01-03T11:30:00Z",
            "2025-01-03T12:30:00Z",
            "2025-01-06T10:30:00Z",
            "2025-01-06T11:30:00Z"
        ]
    );
}

#[test]
fn star_bit_follows_the_library() {
    // C-14: which spellings keep the star on the day fields.
    let or = |s: &str| parse(s).unwrap().spec().unwrap().days_combine_with_or();
    assert!(or("0 0 13 * 5"));
    assert!(or("0 0 */2 * 1"));
    assert!(or("0 0 1-31 * 0-6"));
    assert!(!or("0 0 */1 * 1"));
    assert!(!or("0 0 ? * 1"));
    assert!(!or("0 0 1 * *"));
    assert!(!or("0 0 *-3/1 * 1"));
    assert!(!or("@weekly"));
    let spec = *parse("*/1 */2 ? * mon").unwrap().spec().unwrap();
    assert_ne!(spec.minute & STAR_BIT, 0);
    assert_eq!(spec.hour & STAR_BIT, 0);
    assert_ne!(spec.dom & STAR_BIT, 0);
    assert_eq!(spec.dow, 1 << 1);
}

#[test]
fn descriptors_equal_their_fields() {
    // C-13: each descriptor is the five-field schedule it stands for.
    let bits = |s: &str| *parse(s).unwrap().spec().unwrap();
    assert_eq!(bits("@yearly"), bits("0 0 1 1 *"));
    assert_eq!(bits("@annually"), bits("0 0 1 1 *"));
    assert_eq!(bits("@monthly"), bits("0 0 1 * *"));
    assert_eq!(bits("@weekly"), bits("0 0 * * 0"));
    assert_eq!(bits("@daily"), bits("0 0 * * *"));
    assert_eq!(bits("@midnight"), bits("0 0 * * *"));
    assert_eq!(bits("@hourly"), bits("0 * * * *"));
}

#[test]
fn lenient_spellings_equal_plain_ones() {
    // C-11/C-12: spellings Go's Atoi and the list splitter accept.
    let bits = |s: &str| *parse(s).unwrap().spec().unwrap();
    assert_eq!(bits("+5 +1 +2 +3 +4"), bits("5 1 2 3 4"));
    assert_eq!(bits("05 01 02 03 04"), bits("5 1 2 3 4"));
    assert_eq!(bits("1,,2 * * * *"), bits("1,2 * * * *"));
    assert_eq!(bits("*-7 * * * *"), bits("* * * * *"));
    assert_eq!(bits("? ? ? ? ?"), bits("* * * * *"));
    assert_eq!(bits("* * * JAN-Mar mOn"), bits("* * * 1-3 1"));
    assert_eq!(bits("* * * * FR\u{130}"), bits("* * * * 5"));
    assert_eq!(bits("0/15 * * * *"), bits("0,15,30,45 * * * *"));
    assert_eq!(bits("* * * * */7"), bits("* * * * 0/7"));
    assert_eq!(bits("* * * * 0-6/2"), bits("* * * * 0,2,4,6"));
}

#[test]
fn every_delay_is_whole_seconds() {
    let delay = |s: &str| parse(s).unwrap().every().unwrap().delay_seconds();
    assert_eq!(delay("@every 1h30m"), 5400);
    assert_eq!(delay("@every 999ms"), 1);
    assert_eq!(delay("@every -1h"), 1);
    assert_eq!(delay("@every 2.5s"), 2);
    assert_eq!(delay("@every 2562047h"), 9_223_369_200);
}

#[test]
fn zone_errors_are_go_texts() {
    assert_eq!(
        zone("Europe/Atlantis").unwrap_err().to_string(),
        "unknown time zone Europe/Atlantis"
    );
    assert_eq!(
        zone("AMERICA/NEW_YORK").unwrap_err().to_string(),
        "unknown time zone AMERICA/NEW_YORK"
    );
    assert_eq!(
        zone("a/../b").unwrap_err().to_string(),
        "time: invalid location name"
    );
    assert_eq!(
        zone("\\x").unwrap_err().to_string(),
        "time: invalid location name"
    );
    assert_eq!(zone("").unwrap().name(), "UTC");
    assert_eq!(zone("Pacific/Chatham").unwrap().name(), "Pacific/Chatham");
}
