//! managedFields between decoding and encoding (`internal.Managed`): one versioned field set and
//! one time per manager identifier.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::gojson;

pub(crate) const APPLY: &str = "Apply";
pub(crate) const UPDATE: &str = "Update";

/// `DefaultMaxUpdateManagers`.
const MAX_UPDATE_MANAGERS: usize = 10;

/// What one manager owns, at one API version (`fieldpath.VersionedSet`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VersionedSet {
    pub set: FieldSet,
    pub api_version: String,
    /// Whether the owner applied it (operation Apply) rather than wrote it.
    pub applied: bool,
}

/// The managers of an object, keyed by manager identifier.
#[derive(Clone, Debug, Default)]
pub(crate) struct Managed {
    pub fields: BTreeMap<String, VersionedSet>,
    pub times: BTreeMap<String, Option<Timestamp>>,
}

/// `BuildManagerIdentifier`: the entry's JSON without its fields, time and (for appliers, who
/// keep one entry across versions) API version.
pub(crate) fn identifier(
    manager: &str,
    operation: &str,
    api_version: &str,
    subresource: &str,
) -> String {
    let mut out = String::from("{");
    let mut first = true;
    let parts = [
        ("manager", manager),
        ("operation", operation),
        (
            "apiVersion",
            if operation == APPLY { "" } else { api_version },
        ),
        ("subresource", subresource),
    ];
    for (name, value) in parts {
        if value.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        gojson::write_string(&mut out, name);
        out.push(':');
        gojson::write_string(&mut out, value);
    }
    out.push('}');
    out
}

/// The parts of a manager identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
}

pub(crate) fn parse_identifier(id: &str) -> Identity {
    let v: Value = serde_json::from_str(id).unwrap_or(Value::Null);
    let get = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Identity {
        manager: get("manager"),
        operation: get("operation"),
        api_version: get("apiVersion"),
        subresource: get("subresource"),
    }
}

/// `isResetManagedFields`: `[]` or `[{}]` asks to drop all tracking; absent or null does not.
pub(crate) fn is_reset(entries: Option<&Value>) -> bool {
    match entries {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [Value::Object(entry)] => entry
                .values()
                .all(|v| v.is_null() || v.as_str() == Some("")),
            _ => false,
        },
        _ => false,
    }
}

/// `DecodeManagedFields`.
pub(crate) fn decode(entries: Option<&Value>) -> Result<Managed, String> {
    let mut managed = Managed::default();
    let items = match entries {
        None | Some(Value::Null) => return Ok(managed),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("managedFields must be a list, got {other}")),
    };
    for (i, entry) in items.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(format!("managed fields entry {i} is not an object"));
        };
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        let operation = text("operation");
        if operation != APPLY && operation != UPDATE {
            return Err("operation must be `Apply` or `Update`".to_owned());
        }
        let api_version = text("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_owned());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    crate::field::go_quote(other)
                ));
            }
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)
                .map_err(|e| format!("error decoding versioned set: error decoding set: {e}"))?,
        };
        let time = match entry.get("time") {
            Some(Value::String(s)) => Some(
                s.parse::<Timestamp>()
                    .map_err(|e| format!("invalid time {s:?} in managed fields entry {i}: {e}"))?,
            ),
            _ => None,
        };
        let id = identifier(text("manager"), operation, api_version, text("subresource"));
        managed.fields.insert(
            id.clone(),
            VersionedSet {
                set,
                api_version: api_version.to_owned(),
                applied: operation == APPLY,
            },
        );
        managed.times.insert(id, time);
    }
    Ok(managed)
}

/// RFC 3339 in seconds, as `metav1.Time` writes itself.
pub(crate) fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `encodeManagedFields`: the entries sorted by operation, time, manager, API version and
/// subresource; `None` when no manager is left (the field is then omitted).
pub(crate) fn encode(managed: &Managed) -> Option<Value> {
    if managed.fields.is_empty() {
        return None;
    }
    struct Row {
        operation: String,
        seconds: i64,
        manager: String,
        api_version: String,
        subresource: String,
        entry: Map<String, Value>,
    }
    let mut rows: Vec<Row> = managed
        .fields
        .iter()
        .map(|(id, vs)| {
            let who = parse_identifier(id);
            let operation = if vs.applied {
                APPLY
            } else {
                who.operation.as_str()
            }
            .to_owned();
            let time = managed.times.get(id).copied().flatten();
            let mut entry = Map::new();
            if !who.manager.is_empty() {
                entry.insert("manager".into(), Value::from(who.manager.clone()));
            }
            if !operation.is_empty() {
                entry.insert("operation".into(), Value::from(operation.clone()));
            }
            if !vs.api_version.is_empty() {
                entry.insert("apiVersion".into(), Value::from(vs.api_version.clone()));
            }
            if let Some(t) = time {
                entry.insert("time".into(), Value::from(format_time(t)));
            }
            entry.insert("fieldsType".into(), Value::from("FieldsV1"));
            entry.insert("fieldsV1".into(), vs.set.to_fields_v1());
            if !who.subresource.is_empty() {
                entry.insert("subresource".into(), Value::from(who.subresource.clone()));
            }
            Row {
                operation,
                seconds: time.map_or(0, |t| t.as_second()),
                manager: who.manager,
                api_version: vs.api_version.clone(),
                subresource: who.subresource,
                entry,
            }
        })
        .collect();
    rows.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then(p.seconds.cmp(&q.seconds))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    Some(Value::Array(
        rows.into_iter().map(|r| Value::Object(r.entry)).collect(),
    ))
}

/// `capUpdateManagers`: past ten Update entries, the oldest are folded, per API version, into
/// one `ancient-changes` entry that takes the time of the newest entry folded in.
pub(crate) fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<String> = managed
        .fields
        .iter()
        .filter(|(_, vs)| !vs.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let seconds = |id: &String| {
        managed
            .times
            .get(id)
            .copied()
            .flatten()
            .map_or(0, |t| t.as_second())
    };
    updaters.sort_by(|a, b| seconds(a).cmp(&seconds(b)).then_with(|| a.cmp(b)));
    let mut first_by_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for manager in &updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managed.fields.get(manager).cloned() else {
            continue;
        };
        let time = managed.times.get(manager).copied().flatten();
        let bucket = identifier("ancient-changes", UPDATE, &vs.api_version, "");
        match first_by_version.get(&vs.api_version) {
            Some(first) => {
                if !managed.fields.contains_key(&bucket)
                    && let Some(moved) = managed.fields.remove(first)
                {
                    managed.fields.insert(bucket.clone(), moved);
                }
                let existing = managed
                    .fields
                    .get(&bucket)
                    .map(|b| b.set.clone())
                    .unwrap_or_default();
                managed.fields.insert(
                    bucket.clone(),
                    VersionedSet {
                        set: vs.set.union(&existing),
                        api_version: vs.api_version.clone(),
                        applied: vs.applied,
                    },
                );
                managed.fields.remove(manager);
                length -= 1;
                managed.times.insert(bucket, time);
            }
            None => {
                first_by_version.insert(vs.api_version.clone(), manager.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_drop_the_version_of_appliers() {
        assert_eq!(
            identifier("kubectl", APPLY, "batch/v1", ""),
            r#"{"manager":"kubectl","operation":"Apply"}"#
        );
        assert_eq!(
            identifier("kube-controller-manager", UPDATE, "batch/v1", "status"),
            r#"{"manager":"kube-controller-manager","operation":"Update","apiVersion":"batch/v1","subresource":"status"}"#
        );
    }

    #[test]
    fn decode_rejects_what_kubernetes_rejects() {
        let bad_op = json!([{"manager": "a", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
        assert_eq!(
            decode(Some(&bad_op)).unwrap_err(),
            "operation must be `Apply` or `Update`"
        );
        let no_type = json!([{"manager": "a", "operation": "Update", "apiVersion": "v1"}]);
        assert_eq!(
            decode(Some(&no_type)).unwrap_err(),
            "missing fieldsType in managed fields entry 0"
        );
        let no_version = json!([{"manager": "a", "operation": "Update", "fieldsType": "FieldsV1"}]);
        assert_eq!(
            decode(Some(&no_version)).unwrap_err(),
            "apiVersion must not be empty"
        );
    }

    #[test]
    fn reset_is_an_empty_list_or_one_empty_entry() {
        assert!(is_reset(Some(&json!([]))));
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(None));
        assert!(!is_reset(Some(&Value::Null)));
        assert!(!is_reset(Some(&json!([{"manager": "x"}]))));
    }

    #[test]
    fn encode_sorts_apply_first_then_by_time() {
        let t1: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut m = Managed::default();
        for (name, op, t) in [("b", UPDATE, t0), ("a", UPDATE, t1), ("z", APPLY, t1)] {
            let id = identifier(name, op, "batch/v1", "");
            m.fields.insert(
                id.clone(),
                VersionedSet {
                    set: FieldSet::new(),
                    api_version: "batch/v1".into(),
                    applied: op == APPLY,
                },
            );
            m.times.insert(id, Some(t));
        }
        let encoded = encode(&m).unwrap();
        let managers: Vec<&str> = encoded
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["z", "b", "a"]);
        assert_eq!(encoded[0]["time"], "2026-01-01T00:00:10Z");
        assert_eq!(encoded[0]["operation"], "Apply");
    }

    #[test]
    fn eleven_updaters_fold_the_two_oldest() {
        let mut m = Managed::default();
        for i in 0..11 {
            let id = identifier(&format!("m{i:02}"), UPDATE, "batch/v1", "");
            let mut set = FieldSet::new();
            set.insert(&[super::super::fieldset::PathElement::Field(format!("f{i}"))]);
            m.fields.insert(
                id.clone(),
                VersionedSet {
                    set,
                    api_version: "batch/v1".into(),
                    applied: false,
                },
            );
            m.times.insert(id, Some(Timestamp::from_second(i).unwrap()));
        }
        cap_update_managers(&mut m);
        assert_eq!(m.fields.len(), 10);
        let bucket = identifier("ancient-changes", UPDATE, "batch/v1", "");
        assert_eq!(
            serde_json::to_string(&m.fields[&bucket].set.to_fields_v1()).unwrap(),
            r#"{"f:f0":{},"f:f1":{}}"#
        );
        assert_eq!(m.times[&bucket], Some(Timestamp::from_second(1).unwrap()));
    }
}
