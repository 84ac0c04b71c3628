//! Writing responses: objects, lists and Tables as JSON or YAML, Status errors, and the
//! `Warning` headers of admission and field validation.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kbatch_core::object::Object;
use kbatch_core::openapi::V2;
use kbatch_core::printers::{self, IncludeObject};
use serde_json::{Value, json};

use super::negotiate::{Output, SWAGGER_PROTOBUF, SwaggerForm};
use crate::error::ApiError;
use crate::registry::ObjectList;

const JSON: &str = "application/json";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A Status error with its code.
pub fn error(e: &ApiError) -> Response {
    let mut value = serde_json::to_value(&*e.0).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("kind".into(), json!("Status"));
        map.insert("apiVersion".into(), json!("v1"));
        map.entry("metadata").or_insert_with(|| json!({}));
    }
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(code, &value)
}

pub fn json(code: StatusCode, value: &Value) -> Response {
    with_type(code, JSON, serde_json::to_vec(value).unwrap_or_default())
}

fn with_type(code: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = (code, body).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Aggregated discovery, with the Content-Type kubectl reads the format from.
pub fn aggregated(value: Value, version: &str) -> Response {
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    with_type(
        StatusCode::OK,
        &content_type,
        serde_json::to_vec(&value).unwrap_or_default(),
    )
}

/// An OpenAPI group-version document. Its URL carries the document's hash, so it may be
/// cached for good (kubectl then re-reads only the root).
pub fn openapi_document(bytes: Vec<u8>) -> Response {
    let mut r = with_type(StatusCode::OK, JSON, bytes);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, immutable"),
    );
    r
}

/// The OpenAPI v2 document in the negotiated form, with its hash as the ETag; a client that
/// sends that ETag back in `If-None-Match` gets 304 (kube-openapi's handler, through Go's
/// `http.ServeContent`).
pub fn swagger(v2: &V2, form: SwaggerForm, if_none_match: Option<&str>) -> Response {
    let etag = format!("\"{}\"", v2.hash);
    let mut r = if if_none_match.is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match form {
            SwaggerForm::Json => with_type(StatusCode::OK, JSON, v2.json.clone()),
            SwaggerForm::Protobuf => {
                with_type(StatusCode::OK, SWAGGER_PROTOBUF[1], v2.protobuf.clone())
            }
        }
    };
    let headers = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

/// Encodes a value in the requested output (Table is handled by the callers).
pub fn encode(code: StatusCode, output: Output, value: &Value) -> Response {
    match output {
        Output::Yaml => match serde_saphyr::to_string(value) {
            Ok(text) => with_type(code, "application/yaml", text.into_bytes()),
            Err(e) => error(&ApiError::internal(format!("encoding YAML: {e}"))),
        },
        Output::Json | Output::Table => json(code, value),
    }
}

/// One object, as JSON/YAML or as a one-row Table.
pub fn object(
    code: StatusCode,
    obj: &Object,
    output: Output,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Response {
    match output {
        Output::Table => table_response(code, &printers::object_table(obj, now, include)),
        Output::Json => with_type(code, JSON, obj.to_json_vec()),
        Output::Yaml => encode(code, Output::Yaml, &obj.to_json()),
    }
}

pub fn table_response(code: StatusCode, table: &kbatch_core::table::Table) -> Response {
    with_type(code, TABLE, serde_json::to_vec(table).unwrap_or_default())
}

/// A list page as `<Kind>List` or Table.
pub fn list(
    list: &ObjectList,
    output: Output,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Response {
    let rv = list.resource_version.to_string();
    match output {
        Output::Table => {
            let mut table = printers::table(&list.kind, &list.items, now, include);
            table.metadata.resource_version = Some(rv);
            table.metadata.continue_ = list.continue_token.clone();
            table_response(StatusCode::OK, &table)
        }
        other => {
            let mut metadata = json!({"resourceVersion": rv});
            if let Some(c) = &list.continue_token {
                metadata["continue"] = json!(c);
            }
            let items: Vec<Value> = list.items.iter().map(Object::to_json).collect();
            let value = json!({
                "kind": format!("{}List", list.kind.kind),
                "apiVersion": list.kind.api_version(),
                "metadata": metadata,
                "items": items,
            });
            encode(StatusCode::OK, other, &value)
        }
    }
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as the apiserver does.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

/// A streamed body with a content type (watch, follow logs).
pub fn stream(content_type: &str, body: Body) -> Response {
    let mut r = Response::new(body);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}
