//! One run of a container as a process, from its start to its exit: its own process group
//! and cgroups, its exact environment and working directory, its output in the run's log
//! file, and nothing it started left behind once it ends. The process runtime does this in
//! the agent's process (direct mode) and the shim in its own (`crate::shim`): one code path,
//! so both behave the same.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use kbatch_api::clock::Clock;
use rustix::process::{Pid, Signal, kill_process_group};
use serde::{Deserialize, Serialize};

use super::mount_ns::Namespace;
use super::{Exit, Mount, StartError};
use crate::cgroup::{self, RunCgroup};
use crate::checkpoint::{ProcessRecord, start_ticks};
use crate::logs::{LogWriter, Stream, copy_lines};

/// How long the output of an ended run may take to drain before the log is closed anyway (a
/// process outside the run's group and cgroup may hold its pipes open).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What to run: one run of a container, worked out by the runtime (its cgroups already
/// created, with their limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Launch {
    /// The run's id, for the agent's log.
    pub id: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    pub log_path: PathBuf,
    pub cgroup: Option<RunCgroup>,
    /// The run's volume mounts: when there are any, it gets a mount namespace of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// A file whose appearance says the container's process runs (runc's `--pid-file`,
    /// written once runc has let the container's process go to exec): the run is only
    /// reported started then, or once its first process has ended. `None`: as soon as its
    /// first process is spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_marker: Option<PathBuf>,
}

/// A started run, until it is seen to its end.
#[derive(Debug)]
pub(crate) struct Started {
    id: String,
    child: tokio::process::Child,
    pid: i32,
    start_ticks: u64,
    cgroup: Option<RunCgroup>,
    writer: LogWriter,
}

impl Launch {
    /// Starts the run's first process. A run that cannot start leaves no cgroup behind.
    pub(crate) async fn start(self, clock: Arc<dyn Clock>) -> Result<Started, StartError> {
        let cgroup = self.cgroup.clone();
        let started = self.spawn(clock);
        if started.is_err()
            && let Some(cg) = &cgroup
        {
            cgroup::remove(&cg.paths()).await;
        }
        started
    }

    fn spawn(self, clock: Arc<dyn Clock>) -> Result<Started, StartError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(StartError("no command to run".into()));
        };
        if !self.working_dir.is_dir() {
            return Err(StartError(format!(
                "chdir to cwd ({:?}) set in config.json failed: no such file or directory",
                self.working_dir.display().to_string()
            )));
        }
        let namespace = if self.mounts.is_empty() {
            None
        } else {
            Some(Namespace::prepare(&self.mounts).map_err(StartError)?)
        };
        let procs = match &self.cgroup {
            Some(cg) => cg
                .open_join_files()
                .map_err(|e| StartError(format!("opening the container's cgroup: {e}")))?,
            None => Vec::new(),
        };
        let writer = LogWriter::create(&self.log_path, clock).map_err(|e| {
            StartError(format!(
                "creating the log file {}: {e}",
                self.log_path.display()
            ))
        })?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        spawn::join_cgroups(&mut cmd, procs);
        let mounted = namespace.is_some();
        if let Some(namespace) = namespace {
            spawn::enter_namespace(&mut cmd, namespace);
        }
        let child = cmd.spawn().map_err(|e| {
            // The hook's errors come back as the spawn's: an exec error names the program.
            let exec = exec_error(program, &e);
            StartError(
                if mounted && !matches!(e.kind(), std::io::ErrorKind::NotFound) {
                    format!("{exec} (or mounting the container's volumes failed)")
                } else {
                    exec
                },
            )
        })?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        Ok(Started {
            id: self.id,
            child,
            pid,
            start_ticks: start_ticks(pid).unwrap_or(0),
            cgroup: self.cgroup,
            writer,
        })
    }
}

impl Started {
    /// What finds the run's processes again.
    pub(crate) fn record(&self) -> ProcessRecord {
        ProcessRecord {
            pid: self.pid,
            start_ticks: self.start_ticks,
            pgid: self.pid,
            cgroups: self
                .cgroup
                .as_ref()
                .map(RunCgroup::paths)
                .unwrap_or_default(),
            shim: None,
        }
    }

    /// Supervises the run ([`Started::supervise`]) in a task of its own, and returns once
    /// the run counts as started: its `marker` file exists (see [`Launch::started_marker`])
    /// or its first process has ended; at once without a marker. kubelet too reports a
    /// container running only once the runtime's start has returned, which for runc is
    /// once the container's process has been let go (`runc start`); and the agent's writes
    /// that follow the start (checkpoint, events, status) then no longer compete with runc
    /// for the CPU while it sets the container up.
    pub(crate) async fn supervise_started(
        self,
        clock: Arc<dyn Clock>,
        marker: Option<&Path>,
    ) -> Supervised {
        let mut task = tokio::spawn(self.supervise(clock));
        let mut ended = None;
        if let Some(marker) = marker {
            tokio::select! {
                appeared = appears(marker) => {
                    if let Err(e) = appeared {
                        tracing::debug!(file = %marker.display(), error = %e, "waiting for the container's start");
                    }
                }
                exit = &mut task => ended = Some(exit),
            }
        }
        Supervised { task, ended }
    }

    /// Copies the run's output into its log until it ends, ends what it left behind, removes
    /// its cgroups and says how it ended.
    pub(crate) async fn supervise(mut self, clock: Arc<dyn Clock>) -> Exit {
        let writer = Arc::new(self.writer);
        let mut copies = tokio::task::JoinSet::new();
        if let Some(out) = self.child.stdout.take() {
            let w = writer.clone();
            copies.spawn(async move { copy_lines(out, Stream::Stdout, &w).await });
        }
        if let Some(err) = self.child.stderr.take() {
            let w = writer.clone();
            copies.spawn(async move { copy_lines(err, Stream::Stderr, &w).await });
        }
        // The last copy to finish closes the log (and releases its lock).
        drop(writer);
        let status = self.child.wait().await;
        // The run is over when its first process is: nothing it started may outlive it.
        kill_leftovers(&self.id, self.pid, self.cgroup.as_ref()).await;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while copies.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            copies.shutdown().await;
        }
        let oom_killed = self.cgroup.as_ref().is_some_and(RunCgroup::oom_killed);
        if let Some(cg) = &self.cgroup {
            cgroup::remove(&cg.paths()).await;
        }
        let (code, signal) = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(code), _) => (code, None),
                (None, Some(sig)) => (128 + sig, Some(sig)),
                (None, None) => (-1, None),
            },
            Err(e) => {
                tracing::warn!(run = %self.id, error = %e, "waiting for a container process");
                (-1, None)
            }
        };
        Exit {
            code,
            signal,
            oom_killed,
            finished_at: clock.now(),
            lost: None,
            start_error: None,
        }
    }
}

/// A run supervised in a task of its own ([`Started::supervise_started`]).
#[derive(Debug)]
pub(crate) struct Supervised {
    task: tokio::task::JoinHandle<Exit>,
    /// The supervision's end, when it came before the run counted as started.
    ended: Option<Result<Exit, tokio::task::JoinError>>,
}

impl Supervised {
    /// How the run ended, once it has.
    pub(crate) async fn exit(self) -> Exit {
        let ended = match self.ended {
            Some(ended) => ended,
            None => self.task.await,
        };
        match ended {
            Ok(exit) => exit,
            // The task is never aborted: only a panic ends it early, and it stays one.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Waits until `path` exists: until an entry of that name is created in, or moved into,
/// its directory (inotify; runc writes its pid file under another name and renames it),
/// or at once if it exists already. An error (no inotify, no directory) returns at once:
/// the run then counts as started without it.
async fn appears(path: &Path) -> std::io::Result<()> {
    use rustix::fs::inotify;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO,
    )?;
    // Looked at once the watch is in place, so no creation can slip between the two.
    if path.exists() {
        close_aside(fd);
        return Ok(());
    }
    let fd = readiness::register(fd)?;
    let created = created(&fd, name.as_bytes()).await;
    close_aside(fd.into_inner());
    created
}

/// Waits for an event of the inotify descriptor `fd` that names `name`.
async fn created(
    fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    name: &[u8],
) -> std::io::Result<()> {
    use rustix::fs::inotify;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let mut ready = fd.readable().await?;
        let mut events = inotify::Reader::new(fd.get_ref(), &mut buf);
        loop {
            match events.next() {
                Ok(event) => {
                    if event.file_name().map(std::ffi::CStr::to_bytes) == Some(name) {
                        return Ok(());
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        ready.clear_ready();
    }
}

/// Closes an inotify descriptor off the caller's path: closing one that had a watch waits
/// for the kernel to destroy its marks (`fsnotify_destroy_group` flushes work queued behind
/// an SRCU grace period), 10 to 12 ms measured by `perf record -e sched:sched_switch -g` on
/// the shim, which would hold back the report that the run has started.
fn close_aside(fd: std::os::fd::OwnedFd) {
    tokio::task::spawn_blocking(move || drop(fd));
}

/// The inotify descriptor under the runtime's readiness events.
#[allow(unsafe_code)]
mod readiness {
    use std::os::fd::OwnedFd;

    use tokio::io::unix::AsyncFd;

    pub(super) fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: the `AsyncFd` owns the descriptor: it stays open, and the same, until the
        // `AsyncFd` is dropped.
        unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
    }
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

/// SIGKILLs what is left of a run once its first process has ended, and waits until it is
/// gone: SIGKILL is delivered when the target next runs.
async fn kill_leftovers(id: &str, pgid: i32, cgroup: Option<&RunCgroup>) {
    if let Some(cg) = cgroup {
        cgroup::kill_all(&cg.paths()).await;
    }
    let Some(group) = Pid::from_raw(pgid) else {
        return;
    };
    for _ in 0..200 {
        // ESRCH: no process is in the group, not even a zombie, so there is nothing to scan
        // /proc for (the usual case: the leader has been reaped and started nothing).
        let sent = kill_process_group(group, Signal::KILL);
        if sent == Err(rustix::io::Errno::SRCH) || !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!(run = %id, pgid, "processes of an ended container survive SIGKILL");
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

/// The one place the agent needs `unsafe`: code that runs in the child between fork and
/// exec, which the standard library only offers as an unsafe hook.
#[allow(unsafe_code)]
mod spawn {
    use std::fs::File;

    /// Makes the child write itself into the run's cgroups before it execs, so that the run
    /// and everything it starts are limited and accounted from the first instruction
    /// (`RunCgroup::open_join_files` says which files, and why).
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

    /// Makes the child enter its mount namespace, with its volumes mounted, before it
    /// execs (`Namespace::enter`).
    pub(super) fn enter_namespace(cmd: &mut tokio::process::Command, namespace: super::Namespace) {
        // SAFETY: the hook runs in the forked child; `Namespace::enter` makes only system
        // calls on paths and bytes allocated before the fork, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || namespace.enter());
        }
    }
}

#[cfg(test)]
mod tests {
    use kbatch_api::clock::SystemClock;

    use super::*;

    fn launch(dir: &Path, argv: &[&str], marker: Option<PathBuf>) -> Launch {
        Launch {
            id: "r".to_owned(),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            env: vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())],
            working_dir: dir.to_owned(),
            log_path: dir.join("r.log"),
            cgroup: None,
            mounts: Vec::new(),
            started_marker: marker,
        }
    }

    /// A marker renamed into place, as runc writes its pid file, is seen; one that exists
    /// already is seen at once.
    #[tokio::test]
    async fn a_marker_is_seen_when_it_is_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("runc.pid");
        let waiting = tokio::spawn({
            let marker = marker.clone();
            async move { appears(&marker).await }
        });
        // Other entries of the directory do not count.
        std::fs::write(dir.path().join("other"), "x").unwrap();
        std::fs::write(dir.path().join(".runc.pid"), "42").unwrap();
        std::fs::rename(dir.path().join(".runc.pid"), &marker).unwrap();
        waiting.await.unwrap().unwrap();
        appears(&marker).await.unwrap();
    }

    /// A run counts as started once its marker appears while it runs, or once it has ended
    /// without one (runc that could not start the container); either way its exit follows.
    #[tokio::test]
    async fn a_run_is_started_at_its_marker_or_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("started");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let run = launch(
            dir.path(),
            &["/bin/sh", "-c", "touch started; exec sleep 1000"],
            Some(marker.clone()),
        );
        let started = run.start(clock.clone()).await.unwrap();
        let record = started.record();
        let supervised = started
            .supervise_started(clock.clone(), Some(&marker))
            .await;
        assert!(marker.exists());
        assert!(supervised.ended.is_none(), "it still runs");
        let _ = kill_process_group(Pid::from_raw(record.pgid).unwrap(), Signal::KILL);
        assert_eq!(supervised.exit().await.signal, Some(9));

        let never = dir.path().join("never");
        let run = launch(
            dir.path(),
            &["/bin/sh", "-c", "exit 3"],
            Some(never.clone()),
        );
        let started = run.start(clock.clone()).await.unwrap();
        let supervised = started.supervise_started(clock, Some(&never)).await;
        assert!(!never.exists());
        assert_eq!(supervised.exit().await.code, 3);
    }
}
