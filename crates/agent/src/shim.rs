//! The shim: one supervisor process per container run, as containerd-shim is, so that a run
//! outlives the agent's process and a restarted agent can adopt it.
//!
//! The process runtime runs the kbatch binary as `kbatch __shim` ([`SUBCOMMAND`]), writes
//! the run's `ShimSpec` to its stdin and reads one `Handshake` line from its stdout.
//! The shim leaves the agent's session (`setsid`), starts the container exactly as the
//! direct mode does (`runtime::container`), writes its output to the run's log file itself,
//! waits for it, ends whatever it left behind and records how it ended. Everything the shim
//! does after the handshake it does without the agent: logs keep flowing and the exit is
//! recorded while no agent runs.
//!
//! The shim's record of the run is its status file (`RunStatus`, JSON): written once the
//! container has started (who the shim and the container are) and again when it has ended
//! (with the exit), each time replaced atomically and synced (write a temporary file, fsync,
//! rename, fsync the directory), so a reader sees either version whole and an exit once
//! recorded survives a crash of the machine.
//!
//! A shim leaves the agent's session, not its cgroup: a service manager that ends the
//! whole cgroup with the server (systemd's default `KillMode=control-group`) ends the runs
//! too, which the next server then reports as lost. `KillMode=process` keeps them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use kbatch_api::clock::{Clock, SystemClock};
use rustix::process::{Pid, Signal, getpid, kill_process_group};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{ProcessRecord, ShimRecord, start_ticks};
use crate::runtime::Exit;
use crate::runtime::container::Launch;

/// The kbatch subcommand that runs a shim.
pub const SUBCOMMAND: &str = "__shim";

/// What the runtime tells a shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShimSpec {
    pub launch: Launch,
    pub status_file: PathBuf,
}

/// The shim's one answer: the run started (the container's and the shim's processes), or
/// why it could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Handshake {
    Started(ProcessRecord),
    Failed(String),
}

/// A status file: the run's processes, and its exit once it has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunStatus {
    /// `shim` is always set: it tells this shim's file from one an earlier shim of the
    /// same run left.
    pub record: ProcessRecord,
    pub exit: Option<ExitRecord>,
}

/// An [`Exit`] as the status file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExitRecord {
    pub code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// RFC 3339.
    pub finished_at: String,
}

impl RunStatus {
    /// The status file at `path`; `None` if there is none, or it cannot be read (it is only
    /// ever replaced whole, so an unreadable one is not a shim's).
    pub(crate) fn read(path: &Path) -> Option<RunStatus> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The run's exit, if it has ended and this is the file of the shim `shim` names.
    pub(crate) fn exit_of(&self, shim: &ShimRecord) -> Option<Exit> {
        let ours = self
            .record
            .shim
            .as_ref()
            .is_some_and(|s| s.pid == shim.pid && s.start_ticks == shim.start_ticks);
        let exit = self.exit.as_ref().filter(|_| ours)?;
        Some(Exit {
            code: exit.code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
            finished_at: exit
                .finished_at
                .parse()
                .unwrap_or_else(|_| SystemClock.now()),
            lost: None,
        })
    }
}

impl From<&Exit> for ExitRecord {
    fn from(exit: &Exit) -> ExitRecord {
        ExitRecord {
            code: exit.code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
            finished_at: exit.finished_at.to_string(),
        }
    }
}

/// The shim's main: reads its `ShimSpec` from stdin, answers with a `Handshake` on
/// stdout and supervises the run to its end. Must not be called inside a tokio runtime (it
/// makes its own).
pub fn run() -> ExitCode {
    // Its own session: signals meant for the agent's process group or terminal do not reach
    // it, and it lives on when the agent's process ends. It fails only for a group leader,
    // which a freshly spawned child is not.
    let _ = rustix::process::setsid();
    let mut input = Vec::new();
    let spec = std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_slice::<ShimSpec>(&input).map_err(|e| e.to_string()));
    let spec = match spec {
        Ok(spec) => spec,
        Err(e) => {
            answer(&Handshake::Failed(format!(
                "the container's supervisor could not read what to run: {e}"
            )));
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            answer(&Handshake::Failed(format!(
                "the container's supervisor could not start: {e}"
            )));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(supervise(spec))
}

async fn supervise(spec: ShimSpec) -> ExitCode {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let started = match spec.launch.start(clock.clone()).await {
        Ok(started) => started,
        Err(e) => {
            answer(&Handshake::Failed(e.0));
            return ExitCode::FAILURE;
        }
    };
    let me = getpid().as_raw_nonzero().get();
    let mut record = started.record();
    record.shim = Some(ShimRecord {
        pid: me,
        start_ticks: start_ticks(me).unwrap_or(0),
        status_file: spec.status_file.clone(),
    });
    let mut status = RunStatus {
        record: record.clone(),
        exit: None,
    };
    // Written before the agent hears of the run, so an agent that dies before recording it
    // still finds this shim under the run's id.
    if let Err(e) = status.write(&spec.status_file) {
        // Without its status file the run could never be reported: it does not run.
        if let Some(group) = Pid::from_raw(record.pgid) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        started.supervise(clock).await;
        answer(&Handshake::Failed(format!(
            "recording the run in {}: {e}",
            spec.status_file.display()
        )));
        return ExitCode::FAILURE;
    }
    answer(&Handshake::Started(record));
    let exit = started.supervise(clock).await;
    status.exit = Some(ExitRecord::from(&exit));
    match status.write(&spec.status_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Writes the handshake line. The agent may be gone already (then nobody is listening and
/// the status file is what counts).
fn answer(handshake: &Handshake) {
    if let Ok(mut line) = serde_json::to_vec(handshake) {
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}
