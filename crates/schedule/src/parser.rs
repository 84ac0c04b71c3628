//! `parse`: robfig/cron v3.0.1's `ParseStandard` (parser.go), which is what
//! Kubernetes calls on `spec.schedule` — five fields or a descriptor, an
//! optional `TZ=`/`CRON_TZ=` prefix, and the library's error texts byte for
//! byte (they become the detail of Kubernetes' validation error). C-10…C-13.

use crate::duration::{DurationError, parse_go_duration};
use crate::every::Every;
use crate::schedule::{Kind, Schedule};
use crate::spec::{Bits, STAR_BIT, SpecSchedule};
use crate::strconv::{AtoiError, atoi};
use crate::zone::{Location, ZoneError, load_location};

/// Why a schedule was rejected; `Display` is robfig/cron's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The schedule is the empty string (C-10).
    #[error("empty spec string")]
    Empty,
    /// `TZ=`/`CRON_TZ=` with no space after it: Go slices `spec[eq+1:-1]`
    /// and panics, so Kubernetes answers with an internal error rather than a
    /// validation failure. The text is the Go runtime's panic message.
    #[error("runtime error: slice bounds out of range [:-1]")]
    LocationWithoutSpace,
    /// The `TZ=`/`CRON_TZ=` location did not load.
    #[error("provided bad location {name}: {source}")]
    BadLocation {
        /// The location name as written.
        name: String,
        /// Go's `time.LoadLocation` error.
        source: ZoneError,
    },
    /// Starts with `@` but is not one of the exact descriptors (C-13).
    #[error("unrecognized descriptor: {0}")]
    UnrecognizedDescriptor(String),
    /// `@every` with a duration Go's `time.ParseDuration` refuses (C-13).
    #[error("failed to parse duration {descriptor}: {source}")]
    Duration {
        /// The whole descriptor, `@every ` included.
        descriptor: String,
        /// Go's `time.ParseDuration` error.
        source: DurationError,
    },
    /// Not exactly five whitespace-separated fields (C-10).
    #[error("expected exactly 5 fields, found {found}: [{}]", fields.join(" "))]
    FieldCount {
        /// How many fields there were.
        found: usize,
        /// The fields, as Go's `%s` prints a `[]string`.
        fields: Vec<String>,
    },
    /// A number that `strconv.Atoi` refuses (C-11).
    #[error("failed to parse int from {expr}: {source}")]
    NotANumber {
        /// The text that should have been a number or a name.
        expr: String,
        /// Go's `*strconv.NumError`.
        source: AtoiError,
    },
    /// A negative step, e.g. `*/-1` (C-11).
    #[error("negative number ({number}) not allowed: {expr}")]
    Negative {
        /// The parsed value.
        number: i64,
        /// The text it came from.
        expr: String,
    },
    /// More than one `-` in a range (C-11).
    #[error("too many hyphens: {0}")]
    TooManyHyphens(String),
    /// More than one `/` in a range (C-11).
    #[error("too many slashes: {0}")]
    TooManySlashes(String),
    /// Range start below the field's minimum (C-11).
    #[error("beginning of range ({start}) below minimum ({min}): {expr}")]
    BelowMinimum {
        /// Range start.
        start: u64,
        /// Field minimum.
        min: u64,
        /// The range as written.
        expr: String,
    },
    /// Range end above the field's maximum (C-11).
    #[error("end of range ({end}) above maximum ({max}): {expr}")]
    AboveMaximum {
        /// Range end.
        end: u64,
        /// Field maximum.
        max: u64,
        /// The range as written.
        expr: String,
    },
    /// Range start after its end (C-11).
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    StartBeyondEnd {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// The range as written.
        expr: String,
    },
    /// A step of zero (C-11).
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
}

/// One field's bounds and names (spec.go `bounds`).
struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Parses a schedule as Kubernetes does (robfig/cron v3.0.1
/// `ParseStandard`, i.e. `Parser.Parse` with Minute | Hour | Dom | Month |
/// Dow | Descriptor).
pub fn parse(spec: &str) -> Result<Schedule, ParseError> {
    if spec.is_empty() {
        return Err(ParseError::Empty);
    }

    // Mirrors Parser.Parse's location prefix: the name runs from the first
    // '=' to the first ' ' (an ASCII space only), the rest is trimmed.
    let mut spec = spec;
    let mut location = Location::Local;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let space = spec.find(' ').ok_or(ParseError::LocationWithoutSpace)?;
        // The prefix guarantees an '=' before any space.
        let eq = spec.find('=').unwrap_or(0);
        let name = &spec[eq + 1..space];
        location = load_location(name).map_err(|source| ParseError::BadLocation {
            name: name.to_owned(),
            source,
        })?;
        spec = spec[space..].trim();
    }

    if spec.starts_with('@') {
        let kind = parse_descriptor(spec)?;
        return Ok(Schedule::new(kind, location));
    }

    // strings.Fields: split on Unicode white space, drop empties.
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(ParseError::FieldCount {
            found: fields.len(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        });
    }
    let spec = SpecSchedule {
        // The standard parser has no seconds field; it defaults to "0".
        second: 1,
        minute: get_field(fields[0], &MINUTES)?,
        hour: get_field(fields[1], &HOURS)?,
        dom: get_field(fields[2], &DOM)?,
        month: get_field(fields[3], &MONTHS)?,
        dow: get_field(fields[4], &DOW)?,
    };
    Ok(Schedule::new(Kind::Spec(spec), location))
}

/// Mirrors parser.go `parseDescriptor`: exact, case-sensitive names, or
/// `@every ` followed by a Go duration (C-13).
fn parse_descriptor(descriptor: &str) -> Result<Kind, ParseError> {
    const ALL_DOM: Bits = all(&DOM);
    const ALL_MONTHS: Bits = all(&MONTHS);
    const ALL_DOW: Bits = all(&DOW);
    const ALL_HOURS: Bits = all(&HOURS);
    let at_midnight = |dom, month, dow| {
        Kind::Spec(SpecSchedule {
            second: 1,
            minute: 1,
            hour: 1,
            dom,
            month,
            dow,
        })
    };
    match descriptor {
        "@yearly" | "@annually" => return Ok(at_midnight(1 << 1, 1 << 1, ALL_DOW)),
        "@monthly" => return Ok(at_midnight(1 << 1, ALL_MONTHS, ALL_DOW)),
        "@weekly" => return Ok(at_midnight(ALL_DOM, ALL_MONTHS, 1)),
        "@daily" | "@midnight" => return Ok(at_midnight(ALL_DOM, ALL_MONTHS, ALL_DOW)),
        "@hourly" => {
            return Ok(Kind::Spec(SpecSchedule {
                second: 1,
                minute: 1,
                hour: ALL_HOURS,
                dom: ALL_DOM,
                month: ALL_MONTHS,
                dow: ALL_DOW,
            }));
        }
        _ => {}
    }
    if let Some(duration) = descriptor.strip_prefix("@every ") {
        let nanos = parse_go_duration(duration).map_err(|source| ParseError::Duration {
            descriptor: descriptor.to_owned(),
            source,
        })?;
        return Ok(Kind::Every(Every::new(nanos)));
    }
    Err(ParseError::UnrecognizedDescriptor(descriptor.to_owned()))
}

/// Mirrors spec.go `all`: every value of the field plus the star bit.
const fn all(bounds: &Bounds) -> Bits {
    get_bits(bounds.min, bounds.max, 1) | STAR_BIT
}

/// Mirrors parser.go `getField`: a comma-separated list of ranges, where
/// `strings.FieldsFunc` silently drops empty items ("1,,2", even ",").
fn get_field(field: &str, bounds: &Bounds) -> Result<Bits, ParseError> {
    field
        .split(',')
        .filter(|expr| !expr.is_empty())
        .try_fold(0, |bits, expr| Ok(bits | get_range(expr, bounds)?))
}

/// Mirrors parser.go `getRange`: `*`, `?`, `N` or `N-M`, each optionally
/// `/step`. Checks run in the library's order, so the first complaint wins.
fn get_range(expr: &str, bounds: &Bounds) -> Result<Bits, ParseError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;

    let (start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        // Anything after "*-" is ignored: "*-5" is "*".
        (bounds.min, bounds.max, STAR_BIT)
    } else {
        let start = parse_int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], bounds)?,
            _ => return Err(ParseError::TooManyHyphens(expr.to_owned())),
        };
        (start, end, 0)
    };

    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = bounds.max;
            }
            // Only a step above one loses the star (C-14): "*/1" keeps it.
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(ParseError::TooManySlashes(expr.to_owned())),
    };

    if start < bounds.min {
        return Err(ParseError::BelowMinimum {
            start,
            min: bounds.min,
            expr: expr.to_owned(),
        });
    }
    if end > bounds.max {
        return Err(ParseError::AboveMaximum {
            end,
            max: bounds.max,
            expr: expr.to_owned(),
        });
    }
    if start > end {
        return Err(ParseError::StartBeyondEnd {
            start,
            end,
            expr: expr.to_owned(),
        });
    }
    if step == 0 {
        return Err(ParseError::ZeroStep(expr.to_owned()));
    }
    Ok(get_bits(start, end, step) | extra)
}

/// Mirrors parser.go `parseIntOrName`: names are looked up after Go's
/// `strings.ToLower`, which maps 'İ' (U+0130) to 'i' and the Kelvin sign
/// (U+212A) to 'k', so "FRİ" is Friday.
fn parse_int_or_name(expr: &str, bounds: &Bounds) -> Result<u64, ParseError> {
    if !bounds.names.is_empty() {
        let mut lower = [0u8; 3];
        let mut len = 0;
        let fits = expr.chars().all(|c| {
            let folded = match c {
                '\u{130}' => 'i',
                '\u{212a}' => 'k',
                c => c.to_ascii_lowercase(),
            };
            let ok = folded.is_ascii() && len < lower.len();
            if ok {
                lower[len] = folded as u8;
                len += 1;
            }
            ok
        });
        if fits
            && let Some(&(_, value)) = bounds
                .names
                .iter()
                .find(|(name, _)| name.as_bytes() == &lower[..len])
        {
            return Ok(value);
        }
    }
    must_parse_int(expr)
}

/// Mirrors parser.go `mustParseInt`: `strconv.Atoi`, then no negatives.
fn must_parse_int(expr: &str) -> Result<u64, ParseError> {
    let number = atoi(expr).map_err(|source| ParseError::NotANumber {
        expr: expr.to_owned(),
        source,
    })?;
    u64::try_from(number).map_err(|_| ParseError::Negative {
        number,
        expr: expr.to_owned(),
    })
}

/// Mirrors parser.go `getBits`: the values `min..=max` stepping by `step`.
const fn get_bits(min: u64, max: u64, step: u64) -> Bits {
    let mut bits = 0;
    let mut i = min;
    while i <= max {
        bits |= 1 << i;
        i += step;
    }
    bits
}
