//! [`NodeApi`] over a server's HTTPS API, for an agent on another machine: JSON bodies,
//! kept-alive connections (hyper's pool, which connects again after a failure), the server
//! verified against the cluster's CA, and the agent's credential either a bearer token or a
//! client certificate presented in the TLS handshake.
//!
//! The calls are the REST calls kubelet makes: status through `pods/{name}/status` with the
//! read resourceVersion (a concurrent write is a Conflict, and the agent reads again), watches
//! as streamed JSON lines from the list's resourceVersion (bookmarks skipped; an ERROR line,
//! 410 Expired included, ends the stream and the agent lists again), events POSTed as core/v1
//! Events correlated on the client's side (client-go's EventCorrelator, as kubelet does), tokens
//! through `serviceaccounts/{name}/token`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, Time};
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::correlator::{Correlation, EventCorrelators, Observed};
use kbatch_api::registry::{EventSpec, WatchEvent, WatchEventType, WatchStream};
use kbatch_core::object::{EVENT, Kind, Object};
use kbatch_core::status;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::{FIELD_MANAGER, List, NodeApi, Result};

/// How long a call other than a watch may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The server ends a watch after this long (client-go picks 5–10 minutes at random); the
/// agent then lists and watches again.
const WATCH_TIMEOUT_SECONDS: u64 = 300;
/// A watch that has said nothing this long after the server should have ended it is taken
/// for a connection that died without a word. The server sends a bookmark every minute.
const WATCH_GRACE: Duration = Duration::from_secs(60);
/// TCP keep-alive probes on idle connections, so a vanished server is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// Characters escaped in a path segment or a query value: everything but unreserved ones.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How the agent proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// A client certificate (PEM, its chain after it) and its private key (PEM), presented
    /// through TLS client authentication.
    ClientCertificate { cert_pem: Vec<u8>, key_pem: Vec<u8> },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(..)"),
            Credentials::ClientCertificate { .. } => f.write_str("ClientCertificate(..)"),
        }
    }
}

/// Why a [`RemoteApi`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the server URL {0:?} is not an https:// URL with a host")]
    Url(String),
    #[error("the CA certificates: {0}")]
    Ca(String),
    #[error("the client certificate or key: {0}")]
    ClientCertificate(String),
    #[error("the bearer token is not a valid header value")]
    Token,
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
}

/// A server's API over HTTPS.
pub struct RemoteApi {
    /// `https://host:port` of each server, without a trailing slash: the servers of one
    /// cluster, which share a CA and serve the same API.
    bases: Vec<String>,
    /// The index in `bases` of the server requests go to first. It moves on when that server
    /// cannot be reached, so the agent carries on through the loss of any one server (k3s'
    /// agents keep a client-side load balancer over the servers for the same reason).
    current: AtomicUsize,
    authorization: Option<HeaderValue>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    clock: Arc<dyn Clock>,
    /// client-go's EventCorrelator, on the client's side as in kubelet.
    events: EventCorrelators,
}

impl std::fmt::Debug for RemoteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApi")
            .field("server", &self.base())
            .finish_non_exhaustive()
    }
}

impl RemoteApi {
    /// A client of the server at `server` (`https://host:port`), trusting only the CA
    /// certificates in `ca_pem`.
    pub fn new(
        server: &str,
        ca_pem: &[u8],
        credentials: Credentials,
        clock: Arc<dyn Clock>,
    ) -> std::result::Result<RemoteApi, RemoteError> {
        Self::with_servers(&[server], ca_pem, credentials, clock)
    }

    /// A client of any of `servers` (one cluster's), the first tried first.
    pub fn with_servers(
        servers: &[&str],
        ca_pem: &[u8],
        credentials: Credentials,
        clock: Arc<dyn Clock>,
    ) -> std::result::Result<RemoteApi, RemoteError> {
        let mut bases = Vec::with_capacity(servers.len());
        for server in servers {
            let base = server.trim_end_matches('/').to_owned();
            let uri: hyper::Uri = base.parse().map_err(|_| RemoteError::Url(base.clone()))?;
            if uri.scheme_str() != Some("https") || uri.host().is_none() {
                return Err(RemoteError::Url(base));
            }
            bases.push(base);
        }
        if bases.is_empty() {
            return Err(RemoteError::Url(String::new()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| RemoteError::Ca(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| RemoteError::Ca(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(RemoteError::Ca("no certificate in the PEM".to_owned()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let (tls, authorization) = match credentials {
            Credentials::Token(token) => {
                let value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| RemoteError::Token)?;
                (builder.with_no_client_auth(), Some(value))
            }
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                let chain = CertificateDer::pem_slice_iter(&cert_pem)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| RemoteError::ClientCertificate(e.to_string()))?;
                if chain.is_empty() {
                    return Err(RemoteError::ClientCertificate(
                        "no certificate in the PEM".to_owned(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|e| RemoteError::ClientCertificate(e.to_string()))?;
                (builder.with_client_auth_cert(chain, key)?, None)
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.set_nodelay(true);
        http.set_connect_timeout(Some(REQUEST_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(RemoteApi {
            bases,
            current: AtomicUsize::new(0),
            authorization,
            client,
            clock,
            events: EventCorrelators::default(),
        })
    }

    /// The server requests go to first.
    fn base(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed) % self.bases.len();
        &self.bases[i]
    }

    /// Sends requests to another server from now on (after `failed` did not answer).
    fn move_on(&self, failed: usize) {
        let next = (failed + 1) % self.bases.len();
        if next != failed {
            self.current.store(next, Ordering::Relaxed);
        }
    }

    /// Sends a request and waits for the response's head. A server that cannot be
    /// connected to has not seen the request, so the next one is tried at once; any other
    /// failure is returned (the request may have been applied), and the next request goes to
    /// the next server.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        let body = Bytes::from(body.unwrap_or_default());
        let start = self.current.load(Ordering::Relaxed);
        let count = self.bases.len();
        for attempt in 0..count {
            let i = (start + attempt) % count;
            let base = &self.bases[i];
            let mut request = Request::builder()
                .method(method.clone())
                .uri(format!("{base}{path}"))
                .header(ACCEPT, "application/json")
                .header(
                    USER_AGENT,
                    concat!("kbatch-agent/", env!("CARGO_PKG_VERSION")),
                );
            if let Some(auth) = &self.authorization {
                request = request.header(AUTHORIZATION, auth.clone());
            }
            if !body.is_empty() {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            let request = request
                .body(Full::new(body.clone()))
                .map_err(|e| ApiError::internal(format!("building the request: {e}")))?;
            match self.client.request(request).await {
                Ok(response) => {
                    if i != start % count {
                        tracing::info!(server = %base, "the agent now talks to this server");
                        self.current.store(i, Ordering::Relaxed);
                    }
                    return Ok(response);
                }
                Err(e) if e.is_connect() && attempt + 1 < count => {
                    tracing::warn!(server = %base, error = %e, "cannot reach the server; trying the next");
                }
                Err(e) => {
                    self.move_on(i);
                    return Err(unreachable_server(base, &e));
                }
            }
        }
        Err(ApiError::internal("no server to send the request to"))
    }

    /// A call whose answer is one JSON document; an error response's Status as the error.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let exchange = async {
            let response = self.send(method, path, body).await?;
            let code = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable_server(self.base(), &e))?
                .to_bytes();
            if code.is_success() {
                Ok(bytes)
            } else {
                Err(error_response(code, &bytes))
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                let base = self.base();
                self.move_on(self.current.load(Ordering::Relaxed));
                ApiError::from(status::service_unavailable(format!(
                    "{base} did not answer within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            })?
    }

    async fn call_object(
        &self,
        kind: &Kind,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Object> {
        let bytes = self.call(method, path, body).await?;
        Object::from_json_slice(kind, &bytes).map_err(|e| undecodable(kind, &e))
    }

    async fn create_event(&self, namespace: &str, mut event: Event) -> Result<String> {
        let involved = event.involved_object.name.clone().unwrap_or_default();
        let nanos = self.clock.now().as_nanosecond();
        let path = collection(&EVENT, Some(namespace));
        // Two events about one object in the same nanosecond take the next free name, as
        // the registry's own recorder does.
        for offset in 1..=17i128 {
            let body = Object::Event(event.clone()).to_json_vec();
            match self
                .call_object(&EVENT, Method::POST, &path, Some(body))
                .await
            {
                Ok(created) => return Ok(created.name().to_owned()),
                Err(e) if e.reason() == "AlreadyExists" => {
                    event.metadata.name = Some(format!("{involved}.{:x}", nanos + offset));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal("no free event name"))
    }

    /// Writes a repeat's count, message and lastTimestamp over the Event it repeats (what
    /// client-go's patch of the event does): false when that Event is gone.
    async fn bump_event(&self, namespace: &str, observed: &Observed, now: Time) -> Result<bool> {
        for _ in 0..3 {
            let mut event = match self.get(&EVENT, namespace, &observed.name).await {
                Ok(Object::Event(event)) => event,
                Ok(_) => return Ok(false),
                Err(e) if e.is_not_found() => return Ok(false),
                Err(e) => return Err(e),
            };
            // A later occurrence written first wins: counts never go back.
            if event.count.unwrap_or(1) >= observed.count {
                return Ok(true);
            }
            event.count = Some(observed.count);
            event.message = Some(observed.message.clone());
            event.last_timestamp = Some(now.clone());
            match self
                .update(&EVENT, namespace, &observed.name, Object::Event(event))
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.is_not_found() => return Ok(false),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal(format!(
            "the event {namespace}/{} kept changing",
            observed.name
        )))
    }
}

#[async_trait]
impl NodeApi for RemoteApi {
    async fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Object> {
        let path = member(kind, namespace, name);
        self.call_object(kind, Method::GET, &path, None).await
    }

    async fn list(&self, kind: &Kind, field_selector: Option<&str>) -> Result<List> {
        let mut path = collection(kind, None);
        if let Some(selector) = field_selector {
            path.push_str("?fieldSelector=");
            path.push_str(&encode(selector));
        }
        let bytes = self.call(Method::GET, &path, None).await?;
        let list: WireList = serde_json::from_slice(&bytes).map_err(|e| undecodable(kind, &e))?;
        let items = list
            .items
            .into_iter()
            .map(|item| typed(kind, item))
            .collect::<Result<Vec<_>>>()?;
        Ok(List {
            items,
            resource_version: list.metadata.resource_version.unwrap_or_default(),
        })
    }

    async fn watch(
        &self,
        kind: &Kind,
        field_selector: Option<&str>,
        resource_version: &str,
    ) -> Result<WatchStream> {
        let mut path = format!(
            "{}?watch=true&allowWatchBookmarks=true&timeoutSeconds={WATCH_TIMEOUT_SECONDS}&resourceVersion={}",
            collection(kind, None),
            encode(resource_version)
        );
        if let Some(selector) = field_selector {
            path.push_str("&fieldSelector=");
            path.push_str(&encode(selector));
        }
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.send(Method::GET, &path, None))
            .await
            .map_err(|_| {
                let base = self.base();
                self.move_on(self.current.load(Ordering::Relaxed));
                ApiError::from(status::service_unavailable(format!(
                    "{base} did not answer a watch within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            })??;
        let code = response.status();
        if !code.is_success() {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(error_response(code, &bytes));
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(WATCH_TIMEOUT_SECONDS) + WATCH_GRACE;
        Ok(watch_events(*kind, response.into_body(), deadline))
    }

    async fn create(&self, kind: &Kind, namespace: &str, obj: Object) -> Result<Object> {
        let path = format!(
            "{}?fieldManager={FIELD_MANAGER}",
            collection(kind, Some(namespace))
        );
        self.call_object(kind, Method::POST, &path, Some(obj.to_json_vec()))
            .await
    }

    async fn update(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
    ) -> Result<Object> {
        let path = format!(
            "{}?fieldManager={FIELD_MANAGER}",
            member(kind, namespace, name)
        );
        self.call_object(kind, Method::PUT, &path, Some(obj.to_json_vec()))
            .await
    }

    async fn update_status(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
    ) -> Result<Object> {
        let path = format!(
            "{}/status?fieldManager={FIELD_MANAGER}",
            member(kind, namespace, name)
        );
        self.call_object(kind, Method::PUT, &path, Some(obj.to_json_vec()))
            .await
    }

    async fn delete_pod(&self, namespace: &str, name: &str, uid: Option<&str>) -> Result<()> {
        let mut options = serde_json::json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
        });
        if let Some(uid) = uid {
            options["preconditions"] = serde_json::json!({ "uid": uid });
        }
        let path = member(&kbatch_core::object::POD, namespace, name);
        let body = serde_json::to_vec(&options).unwrap_or_default();
        self.call(Method::DELETE, &path, Some(body)).await?;
        Ok(())
    }

    async fn record_event(&self, spec: EventSpec) -> Result<()> {
        let namespace = spec.namespace();
        let now = self.clock.now();
        let observed = match self.events.correlate(&namespace, &spec, now) {
            Correlation::Skip => return Ok(()),
            Correlation::Record(observed) => observed,
        };
        if observed.repeat && self.bump_event(&namespace, &observed, Time(now)).await? {
            return Ok(());
        }
        let component = spec.component.clone();
        let event = observed.to_event(spec, now);
        let name = self.create_event(&namespace, event).await?;
        self.events.recorded(&component, &observed, &name);
        Ok(())
    }

    async fn create_token(
        &self,
        namespace: &str,
        name: &str,
        request: TokenRequest,
    ) -> Result<TokenRequest> {
        let path = format!(
            "{}/token",
            member(&kbatch_core::object::SERVICEACCOUNT, namespace, name)
        );
        let body = serde_json::to_vec(&request)
            .map_err(|e| ApiError::internal(format!("encoding the TokenRequest: {e}")))?;
        let bytes = self.call(Method::POST, &path, Some(body)).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::internal(format!("the server's TokenRequest cannot be read: {e}"))
        })
    }
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// `/api/v1/namespaces/{ns}/pods` or `/apis/storage.k8s.io/v1/storageclasses`; all namespaces
/// when `namespace` is `None`.
fn collection(kind: &Kind, namespace: Option<&str>) -> String {
    let root = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    match namespace {
        Some(ns) if kind.namespaced => {
            format!("{root}/namespaces/{}/{}", encode(ns), kind.plural)
        }
        _ => format!("{root}/{}", kind.plural),
    }
}

fn member(kind: &Kind, namespace: &str, name: &str) -> String {
    format!("{}/{}", collection(kind, Some(namespace)), encode(name))
}

#[derive(Deserialize)]
struct WireList {
    #[serde(default)]
    items: Vec<serde_json::Value>,
    #[serde(default)]
    metadata: WireListMeta,
}

#[derive(Deserialize, Default)]
struct WireListMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    type_: String,
    object: serde_json::Value,
}

/// An object of `kind` from a list item or a watch event (list items may leave out their
/// apiVersion and kind, as the apiserver's do).
fn typed(kind: &Kind, mut value: serde_json::Value) -> Result<Object> {
    if let Some(fields) = value.as_object_mut() {
        fields
            .entry("apiVersion")
            .or_insert_with(|| kind.api_version().into());
        fields.entry("kind").or_insert_with(|| kind.kind.into());
    }
    Object::from_value(kind, value).map_err(|e| undecodable(kind, &e))
}

fn undecodable(kind: &Kind, e: &serde_json::Error) -> ApiError {
    ApiError::internal(format!("the server's {} cannot be read: {e}", kind.kind))
}

fn unreachable_server(base: &str, e: &dyn std::fmt::Display) -> ApiError {
    status::service_unavailable(format!("reaching {base}: {e}")).into()
}

/// An error response: its Status, or one made from the code when the body is none.
fn error_response(code: StatusCode, body: &[u8]) -> ApiError {
    if let Ok(status) = serde_json::from_slice::<Status>(body)
        && status.code.is_some()
    {
        return status.into();
    }
    let reason = match code {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::GONE => "Expired",
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        _ => "InternalError",
    };
    let text = String::from_utf8_lossy(body);
    Status {
        status: Some("Failure".to_owned()),
        code: Some(i32::from(code.as_u16())),
        reason: Some(reason.to_owned()),
        message: Some(format!("the server answered {code}: {}", text.trim())),
        ..Default::default()
    }
    .into()
}

/// The events of a watch response: one JSON document a line. Ends after an ERROR line, a
/// line that cannot be read, a failed connection, or silence past `deadline`.
fn watch_events(kind: Kind, body: Incoming, deadline: tokio::time::Instant) -> WatchStream {
    struct State {
        body: Incoming,
        buffer: BytesMut,
        done: bool,
    }
    let state = State {
        body,
        buffer: BytesMut::new(),
        done: false,
    };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if state.done {
                return None;
            }
            if let Some(at) = state.buffer.iter().position(|b| *b == b'\n') {
                let line = state.buffer.split_to(at + 1);
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                match watch_line(&kind, line) {
                    Ok(None) => continue,
                    Ok(Some(event)) => {
                        state.done = matches!(event, WatchEvent::Error(_));
                        return Some((event, state));
                    }
                    Err(e) => {
                        state.done = true;
                        return Some((WatchEvent::Error(e.0), state));
                    }
                }
            }
            match tokio::time::timeout_at(deadline, state.body.frame()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    state.done = true;
                    let status = status::service_unavailable(format!("the watch broke: {e}"));
                    return Some((WatchEvent::Error(Box::new(status)), state));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        state.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    })
    .boxed()
}

/// One line of a watch: an event, or `None` for a bookmark.
fn watch_line(kind: &Kind, line: &[u8]) -> Result<Option<WatchEvent>> {
    let event: WireEvent = serde_json::from_slice(line)
        .map_err(|e| ApiError::internal(format!("a watch event cannot be read: {e}")))?;
    let type_ = match event.type_.as_str() {
        "ADDED" => WatchEventType::Added,
        "MODIFIED" => WatchEventType::Modified,
        "DELETED" => WatchEventType::Deleted,
        "BOOKMARK" => return Ok(None),
        "ERROR" => {
            let status: Status = serde_json::from_value(event.object)
                .map_err(|e| ApiError::internal(format!("a watch error cannot be read: {e}")))?;
            return Ok(Some(WatchEvent::Error(Box::new(status))));
        }
        other => {
            return Err(ApiError::internal(format!(
                "a watch event of unknown type {other:?}"
            )));
        }
    };
    let object = typed(kind, event.object)?;
    Ok(Some(WatchEvent::Object(type_, Box::new(object))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kbatch_core::object::{NODE, POD, STORAGECLASS};

    #[test]
    fn paths_follow_the_resource_layout() {
        assert_eq!(collection(&POD, None), "/api/v1/pods");
        assert_eq!(member(&POD, "ns", "p-1"), "/api/v1/namespaces/ns/pods/p-1");
        assert_eq!(member(&NODE, "", "n1"), "/api/v1/nodes/n1");
        assert_eq!(
            member(&STORAGECLASS, "", "fast"),
            "/apis/storage.k8s.io/v1/storageclasses/fast"
        );
        assert_eq!(encode("spec.nodeName=n 1"), "spec.nodeName%3Dn%201");
    }

    #[test]
    fn watch_lines_become_events() {
        let added = br#"{"type":"ADDED","object":{"metadata":{"name":"p","resourceVersion":"7"}}}"#;
        match watch_line(&POD, added) {
            Ok(Some(WatchEvent::Object(WatchEventType::Added, obj))) => {
                assert!(matches!(*obj, Object::Pod(_)));
                assert_eq!(obj.name(), "p");
            }
            other => panic!("unexpected {other:?}"),
        }
        let bookmark = br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}"#;
        assert!(matches!(watch_line(&POD, bookmark), Ok(None)));
        let expired = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":410,"reason":"Expired","message":"too old"}}"#;
        match watch_line(&POD, expired) {
            Ok(Some(WatchEvent::Error(status))) => assert_eq!(status.code, Some(410)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(watch_line(&POD, b"{not json").is_err());
    }

    #[test]
    fn error_responses_keep_their_status() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":409,"reason":"Conflict","message":"changed"}"#;
        let e = error_response(StatusCode::CONFLICT, body);
        assert!(e.is_conflict());
        let e = error_response(StatusCode::NOT_FOUND, b"404 page not found");
        assert!(e.is_not_found());
        assert_eq!(e.reason(), "NotFound");
    }
}
