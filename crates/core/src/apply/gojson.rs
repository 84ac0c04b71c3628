//! JSON text exactly as Go's `encoding/json` writes an unstructured value: map keys sorted,
//! `<`, `>` and `&` escaped, no spaces. FieldsV1 keys (`k:{"name":"pi"}`, `v:"x"`) embed such
//! text, and so does the `last-applied-configuration` annotation kubectl server-side apply
//! keeps in step, so serde_json's own formatting would make different bytes.

use std::fmt::Write as _;

use serde_json::Value;

/// `json.Marshal` of an unstructured value.
pub(crate) fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => write_float(out, f),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &map[k]);
            }
            out.push('}');
        }
    }
}

/// `encoding/json`'s float64 format: the shortest representation, in exponent form only below
/// 1e-6 or from 1e21 on, with the exponent written `e-7` / `e+21`.
fn write_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

/// A JSON string with `encoding/json`'s escapes (HTML-safe, as `json.Marshal` and
/// `json.Encoder` write by default).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_and_html_escaped() {
        assert_eq!(
            to_string(&json!({"b": 1, "a": "<x & y>", "c": [true, null]})),
            r#"{"a":"\u003cx \u0026 y\u003e","b":1,"c":[true,null]}"#
        );
    }

    #[test]
    fn floats_as_go_writes_them() {
        assert_eq!(to_string(&json!(1.0)), "1");
        assert_eq!(to_string(&json!(0.5)), "0.5");
        assert_eq!(to_string(&json!(1e21)), "1e+21");
        assert_eq!(to_string(&json!(1e-7)), "1e-7");
    }

    #[test]
    fn control_characters() {
        assert_eq!(to_string(&json!("a\u{1}\n\u{8}")), r#""a\u0001\n\b""#);
    }
}
