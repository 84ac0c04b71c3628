//! The node's floor under the Jobs benchmark: what running N pods of `/bin/true`, 64 at a
//! time, costs with the process runtime alone and no API, controllers or pod workers at all,
//! measured in the same command as `seq N | xargs -P64 -n1 /bin/true` (before and after).
//!
//! bench/jobs.sh compares a whole Job with xargs; its target is 1.5× xargs' time. This bench
//! asks how much of that budget the parts of a pod that the issue itself requires take before
//! any API object exists: each run is started exactly as the server's agent starts it
//! (`ProcessRuntime`, `start`, `wait`, `forget`, `release_pod`), adding one mechanism at a
//! time:
//!
//! - `direct`: the runtime spawns each process itself (a process group, the run's log file);
//! - `direct+cgroups`: and puts it in a cgroup of its own in each usable hierarchy (memory and
//!   CPU limits, OOM detection);
//! - `shim`: each run under a shim that outlives the server (restart safety: adoption, the
//!   exit recorded while no agent runs), no cgroups;
//! - `shim+cgroups`: both, which is what `kbatch server` runs;
//! - `shim+cgroups+store`: and, around each run, the seven durable store writes a pod of the
//!   Job makes (the pod's create, binding, status and finalizer removal; the Scheduled, Created
//!   and Started events), as raw values of the stored sizes straight into `SqliteStore`, with
//!   no admission, encoding or watchers.
//!
//! Every variant runs one working directory for all runs (the agent prepares one per pod) and
//! no token volume, so each figure is a floor. The machine's CPU (`/proc/stat`) is reported per
//! pod beside the wall time, since the shims and the processes are not this process's.
//!
//! `cargo bench -p kbatch --bench runtime_floor [-- --runs 10000 --parallelism 64
//! --variants direct,shim+cgroups]`, with `TMPDIR` choosing the file system of the runs' log
//! files (a server's data dir). Cgroups need root; without them the cgroup variants are
//! skipped with a line that says so. docs/benchmarks/jobs.md §5.14 has the figures.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kbatch_agent::cgroup::Cgroups;
use kbatch_agent::logs::run_path;
use kbatch_agent::runtime::process::ProcessRuntime;
use kbatch_agent::runtime::{ContainerSpec, Limits, PodRef, Runtime, run_id};
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_store::{Revision, SqliteStore, Store};

mod machine;

/// The size of a Job's pod as the server stores it, with the service account's token volume
/// (docs/benchmarks/jobs.md §5.10).
const POD_BYTES: usize = 2_907;
/// The size of a stored Event of a Job's pod (Scheduled, Created, Started).
const EVENT_BYTES: usize = 630;

const VARIANTS: &[&str] = &[
    "direct",
    "direct+cgroups",
    "shim",
    "shim+cgroups",
    "shim+cgroups+store",
];

struct Args {
    runs: usize,
    parallelism: usize,
    variants: Vec<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        runs: 10_000,
        parallelism: 64,
        variants: VARIANTS.iter().map(|v| v.to_string()).collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--parallelism" => args.parallelism = value()?.parse().context("--parallelism")?,
            "--variants" => {
                args.variants = value()?.split(',').map(str::to_owned).collect();
                if let Some(v) = args
                    .variants
                    .iter()
                    .find(|v| !VARIANTS.contains(&v.as_str()))
                {
                    bail!(
                        "unknown variant {v:?}; the variants are {}",
                        VARIANTS.join(", ")
                    );
                }
            }
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => {
                bail!("unknown argument {other:?}; use --runs N, --parallelism N, --variants A,B")
            }
        }
    }
    if args.runs == 0 || args.parallelism == 0 {
        bail!("--runs and --parallelism must be at least 1");
    }
    Ok(args)
}

/// One measured stretch: wall time and the machine's busy CPU over it.
struct Figure {
    seconds: f64,
    cpu_seconds: f64,
}

fn measure<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<Figure> {
    let busy = machine::busy_seconds();
    let start = Instant::now();
    f()?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = machine::busy_seconds() - busy;
    Ok(Figure {
        seconds,
        cpu_seconds,
    })
}

fn xargs(runs: usize, parallelism: usize) -> anyhow::Result<Figure> {
    measure(|| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("seq {runs} | xargs -P{parallelism} -n1 /bin/true"))
            .status()
            .context("running xargs")?;
        if !status.success() {
            bail!("xargs failed: {status}");
        }
        Ok(())
    })
}

/// The seven writes of one pod, in the order the Job's pod makes them.
struct PodWrites {
    store: Arc<dyn Store>,
    pod: Vec<u8>,
    event: Vec<u8>,
}

impl PodWrites {
    /// The pod's create, its binding and the Scheduled event: before its process starts.
    async fn before(&self, name: &str) -> anyhow::Result<Revision> {
        let key = format!("/registry/pods/bench/{name}");
        let created = self.store.create(&key, self.pod.clone()).await?;
        let bound = self.store.update(&key, self.pod.clone(), created).await?;
        self.event(name, "scheduled").await?;
        Ok(bound)
    }

    /// The Created and Started events, the final status, and the tracking finalizer's removal.
    async fn after(&self, name: &str, revision: Revision) -> anyhow::Result<()> {
        let key = format!("/registry/pods/bench/{name}");
        self.event(name, "created").await?;
        self.event(name, "started").await?;
        let status = self.store.update(&key, self.pod.clone(), revision).await?;
        self.store.update(&key, self.pod.clone(), status).await?;
        Ok(())
    }

    async fn event(&self, name: &str, what: &str) -> anyhow::Result<()> {
        let key = format!("/registry/events/bench/{name}.{what}");
        self.store.create(&key, self.event.clone()).await?;
        Ok(())
    }
}

struct Variant {
    runtime: Arc<dyn Runtime>,
    writes: Option<PodWrites>,
}

fn build(
    name: &str,
    dir: &Path,
    run_dir: &Path,
    cgroups: &Option<Cgroups>,
) -> anyhow::Result<Option<Variant>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let with_cgroups = name.contains("cgroups");
    if with_cgroups && cgroups.is_none() {
        return Ok(None);
    }
    let runtime =
        ProcessRuntime::with_cgroups(clock, if with_cgroups { cgroups.clone() } else { None });
    let runtime = if name.starts_with("shim") {
        let state = run_dir.join(kbatch_agent::run_dir::RUNS).join(name);
        std::fs::create_dir_all(&state)?;
        runtime.with_shim(env!("CARGO_BIN_EXE_kbatch"), state)
    } else {
        runtime
    };
    let writes = if name.ends_with("+store") {
        let store = SqliteStore::open(dir.join(format!("store-{name}")))?;
        Some(PodWrites {
            store: Arc::new(store),
            pod: vec![b'p'; POD_BYTES],
            event: vec![b'e'; EVENT_BYTES],
        })
    } else {
        None
    };
    Ok(Some(Variant {
        runtime: Arc::new(runtime),
        writes,
    }))
}

async fn one_pod(
    variant: &Variant,
    data: &Path,
    work: &Path,
    tag: &str,
    i: usize,
) -> anyhow::Result<()> {
    let pod = PodRef {
        namespace: "bench".into(),
        name: format!("{tag}-{i}"),
        uid: format!("00000000-0000-4000-8000-{i:012}-{tag}"),
    };
    let revision = match &variant.writes {
        Some(w) => Some(w.before(&pod.name).await?),
        None => None,
    };
    let spec = ContainerSpec {
        id: run_id(&pod.uid, "c", 0),
        pod: pod.clone(),
        name: "c".into(),
        attempt: 0,
        argv: vec!["/bin/true".into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        working_dir: work.to_owned(),
        log_path: run_path(data, &pod, "c", 0),
        limits: Limits::default(),
        mounts: Vec::new(),
        image: None,
    };
    let id = spec.id.clone();
    let handle = variant
        .runtime
        .start(spec)
        .await
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", pod.name))?;
    let exit = handle.wait().await;
    if exit.code != 0 {
        bail!("{} exited {}: {exit:?}", pod.name, exit.code);
    }
    variant.runtime.forget(&id);
    variant.runtime.release_pod(&pod.uid).await;
    if let (Some(w), Some(rev)) = (&variant.writes, revision) {
        w.after(&pod.name, rev).await?;
    }
    Ok(())
}

fn run_variant(
    rt: &tokio::runtime::Runtime,
    variant: Arc<Variant>,
    tag: &str,
    args: &Args,
    data: &Path,
    work: &Path,
) -> anyhow::Result<Figure> {
    measure(|| {
        rt.block_on(async {
            let next = Arc::new(AtomicUsize::new(0));
            let mut workers = Vec::new();
            for _ in 0..args.parallelism {
                let (variant, next) = (variant.clone(), next.clone());
                let (data, work, tag) = (data.to_owned(), work.to_owned(), tag.to_owned());
                let runs = args.runs;
                workers.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= runs {
                            return anyhow::Ok(());
                        }
                        one_pod(&variant, &data, &work, &tag, i).await?;
                    }
                }));
            }
            for w in workers {
                w.await??;
            }
            anyhow::Ok(())
        })
    })
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let cgroups = Cgroups::detect().ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tmp = tempfile::Builder::new().prefix("kbatch-floor").tempdir()?;
    let agent_dir = tmp.path().join("agent");
    let run_dir = kbatch_agent::run_dir::default_for(&agent_dir);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work)?;

    println!(
        "runtime floor: {} runs of /bin/true, {} at a time, 2 tokio workers; cgroups: {}; load {}",
        args.runs,
        args.parallelism,
        cgroups
            .as_ref()
            .map_or("none usable".into(), |c| c.describe()),
        load()
    );
    let before = xargs(args.runs, args.parallelism)?;
    let mut rows = Vec::new();
    for name in &args.variants {
        let Some(variant) = build(name, tmp.path(), &run_dir, &cgroups)? else {
            println!("{name}: skipped, no usable cgroups (root is needed)");
            continue;
        };
        let tag = name.replace('+', "-");
        let data = tmp.path().join(format!("data-{tag}"));
        let figure = run_variant(&rt, Arc::new(variant), &tag, &args, &data, &work)?;
        rows.push((name.clone(), figure));
    }
    let after = xargs(args.runs, args.parallelism)?;
    let base = (before.seconds + after.seconds) / 2.0;

    let per_pod = |f: &Figure| f.cpu_seconds * 1000.0 / args.runs as f64;
    println!();
    println!(
        "{:<32}{:>10}{:>10}{:>16}{:>20}",
        "", "seconds", "pods/s", "ratio to xargs", "machine CPU per pod"
    );
    let line = |label: &str, f: &Figure| {
        println!(
            "{label:<32}{:>10.2}{:>10.0}{:>16.2}{:>17.2} ms",
            f.seconds,
            args.runs as f64 / f.seconds,
            f.seconds / base,
            per_pod(f)
        );
    };
    line("xargs -P (before)", &before);
    for (name, f) in &rows {
        line(name, f);
    }
    line("xargs -P (after)", &after);
    if let Some((_, f)) = rows.iter().find(|(name, _)| name == "shim+cgroups") {
        println!(
            "the runtime as kbatch server runs it takes {:.2}x xargs before any API object exists; \
             the Jobs benchmark's target for the whole Job is 1.5x",
            f.seconds / base
        );
    }
    println!("load at the end {}", load());

    drop(rt);
    kbatch_agent::run_dir::release(&run_dir, &agent_dir);
    remove_own_run_dir(&run_dir, &agent_dir);
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}

/// The run directory `default_for` chose on a tmpfs, with the shims' state under it.
fn remove_own_run_dir(run_dir: &Path, agent_dir: &Path) {
    if run_dir != agent_dir {
        let _ = std::fs::remove_dir_all(run_dir);
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
