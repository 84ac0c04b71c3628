//! Go's `strconv.Atoi` and `strconv.Quote`, as far as robfig/cron's
//! `mustParseInt` exposes them: the accepted spellings ("+5", "007", "-0")
//! and the exact `*strconv.NumError` text that ends up in Kubernetes'
//! validation message.

mod printable;

use std::fmt::{self, Write as _};

/// Why `strconv.Atoi` refused its input (Go's `ErrSyntax` / `ErrRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtoiFailure {
    /// `strconv.ErrSyntax`: "invalid syntax".
    Syntax,
    /// `strconv.ErrRange`: "value out of range".
    Range,
}

/// Go's `*strconv.NumError` as produced by `strconv.Atoi`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strconv.Atoi: parsing {quoted}: {reason}", quoted = Quoted(input), reason = match failure {
    AtoiFailure::Syntax => "invalid syntax",
    AtoiFailure::Range => "value out of range",
})]
pub struct AtoiError {
    /// The text handed to Atoi, sign included.
    pub input: String,
    /// Which of Go's sentinel errors Atoi returned.
    pub failure: AtoiFailure,
}

/// Mirrors Go's `strconv.Atoi` on a 64-bit platform: an optional sign, then
/// decimal digits only; no underscores, no whitespace, no base prefix.
pub fn atoi(s: &str) -> Result<i64, AtoiError> {
    let fail = |failure| AtoiError {
        input: s.to_owned(),
        failure,
    };
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(fail(AtoiFailure::Syntax));
    }
    // Atoi's slow path (ParseInt → ParseUint) reports the first offence while
    // scanning left to right: a non-digit is a syntax error, overflowing
    // uint64 is a range error, whichever comes first. The fast path for short
    // inputs cannot overflow, so one scan covers both paths.
    let mut magnitude: u64 = 0;
    for byte in digits.bytes() {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(fail(AtoiFailure::Syntax));
        }
        magnitude = match magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(digit)))
        {
            Some(m) => m,
            None => return Err(fail(AtoiFailure::Range)),
        };
    }
    // ParseInt's cutoff for bitSize 64: 1<<63.
    const CUTOFF: u64 = 1 << 63;
    match (negative, magnitude) {
        (false, m) if m >= CUTOFF => Err(fail(AtoiFailure::Range)),
        (true, m) if m > CUTOFF => Err(fail(AtoiFailure::Range)),
        (true, m) => Ok((m as i64).wrapping_neg()),
        (false, m) => Ok(m as i64),
    }
}

/// Displays a string the way Go's `strconv.Quote` writes it.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        f.write_char('"')?;
        for c in self.0.chars() {
            // Mirrors strconv.appendEscapedRune with ASCIIonly and graphicOnly
            // both false.
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if is_print(c) => f.write_char(c)?,
                '\u{7}' => f.write_str("\\a")?,
                '\u{8}' => f.write_str("\\b")?,
                '\u{c}' => f.write_str("\\f")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\u{b}' => f.write_str("\\v")?,
                c if c < ' ' || c == '\u{7f}' => {
                    let b = c as u8;
                    f.write_str("\\x")?;
                    f.write_char(char::from(HEX[usize::from(b >> 4)]))?;
                    f.write_char(char::from(HEX[usize::from(b & 0xf)]))?;
                }
                c => {
                    let (prefix, width) = if (c as u32) < 0x10000 {
                        ("\\u", 4)
                    } else {
                        ("\\U", 8)
                    };
                    write!(f, "{prefix}{:0width$x}", c as u32)?;
                }
            }
        }
        f.write_char('"')
    }
}

/// Mirrors Go's `strconv.IsPrint`: letters, marks, numbers, punctuation,
/// symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x80 {
        return (0x20..0x7f).contains(&cp);
    }
    printable::PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_accepts_go_spellings() {
        assert_eq!(atoi("+5"), Ok(5));
        assert_eq!(atoi("007"), Ok(7));
        assert_eq!(atoi("-0"), Ok(0));
        assert_eq!(atoi("-12"), Ok(-12));
        assert_eq!(atoi("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(atoi("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(atoi("00000000000000000000000042"), Ok(42));
    }

    #[test]
    fn atoi_error_texts() {
        let text = |s: &str| atoi(s).unwrap_err().to_string();
        assert_eq!(text(""), r#"strconv.Atoi: parsing "": invalid syntax"#);
        assert_eq!(text("+"), r#"strconv.Atoi: parsing "+": invalid syntax"#);
        assert_eq!(
            text("1_0"),
            r#"strconv.Atoi: parsing "1_0": invalid syntax"#
        );
        assert_eq!(text(" 1"), r#"strconv.Atoi: parsing " 1": invalid syntax"#);
        assert_eq!(
            text("9223372036854775808"),
            r#"strconv.Atoi: parsing "9223372036854775808": value out of range"#
        );
        assert_eq!(
            text("-99999999999999999999x"),
            r#"strconv.Atoi: parsing "-99999999999999999999x": value out of range"#
        );
        assert_eq!(
            text("9999999999999999x"),
            r#"strconv.Atoi: parsing "9999999999999999x": invalid syntax"#
        );
    }

    #[test]
    fn quote_escapes_like_go() {
        let q = |s: &str| Quoted(s).to_string();
        assert_eq!(q("a\"b\\"), r#""a\"b\\""#);
        assert_eq!(q("\u{0}\u{7}\u{1b}\u{7f}"), r#""\x00\a\x1b\x7f""#);
        assert_eq!(q("é日"), "\"é日\"");
        assert_eq!(q("\u{200b}\u{feff}"), r#""\u200b\ufeff""#);
        assert_eq!(q("\u{e000}\u{f0000}"), r#""\ue000\U000f0000""#);
        assert_eq!(q("\u{ad}\u{a0}"), r#""\u00ad\u00a0""#);
        assert_eq!(q("\u{fffd}"), "\"\u{fffd}\"");
    }
}
