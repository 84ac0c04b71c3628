//! The pod worker: one task per pod bound to the node, a state machine over the pod's
//! stage and each container's run, whose status is derived from that state alone
//! (`status.rs`). It mirrors kubelet's pod worker and `computePodActions`:
//!
//! - **New**: every container must be runnable by the runtime, or the pod fails at once
//!   (`ContainerCannotRun`); the pod's sandbox is then ready.
//! - **Initializing**: init containers run one by one, each after the previous succeeded;
//!   native sidecars (init containers with `restartPolicy: Always`) start in their turn and
//!   keep running. A failed init container fails the pod under `restartPolicy: Never` and is
//!   restarted (with back-off) otherwise.
//! - **Running**: the regular containers start together; a container that exits is
//!   restarted as the restart policy says, after kubelet's crash-loop back-off (10s doubling
//!   to 5m, forgotten after 10m of calm); sidecars always restart. Once no regular container
//!   will run again, the sidecars are stopped.
//! - **Stopping**: on deletion, `activeDeadlineSeconds` or the end of the regular
//!   containers: SIGTERM to the regular containers, then to the sidecars in reverse order,
//!   SIGKILL to whatever still runs when the grace period ends.
//! - **Done**: every container stopped; containers that never ran are reported as kubelet's
//!   `TerminatePod` does; a deleted pod is finally removed (`gracePeriodSeconds: 0`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ObjectReference, Pod, PodStatus,
};
use kbatch_api::registry::EventSpec;
use kbatch_core::object::{
    CONFIGMAP, Object, PERSISTENTVOLUMECLAIM, RUNTIME_CLASS, SECRET, STORAGECLASS,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Context;
use crate::checkpoint::{PodCheckpoint, RunRecord};
use crate::env::{command_line, environment, expand};
use crate::events::PodEvents;
use crate::logs::run_path;
use crate::resources::limits;
use crate::runtime::runc;
use crate::runtime::{
    ContainerHandle, ContainerSpec, Exit, ImageRun, Mount, PodRef, Runtime, StopSignal, run_id,
};
use crate::sources::{Sources, Wanted};
use crate::status::{self, View};
use crate::tokens::PodTokens;
use crate::volumes::claims;
use crate::volumes::{self, SetUp, container_mounts};
use kbatch_image::policy::{self, event_reason};
use kbatch_image::{ImageRef, PullBackoff, PullPolicy, WaitingReason};

/// kubelet's container restart back-off (`backOffPeriod`, `MaxContainerBackOff`).
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long to wait before retrying a status write the API refused for another reason than
/// a conflict.
const RETRY_REPORT: Duration = Duration::from_secs(1);
/// How long the status write that would report a container just started waits, so that a
/// process that ends at once is reported terminated in the same write. kubelet learns of a
/// start from its next PLEG relist (every second), so a pod that ends within that second
/// goes from Pending to its end on a cluster too; the hold is far shorter than that, and
/// well inside the pod start latency target.
const START_REPORT_HOLD: Duration = Duration::from_millis(10);
/// How often the files of a running pod's ConfigMap, Secret, downward API and projected
/// volumes are brought up to date (kubelet's sync period, one minute).
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// How often emptyDir volumes with a sizeLimit are measured (kubelet's eviction manager
/// looks every 10 s).
const LOCAL_STORAGE_CHECK: Duration = Duration::from_secs(10);
/// How soon a container whose configuration or volumes could not be made is tried again,
/// at first and at most.
const CONFIG_RETRY_INITIAL: Duration = Duration::from_secs(1);
const CONFIG_RETRY_MAX: Duration = Duration::from_secs(10);
/// How long kubelet's pod worker waits before it syncs a pod whose sync failed again
/// (`backOffPeriod`): how long `ErrImagePull` shows before the next attempt.
const SYNC_RETRY: Duration = Duration::from_secs(10);
/// The waiting reasons of a container whose image is not there.
const IMAGE_REASONS: [WaitingReason; 4] = [
    WaitingReason::ErrImagePull,
    WaitingReason::ImagePullBackOff,
    WaitingReason::ErrImageNeverPull,
    WaitingReason::InvalidImageName,
];

const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";
const UNKNOWN_MESSAGE: &str = "The container could not be located when the pod was terminated";

/// What a container is to the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// An init container: runs to completion before the next one starts.
    Init,
    /// An init container with `restartPolicy: Always`: a native sidecar.
    Sidecar,
    Regular,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
    pub container_id: Option<String>,
}

impl Terminated {
    fn unknown() -> Terminated {
        Terminated {
            exit_code: 137,
            reason: "ContainerStatusUnknown".to_owned(),
            message: Some(UNKNOWN_MESSAGE.to_owned()),
            started_at: None,
            finished_at: None,
            container_id: None,
        }
    }

    fn from_api(t: &ContainerStateTerminated) -> Terminated {
        Terminated {
            exit_code: t.exit_code,
            reason: t.reason.clone().unwrap_or_default(),
            message: t.message.clone(),
            started_at: t.started_at.as_ref().map(|t| t.0),
            finished_at: t.finished_at.as_ref().map(|t| t.0),
            container_id: t.container_id.clone(),
        }
    }
}

/// Where a container's current run stands.
#[derive(Debug, Clone)]
pub(crate) enum Run {
    /// Never started.
    Pending,
    /// Could not be set up (e.g. `CreateContainerConfigError`); tried again on the next sync.
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        handle: Arc<dyn ContainerHandle>,
        container_id: String,
    },
    /// Failed and waiting out the crash-loop back-off before the next run.
    BackOff {
        until: Instant,
        message: String,
    },
    Terminated(Terminated),
}

/// kubelet's per-container `flowcontrol.Backoff` entry.
#[derive(Debug, Clone, Default)]
struct Backoff {
    delay: Duration,
    last_update: Option<Instant>,
}

impl Backoff {
    fn expired(&self, event: Instant) -> bool {
        self.last_update
            .is_none_or(|last| event.saturating_duration_since(last) > BACKOFF_MAX * 2)
    }

    /// `IsInBackOffSince(finishedAt)`.
    fn holds(&self, finished: Instant, now: Instant) -> bool {
        !self.expired(finished) && now.saturating_duration_since(finished) < self.delay
    }

    /// `Next(finishedAt)`.
    fn next(&mut self, finished: Instant, now: Instant) {
        self.delay = if self.expired(finished) {
            BACKOFF_INITIAL
        } else {
            (self.delay * 2).min(BACKOFF_MAX)
        };
        self.last_update = Some(now);
    }
}

/// One container of the pod and its runs.
#[derive(Debug)]
pub(crate) struct Slot {
    pub name: String,
    pub image: String,
    pub role: Role,
    pub run: Run,
    /// The run before the current one (`lastState`).
    pub last: Option<Terminated>,
    /// Runs started so far; restartCount is one less.
    pub runs: u32,
    finished: Option<Instant>,
    backoff: Backoff,
}

impl Slot {
    fn running(&self) -> Option<&Arc<dyn ContainerHandle>> {
        match &self.run {
            Run::Running { handle, .. } => Some(handle),
            _ => None,
        }
    }
}

/// Why the pod is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The regular containers are done; the sidecars go.
    Completed,
    Deleted,
    Deadline,
    /// Evicted by the node: an emptyDir past its sizeLimit.
    Evicted,
    InitFailed,
    /// Runs could not be followed: lost across an agent restart, or their supervisor
    /// ended without recording how they ended.
    Lost,
}

#[derive(Debug)]
struct Stopping {
    why: Stop,
    kill_at: Instant,
    killed: bool,
    /// Runs already sent SIGTERM.
    termed: HashSet<String>,
}

#[derive(Debug)]
enum Stage {
    New,
    Initializing,
    Running,
    Stopping(Stopping),
    Done,
}

/// Runs one pod until it is done on this node, or until the agent drops its update
/// channel (the agent stopped; runs are left for the next one to adopt).
pub(crate) async fn run(ctx: Arc<Context>, pod: Pod, updates: watch::Receiver<Option<Pod>>) {
    let mut worker = PodWorker::new(ctx, pod, updates);
    // Before any of its images is looked up: garbage collection keeps them from now on.
    worker
        .ctx
        .images_in_use
        .register(&worker.pod_ref.uid, &worker.pod)
        .await;
    worker.resolve_runtime_class().await;
    worker.restore().await;
    worker.work().await;
}

struct PodWorker {
    ctx: Arc<Context>,
    /// The runtime the pod's `runtimeClassName` picks.
    runtime: Arc<dyn Runtime>,
    /// Why no runtime could be picked (the pod then fails at once).
    no_runtime: Option<String>,
    /// kubelet's image pull back-off, per image of this pod.
    pull_backoff: PullBackoff,
    /// When a container waiting for its image is tried again (kubelet's pod worker
    /// requeues a failed sync after [`SYNC_RETRY`]; the pull back-off may hold it longer).
    pull_wake: Option<Instant>,
    /// When the last pull of this pod failed.
    pull_failed_at: Option<Instant>,
    pod: Pod,
    pod_ref: PodRef,
    /// The pod is gone from the API.
    gone: bool,
    slots: Vec<Slot>,
    stage: Stage,
    start_time: jiff::Timestamp,
    sandbox_ready: bool,
    /// The pod's reason and message when it failed as a whole.
    failure: Option<(String, String)>,
    reported: Option<PodStatus>,
    report_failed: bool,
    /// Until when a started container's status is held back ([`START_REPORT_HOLD`]); an
    /// exit or a stop ends the hold.
    report_hold: Option<Instant>,
    /// When to try again to start the containers whose configuration or volumes could not
    /// be made (a ConfigMap or Secret that may yet be created), and the delay after that.
    config_retry: Option<(Instant, Duration)>,
    /// A container could not be configured in this step.
    config_retry_due: bool,
    /// When the pod's ConfigMap, Secret, downward API and projected volumes are next brought
    /// up to date while its containers run (kubelet's periodic volume remount).
    volumes_refresh_at: Option<Instant>,
    /// When the emptyDir volumes with a sizeLimit are next measured, while a container runs.
    storage_check_at: Option<Instant>,
    /// The `FailedMount` and `InvalidEnvironmentVariableNames` messages already recorded,
    /// so that retries do not repeat them.
    pod_events: HashSet<String>,
    /// The service account tokens the pod's projected volumes hold.
    tokens: PodTokens,
    checkpoint: PodCheckpoint,
    /// Runs whose exit the next status write reports; their checkpoint records go after it.
    exited: Vec<String>,
    exits_tx: mpsc::UnboundedSender<(String, Exit)>,
    exits_rx: mpsc::UnboundedReceiver<(String, Exit)>,
    waiters: JoinSet<()>,
    updates: watch::Receiver<Option<Pod>>,
    /// The pod's events, written off the worker's path.
    events: PodEvents,
}

impl PodWorker {
    fn new(ctx: Arc<Context>, pod: Pod, updates: watch::Receiver<Option<Pod>>) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let slot = |c: &Container, role| Slot {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            role,
            run: Run::Pending,
            last: None,
            runs: 0,
            finished: None,
            backoff: Backoff::default(),
        };
        let mut slots: Vec<Slot> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| {
                let role = if c.restart_policy.as_deref() == Some("Always") {
                    Role::Sidecar
                } else {
                    Role::Init
                };
                slot(c, role)
            })
            .collect();
        slots.extend(spec.containers.iter().map(|c| slot(c, Role::Regular)));
        let pod_ref = PodRef {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        };
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let start_time = ctx.clock.now();
        let (runtime, no_runtime) = pick_runtime(&ctx, &spec);
        let events = PodEvents::new(ctx.api.clone(), pod_ref.name.clone());
        PodWorker {
            runtime,
            no_runtime,
            pull_backoff: PullBackoff::default(),
            pull_wake: None,
            pull_failed_at: None,
            checkpoint: PodCheckpoint {
                namespace: pod_ref.namespace.clone(),
                name: pod_ref.name.clone(),
                uid: pod_ref.uid.clone(),
                runs: Vec::new(),
            },
            ctx,
            pod,
            pod_ref,
            gone: false,
            slots,
            stage: Stage::New,
            start_time,
            sandbox_ready: false,
            failure: None,
            reported: None,
            report_failed: false,
            report_hold: None,
            config_retry: None,
            config_retry_due: false,
            volumes_refresh_at: None,
            storage_check_at: None,
            tokens: PodTokens::default(),
            pod_events: HashSet::new(),
            exited: Vec::new(),
            exits_tx,
            exits_rx,
            waiters: JoinSet::new(),
            updates,
            events,
        }
    }

    /// Picks the runtime by the handler of the pod's RuntimeClass, as kubelet reads it
    /// (`RuntimeClassManager.LookupRuntimeHandler`).
    async fn resolve_runtime_class(&mut self) {
        let Some(class) = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.runtime_class_name.clone())
            .filter(|c| !c.is_empty())
        else {
            return;
        };
        match self.ctx.api.get(&RUNTIME_CLASS, "", &class).await {
            Ok(Object::RuntimeClass(rc)) => {
                (self.runtime, self.no_runtime) = by_handler(&self.ctx, &class, &rc.handler);
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                self.no_runtime = Some(format!("RuntimeClass {class:?} not found"));
            }
            Err(e) => {
                tracing::warn!(pod = %self.pod_ref.name, error = %e, "reading the pod's RuntimeClass: using the handler of its name");
            }
        }
    }

    fn spec_container(&self, i: usize) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        let name = &self.slots[i].name;
        match self.slots[i].role {
            Role::Regular => spec.containers.iter().find(|c| &c.name == name).cloned(),
            Role::Init | Role::Sidecar => spec
                .init_containers
                .iter()
                .flatten()
                .find(|c| &c.name == name)
                .cloned(),
        }
    }

    fn restart_policy(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }

    fn grace(&self) -> Duration {
        let secs = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }

    /// Picks up where an earlier worker (or agent) left the pod: runs the runtime still
    /// follows, or can adopt from an earlier agent process, continue (an adopted run that
    /// ended meanwhile reports its real exit); runs recorded but lost fail the pod.
    async fn restore(&mut self) {
        let status = self.pod.status.clone().unwrap_or_default();
        if let Some(t) = &status.start_time {
            self.start_time = t.0;
        }
        let recorded = self
            .ctx
            .checkpoints
            .load(&self.pod_ref.uid)
            .map(|c| c.runs)
            .unwrap_or_default();
        let api: Vec<_> = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .cloned()
            .collect();
        let scheme = self.runtime.name().to_owned();
        let now = self.ctx.clock.now();
        let mut lost: Vec<String> = Vec::new();
        for i in 0..self.slots.len() {
            let name = self.slots[i].name.clone();
            let mut reported_running: Option<Option<String>> = None;
            if let Some(s) = api.iter().find(|s| s.name == name) {
                let state = s.state.clone().unwrap_or_default();
                let last = s
                    .last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .map(Terminated::from_api);
                let ran = state.running.is_some() || state.terminated.is_some() || last.is_some();
                let slot = &mut self.slots[i];
                slot.runs = u32::try_from(s.restart_count).unwrap_or(0) + u32::from(ran);
                slot.last = last.clone();
                if let Some(t) = &state.terminated {
                    slot.run = Run::Terminated(Terminated::from_api(t));
                } else if state.waiting.is_some()
                    && let Some(t) = last
                {
                    slot.run = Run::Terminated(t);
                    slot.last = None;
                }
                if state.running.is_some() {
                    reported_running = Some(s.container_id.clone());
                }
            }
            let Some(record) = recorded.iter().find(|r| r.container == name) else {
                if let Some(container_id) = reported_running {
                    // Reported running, yet not in the checkpoint: nothing to follow.
                    self.slots[i].run = Run::Terminated(lost_run(container_id, now));
                    lost.push(name);
                }
                continue;
            };
            let container_id = format!("{scheme}://{}", record.id);
            let reported = matches!(&self.slots[i].run,
                Run::Terminated(t) if t.container_id.as_deref() == Some(container_id.as_str()));
            if reported {
                // Its exit was reported just before the agent stopped.
                if let Some(process) = &record.process {
                    self.runtime.reclaim(process).await;
                }
                self.runtime.forget(&record.id);
                continue;
            }
            let handle = match self.runtime.find(&record.id) {
                Some(handle) => Some(handle),
                None => self.runtime.adopt(record).await,
            };
            match handle {
                Some(handle) => {
                    let slot = &mut self.slots[i];
                    if let Run::Terminated(t) = &slot.run
                        && t.container_id.as_deref() != Some(container_id.as_str())
                    {
                        slot.last = Some(t.clone());
                    }
                    slot.runs = record.attempt + 1;
                    slot.run = Run::Running {
                        handle: handle.clone(),
                        container_id,
                    };
                    self.checkpoint.runs.push(record.clone());
                    self.watch_exit(handle);
                }
                None => {
                    if let Some(process) = &record.process
                        && self.runtime.reclaim(process).await
                    {
                        tracing::warn!(
                            pod = %self.pod_ref.name, container = %name,
                            "killed a container process left by an earlier agent"
                        );
                    }
                    let slot = &mut self.slots[i];
                    if let Run::Terminated(t) = &slot.run
                        && t.container_id.as_deref() != Some(container_id.as_str())
                    {
                        slot.last = Some(t.clone());
                    }
                    slot.runs = record.attempt + 1;
                    slot.run = Run::Terminated(lost_run(Some(container_id), now));
                    lost.push(name);
                }
            }
        }
        if let Err(e) = self.ctx.checkpoints.save(&self.checkpoint) {
            tracing::warn!(pod = %self.pod_ref.name, error = %e, "writing the pod's checkpoint");
        }
        if !lost.is_empty() {
            self.failure = Some((
                "ContainerStatusUnknown".to_owned(),
                format!(
                    "the node agent restarted and could no longer follow the process of container(s) [{}]; the pod is failed instead of being left Running",
                    lost.join(" ")
                ),
            ));
            self.sandbox_ready = true;
            self.stage = Stage::Stopping(Stopping {
                why: Stop::Lost,
                kill_at: Instant::now(),
                killed: false,
                termed: HashSet::new(),
            });
        } else if self.slots.iter().any(|s| s.runs > 0) {
            self.sandbox_ready = true;
            self.stage = Stage::Initializing;
        }
    }
}

/// The runtime of the pod's `runtimeClassName`, by the handler its RuntimeClass names
/// (until [`PodWorker::resolve_runtime_class`] has read it: the handler of the class's
/// name), or the node's default; the error says why there is none.
fn pick_runtime(
    ctx: &Context,
    spec: &k8s_openapi::api::core::v1::PodSpec,
) -> (Arc<dyn Runtime>, Option<String>) {
    let Some(class) = spec.runtime_class_name.as_deref().filter(|c| !c.is_empty()) else {
        return (ctx.runtime.clone(), None);
    };
    by_handler(ctx, class, class)
}

fn by_handler(ctx: &Context, class: &str, handler: &str) -> (Arc<dyn Runtime>, Option<String>) {
    match ctx.runtimes.iter().find(|r| r.name() == handler) {
        Some(r) => (r.clone(), None),
        None => (
            ctx.runtime.clone(),
            Some(format!(
                "RuntimeClass {class:?}: this node has no runtime handler {handler:?} (it has {})",
                ctx.runtimes
                    .iter()
                    .map(|r| format!("{:?}", r.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ),
    }
}

/// A run recorded before an agent restart that cannot be followed any more.
fn lost_run(container_id: Option<String>, now: jiff::Timestamp) -> Terminated {
    Terminated {
        exit_code: 137,
        reason: "ContainerStatusUnknown".to_owned(),
        message: Some(
            "the node agent restarted and lost this container's process: its exit status and output are unknown".to_owned(),
        ),
        started_at: None,
        finished_at: Some(now),
        container_id,
    }
}

impl PodWorker {
    /// The worker's loop: observe, act, report, wait for the next change.
    async fn work(&mut self) {
        loop {
            self.observe();
            self.config_retry_due = false;
            self.step().await;
            // The delay keeps growing only while some container still cannot be
            // configured.
            if !self.config_retry_due {
                self.config_retry = None;
            }
            self.refresh_volumes().await;
            self.check_local_storage().await;
            if self.take_delivered_exits() {
                continue;
            }
            let reported = self.report().await;
            if matches!(self.stage, Stage::Done) && reported {
                self.finish().await;
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let update = self.updates.borrow_and_update().clone();
                    self.on_update(update);
                }
                Some((id, exit)) = self.exits_rx.recv() => self.on_exit(&id, exit),
                () = sleep_until(wake) => {}
            }
        }
    }

    /// Takes the exits already delivered, before the status is written: a run that ended
    /// while the worker was starting it (or reporting another change) is reported terminated
    /// in the same write, as kubelet's status manager writes the latest state it has rather
    /// than every state in between. Returns whether there were any.
    fn take_delivered_exits(&mut self) -> bool {
        let mut any = false;
        while let Ok((id, exit)) = self.exits_rx.try_recv() {
            self.on_exit(&id, exit);
            any = true;
        }
        any
    }

    fn on_update(&mut self, update: Option<Pod>) {
        let Some(pod) = update else {
            self.gone = true;
            return;
        };
        if pod.metadata.uid != self.pod.metadata.uid {
            return;
        }
        // A watch event older than what this worker last wrote tells nothing new.
        let rv = |p: &Pod| {
            p.metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if rv(&pod) >= rv(&self.pod) {
            self.pod = pod;
        }
    }

    fn on_exit(&mut self, id: &str, exit: Exit) {
        let now = Instant::now();
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.running().is_some_and(|h| h.id() == id))
        else {
            return;
        };
        let Run::Running {
            handle,
            container_id,
        } = &slot.run
        else {
            return;
        };
        let reason = if exit.lost.is_some() {
            "ContainerStatusUnknown"
        } else if exit.start_error.is_some() {
            "StartError"
        } else if exit.oom_killed {
            "OOMKilled"
        } else if exit.code == 0 {
            "Completed"
        } else {
            "Error"
        };
        slot.run = Run::Terminated(Terminated {
            exit_code: exit.code,
            reason: reason.to_owned(),
            message: exit.lost.clone().or(exit.start_error.clone()),
            started_at: Some(handle.started_at()),
            finished_at: Some(exit.finished_at),
            container_id: Some(container_id.clone()),
        });
        slot.finished = Some(now);
        self.exited.push(id.to_owned());
        self.report_hold = None;
        if let Some(why) = exit.lost
            && !matches!(self.stage, Stage::Stopping(_) | Stage::Done)
        {
            // What the run really did is unknown: the pod fails rather than guess, as it
            // does for runs lost across an agent restart. (A pod already stopping only
            // reports the container as unknown.)
            let name = slot.name.clone();
            self.failure = Some((
                "ContainerStatusUnknown".to_owned(),
                format!(
                    "the node agent could no longer follow the process of container(s) [{name}]: {why}; the pod is failed instead of being left Running"
                ),
            ));
            self.begin_stop(Stop::Lost, Duration::ZERO);
        }
    }

    /// Reacts to what the pod object says: deletion and the active deadline.
    fn observe(&mut self) {
        if self.gone {
            self.begin_stop(Stop::Deleted, Duration::ZERO);
            return;
        }
        let meta = &self.pod.metadata;
        if meta.deletion_timestamp.is_some() {
            let secs = meta
                .deletion_grace_period_seconds
                .unwrap_or_else(|| self.grace().as_secs() as i64);
            self.begin_stop(
                Stop::Deleted,
                Duration::from_secs(u64::try_from(secs).unwrap_or(0)),
            );
        }
        if self.deadline_passed() {
            self.failure = Some(("DeadlineExceeded".to_owned(), DEADLINE_MESSAGE.to_owned()));
            self.begin_stop(Stop::Deadline, self.grace());
        }
    }

    /// The wall-clock time `activeDeadlineSeconds` ends, while it still applies.
    fn deadline(&self) -> Option<jiff::Timestamp> {
        let active = match &self.stage {
            Stage::New | Stage::Initializing | Stage::Running => true,
            Stage::Stopping(s) => s.why == Stop::Completed,
            Stage::Done => false,
        };
        let seconds = self.pod.spec.as_ref()?.active_deadline_seconds?;
        if !active {
            return None;
        }
        self.start_time
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .ok()
    }

    fn deadline_passed(&self) -> bool {
        self.deadline().is_some_and(|d| self.ctx.clock.now() >= d)
    }

    fn begin_stop(&mut self, why: Stop, grace: Duration) {
        let kill_at = Instant::now() + grace;
        match &mut self.stage {
            Stage::Done => {}
            Stage::New => self.done(),
            Stage::Stopping(s) => {
                // A later stop only ever shortens the grace period (as a repeated delete
                // does), and names the reason if the first was the natural end.
                s.kill_at = s.kill_at.min(kill_at);
                if s.why == Stop::Completed {
                    s.why = why;
                }
            }
            Stage::Initializing | Stage::Running => {
                self.stage = Stage::Stopping(Stopping {
                    why,
                    kill_at,
                    killed: false,
                    termed: HashSet::new(),
                });
            }
        }
    }

    /// Acts on the current state until it waits for something.
    async fn step(&mut self) {
        loop {
            match &self.stage {
                Stage::New => {
                    self.admit();
                }
                Stage::Initializing => match self.step_init().await {
                    Progress::Waiting => return,
                    Progress::Finished => self.stage = Stage::Running,
                    Progress::Failed => self.begin_stop(Stop::InitFailed, self.grace()),
                },
                Stage::Running => {
                    if self.step_running().await == Progress::Waiting {
                        return;
                    }
                    if self.slots.iter().any(|s| s.running().is_some()) {
                        self.begin_stop(Stop::Completed, self.grace());
                    } else {
                        self.done();
                    }
                }
                Stage::Stopping(_) => {
                    self.step_stopping().await;
                    if !matches!(self.stage, Stage::Done) {
                        return;
                    }
                }
                Stage::Done => return,
            }
        }
    }

    /// Checks that the runtime can run every container; a pod it cannot run fails at once.
    fn admit(&mut self) {
        let mut refused: Vec<(usize, String)> = Vec::new();
        for i in 0..self.slots.len() {
            if let Some(why) = &self.no_runtime {
                refused.push((i, why.clone()));
                continue;
            }
            if let Some(c) = self.spec_container(i)
                && let Err(why) = self.runtime.check(&c)
            {
                refused.push((i, why));
            }
        }
        if refused.is_empty() {
            self.sandbox_ready = true;
            self.stage = Stage::Initializing;
            return;
        }
        let now = self.ctx.clock.now();
        let message = refused
            .iter()
            .map(|(_, why)| why.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        for (i, why) in refused {
            self.slots[i].run = Run::Terminated(Terminated {
                exit_code: 128,
                reason: "ContainerCannotRun".to_owned(),
                message: Some(why),
                started_at: None,
                finished_at: Some(now),
                container_id: None,
            });
        }
        self.failure = Some(("ContainerCannotRun".to_owned(), message));
        self.done();
    }

    async fn step_init(&mut self) -> Progress {
        'again: loop {
            for i in 0..self.slots.len() {
                let role = self.slots[i].role;
                if role == Role::Regular {
                    continue;
                }
                match (&self.slots[i].run, role) {
                    (Run::Running { .. }, Role::Sidecar) => continue,
                    (Run::Running { .. }, _) => return Progress::Waiting,
                    (Run::Terminated(t), Role::Init) if t.exit_code == 0 => continue,
                    (Run::Terminated(_), Role::Init) if self.restart_policy() == "Never" => {
                        return Progress::Failed;
                    }
                    (Run::Pending | Run::Waiting { .. }, _) => self.start(i).await,
                    (Run::Terminated(_) | Run::BackOff { .. }, _) => {
                        self.restart(i).await;
                    }
                }
                match (&self.slots[i].run, role) {
                    // A started sidecar lets the next init container start.
                    (Run::Running { .. }, Role::Sidecar) => continue,
                    // It could not start: decide again what its exit means.
                    (Run::Terminated(_), _) => continue 'again,
                    _ => return Progress::Waiting,
                }
            }
            return Progress::Finished;
        }
    }

    /// Starts and restarts containers; `Finished` once no regular container will run again.
    async fn step_running(&mut self) -> Progress {
        let policy = self.restart_policy().to_owned();
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            match (&slot.run, slot.role) {
                (_, Role::Init) | (Run::Running { .. }, _) => {}
                (Run::Pending | Run::Waiting { .. }, _) => self.start(i).await,
                (Run::BackOff { .. }, _) => {
                    self.restart(i).await;
                }
                (Run::Terminated(t), role) => {
                    let again = match (role, policy.as_str()) {
                        (Role::Sidecar, _) | (_, "Always") => true,
                        (_, "OnFailure") => t.exit_code != 0,
                        _ => false,
                    };
                    if again {
                        self.restart(i).await;
                    }
                }
            }
        }
        let regular_done = self
            .slots
            .iter()
            .filter(|s| s.role == Role::Regular)
            .all(|s| match &s.run {
                Run::Terminated(t) => match policy.as_str() {
                    "Always" => false,
                    "OnFailure" => t.exit_code == 0,
                    _ => true,
                },
                _ => false,
            });
        if regular_done {
            Progress::Finished
        } else {
            Progress::Waiting
        }
    }

    async fn step_stopping(&mut self) {
        let Stage::Stopping(stopping) = &mut self.stage else {
            return;
        };
        let mut stopped: Vec<usize> = Vec::new();
        let now = Instant::now();
        if now >= stopping.kill_at && !stopping.killed {
            stopping.killed = true;
            for slot in &self.slots {
                if let Some(h) = slot.running() {
                    h.signal(StopSignal::Kill);
                }
            }
        } else if !stopping.killed {
            // Regular (and init) containers first, together; then the sidecars, the last
            // one first, each once the ones after it have stopped
            // (`kuberuntime_termination_order`).
            let mut terminate: Vec<usize> = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.role != Role::Sidecar && s.running().is_some())
                .map(|(i, _)| i)
                .collect();
            if terminate.is_empty() {
                terminate.extend(
                    self.slots
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, s)| s.role == Role::Sidecar && s.running().is_some())
                        .map(|(i, _)| i),
                );
            }
            for i in terminate {
                if let Some(h) = self.slots[i].running()
                    && stopping.termed.insert(h.id().to_owned())
                {
                    h.signal(StopSignal::Term);
                    stopped.push(i);
                }
            }
        }
        for i in stopped {
            let message = format!("Stopping container {}", self.slots[i].name);
            self.event(i, "Normal", "Killing", message);
        }
        if self.slots.iter().all(|s| s.running().is_none()) {
            self.done();
        }
    }

    /// Every container has stopped: what never ran is reported as kubelet's status manager
    /// does when it terminates a pod (`TerminatePod`).
    fn done(&mut self) {
        let initialized = self
            .slots
            .iter()
            .filter(|s| s.role == Role::Init)
            .all(|s| matches!(&s.run, Run::Terminated(t) if t.exit_code == 0));
        let last_started_init = self
            .slots
            .iter()
            .rposition(|s| s.role != Role::Regular && s.runs > 0);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let unreported = match slot.role {
                Role::Regular => initialized,
                Role::Init | Role::Sidecar => last_started_init.is_some_and(|l| i <= l),
            };
            if unreported && !matches!(slot.run, Run::Terminated(_)) {
                slot.run = Run::Terminated(Terminated::unknown());
            }
        }
        self.sandbox_ready = false;
        self.stage = Stage::Done;
    }

    /// Restarts a failed container unless it is in its crash-loop back-off
    /// (`doBackOff`). Returns whether it is running now.
    async fn restart(&mut self, i: usize) -> bool {
        let now = Instant::now();
        let pod = self.format_pod();
        let slot = &mut self.slots[i];
        let finished = slot.finished.unwrap_or(now);
        if let Run::BackOff { until, .. } = &slot.run
            && now < *until
        {
            return false;
        }
        if slot.backoff.holds(finished, now) {
            if matches!(slot.run, Run::BackOff { .. }) {
                return false;
            }
            if let Run::Terminated(t) = std::mem::replace(&mut slot.run, Run::Pending) {
                slot.last = Some(t);
            }
            slot.run = Run::BackOff {
                until: finished + slot.backoff.delay,
                message: format!(
                    "back-off {} restarting failed container={} pod={pod}",
                    go_duration(slot.backoff.delay),
                    slot.name,
                ),
            };
            let event = format!(
                "Back-off restarting failed container {} in pod {pod}",
                slot.name
            );
            self.event(i, "Warning", "BackOff", event);
            return false;
        }
        slot.backoff.next(finished, now);
        self.start(i).await;
        self.slots[i].running().is_some()
    }

    /// `format.Pod`: `name_namespace(uid)`.
    fn format_pod(&self) -> String {
        format!(
            "{}_{}({})",
            self.pod_ref.name, self.pod_ref.namespace, self.pod_ref.uid
        )
    }

    /// Starts the next run of container `i`.
    async fn start(&mut self, i: usize) {
        let Some(container) = self.spec_container(i) else {
            return;
        };
        let uses_images = self.runtime.uses_images();
        if let Run::Waiting { reason, .. } = &self.slots[i].run
            && IMAGE_REASONS.iter().any(|r| r.as_str() == reason)
            && self.pull_wake.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        let image = if uses_images {
            match self.ensure_image(i, &container).await {
                Some(image) => Some(image),
                None => return,
            }
        } else {
            None
        };
        let hostname = runc::spec::pod_hostname(&self.pod);
        // An image supplies PATH and the rest of its environment itself.
        let mut base = if uses_images {
            Vec::new()
        } else {
            self.ctx.base_env.clone()
        };
        base.push(("HOSTNAME".to_owned(), hostname));
        let Some((env, mounts)) = self.configure(i, &container, &base).await else {
            self.schedule_config_retry();
            return;
        };
        let image = match image {
            Some(image) => {
                if let Err(e) = runc::spec::verify_run_as_non_root(
                    &self.pod,
                    &container,
                    image.user().as_deref(),
                ) {
                    self.config_error(i, e.to_string());
                    return;
                }
                let expand_all = |words: &Option<Vec<String>>| {
                    words.as_ref().map(|w| {
                        w.iter()
                            .map(|word| expand(word, |name| crate::env::lookup(&env, name)))
                            .collect::<Vec<_>>()
                    })
                };
                // The pod as its status will say: its IP (the node's, for /etc/hosts) may not
                // have been written yet.
                let mut pod = self.pod.clone();
                pod.status.get_or_insert_with(Default::default).pod_ip =
                    Some(self.ctx.node.ip.clone());
                Some(ImageRun {
                    image,
                    pod: Arc::new(pod),
                    container: container.clone(),
                    command: expand_all(&container.command),
                    args: expand_all(&container.args),
                })
            }
            None => None,
        };
        let working_dir = match container.working_dir.as_deref().filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            // A container from an image starts in the image's working directory.
            None if uses_images => PathBuf::from("/"),
            None => match self.ctx.work_dirs.prepare(&self.pod_ref.uid) {
                Ok(dir) => dir,
                Err(e) => {
                    let dir = self.ctx.work_dirs.path(&self.pod_ref.uid);
                    tracing::warn!(dir = %dir.display(), error = %e, "creating the pod's working directory");
                    dir
                }
            },
        };
        let attempt = self.slots[i].runs;
        let id = run_id(&self.pod_ref.uid, &container.name, attempt);
        let spec = ContainerSpec {
            id: id.clone(),
            pod: self.pod_ref.clone(),
            name: container.name.clone(),
            attempt,
            argv: command_line(&container, &env),
            env,
            working_dir,
            log_path: run_path(&self.ctx.data_dir, &self.pod_ref, &container.name, attempt),
            limits: limits(&container),
            mounts,
            image,
        };
        let container_id = format!("{}://{id}", self.runtime.name());
        let started = self.runtime.start(spec).await;
        let now = self.ctx.clock.now();
        let slot = &mut self.slots[i];
        if let Run::Terminated(t) = std::mem::replace(&mut slot.run, Run::Pending) {
            slot.last = Some(t);
        }
        slot.runs += 1;
        let handle = match started {
            Ok(handle) => handle,
            Err(e) => {
                slot.run = Run::Terminated(Terminated {
                    exit_code: 128,
                    reason: "ContainerCannotRun".to_owned(),
                    message: Some(e.0.clone()),
                    started_at: None,
                    finished_at: Some(now),
                    container_id: Some(container_id),
                });
                slot.finished = Some(Instant::now());
                self.event(i, "Warning", "Failed", format!("Error: {}", e.0));
                return;
            }
        };
        slot.run = Run::Running {
            handle: handle.clone(),
            container_id,
        };
        // Recorded before any status reports the run, so a restarted agent knows of it.
        self.checkpoint
            .runs
            .retain(|r| r.container != container.name);
        self.checkpoint.runs.push(RunRecord {
            container: container.name.clone(),
            id,
            attempt,
            started_at: handle.started_at().to_string(),
            process: handle.process(),
        });
        if let Err(e) = self.ctx.checkpoints.save(&self.checkpoint) {
            tracing::warn!(pod = %self.pod_ref.name, error = %e, "writing the pod's checkpoint");
        }
        self.watch_exit(handle);
        self.report_hold
            .get_or_insert_with(|| Instant::now() + START_REPORT_HOLD);
        let name = &container.name;
        self.event(i, "Normal", "Created", format!("Created container: {name}"));
        self.event(i, "Normal", "Started", format!("Started container {name}"));
    }

    /// What container `i` needs before it can start (kubelet's volume set-up, then
    /// `GenerateRunContainerOptions`): the ConfigMaps and Secrets that it and the pod's
    /// volumes name, read through the API; the pod's volumes; its environment; its mounts.
    /// `None` while something is missing: the container waits, in `ContainerCreating` with
    /// a `FailedMount` event for a volume, else in `CreateContainerConfigError`, and is
    /// tried again ([`PodWorker::schedule_config_retry`]).
    async fn configure(
        &mut self,
        i: usize,
        container: &Container,
        base: &[(String, String)],
    ) -> Option<(Vec<(String, String)>, Vec<Mount>)> {
        let mut wanted = Wanted::of_container(container);
        wanted.extend(Wanted::of_volumes(&self.pod));
        let sources = match self.read_sources(&wanted).await {
            Ok(sources) => sources,
            Err(message) => {
                self.config_error(i, message);
                return None;
            }
        };
        let claims = self.resolve_claims().await;
        let set_up = SetUp {
            pod: &self.pod,
            data_dir: &self.ctx.data_dir,
            run_dir: &self.ctx.run_dir,
            node: &self.ctx.node,
            sources: &sources,
            claims: &claims,
        };
        let volumes = match set_up.run() {
            Ok(volumes) => volumes,
            Err(e) => {
                self.pod_event("Warning", "FailedMount", e.to_string());
                return None;
            }
        };
        let env = match environment(&self.pod, container, &self.ctx.node, base, &sources) {
            Ok(env) => env,
            Err(e) => {
                self.config_error(i, e.0);
                return None;
            }
        };
        for message in env.skipped {
            self.pod_event("Warning", "InvalidEnvironmentVariableNames", message);
        }
        match container_mounts(container, &volumes, &env.vars) {
            Ok(mounts) => {
                if self.volumes_refresh_at.is_none() && refreshable(&self.pod) {
                    self.volumes_refresh_at = Some(Instant::now() + VOLUME_REFRESH);
                }
                Some((env.vars, mounts))
            }
            Err(message) => {
                self.config_error(i, message);
                None
            }
        }
    }

    /// Brings the pod's ConfigMap, Secret, downward API and projected volumes up to date
    /// once [`VOLUME_REFRESH`] has passed since the last time, while a container runs: the
    /// atomic writer swaps in the new files, or leaves them when nothing changed. What
    /// cannot be read now leaves the files as they are, as kubelet leaves a mounted volume.
    async fn refresh_volumes(&mut self) {
        let Some(at) = self.volumes_refresh_at else {
            return;
        };
        if Instant::now() < at || !self.slots.iter().any(|s| s.running().is_some()) {
            return;
        }
        self.volumes_refresh_at = Some(Instant::now() + VOLUME_REFRESH);
        let sources = match self.read_sources(&Wanted::of_volumes(&self.pod)).await {
            Ok(sources) => sources,
            Err(e) => {
                tracing::debug!(pod = %self.pod_ref.name, error = %e, "refreshing the pod's volumes");
                return;
            }
        };
        let claims = self.resolve_claims().await;
        let set_up = SetUp {
            pod: &self.pod,
            data_dir: &self.ctx.data_dir,
            run_dir: &self.ctx.run_dir,
            node: &self.ctx.node,
            sources: &sources,
            claims: &claims,
        };
        if let Err(e) = set_up.run() {
            tracing::debug!(pod = %self.pod_ref.name, error = %e, "refreshing the pod's volumes");
        }
    }

    /// kubelet's `localStorageEviction` for emptyDir volumes: one past its `sizeLimit` fails
    /// the pod at once, `Evicted`, with kubelet's message and event.
    async fn check_local_storage(&mut self) {
        if !matches!(self.stage, Stage::Initializing | Stage::Running)
            || !self.slots.iter().any(|s| s.running().is_some())
        {
            return;
        }
        let now = Instant::now();
        match self.storage_check_at {
            Some(at) if now < at => return,
            _ => {}
        }
        let limited = volumes::limited_empty_dirs(&self.pod, &self.ctx.data_dir);
        if limited.is_empty() {
            return;
        }
        self.storage_check_at = Some(now + LOCAL_STORAGE_CHECK);
        let over = tokio::task::spawn_blocking(move || {
            limited
                .into_iter()
                .find(|(_, dir, limit, _)| volumes::disk_usage(dir) > *limit)
        })
        .await
        .ok()
        .flatten();
        let Some((name, _, _, limit)) = over else {
            return;
        };
        let message = format!("Usage of EmptyDir volume {name:?} exceeds the limit {limit:?}. ");
        self.pod_event("Warning", "Evicted", message.clone());
        self.failure = Some(("Evicted".to_owned(), message));
        self.begin_stop(Stop::Evicted, Duration::ZERO);
    }

    /// The directories of the claims the pod's volumes name.
    async fn resolve_claims(&self) -> ResolvedClaims {
        let mut claims = ResolvedClaims::default();
        let volumes = self.pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        for v in volumes.into_iter().flatten() {
            let Some(claim) = &v.persistent_volume_claim else {
                continue;
            };
            let name = &claim.claim_name;
            let resolved = self.claim(name).await;
            claims.0.insert(name.clone(), resolved);
        }
        claims
    }

    /// A claim's directory on this node, made on first use (`volumes::claims`).
    async fn claim(&self, name: &str) -> Result<PathBuf, String> {
        let ns = &self.pod_ref.namespace;
        let api = &self.ctx.api;
        let fetch_error = |e: String| {
            format!("error processing PVC {ns}/{name}: failed to fetch PVC from API server: {e}")
        };
        let pvc = match api.get(&PERSISTENTVOLUMECLAIM, ns, name).await {
            Ok(Object::PersistentVolumeClaim(pvc)) => pvc,
            Ok(_) => return Err(fetch_error("not a PersistentVolumeClaim".to_owned())),
            Err(e) => return Err(fetch_error(e.to_string())),
        };
        let dir = claims::resolve(&self.ctx.data_dir, &self.ctx.node_name, &pvc)?;
        if !dir.is_dir() {
            // The class's reclaim policy, recorded for when the claim is gone (a class
            // deleted meanwhile: Delete, the default).
            let class = pvc
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
                .unwrap_or("");
            let policy = match api.get(&STORAGECLASS, "", class).await {
                Ok(Object::StorageClass(sc)) => sc.reclaim_policy.unwrap_or_default(),
                _ => String::new(),
            };
            let policy = if policy.is_empty() { "Delete" } else { &policy };
            claims::make(&dir, policy)?;
        }
        Ok(dir)
    }

    /// Container `i` cannot be configured: `CreateContainerConfigError`, with an event
    /// when the reason is new. The messages name objects and keys, never values.
    fn config_error(&mut self, i: usize, message: String) {
        let slot = &mut self.slots[i];
        let repeated = matches!(&slot.run, Run::Waiting { message: Some(m), .. } if *m == message);
        if let Run::Terminated(t) = std::mem::replace(&mut slot.run, Run::Pending) {
            slot.last = Some(t);
        }
        slot.run = Run::Waiting {
            reason: "CreateContainerConfigError".to_owned(),
            message: Some(message.clone()),
        };
        if !repeated {
            self.event(i, "Warning", "Failed", format!("Error: {message}"));
        }
    }

    /// The next try at what could not be configured: 1s, doubling up to 10s (kubelet
    /// retries a failed pod sync after 10s, and sees a new ConfigMap no sooner).
    fn schedule_config_retry(&mut self) {
        if self.config_retry_due {
            return;
        }
        let delay = match self.config_retry {
            None => CONFIG_RETRY_INITIAL,
            Some((_, last)) => (last * 2).min(CONFIG_RETRY_MAX),
        };
        self.config_retry = Some((Instant::now() + delay, delay));
        self.config_retry_due = true;
    }

    /// The ConfigMaps and Secrets named, read through the API; a missing one is `None`. The
    /// tokens named, each or why there is none (a volume set-up error).
    async fn read_sources(&mut self, wanted: &Wanted) -> Result<Sources, String> {
        let ns = &self.pod_ref.namespace;
        let mut sources = Sources::default();
        for name in &wanted.config_maps {
            let found = match self.ctx.api.get(&CONFIGMAP, ns, name).await {
                Ok(Object::ConfigMap(cm)) => Some(cm),
                Ok(_) => None,
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(format!("couldn't get configMap {ns}/{name}: {e}")),
            };
            sources.config_maps.insert(name.clone(), found);
        }
        for name in &wanted.secrets {
            let found = match self.ctx.api.get(&SECRET, ns, name).await {
                Ok(Object::Secret(secret)) => Some(secret),
                Ok(_) => None,
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(format!("couldn't get secret {ns}/{name}: {e}")),
            };
            sources.secrets.insert(name.clone(), found);
        }
        for token in &wanted.tokens {
            let got = self
                .tokens
                .get(
                    self.ctx.api.as_ref(),
                    self.ctx.clock.as_ref(),
                    &self.pod,
                    token,
                )
                .await;
            sources.tokens.insert(token.clone(), got);
        }
        Ok(sources)
    }

    /// Records an event about the pod as a whole, once per message.
    fn pod_event(&mut self, type_: &str, reason: &str, message: String) {
        if !self.pod_events.insert(format!("{reason}\n{message}")) {
            return;
        }
        let spec = EventSpec {
            involved: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Pod".to_owned()),
                namespace: Some(self.pod_ref.namespace.clone()),
                name: Some(self.pod_ref.name.clone()),
                uid: Some(self.pod_ref.uid.clone()),
                ..Default::default()
            },
            type_: type_.to_owned(),
            reason: reason.to_owned(),
            message,
            component: "kubelet".to_owned(),
            host: Some(self.ctx.node_name.clone()),
        };
        self.events.record(spec);
    }

    /// A container waits for its image (kubelet's `EnsureImageExists` failing): the
    /// waiting reason, and the `Error: <reason>` event kubelet's start path records.
    fn image_wait(&mut self, i: usize, reason: WaitingReason, message: String) {
        let retry = Instant::now() + SYNC_RETRY;
        self.pull_wake = Some(
            self.pull_wake
                .filter(|w| *w > Instant::now())
                .map_or(retry, |w| w.min(retry)),
        );
        self.slots[i].run = Run::Waiting {
            reason: reason.as_str().to_owned(),
            message: Some(message),
        };
        self.event(
            i,
            "Warning",
            "Failed",
            format!("Error: {}", reason.as_str()),
        );
    }

    /// kubelet's `EnsureImageExists`: the container's image, pulled as its imagePullPolicy
    /// says (`:latest` or no tag: Always; else IfNotPresent), with kubelet's events, waiting
    /// reasons and pull back-off. `None`: the container waits (the reason is set).
    async fn ensure_image(
        &mut self,
        i: usize,
        container: &Container,
    ) -> Option<Arc<kbatch_image::Image>> {
        let name = container.image.clone().unwrap_or_default();
        let Some(images) = self.ctx.images.clone() else {
            let message = "this node has no image store".to_owned();
            self.image_wait(i, WaitingReason::ErrImagePull, message);
            return None;
        };
        let reference = match ImageRef::parse(&name) {
            Ok(r) => r,
            Err(e) => {
                let message = policy::message::invalid_name(&name, &e);
                self.event(i, "Warning", event_reason::INSPECT_FAILED, message.clone());
                self.image_wait(i, WaitingReason::InvalidImageName, message);
                return None;
            }
        };
        let pull_policy = PullPolicy::resolve(container.image_pull_policy.as_deref(), &name);
        let store = images.store.clone();
        let lookup = reference.clone();
        let present = tokio::task::spawn_blocking(move || store.image(&lookup))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        if !pull_policy.should_pull(present.is_some()) {
            return match present {
                Some(image) => {
                    self.event(
                        i,
                        "Normal",
                        event_reason::PULLED,
                        policy::message::already_present(&name),
                    );
                    Some(Arc::new(image))
                }
                None => {
                    let message = policy::message::never_pull(&name);
                    self.event(i, "Warning", event_reason::NEVER_PULL, message.clone());
                    self.image_wait(i, WaitingReason::ErrImageNeverPull, message);
                    None
                }
            };
        }
        let key = PullBackoff::key(&self.pod_ref.uid, &name);
        let now = Instant::now();
        if self.pull_backoff.in_backoff(&key, now.into_std()) {
            let message = policy::message::back_off(&name);
            let already = matches!(&self.slots[i].run,
                Run::Waiting { reason, .. } if reason == WaitingReason::ImagePullBackOff.as_str());
            if !already {
                self.event(i, "Normal", event_reason::BACK_OFF, message.clone());
                self.image_wait(i, WaitingReason::ImagePullBackOff, message);
            }
            // Tried again once the back-off is over.
            if let (Some(failed), Some(delay)) =
                (self.pull_failed_at, self.pull_backoff.delay(&key))
            {
                self.pull_wake = Some((failed + delay).max(now));
            }
            return None;
        }
        self.event(
            i,
            "Normal",
            event_reason::PULLING,
            policy::message::pulling(&name),
        );
        let started = Instant::now();
        let pull = images
            .puller
            .pull(&images.store, &reference, self.ctx.clock.now());
        let pulled = self.unless_stopped(pull).await?;
        match pulled {
            Ok(image) => {
                let took = go_duration_fine(started.elapsed());
                self.pull_backoff.forget(&key);
                self.pull_wake = None;
                self.event(
                    i,
                    "Normal",
                    event_reason::PULLED,
                    policy::message::pulled(&name, &took, &took, image.size()),
                );
                Some(Arc::new(image))
            }
            Err(e) => {
                let now = Instant::now();
                self.pull_backoff.failed(&key, now.into_std());
                self.pull_failed_at = Some(now);
                self.event(
                    i,
                    "Warning",
                    event_reason::FAILED,
                    policy::message::failed(&name, &e),
                );
                let reason = e.waiting_reason();
                self.image_wait(i, reason, e.to_string());
                None
            }
        }
    }

    /// Runs `work` (an image pull) unless the pod is deleted, or the agent stops, before it
    /// is done: kubelet cancels a pod's in-flight sync when the pod is to be killed
    /// (`podWorkers.UpdatePod`), so a slow pull does not hold up the pod's deletion. `None`:
    /// abandoned (the updates that came meanwhile have been taken in). A pull is never
    /// shared between pods, and stops cleanly: what it staged goes, what it stored is whole.
    async fn unless_stopped<T>(&mut self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return Some(done),
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let update = self.updates.borrow_and_update().clone();
                    self.on_update(update);
                    if self.gone || self.pod.metadata.deletion_timestamp.is_some() {
                        return None;
                    }
                }
            }
        }
    }

    fn watch_exit(&mut self, handle: Arc<dyn ContainerHandle>) {
        let tx = self.exits_tx.clone();
        self.waiters.spawn(async move {
            let exit = handle.wait().await;
            let _ = tx.send((handle.id().to_owned(), exit));
        });
    }

    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        for slot in &self.slots {
            if let Run::BackOff { until, .. } = &slot.run {
                at(*until);
            }
        }
        if let Stage::Stopping(s) = &self.stage
            && !s.killed
        {
            at(s.kill_at);
        }
        if let Some(deadline) = self.deadline() {
            let left = deadline.duration_since(self.ctx.clock.now());
            at(now + Duration::try_from(left).unwrap_or(Duration::ZERO));
        }
        if self.report_failed {
            at(now + RETRY_REPORT);
        }
        if let Some(hold) = self.report_hold {
            at(hold);
        }
        if let Some(refresh) = self.volumes_refresh_at
            && self.slots.iter().any(|s| s.running().is_some())
        {
            at(refresh);
        }
        if let Some(check) = self.storage_check_at
            && self.slots.iter().any(|s| s.running().is_some())
        {
            at(check);
        }
        if let Some((retry, _)) = self.config_retry
            && self
                .slots
                .iter()
                .any(|s| matches!(s.run, Run::Pending | Run::Waiting { .. }))
        {
            at(retry);
        }
        if let Some(t) = self.pull_wake.filter(|t| *t > now) {
            at(t);
        }
        wake
    }

    /// Writes the pod's status if it changed. Returns false if the write failed.
    async fn report(&mut self) -> bool {
        if self.gone {
            return true;
        }
        if let Some(hold) = self.report_hold {
            let starting = matches!(self.stage, Stage::Initializing | Stage::Running);
            if starting && Instant::now() < hold {
                return true;
            }
            self.report_hold = None;
        }
        let failure = self.failure.as_ref().map(|(r, m)| (r.as_str(), m.as_str()));
        let ours = status::pod_status(
            &View {
                pod: &self.pod,
                slots: &self.slots,
                terminal: matches!(self.stage, Stage::Done),
                sandbox_ready: self.sandbox_ready,
                failure,
                node_ip: &self.ctx.node.ip,
                start_time: self.start_time,
            },
            self.ctx.clock.now(),
        );
        if self.reported.as_ref() == Some(&ours) {
            self.report_failed = false;
            return true;
        }
        self.events.flush().await;
        let (ns, name, uid) = (
            &self.pod_ref.namespace,
            &self.pod_ref.name,
            &self.pod_ref.uid,
        );
        let merge = |stored: Option<&PodStatus>| status::merge(stored, &ours);
        let written = self.ctx.api.write_pod_status(ns, name, uid, &merge).await;
        match written {
            Ok(Some(written)) => {
                self.pod = written;
                self.reported = Some(ours);
                self.report_failed = false;
                self.drop_reported_exits();
                true
            }
            Ok(None) => {
                self.gone = true;
                true
            }
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "writing the pod's status");
                self.report_failed = true;
                false
            }
        }
    }

    /// The exits just reported need no checkpoint any more.
    fn drop_reported_exits(&mut self) {
        if self.exited.is_empty() {
            return;
        }
        let exited = std::mem::take(&mut self.exited);
        // The runtime lets go first: a crash in between leaves a record that a restarted
        // worker reclaims, never runtime state that nothing records.
        for id in &exited {
            self.runtime.forget(id);
        }
        self.checkpoint.runs.retain(|r| !exited.contains(&r.id));
        if let Err(e) = self.ctx.checkpoints.save(&self.checkpoint) {
            tracing::warn!(pod = %self.pod_ref.name, error = %e, "writing the pod's checkpoint");
        }
    }

    /// The pod is done here: a deleted pod is removed for good (kubelet's final delete),
    /// and what the node kept for it goes (its logs stay for their retention period).
    async fn finish(&mut self) {
        self.events.flush().await;
        if !self.gone && self.pod.metadata.deletion_timestamp.is_some() {
            final_delete(&self.ctx, &self.pod).await;
        }
        for record in std::mem::take(&mut self.checkpoint.runs) {
            self.runtime.forget(&record.id);
        }
        self.runtime.release_pod(&self.pod_ref.uid).await;
        self.ctx.images_in_use.release(&self.pod_ref.uid).await;
        volumes::tear_down(&self.ctx.data_dir, &self.ctx.run_dir, &self.pod_ref.uid);
        if let Err(e) = self.ctx.work_dirs.remove(&self.pod_ref.uid) {
            let dir = self.ctx.work_dirs.path(&self.pod_ref.uid);
            tracing::warn!(dir = %dir.display(), error = %e, "removing the pod's working directory");
        }
        // Last: until it goes, a restarted agent finds the pod among its checkpoints and
        // releases what is left of it (`reclaim_orphans`), such as its cgroups, had this
        // process died halfway through.
        if let Err(e) = self.ctx.checkpoints.remove(&self.pod_ref.uid) {
            tracing::warn!(pod = %self.pod_ref.name, error = %e, "removing the pod's checkpoint");
        }
    }

    /// Records an event about container `i` (kubelet's container events).
    fn event(&self, i: usize, type_: &str, reason: &str, message: String) {
        let slot = &self.slots[i];
        let field = match slot.role {
            Role::Regular => "containers",
            Role::Init | Role::Sidecar => "initContainers",
        };
        let spec = EventSpec {
            involved: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Pod".to_owned()),
                namespace: Some(self.pod_ref.namespace.clone()),
                name: Some(self.pod_ref.name.clone()),
                uid: Some(self.pod_ref.uid.clone()),
                field_path: Some(format!("spec.{field}{{{}}}", slot.name)),
                ..Default::default()
            },
            type_: type_.to_owned(),
            reason: reason.to_owned(),
            message,
            component: "kubelet".to_owned(),
            host: Some(self.ctx.node_name.clone()),
        };
        self.events.record(spec);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Waiting,
    Finished,
    Failed,
}

/// kubelet's final delete of a pod it has stopped: grace period 0, for this pod's uid only.
pub(crate) async fn final_delete(ctx: &Context, pod: &Pod) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    match ctx
        .api
        .delete_pod(ns, name, pod.metadata.uid.as_deref())
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() || e.is_conflict() => {}
        Err(e) => tracing::warn!(pod = %name, error = %e, "deleting a stopped pod"),
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Go's `time.Duration.String()` for the durations of pulls (`1.661s`, `250.5ms`).
fn go_duration_fine(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos >= 1_000_000_000 {
        format!("{}s", trim_fraction(nanos, 1_000_000_000))
    } else if nanos >= 1_000_000 {
        format!("{}ms", trim_fraction(nanos, 1_000_000))
    } else {
        format!("{}µs", trim_fraction(nanos, 1_000))
    }
}

/// `n / unit` in decimal, without trailing zeros.
fn trim_fraction(n: u128, unit: u128) -> String {
    let whole = n / unit;
    let frac = n % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.Duration.String()` for the whole seconds back-off delays are.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration_fine(Duration::from_millis(1661)), "1.661s");
        assert_eq!(go_duration_fine(Duration::from_micros(250_500)), "250.5ms");
        assert_eq!(go_duration_fine(Duration::from_secs(2)), "2s");
    }

    /// kubelet's sequence: the first failure restarts at once, then 10s, 20s, 40s, … 5m;
    /// ten calm minutes forget it all.
    #[test]
    fn crash_loop_back_off() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(!b.holds(t0, t0));
        b.next(t0, t0);
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.holds(t1, t1));
        assert!(!b.holds(t1, t1 + Duration::from_secs(10)));
        let mut delays = Vec::new();
        let mut t = t1;
        for _ in 0..7 {
            t += b.delay;
            b.next(t, t);
            delays.push(b.delay.as_secs());
        }
        assert_eq!(delays, [20, 40, 80, 160, 300, 300, 300]);
        let calm = t + Duration::from_secs(601);
        assert!(!b.holds(calm, calm));
        b.next(calm, calm);
        assert_eq!(b.delay, BACKOFF_INITIAL);
    }
}

/// Whether the pod has volumes whose files follow what they are made from.
fn refreshable(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| {
            v.config_map.is_some()
                || v.secret.is_some()
                || v.downward_api.is_some()
                || v.projected.is_some()
        })
}

/// The claims of a pod's volumes, resolved through the API before the volumes are set up.
#[derive(Debug, Default)]
struct ResolvedClaims(std::collections::BTreeMap<String, Result<PathBuf, String>>);

impl volumes::ClaimResolver for ResolvedClaims {
    fn claim_dir(&self, _: &str, claim: &str, _: bool) -> Result<PathBuf, String> {
        self.0
            .get(claim)
            .cloned()
            .unwrap_or_else(|| Err(format!("persistentvolumeclaim {claim:?} was not resolved")))
    }
}
