//! The instant type of the schedule engine: Go's `time.Time` reduced to what
//! robfig/cron needs (no location, no monotonic reading).
//!
//! Go counts seconds from 0001-01-01T00:00:00Z (its zero time) and saturates
//! instead of overflowing; `Instant` keeps that representation so that
//! chaining `Next` from the zero time, or far past year 9999 with `@every`,
//! behaves as it does in Go.

use std::fmt;
use std::str::FromStr;

use crate::gotime;
use crate::zone::Zone;

/// Seconds from 0001-01-01T00:00:00Z to 1970-01-01T00:00:00Z (Go's
/// `unixToInternal`).
pub(crate) const UNIX_TO_INTERNAL: i64 = 62_135_596_800;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// An instant with nanosecond precision, on Go's time line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Seconds since 0001-01-01T00:00:00Z (Go's `Time.sec()`).
    sec: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    nsec: u32,
}

impl Instant {
    /// Go's zero `time.Time{}`: 0001-01-01T00:00:00Z. robfig/cron returns it
    /// for a schedule that never fires.
    pub const GO_ZERO: Instant = Instant { sec: 0, nsec: 0 };

    /// The instant `seconds` after the Unix epoch plus `nanos`; `None` when
    /// `nanos` is not below one second or Go's time line cannot hold it.
    pub fn from_unix(seconds: i64, nanos: u32) -> Option<Instant> {
        if i64::from(nanos) >= NANOS_PER_SECOND {
            return None;
        }
        let sec = seconds.checked_add(UNIX_TO_INTERNAL)?;
        Some(Instant { sec, nsec: nanos })
    }

    /// Whole seconds since the Unix epoch (Go's `Time.Unix`).
    pub fn unix_seconds(self) -> i64 {
        self.sec.wrapping_sub(UNIX_TO_INTERNAL)
    }

    /// Nanoseconds within the second (Go's `Time.Nanosecond`).
    pub fn subsec_nanos(self) -> u32 {
        self.nsec
    }

    /// Whether this is Go's zero time (`Time.IsZero`).
    pub fn is_go_zero(self) -> bool {
        self == Self::GO_ZERO
    }

    /// The same instant as a `jiff::Timestamp`, when jiff's range (years
    /// -9999..=9999) holds it.
    pub fn to_jiff(self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::new(self.unix_seconds(), i32::try_from(self.nsec).ok()?).ok()
    }

    /// Formats the instant as Go's `t.In(zone).Format(time.RFC3339)` does.
    pub fn rfc3339(self, zone: &Zone) -> Rfc3339<'_> {
        Rfc3339 {
            instant: self,
            zone,
        }
    }

    pub(crate) fn from_internal(sec: i64) -> Instant {
        Instant { sec, nsec: 0 }
    }

    pub(crate) fn internal_seconds(self) -> i64 {
        self.sec
    }

    /// Mirrors Go's `Time.Add(d)` for `d` in nanoseconds, including the
    /// saturation of `Time.addSec` at ±(2^63-1) seconds.
    pub(crate) fn add_nanos(self, d: i64) -> Instant {
        let mut dsec = d / NANOS_PER_SECOND;
        let mut nsec = i64::from(self.nsec) + d % NANOS_PER_SECOND;
        if nsec >= NANOS_PER_SECOND {
            dsec += 1;
            nsec -= NANOS_PER_SECOND;
        } else if nsec < 0 {
            dsec -= 1;
            nsec += NANOS_PER_SECOND;
        }
        Instant {
            sec: add_sec(self.sec, dsec),
            // In 0..1e9 by the normalisation above.
            nsec: nsec as u32,
        }
    }
}

/// Mirrors Go's `Time.addSec`: on overflow the result sticks at ±(2^63-1).
pub(crate) fn add_sec(sec: i64, d: i64) -> i64 {
    let sum = sec.wrapping_add(d);
    if (sum > sec) == (d > 0) {
        sum
    } else if d > 0 {
        i64::MAX
    } else {
        -i64::MAX
    }
}

impl From<jiff::Timestamp> for Instant {
    fn from(ts: jiff::Timestamp) -> Instant {
        // jiff's range (years -9999..=9999) lies well inside Go's, and its
        // sub-second part of a negative timestamp is negative.
        let mut sec = ts.as_second() + UNIX_TO_INTERNAL;
        let mut nsec = ts.subsec_nanosecond();
        if nsec < 0 {
            sec -= 1;
            nsec += 1_000_000_000;
        }
        Instant {
            sec,
            nsec: nsec as u32,
        }
    }
}

/// Why a time text did not parse as an RFC 3339 instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {input:?} as RFC 3339 (2006-01-02T15:04:05Z07:00) failed")]
pub struct InstantParseError {
    input: String,
}

impl FromStr for Instant {
    type Err = InstantParseError;

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`, as Go's
    /// `time.Parse(time.RFC3339, …)` accepts it: four-digit years 0000-9999,
    /// fields in range for their month, an offset below 24 hours.
    fn from_str(s: &str) -> Result<Instant, InstantParseError> {
        parse_rfc3339(s).ok_or_else(|| InstantParseError {
            input: s.to_owned(),
        })
    }
}

fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut at = 19;
    let mut nanos = 0i64;
    if matches!(b.get(at), Some(b'.' | b',')) {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        // Go keeps nanosecond precision and drops further digits.
        for i in 0..9 {
            nanos = nanos * 10 + if i < digits { num(at + 1 + i, 1)? } else { 0 };
        }
        at += 1 + digits;
    }
    let offset = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h >= 24 || m >= 60 {
                return None;
            }
            let magnitude = h * 3_600 + m * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let month_ok = (1..=12).contains(&month);
    if !month_ok || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let local = gotime::local_from_fields(year, month, day, hour, minute, second);
    Some(Instant {
        sec: local - offset,
        nsec: nanos as u32,
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let next = gotime::local_from_fields(year, month + 1, 1, 0, 0, 0);
    let this = gotime::local_from_fields(year, month, 1, 0, 0, 0);
    (next - this) / gotime::SECONDS_PER_DAY
}

/// Display adapter for [`Instant::rfc3339`].
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339<'z> {
    instant: Instant,
    zone: &'z Zone,
}

impl fmt::Display for Rfc3339<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.zone.offset_at(self.instant.sec);
        let c = gotime::Civil::from_local(self.instant.sec.wrapping_add(offset));
        // Go's appendInt(b, year, 4): sign, then at least four digits.
        if c.year < 0 {
            write!(f, "-{:04}", c.year.unsigned_abs())?;
        } else {
            write!(f, "{:04}", c.year)?;
        }
        write!(
            f,
            "-{:02}-{:02}T{:02}:{:02}:{:02}",
            c.month, c.day, c.hour, c.minute, c.second
        )?;
        // Go's "Z07:00": "Z" for a zero offset, else ±hh:mm with the
        // offset's seconds dropped (minutes truncated toward zero).
        if offset == 0 {
            return f.write_str("Z");
        }
        let minutes = offset / 60;
        let sign = if minutes < 0 { '-' } else { '+' };
        let minutes = minutes.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_is_year_one() {
        let zero = Instant::GO_ZERO;
        assert_eq!(zero.unix_seconds(), -62_135_596_800);
        assert_eq!(
            zero.rfc3339(&Zone::utc()).to_string(),
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn add_saturates_like_go() {
        let far = Instant::from_internal(i64::MAX - 1);
        assert_eq!(far.add_nanos(5_000_000_000).internal_seconds(), i64::MAX);
        let early = Instant::from_internal(-i64::MAX + 1);
        assert_eq!(
            early.add_nanos(-5_000_000_000).internal_seconds(),
            -i64::MAX
        );
    }

    #[test]
    fn add_carries_nanoseconds() {
        let t = Instant::from_unix(10, 900_000_000).unwrap();
        let u = t.add_nanos(200_000_000);
        assert_eq!((u.unix_seconds(), u.subsec_nanos()), (11, 100_000_000));
        let v = t.add_nanos(-1_950_000_000);
        assert_eq!((v.unix_seconds(), v.subsec_nanos()), (8, 950_000_000));
    }

    #[test]
    fn jiff_round_trip() {
        let ts = jiff::Timestamp::new(-5, -250_000_000).unwrap();
        let i = Instant::from(ts);
        assert_eq!((i.unix_seconds(), i.subsec_nanos()), (-6, 750_000_000));
        assert_eq!(i.to_jiff(), Some(ts));
    }

    #[test]
    fn parses_rfc3339_like_go() {
        let p = |s: &str| {
            s.parse::<Instant>()
                .map(|i| (i.unix_seconds(), i.subsec_nanos()))
        };
        assert_eq!(p("1970-01-01T00:00:00Z"), Ok((0, 0)));
        assert_eq!(p("1970-01-01T01:00:00+01:00"), Ok((0, 0)));
        assert_eq!(p("1970-01-01T00:00:00.5-00:30"), Ok((1_800, 500_000_000)));
        assert_eq!(p("1970-01-01T00:00:00.1234567891Z"), Ok((0, 123_456_789)));
        assert_eq!(p("9999-12-31T23:59:59Z"), Ok((253_402_300_799, 0)));
        assert_eq!(p("0001-01-01T00:00:00Z").map(|x| x.0), Ok(-62_135_596_800));
        assert_eq!(p("2024-02-29T00:00:00Z").map(|x| x.0), Ok(1_709_164_800));
        for bad in [
            "2025-02-29T00:00:00Z",
            "2025-01-01 00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00+24:00",
            "2025-01-01T00:00:00+0100",
            "2025-01-01T00:00:00.Z",
            "25-01-01T00:00:00Z",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_years_outside_four_digits() {
        let utc = Zone::utc();
        let y10000 = Instant::from_unix(253_402_300_800, 0).unwrap();
        assert_eq!(y10000.rfc3339(&utc).to_string(), "10000-01-01T00:00:00Z");
        let before_zero = Instant::from_internal(-1);
        assert_eq!(
            before_zero.rfc3339(&utc).to_string(),
            "0000-12-31T23:59:59Z"
        );
    }
}
