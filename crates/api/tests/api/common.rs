//! What every test of the API crate shares: a pinned clock, registries over the memory and
//! SQLite stores, a served API on a loopback port (plain HTTP), and a small HTTP/1.1 client
//! that can also read a streamed (watch, follow) body line by line.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use kbatch_api::Metrics;
use kbatch_api::clock::Clock;
use kbatch_api::logs::MemoryLogs;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_api::server::{Api, ApiConfig};
use kbatch_core::object::{Kind, Object};
use kbatch_store::{MemoryStore, SqliteStore, Store};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The instant every test starts at.
pub const T0: &str = "2026-11-27T10:00:00Z";

pub fn t0() -> jiff::Timestamp {
    T0.parse().unwrap()
}

/// `T0` moved by `seconds`.
pub fn at(seconds: i64) -> jiff::Timestamp {
    t0().checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct TestClock(Mutex<jiff::Timestamp>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(t0())))
    }

    pub fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A bootstrapped registry over a fresh [`MemoryStore`].
pub async fn memory_registry() -> (Registry, Arc<TestClock>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    registry_over(store).await
}

/// A bootstrapped registry over a [`SqliteStore`] in a temporary directory (kept alive by
/// the returned guard).
pub async fn sqlite_registry() -> (Registry, Arc<TestClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("data")).unwrap());
    let (registry, clock) = registry_over(store).await;
    (registry, clock, dir)
}

pub async fn registry_over(store: Arc<dyn Store>) -> (Registry, Arc<TestClock>) {
    let clock = TestClock::new();
    let registry = Registry::new(store, clock.clone());
    registry.bootstrap().await.unwrap();
    (registry, clock)
}

/// Parses an object of `kind` from JSON (the test fixtures).
pub fn object(kind: &Kind, value: Value) -> Object {
    Object::from_value(kind, value).unwrap()
}

/// A valid Job named `name` in `default` with the given labels.
pub fn job(name: &str, labels: Value) -> Value {
    serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}]
        }}}
    })
}

/// A valid CronJob named `name` in `default`.
pub fn cronjob(name: &str, schedule: &str) -> Value {
    serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "main", "image": "busybox"}]
            }}}}
        }
    })
}

/// A Pod in `namespace` with the named containers (and init containers).
pub fn pod(namespace: &str, name: &str, containers: &[&str], init: &[&str]) -> Value {
    let c = |n: &&str| serde_json::json!({"name": n, "image": "busybox"});
    let mut spec = serde_json::json!({
        "restartPolicy": "Never",
        "containers": containers.iter().map(c).collect::<Vec<_>>(),
    });
    if !init.is_empty() {
        spec["initContainers"] = init.iter().map(c).collect();
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// Creates an object through the registry without a field manager.
pub async fn create(registry: &Registry, kind: &Kind, value: Value) -> Object {
    let obj = object(kind, value);
    let ns = obj.metadata().namespace.clone().unwrap_or_default();
    registry
        .create(kind, &ns, obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap()
        .object
}

pub fn rv(obj: &Object) -> i64 {
    obj.metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// The resourceVersion of a JSON object as a number.
pub fn rv_of(value: &Value) -> i64 {
    value["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion in {value}"))
        .parse()
        .unwrap()
}

/// A served API on 127.0.0.1 without TLS.
pub struct TestServer {
    pub addr: SocketAddr,
    pub api: Api,
    pub clock: Arc<TestClock>,
    pub logs: Arc<MemoryLogs>,
    pub store: Arc<dyn Store>,
    /// Sent with every request made through [`TestServer::request`] unless overridden.
    pub token: Option<String>,
    _shutdown: oneshot::Sender<()>,
}

impl TestServer {
    /// Serves a fresh memory store; `token` turns authentication on.
    pub async fn start(token: Option<&str>) -> TestServer {
        Self::start_with(token, None).await
    }

    /// As [`TestServer::start`], issuing and accepting service account tokens with `issuer`.
    pub async fn start_with(
        token: Option<&str>,
        issuer: Option<Arc<kbatch_api::serviceaccount::TokenIssuer>>,
    ) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = TestClock::new();
        let logs = Arc::new(MemoryLogs::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = Api::new(
            ApiConfig {
                token_issuer: issuer,
                default_tolerations: Default::default(),
                store: store.clone(),
                clock: clock.clone(),
                logs: logs.clone(),
                node_logs: None,
                token: token.map(str::to_owned),
                metrics: Arc::new(Metrics::default()),
            },
            addr.to_string(),
        )
        .await
        .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let serving = api.clone();
        tokio::spawn(async move {
            serving
                .serve(listener, None, async {
                    let _ = rx.await;
                })
                .await;
        });
        TestServer {
            addr,
            api,
            clock,
            logs,
            store,
            token: token.map(str::to_owned),
            _shutdown: tx,
        }
    }

    pub fn registry(&self) -> &Registry {
        self.api.registry()
    }

    /// Sends one request on a new connection and returns the response head and its body
    /// (not read yet).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, HeaderMap, Incoming) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", self.addr.to_string());
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if !has("user-agent") {
            builder = builder.header("User-Agent", "kbatch-api-tests/0.1 (linux/amd64)");
        }
        let has_auth = has("authorization");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if !has_auth && let Some(t) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .expect("no response within 10s")
            .unwrap();
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        (status, parts.headers, body)
    }

    /// Sends one request and reads the whole response.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let (status, headers, body) = self.send(method, path, headers, body).await;
        let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("body not complete within 10s")
            .unwrap()
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None).await
    }

    /// A request with a JSON body.
    pub async fn json(&self, method: &str, path: &str, body: &Value) -> Resp {
        self.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// A PATCH of the given patch content type.
    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Resp {
        self.request(
            "PATCH",
            path,
            &[("Content-Type", content_type)],
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// Starts a streamed GET (watch, follow) and returns its reader.
    pub async fn stream(&self, path: &str, headers: &[(&str, &str)]) -> Lines {
        let (status, headers, body) = self.send("GET", path, headers, None).await;
        Lines {
            status,
            headers,
            body,
            buf: Vec::new(),
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(HeaderName::from_bytes(name.as_bytes()).unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Every value of a repeated header, in order.
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(HeaderName::from_bytes(name.as_bytes()).unwrap())
            .iter()
            .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// Asserts the status code, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }
}

/// What reading the next line of a stream gave.
#[derive(Debug)]
pub enum Next {
    Line(Value),
    /// The server ended the body.
    End,
    /// Nothing within the wait.
    Quiet,
}

/// A streamed response read as newline-delimited JSON.
pub struct Lines {
    pub status: u16,
    pub headers: HeaderMap,
    body: Incoming,
    buf: Vec<u8>,
}

impl Lines {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(HeaderName::from_bytes(name.as_bytes()).unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub async fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let value = serde_json::from_slice(&line[..line.len() - 1]).unwrap_or_else(|e| {
                    panic!(
                        "watch line is not JSON ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )
                });
                return Next::Line(value);
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Quiet,
                Ok(None) => return Next::End,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next line, which must come within 5 seconds.
    #[track_caller]
    pub fn next(&mut self) -> impl std::future::Future<Output = Value> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next_within(Duration::from_secs(5)).await {
                Next::Line(v) => v,
                other => panic!("{caller}: expected a watch event, got {other:?}"),
            }
        }
    }

    /// Asserts that nothing arrives for a short while (and the stream stays open).
    pub async fn expect_quiet(&mut self) {
        match self.next_within(Duration::from_millis(300)).await {
            Next::Quiet => {}
            other => panic!("expected no event, got {other:?}"),
        }
    }
}

/// Waits (up to 10 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
