//! Go's encoding/json rules for the k8s.io/api structs, applied to the prost messages.
//!
//! The apiserver decodes a protobuf body into the Go struct and from then on the object is what
//! that struct's JSON says it is. k8s-pb makes every field an `Option`, so the Go field's shape
//! decides how an unset or empty value is written, one mode per field:
//!
//! * `req`: a non-pointer field without `omitempty`, or any non-pointer struct (`omitempty` never
//!   drops a struct): always written, as Go's zero value when the message left it out.
//! * `omit`: a non-pointer scalar with `omitempty` (or a `Time` with `omitzero`): left out when
//!   zero (`""`, `0`, `false`, the zero time), because Go's protobuf marshaller sends those too.
//! * `ptr`: a pointer field: written whenever the message carries it, zero values included
//!   (`suspend: false`, `backoffLimit: 0`).
//! * `list` / `map`: a slice or map with `omitempty`: left out when empty.
//! * `nlist`: a slice without `omitempty`: `null` when empty, as Go writes a nil slice.
//! * `inline`: an embedded struct (`json:",inline"`) whose fields join the parent object.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A value the Go struct cannot hold or cannot write as JSON, with the JSON path to it.
#[derive(Debug)]
pub(super) struct Malformed {
    /// Path segments from the innermost outwards (`[0]`, `.containers`, `.spec`).
    segments: Vec<String>,
    message: String,
}

impl Malformed {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Malformed {
            segments: Vec::new(),
            message: message.into(),
        }
    }

    fn within(mut self, segment: String) -> Self {
        self.segments.push(segment);
        self
    }

    /// `spec.template.spec.containers[0].resources.limits[cpu]: <message>`.
    pub(super) fn describe(&self) -> String {
        let path: String = self.segments.iter().rev().map(String::as_str).collect();
        let path = path.strip_prefix('.').unwrap_or(&path);
        if path.is_empty() {
            self.message.clone()
        } else {
            format!("{path}: {}", self.message)
        }
    }
}

/// The JSON encoding/json gives the Go value a message decodes to.
pub(super) trait ToJson {
    fn to_json(&self) -> Result<Value, Malformed>;
}

/// Go's zero value test, which `omitempty` applies to scalars and `omitzero` to `Time`.
pub(super) trait Zero {
    fn is_zero(&self) -> bool;
}

impl ToJson for String {
    fn to_json(&self) -> Result<Value, Malformed> {
        Ok(Value::String(self.clone()))
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Result<Value, Malformed> {
        Ok(Value::Bool(*self))
    }
}

impl ToJson for i32 {
    fn to_json(&self) -> Result<Value, Malformed> {
        Ok(Value::from(*self))
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Result<Value, Malformed> {
        Ok(Value::from(*self))
    }
}

/// `[]byte` values (Secret data, ConfigMap binaryData): standard base64, as encoding/json
/// writes them.
impl ToJson for Vec<u8> {
    fn to_json(&self) -> Result<Value, Malformed> {
        serde_json::to_value(k8s_openapi::ByteString(self.clone()))
            .map_err(|e| Malformed::new(e.to_string()))
    }
}

impl Zero for String {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl Zero for bool {
    fn is_zero(&self) -> bool {
        !*self
    }
}

impl Zero for i32 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Zero for i64 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

/// A JSON object written field by field in the Go struct's declaration order.
#[derive(Debug, Default)]
pub(super) struct Obj(Map<String, Value>);

impl Obj {
    pub(super) fn req<T: ToJson + Default>(
        &mut self,
        name: &'static str,
        value: &Option<T>,
    ) -> Result<(), Malformed> {
        let json = match value {
            Some(v) => v.to_json(),
            None => T::default().to_json(),
        };
        self.put(name, json)
    }

    pub(super) fn omit<T: ToJson + Zero>(
        &mut self,
        name: &'static str,
        value: &Option<T>,
    ) -> Result<(), Malformed> {
        match value {
            Some(v) if !v.is_zero() => self.put(name, v.to_json()),
            _ => Ok(()),
        }
    }

    pub(super) fn ptr<T: ToJson>(
        &mut self,
        name: &'static str,
        value: &Option<T>,
    ) -> Result<(), Malformed> {
        match value {
            Some(v) => self.put(name, v.to_json()),
            None => Ok(()),
        }
    }

    pub(super) fn list<T: ToJson>(
        &mut self,
        name: &'static str,
        items: &[T],
    ) -> Result<(), Malformed> {
        if items.is_empty() {
            return Ok(());
        }
        self.put(name, array(items))
    }

    pub(super) fn nlist<T: ToJson>(
        &mut self,
        name: &'static str,
        items: &[T],
    ) -> Result<(), Malformed> {
        if items.is_empty() {
            return self.put(name, Ok(Value::Null));
        }
        self.put(name, array(items))
    }

    /// Go writes map keys sorted bytewise, which is the order of a `BTreeMap<String, _>`.
    pub(super) fn map<V: ToJson>(
        &mut self,
        name: &'static str,
        entries: &BTreeMap<String, V>,
    ) -> Result<(), Malformed> {
        if entries.is_empty() {
            return Ok(());
        }
        let object = entries
            .iter()
            .map(|(key, value)| {
                let json = value.to_json().map_err(|e| e.within(format!("[{key}]")))?;
                Ok((key.clone(), json))
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object);
        self.put(name, object)
    }

    pub(super) fn inline<T: ToJson + Default>(
        &mut self,
        value: &Option<T>,
    ) -> Result<(), Malformed> {
        let json = match value {
            Some(v) => v.to_json()?,
            None => T::default().to_json()?,
        };
        if let Value::Object(fields) = json {
            self.0.extend(fields);
        }
        Ok(())
    }

    fn put(
        &mut self,
        name: &'static str,
        value: Result<Value, Malformed>,
    ) -> Result<(), Malformed> {
        let value = value.map_err(|e| e.within(format!(".{name}")))?;
        self.0.insert(name.to_owned(), value);
        Ok(())
    }

    pub(super) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn array<T: ToJson>(items: &[T]) -> Result<Value, Malformed> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| item.to_json().map_err(|e| e.within(format!("[{i}]"))))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// One `ToJson` impl per message, one line per Go field: `mode rust_field: "jsonName"`, or
/// `inline rust_field` for an embedded struct. Modes are the `Obj` methods above.
macro_rules! to_json {
    ($($ty:path { $($mode:ident $field:ident $(: $name:literal)?),* $(,)? })*) => {$(
        impl $crate::protobuf::convert::ToJson for $ty {
            fn to_json(
                &self,
            ) -> ::std::result::Result<::serde_json::Value, $crate::protobuf::convert::Malformed> {
                let mut obj = $crate::protobuf::convert::Obj::default();
                $(obj.$mode($($name,)? &self.$field)?;)*
                Ok(obj.into_value())
            }
        }
    )*};
}

pub(super) use to_json;
