//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the TokenRequest subresource
//! (`kubectl create token`), answered by [`crate::registry::Registry::create_token`].

use axum::http::{StatusCode, header};
use axum::response::Response;
use k8s_openapi::api::authentication::v1::TokenRequest;
use kbatch_core::object::TOKENREQUEST;

use super::negotiate;
use super::resources::Call;
use super::respond;
use crate::error::{ApiError, Result};

pub(super) async fn create(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let request: TokenRequest =
        negotiate::answered_body(&TOKENREQUEST, call.header(header::CONTENT_TYPE), body)?;
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
