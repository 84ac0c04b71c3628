//! The resource verbs over HTTP (`k8s.io/apiserver/pkg/endpoints/handlers`): get, list,
//! create, update, patch, delete and deletecollection, each reading its query and body,
//! calling the registry, and answering in the negotiated representation.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use kbatch_core::decode;
use kbatch_core::object::{Kind, Object, POD};
use kbatch_core::printers::IncludeObject;
use kbatch_core::selector::{FieldSelector, LabelSelector};
use kbatch_core::status;
use serde_json::Value;

use super::negotiate::{self, MAX_BODY_BYTES, Output};
use super::request::{Query, ResourceRequest};
use super::{AppState, discovery, logs, respond, token, watch};
use crate::authn::User;
use crate::authz::Attributes;
use crate::error::{ApiError, Result};
use crate::registry::{
    DeleteOptions, DeleteOutcome, FieldValidation, ListParams, Preconditions, Propagation,
    WriteOptions,
};

/// Everything a verb handler needs from the request.
pub(super) struct Call<'a> {
    pub state: &'a AppState,
    pub user: User,
    pub target: ResourceRequest,
    pub parts: Parts,
    pub query: Query,
    pub output: Output,
}

impl Call<'_> {
    pub(super) fn kind(&self) -> &Kind {
        &self.target.kind
    }

    pub(super) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(super) fn namespace(&self) -> &str {
        self.target.namespace.as_deref().unwrap_or("")
    }

    pub(super) fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    pub(super) fn now(&self) -> jiff::Timestamp {
        self.state.registry.clock().now()
    }

    pub(super) fn include_object(&self) -> Result<IncludeObject> {
        IncludeObject::from_query(self.query.get("includeObject")).map_err(|e| {
            ApiError::from(k8s_openapi::apimachinery::pkg::apis::meta::v1::Status::from(&e))
        })
    }
}

pub(super) async fn dispatch(
    state: &AppState,
    user: User,
    target: ResourceRequest,
    request: Request<Body>,
) -> Result<Response> {
    if let Some(sub) = target.subresource.as_deref()
        && !discovery::subresources(&target.kind)
            .iter()
            .any(|(s, _)| *s == sub)
    {
        if target.kind == POD && matches!(sub, "exec" | "attach" | "portforward") {
            return Err(status::unserved(format!(
                "kbatch does not serve pods/{sub}: it has no streaming endpoints (exec, attach, port-forward); a container's output is in `kubectl logs`"
            ))
            .into());
        }
        return Err(status::no_route().into());
    }
    let (parts, body) = request.into_parts();
    // A declared length over the limit is refused before the body is read (and before
    // `Expect: 100-continue` lets the client send it).
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(status::request_entity_too_large(format!("limit is {MAX_BODY_BYTES}")).into());
    }
    let query = Query::parse(parts.uri.query())?;
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let is_log = target.subresource.as_deref() == Some("log");
    let output = if is_log {
        Output::Json
    } else {
        negotiate::output(accept)?
    };
    let method = parts.method.clone();
    let verb = verb(&method, target.name.is_some(), query.flag("watch")?);
    let attrs = Attributes {
        verb,
        kind: &target.kind,
        subresource: target.subresource.as_deref(),
        namespace: target.namespace.as_deref(),
        name: target.name.as_deref(),
    };
    state.registry.authorize(&user, &attrs).await?;
    let call = Call {
        state,
        user,
        target,
        parts,
        query,
        output,
    };
    let has_name = call.target.name.is_some();
    let sub = call.target.subresource.clone();
    match (method, has_name, sub.as_deref()) {
        (Method::GET, _, Some("log")) => logs::get(&call).await,
        (Method::POST, true, Some("token")) => {
            let body = read_body(body).await?;
            token::create(&call, &body).await
        }
        (Method::GET, false, None) if call.query.flag("watch")? => watch::watch(&call).await,
        (Method::GET, false, None) => list(&call).await,
        (Method::GET, true, None | Some("status")) => get(&call).await,
        (Method::POST, false, None)
            if call.target.namespace.is_some() || !call.kind().namespaced =>
        {
            let body = read_body(body).await?;
            create(&call, &body).await
        }
        (Method::PUT, true, None | Some("status")) => {
            let body = read_body(body).await?;
            update(&call, &body).await
        }
        (Method::PATCH, true, None | Some("status")) => {
            let body = read_body(body).await?;
            patch(&call, &body).await
        }
        (Method::DELETE, true, None) => {
            let body = read_body(body).await?;
            delete(&call, &body).await
        }
        (Method::DELETE, false, None)
            if call.target.namespace.is_some() || !call.kind().namespaced =>
        {
            let body = read_body(body).await?;
            delete_collection(&call, &body).await
        }
        (method, _, _) => {
            Err(status::method_not_supported(Some(call.kind()), method.as_str()).into())
        }
    }
}

/// The authorizer's verb of a request (`RequestInfoFactory`): an unknown method is left to
/// the router, which refuses it.
fn verb(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) if watch => "watch",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// Reads a body up to the apiserver's limit (413 beyond it).
pub(super) async fn read_body(body: Body) -> Result<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                status::request_entity_too_large(format!("limit is {MAX_BODY_BYTES}")).into()
            } else {
                ApiError::bad_request(format!("reading the request body: {e}"))
            }
        })
}

async fn get(call: &Call<'_>) -> Result<Response> {
    let obj = call
        .state
        .registry
        .get(call.kind(), call.namespace(), call.name())
        .await?;
    Ok(respond::object(
        StatusCode::OK,
        &obj,
        call.output,
        call.include_object()?,
        call.now(),
    ))
}

/// The selectors, paging and resourceVersion of a list or watch.
pub(super) fn list_params(query: &Query) -> Result<ListParams> {
    let label_selector = query
        .get("labelSelector")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            LabelSelector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
        })
        .transpose()?;
    let field_selector = query
        .get("fieldSelector")
        .filter(|s| !s.trim().is_empty())
        .map(|s| FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let limit = query
        .number("limit")?
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    Ok(ListParams {
        label_selector,
        field_selector,
        limit,
        continue_token: query.get("continue").map(str::to_owned),
        resource_version: query.get("resourceVersion").map(str::to_owned),
        resource_version_match: query.get("resourceVersionMatch").map(str::to_owned),
    })
}

async fn list(call: &Call<'_>) -> Result<Response> {
    let params = list_params(&call.query)?;
    let list = call
        .state
        .registry
        .list(call.kind(), call.target.namespace.as_deref(), &params)
        .await?;
    Ok(respond::list(
        &list,
        call.output,
        call.include_object()?,
        call.now(),
    ))
}

/// The field manager of a write: `fieldManager`, else the user agent's program name (the
/// apiserver's `prefixFromUserAgent`).
fn field_manager(query: &Query, headers: &HeaderMap) -> Result<Option<String>> {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        if m.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        if m.chars().any(|c| c.is_control()) {
            return Err(ApiError::bad_request(format!(
                "fieldManager: Invalid value: {m:?}: must be printable"
            )));
        }
        return Ok(Some(m.to_owned()));
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let prefix: String = agent
        .split('/')
        .next()
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect();
    Ok(Some(if prefix.is_empty() {
        "unknown".to_owned()
    } else {
        prefix
    }))
}

fn write_options(call: &Call<'_>) -> Result<WriteOptions> {
    Ok(WriteOptions {
        dry_run: call.query.dry_run()?,
        field_manager: field_manager(&call.query, &call.parts.headers)?,
        field_validation: FieldValidation::parse(call.query.get("fieldValidation").unwrap_or(""))?,
        force: false,
        subresource: call.target.subresource.clone(),
    })
}

/// A create or update body as an object of the URL's kind, with field-validation warnings.
fn body_object(call: &Call<'_>, body: &[u8], opts: &WriteOptions) -> Result<(Object, Vec<String>)> {
    let mut doc = negotiate::body_document(call.header(header::CONTENT_TYPE), body)?;
    negotiate::fill_kind(call.kind(), &mut doc)?;
    let decoded = decode::decode(&doc).map_err(|e| ApiError::from(&e))?;
    let (obj, warnings) = opts.field_validation.accept(decoded)?;
    if call.kind().namespaced {
        let body_ns = obj.metadata().namespace.as_deref().unwrap_or("");
        if !body_ns.is_empty() && body_ns != call.namespace() {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok((obj, warnings))
}

async fn create(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let opts = write_options(call)?;
    let (obj, warnings) = body_object(call, body, &opts)?;
    call.state
        .registry
        .node_restriction(&call.user, call.kind(), &obj)?;
    let written = call
        .state
        .registry
        .create(call.kind(), call.namespace(), obj, &opts, warnings)
        .await?;
    let response = respond::object(
        StatusCode::CREATED,
        &written.object,
        call.output,
        call.include_object()?,
        call.now(),
    );
    Ok(respond::with_warnings(response, &written.warnings))
}

async fn update(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let opts = write_options(call)?;
    let (obj, warnings) = body_object(call, body, &opts)?;
    if obj.name() != call.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            obj.name(),
            call.name()
        )));
    }
    let written = call
        .state
        .registry
        .update(
            call.kind(),
            call.namespace(),
            call.name(),
            obj,
            &opts,
            warnings,
        )
        .await?;
    let response = respond::object(
        StatusCode::OK,
        &written.object,
        call.output,
        call.include_object()?,
        call.now(),
    );
    Ok(respond::with_warnings(response, &written.warnings))
}

async fn patch(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let patch_type = negotiate::patch_type(call.header(header::CONTENT_TYPE))?;
    let value = negotiate::patch_body(patch_type, body)?;
    let mut opts = write_options(call)?;
    let force = call.query.flag("force")?;
    if patch_type == crate::registry::PatchType::Apply {
        if call.query.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        opts.force = force;
    } else if force {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    let written = call
        .state
        .registry
        .patch(
            call.kind(),
            call.namespace(),
            call.name(),
            patch_type,
            &value,
            &opts,
        )
        .await?;
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let response = respond::object(
        code,
        &written.object,
        call.output,
        call.include_object()?,
        call.now(),
    );
    Ok(respond::with_warnings(response, &written.warnings))
}

/// DeleteOptions from the body (JSON, may be empty) and the query; the query wins where
/// both give a value, as the apiserver's parameter codec does.
fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions> {
    let mut opts = DeleteOptions::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::bad_request("DeleteOptions must be a JSON object"));
        }
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation = Some(Propagation::parse(p)?);
        }
        opts.orphan_dependents = v.get("orphanDependents").and_then(Value::as_bool);
        opts.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        if let Some(pre) = v.get("preconditions") {
            opts.preconditions = Preconditions {
                uid: pre.get("uid").and_then(Value::as_str).map(str::to_owned),
                resource_version: pre
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            };
        }
        match v.get("dryRun") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(Value::Array(a)) if a.iter().all(|x| x == "All") => opts.dry_run = true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "dryRun: Unsupported value: {other}: supported values: \"All\""
                )));
            }
        }
    }
    if let Some(p) = query.get("propagationPolicy").filter(|p| !p.is_empty()) {
        opts.propagation = Some(Propagation::parse(p)?);
    }
    if query.get("orphanDependents").is_some() {
        opts.orphan_dependents = Some(query.flag("orphanDependents")?);
    }
    if let Some(g) = query.number("gracePeriodSeconds")? {
        opts.grace_period_seconds = Some(g);
    }
    if query.dry_run()? {
        opts.dry_run = true;
    }
    Ok(opts)
}

async fn delete(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let opts = delete_options(&call.query, body)?;
    let (outcome, warnings) = call
        .state
        .registry
        .delete(call.kind(), call.namespace(), call.name(), &opts)
        .await?;
    let obj = match &outcome {
        DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o) => o,
    };
    let response = respond::object(
        StatusCode::OK,
        obj,
        call.output,
        call.include_object()?,
        call.now(),
    );
    Ok(respond::with_warnings(response, &warnings))
}

/// Deletes every object of a collection that the selectors match; answers with the list of
/// what was deleted.
async fn delete_collection(call: &Call<'_>, body: &[u8]) -> Result<Response> {
    let opts = delete_options(&call.query, body)?;
    let params = list_params(&call.query)?;
    let registry = &call.state.registry;
    let mut list = registry
        .list(call.kind(), call.target.namespace.as_deref(), &params)
        .await?;
    let mut warnings = Vec::new();
    let mut deleted = Vec::new();
    for obj in &list.items {
        let ns = obj.metadata().namespace.clone().unwrap_or_default();
        match registry.delete(call.kind(), &ns, obj.name(), &opts).await {
            Ok((outcome, w)) => {
                for warning in w {
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
                deleted.push(outcome.object().clone());
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    list.items = deleted;
    list.continue_token = None;
    let response = respond::list(&list, call.output, call.include_object()?, call.now());
    Ok(respond::with_warnings(response, &warnings))
}
