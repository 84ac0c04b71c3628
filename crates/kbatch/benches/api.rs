//! The API over HTTPS against the store underneath it, in one run.
//!
//! `cargo bench -p kbatch --bench api` (about 40 s; docs/benchmarks/api.md has figures). Starts
//! the release `kbatch server` on a temporary data dir on a loopback port and drives it like
//! kubectl does: keep-alive HTTPS connections (TLS 1.3, the server's CA, the admin bearer
//! token), JSON bodies, `POST .../namespaces/default/jobs?fieldManager=kubectl-create&
//! fieldValidation=Strict`.
//!
//! Each round measures, interleaved because the shared machine's disk and CPUs change speed
//! from one second to the next:
//!
//! * the store alone (`kbatch_store::SqliteStore` in this process, its own data dir on the same
//!   disk, values the size of a stored Job): creates by 1 writer, gets by 1 reader, creates by
//!   16 concurrent writers, gets by 16 readers — the floor under the API;
//! * the API: the same counts of Job creates and gets, by 1 sequential client and by 16
//!   concurrent clients, each on its own connection.
//!
//! Then the watch fan-out: `KBATCH_BENCH_WATCHERS` watches of the jobs collection from the
//! current resourceVersion, each on its own connection, then `KBATCH_BENCH_WATCH_EVENTS` creates
//! by 16 clients; every watcher must receive every create, once and in order, and the bench
//! says which did not.
//!
//! With `KBATCH_BENCH_ETCD=URL[,URL…]` the server keeps its state in that etcd cluster
//! (`--store etcd`, under a prefix of its own) and the store rows are etcd's own: plain `Put`s
//! and `Get`s of the same keys and values by etcd's client, on one connection per
//! writer/reader as the API's clients have — the floor an API over etcd stands on.
//!
//! Settings (environment):
//!
//! * `KBATCH_BENCH_ROUNDS` (3);
//! * `KBATCH_BENCH_SEQ`: sequential creates, then gets, per round (1000);
//! * `KBATCH_BENCH_CREATES`: concurrent creates, then gets, per round (10000);
//! * `KBATCH_BENCH_CLIENTS`: concurrent clients and store writers (16);
//! * `KBATCH_BENCH_WATCHERS` (100; 0 skips the fan-out), `KBATCH_BENCH_WATCH_EVENTS` (1000);
//! * `KBATCH_BENCH_FIGURES`: a comma-separated subset of the figures to measure, e.g.
//!   `api-create-n` when profiling (keys: store-create-1, api-create-1, store-get-1, api-get-1,
//!   store-create-n, api-create-n, store-get-n, api-get-n);
//! * `KBATCH_BENCH_SERVER_WRAP`: a command the server runs under, e.g.
//!   `perf record -F 499 --call-graph dwarf -o /tmp/api.perf --` (the server gets SIGTERM at
//!   the end, so the profiler writes its data).
//!
//! The CPU columns are user+system time from /proc per operation: the server's, and this
//! process's (the HTTPS clients for API rows, the store itself for store rows). Both share the
//! machine's cores, so the API rows are bounded by their sum.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use kbatch_store::{SqliteStore, Store};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

mod machine;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const CREATE_QUERY: &str = "?fieldManager=kubectl-create&fieldValidation=Strict";

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

/// The figures of a round: a key for `KBATCH_BENCH_FIGURES` and a label.
const FIGURES: [(&str, &str); 8] = [
    ("store-create-1", "store create, 1 writer"),
    ("api-create-1", "API   create, 1 client"),
    ("store-get-1", "store get,    1 reader"),
    ("api-get-1", "API   get,    1 client"),
    ("store-create-n", "store create, N writers"),
    ("api-create-n", "API   create, N clients"),
    ("store-get-n", "store get,    N readers"),
    ("api-get-n", "API   get,    N clients"),
];

#[derive(Debug, Clone)]
struct Settings {
    rounds: usize,
    seq: usize,
    creates: usize,
    clients: usize,
    watchers: usize,
    watch_events: usize,
    /// Which of `FIGURES` to measure (all by default).
    figures: Vec<bool>,
}

impl Settings {
    fn from_env() -> Self {
        let n = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(default)
        };
        Settings {
            rounds: n("KBATCH_BENCH_ROUNDS", 3).max(1),
            seq: n("KBATCH_BENCH_SEQ", 1000).max(1),
            creates: n("KBATCH_BENCH_CREATES", 10000).max(1),
            clients: n("KBATCH_BENCH_CLIENTS", 16).max(1),
            watchers: n("KBATCH_BENCH_WATCHERS", 100),
            watch_events: n("KBATCH_BENCH_WATCH_EVENTS", 1000).max(1),
            figures: match std::env::var("KBATCH_BENCH_FIGURES") {
                Ok(list) if !list.trim().is_empty() => {
                    let chosen: Vec<&str> = list.split(',').map(str::trim).collect();
                    for c in &chosen {
                        assert!(
                            FIGURES.iter().any(|(key, _)| key == c),
                            "KBATCH_BENCH_FIGURES: unknown figure {c:?}; known: {}",
                            FIGURES.map(|(key, _)| key).join(", ")
                        );
                    }
                    FIGURES
                        .iter()
                        .map(|(key, _)| chosen.contains(key))
                        .collect()
                }
                _ => vec![true; FIGURES.len()],
            },
        }
    }

    fn wants(&self, figure: usize) -> bool {
        self.figures[figure]
    }

    fn label(&self, figure: usize) -> String {
        FIGURES[figure].1.replace('N', &self.clients.to_string())
    }
}

/// What the API rows are measured against: kbatch's SQLite store in this process, or etcd
/// through its own client.
#[derive(Clone)]
enum Baseline {
    Store(Arc<dyn Store>),
    Etcd(Vec<etcd_client::Client>),
}

impl Baseline {
    /// A fresh baseline for a round: a new SQLite store in `dir`, or connections to etcd
    /// (one per writer).
    async fn open(dir: &std::path::Path, etcd: Option<&[String]>, writers: usize) -> Baseline {
        match etcd {
            None => Baseline::Store(Arc::new(SqliteStore::open(dir).expect("open store"))),
            Some(endpoints) => {
                let mut clients = Vec::with_capacity(writers);
                for _ in 0..writers.max(1) {
                    clients.push(
                        etcd_client::Client::connect(endpoints, None)
                            .await
                            .expect("connecting to etcd"),
                    );
                }
                Baseline::Etcd(clients)
            }
        }
    }

    async fn create(&self, writer: usize, key: String, value: Vec<u8>) {
        match self {
            Baseline::Store(store) => {
                store.create(&key, value).await.expect("store create");
            }
            Baseline::Etcd(clients) => {
                let mut client = clients[writer % clients.len()].clone();
                client.put(key, value, None).await.expect("etcd put");
            }
        }
    }

    async fn get(&self, reader: usize, key: String) {
        match self {
            Baseline::Store(store) => {
                store.get(&key).await.expect("store get");
            }
            Baseline::Etcd(clients) => {
                let mut client = clients[reader % clients.len()].clone();
                let found = client.get(key, None).await.expect("etcd get");
                assert_eq!(found.kvs().len(), 1, "etcd lost a key");
            }
        }
    }
}

fn etcd_endpoints() -> Option<Vec<String>> {
    std::env::var("KBATCH_BENCH_ETCD")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|e| e.trim().to_owned()).collect())
}

async fn run(s: Settings) {
    let etcd = etcd_endpoints();
    let server = Server::start(etcd.as_deref());
    if let Some(endpoints) = &etcd {
        println!(
            "store: etcd at {} (the server's --store etcd; the store rows are etcd's own Put and Get)",
            endpoints.join(",")
        );
    }
    let target = Arc::new(server.target());
    println!(
        "kbatch API benchmark: release `kbatch server` (pid {}) on {}, HTTPS keep-alive, {} CPUs",
        server.pid,
        target.addr,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    // Warm up (connections, page cache, allocator) and learn the size of a stored Job.
    let mut client = Client::connect(&target).await;
    for i in 0..50 {
        client.create(&format!("warm-{i}")).await;
    }
    let (_, job) = client
        .call(Method::GET, &format!("{JOBS}/warm-0"), None)
        .await;
    let stored = stored_value(&job);
    drop(client);
    let warm: Vec<String> = (0..50).map(|i| format!("warm-{i}")).collect();
    println!(
        "a stored Job is {} B (the created object as the server keeps it); request body {} B, response {} B",
        stored.len(),
        job_body("warm-0").len(),
        job.len()
    );
    println!(
        "rounds {}, sequential ops {}, concurrent ops {} by {} clients/writers; load average {}",
        s.rounds,
        s.seq,
        s.creates,
        s.clients,
        load_average()
    );
    println!();

    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); FIGURES.len()];
    let mut errors = 0usize;
    print_header();
    for round in 1..=s.rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Baseline::open(dir.path(), etcd.as_deref(), s.clients).await;
        let mut measured: Vec<Option<Measured>> = vec![None; FIGURES.len()];
        for (n, (prefix, first)) in [(1, ("a", 0)), (s.clients, ("b", 4))] {
            let total = if n == 1 { s.seq } else { s.creates };
            let keys = format!("{prefix}{round}");
            // The store's gets read what its creates wrote: those run even when not reported.
            if s.wants(first) || s.wants(first + 2) {
                measured[first] = Some(store_creates(&store, &stored, n, total, &keys).await);
            }
            let mut names = warm.clone();
            if s.wants(first + 1) {
                let created =
                    run_clients(&target, &server, n, total, create(&format!("r{keys}"))).await;
                errors += created.errors;
                measured[first + 1] = Some(created.measured);
                names = created.created.into_iter().map(|(n, _)| n).collect();
            }
            if s.wants(first + 2) {
                measured[first + 2] = Some(store_gets(&store, n, total, &keys).await);
            }
            if s.wants(first + 3) {
                let got = run_clients(&target, &server, n, total, Op::Get(Arc::new(names))).await;
                errors += got.errors;
                measured[first + 3] = Some(got.measured);
            }
        }
        drop(store);
        for (i, m) in measured.into_iter().enumerate() {
            if let (true, Some(m)) = (s.wants(i), m) {
                print_row(&format!("{round}  {}", s.label(i)), &m);
                results[i].push(m);
            }
        }
        println!();
    }
    let medians: Vec<Option<Measured>> = results
        .iter()
        .map(|r| (!r.is_empty()).then(|| Measured::median(r)))
        .collect();
    if s.rounds > 1 {
        println!("median of {} rounds (each column's median)", s.rounds);
        for (i, m) in medians.iter().enumerate() {
            if let Some(m) = m {
                print_row(&format!("   {}", s.label(i)), m);
            }
        }
        println!();
    }
    let mut ratios = Vec::new();
    for (api, store, what) in [
        (1, 0, "create 1 client".to_owned()),
        (3, 2, "get 1 client".to_owned()),
        (5, 4, format!("create {} clients", s.clients)),
        (7, 6, format!("get {} clients", s.clients)),
    ] {
        if let (Some(a), Some(b)) = (&medians[api], &medians[store]) {
            ratios.push(format!("{what} {:.2}", a.rate / b.rate));
        }
    }
    if !ratios.is_empty() {
        println!("API / store throughput: {}", ratios.join(", "));
    }
    if errors > 0 {
        println!("!! {errors} API requests failed (not counted as successes)");
    }
    // Weighted by duration: a figure of a few milliseconds says little about the machine.
    let (busy, seconds) = medians.iter().flatten().fold((0.0, 0.0), |(b, t), m| {
        (b + m.others * m.seconds, t + m.seconds)
    });
    let busy = busy / f64::max(seconds, 1e-9);
    if busy > 0.25 {
        println!(
            "!! other processes kept {busy:.1} of the machine's cores busy during these measurements: the figures are lower than on an idle machine"
        );
    }
    println!();

    let watch = if s.watchers > 0 {
        Some(watch_fan_out(&target, &server, &s).await)
    } else {
        None
    };
    println!();

    println!("targets (medians):");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    if let Some(m) = &medians[5] {
        println!(
            "  >= 5000 durable creates/s with {} clients: {:.0}/s  {}",
            s.clients,
            m.rate,
            verdict(m.rate >= 5000.0)
        );
        println!(
            "  create p99 <= 20 ms with {} clients: {:.2} ms  {}",
            s.clients,
            ms(m.p99),
            verdict(m.p99 <= Duration::from_millis(20))
        );
    }
    if let Some(m) = &medians[1] {
        let store = medians[0]
            .as_ref()
            .map(|st| format!("  (the store alone: {:.3} ms)", ms(st.p50)))
            .unwrap_or_default();
        println!(
            "  sequential create p50 <= 1 ms: {:.3} ms  {}{store}",
            ms(m.p50),
            verdict(m.p50 <= Duration::from_millis(1)),
        );
    }
    if let Some(w) = watch {
        println!(
            "  {} watchers each receive every event: {}/{} complete  {}",
            s.watchers,
            w.complete,
            s.watchers,
            verdict(w.complete == s.watchers)
        );
    }
    println!("load average at the end {}", load_average());
    drop(server);
}

/// The 1-minute load average: other work on a shared machine shows here and in the
/// `others` column.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// One measured figure.
#[derive(Debug, Clone, Default)]
struct Measured {
    ops: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// CPU seconds per op, the server's and this process's.
    server_cpu: Option<f64>,
    bench_cpu: f64,
    /// Cores busy with other processes meanwhile (the machine is shared).
    others: f64,
    seconds: f64,
}

impl Measured {
    fn new(mut latencies: Vec<Duration>, elapsed: Duration, cpu: Spent) -> Self {
        latencies.sort();
        let n = latencies.len();
        let at = |q: f64| {
            if n == 0 {
                Duration::ZERO
            } else {
                latencies[(((n as f64) * q).ceil() as usize).clamp(1, n) - 1]
            }
        };
        let per_op = |cpu: f64| cpu / n.max(1) as f64;
        Measured {
            ops: n,
            rate: n as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
            server_cpu: cpu.server.map(per_op),
            bench_cpu: per_op(cpu.own),
            others: cpu.others / elapsed.as_secs_f64(),
            seconds: elapsed.as_secs_f64(),
        }
    }

    fn median(all: &[Measured]) -> Measured {
        fn mid<T: Copy, K: PartialOrd>(
            all: &[Measured],
            f: impl Fn(&Measured) -> T,
            key: impl Fn(&T) -> K,
        ) -> T {
            let mut v: Vec<T> = all.iter().map(f).collect();
            v.sort_by(|a, b| {
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            v[v.len() / 2]
        }
        Measured {
            ops: all[0].ops,
            rate: mid(all, |m| m.rate, |r| *r),
            p50: mid(all, |m| m.p50, |d| *d),
            p99: mid(all, |m| m.p99, |d| *d),
            max: mid(all, |m| m.max, |d| *d),
            server_cpu: mid(all, |m| m.server_cpu, |c| c.unwrap_or(0.0)),
            bench_cpu: mid(all, |m| m.bench_cpu, |c| *c),
            others: mid(all, |m| m.others, |c| *c),
            seconds: mid(all, |m| m.seconds, |c| *c),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_header() {
    println!(
        "{:<28} {:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>7}",
        "round / figure",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU",
        "bench CPU",
        "others"
    );
    println!(
        "{:<28} {:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>7}",
        "", "", "", "", "", "", "µs/op", "µs/op", "cores"
    );
}

fn print_row(label: &str, m: &Measured) {
    let server = m
        .server_cpu
        .map_or_else(|| "-".to_owned(), |c| format!("{:.0}", c * 1e6));
    println!(
        "{:<28} {:>6} {:>9.0} {:>8.3} {:>8.3} {:>8.2} {:>11} {:>10.0} {:>7.1}",
        label,
        m.ops,
        m.rate,
        ms(m.p50),
        ms(m.p99),
        ms(m.max),
        server,
        m.bench_cpu * 1e6,
        m.others
    );
}

// ---------------------------------------------------------------------------------------
// The server process.

struct Server {
    child: Child,
    /// The kbatch process itself (the child unless the server runs under a wrapper).
    pid: u32,
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    addr: SocketAddr,
}

impl Server {
    fn start(etcd: Option<&[String]>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Vec<String> = match etcd {
            None => Vec::new(),
            Some(endpoints) => vec![
                "--store".to_owned(),
                "etcd".to_owned(),
                "--etcd-endpoints".to_owned(),
                endpoints.join(","),
                "--etcd-prefix".to_owned(),
                format!("/kbatch-api-bench-{}", std::process::id()),
            ],
        };
        let data = dir.path().join("data");
        let wrap: Vec<String> = std::env::var("KBATCH_BENCH_SERVER_WRAP")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let mut command = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_kbatch"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_kbatch")),
        };
        let mut child = command
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            // The API alone, as kube-apiserver is measured: no controllers reacting to the
            // 20,000 Jobs created here, no node running their pods.
            .args(["--no-controllers", "--no-agent"])
            .args(&store)
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
        let addr: SocketAddr = url
            .trim_start_matches("https://")
            .parse()
            .expect("the server's address");
        let pid = kbatch_pid(child.id());
        Server {
            child,
            pid,
            _dir: dir,
            data,
            addr,
        }
    }

    fn target(&self) -> Target {
        let ca = std::fs::read(self.data.join("pki/ca.crt")).expect("ca.crt");
        let token = std::fs::read_to_string(self.data.join("pki/admin.token")).expect("token");
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
        Target {
            addr: self.addr,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            authorization: format!("Bearer {}", token.trim()),
            host: self.addr.to_string(),
        }
    }

    /// The server's CPU time so far, in seconds.
    fn cpu(&self) -> Option<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }
}

impl Drop for Server {
    /// SIGTERM (so a wrapping profiler writes its data), then SIGKILL after 10 s; the
    /// kbatch process itself too, in case a wrapper exits without passing the signal on.
    /// Runs on panics too, so no server outlives the bench.
    fn drop(&mut self) {
        let signal = |name: &str, pid: u32| {
            let _ = Command::new("kill")
                .args([name, &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        };
        let alive = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let child = self.child.id();
        signal("-TERM", child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if self.pid != child && alive(self.pid) {
            signal("-TERM", self.pid);
            std::thread::sleep(Duration::from_millis(500));
            if alive(self.pid) {
                signal("-KILL", self.pid);
            }
        }
    }
}

/// The kbatch process under `pid`: itself, or the first descendant named kbatch (when the
/// server runs under a wrapper such as perf).
fn kbatch_pid(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut current = pid;
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{current}/comm")).unwrap_or_default();
        if comm.trim() == "kbatch" {
            return current;
        }
        let children = std::fs::read_to_string(format!("/proc/{current}/task/{current}/children"))
            .unwrap_or_default();
        match children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
        {
            Some(child) => current = child,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => return pid,
        }
    }
}

/// utime + stime of a /proc stat file, in seconds.
fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / machine::clock_ticks())
}

fn own_cpu() -> f64 {
    cpu_seconds("/proc/self/stat").unwrap_or(0.0)
}

/// CPU meters around one measurement.
struct Cpu {
    server: Option<f64>,
    own: f64,
    machine: f64,
}

/// CPU seconds spent during a measurement.
struct Spent {
    server: Option<f64>,
    own: f64,
    /// By every other process on the machine.
    others: f64,
}

impl Cpu {
    fn start(server: Option<&Server>) -> Cpu {
        Cpu {
            server: server.and_then(Server::cpu),
            own: own_cpu(),
            machine: machine::busy_seconds(),
        }
    }

    fn spent(&self, server: Option<&Server>) -> Spent {
        let server = match (self.server, server.and_then(Server::cpu)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let own = own_cpu() - self.own;
        let machine = machine::busy_seconds() - self.machine;
        Spent {
            server,
            own,
            others: (machine - own - server.unwrap_or(0.0)).max(0.0),
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTPS clients.

struct Target {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    authorization: String,
    host: String,
}

/// One keep-alive HTTPS connection.
struct Client {
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
    async fn connect(target: &Arc<Target>) -> Client {
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

    async fn send(
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

    async fn call(
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

    /// Creates a Job; its resourceVersion, or None when the server refused.
    async fn create(&mut self, name: &str) -> Option<i64> {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("{JOBS}{CREATE_QUERY}"),
                Some(job_body(name)),
            )
            .await;
        if status != StatusCode::CREATED {
            eprintln!(
                "create {name}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
            return None;
        }
        resource_version(&body)
    }
}

/// The body `kubectl create -f job.yaml` would send for a small Job.
fn job_body(name: &str) -> Bytes {
    Bytes::from(format!(
        concat!(
            r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{}","labels":{{"app":"bench","tier":"batch"}}}},"#,
            r#""spec":{{"backoffLimit":2,"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"main","#,
            r#""image":"busybox:1.36","command":["sh","-c","echo hello from the benchmark"],"#,
            r#""resources":{{"requests":{{"cpu":"100m","memory":"64Mi"}}}}}}]}}}}}}}}"#
        ),
        name
    ))
}

/// What the server stores for a Job: its JSON without the resourceVersion.
fn stored_value(object: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(object).expect("a Job");
    if let Some(meta) = value
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&value).expect("JSON")
}

/// The first `"resourceVersion":"N"` of a JSON text (a Job has one).
fn resource_version(json: &[u8]) -> Option<i64> {
    const KEY: &[u8] = br#""resourceVersion":""#;
    let at = json.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = &json[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// The measurements.

/// What the clients of one measurement do.
#[derive(Clone)]
enum Op {
    /// Create Jobs named `<prefix>-<client>-<i>`.
    Create(Arc<str>),
    /// Get these Jobs, round robin.
    Get(Arc<Vec<String>>),
}

/// The outcome of one client measurement.
struct ClientRun {
    measured: Measured,
    /// The created names and their resourceVersions.
    created: Vec<(String, i64)>,
    errors: usize,
    /// When the first request was sent.
    start: Instant,
}

fn create(prefix: &str) -> Op {
    Op::Create(Arc::from(prefix))
}

/// `clients` connections (made before the clock starts) doing `total` operations between
/// them, each timed.
async fn run_clients(
    target: &Arc<Target>,
    server: &Server,
    clients: usize,
    total: usize,
    op: Op,
) -> ClientRun {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(Client::connect(target).await);
    }
    let cpu = Cpu::start(Some(server));
    let start = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(w, mut client)| {
            let op = op.clone();
            let count = total / clients + usize::from(w < total % clients);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(count);
                let mut created = Vec::new();
                let mut errors = 0;
                for i in 0..count {
                    let t = Instant::now();
                    let ok = match &op {
                        Op::Create(prefix) => {
                            let name = format!("{prefix}-{w}-{i}");
                            match client.create(&name).await {
                                Some(rv) => {
                                    created.push((name, rv));
                                    true
                                }
                                None => false,
                            }
                        }
                        Op::Get(names) => {
                            let name = &names[(i * clients + w) % names.len()];
                            let (status, body) = client
                                .call(Method::GET, &format!("{JOBS}/{name}"), None)
                                .await;
                            let ok = status == StatusCode::OK && !body.is_empty();
                            if !ok {
                                eprintln!("get {name}: {status}");
                            }
                            ok
                        }
                    };
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, created, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut created = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, c, e) = task.await.expect("client task");
        latencies.extend(l);
        created.extend(c);
        errors += e;
    }
    let elapsed = start.elapsed();
    ClientRun {
        measured: Measured::new(latencies, elapsed, cpu.spent(Some(server))),
        created,
        errors,
        start,
    }
}

/// `total` creates of `value` through the store by `writers` concurrent tasks.
async fn store_creates(
    store: &Baseline,
    value: &[u8],
    writers: usize,
    total: usize,
    prefix: &str,
) -> Measured {
    let value = Arc::new(value.to_vec());
    run_store(writers, total, |w, i| {
        let store = store.clone();
        let value = value.clone();
        let key = format!("/registry/jobs/bench/{prefix}-{w}-{i}");
        async move { store.create(w, key, value.to_vec()).await }
    })
    .await
}

async fn store_gets(store: &Baseline, readers: usize, total: usize, prefix: &str) -> Measured {
    run_store(readers, total, |w, i| {
        let store = store.clone();
        let key = format!("/registry/jobs/bench/{prefix}-{w}-{i}");
        async move { store.get(w, key).await }
    })
    .await
}

async fn run_store<F, Fut>(tasks: usize, total: usize, op: F) -> Measured
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cpu = Cpu::start(None);
    let start = Instant::now();
    let counts: Vec<usize> = (0..tasks)
        .map(|w| total / tasks + usize::from(w < total % tasks))
        .collect();
    let handles: Vec<_> = counts
        .iter()
        .enumerate()
        .map(|(w, &count)| {
            let ops: Vec<Fut> = (0..count).map(|i| op(w, i)).collect();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(ops.len());
                for fut in ops {
                    let t = Instant::now();
                    fut.await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for h in handles {
        latencies.extend(h.await.expect("store task"));
    }
    let elapsed = start.elapsed();
    Measured::new(latencies, elapsed, cpu.spent(None))
}

// ---------------------------------------------------------------------------------------
// Watch fan-out.

struct WatchOutcome {
    complete: usize,
}

/// What one watcher saw.
struct Seen {
    revisions: Vec<i64>,
    other_events: usize,
    last_event: Option<Instant>,
}

async fn watch_fan_out(target: &Arc<Target>, server: &Server, s: &Settings) -> WatchOutcome {
    let mut client = Client::connect(target).await;
    let (status, list) = client
        .call(Method::GET, &format!("{JOBS}?limit=1"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "listing jobs");
    let from = resource_version(&list).expect("the list's resourceVersion");
    drop(client);

    // Every watch is established (its response head received, so the server has subscribed)
    // before the first create.
    let mut streams = Vec::with_capacity(s.watchers);
    for _ in 0..s.watchers {
        let mut c = Client::connect(target).await;
        let response = c
            .send(
                Method::GET,
                &format!("{JOBS}?watch=true&resourceVersion={from}"),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "starting a watch");
        streams.push((c, response.into_body()));
    }
    let expected = s.watch_events;
    let watchers: Vec<_> = streams
        .into_iter()
        .map(|(client, mut body)| {
            tokio::spawn(async move {
                let _client = client;
                let mut seen = Seen {
                    revisions: Vec::with_capacity(expected),
                    other_events: 0,
                    last_event: None,
                };
                let mut buf: Vec<u8> = Vec::new();
                // A watcher that hears nothing for this long has missed the rest.
                let idle = Duration::from_secs(15);
                while seen.revisions.len() < expected {
                    let frame = match tokio::time::timeout(idle, body.frame()).await {
                        Ok(Some(Ok(frame))) => frame,
                        _ => break,
                    };
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    buf.extend_from_slice(&data);
                    let mut consumed = 0;
                    while let Some(nl) = buf[consumed..].iter().position(|b| *b == b'\n') {
                        let line = &buf[consumed..consumed + nl];
                        if line.starts_with(br#"{"type":"ADDED""#) {
                            match resource_version(line) {
                                Some(rv) => seen.revisions.push(rv),
                                None => seen.other_events += 1,
                            }
                        } else if !line.is_empty() {
                            seen.other_events += 1;
                        }
                        consumed += nl + 1;
                    }
                    buf.drain(..consumed);
                    seen.last_event = Some(Instant::now());
                }
                seen
            })
        })
        .collect();

    let cpu = Cpu::start(Some(server));
    let ClientRun {
        measured: created,
        created: revisions,
        errors: create_errors,
        start,
    } = run_clients(target, server, s.clients, expected, create("w")).await;
    let creates_done = Instant::now();
    let mut seen = Vec::with_capacity(watchers.len());
    for w in watchers {
        seen.push(w.await.expect("watcher"));
    }
    let spent = cpu.spent(Some(server));
    let last = seen
        .iter()
        .filter_map(|s| s.last_event)
        .max()
        .unwrap_or(creates_done);
    let elapsed = last.saturating_duration_since(start);
    let delivered: usize = seen.iter().map(|s| s.revisions.len()).sum();
    let wanted = expected * s.watchers;

    // Every watcher must have every create, in revision order, once.
    let mut complete = 0;
    let mut problems = Vec::new();
    let mut reference: Vec<i64> = revisions.iter().map(|(_, rv)| *rv).collect();
    reference.sort_unstable();
    for (i, w) in seen.iter().enumerate() {
        let in_order = w.revisions.windows(2).all(|p| p[0] < p[1]);
        if w.revisions == reference && w.other_events == 0 {
            complete += 1;
        } else {
            problems.push(format!(
                "watcher {i}: {} of {} creates{}{}",
                w.revisions.len(),
                reference.len(),
                if in_order { "" } else { ", out of order" },
                if w.other_events > 0 {
                    format!(", {} other events", w.other_events)
                } else {
                    String::new()
                }
            ));
        }
    }
    println!(
        "watch fan-out: {} watchers from resourceVersion {from}, {} creates by {} clients ({:.0} creates/s, p99 {:.2} ms while watched)",
        s.watchers,
        reference.len(),
        s.clients,
        created.rate,
        ms(created.p99)
    );
    println!(
        "  delivered {delivered} of {wanted} events in {:.2} s: {:.0} events/s; the last event arrived {:.0} ms after the last create was acknowledged",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        ms(last.saturating_duration_since(creates_done))
    );
    if let Some(cpu) = spent.server {
        println!(
            "  server CPU {:.2} s ({:.1} µs per delivered event), bench CPU {:.2} s, other processes {:.1} cores",
            cpu,
            cpu * 1e6 / delivered.max(1) as f64,
            spent.own,
            spent.others / start.elapsed().as_secs_f64()
        );
    }
    if create_errors > 0 {
        println!("  !! {create_errors} creates failed");
    }
    if problems.is_empty() {
        println!(
            "  every watcher received every event, in order: {complete}/{} watchers complete",
            s.watchers
        );
    } else {
        println!(
            "  !! {} of {} watchers MISSED events:",
            problems.len(),
            s.watchers
        );
        for p in problems.iter().take(10) {
            println!("     {p}");
        }
    }
    WatchOutcome { complete }
}
