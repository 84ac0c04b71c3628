//! What the CronJob benchmarks share: the release `kbatch server` on a temporary data dir and a
//! loopback port, keep-alive HTTPS clients of their own (hyper + rustls, so kubectl's start-up
//! is never in a figure), a Job watch that stamps each arrival on this host's real-time clock,
//! the skew histogram from /metrics, and the server's CPU time and RSS from /proc.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub const CRONJOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";
pub const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
pub const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// The label the benches' job templates give their Jobs, for the watch.
pub const LABEL: &str = "kbatch-bench";

/// The host's real-time clock in nanoseconds since the epoch (the server's clock too).
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// `uptime`'s load averages, for the report.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running `kbatch server` (no node: the benches' Jobs are suspended and run no pod).
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start() -> Server {
        Self::start_in(tempfile::tempdir().expect("temp dir"), &[])
    }

    /// Starts a server on `dir` (a restart when it holds a data dir already) with `extra`
    /// arguments, then `KBATCH_CRON_SERVER_ARGS` (e.g. `--concurrent-cron-job-syncs 5`).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
            .arg("server")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--no-agent"])
            .args(extra)
            .args(
                std::env::var("KBATCH_CRON_SERVER_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env("KBATCH_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kbatch server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server exited before listening")
                .expect("reading the server's output");
            if let Some(url) = line.strip_prefix("kbatch server listening on ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let addr = url
            .trim_start_matches("https://")
            .parse()
            .expect("the server's address");
        Server { child, dir, addr }
    }

    /// SIGTERM, then the data dir back for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    pub fn target(&self) -> Arc<Target> {
        let data = self.dir.path().join("data");
        let ca = std::fs::read(data.join("pki/ca.crt")).expect("ca.crt");
        let token = std::fs::read_to_string(data.join("pki/admin.token")).expect("token");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(Target {
            addr: self.addr,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            authorization: format!("Bearer {}", token.trim()),
            host: self.addr.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's CPU time so far (utime + stime), in seconds.
    pub fn cpu(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse().ok())
            .collect();
        fields.iter().sum::<u64>() as f64 / crate::machine::clock_ticks()
    }

    /// The server's resident set, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Target {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    authorization: String,
    host: String,
}

/// One keep-alive HTTPS connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    target: Arc<Target>,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Client {
    pub async fn connect(target: &Arc<Target>) -> Client {
        let tcp = TcpStream::connect(target.addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::IpAddress(target.addr.ip().into());
        let tls = target.tls.connect(name, tcp).await.expect("TLS handshake");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Client {
            sender,
            target: target.clone(),
            connection,
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> hyper::Response<hyper::body::Incoming> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.target.host)
            .header(header::AUTHORIZATION, &self.target.authorization)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "kbatch-bench/0.1");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        self.sender.send_request(request).await.expect("response")
    }

    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> (StatusCode, Bytes) {
        let response = self.send(method, path, body).await;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes();
        (status, body)
    }

    pub async fn get_json(&mut self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// Creates the object; panics when the server refuses.
    pub async fn create(&mut self, path: &str, object: &Value) {
        let body = Bytes::from(object.to_string());
        let (status, reply) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "POST {path}: {}",
            String::from_utf8_lossy(&reply[..reply.len().min(300)])
        );
    }

    /// The store's current revision: a list's resourceVersion (the namespaces: a short list).
    pub async fn revision(&mut self) -> i64 {
        let list = self.get_json("/api/v1/namespaces").await;
        list["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .expect("a list's resourceVersion")
    }

    /// `cronjob_controller_job_creation_skew_duration_seconds` as /metrics shows it.
    pub async fn skew_histogram(&mut self) -> Histogram {
        let (status, body) = self.call(Method::GET, "/metrics", None).await;
        assert_eq!(status, StatusCode::OK, "GET /metrics");
        Histogram::parse(&String::from_utf8_lossy(&body))
    }
}

/// Creates `objects` through `clients` concurrent connections; returns the seconds it took.
pub async fn create_all(
    target: &Arc<Target>,
    path: &str,
    objects: Vec<Value>,
    clients: usize,
) -> f64 {
    let start = Instant::now();
    let objects = Arc::new(objects);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (target, objects, next, path) = (
            target.clone(),
            objects.clone(),
            next.clone(),
            path.to_owned(),
        );
        tasks.spawn(async move {
            let mut client = Client::connect(&target).await;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(object) = objects.get(i) else { break };
                client.create(&path, object).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a creating client");
    }
    start.elapsed().as_secs_f64()
}

/// A Job the watch saw created: its name, the slot its annotation names (ns since the epoch),
/// and when its ADDED event arrived here.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub name: String,
    pub slot_ns: i128,
    pub arrived_ns: i128,
}

/// Watches the Jobs labelled `LABEL=value` from now on; every ADDED event is stamped on
/// arrival and sent on the channel.
pub async fn watch_jobs(target: &Arc<Target>, value: &str) -> mpsc::UnboundedReceiver<Arrival> {
    let mut client = Client::connect(target).await;
    let selector = format!("labelSelector={LABEL}%3D{value}");
    let list = client.get_json(&format!("{JOBS}?{selector}")).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned();
    let path = format!("{JOBS}?watch=true&{selector}&resourceVersion={rv}");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watch = Client::connect(target).await;
    tokio::spawn(async move {
        let response = watch.send(Method::GET, &path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "the Job watch");
        let mut body = response.into_body();
        let mut buffer = Vec::new();
        while let Some(frame) = body.frame().await {
            let arrived_ns = now_ns();
            // An error ends the stream: the server is gone (each part stops its own).
            let Ok(frame) = frame else { return };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let event: Value = serde_json::from_slice(&line).expect("a watch event");
                if event["type"] != "ADDED" {
                    continue;
                }
                let job = &event["object"];
                let slot = job["metadata"]["annotations"][SCHEDULED]
                    .as_str()
                    .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                    .map_or(0, |t| t.as_nanosecond());
                let name = job["metadata"]["name"].as_str().unwrap_or("").to_owned();
                if tx
                    .send(Arrival {
                        name,
                        slot_ns: slot,
                        arrived_ns,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

/// A suspended Job labelled for the watch: what a CronJob of [`cronjob`] creates.
pub fn job(name: &str, label: &str) -> Value {
    serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {LABEL: label}},
        "spec": {"suspend": true, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        }}},
    })
}

/// A CronJob whose Jobs are suspended (no pod, ever) and labelled for the watch.
pub fn cronjob(name: &str, schedule: &str, zone: Option<&str>, label: &str) -> Value {
    let mut cj = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {LABEL: label}},
                "spec": {"suspend": true, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }}},
            },
        },
    });
    if let Some(zone) = zone {
        cj["spec"]["timeZone"] = Value::from(zone);
    }
    cj
}

/// A Prometheus histogram: cumulative counts by upper bound, sum, count.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

const SKEW: &str = "cronjob_controller_job_creation_skew_duration_seconds";

impl Histogram {
    fn parse(text: &str) -> Histogram {
        let mut h = Histogram::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(SKEW) else {
                continue;
            };
            let value = rest.rsplit(' ').next().unwrap_or("");
            if let Some(labels) = rest.strip_prefix("_bucket{le=\"") {
                let bound = labels.split('"').next().unwrap_or("");
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().unwrap_or(f64::NAN)
                };
                h.buckets.push((bound, value.parse().unwrap_or(0)));
            } else if rest.starts_with("_sum") {
                h.sum = value.parse().unwrap_or(0.0);
            } else if rest.starts_with("_count") {
                h.count = value.parse().unwrap_or(0);
            }
        }
        h
    }

    /// What was observed between `earlier` and this scrape.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, n)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(b, _)| b == bound)
                        .map_or(0, |(_, n)| *n);
                    (*bound, n - before)
                })
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// The upper bound of the bucket that holds quantile `q`.
    pub fn quantile_bound(&self, q: f64) -> f64 {
        let rank = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank.max(1))
            .map_or(f64::NAN, |(bound, _)| *bound)
    }

    /// One line: count, mean, the buckets up to 1 s.
    pub fn describe(&self) -> String {
        let small: Vec<String> = self
            .buckets
            .iter()
            .filter(|(bound, _)| *bound <= 1.0)
            .map(|(bound, n)| format!("<={}ms:{n}", bound * 1000.0))
            .collect();
        format!(
            "{} observations, mean {:.1} ms, p50 <= {} ms, p99 <= {} ms; cumulative {}",
            self.count,
            if self.count == 0 {
                0.0
            } else {
                self.sum / self.count as f64 * 1000.0
            },
            self.quantile_bound(0.5) * 1000.0,
            self.quantile_bound(0.99) * 1000.0,
            small.join(" ")
        )
    }
}

/// Milliseconds at quantile `q` (nearest rank) of sorted nanosecond samples.
pub fn quantile_ms(sorted: &[i128], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

/// "p50 p90 p99 max" of nanosecond samples, in ms.
pub fn quantiles(mut samples: Vec<i128>) -> String {
    samples.sort_unstable();
    format!(
        "n {} | p50 {:.1} | p90 {:.1} | p99 {:.1} | max {:.1} ms",
        samples.len(),
        quantile_ms(&samples, 0.5),
        quantile_ms(&samples, 0.9),
        quantile_ms(&samples, 0.99),
        quantile_ms(&samples, 1.0)
    )
}
