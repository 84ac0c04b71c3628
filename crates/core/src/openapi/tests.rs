use super::*;
use std::collections::HashSet;

const GV_PATHS: [&str; 5] = [
    "api/v1",
    "apis/batch/v1",
    "apis/coordination.k8s.io/v1",
    "apis/storage.k8s.io/v1",
    "apis/node.k8s.io/v1",
];

fn parsed(api: &OpenApi, gv_path: &str) -> Value {
    let bytes = api.document(gv_path).expect("a served group-version");
    serde_json::from_slice(bytes).expect("the document is JSON")
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn gvk_object(kind: &Kind) -> Value {
    json!({ "group": kind.group, "kind": kind.kind, "version": kind.version })
}

/// Every value in the document, depth first.
fn all_values(value: &Value) -> Vec<&Value> {
    let mut out = vec![value];
    match value {
        Value::Object(map) => map.values().for_each(|v| out.extend(all_values(v))),
        Value::Array(items) => items.iter().for_each(|v| out.extend(all_values(v))),
        _ => {}
    }
    out
}

/// cli-runtime's `queryParamVerifierV3`: the first PATCH operation carrying the kind must list a
/// `fieldValidation` query parameter, and kubectl's apply uses the schemas for its strategic
/// merge patch only when that operation accepts one.
#[test]
fn every_kind_has_patch_operations_with_field_validation_and_strategic_merge() {
    let api = OpenApi::build();
    for gv in GROUP_VERSIONS {
        let doc = parsed(&api, &gv.path());
        for served in gv.resources {
            let gvk = gvk_object(&served.kind);
            let patches: Vec<&Value> = doc["paths"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(|path| path.get("patch"))
                .filter(|op| op["x-kubernetes-group-version-kind"] == gvk)
                .collect();
            assert!(!patches.is_empty(), "no PATCH operation for {gvk}");
            for op in patches {
                let params = op["parameters"].as_array().unwrap();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                    "{gvk}: {op}"
                );
                assert!(params.iter().any(|p| p["name"] == "force"));
                let content = op["requestBody"]["content"].as_object().unwrap();
                for media in PATCH_MEDIA_TYPES {
                    assert!(content.contains_key(media), "{gvk} lacks {media}");
                }
            }
        }
    }
}

const PATCH_MEDIA_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// kubectl explain finds the kind's GVK on an operation of its collection (or object) path,
/// then the one schema whose `x-kubernetes-group-version-kind` contains it.
#[test]
fn explain_finds_each_kind_and_list_through_paths_and_gvk_extension() {
    let api = OpenApi::build();
    for gv in GROUP_VERSIONS {
        let doc = parsed(&api, &gv.path());
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for served in gv.resources {
            let kind = &served.kind;
            let prefix = format!("/{}", gv.path());
            let collection = if kind.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
            } else {
                format!("{prefix}/{}", kind.plural)
            };
            let gvk = gvk_object(kind);
            assert_eq!(
                doc["paths"][&collection]["get"]["x-kubernetes-group-version-kind"], gvk,
                "{collection}"
            );
            let list_kind = format!("{}List", kind.kind);
            for (k, expected_suffix) in [(kind.kind, kind.kind), (&list_kind, &list_kind)] {
                let wanted = json!([{ "group": kind.group, "kind": k, "version": kind.version }]);
                let carriers: Vec<&String> = schemas
                    .iter()
                    .filter(|(_, s)| s.get("x-kubernetes-group-version-kind") == Some(&wanted))
                    .map(|(name, _)| name)
                    .collect();
                assert_eq!(carriers.len(), 1, "{wanted}: {carriers:?}");
                assert!(carriers[0].ends_with(&format!(".{expected_suffix}")));
            }
        }
    }
}

#[test]
fn job_schema_has_upstream_shape() {
    let doc = parsed(&OpenApi::build(), "apis/batch/v1");
    let job = schema(&doc, "io.k8s.api.batch.v1.Job");
    assert_eq!(
        job["x-kubernetes-group-version-kind"],
        json!([{ "group": "batch", "kind": "Job", "version": "v1" }])
    );
    assert_eq!(job["type"], "object");
    assert_eq!(
        job["description"],
        "Job represents the configuration of a single job."
    );
    // Upstream Job requires nothing; k8s-openapi's required metadata is dropped.
    assert!(job.get("required").is_none());
    let spec = &job["properties"]["spec"];
    assert_eq!(
        spec["allOf"],
        json!([{ "$ref": "#/components/schemas/io.k8s.api.batch.v1.JobSpec" }])
    );
    assert_eq!(spec["default"], json!({}));
    assert!(
        spec["description"]
            .as_str()
            .unwrap()
            .starts_with("Specification of the desired")
    );
    assert!(spec.get("$ref").is_none());

    let backoff = &schema(&doc, "io.k8s.api.batch.v1.JobSpec")["properties"]["backoffLimit"];
    assert_eq!(backoff["type"], "integer");
    assert_eq!(backoff["format"], "int32");
    assert!(
        backoff["description"]
            .as_str()
            .unwrap()
            .starts_with("Specifies the number of retries before marking this job failed.")
    );

    let list = schema(&doc, "io.k8s.api.batch.v1.JobList");
    assert_eq!(list["required"], json!(["items"]));
    assert_eq!(
        list["properties"]["items"]["items"],
        json!({
            "allOf": [{ "$ref": "#/components/schemas/io.k8s.api.batch.v1.Job" }],
            "default": {},
        })
    );
    assert_eq!(
        list["properties"]["metadata"]["allOf"],
        json!([{ "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta" }])
    );
    assert_eq!(list["properties"]["kind"], job["properties"]["kind"]);
}

#[test]
fn every_ref_points_into_components() {
    let api = OpenApi::build();
    for gv_path in GV_PATHS {
        let doc = parsed(&api, gv_path);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = 0;
        for value in all_values(&doc) {
            if let Some(r) = value.get("$ref") {
                let name = r
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("{gv_path}: foreign $ref {r}"));
                assert!(
                    schemas.contains_key(name),
                    "{gv_path}: dangling $ref {name}"
                );
                refs += 1;
            }
        }
        assert!(refs > 10, "{gv_path} has only {refs} references");
    }
}

/// What JSON Schema has and OpenAPI 3.0 does not: `$defs`, `$schema`, `const`, type arrays
/// (nullable types), boolean schemas.
#[test]
fn documents_are_openapi_3_0() {
    let api = OpenApi::build();
    for gv_path in GV_PATHS {
        let doc = parsed(&api, gv_path);
        assert_eq!(doc["openapi"], "3.0.0");
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            check_openapi_3_0(name, schema);
        }
    }
}

fn check_openapi_3_0(name: &str, schema: &Value) {
    let obj = schema
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object schema: {schema}"));
    for keyword in ["$defs", "definitions", "$schema", "const", "examples"] {
        assert!(!obj.contains_key(keyword), "{name}: {keyword}");
    }
    if let Some(ty) = obj.get("type") {
        assert!(ty.is_string(), "{name}: type {ty}");
    }
    let mut subschemas: Vec<&Value> = Vec::new();
    if let Some(Value::Object(properties)) = obj.get("properties") {
        subschemas.extend(properties.values());
    }
    subschemas.extend(obj.get("items"));
    if let Some(additional) = obj.get("additionalProperties").filter(|a| !a.is_boolean()) {
        subschemas.push(additional);
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(all)) = obj.get(combinator) {
            subschemas.extend(all);
        }
    }
    for sub in subschemas {
        check_openapi_3_0(name, sub);
    }
}

#[test]
fn int_or_string_and_quantity_use_one_of() {
    let doc = parsed(&OpenApi::build(), "api/v1");
    let ios = schema(&doc, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_eq!(ios["format"], "int-or-string");
    assert_eq!(
        ios["oneOf"],
        json!([{ "type": "integer" }, { "type": "string" }])
    );
    assert!(ios.get("x-kubernetes-int-or-string").is_none());
    let quantity = schema(&doc, "io.k8s.apimachinery.pkg.api.resource.Quantity");
    assert_eq!(
        quantity["oneOf"],
        json!([{ "type": "string" }, { "type": "number" }])
    );
}

/// kubectl's client-side apply reads `x-kubernetes-patch-merge-key` and
/// `x-kubernetes-patch-strategy` (strategicpatch.PatchMetaFromOpenAPIV3); without them it would
/// replace containers, env and volumes whole.
#[test]
fn lists_carry_merge_markers() {
    let api = OpenApi::build();
    for gv_path in ["api/v1", "apis/batch/v1"] {
        let doc = parsed(&api, gv_path);
        let pod_spec = &schema(&doc, "io.k8s.api.core.v1.PodSpec")["properties"];
        assert_eq!(
            pod_spec["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert_eq!(
            pod_spec["containers"]["x-kubernetes-patch-strategy"],
            "merge"
        );
        assert_eq!(pod_spec["containers"]["x-kubernetes-list-type"], "map");
        assert_eq!(
            pod_spec["containers"]["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            pod_spec["volumes"]["x-kubernetes-patch-strategy"],
            "merge,retainKeys"
        );
        assert_eq!(
            pod_spec["topologySpreadConstraints"]["x-kubernetes-list-map-keys"],
            json!(["topologyKey", "whenUnsatisfiable"])
        );
        let container = &schema(&doc, "io.k8s.api.core.v1.Container")["properties"];
        assert_eq!(container["env"]["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(
            container["ports"]["x-kubernetes-patch-merge-key"],
            "containerPort"
        );
        assert!(
            container["command"]
                .get("x-kubernetes-patch-strategy")
                .is_none()
        );
        let meta = &schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")["properties"];
        assert_eq!(meta["finalizers"]["x-kubernetes-list-type"], "set");
        assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
    }
    let core = parsed(&api, "api/v1");
    let node_status = &schema(&core, "io.k8s.api.core.v1.NodeStatus")["properties"];
    assert_eq!(
        node_status["addresses"]["x-kubernetes-patch-merge-key"],
        "type"
    );
}

#[test]
fn zero_value_defaults_as_openapi_gen_writes_them() {
    let doc = parsed(&OpenApi::build(), "apis/batch/v1");
    let cron_spec = &schema(&doc, "io.k8s.api.batch.v1.CronJobSpec")["properties"];
    assert_eq!(cron_spec["schedule"]["default"], "");
    assert_eq!(cron_spec["jobTemplate"]["default"], json!({}));
    assert!(cron_spec["suspend"].get("default").is_none());
    let container = &schema(&doc, "io.k8s.api.core.v1.Container")["properties"];
    assert_eq!(container["name"]["default"], "");
    assert_eq!(container["command"]["items"]["default"], "");
    let labels =
        &schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")["properties"]["labels"];
    assert_eq!(labels["additionalProperties"]["default"], "");
    // A pointer field (an optional reference that is not metadata, spec or status) has none.
    let condition = &schema(&doc, "io.k8s.api.batch.v1.JobCondition")["properties"];
    assert!(condition["lastProbeTime"].get("default").is_none());
    // Status embeds ListMeta by value, and requires nothing upstream.
    let status = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Status");
    assert!(status.get("required").is_none());
    assert_eq!(status["properties"]["metadata"]["default"], json!({}));
}

#[test]
fn meta_types_list_every_served_group_version() {
    let doc = parsed(&OpenApi::build(), "apis/coordination.k8s.io/v1");
    let status = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Status");
    assert_eq!(
        status["x-kubernetes-group-version-kind"],
        json!([{ "group": "", "kind": "Status", "version": "v1" }])
    );
    for (name, kind) in [
        (
            "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            "DeleteOptions",
        ),
        (
            "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
            "WatchEvent",
        ),
    ] {
        let expected: Vec<Value> = [
            "",
            "batch",
            "coordination.k8s.io",
            "storage.k8s.io",
            "node.k8s.io",
        ]
        .iter()
        .map(|g| json!({ "group": g, "kind": kind, "version": "v1" }))
        .collect();
        assert_eq!(
            schema(&doc, name)["x-kubernetes-group-version-kind"],
            Value::Array(expected)
        );
    }
}

#[test]
fn operations_follow_the_endpoint_installer() {
    let api = OpenApi::build();
    let batch = parsed(&api, "apis/batch/v1");
    let jobs = &batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs"];
    assert_eq!(jobs["get"]["operationId"], "listBatchV1NamespacedJob");
    assert_eq!(jobs["get"]["x-kubernetes-action"], "list");
    assert!(
        jobs["get"]["responses"]["200"]["content"]
            .get("application/json;stream=watch")
            .is_some()
    );
    let list_params: Vec<&str> = jobs["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(list_params.contains(&"watch") && list_params.contains(&"labelSelector"));
    assert_eq!(jobs["post"]["operationId"], "createBatchV1NamespacedJob");
    assert_eq!(
        jobs["delete"]["operationId"],
        "deleteBatchV1CollectionNamespacedJob"
    );
    assert_eq!(jobs["delete"]["x-kubernetes-action"], "deletecollection");
    assert_eq!(
        jobs["parameters"],
        json!([
            {
                "name": "namespace",
                "in": "path",
                "required": true,
                "description": "The namespace of the object.",
                "schema": { "type": "string" },
            },
            {
                "name": "pretty",
                "in": "query",
                "description": "If 'true', the output is pretty printed.",
                "schema": { "type": "string" },
            },
        ])
    );
    let job = &batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"];
    assert_eq!(
        job["delete"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    );
    assert_eq!(job["put"]["operationId"], "replaceBatchV1NamespacedJob");
    let status = &batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status"];
    assert_eq!(
        status["patch"]["operationId"],
        "patchBatchV1NamespacedJobStatus"
    );
    assert_eq!(
        status["patch"]["x-kubernetes-group-version-kind"],
        gvk_object(&JOB)
    );
    assert_eq!(
        batch["paths"]["/apis/batch/v1/jobs"]["get"]["operationId"],
        "listBatchV1JobForAllNamespaces"
    );

    let core = parsed(&api, "api/v1");
    let pod = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert_eq!(
        pod["delete"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Pod"
    );
    let log = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"];
    assert_eq!(log["get"]["operationId"], "readCoreV1NamespacedPodLog");
    assert_eq!(
        log["get"]["responses"]["200"]["content"]["text/plain"]["schema"],
        json!({ "type": "string" })
    );
    assert!(
        log["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "follow")
    );
    let namespace = &core["paths"]["/api/v1/namespaces/{name}"];
    assert_eq!(namespace["patch"]["operationId"], "patchCoreV1Namespace");
    assert!(
        core["paths"]
            .get("/api/v1/namespaces/{name}/status")
            .is_some()
    );
    assert!(
        core["paths"]
            .get("/api/v1/namespaces/{namespace}/events/{name}/status")
            .is_none()
    );
    assert_eq!(
        core["paths"]["/api/v1/"]["get"]["operationId"],
        "getCoreV1APIResources"
    );

    let lease = parsed(&api, "apis/coordination.k8s.io/v1");
    let leases = &lease["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"];
    assert_eq!(
        leases["get"]["operationId"],
        "listCoordinationV1NamespacedLease"
    );
    assert_eq!(leases["get"]["tags"], json!(["coordination_v1"]));
}

/// The hash is what lets kubectl cache a document; it must not change between builds of the
/// same types.
#[test]
fn documents_and_hashes_are_deterministic() {
    let first = OpenApi::build();
    let second = OpenApi::build();
    for gv_path in GV_PATHS {
        assert_eq!(first.document(gv_path), second.document(gv_path));
        let hash = first.hash(gv_path).unwrap();
        assert_eq!(Some(hash), second.hash(gv_path));
        let expected: String = Sha512::digest(first.document(gv_path).unwrap())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(hash, expected);
    }
    assert_eq!(first.root(), second.root());
}

#[test]
fn root_lists_every_group_version_with_its_hash() {
    let api = OpenApi::build();
    let root = api.root();
    let paths = root["paths"].as_object().unwrap();
    assert_eq!(
        paths.keys().collect::<Vec<_>>(),
        GV_PATHS.iter().collect::<Vec<_>>()
    );
    for gv_path in GV_PATHS {
        let hash = api.hash(gv_path).unwrap();
        assert_eq!(hash.len(), 128);
        assert_eq!(
            paths[gv_path]["serverRelativeURL"],
            format!("/openapi/v3/{gv_path}?hash={hash}")
        );
    }
    assert!(api.document("apis/apps/v1").is_none());
    assert!(api.hash("/apis/batch/v1").is_none());
}

/// The served table names each kind next to its k8s-openapi type; a mismatch would put one
/// kind's GVK on another's schema.
#[test]
fn served_kinds_match_their_types_and_group_versions() {
    for gv in GROUP_VERSIONS {
        let mut generator = schemas::generator();
        for served in gv.resources {
            assert_eq!(
                (served.kind.group, served.kind.version),
                (gv.group, gv.version)
            );
            let names = (served.register)(&mut generator);
            assert!(
                names.item.ends_with(&format!(".{}", served.kind.kind)),
                "{}",
                names.item
            );
            assert!(names.list.ends_with(&format!(".{}List", served.kind.kind)));
        }
    }
}

/// The v2 document as kubectl 1.27 and 1.28 read it: gnostic's protobuf.
fn v2_protobuf(api: &OpenApi) -> gnostic::Document {
    use prost::Message as _;
    gnostic::Document::decode(api.v2().protobuf.as_slice()).expect("a gnostic Document")
}

/// kube-openapi's `proto.NewOpenAPIData`, which kubectl 1.27 and 1.28 run on the document
/// before `apply`, `create -f` and `explain`, and whose error fails the command: a reference
/// points into `#/definitions/` at a definition that exists and has no type or properties
/// beside it; a schema has at most one type; an array has exactly one item schema; a
/// primitive is a string, number, integer or boolean.
#[test]
fn every_v2_definition_parses_as_kube_openapi_parses_it() {
    fn check(s: &gnostic::Schema, names: &HashSet<&str>, path: &str) {
        if !s.r#ref.is_empty() {
            let target = s
                .r#ref
                .strip_prefix("#/definitions/")
                .unwrap_or_else(|| panic!("{path}: reference {}", s.r#ref));
            assert!(names.contains(target), "{path}: unknown model {target}");
            assert!(s.r#type.is_none(), "{path}: a reference with a type");
            assert!(
                s.properties.is_none(),
                "{path}: a reference with properties"
            );
            return;
        }
        let types = s.r#type.as_ref().map(|t| t.value.as_slice()).unwrap_or(&[]);
        assert!(types.len() <= 1, "{path}: types {types:?}");
        match types.first().map(String::as_str) {
            Some("array") => {
                let items = s.items.as_ref().map(|i| i.schema.as_slice()).unwrap_or(&[]);
                assert_eq!(items.len(), 1, "{path}: an array's item schemas");
                check(&items[0], names, &format!("{path}[]"));
            }
            Some("object") | None => {}
            Some(t) => assert!(
                ["string", "number", "integer", "boolean"].contains(&t),
                "{path}: primitive {t}"
            ),
        }
        for p in s.properties.iter().flat_map(|p| &p.additional_properties) {
            let schema = p.value.as_ref().expect("a property's schema");
            check(schema, names, &format!("{path}.{}", p.name));
        }
        if let Some(gnostic::AdditionalPropertiesOneof::Schema(sub)) = s
            .additional_properties
            .as_ref()
            .and_then(|a| a.oneof.as_ref())
        {
            check(sub, names, &format!("{path}{{}}"));
        }
    }
    let api = OpenApi::build();
    let doc = v2_protobuf(&api);
    assert_eq!(doc.swagger, "2.0");
    let defs = &doc
        .definitions
        .as_ref()
        .expect("definitions")
        .additional_properties;
    let names: HashSet<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    for d in defs {
        check(
            d.value.as_ref().expect("a definition's schema"),
            &names,
            &d.name,
        );
    }
    // Every v3 schema of every group-version is a v2 definition.
    for gv_path in GV_PATHS {
        for name in parsed(&api, gv_path)["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(names.contains(name.as_str()), "{name} missing from v2");
        }
    }
}

/// cli-runtime's `QueryParamVerifier` (v2), kubectl 1.27's and 1.28's: the first PATCH
/// operation whose `x-kubernetes-group-version-kind` (YAML of one GVK) is the kind's lists a
/// `fieldValidation` query parameter; otherwise kubectl validates on its own side.
#[test]
fn every_kind_has_a_v2_patch_operation_with_field_validation() {
    let api = OpenApi::build();
    let doc = v2_protobuf(&api);
    let paths = &doc.paths.as_ref().expect("paths").path;
    for gv in GROUP_VERSIONS {
        for served in gv.resources {
            let want = gvk_object(&served.kind);
            let op = paths
                .iter()
                .filter_map(|p| p.value.as_ref()?.patch.as_ref())
                .find(|op| {
                    op.vendor_extension.iter().any(|e| {
                        e.name == "x-kubernetes-group-version-kind"
                            && e.value.as_ref().is_some_and(|v| {
                                serde_saphyr::from_str::<Value>(&v.yaml).ok() == Some(want.clone())
                            })
                    })
                })
                .unwrap_or_else(|| panic!("no PATCH operation for {want}"));
            let field_validation = op.parameters.iter().any(|p| {
                let Some(gnostic::ParametersItemOneof::Parameter(param)) = p.oneof.as_ref() else {
                    return false;
                };
                matches!(
                    param.oneof.as_ref(),
                    Some(gnostic::ParameterOneof::NonBodyParameter(gnostic::NonBodyParameter {
                        oneof: Some(gnostic::NonBodyParameterOneof::Query(q)),
                    })) if q.name == "fieldValidation" && q.r#in == "query"
                )
            });
            assert!(field_validation, "{want}: {op:?}");
            assert!(
                op.consumes
                    .iter()
                    .any(|c| c == "application/strategic-merge-patch+json"),
                "{want}: {:?}",
                op.consumes
            );
        }
    }
}

/// What v2 spells differently from v3, as upstream's swagger.json has it.
#[test]
fn v2_spells_references_and_union_types_as_swagger_does() {
    let api = OpenApi::build();
    let doc: Value = serde_json::from_slice(&api.v2().json).expect("JSON");
    let defs = &doc["definitions"];
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"],
        "string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
        "int-or-string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    let metadata = &defs["io.k8s.api.batch.v1.Job"]["properties"]["metadata"];
    assert_eq!(
        metadata["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(metadata["description"].is_string() && metadata.get("allOf").is_none());
    assert_eq!(
        defs["io.k8s.api.batch.v1.Job"]["x-kubernetes-group-version-kind"],
        json!([gvk_object(&JOB)])
    );
    let text = String::from_utf8(api.v2().json.clone()).unwrap();
    assert!(!text.contains("#/components/"));
    assert!(!text.contains("\"oneOf\"") && !text.contains("\"nullable\""));

    // A request body is a `body` parameter; the media types are the operation's.
    let create = &doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs"]["post"];
    let body = &create["parameters"][0];
    assert_eq!(body["in"], "body");
    assert_eq!(body["name"], "body");
    assert_eq!(
        body["schema"]["$ref"],
        "#/definitions/io.k8s.api.batch.v1.Job"
    );
    assert!(
        create["produces"]
            .as_array()
            .unwrap()
            .contains(&json!("application/json"))
    );
    let dry_run = create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dryRun")
        .expect("dryRun");
    assert_eq!(dry_run["type"], "string");
    assert!(dry_run.get("schema").is_none());
    assert_eq!(
        create["responses"]["201"]["schema"]["$ref"],
        "#/definitions/io.k8s.api.batch.v1.Job"
    );
}
