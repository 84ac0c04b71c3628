//! structured-merge-diff's walks over an object (`typed` package): the field set of a value,
//! the comparison of two, the merge of an applied configuration, the removal of paths, and the
//! validation of a configuration's list keys. Lists and atomic structs follow `schema`; every
//! other object is a struct and every other value a scalar.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldPath, FieldSet, PathElement, path_string, values_equal};
use super::schema::{self, ListKind};
use crate::decode::{Document, decode};
use crate::field::go_quote;
use crate::object::Kind;

/// A `ValidationError`: a message at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TypedError {
    path: String,
    message: String,
}

/// `ValidationErrors.Error()`.
pub(crate) fn errors_text(errors: &[TypedError]) -> String {
    let one = |e: &TypedError| {
        if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        }
    };
    match errors {
        [e] => one(e),
        _ => {
            let mut lines = vec!["errors:".to_owned()];
            lines.extend(errors.iter().map(|e| format!("  {}", one(e))));
            lines.join("\n")
        }
    }
}

/// The result of comparing two objects (`typed.Comparison`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Comparison {
    pub removed: FieldSet,
    pub modified: FieldSet,
    pub added: FieldSet,
}

impl Comparison {
    /// `ExcludeFields`/`FilterFields` with an exclude filter: drops reset fields.
    pub(crate) fn exclude(&self, fields: &FieldSet) -> Comparison {
        Comparison {
            removed: self.removed.recursive_difference(fields),
            modified: self.modified.recursive_difference(fields),
            added: self.added.recursive_difference(fields),
        }
    }
}

enum Shape {
    Scalar,
    Map { atomic: bool },
    List(ListKind),
}

/// A position in a walk: the field names from the root, which the list and struct markers are
/// keyed by, and the full path, which sets hold.
struct Walker<'k> {
    kind: &'k Kind,
    names: Vec<String>,
    path: FieldPath,
    errors: Vec<TypedError>,
}

static NULL: Value = Value::Null;

impl<'k> Walker<'k> {
    fn new(kind: &'k Kind) -> Self {
        Walker {
            kind,
            names: Vec::new(),
            path: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// What the schema says is at this position, told from whichever side has a map or list
    /// (null and absent values take the other side's shape, as they take the schema's).
    fn shape(&self, item: bool, a: Option<&Value>, b: Option<&Value>) -> Shape {
        match [a, b]
            .into_iter()
            .flatten()
            .find(|v| v.is_object() || v.is_array())
        {
            Some(Value::Object(_)) => Shape::Map {
                atomic: schema::atomic_map(self.kind, &self.names(), item),
            },
            Some(_) => Shape::List(schema::list_kind(self.kind, &self.names())),
            None => Shape::Scalar,
        }
    }

    fn error(&mut self, message: String) {
        self.errors.push(TypedError {
            path: path_string(&self.path),
            message,
        });
    }

    fn enter_field(&mut self, name: &str) {
        self.names.push(name.to_owned());
        self.path.push(PathElement::Field(name.to_owned()));
    }

    fn leave_field(&mut self) {
        self.names.pop();
        self.path.pop();
    }

    /// `listItemToPathElement`.
    fn item_element(&self, list: ListKind, item: &Value) -> Result<PathElement, String> {
        match list {
            ListKind::Map(keys) => {
                let map = match item {
                    Value::Null => {
                        return Err("associative list with keys may not have a null element".into());
                    }
                    Value::Object(m) => m,
                    _ => {
                        return Err(
                            "associative list with keys may not have non-map elements".into()
                        );
                    }
                };
                let mut fields: Vec<(String, Value)> = keys
                    .iter()
                    .filter_map(|k| {
                        let v = map
                            .get(*k)
                            .cloned()
                            .or_else(|| schema::key_default(keys, k))?;
                        Some(((*k).to_owned(), v))
                    })
                    .collect();
                if fields.is_empty() {
                    let quoted: Vec<String> = keys.iter().map(|k| go_quote(k)).collect();
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                        quoted.join(" ")
                    ));
                }
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(fields))
            }
            ListKind::Set => match item {
                Value::Object(_) => {
                    Err("associative list without keys has an element that's a map type".into())
                }
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".into())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null".into(),
                ),
                v => Ok(PathElement::Value(v.clone())),
            },
            ListKind::Atomic => Err("invalid indexing of non-associative list".into()),
        }
    }

    // --- ToFieldSet ---

    fn collect_fields(&mut self, v: &Value, item: bool, set: &mut FieldSet) {
        match self.shape(item, Some(v), None) {
            Shape::Scalar => set.insert(&self.path),
            Shape::Map { atomic: true } | Shape::List(ListKind::Atomic) => set.insert(&self.path),
            Shape::Map { atomic: false } => {
                let Value::Object(map) = v else { return };
                for (k, child) in map {
                    self.enter_field(k);
                    self.collect_fields(child, false, set);
                    if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                        set.insert(&self.path);
                    }
                    self.leave_field();
                }
            }
            Shape::List(list) => {
                let Value::Array(items) = v else { return };
                let elements: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|i| self.item_element(list, i).ok())
                    .collect();
                let mut seen = BTreeSet::new();
                let mut duplicates = BTreeSet::new();
                for pe in elements.iter().flatten() {
                    if !seen.insert(pe) && duplicates.insert(pe) {
                        self.path.push(pe.clone());
                        set.insert(&self.path);
                        self.path.pop();
                    }
                }
                for (child, pe) in items.iter().zip(&elements) {
                    let Some(pe) = pe else { continue };
                    if duplicates.contains(pe) {
                        continue;
                    }
                    self.path.push(pe.clone());
                    self.collect_fields(child, true, set);
                    set.insert(&self.path);
                    self.path.pop();
                }
            }
        }
    }

    // --- Compare ---

    fn compare(&mut self, l: Option<&Value>, r: Option<&Value>, item: bool, c: &mut Comparison) {
        // Equal values differ nowhere, so the walk below could only report items it cannot
        // key. Most of a write is unchanged (a status write leaves metadata and spec as they
        // were), and walking it allocated a path element per field for nothing.
        if let (Some(a), Some(b)) = (l, r)
            && (a.is_object() || a.is_array())
            && values_equal(a, b)
            && self.keys_all_items(a, item)
        {
            return;
        }
        match self.shape(item, l, r) {
            Shape::Scalar => self.compare_leaf(l, r, c),
            Shape::Map { atomic } => {
                let lm = l.and_then(Value::as_object);
                let rm = r.and_then(Value::as_object);
                if atomic || (lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty)) {
                    return self.compare_leaf(l, r, c);
                }
                for k in zip_keys(lm, rm) {
                    self.enter_field(&k);
                    self.compare(
                        lm.and_then(|m| m.get(&k)),
                        rm.and_then(|m| m.get(&k)),
                        false,
                        c,
                    );
                    self.leave_field();
                }
                self.added_or_removed(l, r, c);
            }
            Shape::List(list) => {
                let la = l.and_then(Value::as_array);
                let ra = r.and_then(Value::as_array);
                if list == ListKind::Atomic
                    || (la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty))
                {
                    return self.compare_leaf(l, r, c);
                }
                self.compare_items(list, la, ra, c);
                self.added_or_removed(l, r, c);
            }
        }
    }

    /// Whether every list item in `v` has its path element: if so, comparing `v` with an
    /// equal value reports nothing. It may answer false where the comparison would not fail
    /// (it looks into duplicated items too); the full walk then gives the exact answer.
    fn keys_all_items(&mut self, v: &Value, item: bool) -> bool {
        match self.shape(item, Some(v), None) {
            Shape::Scalar | Shape::Map { atomic: true } | Shape::List(ListKind::Atomic) => true,
            Shape::Map { atomic: false } => {
                let Value::Object(map) = v else { return true };
                map.iter().all(|(k, child)| {
                    self.names.push(k.clone());
                    let ok = self.keys_all_items(child, false);
                    self.names.pop();
                    ok
                })
            }
            Shape::List(list) => {
                let Value::Array(items) = v else { return true };
                items
                    .iter()
                    .all(|i| has_item_element(list, i) && self.keys_all_items(i, true))
            }
        }
    }

    fn compare_leaf(&self, l: Option<&Value>, r: Option<&Value>, c: &mut Comparison) {
        match (l, r) {
            (None, _) => c.added.insert(&self.path),
            (_, None) => c.removed.insert(&self.path),
            (Some(a), Some(b)) if !values_equal(a, b) => c.modified.insert(&self.path),
            _ => {}
        }
    }

    fn added_or_removed(&self, l: Option<&Value>, r: Option<&Value>, c: &mut Comparison) {
        if l.is_none() {
            c.added.insert(&self.path);
        } else if r.is_none() {
            c.removed.insert(&self.path);
        }
    }

    /// Items are matched by path element; duplicated keys compare as one atomic value.
    fn compare_items(
        &mut self,
        list: ListKind,
        l: Option<&Vec<Value>>,
        r: Option<&Vec<Value>>,
        c: &mut Comparison,
    ) {
        let mut order: Vec<PathElement> = Vec::new();
        let mut lhs: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        let mut rhs: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        for (side, values) in [(&mut lhs, l), (&mut rhs, r)] {
            for (i, child) in values.into_iter().flatten().enumerate() {
                match self.item_element(list, child) {
                    Ok(pe) => {
                        if !order.contains(&pe) {
                            order.push(pe.clone());
                        }
                        side.entry(pe).or_default().push(child);
                    }
                    Err(e) => self.error(format!("element {i}: {e}")),
                }
            }
        }
        for pe in order {
            let ls = lhs.get(&pe).map(Vec::as_slice).unwrap_or_default();
            let rs = rhs.get(&pe).map(Vec::as_slice).unwrap_or_default();
            self.path.push(pe);
            match (ls.len(), rs.len()) {
                (0..=1, 0..=1) => self.compare(ls.first().copied(), rs.first().copied(), true, c),
                (2.., 2..) => {
                    let same =
                        ls.len() == rs.len() && ls.iter().zip(rs).all(|(a, b)| values_equal(a, b));
                    if !same {
                        c.modified.insert(&self.path);
                    }
                }
                (2.., _) => {
                    if let Some(first) = rs.first() {
                        self.compare(None, Some(first), true, c);
                    }
                    c.removed.insert(&self.path);
                }
                (_, _) => {
                    if let Some(first) = ls.first() {
                        self.compare(Some(first), None, true, c);
                    }
                    c.added.insert(&self.path);
                }
            }
            self.path.pop();
        }
    }

    // --- Merge ---

    fn merge(&mut self, l: Option<&Value>, r: Option<&Value>, item: bool) -> Option<Value> {
        let keep_rhs = || r.or(l).cloned();
        match self.shape(item, l, r) {
            Shape::Scalar => keep_rhs(),
            Shape::Map { atomic } => {
                let lm = l.and_then(Value::as_object);
                let rm = r.and_then(Value::as_object);
                if atomic || (lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty)) {
                    return keep_rhs();
                }
                let mut out = Map::new();
                for k in zip_keys(lm, rm) {
                    self.enter_field(&k);
                    let merged = self.merge(
                        lm.and_then(|m| m.get(&k)),
                        rm.and_then(|m| m.get(&k)),
                        false,
                    );
                    self.leave_field();
                    if let Some(v) = merged {
                        out.insert(k, v);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Shape::List(list) => {
                let la = l.and_then(Value::as_array);
                let ra = r.and_then(Value::as_array);
                if list == ListKind::Atomic
                    || (la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty))
                {
                    return keep_rhs();
                }
                let out = self.merge_items(
                    list,
                    la.map_or(&[][..], Vec::as_slice),
                    ra.map_or(&[][..], Vec::as_slice),
                );
                (!out.is_empty()).then_some(Value::Array(out))
            }
        }
    }

    /// Items indexed by path element. The applied side may not repeat a key; on the live side
    /// a repeated key merges as null.
    fn index_items<'v>(
        &mut self,
        list: ListKind,
        items: &'v [Value],
        allow_duplicates: bool,
    ) -> (Vec<PathElement>, BTreeMap<PathElement, &'v Value>) {
        let mut order = Vec::new();
        let mut observed: BTreeMap<PathElement, &'v Value> = BTreeMap::new();
        for (i, child) in items.iter().enumerate() {
            let pe = match self.item_element(list, child) {
                Ok(pe) => pe,
                Err(e) => {
                    self.error(format!("element {i}: {e}"));
                    continue;
                }
            };
            if observed.contains_key(&pe) {
                if !allow_duplicates {
                    self.error(format!("duplicate entries for key {pe}"));
                    continue;
                }
                observed.insert(pe.clone(), &NULL);
            } else {
                observed.insert(pe.clone(), child);
            }
            order.push(pe);
        }
        (order, observed)
    }

    /// `mergingWalker.visitListItems`: live items keep their places, applied items not yet
    /// live come after the live item they follow in the applied order.
    fn merge_items(&mut self, list: ListKind, lhs: &[Value], rhs: &[Value]) -> Vec<Value> {
        let errors_before = self.errors.len();
        let (rhs_pes, observed_rhs) = self.index_items(list, rhs, false);
        let (lhs_pes, observed_lhs) = self.index_items(list, lhs, true);
        if self.errors.len() > errors_before {
            return Vec::new();
        }
        let mut shared: std::collections::VecDeque<&PathElement> = rhs_pes
            .iter()
            .filter(|pe| observed_lhs.contains_key(*pe))
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::new();
        let (mut li, mut ri) = (0, 0);
        while li < lhs_pes.len() || ri < rhs_pes.len() {
            if li < lhs_pes.len() && ri < rhs_pes.len() {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.insert(pe);
                    if let Some(v) = self.merge_item(
                        pe,
                        observed_lhs.get(pe).copied(),
                        observed_rhs.get(pe).copied(),
                    ) {
                        out.push(v);
                    }
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < lhs_pes.len() {
                let pe = &lhs_pes[li];
                if !observed_rhs.contains_key(pe) {
                    if let Some(v) = self.merge_item(pe, Some(&lhs[li]), None) {
                        out.push(v);
                    }
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < rhs_pes.len() {
                let pe = &rhs_pes[ri];
                merged_rhs.insert(pe);
                if let Some(v) = self.merge_item(
                    pe,
                    observed_lhs.get(pe).copied(),
                    observed_rhs.get(pe).copied(),
                ) {
                    out.push(v);
                }
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        out
    }

    fn merge_item(
        &mut self,
        pe: &PathElement,
        l: Option<&Value>,
        r: Option<&Value>,
    ) -> Option<Value> {
        self.path.push(pe.clone());
        let out = self.merge(l, r, true);
        self.path.pop();
        out
    }

    // --- RemoveItems ---

    /// The value without the paths in `set`; `None` (null in the parent) when nothing is left.
    fn remove(&mut self, v: &Value, set: &FieldSet, item: bool) -> Option<Value> {
        match self.shape(item, Some(v), None) {
            Shape::Scalar => Some(v.clone()),
            Shape::Map { atomic } => {
                let map = v.as_object()?;
                if atomic || map.is_empty() {
                    return None;
                }
                let mut out = Map::new();
                for (k, child) in map {
                    let pe = PathElement::Field(k.clone());
                    if set.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    let kept = match set.with_prefix(&pe) {
                        Some(sub) => {
                            self.enter_field(k);
                            let kept = self.remove(child, sub, false);
                            self.leave_field();
                            kept.unwrap_or(Value::Null)
                        }
                        None => child.clone(),
                    };
                    out.insert(k.clone(), kept);
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Shape::List(list) => {
                let items = v.as_array()?;
                if list == ListKind::Atomic || items.is_empty() {
                    return None;
                }
                let mut out = Vec::new();
                for child in items {
                    let Ok(pe) = self.item_element(list, child) else {
                        out.push(child.clone());
                        continue;
                    };
                    if set.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    out.push(match set.with_prefix(&pe) {
                        Some(sub) => self.remove(child, sub, true).unwrap_or(Value::Null),
                        None => child.clone(),
                    });
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
        }
    }

    // --- Validate ---

    /// The checks converting a configuration to a typed value makes: every field declared by
    /// its type (`declared` is the configuration as the type keeps it, when it decodes at all),
    /// list items with their keys (or, in a set, scalar values), no key twice.
    fn validate(&mut self, v: &Value, declared: Option<&Value>, item: bool) {
        match self.shape(item, Some(v), None) {
            Shape::Scalar => {}
            Shape::Map { .. } => {
                let Value::Object(map) = v else { return };
                for (k, child) in map {
                    let known = declared.map(|d| d.get(k));
                    self.enter_field(k);
                    if known == Some(None) && !child.is_null() {
                        // The walk of a map stops at its first undeclared field.
                        self.error("field not declared in schema".to_owned());
                        self.leave_field();
                        return;
                    }
                    self.validate(child, known.flatten(), false);
                    self.leave_field();
                }
            }
            Shape::List(list) => {
                let Value::Array(items) = v else { return };
                let mut seen = BTreeSet::new();
                for (i, child) in items.iter().enumerate() {
                    let pe = if list == ListKind::Atomic {
                        PathElement::Index(i)
                    } else {
                        match self.item_element(list, child) {
                            Ok(pe) => pe,
                            Err(e) => {
                                self.error(format!("element {i}: {e}"));
                                return;
                            }
                        }
                    };
                    if list != ListKind::Atomic && !seen.insert(pe.clone()) {
                        self.error(format!("duplicate entries for key {pe}"));
                    }
                    self.path.push(pe);
                    self.validate(child, declared.and_then(|d| d.get(i)), true);
                    self.path.pop();
                }
            }
        }
    }
}

/// The keys of either map, each once: the left's in order, then the right's new ones.
fn zip_keys(l: Option<&Map<String, Value>>, r: Option<&Map<String, Value>>) -> Vec<String> {
    let mut keys: Vec<String> = l.into_iter().flat_map(|m| m.keys().cloned()).collect();
    if let Some(r) = r {
        keys.extend(
            r.keys()
                .filter(|k| l.is_none_or(|l| !l.contains_key(*k)))
                .cloned(),
        );
    }
    keys
}

/// `TypedValue.ToFieldSet`: every leaf, every list item, every empty or null map.
pub(crate) fn to_field_set(kind: &Kind, v: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    Walker::new(kind).collect_fields(v, false, &mut set);
    set
}

/// Whether [`Walker::item_element`] gives `item` a path element, without building it.
fn has_item_element(list: ListKind, item: &Value) -> bool {
    match list {
        ListKind::Map(keys) => item.as_object().is_some_and(|m| {
            keys.iter()
                .any(|k| m.contains_key(*k) || schema::key_default(keys, k).is_some())
        }),
        ListKind::Set => !(item.is_object() || item.is_array() || item.is_null()),
        ListKind::Atomic => false,
    }
}

/// `TypedValue.Compare`: the paths `new` adds, changes or removes relative to `old`.
pub(crate) fn compare(
    kind: &Kind,
    old: &Value,
    new: &Value,
) -> Result<Comparison, Vec<TypedError>> {
    let mut w = Walker::new(kind);
    let mut c = Comparison::default();
    w.compare(Some(old), Some(new), false, &mut c);
    if w.errors.is_empty() {
        Ok(c)
    } else {
        Err(w.errors)
    }
}

/// `TypedValue.Merge`: the applied configuration over the live object.
pub(crate) fn merge(kind: &Kind, live: &Value, config: &Value) -> Result<Value, Vec<TypedError>> {
    let mut w = Walker::new(kind);
    let out = w.merge(Some(live), Some(config), false);
    if w.errors.is_empty() {
        Ok(out.unwrap_or_else(|| Value::Object(Map::new())))
    } else {
        Err(w.errors)
    }
}

/// `TypedValue.RemoveItems`: maps left empty become null.
pub(crate) fn remove_items(kind: &Kind, v: &Value, set: &FieldSet) -> Value {
    Walker::new(kind)
        .remove(v, set, false)
        .unwrap_or(Value::Null)
}

/// The errors converting a configuration to a typed value reports. Which fields the type
/// declares is learnt from the configuration decoded and written back; a configuration that
/// does not decode (a value of the wrong type) is checked for its list keys only, and its
/// decoding error left to the caller.
pub(crate) fn validate(kind: &Kind, v: &Value) -> Vec<TypedError> {
    let declared = decode(&Document {
        value: v.clone(),
        duplicates: Vec::new(),
    })
    .ok()
    .map(|d| d.object.to_json());
    let mut w = Walker::new(kind);
    w.validate(v, declared.as_ref(), false);
    w.errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::JOB;
    use serde_json::json;

    fn containers(list: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": list}}}})
    }

    fn fields(set: &FieldSet) -> String {
        serde_json::to_string(&set.to_fields_v1()).unwrap()
    }

    #[test]
    fn field_set_of_a_config() {
        let config = json!({
            "metadata": {"labels": {"app": "pi"}},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl", "command": ["a"], "resources": {}}]}}}
        });
        assert_eq!(
            fields(&to_field_set(&JOB, &config)),
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"pi\"}":{".":{},"f:command":{},"f:image":{},"f:name":{},"f:resources":{}}}}}}}"#
        );
    }

    #[test]
    fn comparison_marks_added_maps() {
        let old = json!({"metadata": {}, "spec": {"suspend": false}});
        let new = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"suspend": true}});
        let c = compare(&JOB, &old, &new).unwrap();
        assert_eq!(
            fields(&c.added),
            r#"{"f:metadata":{"f:labels":{".":{},"f:a":{}}}}"#
        );
        assert_eq!(fields(&c.modified), r#"{"f:spec":{"f:suspend":{}}}"#);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn unchanged_parts_report_nothing_beside_a_change() {
        let spec =
            containers(json!([{"name": "a", "image": "1", "ports": [{"containerPort": 80}]}]));
        let mut old = spec.clone();
        old["metadata"] = json!({"labels": {"a": "b"}, "finalizers": ["x", "y"]});
        let mut new = old.clone();
        new["spec"]["suspend"] = json!(true);
        let c = compare(&JOB, &old, &new).unwrap();
        assert_eq!(fields(&c.added), r#"{"f:spec":{"f:suspend":{}}}"#);
        assert!(c.modified.is_empty() && c.removed.is_empty());
    }

    /// Skipping an unchanged part must not hide an item the comparison cannot key: the same
    /// objects fail to compare whether or not something beside the item changed.
    #[test]
    fn an_unkeyable_item_fails_the_comparison_even_when_unchanged() {
        let expected = ".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)";
        let old = containers(json!([{"image": "x"}]));
        let mut changed = old.clone();
        changed["spec"]["suspend"] = json!(true);
        for new in [&old, &changed] {
            let errors = compare(&JOB, &old, new).map(|_| ()).unwrap_err();
            assert!(
                errors_text(&errors).contains(expected),
                "{}",
                errors_text(&errors)
            );
        }
        let finalizers = json!({"metadata": {"finalizers": [{"a": 1}]}});
        assert!(compare(&JOB, &finalizers, &finalizers).is_err());
    }

    #[test]
    fn merge_keeps_live_order_and_appends_new_items() {
        let live = containers(json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]));
        let config = containers(json!([{"name": "c", "image": "3"}, {"name": "a", "image": "9"}]));
        let merged = merge(&JOB, &live, &config).unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c", "image": "3"}, {"name": "a", "image": "9"}, {"name": "b", "image": "2"}])
        );
    }

    #[test]
    fn null_does_not_clear_a_struct_but_clears_a_scalar() {
        let live =
            json!({"spec": {"suspend": true, "template": {"metadata": {"labels": {"a": "b"}}}}});
        let config = json!({"spec": {"suspend": null, "template": {"metadata": null}}});
        let merged = merge(&JOB, &live, &config).unwrap();
        assert_eq!(merged["spec"]["suspend"], Value::Null);
        assert_eq!(
            merged["spec"]["template"]["metadata"],
            json!({"labels": {"a": "b"}})
        );
    }

    #[test]
    fn removal_leaves_null_for_emptied_maps() {
        let v = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"suspend": true}});
        let mut set = FieldSet::new();
        set.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("a".into()),
        ]);
        assert_eq!(
            remove_items(&JOB, &v, &set),
            json!({"metadata": {"labels": null}, "spec": {"suspend": true}})
        );
    }

    #[test]
    fn config_validation_reports_duplicates_and_missing_keys() {
        let dup = containers(json!([{"name": "a"}, {"name": "a"}]));
        assert_eq!(
            errors_text(&validate(&JOB, &dup)),
            r#".spec.template.spec.containers: duplicate entries for key [name="a"]"#
        );
        let missing = containers(json!([{"image": "x"}]));
        assert_eq!(
            errors_text(&validate(&JOB, &missing)),
            r#".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields ["name"] (and doesn't have default values for any key fields)"#
        );
    }

    #[test]
    fn undeclared_fields_are_reported_at_their_path() {
        let config = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {
                "template": {"spec": {"containers": [{"name": "pi", "colour": "red"}]}},
                "podFailurePolicy": {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}, "when": "x"}]}
            }
        });
        assert_eq!(
            errors_text(&validate(&JOB, &config)),
            concat!(
                "errors:\n",
                "  .spec.template.spec.containers[name=\"pi\"].colour: field not declared in schema\n",
                "  .spec.podFailurePolicy.rules[0].when: field not declared in schema"
            )
        );
    }

    #[test]
    fn port_keys_default_their_protocol() {
        let c = containers(json!([{"name": "a", "ports": [{"containerPort": 80}]}]));
        assert_eq!(
            fields(&to_field_set(&JOB, &c)),
            r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
        );
    }
}
