//! The HTTP surface: one entry point that authenticates, routes by Kubernetes' path rules
//! (`RequestInfoFactory`), records metrics, and turns every error into a meta/v1 Status.
//! Resource verbs live in `resources`, streams in `watch` and `logs`.

mod access_review;
mod discovery;
mod logs;
mod metrics;
mod negotiate;
mod request;
mod resources;
mod respond;
mod token;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kbatch_core::openapi::OpenApi;
use kbatch_core::status;

use crate::authn::User;
use crate::error::{ApiError, Result};
use crate::logs::PodLogs;
use crate::registry::Registry;

pub use metrics::Metrics;

/// The Kubernetes version kbatch reports. kubectl on these machines execs the kubectl of the
/// server's minor version, and kubectl 1.27/1.28 need protobuf OpenAPI v2, so kbatch speaks
/// as 1.32 (kubectl-wire.md §1).
const VERSION_MINOR: &str = "32";

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
    /// The admin bearer token; `None` serves without authentication (plain-HTTP tests).
    pub token: Option<Arc<str>>,
    pub openapi: Arc<OpenApi>,
    pub logs: Arc<dyn PodLogs>,
    pub metrics: Arc<Metrics>,
    /// host:port clients reach the server at (legacy discovery reports it).
    pub server_address: Arc<str>,
}

/// The router: everything goes through [`handle`].
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<AppState>, request: Request<Body>) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let watch_like = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let (verb, resource) = metrics::classify(&method, &path, watch_like);
    let response = match route(&state, request).await {
        Ok(r) => r,
        Err(e) => respond::error(&e),
    };
    state.metrics.observe(
        verb,
        &resource,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn route(state: &AppState, request: Request<Body>) -> Result<Response> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match path.as_str() {
        "/version" | "/version/" => return get_only(&method).map(|_| version()),
        "/healthz" | "/livez" | "/readyz" => {
            return get_only(&method).map(|_| (StatusCode::OK, "ok").into_response());
        }
        // The CA, to whoever asks: a joining agent checks it against the hash it was given.
        CACERTS_PATH => {
            get_only(&method)?;
            return match state.registry.token_issuer() {
                Some(issuer) => Ok((
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-pem-file")],
                    issuer.root_ca().to_owned(),
                )
                    .into_response()),
                None => Err(status::no_route().into()),
            };
        }
        _ => {}
    }
    let user = authenticate(state, request.headers()).await?;
    if path.trim_end_matches('/') == SELF_SUBJECT_REVIEWS_PATH {
        if method != Method::POST {
            return Err(status::method_not_supported(None, method.as_str()).into());
        }
        return Ok(self_subject_review(state, &user));
    }
    let review = path.trim_end_matches('/');
    if review == access_review::ACCESS_PATH || review == access_review::RULES_PATH {
        if method != Method::POST {
            return Err(status::method_not_supported(None, method.as_str()).into());
        }
        let output = negotiate::output(
            request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        )?;
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resources::read_body(request.into_body()).await?;
        return if review == access_review::ACCESS_PATH {
            access_review::access(
                &state.registry,
                &user,
                content_type.as_deref(),
                output,
                &body,
            )
            .await
        } else {
            access_review::rules(&user, content_type.as_deref(), output, &body)
        };
    }
    if path == NODE_CREDENTIALS_PATH {
        if method != Method::POST {
            return Err(status::method_not_supported(None, method.as_str()).into());
        }
        return node_credential(state, &user, request).await;
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match path.trim_end_matches('/') {
        "/metrics" => {
            get_only(&method)?;
            return Ok(state.metrics.render());
        }
        "/api" => {
            get_only(&method)?;
            return Ok(match discovery::wants_aggregated(accept.as_deref()) {
                Some(v) => respond::aggregated(discovery::aggregated(true, v), v),
                None => respond::json(
                    StatusCode::OK,
                    &discovery::api_versions(&state.server_address),
                ),
            });
        }
        "/apis" => {
            get_only(&method)?;
            return Ok(match discovery::wants_aggregated(accept.as_deref()) {
                Some(v) => respond::aggregated(discovery::aggregated(false, v), v),
                None => respond::json(StatusCode::OK, &discovery::api_group_list()),
            });
        }
        "/openapi/v3" => {
            get_only(&method)?;
            return Ok(respond::json(StatusCode::OK, &state.openapi.root()));
        }
        "/openapi/v2" => {
            get_only(&method)?;
            let form = negotiate::swagger_form(accept.as_deref())?;
            let if_none_match = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            return Ok(respond::swagger(state.openapi.v2(), form, if_none_match));
        }
        _ => {}
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        get_only(&method)?;
        return match state.openapi.document(gv.trim_end_matches('/')) {
            Some(doc) => Ok(respond::openapi_document(doc.to_vec())),
            None => Err(status::no_route().into()),
        };
    }
    let Some((group, version, parts)) = request::parse_resource_path(&path)? else {
        if let Some(group) = path.trim_matches('/').strip_prefix("apis/")
            && !group.contains('/')
        {
            get_only(&method)?;
            return discovery::api_group(group)
                .map(|v| respond::json(StatusCode::OK, &v))
                .ok_or_else(|| status::no_route().into());
        }
        return Err(status::no_route().into());
    };
    if parts.is_empty() {
        get_only(&method)?;
        return discovery::api_resource_list(&group, &version)
            .map(|v| respond::json(StatusCode::OK, &v))
            .ok_or_else(|| status::no_route().into());
    }
    let target = request::resolve(&group, &version, &parts)
        .ok_or_else(|| ApiError::from(status::no_route()))?;
    resources::dispatch(state, user, target, request).await
}

/// Where a joining agent reads the CA, and where it exchanges its bootstrap token for its
/// node credential (`crate::node_credentials`).
pub const CACERTS_PATH: &str = "/kbatch/v1/cacerts";
pub const NODE_CREDENTIALS_PATH: &str = "/kbatch/v1/node-credentials";

/// `kubectl auth whoami`'s endpoint.
const SELF_SUBJECT_REVIEWS_PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/// `SelfSubjectReview`'s create: the caller as authentication saw it (the body, an empty
/// review, says nothing else).
fn self_subject_review(state: &AppState, user: &User) -> Response {
    let mut info = serde_json::json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = user.uid.clone().into();
    }
    respond::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": state.registry.clock().now().to_string()},
            "status": {"userInfo": info},
        }),
    )
}

/// `POST /kbatch/v1/node-credentials` `{"nodeName": N}` → `{"nodeName": N, "token": T}`.
async fn node_credential(
    state: &AppState,
    user: &User,
    request: Request<Body>,
) -> Result<Response> {
    let body = resources::read_body(request.into_body()).await?;
    let asked: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let Some(node) = asked.get("nodeName").and_then(|n| n.as_str()) else {
        return Err(ApiError::bad_request("the body names no nodeName"));
    };
    let token = state.registry.issue_node_credential(user, node).await?;
    Ok(respond::json(
        StatusCode::CREATED,
        &serde_json::json!({"nodeName": node, "token": token}),
    ))
}

fn get_only(method: &Method) -> Result<()> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(status::method_not_supported(None, method.as_str()).into())
    }
}

/// Who the request is from (401 otherwise): the bearer token's user
/// ([`Registry::authenticate`]); everyone is the admin on a server without a token.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<User> {
    let Some(admin) = state.token.as_deref() else {
        return Ok(User::admin());
    };
    // The apiserver's bearer token authenticator: `<scheme> <token>[ ...]`, the scheme
    // compared case-insensitively, the token the second space-separated part (empty: no).
    let header_value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = header_value.splitn(3, ' ');
    let scheme = parts.next().unwrap_or("");
    let given = match parts.next() {
        Some(token) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => "",
    };
    state.registry.authenticate(admin, given).await
}

fn version() -> Response {
    let body = serde_json::json!({
        "major": "1",
        "minor": VERSION_MINOR,
        "gitVersion": format!("v1.{VERSION_MINOR}.0+kbatch-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    });
    respond::json(StatusCode::OK, &body)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
