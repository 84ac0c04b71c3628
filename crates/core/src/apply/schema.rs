//! What server-side apply needs to know about the served types beyond their JSON: how each list
//! and struct merges (the `listType`, `structType` and `mapType` markers of the Go types), the
//! fields the apiserver owns, and the zero values a Go struct always shows.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};
use crate::object::Kind;
use crate::patch::lists::{self, ListType};

/// How server-side apply treats a list (`listType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Owned and replaced as a whole.
    Atomic,
    /// Scalars, each owned on its own: `v:"x"`.
    Set,
    /// Maps keyed by these fields: `k:{"name":"pi"}`.
    Map(&'static [&'static str]),
}

/// The `listType` of the list at `path` (field names from the root, no indices).
pub(crate) fn list_kind(kind: &Kind, path: &[&str]) -> ListKind {
    if let Some(k) = apply_only_list(kind, path) {
        return k;
    }
    match lists::list_type(kind, path) {
        ListType::Atomic => ListKind::Atomic,
        ListType::Set => ListKind::Set,
        ListType::Map { map_keys, .. } => ListKind::Map(map_keys),
    }
}

/// Lists whose `listType` differs from what their strategic-merge tags suggest, which the
/// shared table (keyed by strategic merge patch's needs) does not say.
fn apply_only_list(kind: &Kind, path: &[&str]) -> Option<ListKind> {
    match (kind.kind, path) {
        // `patchStrategy=merge` by type for strategic merge patch, `listType=atomic` here.
        ("Job", ["status", "conditions"]) | ("Pod", ["status", "hostIPs"]) => {
            return Some(ListKind::Atomic);
        }
        ("Job", ["status", "uncountedTerminatedPods", "succeeded" | "failed"])
        | ("Node", ["spec", "podCIDRs"]) => return Some(ListKind::Set),
        ("Pod", ["status", "resourceClaimStatuses"]) => return Some(ListKind::Map(&["name"])),
        _ => {}
    }
    match in_pod_spec(kind, path)? {
        ["resources", "claims"] => Some(ListKind::Map(&["name"])),
        [c, "resources", "claims"] if CONTAINER_LISTS.contains(c) => Some(ListKind::Map(&["name"])),
        _ => None,
    }
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// `path` relative to the kind's pod spec, when it lies in one.
fn in_pod_spec<'p, 'a>(kind: &Kind, path: &'p [&'a str]) -> Option<&'p [&'a str]> {
    let prefix: &[&str] = match kind.kind {
        "Pod" => &["spec"],
        "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    };
    path.strip_prefix(prefix)
}

/// Whether the map at `path` is owned as a whole (`+structType=atomic` on its Go type or
/// `+mapType=atomic` on the field); `item` says it is an item of the list at `path`.
pub(crate) fn atomic_map(kind: &Kind, path: &[&str], item: bool) -> bool {
    if item {
        // OwnerReference and LocalObjectReference are atomic structs.
        return path.ends_with(&["metadata", "ownerReferences"])
            || matches!(in_pod_spec(kind, path), Some(["imagePullSecrets"]));
    }
    if let Some(rel) = in_pod_spec(kind, path) {
        return atomic_in_pod_spec(rel);
    }
    match (kind.kind, path) {
        // LabelSelector.
        ("Job", ["spec", "selector"])
        | ("CronJob", ["spec", "jobTemplate", "spec", "selector"]) => true,
        // ObjectReference.
        ("Event", ["involvedObject" | "related"]) => true,
        _ => false,
    }
}

fn atomic_in_pod_spec(rel: &[&str]) -> bool {
    match rel {
        ["nodeSelector"]
        | [
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ]
        | ["topologySpreadConstraints", "labelSelector"]
        | ["volumes", "csi", "nodePublishSecretRef"]
        | [
            "volumes",
            "ephemeral",
            "volumeClaimTemplate",
            "spec",
            "selector" | "dataSource",
        ] => true,
        [
            "volumes",
            "iscsi" | "rbd" | "flexVolume" | "cinder" | "cephfs" | "scaleIO" | "storageos",
            "secretRef",
        ] => true,
        [
            c,
            "env",
            "valueFrom",
            "fieldRef" | "resourceFieldRef" | "configMapKeyRef" | "secretKeyRef" | "fileKeyRef",
        ] => CONTAINER_LISTS.contains(c),
        _ => false,
    }
}

/// The default of a list-map key field an item may omit: ContainerPort's protocol.
pub(crate) fn key_default(keys: &[&str], key: &str) -> Option<Value> {
    (keys == ["containerPort", "protocol"] && key == "protocol").then(|| Value::from("TCP"))
}

fn field(name: &str) -> PathElement {
    PathElement::Field(name.to_owned())
}

/// The fields a write through this endpoint cannot set and so nobody owns (the strategy's
/// `GetResetFields`): status on the main resource, spec on /status (and for Pods the
/// deletionTimestamp and ownerReferences the kubelet must not touch). Events and Leases have
/// none, and neither do subresources other than /status.
pub(crate) fn reset_fields(kind: &Kind, subresource: Option<&str>) -> FieldSet {
    let mut set = FieldSet::new();
    let has_status = matches!(kind.kind, "Job" | "CronJob" | "Pod" | "Namespace" | "Node");
    match subresource {
        None if has_status => set.insert(&[field("status")]),
        Some("status") if has_status => {
            set.insert(&[field("spec")]);
            if kind.kind == "Pod" {
                set.insert(&[field("metadata"), field("deletionTimestamp")]);
                set.insert(&[field("metadata"), field("ownerReferences")]);
            }
        }
        _ => {}
    }
    set
}

/// The paths never recorded in managedFields (`stripMetaManager`): type meta and the metadata
/// the apiserver maintains. Removed as members only, so `metadata.labels` stays tracked.
pub(crate) fn strip_set() -> FieldSet {
    let mut set = FieldSet::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(&[field(top)]);
    }
    for meta in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[field("metadata"), field(meta)]);
    }
    set
}

/// A field of a Go struct that shows even when unset, and what shows.
#[derive(Clone, Copy)]
enum Slot {
    /// A non-pointer struct: `{}` with its own always-shown fields.
    Struct(Fields),
    /// A pointer or omitted field: its always-shown fields, when it is set.
    Optional(Fields),
    /// A list of structs: each item's always-shown fields.
    Items(Fields),
    /// A list without `omitempty`: `null` when unset.
    ItemsOrNull(Fields),
    /// A time or pointer without `omitempty`.
    Null,
    EmptyString,
    Zero,
    False,
    /// A `resource.Quantity` value.
    ZeroQuantity,
}

type Fields = &'static [(&'static str, Slot)];

const NONE: Fields = &[];
const TIMES: Fields = &[
    ("lastProbeTime", Slot::Null),
    ("lastTransitionTime", Slot::Null),
];
const PROBE: Fields = &[("grpc", Slot::Optional(&[("service", Slot::Null)]))];
const CONTAINER: Fields = &[
    ("resources", Slot::Struct(NONE)),
    (
        "env",
        Slot::Items(&[(
            "valueFrom",
            Slot::Optional(&[(
                "resourceFieldRef",
                Slot::Optional(&[("divisor", Slot::ZeroQuantity)]),
            )]),
        )]),
    ),
    ("livenessProbe", Slot::Optional(PROBE)),
    ("readinessProbe", Slot::Optional(PROBE)),
    ("startupProbe", Slot::Optional(PROBE)),
];
const PVC_TEMPLATE: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    (
        "spec",
        Slot::Struct(&[
            ("resources", Slot::Struct(NONE)),
            ("dataSource", Slot::Optional(&[("apiGroup", Slot::Null)])),
            ("dataSourceRef", Slot::Optional(&[("apiGroup", Slot::Null)])),
        ]),
    ),
];
const VOLUME: Fields = &[
    (
        "ephemeral",
        Slot::Optional(&[("volumeClaimTemplate", Slot::Optional(PVC_TEMPLATE))]),
    ),
    ("scaleIO", Slot::Optional(&[("secretRef", Slot::Null)])),
    (
        "projected",
        Slot::Optional(&[("sources", Slot::ItemsOrNull(NONE))]),
    ),
];
const POD_SPEC: Fields = &[
    ("containers", Slot::ItemsOrNull(CONTAINER)),
    ("initContainers", Slot::Items(CONTAINER)),
    ("ephemeralContainers", Slot::Items(CONTAINER)),
    ("volumes", Slot::Items(VOLUME)),
];
const POD_TEMPLATE: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(POD_SPEC)),
];
const JOB_SPEC: Fields = &[("template", Slot::Struct(POD_TEMPLATE))];
const CONTAINER_STATE: Fields = &[
    ("running", Slot::Optional(&[("startedAt", Slot::Null)])),
    (
        "terminated",
        Slot::Optional(&[
            ("exitCode", Slot::Zero),
            ("startedAt", Slot::Null),
            ("finishedAt", Slot::Null),
        ]),
    ),
];
const CONTAINER_STATUS: Fields = &[
    ("state", Slot::Struct(CONTAINER_STATE)),
    ("lastState", Slot::Struct(CONTAINER_STATE)),
    ("ready", Slot::False),
    ("restartCount", Slot::Zero),
    ("image", Slot::EmptyString),
    ("imageID", Slot::EmptyString),
];
const JOB: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(JOB_SPEC)),
    (
        "status",
        Slot::Struct(&[("conditions", Slot::Items(TIMES))]),
    ),
];
const CRONJOB: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    (
        "spec",
        Slot::Struct(&[
            ("schedule", Slot::EmptyString),
            (
                "jobTemplate",
                Slot::Struct(&[
                    ("metadata", Slot::Struct(NONE)),
                    ("spec", Slot::Struct(JOB_SPEC)),
                ]),
            ),
        ]),
    ),
    ("status", Slot::Struct(NONE)),
];
const POD: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(POD_SPEC)),
    (
        "status",
        Slot::Struct(&[
            ("conditions", Slot::Items(TIMES)),
            ("initContainerStatuses", Slot::Items(CONTAINER_STATUS)),
            ("containerStatuses", Slot::Items(CONTAINER_STATUS)),
            ("ephemeralContainerStatuses", Slot::Items(CONTAINER_STATUS)),
        ]),
    ),
];
const NAMESPACE: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(NONE)),
    (
        "status",
        Slot::Struct(&[(
            "conditions",
            Slot::Items(&[("lastTransitionTime", Slot::Null)]),
        )]),
    ),
];
const NODE_INFO: Fields = &[
    ("machineID", Slot::EmptyString),
    ("systemUUID", Slot::EmptyString),
    ("bootID", Slot::EmptyString),
    ("kernelVersion", Slot::EmptyString),
    ("osImage", Slot::EmptyString),
    ("containerRuntimeVersion", Slot::EmptyString),
    ("kubeletVersion", Slot::EmptyString),
    ("kubeProxyVersion", Slot::EmptyString),
    ("operatingSystem", Slot::EmptyString),
    ("architecture", Slot::EmptyString),
];
const NODE: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(NONE)),
    (
        "status",
        Slot::Struct(&[
            (
                "conditions",
                Slot::Items(&[
                    ("lastHeartbeatTime", Slot::Null),
                    ("lastTransitionTime", Slot::Null),
                ]),
            ),
            (
                "daemonEndpoints",
                Slot::Struct(&[("kubeletEndpoint", Slot::Struct(&[("Port", Slot::Zero)]))]),
            ),
            ("nodeInfo", Slot::Struct(NODE_INFO)),
        ]),
    ),
];
const EVENT: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("involvedObject", Slot::Struct(NONE)),
    ("source", Slot::Struct(NONE)),
    ("firstTimestamp", Slot::Null),
    ("lastTimestamp", Slot::Null),
    ("eventTime", Slot::Null),
    (
        "series",
        Slot::Optional(&[("lastObservedTime", Slot::Null)]),
    ),
    ("reportingComponent", Slot::EmptyString),
    ("reportingInstance", Slot::EmptyString),
];
/// A claim's spec, its `resources` and its status are non-pointer structs.
const PERSISTENT_VOLUME_CLAIM: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(&[("resources", Slot::Struct(NONE))])),
    ("status", Slot::Struct(NONE)),
];
/// ConfigMaps, Secrets, ServiceAccounts and StorageClasses: every other field of the Go
/// structs is `omitempty` (a StorageClass's `provisioner` is a string, always present).
const METADATA_ONLY: Fields = &[("metadata", Slot::Struct(NONE))];
const RUNTIME_CLASS: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("handler", Slot::EmptyString),
];
const LEASE: Fields = &[
    ("metadata", Slot::Struct(NONE)),
    ("spec", Slot::Struct(NONE)),
];

/// The object as structured-merge-diff sees a Go object of the kind (`FromStructured`): Go
/// writes non-pointer structs and fields without `omitempty` even when unset, so a Job always
/// has `spec.template.metadata`, a container `resources: {}`, a condition `lastProbeTime: null`.
/// Which fields exist decides whether a map is "added" (and gets a `".":{}` marker) or was
/// already there, so live, old and new objects are compared in this form.
pub(crate) fn materialize(kind: &Kind, obj: &Value) -> Value {
    let mut out = obj.clone();
    materialize_in_place(kind, &mut out);
    out
}

/// [`materialize`] on a value the caller owns already, sparing a copy of the object.
pub(crate) fn materialize_in_place(kind: &Kind, obj: &mut Value) {
    let fields = match kind.kind {
        "Job" => JOB,
        "CronJob" => CRONJOB,
        "Pod" => POD,
        "Namespace" => NAMESPACE,
        "Node" => NODE,
        "Event" => EVENT,
        "Lease" => LEASE,
        "ConfigMap" | "Secret" | "ServiceAccount" | "StorageClass" => METADATA_ONLY,
        "PersistentVolumeClaim" => PERSISTENT_VOLUME_CLAIM,
        "RuntimeClass" => RUNTIME_CLASS,
        _ => NONE,
    };
    if let Value::Object(map) = obj {
        fill(map, fields);
    }
}

fn fill(map: &mut Map<String, Value>, fields: Fields) {
    for &(name, slot) in fields {
        let zero = match slot {
            Slot::Struct(inner) => {
                let v = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                if let Value::Object(m) = v {
                    fill(m, inner);
                }
                continue;
            }
            Slot::Optional(inner) => {
                if let Some(Value::Object(m)) = map.get_mut(name) {
                    fill(m, inner);
                }
                continue;
            }
            Slot::Items(inner) | Slot::ItemsOrNull(inner) => {
                if let Some(Value::Array(items)) = map.get_mut(name) {
                    for item in items.iter_mut() {
                        if let Value::Object(m) = item {
                            fill(m, inner);
                        }
                    }
                }
                if !matches!(slot, Slot::ItemsOrNull(_)) {
                    continue;
                }
                Value::Null
            }
            Slot::Null => Value::Null,
            Slot::EmptyString => Value::from(""),
            Slot::Zero => Value::from(0),
            Slot::False => Value::Bool(false),
            Slot::ZeroQuantity => Value::from("0"),
        };
        map.entry(name).or_insert(zero);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{CRONJOB, JOB, POD};
    use serde_json::json;

    #[test]
    fn an_empty_job_as_go_writes_it() {
        assert_eq!(
            materialize(&JOB, &json!({})),
            json!({
                "metadata": {},
                "spec": {"template": {"metadata": {}, "spec": {"containers": null}}},
                "status": {}
            })
        );
    }

    #[test]
    fn containers_get_resources_and_conditions_get_times() {
        let pod = materialize(
            &POD,
            &json!({"spec": {"containers": [{"name": "a"}]}, "status": {"conditions": [{"type": "Ready"}]}}),
        );
        assert_eq!(pod["spec"]["containers"][0]["resources"], json!({}));
        assert_eq!(
            pod["status"]["conditions"][0],
            json!({"type": "Ready", "lastProbeTime": null, "lastTransitionTime": null})
        );
    }

    #[test]
    fn list_kinds_for_apply() {
        assert_eq!(list_kind(&JOB, &["status", "conditions"]), ListKind::Atomic);
        assert_eq!(
            list_kind(&JOB, &["spec", "template", "spec", "containers"]),
            ListKind::Map(&["name"])
        );
        assert_eq!(
            list_kind(
                &CRONJOB,
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "resources",
                    "claims"
                ]
            ),
            ListKind::Map(&["name"])
        );
        assert_eq!(list_kind(&JOB, &["metadata", "finalizers"]), ListKind::Set);
    }

    #[test]
    fn atomic_structs() {
        assert!(atomic_map(&JOB, &["spec", "selector"], false));
        assert!(atomic_map(&JOB, &["metadata", "ownerReferences"], true));
        assert!(atomic_map(
            &CRONJOB,
            &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers",
                "env",
                "valueFrom",
                "secretKeyRef"
            ],
            false
        ));
        assert!(!atomic_map(
            &JOB,
            &["spec", "template", "spec", "containers"],
            true
        ));
        assert!(!atomic_map(&JOB, &["metadata", "labels"], false));
    }
}
