//! Pod start latency of a running `kbatch server`: the time from a pod's creation to its
//! process running, over pods created one at a time on an otherwise idle server.
//!
//! Kubernetes' JSON gives creationTimestamp and the container's startedAt in whole seconds,
//! so neither end can be read from the API. Both ends are taken on this host's real-time
//! clock instead:
//! - created: this client creates each pod itself and stamps the moment it sent the POST and
//!   the moment the 201 came back; the pod was committed between the two. It also stamps when
//!   the pod's ADDED watch event arrived.
//! - running: the pod's command is `date +%s%N`, so its log holds the time its process ran
//!   (after exec and date's own start-up, a fraction of a millisecond).
//!
//! The next pod is created once the watch shows the previous one Succeeded, so each pod
//! starts on an idle server.
//!
//! Run by bench/jobs.sh; by hand, against a server started with `kbatch server --data-dir D`:
//! `cargo bench -p kbatch --bench pod_start -- --data-dir D --server https://127.0.0.1:PORT
//! [--pods 1000] [--warmup 0] [--namespace default]`.
//!
//! bench/runc.sh runs it on the runc runtime with `--image IMAGE [--pull-policy Never]
//! [--runtime-class runc] [--samples FILE]`: the pod then runs busybox's `adjtimex`, whose output holds the
//! real-time clock in microseconds (busybox's `date` has no `%N`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

/// Label on every pod this bench creates; its watch selects on it.
const LABEL: &str = "kbatch-bench";
const LABEL_VALUE: &str = "pod-start";
/// Longest wait for one pod to finish before the bench gives up.
const POD_TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    data_dir: PathBuf,
    server: String,
    pods: usize,
    /// Pods created and awaited the same way first, not measured: a server's first pods
    /// find its caches cold (the image's metadata, the token signer, the API's listers).
    warmup: usize,
    namespace: String,
    /// None: the process runtime's `date +%s%N` on the host.
    image: Option<String>,
    pull_policy: Option<String>,
    runtime_class: Option<String>,
    /// Where to append each pod's latency from POST sent to running, in microseconds, one
    /// per line (bench/runc.sh pools the samples of several runs).
    samples: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut data_dir = None;
    let mut server = None;
    let mut pods = 1000;
    let mut warmup = 0;
    let mut namespace = "default".to_owned();
    let mut image = None;
    let mut pull_policy = None;
    let mut runtime_class = None;
    let mut samples = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--server" => server = Some(value()?),
            "--pods" => pods = value()?.parse().context("--pods")?,
            "--warmup" => warmup = value()?.parse().context("--warmup")?,
            "--namespace" => namespace = value()?,
            "--image" => image = Some(value()?),
            "--pull-policy" => pull_policy = Some(value()?),
            "--runtime-class" => runtime_class = Some(value()?),
            "--samples" => samples = Some(PathBuf::from(value()?)),
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        data_dir: data_dir.context("--data-dir is required")?,
        server: server.context("--server is required")?,
        pods,
        warmup,
        namespace,
        image,
        pull_policy,
        runtime_class,
        samples,
    })
}

/// The host's real-time clock in nanoseconds since the epoch: the clock `date +%s%N` reads.
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// One HTTPS connection to the server, authenticated with the admin token.
struct Client {
    host: String,
    token: String,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl Client {
    fn new(args: &Args) -> anyhow::Result<Client> {
        let host = args
            .server
            .strip_prefix("https://")
            .context("--server must be an https:// URL")?
            .trim_end_matches('/')
            .to_owned();
        let ca = CertificateDer::from_pem_file(args.data_dir.join("pki/ca.crt"))
            .context("reading pki/ca.crt")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca)?;
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let token = std::fs::read_to_string(args.data_dir.join("pki/admin.token"))
            .context("reading pki/admin.token")?
            .trim()
            .to_owned();
        let ip = host
            .rsplit_once(':')
            .map_or(host.as_str(), |(ip, _)| ip)
            .trim_matches(['[', ']']);
        let server_name = ServerName::try_from(ip.to_owned()).context("server address")?;
        Ok(Client {
            host,
            token,
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect(&self.host).await?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> hyper::Request<Full<Bytes>> {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", &self.host)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(Full::new(body))
            .expect("a well-formed request")
    }
}

/// What the watch saw of one pod: when its ADDED event arrived, when the event that shows it
/// bound to a node arrived, whether it finished.
#[derive(Debug)]
enum Seen {
    Added(String, i128),
    Bound(String, i128),
    Finished(String, String),
}

/// Follows the bench's pods and reports ADDED events, bindings and terminal phases as they
/// arrive.
async fn watch(
    mut sender: SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
    tx: mpsc::UnboundedSender<Seen>,
) -> anyhow::Result<()> {
    let response = sender.send_request(request).await?;
    if response.status() != 200 {
        bail!("watch answered {}", response.status());
    }
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    let mut bound = std::collections::HashSet::new();
    while let Some(frame) = body.frame().await {
        let received = now_ns();
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: Value = serde_json::from_slice(&line).context("a watch event")?;
            let name = event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if event["type"] == "ADDED" {
                let _ = tx.send(Seen::Added(name.clone(), received));
            }
            if event["object"]["spec"]["nodeName"].is_string() && bound.insert(name.clone()) {
                let _ = tx.send(Seen::Bound(name.clone(), received));
            }
            if let Some(phase @ ("Succeeded" | "Failed")) =
                event["object"]["status"]["phase"].as_str()
            {
                let _ = tx.send(Seen::Finished(name, phase.to_owned()));
            }
        }
    }
    bail!("the watch ended")
}

fn pod(name: &str, args: &Args) -> Value {
    let mut container = match &args.image {
        None => json!({"name": "stamp", "image": "busybox", "command": ["date", "+%s%N"]}),
        Some(image) => json!({"name": "stamp", "image": image, "command": ["adjtimex"]}),
    };
    if let Some(policy) = &args.pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    let mut spec = json!({"restartPolicy": "Never", "containers": [container]});
    if let Some(class) = &args.runtime_class {
        spec["runtimeClassName"] = json!(class);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: LABEL_VALUE}},
        "spec": spec,
    })
}

/// The time a pod's log holds, in ns since the epoch: `date +%s%N`'s, or the `time.tv_sec`
/// and `time.tv_usec` lines of busybox's `adjtimex`.
fn stamp_of(log: &str) -> Option<i128> {
    if let Ok(ns) = log.trim().parse() {
        return Some(ns);
    }
    let field = |name: &str| {
        log.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<i128>().ok())
    };
    Some(field("time.tv_sec:")? * 1_000_000_000 + field("time.tv_usec:")? * 1_000)
}

/// Per pod: POST sent, 201 received, ADDED received, binding received, process ran (ns since
/// the epoch).
#[derive(Debug, Default, Clone, Copy)]
struct Stamps {
    sent: i128,
    created: i128,
    added: Option<i128>,
    bound: Option<i128>,
    ran: i128,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client::new(&args)?;
    let ns = &args.namespace;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watch_request = client.request(
        "GET",
        &format!("/api/v1/namespaces/{ns}/pods?watch=true&labelSelector={LABEL}%3D{LABEL_VALUE}"),
        None,
    );
    let watcher = tokio::spawn(watch(client.connect().await?, watch_request, tx));
    let mut api = client.connect().await?;
    let mut stamps: Vec<Stamps> = Vec::with_capacity(args.pods);
    let mut added: HashMap<String, i128> = HashMap::new();
    let mut bound: HashMap<String, i128> = HashMap::new();
    let warmups = (0..args.warmup).map(|i| (format!("warmup-{i}"), false));
    let measured = (0..args.pods).map(|i| (format!("start-{i}"), true));
    for (name, measure) in warmups.chain(measured) {
        let request = client.request(
            "POST",
            &format!("/api/v1/namespaces/{ns}/pods"),
            Some(&pod(&name, &args)),
        );
        let sent = now_ns();
        let response = api.send_request(request).await?;
        let created = now_ns();
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != 201 {
            bail!(
                "creating {name}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        if measure {
            stamps.push(Stamps {
                sent,
                created,
                ..Default::default()
            });
        }
        let finished = async {
            while let Some(seen) = rx.recv().await {
                match seen {
                    Seen::Added(pod, at) => {
                        added.insert(pod, at);
                    }
                    Seen::Bound(pod, at) => {
                        bound.insert(pod, at);
                    }
                    Seen::Finished(pod, phase) if pod == name => return Some(phase),
                    Seen::Finished(..) => {}
                }
            }
            None
        };
        match tokio::time::timeout(POD_TIMEOUT, finished).await {
            Ok(Some(phase)) if phase == "Succeeded" => {}
            Ok(Some(phase)) => bail!("{name} ended {phase}"),
            Ok(None) => bail!("the watch stopped: {:?}", watcher.await),
            Err(_) => bail!("{name} did not finish within {POD_TIMEOUT:?}"),
        }
    }
    for (i, stamp) in stamps.iter_mut().enumerate() {
        let name = format!("start-{i}");
        stamp.added = added.get(&name).copied();
        stamp.bound = bound.get(&name).copied();
        let request = client.request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/pods/{name}/log"),
            None,
        );
        let response = api.send_request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body);
        stamp.ran = stamp_of(&text)
            .with_context(|| format!("the log of {name} is not a time: {text:?}"))?;
    }
    report(&stamps);
    if let Some(path) = &args.samples {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        for s in &stamps {
            writeln!(file, "{}", (s.ran - s.sent) / 1000)?;
        }
    }
    Ok(())
}

/// Milliseconds at the given quantile (nearest rank) of sorted nanosecond samples.
fn quantile_ms(sorted: &[i128], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn report(stamps: &[Stamps]) {
    report_quantiles(stamps);
    // Objects pile up as the run goes on (pods, and four events per pod): a latency that
    // grows from one tenth to the next is a cost that grows with them.
    let tenth = (stamps.len() / 10).max(1);
    let medians: Vec<String> = stamps
        .chunks(tenth)
        .map(|chunk| {
            let mut samples: Vec<i128> = chunk.iter().map(|s| s.ran - s.created).collect();
            samples.sort_unstable();
            format!("{:.1}", quantile_ms(&samples, 0.5))
        })
        .collect();
    println!(
        "p50 of 201 -> running per {tenth} pods, in creation order: {}",
        medians.join(" ")
    );
}

fn report_quantiles(stamps: &[Stamps]) {
    let rows: [(&str, Vec<i128>); 3] = [
        (
            "201 received -> running",
            stamps.iter().map(|s| s.ran - s.created).collect(),
        ),
        (
            "POST sent -> running",
            stamps.iter().map(|s| s.ran - s.sent).collect(),
        ),
        (
            "ADDED received -> running",
            stamps
                .iter()
                .filter_map(|s| s.added.map(|a| s.ran - a))
                .collect(),
        ),
    ];
    let round_trip: Vec<i128> = stamps.iter().map(|s| s.created - s.sent).collect();
    let scheduling: Vec<i128> = stamps
        .iter()
        .filter_map(|s| s.bound.map(|b| b - s.created))
        .collect();
    let starting: Vec<i128> = stamps
        .iter()
        .filter_map(|s| s.bound.map(|b| s.ran - b))
        .collect();
    println!(
        "pod start latency over {} pods, created one at a time (ms)",
        stamps.len()
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "from", "p50", "p90", "p99", "max"
    );
    let rows = rows.into_iter().chain([
        ("(POST round trip)", round_trip),
        ("(201 -> binding received)", scheduling),
        ("(binding -> running)", starting),
    ]);
    for (label, mut samples) in rows {
        samples.sort_unstable();
        if samples.is_empty() {
            continue;
        }
        println!(
            "{label:<28} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            quantile_ms(&samples, 0.5),
            quantile_ms(&samples, 0.9),
            quantile_ms(&samples, 0.99),
            quantile_ms(&samples, 1.0),
        );
    }
}

fn main() -> std::process::ExitCode {
    let result = parse_args().and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(args))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pod_start: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
