//! The OpenAPI v2 (Swagger 2.0) document of everything served, `GET /openapi/v2`, derived from
//! the v3 group-version documents as kube-openapi derives both from one set of definitions.
//!
//! kubectl 1.27 and 1.28 need it for `apply`, `create -f` and `explain`: before they send an
//! object they download and parse it (kube-openapi's `proto.NewOpenAPIData`) and fail the
//! command when it is missing; their field-validation check looks for a `fieldValidation`
//! query parameter on the kind's PATCH operation here, not in v3 (cli-runtime's
//! `QueryParamVerifier`). kube-openapi's parser refuses a `$ref` with a type or properties
//! beside it, a reference outside `#/definitions/`, an array without exactly one item schema
//! and a schema with more than one type, so the conversion writes none of those.
//!
//! What differs between the two versions, for these documents:
//! - `#/components/schemas/X` is `#/definitions/X`;
//! - v3 wraps a reference that has a description or default in `allOf: [{$ref}]`; v2 puts
//!   them beside the `$ref`;
//! - v3 spells Quantity and IntOrString as `oneOf` of their types; v2 as a `string` (with
//!   `format: int-or-string` for the latter), as upstream's swagger.json does;
//! - a non-body parameter has its type itself rather than a `schema`; a request body is a
//!   parameter `in: body` named `body`; media types are the operation's `consumes` and
//!   `produces` instead of a `content` map per body and response.

use serde_json::{Map, Value, json};

use super::schemas::REF_PREFIX;

const V2_REF_PREFIX: &str = "#/definitions/";

/// The v2 document of the given v3 group-version documents.
pub(super) fn document(v3: &[Value]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for doc in v3 {
        if let Some(Value::Object(p)) = doc.get("paths") {
            for (path, item) in p {
                paths.insert(path.clone(), path_item(item));
            }
        }
        if let Some(Value::Object(schemas)) = doc.pointer("/components/schemas") {
            for (name, s) in schemas {
                definitions.entry(name.clone()).or_insert_with(|| schema(s));
            }
        }
    }
    let mut doc = json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": "unversioned" },
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "security": [{ "BearerToken": [] }],
    });
    super::sort_keys(&mut doc);
    doc
}

/// A v3 schema in v2's spelling.
fn schema(v3: &Value) -> Value {
    let Value::Object(s) = v3 else {
        return v3.clone();
    };
    let mut out = Map::new();
    for (key, value) in s {
        match key.as_str() {
            "$ref" => {
                out.insert(key.clone(), Value::String(reference(value)));
            }
            "allOf" => match value.as_array().map(Vec::as_slice) {
                // `{allOf: [{$ref}], description, default}`: the reference with its siblings.
                Some([only]) if only.get("$ref").is_some() => {
                    if let Some(r) = only.get("$ref") {
                        out.insert("$ref".to_owned(), Value::String(reference(r)));
                    }
                }
                Some(all) => {
                    out.insert(key.clone(), Value::Array(all.iter().map(schema).collect()));
                }
                None => {}
            },
            "oneOf" | "anyOf" => {
                // Quantity (string or number) and IntOrString (integer or string).
                let types: Vec<&str> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|alt| alt.get("type").and_then(Value::as_str))
                    .collect();
                if types.contains(&"string") && !s.contains_key("type") {
                    out.insert("type".to_owned(), Value::String("string".to_owned()));
                }
            }
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), schema(v))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" if value.is_object() => {
                out.insert(key.clone(), schema(value));
            }
            // OpenAPI 3.0 only.
            "nullable" | "writeOnly" | "deprecated" | "x-kubernetes-int-or-string" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if out.contains_key("$ref") {
        // kube-openapi's parser refuses a reference with a type or properties beside it.
        out.remove("type");
        out.remove("properties");
    }
    Value::Object(out)
}

fn reference(v3: &Value) -> String {
    let r = v3.as_str().unwrap_or_default();
    match r.strip_prefix(REF_PREFIX) {
        Some(name) => format!("{V2_REF_PREFIX}{name}"),
        None => r.to_owned(),
    }
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

fn path_item(v3: &Value) -> Value {
    let mut out = Map::new();
    if let Some(Value::Array(params)) = v3.get("parameters") {
        out.insert(
            "parameters".to_owned(),
            Value::Array(params.iter().map(parameter).collect()),
        );
    }
    for method in METHODS {
        if let Some(op) = v3.get(method) {
            out.insert(method.to_owned(), operation(op));
        }
    }
    Value::Object(out)
}

fn operation(v3: &Value) -> Value {
    let Value::Object(op) = v3 else {
        return v3.clone();
    };
    let mut out = Map::new();
    let mut parameters: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(parameter).collect())
        .unwrap_or_default();
    if let Some(body) = op.get("requestBody") {
        let (types, schema) = content(body.get("content"));
        let mut param = json!({ "in": "body", "name": "body" });
        if let Some(s) = schema {
            param["schema"] = s;
        }
        if body.get("required").and_then(Value::as_bool) == Some(true) {
            param["required"] = Value::Bool(true);
        }
        parameters.insert(0, param);
        out.insert("consumes".to_owned(), json!(types));
    }
    if !parameters.is_empty() {
        out.insert("parameters".to_owned(), Value::Array(parameters));
    }
    let mut produces: Vec<String> = Vec::new();
    let mut responses = Map::new();
    if let Some(Value::Object(rs)) = op.get("responses") {
        for (code, r) in rs {
            let (types, schema) = content(r.get("content"));
            for t in types {
                if !produces.contains(&t) {
                    produces.push(t);
                }
            }
            let mut response = Map::new();
            if let Some(d) = r.get("description") {
                response.insert("description".to_owned(), d.clone());
            }
            if let Some(s) = schema {
                response.insert("schema".to_owned(), s);
            }
            responses.insert(code.clone(), Value::Object(response));
        }
    }
    if !produces.is_empty() {
        out.insert("produces".to_owned(), json!(produces));
    }
    out.insert("responses".to_owned(), Value::Object(responses));
    out.insert("schemes".to_owned(), json!(["https"]));
    for (key, value) in op {
        match key.as_str() {
            "parameters" | "requestBody" | "responses" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// A v3 `content` map: its media types, and the schema of the first (they are all the same
/// schema in these documents).
fn content(v3: Option<&Value>) -> (Vec<String>, Option<Value>) {
    let Some(Value::Object(c)) = v3 else {
        return (Vec::new(), None);
    };
    let types = c.keys().cloned().collect();
    let schema = c.values().find_map(|m| m.get("schema")).map(schema);
    (types, schema)
}

/// A non-body parameter: its schema's type and format move up beside its name.
fn parameter(v3: &Value) -> Value {
    let Value::Object(p) = v3 else {
        return v3.clone();
    };
    let mut out = Map::new();
    for (key, value) in p {
        match key.as_str() {
            "schema" => {
                if let Value::Object(s) = value {
                    for (k, v) in s {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            "style" | "explode" | "allowReserved" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}
