//! Strategic merge patch (`application/strategic-merge-patch+json`) as the apiserver applies it:
//! apimachinery's `strategicpatch.StrategicMergeMapPatch`, that is `mergeMap` with parallel
//! lists merged and nulls for absent fields ignored. Each list's `patchStrategy` and
//! `patchMergeKey` come from [`list_type`].
//!
//! Maps merge key by key and `null` deletes a key. Lists with `patchStrategy=merge` merge: items
//! of object lists are matched by their merge key and merged, scalar lists are united; other
//! lists are replaced. The patch's order wins over the stored order, and
//! `$setElementOrder/<field>` over both. Directives: `$patch: replace|delete` in maps; in merged
//! lists, a `{"$patch": "replace"}` item (the other items become the list) and
//! `{"<key>": ..., "$patch": "delete"}` items, while `$patch: merge` is refused as upstream
//! refuses it; `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>` and `$retainKeys`.
//!
//! Where upstream copies patch content into the result verbatim (new list items, replaced lists
//! and maps), directives are stripped here: upstream's typed decoding drops them as unknown
//! fields afterwards, and a `serde_json::Value` result has no such step.

use serde_json::{Map, Value};

use super::lists::{ListType, list_type};
use super::{PatchError, json_type_name};
use crate::object::Kind;

const DIRECTIVE: &str = "$patch";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const RETAIN_KEYS: &str = "$retainKeys";

/// Applies `patch` to `original`, an object of `kind`, as the apiserver applies a strategic
/// merge patch. A `null` patch changes nothing; a patch that is not an object is rejected as the
/// apiserver's JSON decoding rejects it.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    kind: &Kind,
) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(p) => p.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(PatchError::NotAnObject {
                found: json_type_name(other),
            });
        }
    };
    let original = original.as_object().cloned().unwrap_or_default();
    let merger = Merger { kind };
    merger
        .merge_map(original, patch, &mut Vec::new())
        .map(Value::Object)
}

/// How strategic merge patch treats one list field.
struct ListStrategy {
    /// `patchStrategy=merge`; otherwise the patch replaces the list.
    merge: bool,
    /// `patchMergeKey`, empty for scalar lists and lists without one.
    key: &'static str,
}

struct Merger<'a> {
    kind: &'a Kind,
}

impl Merger<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match list_type(self.kind, &path) {
            ListType::Set => ListStrategy {
                merge: true,
                key: "",
            },
            ListType::Map {
                merge_key,
                strategic_merge: true,
                ..
            } => ListStrategy {
                merge: true,
                key: merge_key,
            },
            ListType::Map { .. } | ListType::Atomic => ListStrategy {
                merge: false,
                key: "",
            },
        }
    }

    /// `mergeMap`. `path` holds the field names from the object's root (no list indices).
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(strip_directives(patch))
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(unknown_directive(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_order(&mut original, &mut patch, path)?;

        for (key, mut patch_value) in patch {
            let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
                (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
            } else {
                (key, false)
            };
            if patch_value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let Some(slot) = original.get_mut(&key) else {
                if !delete_list {
                    discard_nulls(&mut patch_value);
                    if let Some(v) = remove_directives(patch_value) {
                        original.insert(key, v);
                    }
                }
                continue;
            };
            if GoType::of(slot) != GoType::of(&patch_value) {
                if !delete_list {
                    discard_nulls(&mut patch_value);
                    match remove_directives(patch_value) {
                        Some(v) => *slot = v,
                        None => {
                            original.shift_remove(&key);
                        }
                    }
                }
                continue;
            }
            match (slot, patch_value) {
                (Value::Object(o), Value::Object(p)) => {
                    path.push(key);
                    let merged = self.merge_map(std::mem::take(o), p, path);
                    path.pop();
                    *o = merged?;
                }
                (Value::Array(o), Value::Array(p)) => {
                    path.push(key);
                    let merged = self.merge_slice_handler(o, p, path, delete_list);
                    path.pop();
                    *o = merged?;
                }
                // Scalars of one type: the patch's value replaces the stored one, even for a
                // `$deleteFromPrimitiveList` that names a scalar field, as upstream does.
                (slot, scalar) => *slot = scalar,
            }
        }
        Ok(original)
    }

    /// `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder/<field>`
    /// directive and orders it by the directive, then by the stored order for items the
    /// directive does not name.
    fn merge_set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<(), PatchError> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for directive in directives {
            let Some(order) = patch.shift_remove(&directive) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(bad_arg_type(SLICE, &order));
            };
            let field = extract_key(&directive, SET_ELEMENT_ORDER)?;
            let original_list = list_field(original, &field)?;
            let patch_list = list_field(patch, &field)?;
            path.push(field.clone());
            let strategy = self.strategy(path);
            // Upstream orders by the stored list as merging it left it: the slice shares its
            // backing array with the merge, whose deletions and appends show through.
            let mut stored = original_list.clone().unwrap_or_default();
            let merged = validate_patch_with_set_order(
                patch_list.as_deref().unwrap_or_default(),
                &order,
                strategy.key,
            )
            .and_then(|()| match (&original_list, &patch_list) {
                (Some(o), None) => Ok(Some(o.clone())),
                (None, Some(p)) => Ok(Some(remove_directives_in_list(p.clone()))),
                (Some(_), Some(p)) => self
                    .merge_slice_handler(&mut stored, p.clone(), path, false)
                    .map(Some),
                (None, None) => Ok(None),
            });
            path.pop();
            let Some(merged) = merged? else {
                continue;
            };
            let (patch_items, server_only) = if strategy.key.is_empty() {
                partition_primitives(merged, &order)
            } else {
                partition_maps(merged, &order, strategy.key)?
            };
            let element =
                slice_element_type(&[&stored, patch_list.as_deref().unwrap_or_default()])?;
            let ordered = normalize_element_order(
                patch_items,
                server_only,
                &order,
                &stored,
                strategy.key,
                element == GoType::Map,
            )?;
            original.insert(field.clone(), Value::Array(ordered));
            patch.shift_remove(&field);
        }
        Ok(())
    }

    /// `mergeSliceHandler`: merge lists merge, others are replaced by the patch; a
    /// `$deleteFromPrimitiveList` removes items whatever the strategy. `stored` is left as
    /// upstream leaves the stored list's backing array (see [`merge_slice_with_special_elements`]).
    fn merge_slice_handler(
        &self,
        stored: &mut [Value],
        patch: Vec<Value>,
        path: &mut Vec<String>,
        delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        let strategy = self.strategy(path);
        if strategy.merge || delete_list {
            self.merge_slice(stored, patch, strategy.key, path, delete_list)
        } else {
            Ok(remove_directives_in_list(patch))
        }
    }

    /// `mergeSlice`.
    fn merge_slice(
        &self,
        stored: &mut [Value],
        patch: Vec<Value>,
        key: &str,
        path: &mut Vec<String>,
        delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if stored.is_empty() && patch.is_empty() {
            return Ok(Vec::new());
        }
        let element = slice_element_type(&[stored, &patch])?;
        if element != GoType::Map {
            if delete_list {
                return Ok(stored
                    .iter()
                    .filter(|v| !patch.contains(v))
                    .cloned()
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(stored.len() + patch.len());
            for v in stored.iter().chain(&patch) {
                if !merged.contains(v) {
                    merged.push(v.clone());
                }
            }
            let (patch_items, server_only) = partition_primitives(merged, &patch);
            return normalize_element_order(patch_items, server_only, &patch, stored, key, false);
        }
        if key.is_empty() {
            // Upstream names the Go kind of the list's items, always a struct for object lists.
            return Err(PatchError::Merge(
                "cannot merge lists without merge key for struct".to_owned(),
            ));
        }
        let (len, plain, replace) = merge_slice_with_special_elements(stored, patch, key)?;
        let (kept, patch) = if replace {
            (remove_directives_in_list(plain), Vec::new())
        } else {
            (stored[..len].to_vec(), plain)
        };
        let server_order = kept.clone();
        let patch_order = patch.clone();
        let merged = self.merge_slice_without_special_elements(kept, patch, key, path)?;
        if !replace {
            // Appends land in the backing array's free tail while it lasts.
            for (slot, appended) in stored[len..].iter_mut().zip(&merged[len..]) {
                slot.clone_from(appended);
            }
        }
        let (patch_items, server_only) = partition_maps(merged, &patch_order, key)?;
        normalize_element_order(
            patch_items,
            server_only,
            &patch_order,
            &server_order,
            key,
            true,
        )
    }

    /// `mergeSliceWithoutSpecialElements`: patch items merge into the stored item with the same
    /// key, or are appended.
    fn merge_slice_without_special_elements(
        &self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        key: &str,
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        for item in patch {
            // slice_element_type has made sure every item is a map.
            let Value::Object(item) = item else {
                continue;
            };
            let Some(wanted) = item.get(key).cloned() else {
                return Err(no_merge_key(&item, key));
            };
            let found = original
                .iter()
                .position(|o| o.as_object().and_then(|m| m.get(key)) == Some(&wanted));
            match found.map(|i| &mut original[i]) {
                Some(Value::Object(stored)) => {
                    *stored = self.merge_map(std::mem::take(stored), item, path)?;
                }
                _ => original.extend(remove_directives(Value::Object(item))),
            }
        }
        Ok(original)
    }
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` items to the stored list and
/// notes `$patch: replace`; returns the stored list's new length, the plain patch items and
/// whether the patch replaces the list.
///
/// Deletion works as Go's `append(s[:i], s[i+1:]...)` does on the backing array `stored`: later
/// items shift left and the tail keeps stale copies, which upstream's ordering then sees.
fn merge_slice_with_special_elements(
    stored: &mut [Value],
    patch: Vec<Value>,
    key: &str,
) -> Result<(usize, Vec<Value>, bool), PatchError> {
    let mut len = stored.len();
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = item.get(key) else {
                    return Err(no_merge_key_value(&item, key));
                };
                while let Some(i) = stored[..len].iter().position(|o| o.get(key) == Some(value)) {
                    for j in i..len - 1 {
                        stored[j] = stored[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            // Later items are still checked, as upstream prunes every `$patch` item.
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Merge(
                    "merging lists cannot yet be specified in the patch".to_owned(),
                ));
            }
            _ => {
                let item = item.as_object().cloned().unwrap_or_default();
                return Err(unknown_directive(directive, &item));
            }
        }
    }
    Ok((len, plain, replace))
}

/// `applyRetainKeysDirective`: clears every stored key the directive does not list; the patch
/// may only set listed keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeys);
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// `validatePatchWithSetOrderList`: the patch list's items must appear in the directive, in
/// the directive's order (deletions and other directive items aside).
fn validate_patch_with_set_order(
    patch: &[Value],
    order: &[Value],
    key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(patch.len());
    for item in patch {
        if !key.is_empty() {
            let Value::Object(m) = item else {
                return Err(bad_arg_type(MAP, item));
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        kept.push(item);
    }
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if merge_key_value_equal(kept[p], &order[o], key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(PatchError::Merge(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt_list(patch),
            go_fmt_list(order)
        )));
    }
    Ok(())
}

/// `mergeKeyValueEqual`.
fn merge_key_value_equal(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(MAP, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(MAP, right));
    };
    let lk = l.get(key).ok_or_else(|| no_merge_key(l, key))?;
    let rk = r.get(key).ok_or_else(|| no_merge_key(r, key))?;
    Ok(lk == rk)
}

/// The list under `field`, if present; anything else there is an error.
fn list_field(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(other) => Err(bad_arg_type(SLICE, other)),
    }
}

/// `extractKey`: the field a `$directive/<field>` key names.
fn extract_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field.to_owned()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(PatchError::BadPrimitiveList),
        _ => Err(PatchError::BadSetElementOrder),
    }
}

/// `partitionPrimitivesByPresentInList`: (items in `by`, the others).
fn partition_primitives(items: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|v| by.contains(v))
}

/// `partitionMapsByPresentInList`: (items whose key appears in `by`, the others); every item
/// needs the key.
fn partition_maps(
    items: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(items.len());
    let mut absent = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = &item else {
            return Err(bad_arg_type(MAP, &item));
        };
        let Some(value) = m.get(key) else {
            return Err(no_merge_key(m, key));
        };
        let mut found = false;
        for (i, candidate) in by.iter().enumerate() {
            let Value::Object(c) = candidate else {
                return Err(PatchError::Merge(format!("value for key {i} is not a map")));
            };
            if c.get(key) == Some(value) {
                found = true;
                break;
            }
        }
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// `normalizeElementOrder`: patch items in the patch's order, stored-only items in the stored
/// order, then the two interleaved by the stored order.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    maps: bool,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, maps)?;
    let server_only = normalize_slice_order(server_only, server_order, key, maps)?;
    Ok(merge_sorted(
        server_only,
        patch_items,
        server_order,
        key,
        maps,
    ))
}

/// `normalizeSliceOrder`: a stable sort by position in `order`. Items missing from `order`
/// (possible only with an empty `$setElementOrder`) go last.
fn normalize_slice_order(
    mut items: Vec<Value>,
    order: &[Value],
    key: &str,
    maps: bool,
) -> Result<Vec<Value>, PatchError> {
    if maps {
        for item in items.iter().chain(order) {
            let Value::Object(m) = item else {
                return Err(bad_arg_type(MAP, item));
            };
            if !m.contains_key(key) {
                return Err(no_merge_key(m, key));
            }
        }
    }
    items.sort_by_key(|item| index(order, item, key, maps).unwrap_or(usize::MAX));
    Ok(items)
}

/// `mergeSortedSlice`: inserts stored-only items (`left`) among the patch items (`right`) before
/// the first patch item that follows them in the stored order.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
    maps: bool,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index(server_order, l, key, maps),
                    index(server_order, r, key, maps),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

/// `index`: where `item` is in `list`, comparing merge key values for maps (a missing key
/// compares equal to a missing key, as Go's nil does) and whole values otherwise.
fn index(list: &[Value], item: &Value, key: &str, maps: bool) -> Option<usize> {
    let wanted = order_value(item, key, maps);
    list.iter()
        .position(|v| order_value(v, key, maps) == wanted)
}

fn order_value<'v>(value: &'v Value, key: &str, maps: bool) -> Option<&'v Value> {
    if maps {
        value.as_object().and_then(|m| m.get(key))
    } else {
        Some(value)
    }
}

/// Go's dynamic types of decoded JSON, which strategic merge patch compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

impl GoType {
    /// The apiserver decodes patches keeping integers as int64; other numbers are float64.
    fn of(value: &Value) -> GoType {
        match value {
            Value::Null => GoType::Nil,
            Value::Bool(_) => GoType::Bool,
            Value::Number(n) if n.is_i64() => GoType::Int,
            Value::Number(_) => GoType::Float,
            Value::String(_) => GoType::String,
            Value::Array(_) => GoType::Slice,
            Value::Object(_) => GoType::Map,
        }
    }

    /// `reflect.Type.String()`; a nil type prints as `%s` prints nil.
    fn name(self) -> &'static str {
        match self {
            GoType::Nil => "%!s(<nil>)",
            GoType::Bool => "bool",
            GoType::Int => "int64",
            GoType::Float => "float64",
            GoType::String => "string",
            GoType::Slice => SLICE,
            GoType::Map => MAP,
        }
    }
}

const SLICE: &str = "[]interface {}";
const MAP: &str = "map[string]interface {}";

/// `sliceElementType`: every item of the lists has one type, which is not a list.
fn slice_element_type(lists: &[&[Value]]) -> Result<GoType, PatchError> {
    let mut found: Option<GoType> = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let t = GoType::of(v);
        match found {
            None if t == GoType::Slice => return Err(PatchError::ListOfLists),
            None => found = Some(t),
            Some(prev) if prev != t => {
                let printed: Vec<String> = lists.iter().map(|l| go_fmt_list(l)).collect();
                return Err(PatchError::Merge(format!(
                    "list element types are not identical: [{}]",
                    printed.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| PatchError::Merge("no elements in any of the given slices".to_owned()))
}

/// `removeDirectives`: a map holding `$patch` disappears (`None`); directive keys inside the
/// value are dropped.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => Some(Value::Object(strip_directives(m))),
        Value::Array(list) => Some(Value::Array(remove_directives_in_list(list))),
        other => Some(other),
    }
}

fn remove_directives_in_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().filter_map(remove_directives).collect()
}

fn strip_directives(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| {
            k != RETAIN_KEYS
                && !k.starts_with(SET_ELEMENT_ORDER)
                && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        })
        .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
        .collect()
}

/// `discardNullValuesFromPatch`: nulls in maps of a value new to the object mean nothing.
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(list) => list.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        item: go_fmt(&Value::Object(item.clone()), false),
        key: key.to_owned(),
    }
}

fn no_merge_key_value(item: &Value, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        item: go_fmt(item, false),
        key: key.to_owned(),
    }
}

fn unknown_directive(directive: &Value, item: &Map<String, Value>) -> PatchError {
    PatchError::UnknownDirective {
        directive: go_fmt(directive, true),
        item: go_fmt(&Value::Object(item.clone()), false),
    }
}

/// `mergepatch.ErrBadArgType`.
fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Merge(format!(
        "expected a {expected}, but received a {}",
        GoType::of(actual).name()
    ))
}

fn go_fmt_list(list: &[Value]) -> String {
    let items: Vec<String> = list.iter().map(|v| go_fmt(v, false)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` (or `%s` when `s_verb`) of decoded JSON: `map[k:v ...]` with sorted keys,
/// `[a b]`, `<nil>`; `%s` of a non-string scalar prints as `%!s(int64=5)`.
fn go_fmt(value: &Value, s_verb: bool) -> String {
    let scalar = |t: GoType, text: String| {
        if s_verb {
            format!("%!s({}={text})", t.name())
        } else {
            text
        }
    };
    match value {
        Value::Null if s_verb => "%!s(<nil>)".to_owned(),
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => scalar(GoType::Bool, b.to_string()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => scalar(GoType::Int, i.to_string()),
            None => scalar(GoType::Float, go_float(n.as_f64().unwrap_or_default())),
        },
        Value::String(s) => s.clone(),
        Value::Array(list) => {
            let items: Vec<String> = list.iter().map(|v| go_fmt(v, s_verb)).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_fmt(&m[k], s_verb)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%v` of a float64: the shortest representation, in exponent form (`1e+06`, `1.5e-07`)
/// below 1e-4 and from 1e6 on.
fn go_float(f: f64) -> String {
    let exp_form = format!("{f:e}");
    let Some((mantissa, exp)) = exp_form.split_once('e') else {
        return exp_form;
    };
    let exp: i32 = exp.parse().unwrap_or_default();
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        f.to_string()
    }
}
