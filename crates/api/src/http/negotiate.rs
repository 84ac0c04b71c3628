//! Content negotiation: what a client accepts (`Accept`: JSON, YAML, meta/v1 Table) and how
//! a request body is read (`Content-Type`: JSON, YAML, Kubernetes protobuf, the patch types).

use kbatch_core::decode::{self, Document};
use kbatch_core::object::Kind;
use kbatch_core::status;
use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::registry::PatchType;

/// The largest request body the apiserver reads (3 MiB, `MaxRequestBodyBytes`).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The representation a response takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// meta.k8s.io/v1 (or v1beta1) Table.
    Table,
}

/// Picks the response representation from `Accept`, in the client's order of preference.
/// Protobuf is never produced: clients that offer it also accept JSON (kubectl's typed
/// client sends `application/vnd.kubernetes.protobuf,application/json`).
pub fn output(accept: Option<&str>) -> Result<Output> {
    let accept = accept.unwrap_or("").trim();
    if accept.is_empty() {
        return Ok(Output::Json);
    }
    for range in accept.split(',') {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = None;
        let mut group = None;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(v.trim().to_owned()),
                    "g" => group = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let json_like = matches!(media.as_str(), "application/json" | "*/*" | "application/*");
        match (as_.as_deref(), group.as_deref()) {
            (Some("Table"), Some("meta.k8s.io")) if json_like => return Ok(Output::Table),
            // Other conversions (PartialObjectMetadata, APIGroupDiscoveryList on a resource)
            // are not offered here; the client lists a fallback after them.
            (Some(_), _) => continue,
            _ => {}
        }
        if json_like {
            return Ok(Output::Json);
        }
        if media == "application/yaml" {
            return Ok(Output::Yaml);
        }
    }
    Err(status::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io (got {accept:?})"
    ))
    .into())
}

/// A form of the OpenAPI v2 document (`GET /openapi/v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwaggerForm {
    Json,
    /// gnostic's `openapi.v2.Document`, which kubectl's discovery client asks for.
    Protobuf,
}

/// The protobuf media types of the OpenAPI v2 document, the first one kubectl's (kube-openapi's
/// handler answers both with the second).
pub const SWAGGER_PROTOBUF: [&str; 2] = [
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];

/// Picks the OpenAPI v2 document's form from `Accept`, in the client's order of preference,
/// JSON for a wildcard (kube-openapi's `handler`).
pub fn swagger_form(accept: Option<&str>) -> Result<SwaggerForm> {
    let accept = accept.unwrap_or("").trim();
    if accept.is_empty() {
        return Ok(SwaggerForm::Json);
    }
    for range in accept.split(',') {
        let media = range
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            return Ok(SwaggerForm::Json);
        }
        if SWAGGER_PROTOBUF.contains(&media.as_str()) {
            return Ok(SwaggerForm::Protobuf);
        }
    }
    Err(status::not_acceptable(format!(
        "only the following media types are accepted: application/json, {} (got {accept:?})",
        SWAGGER_PROTOBUF[1]
    ))
    .into())
}

/// The body of a request for an object that is answered, not stored (a TokenRequest, the
/// self reviews), typed. Its `status` is the server's to write, and is dropped: kubectl before
/// 1.32 sends it with Go's zero values, which k8s-openapi may refuse (a null time).
pub fn answered_body<T: serde::de::DeserializeOwned>(
    kind: &Kind,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T> {
    let mut value = body_document(content_type, body)?.value;
    let expected = || format!("an {} {} is expected", kind.api_version(), kind.kind);
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body is not an object; {}",
            expected()
        )));
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind_name = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if (!api_version.is_empty() && api_version != kind.api_version())
        || (!kind_name.is_empty() && kind_name != kind.kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body is a {api_version} {kind_name}; {}",
            expected()
        )));
    }
    obj.remove("status");
    obj.entry("spec")
        .or_insert_with(|| Value::Object(Default::default()));
    serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(format!(
            "{0} in version \"{1}\" cannot be handled as a {0}: {2} ({3})",
            kind.kind,
            kind.version,
            e.inner(),
            e.path()
        ))
    })
}

/// The media type of a body, without parameters; a missing Content-Type is JSON (the
/// Python client sends none).
fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A create/update body as a document: JSON, YAML, or Kubernetes protobuf.
pub fn body_document(content_type: Option<&str>, body: &[u8]) -> Result<Document> {
    let media = media_type(content_type);
    match media.as_str() {
        "application/json" | "" | "application/yaml" | "text/yaml" | "application/x-yaml" => {
            text_document(body)
        }
        "application/vnd.kubernetes.protobuf" => {
            let value = kbatch_core::protobuf::decode(body)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(Document {
                value,
                duplicates: Vec::new(),
            })
        }
        other => Err(status::unsupported_media_type(other).into()),
    }
}

fn text_document(body: &[u8]) -> Result<Document> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let mut docs = decode::parse_documents(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding the request body: {e}")))?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Err(ApiError::bad_request("the request body is empty")),
        n => Err(ApiError::bad_request(format!(
            "the request body holds {n} documents; one object is expected"
        ))),
    }
}

/// Makes a body's apiVersion and kind the URL's: missing ones are taken from the URL (the
/// apiserver decodes with the endpoint's kind as the default), another kind is refused
/// with 400.
pub fn fill_kind(expected: &Kind, doc: &mut Document) -> Result<()> {
    let Value::Object(map) = &mut doc.value else {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    };
    for field in ["apiVersion", "kind"] {
        if let Some(v) = map.get(field)
            && !v.is_string()
            && !v.is_null()
        {
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go struct field TypeMeta.{field} of type string",
                go_json_type(v)
            )));
        }
    }
    let blank = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
    if blank(map.get("apiVersion")) {
        map.insert("apiVersion".into(), Value::String(expected.api_version()));
    }
    if blank(map.get("kind")) {
        map.insert("kind".into(), Value::String(expected.kind.to_owned()));
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != expected.api_version() || kind != expected.kind {
        return Err(ApiError::bad_request(format!(
            "the object provided is of kind {kind} ({api_version}), but this endpoint serves {} ({})",
            expected.kind,
            expected.api_version()
        )));
    }
    Ok(())
}

/// How Go's encoding/json names a JSON value's type in its errors.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The patch type named by a PATCH's Content-Type.
pub fn patch_type(content_type: Option<&str>) -> Result<PatchType> {
    match media_type(content_type).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        other => Err(status::unsupported_media_type(other).into()),
    }
}

/// A patch body as JSON (apply patches may be YAML).
pub fn patch_body(patch_type: PatchType, body: &[u8]) -> Result<Value> {
    if patch_type == PatchType::Apply {
        return Ok(text_document(body)?.value);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(output(Some(get)).unwrap(), Output::Table);
        assert_eq!(
            output(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap(),
            Output::Json
        );
        assert_eq!(output(Some("application/json, */*")).unwrap(), Output::Json);
        assert_eq!(output(None).unwrap(), Output::Json);
        assert_eq!(output(Some("application/yaml")).unwrap(), Output::Yaml);
        let discovery =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(output(Some(discovery)).unwrap(), Output::Json);
        assert_eq!(output(Some("text/html")).unwrap_err().code(), 406);
        assert_eq!(
            output(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code(),
            406
        );
    }

    #[test]
    fn body_types() {
        assert!(body_document(None, br#"{"apiVersion":"v1","kind":"Namespace"}"#).is_ok());
        assert!(
            body_document(
                Some("application/yaml"),
                b"apiVersion: v1\nkind: Namespace\n"
            )
            .is_ok()
        );
        assert_eq!(
            body_document(Some("text/plain"), b"x").unwrap_err().code(),
            415
        );
        assert_eq!(body_document(None, b"{").unwrap_err().code(), 400);
        assert_eq!(body_document(None, b"").unwrap_err().code(), 400);
        assert_eq!(patch_type(Some("application/xml")).unwrap_err().code(), 415);
    }
}
