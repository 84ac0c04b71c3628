//! Sets of field paths and their FieldsV1 encoding (structured-merge-diff's `fieldpath`
//! package): what a managedFields entry says its manager owns.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::gojson;
use crate::field::go_quote;

/// One step of a field path (`fieldpath.PathElement`).
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a map or struct: `f:name`, printed `.name`.
    Field(String),
    /// An item of an associative list, by its key fields sorted by name: `k:{"name":"pi"}`,
    /// printed `[name="pi"]`.
    Key(Vec<(String, Value)>),
    /// An item of a set: `v:"x"`, printed `[="x"]`.
    Value(Value),
    /// A list index: `i:0`, printed `[0]`.
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The FieldsV1 key (`SerializePathElement`).
    fn serialize(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    gojson::write_string(&mut out, name);
                    out.push(':');
                    out.push_str(&gojson::to_string(v));
                }
                out.push('}');
                out
            }
            PathElement::Value(v) => format!("v:{}", gojson::to_string(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// `DeserializePathElement`; `Ok(None)` for a type prefix this version does not know, which
    /// Kubernetes drops rather than fails on.
    fn deserialize(s: &str) -> Result<Option<PathElement>, String> {
        let b = s.as_bytes();
        if b.len() < 2 {
            return Err("key must be 2 characters long:".to_owned());
        }
        if b[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        Ok(Some(match b[0] {
            b'f' => PathElement::Field(rest.to_owned()),
            b'v' => PathElement::Value(
                serde_json::from_str(rest).map_err(|e| format!("managedFields parsing: {e}"))?,
            ),
            b'k' => {
                let map: Map<String, Value> = serde_json::from_str(rest)
                    .map_err(|e| format!("managedFields parsing: {e}"))?;
                let mut fields: Vec<(String, Value)> = map.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                PathElement::Key(fields)
            }
            b'i' => PathElement::Index(rest.parse().map_err(|e| format!("{e}"))?),
            _ => return Ok(None),
        }))
    }
}

impl Ord for PathElement {
    /// `PathElement.Compare`: field names first, then keys, values and indices.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_fields(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    /// `PathElement.String`, the form conflicts are reported in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path (`fieldpath.Path`).
pub type FieldPath = Vec<PathElement>;

/// `Path.String`: `.spec.template.spec.containers[name="pi"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// `value.ToString`: Go's `%q` for strings, `%v` for the rest.
fn value_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect(),
    }
}

enum Num {
    Int(i128),
    Float(f64),
}

fn number(v: &Value) -> Option<Num> {
    let Value::Number(n) = v else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        Some(Num::Int(i128::from(i)))
    } else if let Some(u) = n.as_u64() {
        Some(Num::Int(i128::from(u)))
    } else {
        n.as_f64().map(Num::Float)
    }
}

fn as_float(n: &Num) -> f64 {
    match n {
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
    }
}

/// `value.Compare`: a total order over values, numbers (ints and floats compared numerically)
/// before strings, booleans, lists, maps and null.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (number(a), number(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x.cmp(&y),
            (Some(x), Some(y)) => as_float(&x).total_cmp(&as_float(&y)),
            _ => Ordering::Equal,
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `MapCompareUsing`: keys zipped in lexical order.
fn compare_maps(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for (i, k) in keys.into_iter().enumerate() {
        let c = if i == x.len() {
            Ordering::Less
        } else if i == y.len() {
            Ordering::Greater
        } else {
            match (x.get(k), y.get(k)) {
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(l), Some(r)) => compare_values(l, r),
            }
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

fn compare_fields(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b) {
        let c = an.cmp(bn).then_with(|| compare_values(av, bv));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// `value.Equals`: deep equality with ints and floats compared numerically.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (number(a), number(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => as_float(&x) == as_float(&y),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A set of field paths (`fieldpath.Set`): the paths ending at this node (`members`) and the
/// subtrees below it (`children`, never empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path; the empty path is not a member of any set.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths below `pe`, without it (`WithPrefix`).
    pub(crate) fn with_prefix(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let both = child.intersection(other.children.get(pe)?);
                (!both.is_empty()).then(|| (pe.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` not in `other`. A member of `other` does not take the subtree below
    /// it away (`Difference`; see `recursive_difference`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| match other.children.get(pe) {
                Some(theirs) => {
                    let diff = child.difference(theirs);
                    (!diff.is_empty()).then(|| (pe.clone(), diff))
                }
                None => Some((pe.clone(), child.clone())),
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths of `self` that neither are in `other` nor lie below a member of it
    /// (`RecursiveDifference`, how reset fields are filtered out).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(pe))
            .filter_map(|(pe, child)| match other.children.get(pe) {
                Some(theirs) => {
                    let diff = child.recursive_difference(theirs);
                    (!diff.is_empty()).then(|| (pe.clone(), diff))
                }
                None => Some((pe.clone(), child.clone())),
            })
            .collect();
        FieldSet { members, children }
    }

    /// Makes every field that has owned paths below it a member too
    /// (`EnsureNamedFieldsAreMembers`). Every map of the served kinds whose values are maps is a
    /// struct, so every field-name child is a declared field.
    pub(crate) fn ensure_named_fields_are_members(&self) -> FieldSet {
        let mut members = self.members.clone();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if matches!(pe, PathElement::Field(_)) {
                members.insert(pe.clone());
            }
            children.insert(pe.clone(), child.ensure_named_fields_are_members());
        }
        FieldSet { members, children }
    }

    /// Every path, members of a node before the paths below its children (`Iterate`).
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 object (`Set.ToJSON`): `{"f:spec":{"f:template":{...}}}`, with `".":{}` in a
    /// node that is itself a member, keys in path-element order.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self {
            out.insert(".".to_owned(), Value::Object(Map::new()));
        }
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let member = members.peek().copied();
            match (member, children.peek().copied()) {
                (None, None) => break,
                (Some(m), None) => {
                    out.insert(m.serialize(), Value::Object(Map::new()));
                    members.next();
                }
                (Some(m), Some((c, _))) if m < c => {
                    out.insert(m.serialize(), Value::Object(Map::new()));
                    members.next();
                }
                (_, Some((c, set))) => {
                    let also_member = member == Some(c);
                    if also_member {
                        members.next();
                    }
                    children.next();
                    out.insert(c.serialize(), Value::Object(set.emit(also_member)));
                }
            }
        }
        out
    }

    /// Reads a FieldsV1 object (`Set.FromJSON`). Keys of an unknown path-element type are
    /// dropped, as Kubernetes does, and a node whose object has no known children is a member.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = v else {
            return Err(format!("expected a FieldsV1 object, got {v}"));
        };
        Ok(Self::read(map)?.0.unwrap_or_default())
    }

    /// `readIterV1`: the children read from `map`, and whether the node is a member.
    fn read(map: &Map<String, Value>) -> Result<(Option<FieldSet>, bool), String> {
        let mut children: Option<FieldSet> = None;
        let mut is_member = false;
        for (key, value) in map {
            if key == "." {
                is_member = true;
                continue;
            }
            let Some(pe) = PathElement::deserialize(key)? else {
                continue;
            };
            let Value::Object(inner) = value else {
                return Err(format!("expected an object for {key:?}, got {value}"));
            };
            let (grandchildren, child_is_member) = Self::read(inner)?;
            if child_is_member {
                children.get_or_insert_default().members.insert(pe.clone());
            }
            if let Some(g) = grandchildren {
                let node = children.get_or_insert_default();
                let merged = match node.children.remove(&pe) {
                    Some(existing) => existing.union(&g),
                    None => g,
                };
                node.children.insert(pe, merged);
            }
        }
        if children.is_none() {
            is_member = true;
        }
        Ok((children, is_member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    fn key(name: &str, v: Value) -> PathElement {
        PathElement::Key(vec![(name.to_owned(), v)])
    }

    #[test]
    fn encodes_members_children_and_the_self_marker() {
        let mut s = FieldSet::new();
        s.insert(&[f("metadata"), f("labels"), f("app")]);
        s.insert(&[f("spec"), f("containers"), key("name", json!("pi"))]);
        s.insert(&[
            f("spec"),
            f("containers"),
            key("name", json!("pi")),
            f("image"),
        ]);
        s.insert(&[f("spec"), f("suspend")]);
        assert_eq!(
            serde_json::to_string(&s.to_fields_v1()).unwrap(),
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"pi\"}":{".":{},"f:image":{}}},"f:suspend":{}}}"#
        );
    }

    #[test]
    fn decoding_round_trips_and_drops_unknown_element_types() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:ports": {"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {".": {}, "f:name": {}}}},
            "x:future": {}
        });
        let s = FieldSet::from_fields_v1(&v).unwrap();
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(s.has(&[f("metadata"), f("labels"), f("app")]));
        let port = PathElement::Key(vec![
            ("containerPort".to_owned(), json!(80)),
            ("protocol".to_owned(), json!("TCP")),
        ]);
        assert!(s.has(&[f("spec"), f("ports"), port.clone()]));
        assert!(s.has(&[f("spec"), f("ports"), port, f("name")]));
        // Keys come back sorted, as Kubernetes writes them.
        assert_eq!(
            serde_json::to_string(&s.to_fields_v1()).unwrap(),
            r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{}}}}}"#
        );
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(FieldSet::from_fields_v1(&json!({"f": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"fx": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:{": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    }

    #[test]
    fn set_values_sort_numbers_before_strings() {
        let mut s = FieldSet::new();
        s.insert(&[f("finalizers"), PathElement::Value(json!("b"))]);
        s.insert(&[f("finalizers"), PathElement::Value(json!(2))]);
        s.insert(&[f("finalizers"), PathElement::Value(json!("a"))]);
        assert_eq!(
            serde_json::to_string(&s.to_fields_v1()).unwrap(),
            r#"{"f:finalizers":{"v:2":{},"v:\"a\"":{},"v:\"b\"":{}}}"#
        );
    }

    #[test]
    fn paths_print_like_kubernetes() {
        let p = vec![
            f("spec"),
            f("containers"),
            key("name", json!("pi")),
            f("args"),
        ];
        assert_eq!(path_string(&p), r#".spec.containers[name="pi"].args"#);
        assert_eq!(
            path_string(&[f("finalizers"), PathElement::Value(json!("x"))]),
            r#".finalizers[="x"]"#
        );
    }

    #[test]
    fn difference_keeps_subtrees_recursive_difference_drops_them() {
        let mut s = FieldSet::new();
        s.insert(&[f("status"), f("active")]);
        s.insert(&[f("spec"), f("suspend")]);
        let mut reset = FieldSet::new();
        reset.insert(&[f("status")]);
        assert_eq!(s.difference(&reset), s);
        let mut only_spec = FieldSet::new();
        only_spec.insert(&[f("spec"), f("suspend")]);
        assert_eq!(s.recursive_difference(&reset), only_spec);
    }

    #[test]
    fn iteration_lists_members_before_children() {
        let mut s = FieldSet::new();
        s.insert(&[f("spec"), f("template"), f("x")]);
        s.insert(&[f("spec"), f("z")]);
        let printed: Vec<String> = s.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(printed, [".spec.z", ".spec.template.x"]);
    }
}
