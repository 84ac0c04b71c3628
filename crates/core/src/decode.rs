//! Strict decoding of request bodies and manifest files, as the apiserver's strict field
//! validation does it (`fieldValidation=Strict`, kubectl's default): YAML or JSON text becomes
//! documents, a document becomes a typed object, and fields the type does not know, or fields
//! given twice, are reported by path (`unknown field "spec.foo"`).
//!
//! k8s-openapi's deserializers ignore unknown fields, so unknown fields are found by comparing
//! the document with the typed object serialised back: whatever the type dropped, it did not know.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::object::{self, Kind, Object};

/// One document of a manifest: its JSON value, and the fields it gave more than once.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub value: Value,
    /// Paths of fields given twice (`spec.template`), in input order.
    pub duplicates: Vec<String>,
}

/// Text that is not YAML or JSON at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub message: String,
    /// 1-based line and column of the problem, when the parser knows it.
    pub line: Option<u64>,
    pub column: Option<u64>,
}

/// A document that cannot become an object of a kind kbatch admits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// apiVersion or kind is missing (apimachinery: `Object 'Kind' is missing in ...`).
    #[error("Object '{0}' is missing")]
    MissingTypeField(&'static str),
    #[error("the document is not an object")]
    NotAnObject,
    /// A kind kbatch does not serve.
    #[error(
        "no kind \"{kind}\" is registered for version \"{api_version}\": kbatch serves {}",
        served_kinds()
    )]
    UnknownKind { api_version: String, kind: String },
    /// A value of the wrong type (apimachinery: `Job in version "v1" cannot be handled as a Job: ...`).
    #[error("{} in version \"{}\" cannot be handled as a {}: {}: {}", kind.kind, kind.version, kind.kind, path, message)]
    Type {
        kind: Kind,
        path: String,
        message: String,
    },
    /// Unknown or duplicate fields under strict field validation.
    #[error("{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}", kind.kind, kind.version, kind.kind, problems.join(", "))]
    Strict { kind: Kind, problems: Vec<String> },
}

/// A decoded object and the strict-validation problems found while decoding it
/// (`unknown field "spec.foo"`, `duplicate field "metadata.name"`). The caller decides, as
/// `fieldValidation` does, whether they fail the request, become warnings, or are ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub object: Object,
    pub strict_problems: Vec<String>,
}

impl Decoded {
    /// Fails on any strict problem, as `fieldValidation=Strict` does.
    pub fn strict(self) -> Result<Object, ObjectError> {
        if self.strict_problems.is_empty() {
            Ok(self.object)
        } else {
            Err(ObjectError::Strict {
                kind: self.object.kind(),
                problems: self.strict_problems,
            })
        }
    }
}

fn served_kinds() -> String {
    let names: Vec<String> = object::ADMITTED_KINDS
        .iter()
        .map(|k| format!("{} {}", k.api_version(), k.kind))
        .collect();
    names.join(", ")
}

/// Splits YAML (multi-document, `---`) or JSON text into documents. Empty documents are
/// skipped, as kubectl does. YAML is read as Kubernetes reads it (sigs.k8s.io/yaml on go-yaml:
/// leading-zero numbers are octal).
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return parse_json(trimmed);
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        legacy_octal_numbers: true,
    };
    let docs: Vec<Tracked> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
            let location = e.location();
            SyntaxError {
                message: first_line(&e.to_string()),
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
            }
        })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(Tracked::into_document)
        .collect())
}

/// JSON text: one value, or several concatenated, as kubectl accepts them.
fn parse_json(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let stream = serde_json::Deserializer::from_str(text).into_iter::<Tracked>();
    let mut docs = Vec::new();
    for item in stream {
        let tracked = item.map_err(|e| SyntaxError {
            message: format!("{e}"),
            line: Some(e.line() as u64),
            column: Some(e.column() as u64),
        })?;
        docs.push(tracked.into_document());
    }
    Ok(docs)
}

/// The parser's first line without its own `error: line L column C:` prefix: the location is
/// reported separately.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((location, message)) if location.contains("column") => message.to_owned(),
        _ => line.to_owned(),
    }
}

/// Expands `kind: List` (and `*List`) documents into their items, as kubectl does.
pub fn flatten_lists(docs: Vec<Document>) -> Vec<Document> {
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let is_list = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && doc.value.get("items").is_some_and(Value::is_array);
        if !is_list {
            out.push(doc);
            continue;
        }
        let Value::Object(mut map) = doc.value else {
            continue;
        };
        if let Some(Value::Array(items)) = map.remove("items") {
            for (i, item) in items.into_iter().enumerate() {
                let prefix = format!("items[{i}]");
                let duplicates = doc
                    .duplicates
                    .iter()
                    .filter_map(|d| d.strip_prefix(&prefix))
                    .map(|rest| rest.trim_start_matches('.').to_owned())
                    .collect();
                out.push(Document {
                    value: item,
                    duplicates,
                });
            }
        }
    }
    out
}

/// Decodes a document into an object of a kind kbatch admits, reporting unknown and duplicate
/// fields. Type errors carry the field path (`spec.backoffLimit`).
pub fn decode(doc: &Document) -> Result<Decoded, ObjectError> {
    let Value::Object(map) = &doc.value else {
        return Err(ObjectError::NotAnObject);
    };
    let api_version = type_field(map, "apiVersion")?;
    let kind_name = type_field(map, "kind")?;
    let kind = object::lookup(api_version, kind_name).ok_or_else(|| ObjectError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind_name.to_owned(),
    })?;
    let object = match kind.kind {
        "Job" => Object::Job(typed(kind, &doc.value)?),
        "CronJob" => Object::CronJob(typed(kind, &doc.value)?),
        "Pod" => Object::Pod(typed(kind, &doc.value)?),
        "Event" => Object::Event(typed(kind, &doc.value)?),
        "Node" => Object::Node(typed(kind, &doc.value)?),
        "Lease" => Object::Lease(typed(kind, &doc.value)?),
        "ConfigMap" => Object::ConfigMap(typed(kind, &doc.value)?),
        "Secret" => Object::Secret(typed(kind, &doc.value)?),
        "ServiceAccount" => Object::ServiceAccount(typed(kind, &doc.value)?),
        "PersistentVolumeClaim" => Object::PersistentVolumeClaim(typed(kind, &doc.value)?),
        "StorageClass" => Object::StorageClass(typed(kind, &doc.value)?),
        "RuntimeClass" => Object::RuntimeClass(typed(kind, &doc.value)?),
        _ => Object::Namespace(typed(kind, &doc.value)?),
    };
    check_quantities(kind, &doc.value)?;
    let mut strict_problems: Vec<String> = doc
        .duplicates
        .iter()
        .map(|p| format!("duplicate field \"{p}\""))
        .collect();
    let mut unknown = Vec::new();
    unknown_fields(
        &doc.value,
        &object.to_json(),
        &mut String::new(),
        &mut unknown,
    );
    strict_problems.extend(
        unknown
            .into_iter()
            .map(|p| format!("unknown field \"{p}\"")),
    );
    Ok(Decoded {
        object,
        strict_problems,
    })
}

fn type_field<'a>(map: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, ObjectError> {
    match map.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ObjectError::MissingTypeField(if name == "kind" {
            "Kind"
        } else {
            "apiVersion"
        })),
    }
}

fn typed<T: de::DeserializeOwned>(kind: Kind, value: &Value) -> Result<T, ObjectError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ObjectError::Type {
            kind,
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

/// Quantities are strings to k8s-openapi but parsed at decode time by the apiserver, which rejects
/// the whole body when one does not parse (V-24). kbatch adds the field path to Go's text.
fn check_quantities(kind: Kind, value: &Value) -> Result<(), ObjectError> {
    let mut path = String::new();
    match first_bad_quantity(value, false, &mut path) {
        Some(message) => Err(ObjectError::Type {
            kind,
            path,
            message,
        }),
        None => Ok(()),
    }
}

/// Walks the document; `quantities` is true inside a map whose values are all quantities
/// (`resources.requests`, `resources.limits`, `overhead`).
fn first_bad_quantity(value: &Value, quantities: bool, path: &mut String) -> Option<String> {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if quantities {
                    path.push_str(&format!("[{key}]"));
                } else {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                let parent_is_resources = path[..len].ends_with("resources");
                let holds_quantities = !quantities
                    && ((parent_is_resources && (key == "requests" || key == "limits"))
                        || key == "overhead");
                let problem =
                    if quantities || (key == "sizeLimit" && path[..len].ends_with("emptyDir")) {
                        quantity_problem(item)
                    } else {
                        first_bad_quantity(item, holds_quantities, path)
                    };
                if problem.is_some() {
                    return problem;
                }
                path.truncate(len);
            }
            None
        }
        Value::Array(items) if !quantities => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if let Some(problem) = first_bad_quantity(item, false, path) {
                    return Some(problem);
                }
                path.truncate(len);
            }
            None
        }
        _ => None,
    }
}

fn quantity_problem(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => crate::validation::pod::quantity::parse_quantity(s).err(),
        Value::Number(n) => crate::validation::pod::quantity::parse_quantity(&n.to_string()).err(),
        Value::Null => None,
        _ => Some("quantities must be strings or numbers".to_owned()),
    }
}

/// Collects paths present in `input` but dropped by the typed round trip. Explicit nulls are
/// not reported: they carry no value to lose.
fn unknown_fields(input: &Value, typed: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(inp), Value::Object(known)) => {
            for (key, value) in inp {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match known.get(key) {
                    Some(k) => unknown_fields(value, k, path, out),
                    None if value.is_null() => {}
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(inp), Value::Array(known)) => {
            for (i, (value, k)) in inp.iter().zip(known).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                unknown_fields(value, k, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// A JSON value read from YAML or JSON that remembers which keys it saw twice (the
/// apiserver's strict decoding reports them; a plain map would silently keep one).
struct Tracked {
    value: Value,
    /// Relative paths of duplicated keys.
    duplicates: Vec<String>,
}

impl Tracked {
    fn into_document(self) -> Document {
        Document {
            value: self.value,
            duplicates: self.duplicates,
        }
    }

    fn leaf(value: Value) -> Self {
        Tracked {
            value,
            duplicates: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TrackedVisitor)
    }
}

struct TrackedVisitor;

impl<'de> Visitor<'de> for TrackedVisitor {
    type Value = Tracked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::from(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Tracked, E> {
        Ok(Tracked::leaf(number_or_string(v.to_string())))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Tracked, E> {
        Ok(Tracked::leaf(number_or_string(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tracked, E> {
        Ok(Tracked::leaf(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::String(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::String(
            String::from_utf8_lossy(v).into_owned(),
        )))
    }
    fn visit_none<E: de::Error>(self) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::Null))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tracked, E> {
        Ok(Tracked::leaf(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tracked, D::Error> {
        Tracked::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tracked, A::Error> {
        let mut items = Vec::new();
        let mut duplicates = Vec::new();
        while let Some(item) = seq.next_element::<Tracked>()? {
            let i = items.len();
            duplicates.extend(item.duplicates.into_iter().map(|d| join_index(i, &d)));
            items.push(item.value);
        }
        Ok(Tracked {
            value: Value::Array(items),
            duplicates,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tracked, A::Error> {
        let mut fields = Map::new();
        let mut duplicates = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let item = map.next_value::<Tracked>()?;
            duplicates.extend(item.duplicates.into_iter().map(|d| join_key(&key.0, &d)));
            if fields.contains_key(&key.0) {
                duplicates.push(key.0.clone());
            }
            // Like encoding/json (and the apiserver's decoder), the last value wins.
            fields.insert(key.0, item.value);
        }
        Ok(Tracked {
            value: Value::Object(fields),
            duplicates,
        })
    }
}

fn number_or_string(s: String) -> Value {
    serde_json::from_str::<serde_json::Number>(&s).map_or(Value::String(s), Value::Number)
}

fn join_key(key: &str, rest: &str) -> String {
    if rest.starts_with('[') {
        format!("{key}{rest}")
    } else {
        format!("{key}.{rest}")
    }
}

fn join_index(i: usize, rest: &str) -> String {
    if rest.starts_with('[') {
        format!("[{i}]{rest}")
    } else {
        format!("[{i}].{rest}")
    }
}

/// A mapping key. YAML allows non-string keys; sigs.k8s.io/yaml turns them into strings.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
                Ok(Key(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_owned()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Document {
        let mut docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: pi\n        image: perl\n";

    #[test]
    fn yaml_job_decodes_without_problems() {
        let d = decode(&one(JOB)).unwrap();
        assert!(d.strict_problems.is_empty(), "{:?}", d.strict_problems);
        assert_eq!(d.object.name(), "pi");
    }

    #[test]
    fn unknown_fields_are_reported_by_path() {
        let text = JOB
            .replace("  template:\n", "  foo: 1\n  template:\n")
            .replace("image: perl\n", "image: perl\n        colour: red\n");
        let d = decode(&one(&text)).unwrap();
        assert_eq!(
            d.strict_problems,
            vec![
                r#"unknown field "spec.foo""#.to_owned(),
                r#"unknown field "spec.template.spec.containers[0].colour""#.to_owned()
            ]
        );
        let err = d.strict().unwrap_err().to_string();
        assert!(err.starts_with(r#"Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.foo""#), "{err}");
    }

    #[test]
    fn duplicate_fields_are_reported_in_yaml_and_json() {
        let text = JOB.replace("  name: pi\n", "  name: pi\n  name: pi2\n");
        let d = decode(&one(&text)).unwrap();
        assert_eq!(
            d.strict_problems,
            vec![r#"duplicate field "metadata.name""#.to_owned()]
        );
        assert_eq!(d.object.name(), "pi2");
        let json = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"a"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","image":"j"}]}}}}"#;
        let d = decode(&one(json)).unwrap();
        assert_eq!(
            d.strict_problems,
            vec![r#"duplicate field "spec.template.spec.containers[0].image""#.to_owned()]
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let text = JOB.replace("  template:\n", "  backoffLimit: lots\n  template:\n");
        let err = decode(&one(&text)).unwrap_err();
        match &err {
            ObjectError::Type { path, .. } => assert_eq!(path, "spec.backoffLimit"),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().starts_with(
                r#"Job in version "v1" cannot be handled as a Job: spec.backoffLimit: "#
            )
        );
    }

    #[test]
    fn unknown_kinds_name_what_is_served() {
        let err = decode(&one("apiVersion: apps/v1\nkind: Deployment\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r#"no kind "Deployment" is registered for version "apps/v1": kbatch serves batch/v1 Job, batch/v1 CronJob, v1 Pod, v1 Namespace, v1 Event, v1 Node, coordination.k8s.io/v1 Lease, v1 ConfigMap, v1 Secret, v1 ServiceAccount, v1 PersistentVolumeClaim, storage.k8s.io/v1 StorageClass, node.k8s.io/v1 RuntimeClass"#
        );
        assert_eq!(
            decode(&one("kind: Job\n")).unwrap_err(),
            ObjectError::MissingTypeField("apiVersion")
        );
    }

    #[test]
    fn multi_document_yaml_and_lists() {
        let docs = parse_documents(&format!("---\n{JOB}---\n---\n{JOB}")).unwrap();
        assert_eq!(docs.len(), 2);
        let list = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b","name":"c"}}]}"#;
        let docs = flatten_lists(parse_documents(list).unwrap());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].duplicates, vec!["metadata.name".to_owned()]);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse_documents("a: b\n  c: d\n").unwrap_err();
        assert!(err.line.is_some(), "{err:?}");
    }

    #[test]
    fn unparsable_quantities_fail_decoding_with_their_path() {
        let text = JOB.replace(
            "image: perl\n",
            "image: perl\n        resources:\n          limits:\n            cpu: 1ki\n            memory: 1Gi\n",
        );
        match decode(&one(&text)).unwrap_err() {
            ObjectError::Type { path, message, .. } => {
                assert_eq!(
                    path,
                    "spec.template.spec.containers[0].resources.limits[cpu]"
                );
                assert_eq!(message, "unable to parse quantity's suffix");
            }
            other => panic!("{other:?}"),
        }
        let ok = JOB.replace("image: perl\n", "image: perl\n        resources:\n          requests:\n            cpu: 500m\n            memory: 2\n");
        assert!(decode(&one(&ok)).is_ok());
    }

    #[test]
    fn octal_numbers_as_kubernetes_reads_yaml() {
        let d = one("a: 010\n");
        assert_eq!(d.value["a"], Value::from(8));
    }
}
