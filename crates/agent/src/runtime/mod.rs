//! Runtimes: what turns one run of a container into something running on the node. The pod
//! worker decides what runs when; a runtime only starts a run, reports its exit, and signals
//! it (CRI's `StartContainer`, `ContainerStatus`, `StopContainer`, reduced to what a batch
//! node needs).
//!
//! - [`process::ProcessRuntime`]: host processes, each container in its own process group
//!   and, where the host allows, its own cgroup; optionally each under a shim that outlives
//!   the agent's process.
//! - [`runc::RuncRuntime`]: OCI containers from the pod's images, run by the `runc` binary.
//! - [`fake::FakeRuntime`]: records what it was asked and exits as a test scripts it.

pub(crate) mod container;
pub mod fake;
pub mod mount_ns;
pub mod process;
pub mod runc;

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Container, Pod};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::checkpoint::{ProcessRecord, RunRecord};

/// The pod a container belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// The id of one run of a container: 64 hex digits, like a container runtime's, derived from
/// the pod, the container and the attempt so that the log reader can tell which file a
/// `containerID` in the pod's status names.
pub fn run_id(pod_uid: &str, container: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{pod_uid}/{container}/{attempt}").as_bytes());
    crate::shim::hex(&digest)
}

/// Everything a runtime needs to start one run of a container, worked out by the agent from
/// the pod (env and `$(VAR)` expansion done).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The run's id, unique on the node, without the `<runtime>://` prefix.
    pub id: String,
    pub pod: PodRef,
    /// The container's name in the pod.
    pub name: String,
    /// Which run this is: 0 for the first, then one more per restart (its restartCount).
    pub attempt: u32,
    /// The expanded `command` followed by the expanded `args`.
    pub argv: Vec<String>,
    /// The complete environment of the process.
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    /// Where stdout and stderr go, in the CRI log format.
    pub log_path: PathBuf,
    pub limits: Limits,
    /// The container's volume mounts, in the order of its `volumeMounts`: what the process
    /// sees at each path inside its mount namespace (the runc runtime's OCI `mounts`).
    pub mounts: Vec<Mount>,
    /// For runtimes that run images ([`Runtime::uses_images`]): the pulled image and what
    /// the runtime builds the container from; `None` for the process runtime.
    pub image: Option<ImageRun>,
}

/// One bind mount of a container: a host file or directory (a volume's, or a path inside
/// one for `subPath`) seen at `destination`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// The host path, symlinks resolved: what is bind-mounted.
    pub source: PathBuf,
    /// The container's `mountPath`.
    pub destination: PathBuf,
    pub read_only: bool,
}

/// What a runtime that runs images needs beyond a [`ContainerSpec`]'s process fields.
#[derive(Debug, Clone)]
pub struct ImageRun {
    /// The pulled image (its config: ENTRYPOINT, CMD, ENV, WORKDIR, USER; its layers).
    pub image: Arc<kbatch_image::Image>,
    pub pod: Arc<Pod>,
    pub container: Container,
    /// `command` and `args` with `$(VAR)` expanded, each `None` where the container sets
    /// none (the image's ENTRYPOINT and CMD then apply).
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
}

impl PartialEq for ImageRun {
    fn eq(&self, other: &Self) -> bool {
        self.image.manifest_digest == other.image.manifest_digest
            && self.pod == other.pod
            && self.container == other.container
            && self.command == other.command
            && self.args == other.args
    }
}

/// The resources a run may use, from the container's `resources`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `limits.memory` in bytes.
    pub memory_bytes: Option<u64>,
    /// `limits.cpu` in millicores.
    pub cpu_millis: Option<u64>,
    /// `requests.cpu` in millicores (the share of CPU under contention).
    pub cpu_request_millis: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit status; 128 + the signal number when a signal ended it, as container
    /// runtimes report it.
    pub code: i32,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer acted inside the run's cgroup.
    pub oom_killed: bool,
    pub finished_at: jiff::Timestamp,
    /// Set when the runtime lost track of the run: it has ended (or was ended), but how is
    /// unknown; the text says what happened. `code` is then 137, as kubelet reports a
    /// container it cannot find.
    pub lost: Option<String>,
    /// Set when the runtime could not start the container's process after all (runc's
    /// `runc run failed: …`): the container never ran; the text says why. The agent reports
    /// it as containerd does, reason `StartError`, exit code 128.
    pub start_error: Option<String>,
}

/// The signals the agent sends: SIGTERM to ask, SIGKILL once the grace period is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Kill,
}

/// A run that could not be started; its message becomes the container's
/// `ContainerCannotRun` termination message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// One started run of a container.
#[async_trait]
pub trait ContainerHandle: Send + Sync + Debug {
    /// The run's id, as in [`ContainerSpec::id`].
    fn id(&self) -> &str;
    fn started_at(&self) -> jiff::Timestamp;
    /// What lets a later agent process find the run again (the checkpoint).
    fn process(&self) -> Option<ProcessRecord>;
    /// Waits until the run has ended (at once if it has); every caller gets the same exit.
    async fn wait(&self) -> Exit;
    /// Signals everything the run started (its whole process group or cgroup).
    fn signal(&self, signal: StopSignal);
}

/// A container runtime.
#[async_trait]
pub trait Runtime: Send + Sync + Debug {
    /// The scheme of its container IDs (`process://…`).
    fn name(&self) -> &str;
    /// Whether it runs containers from images: the agent pulls each container's image (as
    /// its imagePullPolicy says) and hands it over in [`ContainerSpec::image`].
    fn uses_images(&self) -> bool {
        false
    }
    /// Whether this runtime can run the container at all; the error says why not and how
    /// to fix it. Checked for every container before a pod starts.
    fn check(&self, container: &Container) -> Result<(), String>;
    /// Starts one run, at most once: when a run of this id has been started before (by an
    /// earlier agent process that died before it recorded the run), the handle follows that
    /// run, or reports how it ended, instead of starting another; a run that never started
    /// is started.
    async fn start(&self, spec: ContainerSpec) -> Result<Arc<dyn ContainerHandle>, StartError>;
    /// A run this runtime started and still follows: how an agent restarted in the same
    /// process adopts its pods.
    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>>;
    /// A run recorded by an earlier agent process: a handle that reports how it ends (at
    /// once if it ended while no agent ran, as lost if nothing recorded how), or `None` if
    /// the runtime cannot follow such a run at all (then [`Runtime::reclaim`] ends what is
    /// left of it).
    async fn adopt(&self, run: &RunRecord) -> Option<Arc<dyn ContainerHandle>>;
    /// The agent has recorded the run's exit; the runtime may drop it.
    fn forget(&self, id: &str);
    /// Ends whatever is left of a run recorded by an earlier agent process that this runtime
    /// cannot follow (no exit status, no output). Returns whether anything was still alive.
    async fn reclaim(&self, record: &ProcessRecord) -> bool;
    /// The pods this runtime keeps state for, on this node, whichever agent process
    /// started their runs.
    fn pods(&self) -> Vec<String>;
    /// The pod is done on this node: end whatever is left of its runs, recorded or not, and
    /// release what the runtime kept for it.
    async fn release_pod(&self, uid: &str);
}

/// The exit of a run, set once and read by any number of waiters.
#[derive(Debug)]
pub(crate) struct ExitCell {
    tx: watch::Sender<Option<Exit>>,
}

impl ExitCell {
    pub(crate) fn new() -> Self {
        ExitCell {
            tx: watch::channel(None).0,
        }
    }

    pub(crate) fn set(&self, exit: Exit) {
        self.tx.send_replace(Some(exit));
    }

    pub(crate) fn get(&self) -> Option<Exit> {
        self.tx.borrow().clone()
    }

    pub(crate) async fn wait(&self) -> Exit {
        let mut rx = self.tx.subscribe();
        loop {
            if let Some(exit) = rx.borrow_and_update().clone() {
                return exit;
            }
            // The sender lives in `self`, so the channel cannot close while we wait.
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
