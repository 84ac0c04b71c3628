//! The process runtime: each run of a container is a host process started from the
//! container's `command` and `args` (no shell, no image), with its environment and working
//! directory, stdout and stderr going to the run's log file.
//!
//! Each run gets its own process group and, where the host allows, its own cgroups (joined
//! between fork and exec, so nothing it starts escapes them). Stopping a run signals the
//! whole group; when the run's first process ends, whatever it left behind is killed, as a
//! container's processes end with its init process.
//!
//! There is no isolation: a run sees the host's filesystem and network and runs as the
//! agent's user. Each run starts with exactly the environment it is given (nothing of the
//! agent's leaks in).
//!
//! Two modes:
//!
//! - **Direct** ([`ProcessRuntime::new`]): runs are children of the agent's process. An
//!   agent restarted in the same process (same runtime) adopts them with their exit status
//!   and output; an agent process that dies takes both with it, so its successor can only
//!   end what is left ([`Runtime::reclaim`]).
//! - **Shim** ([`ProcessRuntime::with_shim`]): each run has a supervisor process of its own
//!   (`crate::shim`) that outlives the agent's process, keeps writing the run's log and
//!   records its exit in a status file. A later agent process adopts the run
//!   ([`Runtime::adopt`]): it follows a live shim until its status file holds the exit,
//!   takes the exit of a run that ended while no agent ran, and reports as lost a run whose
//!   shim ended without recording one. While the shim is the runtime's own child the
//!   runtime waits for it; an adopted shim is someone else's child, so the runtime looks at
//!   its status file and its process (pid and start time) every [`ADOPTED_POLL`] instead: a
//!   run's end is seen that much later, which a batch pod does not notice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use kbatch_api::clock::Clock;
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::container::Launch;
use super::{ContainerHandle, ContainerSpec, Exit, ExitCell, Runtime, StartError, StopSignal};
use crate::cgroup::{self, Cgroups, RunCgroup};
use crate::checkpoint::{ProcessRecord, RunRecord, ShimRecord, start_ticks};
use crate::shim::{Handshake, RunStatus, SUBCOMMAND, ShimSpec};

/// How often an adopted run's shim and status file are looked at.
pub const ADOPTED_POLL: Duration = Duration::from_millis(100);

/// Host processes as containers.
#[derive(Debug)]
pub struct ProcessRuntime {
    clock: Arc<dyn Clock>,
    cgroups: Option<Cgroups>,
    shim: Option<Shim>,
    runs: Mutex<HashMap<String, Arc<ProcessRun>>>,
}

/// How runs are supervised in shim mode.
#[derive(Debug, Clone)]
struct Shim {
    /// The kbatch binary, run as `<program> __shim`.
    program: PathBuf,
    /// Where the shims' status files go, one per run.
    state_dir: PathBuf,
}

impl Shim {
    fn status_file(&self, id: &str) -> PathBuf {
        self.state_dir.join(format!("{id}.json"))
    }
}

impl ProcessRuntime {
    /// A runtime with the cgroups this host lets the agent use. Where there are none, it says
    /// so once in the log and runs containers without limits.
    pub fn new(clock: Arc<dyn Clock>) -> ProcessRuntime {
        let cgroups = match Cgroups::detect() {
            Ok(c) => {
                tracing::info!(cgroups = %c.describe(), "process runtime: container limits through cgroups");
                Some(c)
            }
            Err(why) => {
                tracing::warn!(
                    reason = %why,
                    "process runtime: no usable cgroups; memory and CPU limits are not applied and OOM kills are not detected"
                );
                None
            }
        };
        Self::with_cgroups(clock, cgroups)
    }

    /// A runtime that uses exactly these cgroups (none: process groups only).
    pub fn with_cgroups(clock: Arc<dyn Clock>, cgroups: Option<Cgroups>) -> ProcessRuntime {
        ProcessRuntime {
            clock,
            cgroups,
            shim: None,
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// The same runtime in shim mode: each run is supervised by `<program> __shim` (the
    /// kbatch binary, whose hidden subcommand calls [`crate::shim::run`]), which keeps its
    /// status file in `state_dir`.
    pub fn with_shim(
        self,
        program: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
    ) -> ProcessRuntime {
        ProcessRuntime {
            shim: Some(Shim {
                program: program.into(),
                state_dir: state_dir.into(),
            }),
            ..self
        }
    }

    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ProcessRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run's cgroups, with its limits set.
    fn create_cgroup(&self, spec: &ContainerSpec) -> Result<Option<RunCgroup>, StartError> {
        let Some(c) = &self.cgroups else {
            return Ok(None);
        };
        let name = format!("{}-{}", spec.name, spec.attempt);
        let made = c.create(&spec.pod.uid, &name).and_then(|cg| {
            cg.apply(&spec.limits)?;
            Ok(cg)
        });
        made.map(Some)
            .map_err(|e| StartError(format!("creating the container's cgroup: {e}")))
    }

    /// Starts the run in the agent's process.
    async fn start_direct(&self, launch: Launch) -> Result<Arc<ProcessRun>, StartError> {
        let id = launch.id.clone();
        let started = launch.start(self.clock.clone()).await?;
        let run = Arc::new(ProcessRun {
            id,
            started_at: self.clock.now(),
            record: started.record(),
            exit: ExitCell::new(),
        });
        let clock = self.clock.clone();
        let watched = run.clone();
        tokio::spawn(async move { watched.exit.set(started.supervise(clock).await) });
        Ok(run)
    }

    /// Starts the run under a shim of its own.
    async fn start_supervised(
        &self,
        shim: &Shim,
        launch: Launch,
    ) -> Result<Arc<ProcessRun>, StartError> {
        let cgroups = launch
            .cgroup
            .as_ref()
            .map(RunCgroup::paths)
            .unwrap_or_default();
        let id = launch.id.clone();
        let started = self.spawn_shim(shim, launch).await;
        let (record, shim, child) = match started {
            Ok(started) => started,
            Err(e) => {
                // The shim removes the cgroups of a run it could not start; one that never
                // got that far cannot have.
                cgroup::remove(&cgroups).await;
                return Err(e);
            }
        };
        let run = Arc::new(ProcessRun {
            id,
            started_at: self.clock.now(),
            record,
            exit: ExitCell::new(),
        });
        let clock = self.clock.clone();
        let watched = run.clone();
        tokio::spawn(async move {
            let mut child = child;
            let how = match child.wait().await {
                Ok(status) => format!("ended ({status})"),
                Err(e) => format!("could not be waited for ({e})"),
            };
            let exit = recorded_exit(&watched.record, &shim, clock.as_ref(), &how).await;
            watched.exit.set(exit);
        });
        Ok(run)
    }

    /// Spawns the shim, hands it the run and reads its answer.
    async fn spawn_shim(
        &self,
        shim: &Shim,
        launch: Launch,
    ) -> Result<(ProcessRecord, ShimRecord, tokio::process::Child), StartError> {
        let program = shim.program.display().to_string();
        let status_file = shim.status_file(&launch.id);
        std::fs::create_dir_all(&shim.state_dir).map_err(|e| {
            StartError(format!(
                "creating the directory of the containers' status files {}: {e}",
                shim.state_dir.display()
            ))
        })?;
        let spec = serde_json::to_vec(&ShimSpec {
            launch,
            status_file: status_file.clone(),
        })
        .map_err(|e| StartError(format!("encoding the run for its supervisor: {e}")))?;
        let mut child = tokio::process::Command::new(&shim.program)
            .arg(SUBCOMMAND)
            .env_clear()
            // Like any daemon: it holds no directory of the agent's busy.
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Nothing may tie the shim to the agent's process once it is gone.
            .stderr(Stdio::null())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| {
                StartError(format!(
                    "starting the container's supervisor {program}: {e}"
                ))
            })?;
        let mut answer = String::new();
        if let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) {
            // A shim that cannot read it says so below, or ends; either way its answer tells.
            let _ = stdin.write_all(&spec).await;
            drop(stdin);
            let _ = BufReader::new(stdout).read_line(&mut answer).await;
        }
        let started = match serde_json::from_str::<Handshake>(&answer) {
            Ok(Handshake::Started(record)) => record.shim.clone().map(|shim| (record, shim)),
            Ok(Handshake::Failed(message)) => {
                let _ = child.wait().await;
                return Err(StartError(message));
            }
            Err(_) => None,
        };
        match started {
            Some((record, shim)) => Ok((record, shim, child)),
            None => {
                let _ = child.start_kill();
                let status = child.wait().await;
                // It may have started the container before it died.
                end_earlier_shim(&status_file).await;
                Err(StartError(format!(
                    "the container's supervisor ({program} {SUBCOMMAND}) ended before starting the container ({})",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string())
                )))
            }
        }
    }
}

/// A shim an earlier agent process started for this very run but died before recording it
/// (so the pod worker starts the run again): it must not run beside the new one.
async fn end_earlier_shim(status_file: &Path) {
    if let Some(status) = RunStatus::read(status_file) {
        end_remains(&status.record).await;
    }
    if let Err(e) = std::fs::remove_file(status_file)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %status_file.display(), error = %e, "removing an old status file");
    }
}

/// SIGKILLs what is left of a recorded run: its shim, its process group and its cgroups.
/// Returns whether anything was still alive.
async fn end_remains(record: &ProcessRecord) -> bool {
    let shim_alive = record.shim.as_ref().is_some_and(ShimRecord::is_alive);
    if shim_alive
        && let Some(shim) = &record.shim
        && let Some(pid) = Pid::from_raw(shim.pid)
    {
        let _ = kill_process(pid, Signal::KILL);
        // Gone before its run's processes and cgroups are ended, so it cannot act on them
        // (or on a new run's cgroups of the same name) any more.
        for _ in 0..200 {
            if !shim.is_alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let alive = record.is_alive();
    // A dead leader's group can only hold what the run left behind; a live process under
    // the pid with another start time means the pid, and maybe the group, is someone
    // else's now.
    if (alive || start_ticks(record.pid).is_none())
        && let Some(pgid) = Pid::from_raw(record.pgid)
    {
        let _ = kill_process_group(pgid, Signal::KILL);
    }
    let in_cgroups = record
        .cgroups
        .iter()
        .any(|p| !cgroup::members(p).is_empty());
    cgroup::kill_all(&record.cgroups).await;
    cgroup::remove(&record.cgroups).await;
    shim_alive || alive || in_cgroups
}

/// Removes a forgotten run's status file once the run has ended (its shim writes the file
/// a last time then).
fn remove_status_file(run: Arc<ProcessRun>) {
    let Some(shim) = run.record.shim.clone() else {
        return;
    };
    let remove = move || {
        if let Err(e) = std::fs::remove_file(&shim.status_file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %shim.status_file.display(), error = %e, "removing a status file");
        }
    };
    if run.exit.get().is_some() {
        remove();
    } else {
        tokio::spawn(async move {
            run.exit.wait().await;
            remove();
        });
    }
}

/// The process runtime's check: without an image there is no entrypoint to fall back on.
pub fn require_command(container: &Container) -> Result<(), String> {
    if container.command.as_ref().is_some_and(|c| !c.is_empty()) {
        return Ok(());
    }
    Err(format!(
        "container {:?} has no command: the process runtime runs a container's command directly on the host and no image supplies an entrypoint; set `command` (and `args`) in the container, or run the pod with the runc runtime",
        container.name
    ))
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &str {
        "process"
    }

    fn check(&self, container: &Container) -> Result<(), String> {
        require_command(container)
    }

    async fn start(&self, spec: ContainerSpec) -> Result<Arc<dyn ContainerHandle>, StartError> {
        if spec.argv.is_empty() {
            return Err(StartError("no command to run".into()));
        }
        if let Some(shim) = &self.shim {
            // Before the cgroups are made: an earlier run of the same id had the same ones.
            end_earlier_shim(&shim.status_file(&spec.id)).await;
        }
        let cgroup = self.create_cgroup(&spec)?;
        let launch = Launch {
            id: spec.id.clone(),
            argv: spec.argv,
            env: spec.env,
            working_dir: spec.working_dir,
            log_path: spec.log_path,
            cgroup,
        };
        let run = match &self.shim {
            None => self.start_direct(launch).await?,
            Some(shim) => self.start_supervised(shim, launch).await?,
        };
        self.runs().insert(spec.id, run.clone());
        Ok(run)
    }

    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>> {
        self.runs()
            .get(id)
            .map(|r| r.clone() as Arc<dyn ContainerHandle>)
    }

    fn forget(&self, id: &str) {
        if let Some(run) = self.runs().remove(id) {
            remove_status_file(run);
        }
    }

    async fn adopt(&self, run: &RunRecord) -> Option<Arc<dyn ContainerHandle>> {
        let record = run.process.clone()?;
        let shim = record.shim.clone()?;
        let adopted = Arc::new(ProcessRun {
            id: run.id.clone(),
            started_at: run.started_at.parse().unwrap_or_else(|_| self.clock.now()),
            record,
            exit: ExitCell::new(),
        });
        let clock = self.clock.clone();
        let watched = adopted.clone();
        tokio::spawn(async move {
            let exit = follow(&watched.record, &shim, clock.as_ref()).await;
            watched.exit.set(exit);
        });
        self.runs().insert(run.id.clone(), adopted.clone());
        Some(adopted)
    }

    async fn reclaim(&self, record: &ProcessRecord) -> bool {
        let alive = end_remains(record).await;
        if let Some(shim) = &record.shim
            && let Err(e) = std::fs::remove_file(&shim.status_file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %shim.status_file.display(), error = %e, "removing a status file");
        }
        alive
    }

    fn release_pod(&self, uid: &str) {
        if let Some(c) = &self.cgroups {
            c.remove_pod(uid);
        }
    }
}

/// One run of a container as a process group, started directly or under a shim.
#[derive(Debug)]
struct ProcessRun {
    id: String,
    started_at: jiff::Timestamp,
    record: ProcessRecord,
    exit: ExitCell,
}

/// Follows an adopted run until its shim has recorded its exit, or has ended without.
async fn follow(record: &ProcessRecord, shim: &ShimRecord, clock: &dyn Clock) -> Exit {
    loop {
        if let Some(exit) = RunStatus::read(&shim.status_file).and_then(|s| s.exit_of(shim)) {
            return exit;
        }
        if !shim.is_alive() {
            return recorded_exit(record, shim, clock, "is gone").await;
        }
        tokio::time::sleep(ADOPTED_POLL).await;
    }
}

/// The exit the run's shim recorded, once the shim has ended; a shim that ended without
/// recording one (`how` it ended) lost the run, and what it left is killed.
async fn recorded_exit(
    record: &ProcessRecord,
    shim: &ShimRecord,
    clock: &dyn Clock,
    how: &str,
) -> Exit {
    if let Some(exit) = RunStatus::read(&shim.status_file).and_then(|s| s.exit_of(shim)) {
        return exit;
    }
    end_remains(record).await;
    Exit {
        code: 137,
        signal: None,
        oom_killed: false,
        finished_at: clock.now(),
        lost: Some(format!(
            "the container's supervisor (kbatch shim, pid {}) {how} and recorded no exit for the container: its exit status is unknown and its remaining processes were killed",
            shim.pid
        )),
    }
}

#[async_trait]
impl ContainerHandle for ProcessRun {
    fn id(&self) -> &str {
        &self.id
    }

    fn started_at(&self) -> jiff::Timestamp {
        self.started_at
    }

    fn process(&self) -> Option<ProcessRecord> {
        Some(self.record.clone())
    }

    async fn wait(&self) -> Exit {
        self.exit.wait().await
    }

    fn signal(&self, signal: StopSignal) {
        if self.exit.get().is_some() {
            return;
        }
        let sig = match signal {
            StopSignal::Term => Signal::TERM,
            StopSignal::Kill => Signal::KILL,
        };
        if let Some(pgid) = Pid::from_raw(self.record.pgid) {
            let _ = kill_process_group(pgid, sig);
        }
        if signal == StopSignal::Kill {
            for path in &self.record.cgroups {
                for pid in cgroup::members(path).into_iter().filter_map(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        }
    }
}
