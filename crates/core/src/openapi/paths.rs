//! `paths`: the operations kbatch serves for each resource, laid out as the apiserver's endpoint
//! installer (`apiserver/pkg/endpoints/installer.go`) documents them: operation ids, actions,
//! the group-version-kind on every operation, parameters, request bodies and responses.

use serde_json::{Map, Value, json};

use super::schemas::{
    REF_PREFIX, api_resource_list_name, delete_options_name, patch_name, status_name,
};
use super::{GroupVersion, SchemaNames, Served, Subresource};
use crate::object::{Kind, POD};

/// A query parameter.
struct Param {
    name: &'static str,
    ty: &'static str,
    description: &'static str,
}

const fn param(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        ty,
        description,
    }
}

const PRETTY: Param = param(
    "pretty",
    "string",
    "If 'true', the output is pretty printed.",
);
const ALLOW_WATCH_BOOKMARKS: Param = param(
    "allowWatchBookmarks",
    "boolean",
    "Requests watch events of type BOOKMARK. Ignored unless watch is true.",
);
const CONTINUE: Param = param(
    "continue",
    "string",
    "The continue token of a previous chunked list response, to retrieve the next chunk.",
);
const FIELD_SELECTOR: Param = param(
    "fieldSelector",
    "string",
    "Restricts the returned objects by their fields. Defaults to everything.",
);
const LABEL_SELECTOR: Param = param(
    "labelSelector",
    "string",
    "Restricts the returned objects by their labels. Defaults to everything.",
);
const LIMIT: Param = param(
    "limit",
    "integer",
    "The maximum number of objects to return. When more exist, the list metadata carries a continue token.",
);
const RESOURCE_VERSION: Param = param(
    "resourceVersion",
    "string",
    "Constrains which resource versions the request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions.",
);
const RESOURCE_VERSION_MATCH: Param = param(
    "resourceVersionMatch",
    "string",
    "How resourceVersion applies to a list: NotOlderThan or Exact.",
);
const SEND_INITIAL_EVENTS: Param = param(
    "sendInitialEvents",
    "boolean",
    "With watch=true, begins the stream with an ADDED event for every existing object, followed by a BOOKMARK.",
);
const TIMEOUT_SECONDS: Param = param(
    "timeoutSeconds",
    "integer",
    "Timeout for the list or watch call, in seconds.",
);
const WATCH: Param = param(
    "watch",
    "boolean",
    "Streams add, update and remove notifications for the described resources instead of returning a list. Specify resourceVersion.",
);
const DRY_RUN: Param = param(
    "dryRun",
    "string",
    "When present, the changes are not persisted. Valid values: All.",
);
const FIELD_MANAGER: Param = param(
    "fieldManager",
    "string",
    "Name of the actor making these changes: at most 128 printable characters.",
);
const FIELD_MANAGER_PATCH: Param = param(
    "fieldManager",
    "string",
    "Name of the actor making these changes: at most 128 printable characters. Required for apply patches (application/apply-patch+yaml).",
);
const FIELD_VALIDATION: Param = param(
    "fieldValidation",
    "string",
    "How unknown and duplicate fields in the request body are handled: Ignore drops them, Warn (the default) drops them with a warning header, Strict rejects the request.",
);
const FORCE: Param = param(
    "force",
    "boolean",
    "Makes an apply patch take over fields owned by other managers. Must be unset for other patch types.",
);
const GRACE_PERIOD_SECONDS: Param = param(
    "gracePeriodSeconds",
    "integer",
    "Seconds before the object is deleted; zero deletes immediately. Defaults to the kind's grace period.",
);
const ORPHAN_DEPENDENTS: Param = param(
    "orphanDependents",
    "boolean",
    "Deprecated, use propagationPolicy: whether dependents are orphaned.",
);
const PROPAGATION_POLICY: Param = param(
    "propagationPolicy",
    "string",
    "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
);
const CONTAINER: Param = param(
    "container",
    "string",
    "The container whose log to return. Defaults to the pod's only container.",
);
const FOLLOW: Param = param(
    "follow",
    "boolean",
    "Streams the log until the container ends.",
);
const LIMIT_BYTES: Param = param(
    "limitBytes",
    "integer",
    "Stops after about this many bytes of log output.",
);
const PREVIOUS: Param = param(
    "previous",
    "boolean",
    "Returns the log of the container's previous, terminated instance.",
);
const SINCE_SECONDS: Param = param(
    "sinceSeconds",
    "integer",
    "Returns only log lines from the last this many seconds.",
);
const TAIL_LINES: Param = param(
    "tailLines",
    "integer",
    "Returns only this many lines from the end of the log.",
);
const TIMESTAMPS: Param = param(
    "timestamps",
    "boolean",
    "Prefixes every line with its RFC 3339 timestamp.",
);

const LIST: &[Param] = &[
    ALLOW_WATCH_BOOKMARKS,
    CONTINUE,
    FIELD_SELECTOR,
    LABEL_SELECTOR,
    LIMIT,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    WATCH,
];
const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH: &[Param] = &[DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE];
const DELETE: &[Param] = &[
    DRY_RUN,
    GRACE_PERIOD_SECONDS,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
];
const DELETE_COLLECTION: &[Param] = &[
    CONTINUE,
    DRY_RUN,
    FIELD_SELECTOR,
    GRACE_PERIOD_SECONDS,
    LABEL_SELECTOR,
    LIMIT,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
];
const LOG: &[Param] = &[
    CONTAINER,
    FOLLOW,
    LIMIT_BYTES,
    PREVIOUS,
    SINCE_SECONDS,
    TAIL_LINES,
    TIMESTAMPS,
];

/// The media types the apiserver lists for object responses.
const OBJECT_TYPES: &[&str] = &[
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "application/yaml",
];
/// List responses add the watch streams (a list with `?watch=true`).
const LIST_TYPES: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
];
/// kubectl's client-side apply computes its patch from the schemas only when the kind's PATCH
/// operation accepts strategic merge patch.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Every path of a group-version: its resource list and each served resource's operations.
pub(super) fn paths(gv: &GroupVersion, names: &[SchemaNames]) -> Map<String, Value> {
    let mut paths = Map::new();
    let prefix = format!("/{}", gv.path());
    paths.insert(
        format!("{prefix}/"),
        json!({
            "get": {
                "description": "get available resources",
                "operationId": format!("get{}APIResources", gv_id(gv)),
                "responses": responses(&[("200", "OK")], &api_resource_list_name(), OBJECT_TYPES),
                "tags": [tag(gv)],
            },
        }),
    );
    for (served, names) in gv.resources.iter().zip(names) {
        Resource {
            gv,
            served,
            names,
            prefix: &prefix,
        }
        .insert_paths(&mut paths);
    }
    paths
}

struct Resource<'a> {
    gv: &'a GroupVersion,
    served: &'a Served,
    names: &'a SchemaNames,
    prefix: &'a str,
}

impl Resource<'_> {
    fn kind(&self) -> &Kind {
        &self.served.kind
    }

    fn insert_paths(&self, paths: &mut Map<String, Value>) {
        let kind = self.kind();
        let (collection, scope) = if kind.namespaced {
            let path = format!("{}/namespaces/{{namespace}}/{}", self.prefix, kind.plural);
            (path, "Namespaced")
        } else {
            (format!("{}/{}", self.prefix, kind.plural), "")
        };
        let item = format!("{collection}/{{name}}");

        paths.insert(collection, self.collection_ops(scope));
        if kind.namespaced {
            paths.insert(
                format!("{}/{}", self.prefix, kind.plural),
                self.all_namespaces_list(),
            );
        }
        paths.insert(item.clone(), self.item_ops(scope));
        for subresource in self.served.subresources {
            let (path, ops) = match subresource {
                Subresource::Status => (format!("{item}/status"), self.status_ops(scope)),
                Subresource::Log => (format!("{item}/log"), self.log_ops(scope)),
            };
            paths.insert(path, ops);
        }
    }

    /// list (and watch), create and deletecollection.
    fn collection_ops(&self, scope: &str) -> Value {
        let kind = self.kind().kind;
        json!({
            "parameters": self.path_params(false, &[PRETTY]),
            "get": self.operation(
                format!("list or watch objects of kind {kind}"),
                self.operation_id("list", scope, ""),
                "list",
                params(LIST),
                None,
                responses(&[("200", "OK")], &self.names.list, LIST_TYPES),
            ),
            "post": self.operation(
                format!("create {}", with_article(kind)),
                self.operation_id("create", scope, ""),
                "post",
                params(WRITE),
                Some(body(&self.names.item, &["*/*"])),
                responses(
                    &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                    &self.names.item,
                    OBJECT_TYPES,
                ),
            ),
            "delete": self.operation(
                format!("delete collection of {kind}"),
                self.operation_id("delete", &format!("Collection{scope}"), ""),
                "deletecollection",
                params(DELETE_COLLECTION),
                Some(delete_body()),
                responses(&[("200", "OK")], &status_name(), OBJECT_TYPES),
            ),
        })
    }

    /// `GET /apis/<group>/<version>/<plural>`: a namespaced kind listed across namespaces.
    fn all_namespaces_list(&self) -> Value {
        let kind = self.kind().kind;
        let mut path_params = params(LIST);
        path_params.push(query(&PRETTY));
        sort_by_name(&mut path_params);
        json!({
            "parameters": path_params,
            "get": self.operation(
                format!("list or watch objects of kind {kind}"),
                self.operation_id("list", "", "ForAllNamespaces"),
                "list",
                Vec::new(),
                None,
                responses(&[("200", "OK")], &self.names.list, LIST_TYPES),
            ),
        })
    }

    /// get, put, patch and delete of one object.
    fn item_ops(&self, scope: &str) -> Value {
        let kind = self.kind().kind;
        // Registries that delete gracefully return the object, the others a Status
        // (`ReturnDeletedObject` of the pod registry).
        let deleted = if *self.kind() == POD {
            self.names.item.clone()
        } else {
            status_name()
        };
        let mut ops = self.get_put_patch(scope, "", "the specified");
        ops.insert(
            "delete".into(),
            self.operation(
                format!("delete {}", with_article(kind)),
                self.operation_id("delete", scope, ""),
                "delete",
                params(DELETE),
                Some(delete_body()),
                responses(
                    &[("200", "OK"), ("202", "Accepted")],
                    &deleted,
                    OBJECT_TYPES,
                ),
            ),
        );
        Value::Object(ops)
    }

    /// `/status`: get, put and patch of the whole object, through the status strategy.
    fn status_ops(&self, scope: &str) -> Value {
        Value::Object(self.get_put_patch(scope, "Status", "status of the specified"))
    }

    /// get, put and patch of an object or its status; `what` completes "read ... Job".
    fn get_put_patch(&self, scope: &str, suffix: &str, what: &str) -> Map<String, Value> {
        let kind = self.kind().kind;
        let item = &self.names.item;
        let mut ops = Map::new();
        ops.insert(
            "parameters".into(),
            Value::Array(self.path_params(true, &[PRETTY])),
        );
        ops.insert(
            "get".into(),
            self.operation(
                format!("read {what} {kind}"),
                self.operation_id("read", scope, suffix),
                "get",
                Vec::new(),
                None,
                responses(&[("200", "OK")], item, OBJECT_TYPES),
            ),
        );
        ops.insert(
            "put".into(),
            self.operation(
                format!("replace {what} {kind}"),
                self.operation_id("replace", scope, suffix),
                "put",
                params(WRITE),
                Some(body(item, &["*/*"])),
                responses(&[("200", "OK"), ("201", "Created")], item, OBJECT_TYPES),
            ),
        );
        ops.insert(
            "patch".into(),
            self.operation(
                format!("partially update {what} {kind}"),
                self.operation_id("patch", scope, suffix),
                "patch",
                params(PATCH),
                Some(body(&patch_name(), PATCH_TYPES)),
                responses(&[("200", "OK"), ("201", "Created")], item, OBJECT_TYPES),
            ),
        );
        ops
    }

    /// `pods/log`: the log as text.
    fn log_ops(&self, scope: &str) -> Value {
        let kind = self.kind().kind;
        let string = json!({ "type": "string" });
        let content: Map<String, Value> = [
            "application/json",
            "application/vnd.kubernetes.protobuf",
            "application/yaml",
            "text/plain",
        ]
        .iter()
        .map(|t| (t.to_string(), json!({ "schema": string })))
        .collect();
        let mut path_params = self.path_params(true, LOG);
        path_params.push(query(&PRETTY));
        sort_by_name(&mut path_params);
        json!({
            "parameters": path_params,
            "get": self.operation(
                format!("read log of the specified {kind}"),
                self.operation_id("read", scope, "Log"),
                "get",
                Vec::new(),
                None,
                json!({
                    "200": { "description": "OK", "content": content },
                    "401": { "description": "Unauthorized" },
                }),
            ),
        })
    }

    /// The path-level parameters: `{name}` (for an object path), `{namespace}` (for a
    /// namespaced kind) and `extra`, sorted by name.
    fn path_params(&self, named: bool, extra: &[Param]) -> Vec<Value> {
        let kind = self.kind();
        let mut out = params(extra);
        if named {
            let description = format!("Name of the {}.", kind.kind);
            out.push(path_param("name", &description));
        }
        if kind.namespaced {
            out.push(path_param("namespace", "The namespace of the object."));
        }
        sort_by_name(&mut out);
        out
    }

    /// `listBatchV1NamespacedJob`, `readCoreV1NamespacedPodLog`, `deleteCoreV1CollectionNode`.
    fn operation_id(&self, verb: &str, scope: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{scope}{}{suffix}",
            gv_id(self.gv),
            self.kind().kind
        )
    }

    fn operation(
        &self,
        description: String,
        operation_id: String,
        action: &str,
        parameters: Vec<Value>,
        request_body: Option<Value>,
        responses: Value,
    ) -> Value {
        let kind = self.kind();
        let mut op = json!({
            "description": description,
            "operationId": operation_id,
            "responses": responses,
            "tags": [tag(self.gv)],
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {
                "group": kind.group,
                "kind": kind.kind,
                "version": kind.version,
            },
        });
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(request_body) = request_body {
            op["requestBody"] = request_body;
        }
        op
    }
}

fn query(p: &Param) -> Value {
    json!({
        "name": p.name,
        "in": "query",
        "description": p.description,
        "schema": { "type": p.ty },
    })
}

fn params(ps: &[Param]) -> Vec<Value> {
    ps.iter().map(query).collect()
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "required": true,
        "description": description,
        "schema": { "type": "string" },
    })
}

fn sort_by_name(params: &mut [Value]) {
    params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

fn content(schema: &str, types: &[&str]) -> Value {
    let reference = schema_ref(schema);
    Value::Object(
        types
            .iter()
            .map(|t| (t.to_string(), json!({ "schema": reference })))
            .collect(),
    )
}

fn body(schema: &str, types: &[&str]) -> Value {
    json!({ "content": content(schema, types), "required": true })
}

/// DeleteOptions may be omitted.
fn delete_body() -> Value {
    json!({ "content": content(&delete_options_name(), &["*/*"]) })
}

/// The given status codes, each answering `schema` in `types`, and 401.
fn responses(codes: &[(&str, &str)], schema: &str, types: &[&str]) -> Value {
    let mut out: Map<String, Value> = codes
        .iter()
        .map(|(code, description)| {
            let response = json!({ "description": description, "content": content(schema, types) });
            (code.to_string(), response)
        })
        .collect();
    out.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(out)
}

/// `CoreV1`, `BatchV1`, `CoordinationV1`: the group-version as operation ids spell it (the
/// group without `.k8s.io`, each dotted part capitalized; the core group is `Core`).
fn gv_id(gv: &GroupVersion) -> String {
    let group = match gv.group {
        "" => "core",
        g => g.strip_suffix(".k8s.io").unwrap_or(g),
    };
    let mut id: String = group.split('.').map(capitalize).collect();
    id.push_str(&capitalize(gv.version));
    id
}

/// `core_v1`, `batch_v1`, `coordination_v1`: the operations' tag.
fn tag(gv: &GroupVersion) -> String {
    let id = gv_id(gv);
    let version = capitalize(gv.version);
    let group = id.strip_suffix(&version).unwrap_or(&id);
    let mut chars = group.chars();
    let group: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    format!("{group}_{}", gv.version)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect()
}

/// `a Job`, `an Event` (the endpoint installer's `GetArticleForNoun`).
fn with_article(kind: &str) -> String {
    let article = match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    };
    format!("{article} {kind}")
}
