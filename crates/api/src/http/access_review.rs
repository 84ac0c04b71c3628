//! `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` and `…/selfsubjectrulesreviews`:
//! what the caller may do, asked of the same authorizers every request goes through
//! (`kubectl auth can-i`, `kubectl auth can-i --list`). Neither review is stored.

use axum::http::StatusCode;
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
use crate::error::Result;
use crate::registry::Registry;

pub(super) const ACCESS_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
pub(super) const RULES_PATH: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

/// The node authorizer's answer to a rules review (`NodeAuthorizer.RulesFor`).
const NODE_RULES_ERROR: &str = "node authorizer does not support user rule resolution";

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
    let review: SelfSubjectAccessReview =
        negotiate::answered_body(&SELFSUBJECTACCESSREVIEW, content_type, body)?;
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
        None => (!Registry::unrestricted(user)).then(String::new),
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
        return Ok((!Registry::unrestricted(user)).then(String::new));
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
    let review: SelfSubjectRulesReview =
        negotiate::answered_body(&SELFSUBJECTRULESREVIEW, content_type, body)?;
    let status = if Registry::unrestricted(user) {
        // AlwaysAllow's RulesFor.
        json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        })
    } else if user.node_name().is_some() {
        json!({
            "resourceRules": [],
            "nonResourceRules": [],
            "incomplete": true,
            "evaluationError": NODE_RULES_ERROR,
        })
    } else {
        // A bootstrap token: nothing.
        json!({ "resourceRules": [], "nonResourceRules": [], "incomplete": false })
    };
    Ok(answer(&SELFSUBJECTRULESREVIEW, &review, status, output))
}
