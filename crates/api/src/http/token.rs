//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the TokenRequest subresource
//! (`kubectl create token`), answered by [`crate::registry::Registry::create_token`].

use axum::http::{StatusCode, header};
use axum::response::Response;
use k8s_openapi::api::authentication::v1::TokenRequest;

use super::negotiate;
use super::resources::Call;
use super::respond;
use crate::error::{ApiError, Result};

pub(super) async fn create(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let doc = negotiate::body_document(call.header(header::CONTENT_TYPE), body)?;
    let mut value = doc.value;
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let kind = value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    if (!api_version.is_empty() && api_version != "authentication.k8s.io/v1")
        || (!kind.is_empty() && kind != "TokenRequest")
    {
        return Err(ApiError::bad_request(format!(
            "the body is a {api_version} {kind}; an authentication.k8s.io/v1 TokenRequest is expected"
        )));
    }
    if let Some(obj) = value.as_object_mut() {
        obj.entry("spec").or_insert_with(|| serde_json::json!({}));
        // The apiserver writes the status from the token it issues. kubectl before 1.32 sends
        // JSON with `"status":{"token":"","expirationTimestamp":null}`: Go decodes the null as
        // a zero time, k8s-openapi refuses it for a field it requires.
        obj.remove("status");
    }
    let request: TokenRequest = serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(format!(
            "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: {} ({})",
            e.inner(),
            e.path()
        ))
    })?;
    let bound_pod = request
        .spec
        .bound_object_ref
        .as_ref()
        .filter(|r| r.kind.as_deref() == Some("Pod"))
        .and_then(|r| r.name.as_deref());
    call.state
        .registry
        .node_may_request_token(&call.user, call.namespace(), call.name(), bound_pod)
        .await?;
    let issued = call
        .state
        .registry
        .create_token(call.namespace(), call.name(), request)
        .await?;
    let mut value = serde_json::to_value(&issued).map_err(|e| ApiError::internal(e.to_string()))?;
    value["apiVersion"] = "authentication.k8s.io/v1".into();
    value["kind"] = "TokenRequest".into();
    Ok(respond::encode(StatusCode::CREATED, call.output, &value))
}
