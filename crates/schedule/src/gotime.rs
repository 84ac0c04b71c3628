//! Go's `time` package arithmetic that robfig/cron's `SpecSchedule.Next`
//! leans on: calendar fields of an instant in a location (`Time.Date`,
//! `Time.Clock`, `Time.Weekday`), `time.Date`'s normalisation of
//! out-of-range and non-existent local times, `Time.AddDate`,
//! `Time.Truncate` and `Time.Add`.
//!
//! Instants are Go's internal seconds (since 0001-01-01T00:00:00Z, proleptic
//! Gregorian); "local seconds" are the same count shifted by the zone's
//! offset, as Go's `Time.abs` computes them.

use crate::instant::{UNIX_TO_INTERNAL, add_sec};
use crate::zone::{Period, Zone};

pub(crate) const SECONDS_PER_MINUTE: i64 = 60;
pub(crate) const SECONDS_PER_HOUR: i64 = 3_600;
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 0001-01-01 to 1970-01-01.
const UNIX_EPOCH_DAYS: i64 = UNIX_TO_INTERNAL / SECONDS_PER_DAY;

/// The calendar and clock fields of one local second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday, as Go's `time.Weekday`.
    pub weekday: u32,
}

impl Civil {
    /// Splits local seconds into fields (Go's `absSeconds.days().date()` and
    /// `absClock`).
    pub(crate) fn from_local(local: i64) -> Civil {
        let days = local.div_euclid(SECONDS_PER_DAY);
        let secs = local.rem_euclid(SECONDS_PER_DAY) as u32;
        let unix_days = days.wrapping_sub(UNIX_EPOCH_DAYS);
        let (year, month, day) = civil_from_unix_days(unix_days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3_600,
            minute: secs / 60 % 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday.
            weekday: (unix_days.wrapping_add(4)).rem_euclid(7) as u32,
        }
    }
}

/// Proleptic Gregorian date of a day count relative to 1970-01-01
/// (H. Hinnant's `civil_from_days`).
fn civil_from_unix_days(z: i64) -> (i64, u32, u32) {
    let z = z.wrapping_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era.wrapping_mul(400)).wrapping_add(i64::from(month <= 2));
    (year, month, day)
}

/// Days from 1970-01-01 to the first of `month` (1..=12) in `year`
/// (H. Hinnant's `days_from_civil`).
fn unix_days_from_civil(year: i64, month: u32) -> i64 {
    let y = year.wrapping_sub(i64::from(month <= 2));
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.wrapping_mul(146_097).wrapping_add(doe - 719_468)
}

/// Go's `time.Date` on local fields that may be out of range: months
/// overflow into years, days/hours/minutes/seconds into the next larger
/// unit (Go's `norm`), and the result is a local second count.
pub(crate) fn local_from_fields(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> i64 {
    let month0 = month - 1;
    let year = year.wrapping_add(month0.div_euclid(12));
    let month = month0.rem_euclid(12) as u32 + 1;
    let days = unix_days_from_civil(year, month)
        .wrapping_add(UNIX_EPOCH_DAYS)
        .wrapping_add(day - 1);
    days.wrapping_mul(SECONDS_PER_DAY)
        .wrapping_add(hour * SECONDS_PER_HOUR + minute * SECONDS_PER_MINUTE + second)
}

/// Go's `Time.Truncate(d)` for a whole number of seconds `d`: rounds down
/// on the absolute time line (not the wall clock) since the zero time.
pub(crate) fn truncate(sec: i64, d: i64) -> i64 {
    sec - sec.rem_euclid(d)
}

/// Go's `Time.Add` of whole seconds.
pub(crate) fn add(sec: i64, d: i64) -> i64 {
    add_sec(sec, d)
}

/// A view of instants in one location that remembers the last zone period
/// it looked up, so that stepping through a day costs no zone search.
#[derive(Debug)]
pub(crate) struct Clock<'z> {
    zone: &'z Zone,
    period: Period,
}

impl<'z> Clock<'z> {
    pub(crate) fn new(zone: &'z Zone) -> Clock<'z> {
        Clock {
            zone,
            period: Period::EMPTY,
        }
    }

    /// The zone period holding `sec` (Go's `Location.lookup`).
    pub(crate) fn period(&mut self, sec: i64) -> Period {
        if !self.period.contains(sec) {
            self.period = self.zone.period(sec);
        }
        self.period
    }

    /// Local seconds of `sec` in this location.
    pub(crate) fn local(&mut self, sec: i64) -> i64 {
        sec.wrapping_add(self.period(sec).offset)
    }

    /// Calendar fields of `sec` in this location.
    pub(crate) fn civil(&mut self, sec: i64) -> Civil {
        Civil::from_local(self.local(sec))
    }

    /// Mirrors Go's `time.Date(year, month, day, hour, min, sec, 0, loc)`.
    ///
    /// Go reads the local time as if it were UTC, takes that instant's
    /// offset, and when local-minus-offset falls outside the period it looked
    /// up, uses the offset at local-minus-offset instead. Within one period
    /// the offset is the same, so this is `local - offset(local -
    /// offset(local))`: a local time in a spring-forward gap resolves with the
    /// offset from before the gap on one side of the world and after it on the
    /// other, and a repeated local time picks the period Go's guess lands in.
    pub(crate) fn date(
        &mut self,
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> i64 {
        let local = local_from_fields(year, month, day, hour, minute, second);
        let guess = self.period(local).offset;
        let offset = self.period(local.wrapping_sub(guess)).offset;
        local.wrapping_sub(offset)
    }

    /// Mirrors Go's `Time.AddDate(0, months, days)`: the wall-clock fields of
    /// `sec`, shifted, renormalised by `time.Date`.
    pub(crate) fn add_date(&mut self, sec: i64, months: i64, days: i64) -> i64 {
        let c = self.civil(sec);
        self.date(
            c.year,
            i64::from(c.month) + months,
            i64::from(c.day) + days,
            i64::from(c.hour),
            i64::from(c.minute),
            i64::from(c.second),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(unix: i64) -> i64 {
        unix + UNIX_TO_INTERNAL
    }

    #[test]
    fn civil_round_trip_over_many_years() {
        // Every 7th day from year -2000 to 12000 maps back to itself.
        let start = local_from_fields(-2000, 1, 1, 0, 0, 0);
        let end = local_from_fields(12000, 1, 1, 0, 0, 0);
        let mut s = start;
        while s < end {
            let c = Civil::from_local(s);
            assert_eq!(
                local_from_fields(c.year, c.month.into(), c.day.into(), 0, 0, 0),
                s
            );
            s += 7 * SECONDS_PER_DAY + 3_601;
            s -= s.rem_euclid(SECONDS_PER_DAY);
        }
    }

    #[test]
    fn known_dates() {
        let c = Civil::from_local(internal(0));
        assert_eq!((c.year, c.month, c.day, c.weekday), (1970, 1, 1, 4));
        let c = Civil::from_local(0);
        assert_eq!((c.year, c.month, c.day, c.weekday), (1, 1, 1, 1));
        // 2100 is not a leap year, 2000 was.
        let c = Civil::from_local(local_from_fields(2100, 2, 29, 0, 0, 0));
        assert_eq!((c.year, c.month, c.day), (2100, 3, 1));
        let c = Civil::from_local(local_from_fields(2000, 2, 29, 0, 0, 0));
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
    }

    #[test]
    fn date_normalises_like_go() {
        // time.Date(2023, 13, 32, 25, 61, 61, 0, UTC) = 2024-02-02T02:02:01Z
        let s = local_from_fields(2023, 13, 32, 25, 61, 61);
        let c = Civil::from_local(s);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2024, 2, 2, 2, 2, 1)
        );
        // Month 0 and day 0 step back.
        let c = Civil::from_local(local_from_fields(2024, 0, 0, 0, 0, 0));
        assert_eq!((c.year, c.month, c.day), (2023, 11, 30));
    }

    #[test]
    fn truncate_is_absolute() {
        assert_eq!(truncate(internal(125), 60), internal(120));
        assert_eq!(truncate(-1, 60), -60);
    }
}
