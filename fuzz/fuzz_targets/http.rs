//! Fuzzes the whole API handler in process, over a memory store: routing, query parameters,
//! content negotiation, body decoding (JSON, YAML, protobuf), patches, admission, field
//! tracking, the registry's writes, tables, lists with continue tokens, watches and logs. Every
//! request must be answered (a streamed body may be cut off), and every error answer must be a
//! Kubernetes Status. The input is one request: a byte choosing the method, then lines with the
//! path and query, the Content-Type and the Accept, then the body.
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use kbatch_api::Metrics;
use kbatch_api::clock::SystemClock;
use kbatch_api::logs::MemoryLogs;
use kbatch_api::registry::plugins::DefaultTolerations;
use kbatch_api::server::{Api, ApiConfig};
use kbatch_store::MemoryStore;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// Requests served by one API before a fresh one (with an empty store) replaces it, so that
/// the store's log does not grow without bound over a long run.
const REQUESTS_PER_API: u32 = 20_000;

struct Served {
    runtime: tokio::runtime::Runtime,
    api: Api,
    requests: u32,
}

fn fresh(runtime: tokio::runtime::Runtime) -> Served {
    let logs = Arc::new(MemoryLogs::default());
    let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    for (i, line) in ["one", "two", "three"].into_iter().enumerate() {
        let at = t0 + jiff::SignedDuration::from_secs(i as i64);
        logs.push("default", "p", "c", at, line);
    }
    let config = ApiConfig {
        store: Arc::new(MemoryStore::new()),
        clock: Arc::new(SystemClock),
        logs,
        node_logs: None,
        token: None,
        token_issuer: None,
        default_tolerations: DefaultTolerations::default(),
        metrics: Arc::new(Metrics::default()),
    };
    let api = runtime
        .block_on(Api::new(config, "127.0.0.1:6443".to_owned()))
        .unwrap();
    Served {
        runtime,
        api,
        requests: 0,
    }
}

thread_local! {
    static SERVED: RefCell<Option<Served>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut lines = rest.splitn(4, |&b| b == b'\n');
    let (Some(target), Some(content_type), Some(accept)) =
        (lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let body = lines.next().unwrap_or_default().to_vec();
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let method = METHODS[usize::from(first) % METHODS.len()];
    let mut request = http::Request::builder().method(method).uri(target);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if !accept.is_empty() {
        request = request.header("accept", accept);
    }
    let Ok(request) = request.body(Body::from(body)) else {
        return;
    };
    SERVED.with(|cell| {
        let mut cell = cell.borrow_mut();
        let served = match cell.take() {
            Some(served) if served.requests < REQUESTS_PER_API => served,
            Some(served) => fresh(served.runtime),
            None => fresh(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
        };
        let router = served.api.router();
        served.runtime.block_on(async {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let is_json = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let collected =
                tokio::time::timeout(Duration::from_millis(5), response.into_body().collect())
                    .await;
            // A Status answers every error, in JSON when the client takes JSON; HEAD's
            // answers have no body.
            if let Ok(Ok(collected)) = collected
                && method != "HEAD"
                && (status.is_client_error() || status.is_server_error())
                && is_json
            {
                let bytes = collected.to_bytes();
                let value: serde_json::Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {bytes:?}"));
                assert_eq!(value["kind"], "Status", "{status}: {value}");
            }
        });
        *cell = Some(Served {
            requests: served.requests + 1,
            ..served
        });
    });
});
