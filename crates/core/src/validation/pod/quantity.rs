//! Resource quantities: apimachinery's `pkg/api/resource` (`quantity.go`, `suffix.go`,
//! `amount.go`), reproduced for what validation, defaulting and decoding need: the parse errors
//! (V-24), exact comparison, Go's canonical `String()` form (which error messages print and which
//! the apiserver stores), and the round-up to milli units defaulting applies.
//!
//! The value is kept exactly as a decimal (`digits × 10^exp`); every quantity Kubernetes accepts
//! is a finite decimal, because binary suffixes only multiply by powers of two.

use std::cmp::Ordering;
use std::fmt;

/// Go's `ErrFormatWrong`.
pub const ERR_FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Go's `ErrNumeric`.
pub const ERR_NUMERIC: &str = "unable to parse numeric part of quantity";
/// Go's `ErrSuffix`.
pub const ERR_SUFFIX: &str = "unable to parse quantity's suffix";

/// Go's `resource.Format`: how the quantity was written, which decides how it is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `1e3`, `5E-2`.
    DecimalExponent,
    /// `Ki`, `Mi`, … `Ei`.
    BinarySI,
    /// `n`, `u`, `m`, none, `k`, `M`, … `E`.
    DecimalSI,
}

/// A parsed quantity.
#[derive(Clone, Debug)]
pub struct Quantity {
    negative: bool,
    /// Magnitude digits, most significant first, without leading or trailing zeros; empty is 0.
    digits: Vec<u8>,
    /// The magnitude is `digits × 10^exp`.
    exp: i64,
    format: Format,
    /// Go keeps the input string when it is already canonical and prints it verbatim.
    cached: Option<String>,
}

/// The largest BinarySI quantity (`maxAllowed`, 2^63-1); bigger ones are capped.
const MAX_ALLOWED: i64 = i64::MAX;

const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];
const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

/// The pieces `parseQuantityString` cuts a quantity into.
struct Scanned<'a> {
    positive: bool,
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Go's `parseQuantityString`: sign, numerator (leading zeros dropped), fraction, suffix.
fn scan(s: &str) -> Result<Scanned<'_>, String> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Scanned {
            positive,
            value: "0",
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Ok(Scanned {
            positive,
            value: s,
            num: &s[num_start..],
            denom: "",
            suffix: "",
        });
    }
    let num = if pos == num_start {
        "0"
    } else {
        &s[num_start..pos]
    };
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos >= end {
            return Ok(Scanned {
                positive,
                value: s,
                num,
                denom: &s[denom_start..],
                suffix: "",
            });
        }
        denom = &s[denom_start..pos];
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && matches!(b[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        // A character that can be neither part of the suffix nor of its exponent.
        return Err(ERR_FORMAT_WRONG.to_owned());
    }
    Ok(Scanned {
        positive,
        value,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Go's `quantitySuffixer.interpret`: (base, exponent, format).
fn interpret(suffix: &str) -> Option<(u32, i64, Format)> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some((10, *e, Format::DecimalSI));
    }
    if let Some((_, e)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some((2, i64::from(*e), Format::BinarySI));
    }
    let rest = suffix.strip_prefix(['e', 'E']).filter(|r| !r.is_empty())?;
    let parsed: i64 = rest.parse().ok()?;
    // Go truncates the int64 exponent to int32.
    Some((10, i64::from(parsed as i32), Format::DecimalExponent))
}

/// Strips leading and trailing zeros, moving trailing ones into the exponent.
fn normalize(mut digits: Vec<u8>, mut exp: i64) -> (Vec<u8>, i64) {
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..lead);
    while digits.last() == Some(&0) {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        exp = 0;
    }
    (digits, exp)
}

fn mul_small(digits: &mut Vec<u8>, m: u32) {
    let mut carry = 0u32;
    for d in digits.iter_mut().rev() {
        let v = u32::from(*d) * m + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// Adds one unit in the last place.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

/// Rounds the magnitude away from zero to a multiple of `10^min_exp`; true if nothing was lost.
fn round_up(digits: &[u8], exp: i64, min_exp: i64) -> (Vec<u8>, i64, bool) {
    if digits.is_empty() || exp >= min_exp {
        return (digits.to_vec(), exp, true);
    }
    let keep = digits.len() as i64 - (min_exp - exp);
    let mut kept = if keep > 0 {
        digits[..keep as usize].to_vec()
    } else {
        Vec::new()
    };
    // The digits are normalized, so something non-zero was dropped.
    increment(&mut kept);
    let (d, e) = normalize(kept, min_exp);
    (d, e, false)
}

fn to_u128(digits: &[u8], exp: i64) -> Option<u128> {
    if exp < 0 {
        return None;
    }
    let mut v: u128 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u128::from(d))?;
    }
    for _ in 0..exp {
        v = v.checked_mul(10)?;
    }
    Some(v)
}

fn cmp_magnitude(a: (&[u8], i64), b: (&[u8], i64)) -> Ordering {
    match (a.0.is_empty(), b.0.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let top_a = a.0.len() as i64 + a.1;
    let top_b = b.0.len() as i64 + b.1;
    top_a.cmp(&top_b).then_with(|| {
        let n = a.0.len().max(b.0.len());
        (0..n)
            .map(|i| {
                (
                    a.0.get(i).copied().unwrap_or(0),
                    b.0.get(i).copied().unwrap_or(0),
                )
            })
            .map(|(x, y)| x.cmp(&y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

/// Go's `resource.ParseQuantity`. The error is Go's error text, which the API returns verbatim
/// when a manifest carries an unparsable quantity (V-24).
pub fn parse_quantity(s: &str) -> Result<Quantity, String> {
    if s.is_empty() {
        return Err(ERR_FORMAT_WRONG.to_owned());
    }
    if s == "0" {
        return Ok(Quantity::zero_with(Some(s.to_owned())));
    }
    let sc = scan(s)?;
    let (base, exponent, format) = interpret(sc.suffix).ok_or_else(|| ERR_SUFFIX.to_owned())?;

    // Go's int64 fast path decides whether the input string is kept as the printed form.
    let shifted = format!("{}{}", sc.num, sc.denom);
    let denom_len = sc.denom.len() as i64;
    let fast_path = match format {
        Format::DecimalExponent | Format::DecimalSI => {
            18 - (sc.num.len() as i64 + denom_len) >= 0 && exponent - denom_len >= -9
        }
        Format::BinarySI => sc.denom.is_empty() && 15 - sc.num.len() as i64 - exponent * 3 / 10 > 0,
    };
    let cached = fast_path
        .then(|| match format {
            Format::BinarySI => {
                // Go's `value&0x07 != 0`: the number before the suffix is not a multiple of 8.
                let value: u64 = shifted.parse().unwrap_or(0);
                (value & 0x07 != 0).then(|| s.to_owned())
            }
            _ => ((exponent - denom_len) % 3 == 0
                && !shifted.ends_with("000")
                && !shifted.starts_with('0'))
            .then(|| s.to_owned()),
        })
        .flatten();
    if !fast_path && !sc.value.bytes().any(|c| c.is_ascii_digit()) {
        return Err(ERR_NUMERIC.to_owned());
    }

    let mut digits: Vec<u8> = shifted.bytes().map(|c| c - b'0').collect();
    let mut exp = -denom_len;
    if base == 10 {
        exp += exponent;
    } else {
        for _ in 0..exponent / 10 {
            mul_small(&mut digits, 1024);
        }
    }
    let (digits, exp) = normalize(digits, exp);
    // Non-zero values below a nano unit are rounded up to it.
    let (mut digits, mut exp, _) = round_up(&digits, exp, -9);
    let mut format = format;
    if format == Format::BinarySI {
        let max: Vec<u8> = MAX_ALLOWED.to_string().bytes().map(|c| c - b'0').collect();
        if cmp_magnitude((&digits, exp), (&max, 0)) == Ordering::Greater {
            (digits, exp) = normalize(max, 0);
        }
        if !digits.is_empty() && cmp_magnitude((&digits, exp), (&[1], 0)) == Ordering::Less {
            format = Format::DecimalSI;
        }
    }
    Ok(Quantity {
        negative: !sc.positive && !digits.is_empty(),
        digits,
        exp,
        format,
        cached,
    })
}

impl Quantity {
    fn zero_with(cached: Option<String>) -> Self {
        Quantity {
            negative: false,
            digits: Vec::new(),
            exp: 0,
            format: Format::DecimalSI,
            cached,
        }
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Compares values, ignoring how they were written (`Quantity.Cmp`).
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_magnitude((&self.digits, self.exp), (&other.digits, other.exp)),
            (true, true) => cmp_magnitude((&other.digits, other.exp), (&self.digits, self.exp)),
        }
    }

    /// Go's `String()`: the cached input when it was canonical, else `CanonicalizeBytes`.
    pub fn canonical(&self) -> String {
        if let Some(s) = &self.cached {
            return s.clone();
        }
        if self.is_zero() {
            return "0".to_owned();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        if format == Format::BinarySI {
            let small =
                cmp_magnitude((&self.digits, self.exp), (&[1, 0, 2, 4], 0)) == Ordering::Less;
            let (d, e, exact) = round_up(&self.digits, self.exp, 0);
            match to_u128(&d, e).filter(|_| exact && !small) {
                Some(mut v) => {
                    let mut count = 0;
                    while v >= 1024 && v % 1024 == 0 {
                        v /= 1024;
                        count += 1;
                    }
                    let suffix = match count {
                        0 => "",
                        n => BINARY_SUFFIXES.get(n - 1).map_or("", |(s, _)| s),
                    };
                    return format!("{sign}{v}{suffix}");
                }
                // Below 1024, or not a whole number: printed as DecimalSI to avoid rounding.
                None => format = Format::DecimalSI,
            }
        }
        let mut digits = self.digits.clone();
        let mut exp = self.exp;
        while exp % 3 != 0 {
            digits.push(0);
            exp -= 1;
        }
        let number: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let suffix = match format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            // Go finds no suffix beyond E and prints the bare number; reproduced as is.
            _ => DECIMAL_SUFFIXES
                .iter()
                .find(|(_, e)| *e == exp)
                .map_or(String::new(), |(s, _)| (*s).to_owned()),
        };
        format!("{sign}{number}{suffix}")
    }

    /// `RoundUp(-3)` as `SetDefaults_ResourceList` applies it: values finer than a milli unit are
    /// rounded away from zero. Returns true if nothing changed.
    pub fn round_up_milli(&mut self) -> bool {
        let (d, e, exact) = round_up(&self.digits, self.exp, -3);
        if !exact {
            self.digits = d;
            self.exp = e;
            self.cached = None;
        }
        exact
    }

    /// `MilliValue() % 1000 == 0`, the integer test `ValidateResourceQuantityValue` applies to
    /// extended resources. MilliValue rounds away from zero, so 0.9995 passes, as in Go.
    pub fn is_whole_in_millis(&self) -> bool {
        if self.is_zero() || self.exp >= 0 {
            return true;
        }
        if self.exp + 3 >= 0 {
            return false;
        }
        // After rounding to milli units the digits end in a non-zero digit, so the milli value is
        // a multiple of 1000 exactly when the exponent reached 0.
        let (_, e, _) = round_up(&self.digits, self.exp, -3);
        e >= 0
    }

    /// `Value()` (rounded away from zero) as a magnitude, when it fits.
    pub fn value_magnitude(&self) -> Option<u128> {
        let (d, e, _) = round_up(&self.digits, self.exp, 0);
        to_u128(&d, e)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// `Value()` of a quantity: whole units, rounded up.
pub fn value(q: &str) -> Option<i128> {
    scaled(q, 0)
}

/// `MilliValue()` of a quantity: thousandths, rounded up.
pub fn milli_value(q: &str) -> Option<i128> {
    scaled(q, 3)
}

/// The quantity in billionths, rounded up: exact for every suffix (`n` is the finest), so sums
/// of these compare as Go's `Quantity.Add` and `Cmp` do.
pub fn nano_value(q: &str) -> Option<i128> {
    scaled(q, 9)
}

/// The quantity × 10^`shift`, rounded up (away from zero for negatives, as Go's
/// `ScaledValue` rounds).
fn scaled(q: &str, shift: u32) -> Option<i128> {
    // The canonical form is always an integer followed by a suffix ("1536Mi", "500m",
    // "1e3"): no fractions left to parse.
    let canonical = parse_quantity(q).ok()?.canonical();
    let (negative, body) = match canonical.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, canonical.as_str()),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let digits: i128 = body[..split].parse().ok()?;
    let suffix = &body[split..];
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        other => (other.strip_prefix('e')?.parse().ok()?, 0),
    };
    let exp10 = exp10 + i32::try_from(shift).ok()?;
    let mut num = digits.checked_mul(1i128.checked_shl(exp2)?)?;
    let mut den: i128 = 1;
    if exp10 >= 0 {
        num = num.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)?;
    } else {
        den = 10i128.checked_pow(exp10.unsigned_abs())?;
    }
    let whole = (num + den - 1) / den;
    Some(if negative { -whole } else { whole })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_v24() {
        let cases = [
            ("1", "1"),
            ("+1", "+1"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("100m", "100m"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1Ki", "1Ki"),
            ("1024Ki", "1Mi"),
            ("8Ki", "8Ki"),
            ("0.5Ki", "512"),
            ("1.5Gi", "1536Mi"),
            ("1e3", "1e3"),
            ("1000e0", "1e3"),
            ("1E3", "1E3"),
            ("0.0000000001", "1n"),
            ("1e-10", "1e-9"),
            ("-1", "-1"),
            ("-0.5", "-500m"),
            ("00", "0"),
            ("-0", "0"),
            (".", "0"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
            ("1000E", "1"),
        ];
        for (input, want) in cases {
            let q = parse_quantity(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.canonical(), want, "input {input}");
        }
    }

    #[test]
    fn parse_errors_v24() {
        for (input, want) in [
            ("", ERR_FORMAT_WRONG),
            ("abc", ERR_FORMAT_WRONG),
            ("1.2.3", ERR_FORMAT_WRONG),
            ("1Qi", ERR_FORMAT_WRONG),
            ("1Kii", ERR_SUFFIX),
            ("1e", ERR_SUFFIX),
            ("1mm", ERR_SUFFIX),
            (".e-10", ERR_NUMERIC),
        ] {
            assert_eq!(
                parse_quantity(input).err().as_deref(),
                Some(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn comparison_and_rounding() {
        let q = |s: &str| parse_quantity(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(q("1").cmp_value(&q("1000m")), Ordering::Equal);
        assert_eq!(q("2").cmp_value(&q("1Ki")), Ordering::Less);
        assert_eq!(q("-1").cmp_value(&q("0")), Ordering::Less);
        assert_eq!(q("-2").cmp_value(&q("-1")), Ordering::Less);
        let mut r = q("0.0001");
        assert!(!r.round_up_milli());
        assert_eq!(r.canonical(), "1m");
        let mut r = q("100m");
        assert!(r.round_up_milli());
        assert_eq!(r.canonical(), "100m");
        assert!(q("2").is_whole_in_millis());
        assert!(!q("1.5").is_whole_in_millis());
        assert!(q("0.9995").is_whole_in_millis());
        // BinarySI quantities are capped at 2^63-1.
        assert_eq!(q("20Ei").canonical(), "9223372036854775807");
    }
}
