//! Server-side table printing: the meta.k8s.io/v1 `Table` the apiserver answers `kubectl get`
//! with (printing.md, kubectl-wire.md §4.5/§4.6).
//!
//! Mirrors `pkg/printers/internalversion/printers.go` (the column definitions and `print<Kind>`
//! functions), `pkg/printers/tablegenerator.go` (`GenerateTable`) and the apiserver's `asTable`
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/response.go`). The apiserver's
//! `TableConvertor` always generates with `Wide: true`, so every column is in the Table and
//! kubectl hides the `priority` 1 ones unless asked for `-o wide`.

pub mod duration;

mod config;
mod cronjob;
pub use cronjob::NEXT_SCHEDULE_ANNOTATION;
mod event;
mod job;
mod lease;
mod namespace;
mod node;
mod pod;
mod runtimeclass;
mod storage;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Status};
use serde_json::{Value, json};

use crate::field::go_quote;
use crate::object::{
    CONFIGMAP, CRONJOB, EVENT, JOB, Kind, LEASE, NAMESPACE, NODE, Object, PERSISTENTVOLUMECLAIM,
    POD, RUNTIME_CLASS, SECRET, SERVICEACCOUNT, STORAGECLASS,
};
use crate::status::bad_request;
use crate::table::{Table, TableColumnDefinition, TableRow, TableRowCondition};
use crate::validation::names::{is_qualified_name, is_valid_label_value};

/// What each row's `object` holds: the `includeObject` query parameter of a Table request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `None`: `object` is null.
    None,
    /// `Metadata` (the default): a `meta.k8s.io/v1` `PartialObjectMetadata` with the object's
    /// whole `metadata`. kubectl reads namespaces (`-A`) and labels (`--show-labels`, `-L`)
    /// from it.
    #[default]
    Metadata,
    /// `Object`: the whole object, as a GET would return it. kubectl asks for it with `--sort-by`.
    Object,
}

impl IncludeObject {
    /// The `includeObject` query value; absent or empty means `Metadata`.
    pub fn from_query(value: Option<&str>) -> Result<IncludeObject, UnrecognizedIncludeObject> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(UnrecognizedIncludeObject(other.to_owned())),
        }
    }
}

/// An `includeObject` value the apiserver does not know: a 400 BadRequest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized includeObject value: {}", go_quote(.0))]
pub struct UnrecognizedIncludeObject(pub String);

impl From<&UnrecognizedIncludeObject> for Status {
    fn from(e: &UnrecognizedIncludeObject) -> Self {
        bad_request(e.to_string())
    }
}

/// The columns `kubectl get` shows for `kind`, wide ones (`priority` 1) included. A kind kbatch
/// has no printer for gets none.
pub fn column_definitions(kind: &Kind) -> Vec<TableColumnDefinition> {
    match *kind {
        k if k == JOB => job::columns(),
        k if k == CRONJOB => cronjob::columns(),
        k if k == POD => pod::columns(),
        k if k == EVENT => event::columns(),
        k if k == NAMESPACE => namespace::columns(),
        k if k == NODE => node::columns(),
        k if k == LEASE => lease::columns(),
        k if k == CONFIGMAP => config::config_map_columns(),
        k if k == SECRET => config::secret_columns(),
        k if k == SERVICEACCOUNT => storage::service_account_columns(),
        k if k == PERSISTENTVOLUMECLAIM => storage::claim_columns(),
        k if k == STORAGECLASS => storage::storage_class_columns(),
        k if k == RUNTIME_CLASS => runtimeclass::columns(),
        _ => Vec::new(),
    }
}

/// One row's cells, in the order of [`column_definitions`] for the object's kind, each typed as
/// upstream prints it (mostly strings; some counts are JSON integers).
pub fn cells(obj: &Object, now: Timestamp) -> Vec<Value> {
    match obj {
        Object::Job(o) => job::cells(o, now),
        Object::CronJob(o) => cronjob::cells(o, now),
        Object::Pod(o) => pod::cells(o, now),
        Object::Event(o) => event::cells(o, now),
        Object::Namespace(o) => namespace::cells(o, now),
        Object::Node(o) => node::cells(o, now),
        Object::Lease(o) => lease::cells(o, now),
        Object::ConfigMap(o) => config::config_map_cells(o, now),
        Object::Secret(o) => config::secret_cells(o, now),
        Object::ServiceAccount(o) => storage::service_account_cells(o, now),
        Object::PersistentVolumeClaim(o) => storage::claim_cells(o, now),
        Object::StorageClass(o) => storage::storage_class_cells(o, now),
        Object::RuntimeClass(o) => runtimeclass::cells(o, now),
    }
}

/// The row conditions the printers attach: only finished pods get one (`Completed`), which
/// tells clients the row may be shown with less emphasis.
fn conditions(obj: &Object) -> Vec<TableRowCondition> {
    match obj {
        Object::Pod(p) => pod::conditions(p),
        _ => Vec::new(),
    }
}

/// One object's row: its cells, row conditions, and the `object` that `include_object` asks for
/// (`asTable`).
pub fn row(obj: &Object, now: Timestamp, include_object: IncludeObject) -> TableRow {
    TableRow {
        cells: cells(obj, now),
        conditions: conditions(obj),
        object: match include_object {
            IncludeObject::None => Value::Null,
            IncludeObject::Metadata => partial_object_metadata(obj.metadata()),
            IncludeObject::Object => obj.to_json(),
        },
    }
}

/// The Table for a list of `kind` objects (an empty list still carries the columns). The
/// caller sets `metadata.resourceVersion` and `metadata.continue` from the list it printed.
pub fn table(
    kind: &Kind,
    objects: &[Object],
    now: Timestamp,
    include_object: IncludeObject,
) -> Table {
    Table::new(
        column_definitions(kind),
        objects
            .iter()
            .map(|o| row(o, now, include_object))
            .collect(),
    )
}

/// The Table for a single GET (or one watch event): one row, and, as `GenerateTable` does for a
/// non-list, `metadata.resourceVersion` taken from the object.
pub fn object_table(obj: &Object, now: Timestamp, include_object: IncludeObject) -> Table {
    let mut t = table(&obj.kind(), std::slice::from_ref(obj), now, include_object);
    t.metadata.resource_version = obj.metadata().resource_version.clone();
    t
}

/// `meta.AsPartialObjectMetadata` with the meta.k8s.io/v1 kind set: all of `metadata`, nothing
/// else.
pub fn partial_object_metadata(metadata: &ObjectMeta) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`, the description of every NAME column.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`, the description of every AGE column.
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const CONTAINERS_DESCRIPTION: &str = "Names of each container in the template.";
const IMAGES_DESCRIPTION: &str = "Images referenced by each container in the template.";

/// `batchv1.JobSpec{}.SwaggerDoc()["selector"]`: the wide SELECTOR column of jobs and cronjobs.
const JOB_SELECTOR_DESCRIPTION: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

fn column(name: &str, type_: &str, priority: i32, description: &str) -> TableColumnDefinition {
    TableColumnDefinition {
        name: name.to_owned(),
        type_: type_.to_owned(),
        format: String::new(),
        description: description.to_owned(),
        priority,
    }
}

/// The NAME column: `format: name` marks the resource name for clients.
fn name_column(priority: i32) -> TableColumnDefinition {
    TableColumnDefinition {
        format: "name".to_owned(),
        ..column("Name", "string", priority, NAME_DESCRIPTION)
    }
}

fn age_column() -> TableColumnDefinition {
    column("Age", "string", 0, CREATION_TIMESTAMP_DESCRIPTION)
}

/// The wide CONTAINERS, IMAGES and SELECTOR columns of jobs and cronjobs.
fn template_columns() -> [TableColumnDefinition; 3] {
    [
        column("Containers", "string", 1, CONTAINERS_DESCRIPTION),
        column("Images", "string", 1, IMAGES_DESCRIPTION),
        column("Selector", "string", 1, JOB_SELECTOR_DESCRIPTION),
    ]
}

/// `layoutContainerCells`: container names and images, each joined with `,`.
fn layout_container_cells(containers: &[Container]) -> [Value; 2] {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or(""))
        .collect();
    [Value::from(names.join(",")), Value::from(images.join(","))]
}

/// `metav1.FormatLabelSelector`: the selector as `labels.Selector.String()` prints it
/// (requirements sorted by key, `in`/`notin` values sorted), `<none>` when it selects
/// everything or is unset, `<error>` when it does not convert.
fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    match label_selector_string(selector) {
        Some(s) if s.is_empty() => "<none>".to_owned(),
        Some(s) => s,
        None => "<error>".to_owned(),
    }
}

/// `LabelSelectorAsSelector(...).String()`, or `None` where `NewRequirement` rejects a
/// requirement or the operator is unknown.
fn label_selector_string(selector: Option<&LabelSelector>) -> Option<String> {
    // A nil selector is `labels.Nothing()` and an empty one `labels.Everything()`: both print
    // as "".
    let Some(selector) = selector else {
        return Some(String::new());
    };
    let mut requirements: Vec<(&str, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        valid_requirement(key, std::slice::from_ref(value))?;
        requirements.push((key, format!("{key}={value}")));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let key = expr.key.as_str();
        let values = expr.values.as_deref().unwrap_or_default();
        valid_requirement(key, values)?;
        let text = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => return None,
            "In" => format!("{key} in ({})", sorted_values(values)),
            "NotIn" => format!("{key} notin ({})", sorted_values(values)),
            "Exists" | "DoesNotExist" if !values.is_empty() => return None,
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key, text));
    }
    // `internalSelector.Add` sorts by key; Go's sort is stable at selector sizes.
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    let texts: Vec<String> = requirements.into_iter().map(|(_, t)| t).collect();
    Some(texts.join(","))
}

/// The key and value checks of `labels.NewRequirement`.
fn valid_requirement(key: &str, values: &[String]) -> Option<()> {
    let valid = is_qualified_name(key).is_empty()
        && values.iter().all(|v| is_valid_label_value(v).is_empty());
    valid.then_some(())
}

fn sorted_values(values: &[String]) -> String {
    let mut v: Vec<&str> = values.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::Job;
    use serde_json::json;

    use super::*;
    use crate::object::ADMITTED_KINDS;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn job() -> Object {
        let job: Job = serde_json::from_value(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "j1",
                "namespace": "default",
                "uid": "9a15",
                "resourceVersion": "108",
                "creationTimestamp": "2026-03-01T11:59:57Z",
                "labels": {"job-name": "j1"}
            },
            "spec": {"template": {"spec": {"containers": [{"name": "j1", "image": "busybox"}]}}}
        }))
        .unwrap();
        Object::Job(job)
    }

    /// A minimal object of every printed kind.
    fn samples() -> Vec<Object> {
        let meta = json!({"name": "x", "creationTimestamp": "2026-03-01T11:00:00Z"});
        vec![
            job(),
            Object::CronJob(
                serde_json::from_value(
                    json!({"metadata": meta, "spec": {"schedule": "@daily", "jobTemplate": {}}}),
                )
                .unwrap(),
            ),
            Object::Pod(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::Namespace(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::Event(
                serde_json::from_value(json!({"metadata": meta, "involvedObject": {}})).unwrap(),
            ),
            Object::Node(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::Lease(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::ConfigMap(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::Secret(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::ServiceAccount(serde_json::from_value(json!({"metadata": meta})).unwrap()),
            Object::PersistentVolumeClaim(
                serde_json::from_value(json!({"metadata": meta})).unwrap(),
            ),
            Object::StorageClass(
                serde_json::from_value(json!({"metadata": meta, "provisioner": "p"})).unwrap(),
            ),
            Object::RuntimeClass(
                serde_json::from_value(json!({"metadata": meta, "handler": "runc"})).unwrap(),
            ),
        ]
    }

    // Every admitted kind has a printer whose rows are exactly as wide as its columns, and every
    // column has a description.
    #[test]
    fn every_kind_has_matching_columns_and_cells() {
        let samples = samples();
        for kind in ADMITTED_KINDS {
            let columns = column_definitions(kind);
            assert!(!columns.is_empty(), "{}", kind.kind);
            assert!(
                columns.iter().all(|c| !c.description.is_empty()),
                "{}",
                kind.kind
            );
            assert_eq!(
                columns.iter().filter(|c| c.format == "name").count(),
                1,
                "{}",
                kind.kind
            );
            let obj = samples.iter().find(|o| o.kind() == *kind).unwrap();
            assert_eq!(cells(obj, now()).len(), columns.len(), "{}", kind.kind);
        }
    }

    #[test]
    fn kinds_without_a_printer_get_no_columns() {
        let other = Kind {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
        };
        assert!(column_definitions(&other).is_empty());
    }

    // kubectl-wire.md §4.5: the default row object is a PartialObjectMetadata with the whole
    // metadata (kubectl reads the namespace and labels from it).
    #[test]
    fn rows_carry_partial_object_metadata_by_default() {
        let r = row(&job(), now(), IncludeObject::default());
        assert_eq!(
            r.object,
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {
                    "creationTimestamp": "2026-03-01T11:59:57Z",
                    "labels": {"job-name": "j1"},
                    "name": "j1",
                    "namespace": "default",
                    "resourceVersion": "108",
                    "uid": "9a15"
                }
            })
        );
        assert_eq!(r.cells[0], "j1");
        assert_eq!(r.cells[4], "3s");
    }

    // includeObject=Object embeds the object as GET returns it; None leaves `object: null`.
    #[test]
    fn include_object_object_and_none() {
        let r = row(&job(), now(), IncludeObject::Object);
        assert_eq!(r.object, job().to_json());
        assert_eq!(r.object["kind"], "Job");
        let r = row(&job(), now(), IncludeObject::None);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v.get("object"), Some(&Value::Null));
        assert!(v.get("conditions").is_none());
    }

    #[test]
    fn include_object_from_query() {
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Metadata")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        let err = Status::from(&IncludeObject::from_query(Some("object")).unwrap_err());
        assert_eq!(err.code, Some(400));
        assert_eq!(err.reason.as_deref(), Some("BadRequest"));
        assert_eq!(
            err.message.as_deref(),
            Some("unrecognized includeObject value: \"object\"")
        );
    }

    // kubectl-wire.md §4.5: the list Table, as JSON, in the shape kubectl reads.
    #[test]
    fn list_table_shape() {
        let mut t = table(
            &crate::object::JOB,
            &[job()],
            now(),
            IncludeObject::Metadata,
        );
        t.metadata.resource_version = Some("109".to_owned());
        let v = serde_json::to_value(&t).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "columnDefinitions",
                "rows"
            ]
        );
        assert_eq!(v["metadata"], json!({"resourceVersion": "109"}));
        assert_eq!(
            v["columnDefinitions"][0],
            json!({
                "name": "Name",
                "type": "string",
                "format": "name",
                "description": NAME_DESCRIPTION,
                "priority": 0
            })
        );
        assert_eq!(
            v["rows"][0]["cells"],
            json!(["j1", "Running", "0/1", "", "3s", "j1", "busybox", "<none>"])
        );
        let empty = table(&crate::object::JOB, &[], now(), IncludeObject::Metadata);
        assert_eq!(empty.column_definitions.len(), 8);
        assert_eq!(serde_json::to_value(&empty).unwrap()["rows"], json!([]));
    }

    // A single GET's Table takes its resourceVersion from the object.
    #[test]
    fn object_table_takes_the_objects_resource_version() {
        let t = object_table(&job(), now(), IncludeObject::None);
        assert_eq!(t.metadata.resource_version.as_deref(), Some("108"));
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.column_definitions.len(), 8);
    }

    fn selector(v: Value) -> String {
        let s: LabelSelector = serde_json::from_value(v).unwrap();
        format_label_selector(Some(&s))
    }

    // P-13: SELECTOR as `metav1.FormatLabelSelector` prints it.
    #[test]
    fn p13_format_label_selector() {
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(selector(json!({})), "<none>");
        assert_eq!(
            selector(json!({"matchLabels": {"b": "2", "a": "1"}})),
            "a=1,b=2"
        );
        assert_eq!(
            selector(json!({
                "matchLabels": {"m": "x"},
                "matchExpressions": [
                    {"key": "z", "operator": "In", "values": ["c", "a", "b"]},
                    {"key": "n", "operator": "NotIn", "values": ["v"]},
                    {"key": "e", "operator": "Exists"},
                    {"key": "d", "operator": "DoesNotExist"}
                ]
            })),
            "!d,e,m=x,n notin (v),z in (a,b,c)"
        );
        assert_eq!(
            selector(
                json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})
            ),
            "<error>"
        );
        assert_eq!(
            selector(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "<error>"
        );
        assert_eq!(
            selector(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            ),
            "<error>"
        );
        assert_eq!(
            selector(json!({"matchLabels": {"bad key": "x"}})),
            "<error>"
        );
        assert_eq!(
            selector(json!({"matchLabels": {"k": "bad value!"}})),
            "<error>"
        );
    }
}
