//! The shim: one supervisor process per container run, as containerd-shim is, so that a run
//! outlives the agent's process and a restarted agent can adopt it.
//!
//! A shim gets the run's claim file (below) as its stdin and answers one `Handshake` line
//! on its stdout, which it keeps open until it ends: the end of that pipe is how the agent
//! learns that the shim has ended. Shims are forked by the spawner (`kbatch __shim-spawner`,
//! [`SPAWNER_SUBCOMMAND`]), one small process the runtime starts once and hands each run to
//! (its claim and answer pipe, over a socket): executing the kbatch binary anew for each run
//! (the exec, the dynamic loader's relocations, Rust's start-up) was most of a shim's cost
//! and on the path of every pod's start. Without a spawner the runtime runs `kbatch __shim`
//! ([`SUBCOMMAND`]) itself, with the same stdin and stdout.
//! The shim leaves the agent's session (`setsid`), starts the container exactly as the
//! direct mode does (`runtime::container`), writes its output to the run's log file itself,
//! waits for it, ends whatever it left behind and records how it ended. Everything the shim
//! does after the handshake it does without the agent: logs keep flowing and the exit is
//! recorded while no agent runs.
//!
//! # A run starts at most once
//!
//! Each run (one attempt of one container, named by its deterministic run id) has two files
//! in the runtime's state directory, `<pod uid>_<run id>.claim` and `<pod uid>_<run id>.json`:
//!
//! - **The claim** holds the run's `ShimSpec`, and its `flock` says who owns the run. The
//!   agent creates it, takes the lock (exclusive, non-blocking), writes the spec and spawns
//!   the shim with the locked file as its stdin: the shim inherits the lock with the open
//!   file, before it runs any code, and holds it for as long as it lives (it never closes its
//!   stdin; the container gets `/dev/null`). The agent's own descriptor closes once the shim
//!   is spawned. So the claim is locked exactly while a shim of the run is alive, or while
//!   an agent is about to spawn one; a shim also refuses to run unless it holds the lock.
//! - **The status file** (`RunStatus`) is the shim's alone, written under the claim. The
//!   shim creates it just before it starts the container, with a `Starting` marker: from
//!   then on the container may be running, so the file's existence alone says the run may
//!   have started. It then holds the `Started` record (who the shim and the container are),
//!   that record again with the exit once the run has ended, or `NotStarted` when the
//!   container could not be started (it never ran). Each version overwrites the last in
//!   place, padded so the file never shrinks, behind the SHA-256 of its JSON: a reader that
//!   catches a write halfway (or finds one a dying shim left) sees a digest that does not
//!   match, and takes the run's outcome as unknown, never as a version it is not. (In place,
//!   not renamed: a new file per version costs an inode allocation, which on a busy ext4
//!   without a journal is a search past every recently freed inode.)
//!
//! A runtime asked to start a run takes the claim first and then reads the status file
//! (`runtime::process`): claim taken and no status file means no shim ever started the
//! container, so the run is started, under the claim it holds. Anything else is a run an
//! earlier agent process started and died before recording: a live shim (claim busy) is
//! waited for until its record is written, then followed; a run whose shim has ended (claim
//! free, status file present) is reported as its status says: its recorded exit, or lost
//! when it may have run and nothing recorded how it ended. A run is never started twice.
//!
//! The start's versions of the status file are not synced to disk: they guard against the
//! agent's process dying, which leaves the page cache intact. The exit is synced (the file,
//! then its directory), so where the run directory is on disk an exit once recorded survives
//! a crash of the machine; on the default tmpfs ([`crate::run_dir`]) a reboot takes the
//! records with the runs. After a crash of the whole machine, a run whose start no status
//! reported yet can run again, as with kubelet after a node reboot.
//!
//! A shim leaves the agent's session, not its cgroup: a service manager that ends the
//! whole cgroup with the server (systemd's default `KillMode=control-group`) ends the runs
//! too, which the next server then reports as lost. `KillMode=process` keeps them.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kbatch_api::clock::{Clock, SystemClock};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::FlockOperation;
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::process::{Pid, Signal, WaitOptions, getpid, kill_process_group};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint::{ProcessRecord, ShimRecord, start_ticks};
use crate::runtime::Exit;
use crate::runtime::container::Launch;

/// The kbatch subcommand that runs a shim.
pub const SUBCOMMAND: &str = "__shim";

/// The kbatch subcommand that runs the shims' spawner.
pub const SPAWNER_SUBCOMMAND: &str = "__shim-spawner";

/// How long the spawner waits for a run before it reaps the shims that have ended anyway.
const SPAWNER_REAP: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// The points of its start at which a shim can be held, in order, for tests of the start
/// protocol (`ProcessRuntime::hold_shims_at`): `claimed` (the spec read, nothing written),
/// `starting` (the `Starting` marker written, the container not started), `started` (the
/// container started and recorded, no handshake yet).
pub const HOLD_POINTS: [&str; 3] = ["claimed", "starting", "started"];

/// How often a held shim looks whether it may go on.
const HOLD_POLL: Duration = Duration::from_millis(10);

/// What the runtime tells a shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShimSpec {
    pub launch: Launch,
    pub status_file: PathBuf,
    /// Tests only: a directory in which a file named after a point of [`HOLD_POINTS`] holds
    /// the shim at that point (it writes `<point>.held` there and waits until the file is
    /// gone). Never set outside tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<PathBuf>,
}

/// The shim's one answer: the run started (the container's and the shim's processes), or
/// why it could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Handshake {
    Started(ProcessRecord),
    Failed(String),
}

/// A status file: where the run's start stands, and its exit once it has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum RunStatus {
    /// The container has started: its processes (`record.shim` is always set, which tells
    /// this shim's file from one an earlier shim of the same run left), when, and its exit
    /// once it has ended.
    Started {
        record: ProcessRecord,
        /// RFC 3339.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<String>,
        exit: Option<ExitRecord>,
    },
    /// Written just before the shim starts the container: from here on it may be running.
    /// Names the shim and the run's cgroups, which hold whatever it may have started.
    Starting {
        starting: ShimRecord,
        cgroups: Vec<PathBuf>,
    },
    /// The container could not be started (why, in runc's words): it never ran.
    NotStarted { not_started: String },
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

/// What a status file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// No file: no shim started the run.
    Absent,
    /// A file, but no whole version in it: a shim is writing it, or died writing it.
    Torn,
    Whole(RunStatus),
}

/// The length of a version's header: the hex SHA-256 of its JSON and a newline.
const DIGEST_HEADER: usize = 65;

impl RunStatus {
    /// The status file at `path`.
    pub(crate) fn load(path: &Path) -> Found {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes).map_or(Found::Torn, Found::Whole),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Absent,
            Err(_) => Found::Torn,
        }
    }

    /// The whole version in the status file at `path`, if there is one.
    pub(crate) fn read(path: &Path) -> Option<RunStatus> {
        match Self::load(path) {
            Found::Whole(status) => Some(status),
            Found::Absent | Found::Torn => None,
        }
    }

    /// The digest header, the JSON, then padding up to `len` (JSON allows the trailing
    /// spaces).
    fn encode(&self, len: usize) -> std::io::Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let mut bytes = Vec::with_capacity(len.max(DIGEST_HEADER + json.len()));
        bytes.extend_from_slice(hex(&Sha256::digest(&json)).as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&json);
        if bytes.len() < len {
            bytes.resize(len, b' ');
        }
        Ok(bytes)
    }

    /// The version in `bytes`, if it is whole. Files without the digest header are from
    /// kbatch before it, which only ever renamed whole versions into place.
    fn decode(bytes: &[u8]) -> Option<RunStatus> {
        let guarded = bytes.len() > DIGEST_HEADER
            && bytes[DIGEST_HEADER - 1] == b'\n'
            && bytes[..DIGEST_HEADER - 1].iter().all(u8::is_ascii_hexdigit);
        if !guarded {
            return serde_json::from_slice(bytes).ok();
        }
        let json = bytes[DIGEST_HEADER..].trim_ascii_end();
        if hex(&Sha256::digest(json)).as_bytes() != &bytes[..DIGEST_HEADER - 1] {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// The run's exit, if it has ended and this is the file of the shim `shim` names.
    pub(crate) fn exit_of(&self, shim: &ShimRecord) -> Option<Exit> {
        let RunStatus::Started {
            record,
            exit: Some(exit),
            ..
        } = self
        else {
            return None;
        };
        let ours = record
            .shim
            .as_ref()
            .is_some_and(|s| s.pid == shim.pid && s.start_ticks == shim.start_ticks);
        ours.then(|| exit.to_exit())
    }
}

impl ExitRecord {
    pub(crate) fn to_exit(&self) -> Exit {
        Exit {
            code: self.code,
            signal: self.signal,
            oom_killed: self.oom_killed,
            finished_at: self
                .finished_at
                .parse()
                .unwrap_or_else(|_| SystemClock.now()),
            lost: None,
            start_error: None,
        }
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

/// The shim's status file, open for writing.
#[derive(Debug)]
struct StatusFile {
    path: PathBuf,
    file: File,
    /// The longest version written so far.
    len: usize,
}

impl StatusFile {
    /// Creates the file with its first version. Fails if it exists: a status file is
    /// the one shim's that ever held the run's claim without one.
    fn create(path: &Path, first: &RunStatus) -> std::io::Result<StatusFile> {
        let file = File::options().write(true).create_new(true).open(path)?;
        let mut status = StatusFile {
            path: path.to_owned(),
            file,
            len: 0,
        };
        status.write(first, false)?;
        Ok(status)
    }

    /// Overwrites the file with this version; `durable` also syncs it, and its directory
    /// entry, to disk.
    fn write(&mut self, status: &RunStatus, durable: bool) -> std::io::Result<()> {
        let bytes = status.encode(self.len)?;
        self.file.write_all_at(&bytes, 0)?;
        self.len = bytes.len();
        if durable {
            self.file.sync_data()?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok(())
    }
}

/// Lower-case hex digits of `bytes` (the digests in file names and records).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The claim file at `path`, locked by this process, or `None` if someone else holds the
/// lock (a live shim of the run). Created if missing, readable by the agent's user only (it
/// holds the run's environment, Secret values included); its contents are left as they are.
pub(crate) fn take_claim(path: &Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The shim's main: takes its run's spec from the claim file on its stdin, answers with a
/// `Handshake` on stdout and supervises the run to its end. Must not be called inside a
/// tokio runtime (it makes its own).
pub fn run() -> ExitCode {
    // Its own session: signals meant for the agent's process group or terminal do not reach
    // it, and it lives on when the agent's process ends. It fails only for a group leader,
    // which a freshly spawned child is not.
    let _ = rustix::process::setsid();
    let spec = match claimed_spec() {
        Ok(spec) => spec,
        Err(e) => {
            answer(&Handshake::Failed(format!(
                "the container's supervisor could not take the run: {e}"
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

/// The spawner's main: forks a shim for each run the agent sends over the socket on its
/// stdin (a message with two descriptors: the run's claim and the write end of the pipe for
/// the shim's answer), until the agent closes the socket (it has ended). It stays
/// single-threaded, so that each fork can run the shim's main as a freshly started process
/// would; it reaps the shims that have ended.
pub fn run_spawner() -> ExitCode {
    let stdin = std::io::stdin();
    let socket = stdin.as_fd();
    loop {
        while let Ok(Some(_)) = rustix::process::wait(WaitOptions::NOHANG) {}
        let mut ready = [PollFd::new(&socket, PollFlags::IN)];
        match rustix::event::poll(&mut ready, Some(&SPAWNER_REAP)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(_) => return ExitCode::FAILURE,
        }
        let mut byte = [0u8; 1];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let received = match received {
            Ok(received) => received,
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(_) => return ExitCode::FAILURE,
        };
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|message| match message {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                _ => Vec::new(),
            })
            .collect();
        if received.bytes == 0 && fds.is_empty() {
            return ExitCode::SUCCESS;
        }
        let Ok([claim, answer]) = <[OwnedFd; 2]>::try_from(fds) else {
            continue;
        };
        match fork::fork() {
            Ok(fork::Forked::Child) => return become_shim(&claim, &answer),
            Ok(fork::Forked::Parent) => {}
            Err(e) => answer_to(
                answer.as_fd(),
                &Handshake::Failed(format!(
                    "the container's supervisor could not be started: fork: {e}"
                )),
            ),
        }
    }
}

/// In a child of the spawner: the claim becomes stdin (which closes the child's copy of the
/// spawner's socket) and the answer pipe stdout, as for a shim the agent executes; then the
/// shim's main.
fn become_shim(claim: &OwnedFd, answer: &OwnedFd) -> ExitCode {
    if rustix::stdio::dup2_stdin(claim).is_err() || rustix::stdio::dup2_stdout(answer).is_err() {
        // Ends without an answer, so the agent sees the run never started.
        return ExitCode::FAILURE;
    }
    // `ps` shows the spawner's command line for its children; the name tells them apart.
    let _ = rustix::thread::set_name(c"kbatch-shim");
    run()
}

/// Hands a run to the spawner on the other end of `socket`: its claim and the write end of
/// the pipe the shim answers on. The message is whole or not sent at all.
pub(crate) fn send_to_spawner(
    socket: BorrowedFd<'_>,
    claim: BorrowedFd<'_>,
    answer: BorrowedFd<'_>,
) -> std::io::Result<()> {
    let fds = [claim, answer];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other(
            "the descriptors do not fit the message",
        ));
    }
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(b"r")],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// The one place the shim needs `unsafe`: the spawner's fork.
#[allow(unsafe_code)]
mod fork {
    pub(super) enum Forked {
        Child,
        Parent,
    }

    pub(super) fn fork() -> std::io::Result<Forked> {
        // SAFETY: only the spawner forks, and it is single-threaded (no runtime, no thread
        // of its own or of the standard library): no lock or state of another thread is
        // copied half-changed into the child, which may then run any code, as a process
        // started from `main` would.
        match unsafe { libc::fork() } {
            -1 => Err(std::io::Error::last_os_error()),
            0 => Ok(Forked::Child),
            _ => Ok(Forked::Parent),
        }
    }
}

/// The spec in the claim file on stdin, once this process holds the claim's lock: inherited
/// from the agent that spawned it (taking it again is then a no-op), or taken now. A claim
/// someone else holds is a run another shim owns.
fn claimed_spec() -> Result<ShimSpec, String> {
    let stdin = std::io::stdin();
    let claim = stdin.as_fd();
    rustix::fs::flock(claim, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
        if e == rustix::io::Errno::WOULDBLOCK {
            "another supervisor holds the run's claim".to_owned()
        } else {
            format!("locking the run's claim: {e}")
        }
    })?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // Positional reads: the offset of the open file is shared with the agent.
        let n = rustix::io::pread(claim, &mut buf, bytes.len() as u64)
            .map_err(|e| format!("reading the run's claim: {e}"))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("reading the run's claim: {e}"))
}

async fn supervise(spec: ShimSpec) -> ExitCode {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hold = spec.hold.as_deref();
    let me = getpid().as_raw_nonzero().get();
    let shim = ShimRecord {
        pid: me,
        start_ticks: start_ticks(me).unwrap_or(0),
        status_file: spec.status_file.clone(),
    };
    hold_at(hold, "claimed").await;
    let starting = RunStatus::Starting {
        starting: shim.clone(),
        cgroups: spec
            .launch
            .cgroup
            .as_ref()
            .map(|c| c.paths())
            .unwrap_or_default(),
    };
    let mut status = match StatusFile::create(&spec.status_file, &starting) {
        Ok(status) => status,
        Err(e) => {
            answer(&Handshake::Failed(format!(
                "recording the run in {}: {e}",
                spec.status_file.display()
            )));
            return ExitCode::FAILURE;
        }
    };
    hold_at(hold, "starting").await;
    let marker = spec.launch.started_marker.clone();
    let started = match spec.launch.start(clock.clone()).await {
        Ok(started) => started,
        Err(e) => {
            // It never ran: an agent that finds this may start the run again. Should the
            // write fail, the `Starting` marker stays and the run counts as lost.
            let not_started = RunStatus::NotStarted {
                not_started: e.0.clone(),
            };
            let _ = status.write(&not_started, false);
            answer(&Handshake::Failed(e.0));
            return ExitCode::FAILURE;
        }
    };
    let mut record = started.record();
    record.shim = Some(shim);
    let started_at = clock.now().to_string();
    let recorded = RunStatus::Started {
        record: record.clone(),
        started_at: Some(started_at.clone()),
        exit: None,
    };
    if let Err(e) = status.write(&recorded, false) {
        // Without its record the run could not be followed: it does not run. The
        // `Starting` marker stays, since it did start.
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
    let supervised = started.supervise_started(clock, marker.as_deref()).await;
    hold_at(hold, "started").await;
    answer(&Handshake::Started(record.clone()));
    let exit = supervised.exit().await;
    let ended = RunStatus::Started {
        record,
        started_at: Some(started_at),
        exit: Some(ExitRecord::from(&exit)),
    };
    match status.write(&ended, true) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Tests only ([`ShimSpec::hold`]): waits at `point` while `<dir>/<point>` exists, having
/// written `<dir>/<point>.held` (with this shim's pid) to say it is there.
async fn hold_at(dir: Option<&Path>, point: &str) {
    let Some(dir) = dir else {
        return;
    };
    let gate = dir.join(point);
    if !gate.exists() {
        return;
    }
    // Renamed into place, so a test never reads it half written.
    let held = dir.join(format!("{point}.held"));
    let _ = std::fs::write(held.with_extension("tmp"), std::process::id().to_string())
        .and_then(|()| std::fs::rename(held.with_extension("tmp"), &held));
    while gate.exists() {
        tokio::time::sleep(HOLD_POLL).await;
    }
}

/// Writes the handshake line. The agent may be gone already (then nobody is listening and
/// the status file is what counts).
fn answer(handshake: &Handshake) {
    answer_to(std::io::stdout().as_fd(), handshake);
}

fn answer_to(pipe: BorrowedFd<'_>, handshake: &Handshake) {
    if let Ok(mut line) = serde_json::to_vec(handshake) {
        line.push(b'\n');
        let mut rest = line.as_slice();
        while !rest.is_empty() {
            match rustix::io::write(pipe, rest) {
                Ok(n) => rest = &rest[n..],
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(shim_pid: i32) -> ProcessRecord {
        ProcessRecord {
            pid: 10,
            start_ticks: 20,
            pgid: 10,
            cgroups: Vec::new(),
            shim: Some(ShimRecord {
                pid: shim_pid,
                start_ticks: 30,
                status_file: PathBuf::from("/runs/u/r.json"),
            }),
        }
    }

    /// A status file written before the `Starting` marker existed reads as `Started`.
    #[test]
    fn status_files_of_every_kind_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let earlier = serde_json::json!({"record": record(5), "exit": null});
        std::fs::write(&path, earlier.to_string()).unwrap();
        assert_eq!(
            RunStatus::read(&path),
            Some(RunStatus::Started {
                record: record(5),
                started_at: None,
                exit: None
            })
        );
        let statuses = [
            RunStatus::Starting {
                starting: record(5).shim.unwrap(),
                cgroups: vec![PathBuf::from("/sys/fs/cgroup/x")],
            },
            RunStatus::Started {
                record: record(5),
                started_at: Some("2026-01-01T00:00:00Z".into()),
                exit: Some(ExitRecord {
                    code: 3,
                    signal: None,
                    oom_killed: false,
                    finished_at: "2026-01-01T00:00:01Z".into(),
                }),
            },
            RunStatus::NotStarted {
                not_started: "exec: \"x\": executable file not found in $PATH".into(),
            },
        ];
        std::fs::remove_file(&path).unwrap();
        assert_eq!(RunStatus::load(&path), Found::Absent);
        let mut file = StatusFile::create(&path, &statuses[0]).unwrap();
        assert!(StatusFile::create(&path, &statuses[0]).is_err());
        for (i, status) in statuses.into_iter().enumerate() {
            file.write(&status, i == 1).unwrap();
            assert_eq!(RunStatus::load(&path), Found::Whole(status));
        }
    }

    /// A version overwritten halfway reads as torn, never as another version.
    #[test]
    fn a_version_written_halfway_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let starting = RunStatus::Starting {
            starting: record(5).shim.unwrap(),
            cgroups: Vec::new(),
        };
        let started = RunStatus::Started {
            record: record(5),
            started_at: None,
            exit: None,
        };
        let mut file = StatusFile::create(&path, &starting).unwrap();
        let old = std::fs::read(&path).unwrap();
        let new = started.encode(old.len()).unwrap();
        for cut in [1, DIGEST_HEADER, DIGEST_HEADER + 5, new.len() - 1] {
            let mut torn = new[..cut].to_vec();
            torn.extend_from_slice(old.get(cut..).unwrap_or_default());
            std::fs::write(&path, &torn).unwrap();
            match RunStatus::load(&path) {
                Found::Torn => {}
                // Cut before the first byte the versions differ in.
                Found::Whole(read) if read == starting => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        file.write(&started, false).unwrap();
        assert_eq!(RunStatus::load(&path), Found::Whole(started));
    }

    #[test]
    fn an_exit_is_only_the_shim_s_own() {
        let ended = RunStatus::Started {
            record: record(5),
            started_at: None,
            exit: Some(ExitRecord {
                code: 3,
                signal: None,
                oom_killed: false,
                finished_at: "2026-01-01T00:00:01Z".into(),
            }),
        };
        let shim = record(5).shim.unwrap();
        assert_eq!(ended.exit_of(&shim).map(|e| e.code), Some(3));
        let other = ShimRecord { pid: 6, ..shim };
        assert_eq!(ended.exit_of(&other), None);
    }

    /// The claim's lock is the open file's: a second open, even in the same process, does
    /// not get it while the first is open, and gets it once that is closed.
    #[test]
    fn a_claim_is_held_by_one_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.claim");
        let first = take_claim(&path).unwrap().expect("a fresh claim");
        assert!(take_claim(&path).unwrap().is_none());
        let shared = first.try_clone().unwrap();
        drop(first);
        assert!(
            take_claim(&path).unwrap().is_none(),
            "a descriptor of the same open file still holds it"
        );
        drop(shared);
        assert!(take_claim(&path).unwrap().is_some());
    }
}
