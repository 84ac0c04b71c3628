//! `components.schemas`: k8s-openapi's schemas in the shape kube-openapi serves for built-in
//! types.
//!
//! k8s-openapi's `JsonSchema` impls carry the upstream descriptions, types, formats and
//! `required` lists, but not the Go-side knowledge openapi-gen adds: list merge markers, zero-value
//! `default`s, group-version-kinds, and the OpenAPI v3 spelling of int-or-string types. Those are
//! added here before schemars' OpenAPI 3.0 transforms run (so that a `$ref` with siblings becomes
//! `allOf: [{$ref}]` plus the siblings, as upstream writes property references).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::marker::PhantomData;

use k8s_openapi::ListableResource;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIResourceList, DeleteOptions, ListMeta, ObjectMeta, Patch, Status, WatchEvent,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{GROUP_VERSIONS, GroupVersion, SchemaNames};
use crate::object::Kind;
use crate::patch::lists::{ListType, list_type};

/// Where schemars puts definitions and points `$ref`s (`definitions_path` of its OpenAPI 3.0
/// settings).
pub(super) const REF_PREFIX: &str = "#/components/schemas/";

const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

/// A generator whose definitions land in `components/schemas`, named by k8s-openapi's schema
/// names (`io.k8s.api.batch.v1.Job`).
pub(super) fn generator() -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|s| s.meta_schema = None)
        .into_generator()
}

/// Adds `T` and its list to the generator.
pub(super) fn register<T: JsonSchema + ListableResource>(
    generator: &mut SchemaGenerator,
) -> SchemaNames {
    generator.subschema_for::<ListOf<T>>();
    SchemaNames {
        item: T::schema_name().into_owned(),
        list: ListOf::<T>::schema_name().into_owned(),
    }
}

/// The meta/v1 types every group-version's operations refer to.
pub(super) fn status_name() -> String {
    Status::schema_name().into_owned()
}
pub(super) fn delete_options_name() -> String {
    DeleteOptions::schema_name().into_owned()
}
pub(super) fn patch_name() -> String {
    Patch::schema_name().into_owned()
}
pub(super) fn api_resource_list_name() -> String {
    APIResourceList::schema_name().into_owned()
}
fn watch_event_name() -> String {
    WatchEvent::<Status>::schema_name().into_owned()
}

/// The definitions of a group-version document: its kinds (already registered under `names`),
/// their lists and the meta/v1 types of its operations.
pub(super) fn components(
    mut generator: SchemaGenerator,
    gv: &GroupVersion,
    names: &[SchemaNames],
) -> Map<String, Value> {
    generator.subschema_for::<Status>();
    generator.subschema_for::<DeleteOptions>();
    generator.subschema_for::<WatchEvent<Status>>();
    generator.subschema_for::<Patch>();
    generator.subschema_for::<APIResourceList>();

    let defs = generator.definitions_mut();
    let roots: Vec<(&Kind, &str)> = gv
        .resources
        .iter()
        .zip(names)
        .map(|(served, names)| (&served.kind, names.item.as_str()))
        .collect();
    let markers = list_markers(defs, &roots);
    for ((schema, property), list) in markers {
        if let Some(Value::Object(p)) = defs
            .get_mut(&schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(&property))
        {
            p.extend(list_extensions(list));
        }
    }
    for (served, names) in gv.resources.iter().zip(names) {
        let kind = &served.kind;
        set_gvk(
            defs,
            &names.item,
            vec![gvk(kind.group, kind.version, kind.kind)],
        );
        let list_kind = format!("{}List", kind.kind);
        set_gvk(
            defs,
            &names.list,
            vec![gvk(kind.group, kind.version, &list_kind)],
        );
    }
    // Status is registered for the core group only; DeleteOptions and WatchEvent for every
    // group-version of the server (apiserver's `AddToGroupVersion` / `AddUnversionedTypes`).
    set_gvk(defs, &status_name(), vec![gvk("", "v1", "Status")]);
    for (name, kind) in [
        (delete_options_name(), "DeleteOptions"),
        (watch_event_name(), "WatchEvent"),
    ] {
        let gvks = GROUP_VERSIONS
            .iter()
            .map(|gv| gvk(gv.group, gv.version, kind))
            .collect();
        set_gvk(defs, &name, gvks);
    }
    add_defaults(defs);

    let mut defs = generator.take_definitions(true);
    one_of_types(&mut defs);
    defs
}

/// A list kind (`JobList`): k8s-openapi has one generic `List<T>` and no schema for it.
struct ListOf<T>(PhantomData<T>);

impl<T: JsonSchema + ListableResource> JsonSchema for ListOf<T> {
    fn schema_name() -> Cow<'static, str> {
        let item = T::schema_name();
        match item.rsplit_once('.') {
            Some((package, _)) => format!("{package}.{}", T::LIST_KIND).into(),
            None => T::LIST_KIND.into(),
        }
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let items = generator.subschema_for::<T>();
        let mut metadata = generator.subschema_for::<ListMeta>();
        metadata.insert(
            "description".into(),
            "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata".into(),
        );
        // apiVersion and kind mean the same in a list as in its items.
        let item_property = |name: &str| {
            generator
                .definitions()
                .get(T::schema_name().as_ref())
                .and_then(|item| item.get("properties"))
                .and_then(|properties| properties.get(name))
                .cloned()
                .unwrap_or_else(|| json!({ "type": "string" }))
        };
        let api_version = item_property("apiVersion");
        let kind = item_property("kind");
        json_schema!({
            "description": format!("{} is a list of {} objects.", T::LIST_KIND, T::KIND),
            "type": "object",
            "properties": {
                "apiVersion": api_version,
                "items": {
                    "description": format!("The {} objects.", T::KIND),
                    "type": "array",
                    "items": items,
                },
                "kind": kind,
                "metadata": metadata,
            },
            "required": ["items"],
        })
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

fn set_gvk(defs: &mut Map<String, Value>, name: &str, gvks: Vec<Value>) {
    if let Some(Value::Object(schema)) = defs.get_mut(name) {
        schema.insert(GVK_EXTENSION.into(), Value::Array(gvks));
    }
}

/// The definition a `{"$ref": ...}` schema points to.
fn ref_target(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix(REF_PREFIX)
}

/// The merge semantics of every list reachable from the served kinds, keyed by
/// (schema name, property). k8s-openapi's types carry no `patchStrategy`/`listType` tags, so the
/// answer comes from `patch::lists`, which is keyed by field path from a kind's root: each
/// kind's schema tree is walked with the path that leads to every array property.
fn list_markers(
    defs: &Map<String, Value>,
    roots: &[(&Kind, &str)],
) -> BTreeMap<(String, String), ListType> {
    let mut found = BTreeMap::new();
    for (kind, root) in roots {
        walk(
            defs,
            kind,
            root,
            &mut Vec::new(),
            &mut HashSet::new(),
            &mut found,
        );
    }
    found
}

fn walk<'a>(
    defs: &'a Map<String, Value>,
    kind: &Kind,
    name: &'a str,
    path: &mut Vec<&'a str>,
    visited: &mut HashSet<&'a str>,
    found: &mut BTreeMap<(String, String), ListType>,
) {
    if !visited.insert(name) {
        return;
    }
    let Some(properties) = defs
        .get(name)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (property, schema) in properties {
        path.push(property);
        let target = match schema.get("items") {
            Some(items) => {
                // Atomic is also `list_type`'s answer for lists it does not know; a schema
                // reached through several paths keeps the first specific answer.
                let list = list_type(kind, path);
                if list != ListType::Atomic {
                    found
                        .entry((name.to_owned(), property.clone()))
                        .or_insert(list);
                }
                ref_target(items)
            }
            None => ref_target(schema),
        };
        if let Some(target) = target {
            walk(defs, kind, target, path, visited, found);
        }
        path.pop();
    }
}

/// The vendor extensions openapi-gen writes for a list's `+patchStrategy`, `+patchMergeKey`,
/// `+listType` and `+listMapKey` tags. Atomic lists get none: without markers both strategic
/// merge patch and server-side apply replace a list whole.
fn list_extensions(list: ListType) -> Map<String, Value> {
    let mut ext = Map::new();
    match list {
        ListType::Atomic => {}
        ListType::Set => {
            ext.insert("x-kubernetes-list-type".into(), "set".into());
            ext.insert("x-kubernetes-patch-strategy".into(), "merge".into());
        }
        ListType::Map {
            merge_key,
            map_keys,
            strategic_merge,
            retain_keys,
        } => {
            ext.insert("x-kubernetes-list-type".into(), "map".into());
            ext.insert("x-kubernetes-list-map-keys".into(), json!(map_keys));
            if strategic_merge {
                ext.insert("x-kubernetes-patch-merge-key".into(), merge_key.into());
                let strategy = if retain_keys {
                    "merge,retainKeys"
                } else {
                    "merge"
                };
                ext.insert("x-kubernetes-patch-strategy".into(), strategy.into());
            }
        }
    }
    ext
}

/// The `default`s openapi-gen derives from Go types (`mustEnforceDefault`): a field that is not
/// `omitempty` (here: listed in `required`) defaults to its zero value, and so do the elements of
/// slices and maps; struct values default to `{}`. Kinds and templates embed `metadata`, `spec`
/// and `status` by value, so those default to `{}` even when optional.
///
/// k8s-openapi marks `metadata` required wherever its Rust field is not an `Option` (kinds,
/// Status); upstream does not, and `kubectl explain` would print it as `-required-`.
fn add_defaults(defs: &mut Map<String, Value>) {
    let objects: HashSet<String> = defs
        .iter()
        .filter(|(_, schema)| schema.get("type").and_then(Value::as_str) == Some("object"))
        .map(|(name, _)| name.clone())
        .collect();
    let object_meta = ObjectMeta::schema_name();
    let list_meta = ListMeta::schema_name();

    for schema in defs.values_mut() {
        let Some(schema) = schema.as_object_mut() else {
            continue;
        };
        let Some(Value::Object(properties)) = schema.get("properties") else {
            continue;
        };
        let embeds_metadata = properties
            .get("metadata")
            .and_then(ref_target)
            .is_some_and(|m| m == object_meta || m == list_meta);

        if embeds_metadata && let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|r| r != "metadata");
            if required.is_empty() {
                schema.remove("required");
            }
        }
        let required: Vec<String> = match schema.get("required") {
            Some(Value::Array(required)) => required
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let Some(Value::Object(properties)) = schema.get_mut("properties") else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            let by_value = required.contains(name)
                || (embeds_metadata && ["metadata", "spec", "status"].contains(&name.as_str()));
            if by_value {
                set_zero_default(property, &objects);
            }
            for element in ["items", "additionalProperties"] {
                if let Some(element) = property.get_mut(element) {
                    set_zero_default(element, &objects);
                }
            }
        }
    }
}

fn set_zero_default(schema: &mut Value, objects: &HashSet<String>) {
    let Some(fields) = schema.as_object() else {
        return;
    };
    if fields.contains_key("default") {
        return;
    }
    let zero = match (
        ref_target(schema),
        fields.get("type").and_then(Value::as_str),
    ) {
        (Some(target), _) => objects.contains(target).then(|| json!({})),
        // []byte is a slice: no default.
        (None, Some("string")) if fields.get("format").and_then(Value::as_str) == Some("byte") => {
            None
        }
        (None, Some("string")) => Some(json!("")),
        (None, Some("integer" | "number")) => Some(json!(0)),
        (None, Some("boolean")) => Some(json!(false)),
        _ => None,
    };
    if let (Some(zero), Value::Object(fields)) = (zero, schema) {
        fields.insert("default".into(), zero);
    }
}

/// kube-openapi's OpenAPI v3 spelling of the two types that accept more than one JSON type
/// (their `OpenAPIV3OneOfTypes`), where k8s-openapi writes the CRD-style
/// `x-kubernetes-int-or-string: true`.
fn one_of_types(defs: &mut Map<String, Value>) {
    let types: [(Cow<'static, str>, Option<&str>, [&str; 2]); 2] = [
        (
            IntOrString::schema_name(),
            Some("int-or-string"),
            ["integer", "string"],
        ),
        (Quantity::schema_name(), None, ["string", "number"]),
    ];
    for (name, format, one_of) in types {
        let Some(Value::Object(schema)) = defs.get_mut(name.as_ref()) else {
            continue;
        };
        schema.remove("x-kubernetes-int-or-string");
        if let Some(format) = format {
            schema.insert("format".into(), format.into());
        }
        let one_of = one_of.iter().map(|t| json!({ "type": t })).collect();
        schema.insert("oneOf".into(), Value::Array(one_of));
    }
}
