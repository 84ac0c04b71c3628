//! Field paths and field errors, mirroring apimachinery's `pkg/util/validation/field`
//! (`path.go`, `errors.go`): the exact texts kubectl users see (spec/validation.md V-41, V-42).

use std::fmt;

/// A path to a field: `spec.template.spec.containers[0].image`, map keys as `[key]` (V-42).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A path starting at a top-level field name, such as `metadata` or `spec`.
    pub fn new(name: &str) -> Self {
        Path(name.to_owned())
    }

    /// The empty path, for errors about the whole object.
    pub fn root() -> Self {
        Path(String::new())
    }

    /// `parent.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    /// `parent[i]`.
    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{}]", self.0, i))
    }

    /// `parent[key]`; apimachinery prints map keys unquoted.
    pub fn key(&self, key: &str) -> Self {
        Path(format!("{}[{}]", self.0, key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// apimachinery's `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl ErrorType {
    /// The `reason` of a Status cause (`FieldValueRequired`, …).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human text that starts an error body (`Required value`, `Invalid value`, …).
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }
}

/// The offending value, rendered the way Go's `ErrorBody` renders it: numbers and bools bare,
/// strings Go-quoted, composites as JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum BadValue {
    /// No value is printed (`field.Required`, `field.Forbidden`, …).
    Omit,
    Null,
    Int(i64),
    Bool(bool),
    Str(String),
    Json(serde_json::Value),
    /// A value Go prints through its `String()` method or, lacking one, with `%#v` (a
    /// `metav1.Time`, an internal API struct): already rendered, printed bare.
    Go(String),
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_owned())
    }
}
impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}
impl From<&String> for BadValue {
    fn from(s: &String) -> Self {
        BadValue::Str(s.clone())
    }
}
impl From<i64> for BadValue {
    fn from(v: i64) -> Self {
        BadValue::Int(v)
    }
}
impl From<i32> for BadValue {
    fn from(v: i32) -> Self {
        BadValue::Int(v.into())
    }
}
impl From<usize> for BadValue {
    fn from(v: usize) -> Self {
        BadValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for BadValue {
    fn from(v: bool) -> Self {
        BadValue::Bool(v)
    }
}
impl From<serde_json::Value> for BadValue {
    fn from(v: serde_json::Value) -> Self {
        BadValue::Json(v)
    }
}

/// One field error: apimachinery's `field.Error`, plus an optional kbatch hint that tells the
/// user how to fix the manifest. The hint is rendered on a line of its own after Kubernetes'
/// unchanged text, so tools matching Kubernetes' message still match the first line.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    pub field: Path,
    pub value: BadValue,
    pub detail: String,
    pub hint: Option<String>,
}

impl FieldError {
    fn new(kind: ErrorType, field: &Path, value: BadValue, detail: impl Into<String>) -> Self {
        FieldError {
            kind,
            field: field.clone(),
            value,
            detail: detail.into(),
            hint: None,
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::Omit, detail)
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: &Path, value: impl Into<BadValue>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, value.into(), detail)
    }

    /// `field.NotSupported(path, value, supported)`: detail `supported values: "A", "B"`.
    pub fn not_supported(field: &Path, value: impl Into<BadValue>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, value.into(), detail)
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(field: &Path, value: impl Into<BadValue>) -> Self {
        Self::new(ErrorType::Duplicate, field, value.into(), "")
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, BadValue::Omit, detail)
    }

    /// `field.NotFound(path, value)`.
    pub fn not_found(field: &Path, value: impl Into<BadValue>) -> Self {
        Self::new(ErrorType::NotFound, field, value.into(), "")
    }

    /// `field.TooLong(path, value, max)`: detail `may not be more than N bytes`.
    pub fn too_long(field: &Path, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            BadValue::Omit,
            format!("may not be more than {max} bytes"),
        )
    }

    /// `field.TooMany(path, actual, max)`: `Too many: 25: must have at most 20 items`.
    pub fn too_many(field: &Path, actual: usize, max: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            actual.into(),
            format!("must have at most {max} items"),
        )
    }

    /// `field.InternalError(path, err)`.
    pub fn internal(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, field, BadValue::Omit, detail)
    }

    /// Attaches a kbatch hint: how to fix the manifest.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Go's `ErrorBody()`: everything after `field: `, without the hint.
    pub fn body(&self) -> String {
        let mut s = match (&self.kind, &self.value) {
            (
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::Internal,
                _,
            )
            | (_, BadValue::Omit) => self.kind.text().to_owned(),
            (_, value) => format!("{}: {}", self.kind.text(), render_value(value)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The body followed by the hint on its own line, as shown in Status causes and by the CLI.
    pub fn message(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{}\nhint: {}", self.body(), hint),
            None => self.body(),
        }
    }
}

/// Go's `Error()`: `field: body` (the body alone when the path is empty).
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.as_str().is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

impl std::error::Error for FieldError {}

/// An ordered list of field errors: validation collects all of them, never only the first.
pub type ErrorList = Vec<FieldError>;

fn render_value(value: &BadValue) -> String {
    match value {
        BadValue::Omit => String::new(),
        BadValue::Null => "null".to_owned(),
        BadValue::Int(i) => i.to_string(),
        BadValue::Bool(b) => b.to_string(),
        BadValue::Str(s) => go_quote(s),
        BadValue::Go(s) => s.clone(),
        BadValue::Json(v) => match v {
            serde_json::Value::String(s) => go_quote(s),
            serde_json::Value::Null => "null".to_owned(),
            other => other.to_string(),
        },
    }
}

/// Go's `%q` for a string: double-quoted with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_apimachinery() {
        let p = Path::new("spec")
            .child("template")
            .child("spec")
            .child("restartPolicy");
        let e = FieldError::required(&p, r#"valid values: "OnFailure", "Never""#);
        assert_eq!(
            e.to_string(),
            r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#
        );
        let e = FieldError::not_supported(&p, "Always", &["OnFailure", "Never"]);
        assert_eq!(
            e.body(),
            r#"Unsupported value: "Always": supported values: "OnFailure", "Never""#
        );
        let e = FieldError::invalid(
            &Path::new("spec").child("backoffLimit"),
            -1,
            "must be greater than or equal to 0",
        );
        assert_eq!(
            e.to_string(),
            "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"
        );
        let e = FieldError::too_many(&Path::new("spec").child("rules"), 21, 20);
        assert_eq!(e.body(), "Too many: 21: must have at most 20 items");
        let e = FieldError::too_long(&Path::new("metadata").child("annotations"), 262144);
        assert_eq!(e.body(), "Too long: may not be more than 262144 bytes");
        assert_eq!(FieldError::required(&p, "").body(), "Required value");
    }

    #[test]
    fn paths_render_indexes_and_keys() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("env")
            .index(2);
        assert_eq!(p.as_str(), "spec.containers[0].env[2]");
        assert_eq!(
            Path::new("metadata").child("labels").key("a/b").as_str(),
            "metadata.labels[a/b]"
        );
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
    }

    #[test]
    fn hint_is_a_second_line() {
        let e = FieldError::required(&Path::new("x"), "").with_hint("add it");
        assert_eq!(e.message(), "Required value\nhint: add it");
        assert_eq!(e.to_string(), "x: Required value");
    }
}
