//! Ages and durations as `kubectl get` shows them: apimachinery's `duration.HumanDuration`
//! (`pkg/util/duration/duration.go`) and the printers' `translateTimestampSince` /
//! `translateMicroTimestampSince` (`pkg/printers/internalversion/printers.go`).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

/// Go's zero `time.Time`, 0001-01-01T00:00:00Z: what a missing timestamp decodes to in Go, and
/// what `IsZero` tests for.
const GO_ZERO: Timestamp = Timestamp::constant(-62_135_596_800, 0);

/// P-2, `HumanDuration`: about two or three significant figures, `<invalid>` for more than a
/// second in the future (clock skew of up to two seconds still reads as `0s`).
pub fn human_duration(d: SignedDuration) -> String {
    // Go's `int(d.Seconds())` truncates toward zero, as `as_secs` does.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return with_remainder(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return with_remainder(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

/// `3m10s`, or `3m` when the smaller unit is zero.
fn with_remainder(big: i64, big_unit: &str, small: i64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// P-1, `translateTimestampSince`: `<unknown>` for an unset (zero) time, else the human
/// duration from `t` to `now`.
pub fn translate_timestamp_since(t: Option<&Time>, now: Timestamp) -> String {
    since(instant(t.map(|t| t.0)), now)
}

/// `translateMicroTimestampSince`: P-1 for the microsecond times of events.
pub fn translate_micro_timestamp_since(t: Option<&MicroTime>, now: Timestamp) -> String {
    since(instant(t.map(|t| t.0)), now)
}

fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        None => "<unknown>".to_owned(),
        Some(t) => human_duration(go_sub(now, t)),
    }
}

/// A timestamp that Go would not consider zero: `None` for unset and for an explicit
/// 0001-01-01T00:00:00Z alike.
pub(crate) fn instant(t: Option<Timestamp>) -> Option<Timestamp> {
    t.filter(|t| *t != GO_ZERO)
}

/// Go's `Time.Sub`: `a - b`, saturated to what a `time.Duration` (int64 nanoseconds, about
/// 292 years) can hold.
pub(crate) fn go_sub(a: Timestamp, b: Timestamp) -> SignedDuration {
    let nanos = a.duration_since(b).as_nanos();
    SignedDuration::from_nanos_i128(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    // P-2: the examples of printing.md §1 and apimachinery's duration_test.go boundaries.
    #[test]
    fn p2_human_duration_table() {
        let m = 60;
        let h = 3600;
        let d = 24 * h;
        let y = 365 * d;
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (70, "70s"),
            (119, "119s"),
            (120, "2m"),
            (190, "3m10s"),
            (9 * m + 59, "9m59s"),
            (10 * m, "10m"),
            (10 * m + 1, "10m"),
            (70 * m, "70m"),
            (179 * m, "179m"),
            (3 * h, "3h"),
            (3 * h + m, "3h1m"),
            (7 * h + 59 * m, "7h59m"),
            (8 * h + 59 * m, "8h"),
            (47 * h, "47h"),
            (48 * h, "2d"),
            (49 * h, "2d1h"),
            (7 * d + 23 * h, "7d23h"),
            (8 * d + 2 * h, "8d"),
            (367 * d, "367d"),
            (2 * y - 1, "729d"),
            (2 * y, "2y"),
            (2 * y + d, "2y1d"),
            (7 * y + 364 * d, "7y364d"),
            (8 * y, "8y"),
            (100 * y, "100y"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(secs(*s)), *want, "{s}s");
        }
    }

    // P-2: sub-second parts are truncated, not rounded.
    #[test]
    fn p2_truncates_fractions() {
        assert_eq!(
            human_duration(SignedDuration::new(119, 999_999_999)),
            "119s"
        );
        assert_eq!(human_duration(SignedDuration::new(0, 999_999_999)), "0s");
    }

    // P-2: up to (but not including) two seconds in the future reads as `0s`; more is `<invalid>`.
    #[test]
    fn p2_negative_durations() {
        assert_eq!(human_duration(SignedDuration::new(0, -500_000_000)), "0s");
        assert_eq!(human_duration(secs(-1)), "0s");
        assert_eq!(human_duration(SignedDuration::new(-1, -999_999_999)), "0s");
        assert_eq!(human_duration(secs(-2)), "<invalid>");
        assert_eq!(human_duration(secs(-3600)), "<invalid>");
    }

    // P-1: unset and Go's zero time print `<unknown>`; anything else is the age.
    #[test]
    fn p1_translate_timestamp_since() {
        assert_eq!(translate_timestamp_since(None, now()), "<unknown>");
        let zero = Time(GO_ZERO);
        assert_eq!(translate_timestamp_since(Some(&zero), now()), "<unknown>");
        let t = Time("2026-03-01T11:56:50Z".parse().unwrap());
        assert_eq!(translate_timestamp_since(Some(&t), now()), "3m10s");
        let future = Time("2026-03-01T12:00:05Z".parse().unwrap());
        assert_eq!(translate_timestamp_since(Some(&future), now()), "<invalid>");
        let micro = MicroTime("2026-02-27T10:59:59.123456Z".parse().unwrap());
        assert_eq!(translate_micro_timestamp_since(Some(&micro), now()), "2d1h");
        assert_eq!(translate_micro_timestamp_since(None, now()), "<unknown>");
    }

    // P-2: Go's durations saturate at about 292 years instead of overflowing.
    #[test]
    fn p2_saturates_like_go_durations() {
        let ancient: Timestamp = "1000-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(human_duration(go_sub(now(), ancient)), "292y");
        assert_eq!(human_duration(go_sub(ancient, now())), "<invalid>");
    }
}
