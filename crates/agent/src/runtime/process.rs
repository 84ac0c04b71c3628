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
//!   records its exit in a status file. A run is claimed before its shim is spawned, and
//!   starting a run whose claim or status file shows an earlier start follows that start
//!   instead of making another (`crate::shim` has the protocol): a run starts at most once,
//!   even when the agent's process dies between spawning a shim and recording the run. A
//!   later agent process adopts a recorded run ([`Runtime::adopt`]): it follows a live shim
//!   until its status file holds the exit, takes the exit of a run that ended while no agent
//!   ran, and reports as lost a run whose shim ended without recording one. The runtime
//!   has shims forked by a spawner process of its own (`crate::shim::run_spawner`), and
//!   executes them itself when the spawner is not available. For a shim it started, the
//!   end of the shim's answer pipe says when it has ended; an adopted shim's pipe went with
//!   the earlier agent, so the runtime looks at its status file and its process (pid and
//!   start time) every [`ADOPTED_POLL`] instead: a run's end is seen that much later, which
//!   a batch pod does not notice.
//!
//!   A run's claim and status file are `<state dir>/<pod uid>_<run id>.{claim,json}`; they
//!   go once its exit is reported, or with the pod ([`Runtime::release_pod`]) once whatever
//!   is left of its runs has been ended.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use kbatch_api::clock::Clock;
use kbatch_api::serviceaccount::TOKEN_MOUNT_PATH;
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::unix::pipe;

use super::container::Launch;
use super::mount_ns;
use super::{ContainerHandle, ContainerSpec, Exit, ExitCell, Runtime, StartError, StopSignal};
use crate::cgroup::{self, Cgroups, RunCgroup};
use crate::checkpoint::{ProcessRecord, RunRecord, ShimRecord, start_ticks};
use crate::shim::{
    Found, Handshake, RunStatus, SPAWNER_SUBCOMMAND, SUBCOMMAND, ShimSpec, send_to_spawner,
    take_claim,
};

/// How often an adopted run's shim and status file are looked at.
pub const ADOPTED_POLL: Duration = Duration::from_millis(100);
/// How often a run whose shim holds its claim is looked at again, until the shim has
/// recorded the container's start (a matter of milliseconds).
const CLAIM_POLL: Duration = Duration::from_millis(5);

/// Host processes as containers.
#[derive(Debug)]
pub struct ProcessRuntime {
    clock: Arc<dyn Clock>,
    cgroups: Option<Cgroups>,
    shim: Option<Shim>,
    runs: Mutex<HashMap<String, Arc<ProcessRun>>>,
    /// Started with the first run in shim mode.
    spawner: Mutex<Option<Spawner>>,
    /// See [`ProcessRuntime::with_started_marker`].
    started_marker: Option<String>,
}

/// How runs are supervised in shim mode.
#[derive(Debug, Clone)]
struct Shim {
    /// The kbatch binary, run as `<program> __shim`.
    program: PathBuf,
    /// Where the runs' claims and status files go.
    state_dir: PathBuf,
    /// Tests only: see [`ProcessRuntime::hold_shims_at`].
    hold: Option<PathBuf>,
}

/// Where one run's state lives.
#[derive(Debug, Clone)]
struct RunFiles {
    claim: PathBuf,
    status: PathBuf,
}

impl RunFiles {
    /// The files of the run whose status file is `status`.
    fn of_status(status: &Path) -> RunFiles {
        RunFiles {
            claim: status.with_extension("claim"),
            status: status.to_owned(),
        }
    }

    /// Removes both files: the run is over and reported, or it never ran.
    fn remove(&self) {
        for path in [&self.status, &self.claim] {
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "removing a run's file");
            }
        }
    }
}

impl Shim {
    fn files(&self, uid: &str, id: &str) -> RunFiles {
        RunFiles::of_status(&self.state_dir.join(format!("{uid}_{id}.json")))
    }

    /// The claims in the state directory, with their pods' uids (run ids are hex, so the
    /// pod's uid is what comes before the last `_`).
    fn claims(&self) -> Vec<(String, RunFiles)> {
        let Ok(entries) = std::fs::read_dir(&self.state_dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (uid, _) = name.strip_suffix(".claim")?.rsplit_once('_')?;
                Some((
                    uid.to_owned(),
                    RunFiles::of_status(&e.path().with_extension("json")),
                ))
            })
            .collect()
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
            spawner: Mutex::new(None),
            started_marker: None,
        }
    }

    /// The same runtime, reporting each run started only once a file of this name exists
    /// in the run's working directory (or its process has ended): the runc runtime's
    /// `runc run --pid-file`, which runc writes once the container's process has been let
    /// go (`container::Launch::started_marker`).
    pub fn with_started_marker(self, name: impl Into<String>) -> ProcessRuntime {
        ProcessRuntime {
            started_marker: Some(name.into()),
            ..self
        }
    }

    fn started_marker(&self) -> Option<&str> {
        self.started_marker.as_deref()
    }

    /// The same runtime in shim mode: each run is supervised by `<program> __shim` (the
    /// kbatch binary, whose hidden subcommand calls [`crate::shim::run`]), which keeps its
    /// claim and status file in `state_dir`.
    pub fn with_shim(
        self,
        program: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
    ) -> ProcessRuntime {
        ProcessRuntime {
            shim: Some(Shim {
                program: program.into(),
                state_dir: state_dir.into(),
                hold: None,
            }),
            ..self
        }
    }

    /// For tests of the start protocol only: every shim this runtime starts stops at each
    /// point of [`crate::shim::HOLD_POINTS`] for which a file of that name exists in `dir`,
    /// until the file is removed (writing `<point>.held` there when it stops), so a test can
    /// end the agent's side, or the shim, at that point. No effect without a shim.
    pub fn hold_shims_at(mut self, dir: impl Into<PathBuf>) -> ProcessRuntime {
        if let Some(shim) = &mut self.shim {
            shim.hold = Some(dir.into());
        }
        self
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
    async fn start_direct(&self, spec: ContainerSpec) -> Result<Arc<ProcessRun>, StartError> {
        let launch = launch(
            spec.clone(),
            self.create_cgroup(&spec)?,
            self.started_marker(),
        );
        let marker = launch.started_marker.clone();
        let started = launch.start(self.clock.clone()).await?;
        // When it was spawned: before its exit, however soon that comes.
        let started_at = self.clock.now();
        let record = started.record();
        let supervised = started
            .supervise_started(self.clock.clone(), marker.as_deref())
            .await;
        let run = Arc::new(ProcessRun {
            id: spec.id,
            started_at,
            record,
            exit: ExitCell::new(),
        });
        let watched = run.clone();
        tokio::spawn(async move { watched.exit.set(supervised.exit().await) });
        Ok(run)
    }

    /// Starts the run under a shim of its own, unless a shim has started it already (an
    /// earlier agent process spawned one, then died before the run was recorded): that
    /// start is followed instead (`crate::shim` has the protocol).
    async fn start_supervised(
        &self,
        shim: &Shim,
        spec: ContainerSpec,
    ) -> Result<Arc<ProcessRun>, StartError> {
        let files = shim.files(&spec.pod.uid, &spec.id);
        std::fs::create_dir_all(&shim.state_dir).map_err(|e| {
            StartError(format!(
                "creating the directory of the containers' status files {}: {e}",
                shim.state_dir.display()
            ))
        })?;
        loop {
            let claim = take_claim(&files.claim).map_err(|e| {
                StartError(format!(
                    "claiming the run in {}: {e}",
                    files.claim.display()
                ))
            })?;
            // Read under the claim when it was free: no shim can write it meanwhile.
            let found = RunStatus::load(&files.status);
            match (claim, found) {
                (Some(claim), Found::Absent) => {
                    return self.spawn_shim(shim, &files, claim, spec).await;
                }
                // It held the claim as long as it lived: its record is final.
                (Some(_), found) => {
                    let cgroups = self.run_cgroup_paths(&spec);
                    return self.ended_earlier(&spec.id, &files, found, cgroups).await;
                }
                (
                    None,
                    Found::Whole(RunStatus::Started {
                        record, started_at, ..
                    }),
                ) => {
                    tracing::info!(run = %spec.id, "a live shim started this run for an earlier agent process: following it");
                    return Ok(self.follow(&spec.id, record, started_at.as_deref()));
                }
                (None, Found::Whole(RunStatus::NotStarted { not_started })) => {
                    files.remove();
                    return Err(StartError(not_started));
                }
                // A live shim is about to start the container, or to give up.
                (None, Found::Absent | Found::Torn | Found::Whole(RunStatus::Starting { .. })) => {
                    tokio::time::sleep(CLAIM_POLL).await;
                }
            }
        }
    }

    /// Spawns the shim under the claim this runtime holds, hands it the run and reads its
    /// answer.
    async fn spawn_shim(
        &self,
        shim: &Shim,
        files: &RunFiles,
        claim: File,
        spec: ContainerSpec,
    ) -> Result<Arc<ProcessRun>, StartError> {
        let program = shim.program.display().to_string();
        // Taken before the shim is asked: its run's exit, which it may record before it
        // answers (a run counts as started only once its container runs), comes after.
        let spawned_at = self.clock.now();
        let id = spec.id.clone();
        let launch = launch(
            spec.clone(),
            self.create_cgroup(&spec)?,
            self.started_marker(),
        );
        let cgroups = launch
            .cgroup
            .as_ref()
            .map(RunCgroup::paths)
            .unwrap_or_default();
        let written = serde_json::to_vec(&ShimSpec {
            launch,
            status_file: files.status.clone(),
            hold: shim.hold.clone(),
        })
        .map_err(|e| format!("encoding the run for its supervisor: {e}"))
        .and_then(|bytes| {
            // Positional: the open file's offset, which the shim shares, stays at 0.
            claim
                .set_len(0)
                .and_then(|()| claim.write_all_at(&bytes, 0))
                .map_err(|e| format!("writing the run's claim {}: {e}", files.claim.display()))
        });
        if let Err(e) = written {
            cgroup::remove(&cgroups).await;
            return Err(StartError(e));
        }
        let mut claim = claim;
        let mut spawner = true;
        loop {
            let (answers, child) = match self.hand_over(shim, claim, spawner) {
                Ok(handed) => handed,
                Err(e) => {
                    cgroup::remove(&cgroups).await;
                    files.remove();
                    return Err(StartError(e));
                }
            };
            let via_spawner = child.is_none();
            let mut answers = match pipe::Receiver::from_owned_fd(answers) {
                Ok(answers) => BufReader::new(answers),
                // The shim, if it starts, goes on alone; a later start finds it.
                Err(e) => {
                    return Err(StartError(format!(
                        "reading the container's supervisor's answer: {e}"
                    )));
                }
            };
            let mut line = String::new();
            // A shim that cannot answer ends; its status file then tells.
            let _ = answers.read_line(&mut line).await;
            let handshake = serde_json::from_str::<Handshake>(&line).ok();
            if let Some(Handshake::Started(record)) = &handshake
                && let Some(shim) = record.shim.clone()
            {
                let run = Arc::new(ProcessRun {
                    id,
                    started_at: spawned_at,
                    record: record.clone(),
                    exit: ExitCell::new(),
                });
                let clock = self.clock.clone();
                let watched = run.clone();
                tokio::spawn(async move {
                    ended(answers, child).await;
                    let exit = recorded_exit(&watched.record, &shim, clock.as_ref(), "ended").await;
                    watched.exit.set(exit);
                });
                return Ok(run);
            }
            ended(answers, child).await;
            // The shim has ended, and the claim with it: its status file is final.
            let found = RunStatus::load(&files.status);
            if let Some(Handshake::Failed(message)) = handshake {
                // The shim removed the cgroups of a container it started; one it never got
                // that far with left them to this runtime.
                cgroup::remove(&cgroups).await;
                if matches!(
                    found,
                    Found::Absent | Found::Whole(RunStatus::NotStarted { .. })
                ) {
                    files.remove();
                }
                return Err(StartError(message));
            }
            if found == Found::Absent
                && via_spawner
                && let Ok(Some(again)) = take_claim(&files.claim)
                && RunStatus::load(&files.status) == Found::Absent
            {
                // The spawner ended before it forked the shim: nothing started, and the
                // claim is free again. The runtime executes the shim itself instead.
                tracing::debug!(run = %id, "the shims' spawner ended with the run: executing the shim");
                claim = again;
                spawner = false;
                continue;
            }
            return match found {
                Found::Whole(_) | Found::Torn => {
                    self.ended_earlier(&id, files, found, cgroups).await
                }
                Found::Absent => {
                    cgroup::remove(&cgroups).await;
                    files.remove();
                    Err(StartError(format!(
                        "the container's supervisor ({program} {SUBCOMMAND}) ended before starting the container"
                    )))
                }
            };
        }
    }

    /// Starts a shim for the run whose claim this runtime holds: forked by the spawner
    /// (when `spawner` and it is available) or executed. Returns the read end of the shim's
    /// answer pipe and, when executed, the shim's process. The shim's stdin is the claim
    /// itself: it holds the lock from its first instruction for as long as it lives. Its
    /// stdout is the answer pipe, which it keeps open until it ends. This process's
    /// descriptors of both are closed once they are handed over.
    fn hand_over(
        &self,
        shim: &Shim,
        claim: File,
        spawner: bool,
    ) -> Result<(OwnedFd, Option<tokio::process::Child>), String> {
        let (answers, answer) = pipe_with(PipeFlags::CLOEXEC)
            .map_err(|e| format!("making the pipe for the supervisor's answer: {e}"))?;
        if spawner {
            match self.hand_to_spawner(shim, &claim, &answer) {
                Ok(()) => return Ok((answers, None)),
                Err(e) => {
                    tracing::debug!(error = %e, "the shims' spawner is not available: executing the shim");
                }
            }
        }
        let child = tokio::process::Command::new(&shim.program)
            .arg(SUBCOMMAND)
            .env_clear()
            // Like any daemon: it holds no directory of the agent's busy.
            .current_dir("/")
            .stdin(Stdio::from(claim))
            .stdout(Stdio::from(answer))
            // Nothing may tie the shim to the agent's process once it is gone.
            .stderr(Stdio::null())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| {
                format!(
                    "starting the container's supervisor {}: {e}",
                    shim.program.display()
                )
            })?;
        Ok((answers, Some(child)))
    }

    /// Hands the run to the shims' spawner, starting it first if it is not running (or
    /// starting it again, once, if it has ended).
    fn hand_to_spawner(&self, shim: &Shim, claim: &File, answer: &OwnedFd) -> std::io::Result<()> {
        let mut spawner = self.spawner.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = None;
        for _ in 0..2 {
            if spawner.is_none() {
                *spawner = Some(Spawner::start(&shim.program)?);
            }
            let Some(running) = spawner.as_ref() else {
                break;
            };
            match send_to_spawner(running.socket.as_fd(), claim.as_fd(), answer.as_fd()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // Ended, or stuck: a new one takes over.
                    *spawner = None;
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no spawner")))
    }

    /// A run a shim that has ended started (or tried to), from what its status file holds
    /// (`cgroups`: the run's): its recorded exit, or lost when it may have run and nothing
    /// recorded how it ended; an error when it never ran.
    async fn ended_earlier(
        &self,
        id: &str,
        files: &RunFiles,
        found: Found,
        cgroups: Vec<PathBuf>,
    ) -> Result<Arc<ProcessRun>, StartError> {
        let status = match found {
            Found::Whole(status) => status,
            // No shim ever held the claim without creating the file first: it started,
            // then died writing a version.
            Found::Absent | Found::Torn => RunStatus::Starting {
                starting: ShimRecord {
                    pid: 0,
                    start_ticks: 0,
                    status_file: files.status.clone(),
                },
                cgroups,
            },
        };
        let (record, started_at, exit) = match status {
            RunStatus::NotStarted { not_started } => {
                files.remove();
                return Err(StartError(not_started));
            }
            RunStatus::Started {
                record,
                started_at,
                exit,
            } => {
                let shim = record.shim.clone().unwrap_or_else(|| ShimRecord {
                    pid: 0,
                    start_ticks: 0,
                    status_file: files.status.clone(),
                });
                let exit = match exit {
                    Some(exit) => exit.to_exit(),
                    None => recorded_exit(&record, &shim, self.clock.as_ref(), "is gone").await,
                };
                (record, started_at, exit)
            }
            RunStatus::Starting { starting, cgroups } => {
                // Whatever it may have started is in the run's cgroups (without cgroups it
                // cannot be found).
                cgroup::kill_all(&cgroups).await;
                cgroup::remove(&cgroups).await;
                let exit = Exit {
                    code: 137,
                    signal: None,
                    oom_killed: false,
                    finished_at: self.clock.now(),
                    lost: Some(if starting.pid == 0 {
                        "the container's supervisor (kbatch shim) ended while it was recording the container's start: whether the container ran is unknown, and what it may have left was killed".to_owned()
                    } else {
                        format!(
                            "the container's supervisor (kbatch shim, pid {}) ended while it was starting the container: whether the container ran is unknown, and what it may have left was killed",
                            starting.pid
                        )
                    }),
                    start_error: None,
                };
                let record = ProcessRecord {
                    pid: 0,
                    start_ticks: 0,
                    pgid: 0,
                    cgroups,
                    shim: Some(starting),
                };
                (record, None, exit)
            }
        };
        tracing::info!(run = %id, code = exit.code, lost = exit.lost.is_some(), "a shim that has ended started this run before the agent restarted: taking its outcome");
        let run = Arc::new(ProcessRun {
            id: id.to_owned(),
            started_at: started_at
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| self.clock.now()),
            record,
            exit: ExitCell::new(),
        });
        run.exit.set(exit);
        Ok(run)
    }

    /// A handle on a run a shim that is not this runtime's child supervises.
    fn follow(&self, id: &str, record: ProcessRecord, started_at: Option<&str>) -> Arc<ProcessRun> {
        let run = Arc::new(ProcessRun {
            id: id.to_owned(),
            started_at: started_at
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| self.clock.now()),
            record,
            exit: ExitCell::new(),
        });
        let clock = self.clock.clone();
        let watched = run.clone();
        tokio::spawn(async move {
            let exit = match watched.record.shim.clone() {
                Some(shim) => follow(&watched.record, &shim, clock.as_ref()).await,
                None => unknown_exit(clock.as_ref(), "has no supervisor to follow"),
            };
            watched.exit.set(exit);
        });
        run
    }

    /// The cgroups [`ProcessRuntime::create_cgroup`] makes for the run.
    fn run_cgroup_paths(&self, spec: &ContainerSpec) -> Vec<PathBuf> {
        self.cgroups
            .as_ref()
            .map(|c| c.run_paths(&spec.pod.uid, &format!("{}-{}", spec.name, spec.attempt)))
            .unwrap_or_default()
    }

    /// Ends whatever is left of one claimed run, whether or not any agent recorded it, and
    /// removes its files. A shim still holding the claim is killed (once it has said who it
    /// is), so nothing of the run can start after this.
    async fn end_claimed(&self, files: &RunFiles) {
        loop {
            let Ok(held) = take_claim(&files.claim) else {
                break;
            };
            let found = RunStatus::load(&files.status);
            match (held, found) {
                (Some(_), Found::Whole(RunStatus::Started { record, .. })) => {
                    end_remains(&record).await;
                    break;
                }
                (Some(_), Found::Whole(RunStatus::Starting { cgroups, .. })) => {
                    cgroup::kill_all(&cgroups).await;
                    cgroup::remove(&cgroups).await;
                    break;
                }
                // Nothing started, or nothing known of it: the pod's cgroups are swept after.
                (Some(_), _) => break,
                // Ended on its own: its shim is only writing the exit, then leaving.
                (
                    None,
                    Found::Whole(
                        RunStatus::Started { exit: Some(_), .. } | RunStatus::NotStarted { .. },
                    ),
                ) => break,
                (None, Found::Whole(RunStatus::Started { record, .. })) => {
                    end_remains(&record).await;
                }
                (None, Found::Whole(RunStatus::Starting { starting, .. })) => {
                    if starting.is_alive()
                        && let Some(pid) = Pid::from_raw(starting.pid)
                    {
                        let _ = kill_process(pid, Signal::KILL);
                    }
                    tokio::time::sleep(CLAIM_POLL).await;
                }
                // Spawned, and about to say who it is.
                (None, Found::Absent | Found::Torn) => tokio::time::sleep(CLAIM_POLL).await,
            }
        }
        files.remove();
    }
}

/// The shims' spawner (`crate::shim::run_spawner`): `<program> __shim-spawner`, started
/// once, which forks each shim from its own small process, so the agent does not execute the
/// kbatch binary anew for every run. It ends with the runtime (or when the agent's process
/// ends and closes the socket); the shims it started go on.
#[derive(Debug)]
struct Spawner {
    /// This end of the socket pair whose other end is the spawner's stdin.
    socket: OwnedFd,
    /// Killed when the runtime goes; tokio reaps it.
    _process: tokio::process::Child,
}

impl Spawner {
    fn start(program: &Path) -> std::io::Result<Spawner> {
        // Datagrams in sequence: each run's message arrives whole. Non-blocking, so a
        // spawner that stopped reading is replaced rather than waited for.
        let (socket, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        let process = tokio::process::Command::new(program)
            .arg(SPAWNER_SUBCOMMAND)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Spawner {
            socket,
            _process: process,
        })
    }
}

/// Waits until the shim has ended: its answer pipe (its stdout, which it never closes)
/// reaches its end; then reaps it if it is this runtime's child.
async fn ended(mut answers: BufReader<pipe::Receiver>, child: Option<tokio::process::Child>) {
    let mut rest = Vec::new();
    let _ = answers.read_to_end(&mut rest).await;
    if let Some(mut child) = child {
        let _ = child.wait().await;
    }
}

/// What a shim or the direct mode starts: the spec, with its cgroups made.
fn launch(spec: ContainerSpec, cgroup: Option<RunCgroup>, marker: Option<&str>) -> Launch {
    Launch {
        started_marker: marker.map(|name| spec.working_dir.join(name)),
        id: spec.id,
        argv: spec.argv,
        env: spec.env,
        working_dir: spec.working_dir,
        log_path: spec.log_path,
        cgroup,
        mounts: match mount_ns::support() {
            mount_ns::Support::Unavailable(_) => spec
                .mounts
                .into_iter()
                .filter(|m| m.destination != Path::new(TOKEN_MOUNT_PATH))
                .collect(),
            _ => spec.mounts,
        },
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

/// Removes a forgotten run's claim and status file once the run has ended (its shim writes
/// the status a last time then).
fn remove_run_files(run: Arc<ProcessRun>) {
    let Some(shim) = run.record.shim.clone() else {
        return;
    };
    let files = RunFiles::of_status(&shim.status_file);
    if run.exit.get().is_some() {
        files.remove();
    } else {
        tokio::spawn(async move {
            run.exit.wait().await;
            files.remove();
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
        require_command(container)?;
        // The service account token admission adds is the one mount a container goes
        // without where there is no mount namespace (`launch` leaves it out): refusing every
        // pod there would make the runtime useless, and the pod did not ask for it.
        if container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| !crate::volumes::is_token_mount(m))
            && let mount_ns::Support::Unavailable(why) = mount_ns::support()
        {
            // Running it without its files would only fail later, less clearly.
            return Err(format!(
                "container {:?} mounts volumes, and the process runtime cannot give it a mount namespace: {why}",
                container.name
            ));
        }
        Ok(())
    }

    async fn start(&self, spec: ContainerSpec) -> Result<Arc<dyn ContainerHandle>, StartError> {
        if spec.argv.is_empty() {
            return Err(StartError("no command to run".into()));
        }
        if let Some(run) = self.runs().get(&spec.id).cloned() {
            // Started already by this runtime, for a worker that did not get to record it.
            return Ok(run);
        }
        let id = spec.id.clone();
        let run = match &self.shim {
            None => self.start_direct(spec).await?,
            Some(shim) => self.start_supervised(shim, spec).await?,
        };
        self.runs().insert(id, run.clone());
        Ok(run)
    }

    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>> {
        self.runs()
            .get(id)
            .map(|r| r.clone() as Arc<dyn ContainerHandle>)
    }

    fn forget(&self, id: &str) {
        if let Some(run) = self.runs().remove(id) {
            remove_run_files(run);
        }
    }

    async fn adopt(&self, run: &RunRecord) -> Option<Arc<dyn ContainerHandle>> {
        let record = run.process.clone()?;
        record.shim.as_ref()?;
        let adopted = self.follow(&run.id, record, Some(&run.started_at));
        self.runs().insert(run.id.clone(), adopted.clone());
        Some(adopted)
    }

    async fn reclaim(&self, record: &ProcessRecord) -> bool {
        let alive = end_remains(record).await;
        if let Some(shim) = &record.shim {
            RunFiles::of_status(&shim.status_file).remove();
        }
        alive
    }

    fn pods(&self) -> Vec<String> {
        let Some(shim) = &self.shim else {
            return Vec::new();
        };
        let mut pods: Vec<String> = shim.claims().into_iter().map(|(uid, _)| uid).collect();
        pods.sort();
        pods.dedup();
        pods
    }

    async fn release_pod(&self, uid: &str) {
        if let Some(shim) = &self.shim {
            for (_, files) in shim.claims().into_iter().filter(|(u, _)| u == uid) {
                self.end_claimed(&files).await;
            }
        }
        if let Some(c) = &self.cgroups {
            c.end_pod(uid).await;
        }
    }
}

/// One run of a container as a process group, started directly or under a shim.
#[derive(Debug)]
struct ProcessRun {
    id: String,
    started_at: jiff::Timestamp,
    /// `pid` 0 when the container's process is unknown: its shim ended while starting it.
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
    unknown_exit(
        clock,
        &format!(
            "(kbatch shim, pid {}) {how} and recorded no exit for the container: its exit status is unknown and its remaining processes were killed",
            shim.pid
        ),
    )
}

/// A lost run's exit: the container's supervisor `what`.
fn unknown_exit(clock: &dyn Clock, what: &str) -> Exit {
    Exit {
        code: 137,
        signal: None,
        oom_killed: false,
        finished_at: clock.now(),
        lost: Some(format!("the container's supervisor {what}")),
        start_error: None,
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
