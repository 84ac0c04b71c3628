//! Plain-English readings of schedules, the day-of-month/day-of-week rule
//! (C-14) when it matters, and the runs a DST change skips, doubles or
//! moves in a zone (C-16) — for `kbatch cron explain`.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::gotime::{Civil, SECONDS_PER_DAY, SECONDS_PER_MINUTE};
use crate::instant::Instant;
use crate::schedule::Schedule;
use crate::spec::{Bits, STAR_BIT, SpecSchedule};
use crate::zone::Zone;

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A plain-English reading, e.g. "at minute 0 past every hour, every day".
pub fn describe(schedule: &Schedule) -> String {
    let Some(spec) = schedule.spec() else {
        let delay = schedule.every().map_or(0, |e| e.delay_seconds());
        return format!(
            "every {} after the previous run (a fixed delay, not aligned to the clock)",
            human_seconds(delay)
        );
    };
    let mut text = String::new();
    let minutes = values(spec.minute, 0, 59);
    let hours = values(spec.hour, 0, 23);
    match (minutes.as_slice(), regular_step(&minutes)) {
        (all, _) if all.len() == 60 => text.push_str("every minute"),
        ([m], _) => {
            let _ = write!(text, "at minute {m}");
        }
        (list, Some(step)) => {
            let (first, last) = (list[0], list[list.len() - 1]);
            let _ = write!(
                text,
                "every {step} minutes from minute {first} through {last}"
            );
        }
        (list, None) => {
            let _ = write!(text, "at minutes {}", list_text(list, |v| v.to_string()));
        }
    }
    match (hours.as_slice(), regular_step(&hours)) {
        (all, _) if all.len() == 24 => text.push_str(" past every hour"),
        ([h], _) => {
            let _ = write!(text, " past hour {h}");
        }
        (list, Some(step)) => {
            let (first, last) = (list[0], list[list.len() - 1]);
            let _ = write!(
                text,
                " past every {step} hours from hour {first} through {last}"
            );
        }
        (list, None) => {
            let _ = write!(text, " past hours {}", list_text(list, |v| v.to_string()));
        }
    }
    let doms = values(spec.dom, 1, 31);
    let dows = values(spec.dow, 0, 6);
    let dom_text = || format!("on day-of-month {}", list_text(&doms, |v| v.to_string()));
    let dow_text = || {
        format!(
            "on {}",
            list_text(&dows, |v| WEEKDAYS[v as usize].to_owned())
        )
    };
    let day = match (spec.dom & STAR_BIT != 0, spec.dow & STAR_BIT != 0) {
        (true, true) => "every day".to_owned(),
        (true, false) => dow_text(),
        (false, true) => dom_text(),
        (false, false) => format!("{} or {}", dom_text(), dow_text()),
    };
    let _ = write!(text, ", {day}");
    let months = values(spec.month, 1, 12);
    if months.len() < 12 {
        let _ = write!(
            text,
            ", in {}",
            list_text(&months, |v| MONTHS[v as usize - 1].to_owned())
        );
    }
    text
}

/// How day-of-month and day-of-week combine, when one of them restricts
/// anything (C-14); `None` when neither does or for `@every`.
pub fn day_rule(schedule: &Schedule) -> Option<&'static str> {
    let spec = schedule.spec()?;
    let dom_star = spec.dom & STAR_BIT != 0;
    let dow_star = spec.dow & STAR_BIT != 0;
    Some(match (dom_star, dow_star) {
        (true, true) => return None,
        (false, false) => {
            "day-of-month and day-of-week are both restricted, so a day matching EITHER fires (OR)"
        }
        (true, false) => {
            "day-of-month is '*' (or '?', or a step of 1), so days must match both fields (AND): only day-of-week restricts"
        }
        (false, true) => {
            "day-of-week is '*' (or '?', or a step of 1), so days must match both fields (AND): only day-of-month restricts"
        }
    })
}

/// A run that a DST change in the coming year affects, by local wall clock
/// ("2025-10-26 02:30").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DstEffect {
    /// The fields name this local time but no run happens then.
    Skipped {
        /// Local date and time.
        wall: String,
    },
    /// Two runs at this local time.
    Doubled {
        /// Local date and time.
        wall: String,
    },
    /// A run at a local time the fields do not name (the library's hour and
    /// minute stepping crossed the change).
    Moved {
        /// Local date and time.
        wall: String,
    },
}

/// Compares, around each offset change in the year after `now`, the runs
/// the library produces with the local times the fields name.
pub fn dst_effects(schedule: &Schedule, zone: &Zone, now: Instant) -> Vec<DstEffect> {
    let Some(spec) = schedule.spec() else {
        return Vec::new();
    };
    let local_zone = schedule.effective_zone(zone);
    let start = now.internal_seconds();
    let mut effects = Vec::new();
    for change in local_zone.transitions(start, start + 366 * SECONDS_PER_DAY) {
        let from = change - SECONDS_PER_DAY;
        let until = change + SECONDS_PER_DAY;
        // Runs the library produces in the window, by local wall clock.
        let mut runs: Vec<i64> = Vec::new();
        let mut t = Instant::from_internal(from - 1);
        while let Some(next) = schedule.next(t, zone) {
            if next.internal_seconds() > until || runs.len() > 4 * 1_440 {
                break;
            }
            runs.push(local_zone.local(next.internal_seconds()));
            t = next;
        }
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for &wall in &runs {
            *seen.entry(wall).or_default() += 1;
        }
        // Local minutes the fields name in the same stretch of wall clock.
        let first = local_zone.local(from);
        let last = local_zone.local(until);
        let mut wall = first + (SECONDS_PER_MINUTE - first.rem_euclid(SECONDS_PER_MINUTE)) % 60;
        while wall <= last {
            if spec_names(spec, &Civil::from_local(wall)) && !seen.contains_key(&wall) {
                effects.push(DstEffect::Skipped {
                    wall: wall_text(wall),
                });
            }
            wall += SECONDS_PER_MINUTE;
        }
        let mut reported: Vec<i64> = Vec::new();
        for &wall in &runs {
            if reported.contains(&wall) {
                continue;
            }
            reported.push(wall);
            if seen[&wall] > 1 {
                effects.push(DstEffect::Doubled {
                    wall: wall_text(wall),
                });
            } else if !spec_names(spec, &Civil::from_local(wall)) {
                effects.push(DstEffect::Moved {
                    wall: wall_text(wall),
                });
            }
        }
    }
    effects
}

/// Whether the fields name this local second.
fn spec_names(spec: &SpecSchedule, c: &Civil) -> bool {
    spec.second & (1 << c.second) != 0
        && spec.minute & (1 << c.minute) != 0
        && spec.hour & (1 << c.hour) != 0
        && spec.month & (1 << c.month) != 0
        && spec.day_matches(c)
}

fn wall_text(local: i64) -> String {
    let c = Civil::from_local(local);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// The values `min..=max` present in `bits`.
fn values(bits: Bits, min: u32, max: u32) -> Vec<u32> {
    (min..=max).filter(|v| bits & (1 << v) != 0).collect()
}

/// The step of three or more values spaced evenly by more than one.
fn regular_step(values: &[u32]) -> Option<u32> {
    let step = values.get(1)? - values.first()?;
    (values.len() >= 3 && step > 1 && values.windows(2).all(|w| w[1] - w[0] == step))
        .then_some(step)
}

/// "1 through 5, 10 and 15": runs of consecutive values become ranges.
fn list_text(values: &[u32], name: impl Fn(u32) -> String) -> String {
    if values.is_empty() {
        return "nothing (an empty list never matches)".to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => name(values[i]),
            1 => format!("{}, {}", name(values[i]), name(values[j])),
            _ => format!("{} through {}", name(values[i]), name(values[j])),
        });
        i = j + 1;
    }
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.concat(),
    }
}

/// "1h30m", "45s", "2d" style.
fn human_seconds(seconds: i64) -> String {
    let mut text = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            let _ = write!(text, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, zone};

    fn describe_text(s: &str) -> String {
        describe(&parse(s).unwrap())
    }

    #[test]
    fn readings() {
        assert_eq!(
            describe_text("0 * * * *"),
            "at minute 0 past every hour, every day"
        );
        assert_eq!(
            describe_text("*/15 9-17 * * 1-5"),
            "every 15 minutes from minute 0 through 45 past hours 9 through 17, on Monday through Friday"
        );
        assert_eq!(
            describe_text("0 0 13 * 5"),
            "at minute 0 past hour 0, on day-of-month 13 or on Friday"
        );
        assert_eq!(
            describe_text("30 2 1,15 jan,jul *"),
            "at minute 30 past hour 2, on day-of-month 1 and 15, in January and July"
        );
        assert_eq!(
            describe_text("5 6-16/4 */2 * *"),
            "at minute 5 past every 4 hours from hour 6 through 14, on day-of-month 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29 and 31"
        );
        assert_eq!(
            describe_text("@every 1h30m"),
            "every 1h30m after the previous run (a fixed delay, not aligned to the clock)"
        );
    }

    #[test]
    fn day_rules() {
        let rule = |s: &str| day_rule(&parse(s).unwrap());
        assert!(rule("0 0 13 * 5").unwrap().contains("(OR)"));
        assert!(rule("0 0 */1 * 5").unwrap().contains("only day-of-week"));
        assert!(rule("0 0 13 * ?").unwrap().contains("only day-of-month"));
        assert_eq!(rule("@daily"), None);
        assert_eq!(rule("@every 1h"), None);
    }

    #[test]
    fn dst_effects_in_berlin_2025() {
        let berlin = zone("Europe/Berlin").unwrap();
        let now: Instant = "2025-01-01T00:00:00Z".parse().unwrap();
        let effects = |s: &str| dst_effects(&parse(s).unwrap(), &berlin, now);
        assert_eq!(
            effects("30 2 * * *"),
            [
                DstEffect::Skipped {
                    wall: "2025-03-30 02:30".to_owned()
                },
                DstEffect::Doubled {
                    wall: "2025-10-26 02:30".to_owned()
                },
            ]
        );
        assert_eq!(effects("0 12 * * *"), []);
        assert_eq!(effects("@every 1h"), []);
        assert_eq!(
            dst_effects(&parse("30 2 * * *").unwrap(), &zone("UTC").unwrap(), now),
            []
        );
    }

    #[test]
    fn dst_effects_in_chatham_move_a_run() {
        let chatham = zone("Pacific/Chatham").unwrap();
        let now: Instant = "2025-06-01T00:00:00Z".parse().unwrap();
        let effects = dst_effects(&parse("50 2 * * *").unwrap(), &chatham, now);
        assert!(effects.contains(&DstEffect::Moved {
            wall: "2025-09-28 03:50".to_owned()
        }));
    }
}
