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
//! Runs are children of the agent's process. An agent restarted in the same process (same
//! runtime) adopts them with their exit status and output; an agent process that died takes
//! both with it, so its successor can only end what is left ([`Runtime::reclaim`]).

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use kbatch_api::clock::Clock;
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use super::{ContainerHandle, ContainerSpec, Exit, ExitCell, Runtime, StartError, StopSignal};
use crate::cgroup::{self, Cgroups, RunCgroup};
use crate::checkpoint::{ProcessRecord, start_ticks};
use crate::logs::{LogWriter, Stream, copy_lines};

/// How long the output of an ended run may take to drain before the log is closed anyway (a
/// process outside the run's group and cgroup may hold its pipes open).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Host processes as containers.
#[derive(Debug)]
pub struct ProcessRuntime {
    clock: Arc<dyn Clock>,
    cgroups: Option<Cgroups>,
    runs: Mutex<HashMap<String, Arc<ProcessRun>>>,
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
            runs: Mutex::new(HashMap::new()),
        }
    }

    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ProcessRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
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

/// runc's words for a failed exec.
fn exec_error(program: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if !program.contains('/') => {
            format!("exec: {program:?}: executable file not found in $PATH")
        }
        std::io::ErrorKind::NotFound => {
            format!("exec: {program:?}: stat {program}: no such file or directory")
        }
        std::io::ErrorKind::PermissionDenied => format!("exec: {program:?}: permission denied"),
        _ => format!("exec: {program:?}: {e}"),
    }
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
        let Some((program, args)) = spec.argv.split_first() else {
            return Err(StartError("no command to run".into()));
        };
        if !spec.working_dir.is_dir() {
            return Err(StartError(format!(
                "chdir to cwd ({:?}) set in config.json failed: no such file or directory",
                spec.working_dir.display().to_string()
            )));
        }
        let cgroup = match &self.cgroups {
            None => None,
            Some(c) => {
                let name = format!("{}-{}", spec.name, spec.attempt);
                let made = c.create(&spec.pod.uid, &name).and_then(|cg| {
                    cg.apply(&spec.limits)?;
                    Ok(cg)
                });
                Some(made.map_err(|e| StartError(format!("creating the container's cgroup: {e}")))?)
            }
        };
        let procs = match &cgroup {
            Some(cg) => cg
                .open_procs()
                .map_err(|e| StartError(format!("opening the container's cgroup: {e}")))?,
            None => Vec::new(),
        };
        let writer = LogWriter::create(&spec.log_path, self.clock.clone()).map_err(|e| {
            StartError(format!(
                "creating the log file {}: {e}",
                spec.log_path.display()
            ))
        })?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        spawn::join_cgroups(&mut cmd, procs);
        let spawned = cmd.spawn();
        drop(cmd);
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(cg) = &cgroup {
                    cgroup::remove(&cg.paths()).await;
                }
                return Err(StartError(exec_error(program, &e)));
            }
        };
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let run = Arc::new(ProcessRun {
            id: spec.id.clone(),
            pid,
            start_ticks: start_ticks(pid).unwrap_or(0),
            started_at: self.clock.now(),
            cgroup,
            exit: ExitCell::new(),
        });
        self.runs().insert(spec.id.clone(), run.clone());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let writer = Arc::new(writer);
        let clock = self.clock.clone();
        let watched = run.clone();
        tokio::spawn(async move {
            let mut copies = tokio::task::JoinSet::new();
            if let Some(out) = stdout {
                let w = writer.clone();
                copies.spawn(async move { copy_lines(out, Stream::Stdout, &w).await });
            }
            if let Some(err) = stderr {
                let w = writer.clone();
                copies.spawn(async move { copy_lines(err, Stream::Stderr, &w).await });
            }
            drop(writer);
            let status = child.wait().await;
            // The run is over when its first process is: nothing it started may outlive it.
            watched.kill_leftovers().await;
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                while copies.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                copies.shutdown().await;
            }
            let oom_killed = watched.cgroup.as_ref().is_some_and(RunCgroup::oom_killed);
            if let Some(cg) = &watched.cgroup {
                cgroup::remove(&cg.paths()).await;
            }
            let (code, signal) = match status {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(code), _) => (code, None),
                    (None, Some(sig)) => (128 + sig, Some(sig)),
                    (None, None) => (-1, None),
                },
                Err(e) => {
                    tracing::warn!(run = %watched.id, error = %e, "waiting for a container process");
                    (-1, None)
                }
            };
            watched.exit.set(Exit {
                code,
                signal,
                oom_killed,
                finished_at: clock.now(),
            });
        });
        Ok(run)
    }

    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>> {
        self.runs()
            .get(id)
            .map(|r| r.clone() as Arc<dyn ContainerHandle>)
    }

    fn forget(&self, id: &str) {
        self.runs().remove(id);
    }

    async fn reclaim(&self, record: &ProcessRecord) -> bool {
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
        alive || in_cgroups
    }

    fn release_pod(&self, uid: &str) {
        if let Some(c) = &self.cgroups {
            c.remove_pod(uid);
        }
    }
}

/// One run of a container as a process group.
#[derive(Debug)]
struct ProcessRun {
    id: String,
    pid: i32,
    start_ticks: u64,
    started_at: jiff::Timestamp,
    cgroup: Option<RunCgroup>,
    exit: ExitCell,
}

impl ProcessRun {
    /// SIGKILLs what is left of the run once its first process has ended, and waits until
    /// it is gone: SIGKILL is delivered when the target next runs.
    async fn kill_leftovers(&self) {
        if let Some(cg) = &self.cgroup {
            cgroup::kill_all(&cg.paths()).await;
        }
        let Some(pgid) = Pid::from_raw(self.pid) else {
            return;
        };
        for _ in 0..200 {
            let _ = kill_process_group(pgid, Signal::KILL);
            if !group_alive(self.pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!(run = %self.id, pgid = self.pid, "processes of an ended container survive SIGKILL");
    }
}

/// Whether a process group has a member that has not ended (zombies have: they only wait for
/// their parent to reap them).
fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
                    let state = fields.next()?;
                    let group: i32 = fields.nth(1)?.parse().ok()?;
                    Some(state != "Z" && group == pgid)
                })
                .unwrap_or(false)
        })
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
        Some(ProcessRecord {
            pid: self.pid,
            start_ticks: self.start_ticks,
            pgid: self.pid,
            cgroups: self
                .cgroup
                .as_ref()
                .map(RunCgroup::paths)
                .unwrap_or_default(),
        })
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
        if let Some(pgid) = Pid::from_raw(self.pid) {
            let _ = kill_process_group(pgid, sig);
        }
        if signal == StopSignal::Kill
            && let Some(cg) = &self.cgroup
        {
            for path in cg.paths() {
                for pid in cgroup::members(&path).into_iter().filter_map(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        }
    }
}

/// The one place the agent needs `unsafe`: code that runs in the child between fork and
/// exec, which the standard library only offers as an unsafe hook.
#[allow(unsafe_code)]
mod spawn {
    use std::fs::File;

    /// Makes the child write itself into the run's cgroups before it execs, so that the run
    /// and everything it starts are limited and accounted from the first instruction.
    pub(super) fn join_cgroups(cmd: &mut tokio::process::Command, procs: Vec<File>) {
        if procs.is_empty() {
            return;
        }
        // SAFETY: the hook runs in the forked child, where only async-signal-safe calls are
        // allowed. It makes one write(2) per file opened before the fork and allocates
        // nothing (an OS error converts to io::Error without allocating).
        unsafe {
            cmd.pre_exec(move || {
                for f in &procs {
                    rustix::io::write(f, b"0")?;
                }
                Ok(())
            });
        }
    }
}
