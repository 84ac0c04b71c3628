//! `/metrics` in Prometheus' text format: the apiserver's own request metrics
//! (`apiserver_request_total`, `apiserver_request_duration_seconds`,
//! `apiserver_longrunning_requests` for watches). Other components register theirs in the
//! same registry.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    verb: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LongRunningLabels {
    verb: String,
    resource: String,
}

/// The server's metrics registry and the API's own metrics in it.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    long_running: Family<LongRunningLabels, Gauge>,
}

/// The apiserver's request-latency buckets (seconds).
const BUCKETS: [f64; 14] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0,
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        let long_running = Family::<LongRunningLabels, Gauge>::default();
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, resource and HTTP response code.",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb and resource.",
            durations.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests (watches) broken out by verb and resource.",
            long_running.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            long_running,
        }
    }
}

/// Decrements the watch gauge when a watch ends.
#[derive(Debug)]
pub struct WatchGuard(Gauge);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// Lets another component add its metrics to `/metrics`.
    pub fn register(&self, register: impl FnOnce(&mut Registry)) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        register(&mut registry);
    }

    pub(super) fn observe(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                code: code.to_string(),
            })
            .inc();
        if verb != "WATCH" {
            self.durations
                .get_or_create(&DurationLabels {
                    verb: verb.to_owned(),
                    resource: resource.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    pub(super) fn watch_started(&self, resource: &str) -> WatchGuard {
        let gauge = self
            .long_running
            .get_or_create(&LongRunningLabels {
                verb: "WATCH".to_owned(),
                resource: resource.to_owned(),
            })
            .clone();
        gauge.inc();
        WatchGuard(gauge)
    }

    pub(super) fn render(&self) -> Response {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response();
        }
        let mut r = (StatusCode::OK, text).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        r
    }
}

/// The apiserver's verb and resource labels of a request: upper-case verbs (`GET`, `LIST`,
/// `WATCH`, `POST`, `PUT`, `PATCH`, `DELETE`), resource as the plural (`jobs`), or "" for
/// non-resource paths.
pub(super) fn classify(method: &Method, path: &str, watch: bool) -> (&'static str, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, r @ ..] if !r.is_empty() && r[0] != "status" => r,
        r => r,
    };
    let resource = rest.first().copied().unwrap_or("").to_owned();
    let named = rest.len() > 1;
    let verb = match *method {
        Method::GET if watch => "WATCH",
        Method::GET if !named && !resource.is_empty() => "LIST",
        Method::GET | Method::HEAD => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    };
    (verb, resource)
}
