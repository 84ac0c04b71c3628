//! `SpecSchedule`: robfig/cron v3.0.1 spec.go — bit sets per field and the
//! field-by-field search of `Next` (C-14, C-15, C-16).

use crate::gotime::{self, Civil, Clock, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE};
use crate::instant::Instant;
use crate::zone::Zone;

/// One field's allowed values as bits, plus [`STAR_BIT`].
pub type Bits = u64;

/// spec.go `starBit`: set when a list item was `*` or `?` without a step
/// above one; it makes day-of-month and day-of-week combine with AND.
pub const STAR_BIT: Bits = 1 << 63;

/// A parsed five-field schedule (spec.go `SpecSchedule` without its
/// location, which [`crate::Schedule`] carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecSchedule {
    /// Always `1` (second 0): the standard parser has no seconds field.
    pub second: Bits,
    /// Minutes 0..=59.
    pub minute: Bits,
    /// Hours 0..=23.
    pub hour: Bits,
    /// Days of the month 1..=31.
    pub dom: Bits,
    /// Months 1..=12.
    pub month: Bits,
    /// Days of the week 0..=6, 0 = Sunday.
    pub dow: Bits,
}

impl SpecSchedule {
    /// Whether day-of-month and day-of-week are both restricted, so a day
    /// matching either fires (spec.go `dayMatches`, C-14).
    pub fn days_combine_with_or(&self) -> bool {
        self.dom & STAR_BIT == 0 && self.dow & STAR_BIT == 0
    }

    /// Mirrors spec.go `dayMatches`.
    pub(crate) fn day_matches(&self, c: &Civil) -> bool {
        let dom = self.dom & (1 << c.day) != 0;
        let dow = self.dow & (1 << c.weekday) != 0;
        if self.days_combine_with_or() {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// Mirrors spec.go `SpecSchedule.Next` in `zone`: the first matching
    /// second after `after`, or `None` (Go's zero time) when five years of
    /// search find nothing.
    ///
    /// Steps exactly as the library does — hours, minutes and seconds with
    /// `Time.Add` (absolute), days and months with `time.Date`/`AddDate`
    /// (wall clock, normalised by Go) — so DST gaps and overlaps come out as
    /// they do in Kubernetes. Runs of single steps that stay inside one zone
    /// period are taken in one jump, which visits the same instants' fields.
    pub(crate) fn next(&self, after: Instant, zone: &Zone) -> Option<Instant> {
        let mut clock = Clock::new(zone);
        // Start at the upcoming second: t.Add(1s - t.Nanosecond()).
        let mut t = after
            .add_nanos(1_000_000_000 - i64::from(after.subsec_nanos()))
            .internal_seconds();
        let mut added = false;
        let year_limit = clock.civil(t).year.wrapping_add(5);

        'wrap: loop {
            let mut c = clock.civil(t);
            if c.year > year_limit {
                return None;
            }

            while self.month & (1 << c.month) == 0 {
                if !added {
                    added = true;
                    t = clock.date(c.year, c.month.into(), 1, 0, 0, 0);
                }
                t = clock.add_date(t, 1, 0);
                c = clock.civil(t);
                if c.month == 1 {
                    continue 'wrap;
                }
            }

            while !self.day_matches(&c) {
                if !added {
                    added = true;
                    t = clock.date(c.year, c.month.into(), c.day.into(), 0, 0, 0);
                }
                t = clock.add_date(t, 0, 1);
                // Where midnight does not exist, Go's normalisation lands an
                // hour off; the library nudges back to the day's start.
                let hour = i64::from(clock.civil(t).hour);
                if hour != 0 {
                    let shift = if hour > 12 { 24 - hour } else { -hour };
                    t = gotime::add(t, shift * SECONDS_PER_HOUR);
                }
                c = clock.civil(t);
                if c.day == 1 {
                    continue 'wrap;
                }
            }

            if self.hour & (1 << c.hour) == 0 {
                if !added {
                    added = true;
                    t = clock.date(c.year, c.month.into(), c.day.into(), c.hour.into(), 0, 0);
                }
                match self.step_until(&mut clock, &mut t, self.hour, Unit::HOUR) {
                    Stop::Wrapped => continue 'wrap,
                    Stop::Matched => {}
                }
            }

            if self.minute & (1 << minute_of(clock.local(t))) == 0 {
                if !added {
                    added = true;
                    t = gotime::truncate(t, SECONDS_PER_MINUTE);
                }
                match self.step_until(&mut clock, &mut t, self.minute, Unit::MINUTE) {
                    Stop::Wrapped => continue 'wrap,
                    Stop::Matched => {}
                }
            }

            if self.second & (1 << second_of(clock.local(t))) == 0 {
                if !added {
                    added = true;
                    t = gotime::truncate(t, 1);
                }
                match self.step_until(&mut clock, &mut t, self.second, Unit::SECOND) {
                    Stop::Wrapped => continue 'wrap,
                    Stop::Matched => {}
                }
            }

            return Some(Instant::from_internal(t));
        }
    }

    /// The body of spec.go's hour, minute and second loops after the first
    /// iteration's reset: `t = t.Add(unit)`, then stop with `Wrapped` when the
    /// field rolls over to 0 (`goto WRAP`), or with `Matched` when it holds an
    /// allowed value.
    fn step_until(&self, clock: &mut Clock<'_>, t: &mut i64, bits: Bits, unit: Unit) -> Stop {
        loop {
            let period = clock.period(*t);
            let value = unit.value(t.wrapping_add(period.offset));
            // While the offset holds, each step raises the field by one, so
            // the loop stops after `k` steps: at the next allowed value above
            // the current one, or at the roll-over to 0.
            let allowed_above = bits & !STAR_BIT & !((2 << value) - 1) & ((1 << unit.modulus) - 1);
            let to_rollover = unit.modulus - value;
            let k = if allowed_above == 0 {
                to_rollover
            } else {
                (u64::from(allowed_above.trailing_zeros()) - value).min(to_rollover)
            };
            let jump = (k as i64).checked_mul(unit.seconds);
            match jump.and_then(|d| t.checked_add(d)) {
                Some(target) if target < period.end => {
                    *t = target;
                    return if k == to_rollover {
                        Stop::Wrapped
                    } else {
                        Stop::Matched
                    };
                }
                // The offset changes on the way: take one step, as Go does.
                _ => {
                    *t = gotime::add(*t, unit.seconds);
                    let value = unit.value(clock.local(*t));
                    if value == 0 {
                        return Stop::Wrapped;
                    }
                    if bits & (1 << value) != 0 {
                        return Stop::Matched;
                    }
                }
            }
        }
    }
}

/// How an hour/minute/second loop of spec.go `Next` ended.
enum Stop {
    /// The field rolled over to 0: `goto WRAP`.
    Wrapped,
    /// The field holds an allowed value.
    Matched,
}

/// A clock field stepped by `Time.Add`.
#[derive(Clone, Copy)]
struct Unit {
    /// Length of one step.
    seconds: i64,
    /// The field's number of values (it rolls over to 0 at this).
    modulus: u64,
}

impl Unit {
    const HOUR: Unit = Unit {
        seconds: SECONDS_PER_HOUR,
        modulus: 24,
    };
    const MINUTE: Unit = Unit {
        seconds: SECONDS_PER_MINUTE,
        modulus: 60,
    };
    const SECOND: Unit = Unit {
        seconds: 1,
        modulus: 60,
    };

    /// The field's value at local seconds `local`.
    fn value(self, local: i64) -> u64 {
        let within_day = local.rem_euclid(SECONDS_PER_DAY);
        (within_day / self.seconds).rem_euclid(self.modulus as i64) as u64
    }
}

fn minute_of(local: i64) -> u64 {
    Unit::MINUTE.value(local)
}

fn second_of(local: i64) -> u64 {
    Unit::SECOND.value(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, zone};
    use proptest::prelude::*;

    /// spec.go `Next` transcribed with single steps only, to check that the
    /// jumps in `step_until` visit the same instants.
    fn next_stepwise(s: &SpecSchedule, after: Instant, zone: &Zone) -> Option<Instant> {
        let mut clock = Clock::new(zone);
        let mut t = after
            .add_nanos(1_000_000_000 - i64::from(after.subsec_nanos()))
            .internal_seconds();
        let mut added = false;
        let year_limit = clock.civil(t).year + 5;
        'wrap: loop {
            if clock.civil(t).year > year_limit {
                return None;
            }
            while s.month & (1 << clock.civil(t).month) == 0 {
                if !added {
                    added = true;
                    let c = clock.civil(t);
                    t = clock.date(c.year, c.month.into(), 1, 0, 0, 0);
                }
                t = clock.add_date(t, 1, 0);
                if clock.civil(t).month == 1 {
                    continue 'wrap;
                }
            }
            while !s.day_matches(&clock.civil(t)) {
                if !added {
                    added = true;
                    let c = clock.civil(t);
                    t = clock.date(c.year, c.month.into(), c.day.into(), 0, 0, 0);
                }
                t = clock.add_date(t, 0, 1);
                let hour = i64::from(clock.civil(t).hour);
                if hour != 0 {
                    t += if hour > 12 { 24 - hour } else { -hour } * SECONDS_PER_HOUR;
                }
                if clock.civil(t).day == 1 {
                    continue 'wrap;
                }
            }
            while s.hour & (1 << clock.civil(t).hour) == 0 {
                if !added {
                    added = true;
                    let c = clock.civil(t);
                    t = clock.date(c.year, c.month.into(), c.day.into(), c.hour.into(), 0, 0);
                }
                t += SECONDS_PER_HOUR;
                if clock.civil(t).hour == 0 {
                    continue 'wrap;
                }
            }
            while s.minute & (1 << clock.civil(t).minute) == 0 {
                if !added {
                    added = true;
                    t = gotime::truncate(t, SECONDS_PER_MINUTE);
                }
                t += SECONDS_PER_MINUTE;
                if clock.civil(t).minute == 0 {
                    continue 'wrap;
                }
            }
            while s.second & (1 << clock.civil(t).second) == 0 {
                if !added {
                    added = true;
                    t = gotime::truncate(t, 1);
                }
                t += 1;
                if clock.civil(t).second == 0 {
                    continue 'wrap;
                }
            }
            return Some(Instant::from_internal(t));
        }
    }

    const ZONES: [&str; 9] = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "America/Sao_Paulo",
        "Africa/Monrovia",
        "Europe/Amsterdam",
    ];

    fn field(max: u32) -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_owned()),
            (1..=max).prop_map(|s| format!("*/{s}")),
            (0..=max).prop_map(|v| v.to_string()),
            (0..=max, 0..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn jumps_equal_single_steps(
            minute in field(59),
            hour in field(23),
            dom in prop_oneof![Just("*".to_owned()), (1u32..=31).prop_map(|d| d.to_string())],
            dow in prop_oneof![Just("*".to_owned()), (0u32..=6).prop_map(|d| d.to_string())],
            z in 0..ZONES.len(),
            // 1890 to 2060: LMT offsets with seconds, old and new DST rules.
            secs in -2_524_521_600i64..2_840_140_800,
        ) {
            let text = format!("{minute} {hour} {dom} * {dow}");
            let schedule = parse(&text).unwrap();
            let spec = schedule.spec().unwrap();
            let zone = zone(ZONES[z]).unwrap();
            let after = Instant::from_unix(secs, 0).unwrap();
            prop_assert_eq!(
                spec.next(after, &zone),
                next_stepwise(spec, after, &zone),
                "{} in {} after {}", text, ZONES[z], secs
            );
        }
    }
}
