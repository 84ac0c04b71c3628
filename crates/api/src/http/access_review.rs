//! `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` and `…/selfsubjectrulesreviews`:
//! what the caller may do, asked of the same authorizers every request goes through
//! (`kubectl auth can-i`, `kubectl auth can-i --list`). Neither review is stored.

use axum::http::{StatusCode, header};
use axum::response::Response;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectRulesReview,
};
use kbatch_core::field::{BadValue, FieldError, Path};
use kbatch_core::object::{ADMITTED_KINDS, Kind, SELFSUBJECTACCESSREVIEW, SELFSUBJECTRULESREVIEW};
use kbatch_core::status;
use serde_json::{Value, json};

use super::negotiate::{self, Output};
use super::respond;
use crate::authn::User;
use crate::authz::Attributes;
use crate::error::{ApiError, Result};
use crate::registry::Registry;

pub(super) const ACCESS_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
pub(super) const RULES_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

/// The node authorizer's answer to a rules review (`NodeAuthorizer.RulesFor`).
const NODE_RULES_ERROR: &str = "node authorizer does not support user rule resolution";

/// The review the body holds, typed; its `status` is the server's to write (kubectl sends
/// `"status":{"allowed":false}`).
fn review<T: serde::de::DeserializeOwned>(
    kind: &Kind,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T> {
    let doc = negotiate::body_document(content_type, body)?;
    let mut value = doc.value;
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body is not an object; an {} {} is expected",
            kind.api_version(),
            kind.kind
        )));
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind_name = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if (!api_version.is_empty() && api_version != kind.api_version())
        || (!kind_name.is_empty() && kind_name != kind.kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body is a {api_version} {kind_name}; an {} {} is expected",
            kind.api_version(),
            kind.kind
        )));
    }
    obj.remove("status");
    obj.entry("spec").or_insert_with(|| json!({}));
    serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(format!(
            "{0} in version \"v1\" cannot be handled as a {0}: {1} ({2})",
            kind.kind,
            e.inner(),
            e.path()
        ))
    })
}

/// The review with the server's status, as the response.
fn answer<T: serde::Serialize>(kind: &Kind, review: &T, status: Value, output: Output) -> Response {
    let mut value = serde_json::to_value(review).unwrap_or_else(|_| json!({}));
    value["apiVersion"] = kind.api_version().into();
    value["kind"] = kind.kind.into();
    value["status"] = status;
    respond::encode(StatusCode::CREATED, output, &value)
}

/// `SelfSubjectAccessReview`: whether the caller may do what `spec` describes.
pub(super) async fn access(
    registry: &Registry,
    user: &User,
    content_type: Option<&str>,
    output: Output,
    body: &[u8],
) -> Result<Response> {
    let review: SelfSubjectAccessReview = review(&SELFSUBJECTACCESSREVIEW, content_type, body)?;
    let spec = &review.spec;
    // ValidateSelfSubjectAccessReviewSpec (1.32).
    let problem = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(_), Some(n)) => Some(FieldError::invalid(
            &Path::new("spec").child("nonResourceAttributes"),
            BadValue::Json(serde_json::to_value(n).unwrap_or_default()),
            "cannot be specified in combination with resourceAttributes",
        )),
        // Go's field errors print a nil pointer as the string "null".
        (None, None) => Some(FieldError::invalid(
            &Path::new("spec").child("resourceAttributes"),
            "null",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => None,
    };
    if let Some(e) = problem {
        return Err(status::invalid(&SELFSUBJECTACCESSREVIEW, "", &vec![e]).into());
    }
    let denied = match &spec.resource_attributes {
        Some(attrs) => resource_decision(registry, user, attrs).await?,
        // Only the admin and service accounts (AlwaysAllow) reach non-resource URLs.
        None => (user.is_bootstrapper() || user.node_name().is_some()).then(String::new),
    };
    let status = match denied {
        None => json!({ "allowed": true }),
        Some(reason) if reason.is_empty() => json!({ "allowed": false }),
        Some(reason) => json!({ "allowed": false, "reason": reason }),
    };
    Ok(answer(&SELFSUBJECTACCESSREVIEW, &review, status, output))
}

/// The decision on resource attributes: `None` when allowed, else the reason.
async fn resource_decision(
    registry: &Registry,
    user: &User,
    attrs: &ResourceAttributes,
) -> Result<Option<String>> {
    let field = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let group = field(&attrs.group).unwrap_or_default();
    let version = field(&attrs.version).filter(|v| v != "*");
    let served = field(&attrs.resource).and_then(|plural| {
        ADMITTED_KINDS.iter().find(|k| {
            k.group == group
                && k.plural == plural
                && version.as_deref().is_none_or(|v| v == k.version)
        })
    });
    let Some(kind) = served else {
        // What kbatch does not serve: allowed to the callers every request is allowed to
        // (it would then be a 404), refused to the others.
        let limited = user.is_bootstrapper() || user.node_name().is_some();
        return Ok(limited.then(String::new));
    };
    let (verb, subresource, namespace, name) = (
        field(&attrs.verb).unwrap_or_default(),
        field(&attrs.subresource),
        field(&attrs.namespace).filter(|_| kind.namespaced),
        field(&attrs.name),
    );
    let attributes = Attributes {
        verb: &verb,
        kind,
        subresource: subresource.as_deref(),
        namespace: namespace.as_deref(),
        name: name.as_deref(),
    };
    registry.decide(user, &attributes).await
}

/// `SelfSubjectRulesReview`: the rules the caller's requests are checked against.
pub(super) fn rules(
    user: &User,
    content_type: Option<&str>,
    output: Output,
    body: &[u8],
) -> Result<Response> {
    let review: SelfSubjectRulesReview = review(&SELFSUBJECTRULESREVIEW, content_type, body)?;
    let status = if user.node_name().is_some() {
        json!({
            "resourceRules": [],
            "nonResourceRules": [],
            "incomplete": true,
            "evaluationError": NODE_RULES_ERROR,
        })
    } else if user.is_bootstrapper() {
        json!({ "resourceRules": [], "nonResourceRules": [], "incomplete": false })
    } else {
        // AlwaysAllow's RulesFor.
        json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        })
    };
    Ok(answer(&SELFSUBJECTRULESREVIEW, &review, status, output))
}

/// The request's Content-Type, for the body's decoding.
pub(super) fn content_type(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}
