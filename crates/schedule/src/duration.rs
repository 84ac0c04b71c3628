//! Go's `time.ParseDuration`, which robfig/cron uses for `@every <duration>`,
//! with its exact error texts (built with the `time` package's own `quote`,
//! not `strconv.Quote`).

use std::fmt::{self, Write as _};

/// Nanoseconds per unit, as in Go's `time.unitMap`.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 MICRO SIGN
    ("μs", 1_000), // U+03BC GREEK SMALL LETTER MU
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// An error from Go's `time.ParseDuration`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// `time: invalid duration "<input>"`.
    #[error("time: invalid duration {}", GoQuoted(.0))]
    Invalid(String),
    /// `time: missing unit in duration "<input>"`.
    #[error("time: missing unit in duration {}", GoQuoted(.0))]
    MissingUnit(String),
    /// `time: unknown unit "<unit>" in duration "<input>"`.
    #[error("time: unknown unit {} in duration {}", GoQuoted(.unit), GoQuoted(.input))]
    UnknownUnit {
        /// The unrecognised unit text.
        unit: String,
        /// The whole duration text.
        input: String,
    },
}

/// Mirrors Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`,
/// returning nanoseconds.
pub fn parse_go_duration(input: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let mut s = input;
    let mut negative = false;
    if let Some(&c) = s.as_bytes().first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (whole, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let had_whole = before != s.len();

        let mut fraction = 0u64;
        let mut scale = 1f64;
        let mut had_fraction = false;
        if let Some(rest) = s.strip_prefix('.') {
            let (f, sc, rest2) = leading_fraction(rest);
            had_fraction = rest.len() != rest2.len();
            fraction = f;
            scale = sc;
            s = rest2;
        }
        if !had_whole && !had_fraction {
            return Err(invalid());
        }

        let unit_len = s
            .bytes()
            .position(|b| b == b'.' || b.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let (unit_text, rest) = s.split_at(unit_len);
        s = rest;
        let Some(&(_, unit)) = UNITS.iter().find(|(name, _)| *name == unit_text) else {
            return Err(DurationError::UnknownUnit {
                unit: unit_text.to_owned(),
                input: input.to_owned(),
            });
        };
        if whole > (1u64 << 63) / unit {
            return Err(invalid());
        }
        let mut v = whole * unit;
        if fraction > 0 {
            // Go computes the fractional part in float64 and truncates.
            v += (fraction as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        // Go adds in uint64 and so wraps silently when two terms of 1<<63
        // meet; the check below then sees the wrapped sum.
        total = total.wrapping_add(v);
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if negative {
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Mirrors Go's `time.leadingInt`: `None` on overflow past 1<<63.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let mut x: u64 = 0;
    for b in s[..end].bytes() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(b - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[end..]))
}

/// Mirrors Go's `time.leadingFraction`: stops accumulating precision on
/// overflow instead of failing.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        if x > ((1u64 << 63) - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

/// Displays a string the way the `time` package's private `quote` does:
/// bytes of non-ASCII and control characters as `\xNN`, `"` and `\`
/// backslashed, everything else verbatim.
struct GoQuoted<'a>(&'a str);

impl fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if !(' '..'\u{80}').contains(&c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(f, "\\x{b:02x}")?;
                }
            } else {
                if c == '"' || c == '\\' {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5400 * S));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
        assert_eq!(parse_go_duration("+1.5s"), Ok(S + S / 2));
        assert_eq!(parse_go_duration(".5s"), Ok(S / 2));
        assert_eq!(parse_go_duration("1.s"), Ok(S));
        assert_eq!(parse_go_duration("-1m"), Ok(-60 * S));
        assert_eq!(parse_go_duration("1µs1μs1us"), Ok(3000));
        assert_eq!(parse_go_duration("1h1h"), Ok(7200 * S));
        assert_eq!(
            parse_go_duration("9223372036854775808ns9223372036854775808ns"),
            Ok(0)
        );
        assert_eq!(parse_go_duration("9223372036854775807ns"), Ok(i64::MAX));
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Ok(i64::MIN));
    }

    #[test]
    fn error_texts() {
        let text = |s: &str| parse_go_duration(s).unwrap_err().to_string();
        assert_eq!(text(""), r#"time: invalid duration """#);
        assert_eq!(text("1"), r#"time: missing unit in duration "1""#);
        assert_eq!(text("1d"), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(text("1 h"), r#"time: unknown unit " h" in duration "1 h""#);
        assert_eq!(text(".s"), r#"time: invalid duration ".s""#);
        assert_eq!(text("h"), r#"time: invalid duration "h""#);
        assert_eq!(
            text("1hé"),
            r#"time: unknown unit "h\xc3\xa9" in duration "1h\xc3\xa9""#
        );
        assert_eq!(
            text("9223372036854775808ns"),
            r#"time: invalid duration "9223372036854775808ns""#
        );
        assert_eq!(
            text("99999999999999999999s"),
            r#"time: invalid duration "99999999999999999999s""#
        );
    }
}
