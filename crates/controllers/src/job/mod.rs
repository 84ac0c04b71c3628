//! The Job controller (kube-controller-manager's `pkg/controller/job`): one level-triggered
//! `sync` per Job that reads the Job and its pods through the registry, creates and deletes
//! pods, counts finished pods through the tracking-finalizer protocol and writes the status
//! (job.md §2–§11). A sync writes the status only when it changed, and at most twice: the
//! counting protocol (J-91) writes the staged pods before removing their finalizers, then
//! the counters (or, when a removal failed, the partial progress before failing).
//!
//! The pods come from the pod informer the manager runs (its indexes by controller uid and by
//! tracked Job name, see `pods.rs`): shared objects, nothing listed or decoded per sync.
//!
//! In-memory state, kept per Job key and dropped when a sync finds the Job gone (the backoff
//! record is also reset once the Job finished):
//! - the pod-failure backoff record (J-52), which exists nowhere else;
//! - a lock, so that syncs of one Job never overlap;
//! - the revision of the last pod write made for the Job (creates, deletes, finalizer and
//!   ownership patches). Upstream's creation, deletion and finalizer-removal expectations
//!   exist because its pod cache lags its own writes. Here a sync first waits until the pod
//!   informer has applied that revision; store revisions are global and gapless, so the cache
//!   then holds every one of the Job's earlier writes, and a sync never acts on a view of its
//!   pods older than its own previous sync left them. Changes by others may still be on
//!   their way, as upstream: their events queue the Job again.

mod backoff;
pub mod failure_policy;
pub mod indexes;
mod manage;
mod metrics;
pub mod pods;
mod spec;
mod status;
pub mod success_policy;

pub use backoff::{BackoffRecord, delay, finish_time, remaining, remaining_for_index};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{EventSpec, Registry};
use kbatch_core::object::{JOB, Object};

use crate::runtime::Informer;

use self::failure_policy::{Action, match_policy};
use self::indexes::{Intervals, completion_index, index_absolute_failure_count};
use self::metrics::JobMetrics;
use self::pods::{
    SharedPod, has_tracking_finalizer, is_active, is_failed, is_ready, is_terminating,
};
use self::status::{
    Uncounted, counter, find_condition, is_finished, new_condition, success_criteria_met_condition,
};

/// The field manager and event source of the controller's writes.
pub(crate) const FIELD_MANAGER: &str = "job-controller";

/// J-23(4) and J-23(5) messages.
const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
const DEADLINE_MESSAGE: &str = "Job was active longer than specified deadline";

/// The pod-failure backoff (J-50) and the batching of syncs (J-36, J-51).
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// The delay after the first failure; doubled after each further one. 10s.
    pub backoff_base: Duration,
    /// The longest delay. 10 minutes.
    pub backoff_max: Duration,
    /// `syncJobBatchPeriod`: a sync delayed by the backoff is never sooner than this (J-51).
    /// Kubernetes: 1s.
    pub sync_batch_period: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            sync_batch_period: crate::manager::JOB_SYNC_BATCH_PERIOD,
        }
    }
}

/// The Job controller over the in-process API.
#[derive(Debug)]
pub struct JobController {
    registry: Registry,
    pods: Informer,
    clock: Arc<dyn Clock>,
    config: JobConfig,
    metrics: JobMetrics,
    keys: Mutex<HashMap<String, KeyState>>,
    /// The task recording the events of the last sync that had any.
    recording: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the controller remembers about one Job between syncs.
#[derive(Debug, Default)]
struct KeyState {
    lock: Arc<tokio::sync::Mutex<()>>,
    backoff: BackoffRecord,
    /// The revision of the last pod write a sync of the Job made.
    written: i64,
}

/// The events of one sync, recorded when it ends. client-go's recorder sends events on its
/// own goroutine, so a sync never waits for them; here they are written on a task of their
/// own after the sync, concurrently but in the order they happened, except that a repeat
/// waits for the event it repeats so that the two aggregate into one.
#[derive(Debug, Default)]
pub(super) struct Events(Mutex<Vec<EventSpec>>);

impl Events {
    fn push(&self, event: EventSpec) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }

    fn take(&self) -> Vec<EventSpec> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One sync's view of a Job (`syncJobCtx`).
struct SyncCtx {
    key: String,
    job: Job,
    pods: Vec<SharedPod>,
    active_pods: Vec<SharedPod>,
    /// The target found this sync: FailureTarget, SuccessCriteriaMet, or the terminal
    /// condition of one found earlier.
    finished: Option<JobCondition>,
    succeeded: i32,
    failed: i32,
    prev_succeeded_indexes: Intervals,
    succeeded_indexes: Intervals,
    failed_indexes: Option<Intervals>,
    new_backoff: BackoffRecord,
    /// `status.uncountedTerminatedPods` as the sync found it.
    uncounted: Uncounted,
    /// The last failed pod of each pending index, kept until its replacement exists (J-55).
    delayed_deletion: HashMap<i64, SharedPod>,
    terminating: i32,
    ready: i32,
    /// The metrics' `action` label of this sync.
    action: &'static str,
    requeue: Option<Duration>,
    events: Events,
}

impl SyncCtx {
    fn requeue_after(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

impl JobController {
    /// A controller that reads pods from `pods`, an informer of every pod, on which it adds
    /// its indexes. The informer must run (and have synced) before the first sync.
    pub fn new(
        registry: Registry,
        pods: &Informer,
        clock: Arc<dyn Clock>,
        config: JobConfig,
    ) -> Self {
        pods.add_index(pods::CONTROLLER_UID_INDEX, pods::controller_uid_index);
        pods.add_index(pods::TRACKED_INDEX, pods::tracked_index);
        JobController {
            registry,
            pods: pods.clone(),
            clock,
            config,
            metrics: JobMetrics::default(),
            keys: Mutex::new(HashMap::new()),
            recording: Mutex::new(None),
        }
    }

    /// Registers the `job_controller_*` metrics (`pkg/controller/job/metrics`) and
    /// kube-state-metrics' `kube_job_*` gauges. The gauges are updated at the end of every
    /// sync from the Job as it was read or written, and removed when a sync finds the Job
    /// gone.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    /// One level-triggered sync of the Job (J-20..J-91). Returns when the Job must be synced
    /// again even if nothing changes (pod-failure backoff, active deadline), or the error
    /// to retry with backoff.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<Option<Duration>, ApiError> {
        let key = format!("{namespace}/{name}");
        let lock = self.key_state(&key, |s| s.lock.clone());
        let _serialized = lock.lock().await;
        let written = self.key_state(&key, |s| s.written);
        self.pods.wait_for_revision(written).await;
        let job = match self.registry.get(&JOB, namespace, name).await {
            Ok(Object::Job(job)) => job,
            Ok(_) => return Err(ApiError::internal("a Job read returned another kind")),
            Err(e) if e.is_not_found() => {
                // J-20: the Job is gone: forget it, and free the pods it left (J-101).
                self.forget(&key);
                self.metrics.forget_job(namespace, name);
                let pods = self.orphaned_pods(namespace, name);
                self.release_orphans(name, None, &pods).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if spec::managed_externally(&job).is_some() {
            self.metrics.observe_job(&job);
            return Ok(None);
        }
        if is_finished(&job) {
            self.key_state(&key, |s| s.backoff = BackoffRecord::default());
            let pods = self.orphaned_pods(namespace, name);
            self.release_orphans(name, Some(&job), &pods).await?;
            self.metrics.observe_job(&job);
            return Ok(None);
        }
        let mode = spec::completion_mode(&job);
        if mode != "NonIndexed" && mode != "Indexed" {
            // J-4.
            self.event(
                &job,
                "Warning",
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            )
            .await;
            return Ok(None);
        }
        let started = Instant::now();
        let mode_label = spec::mode_label(&job);
        let mut ctx = SyncCtx {
            key,
            job,
            pods: Vec::new(),
            active_pods: Vec::new(),
            finished: None,
            succeeded: 0,
            failed: 0,
            prev_succeeded_indexes: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            failed_indexes: None,
            new_backoff: BackoffRecord::default(),
            uncounted: Uncounted::default(),
            delayed_deletion: HashMap::new(),
            terminating: 0,
            ready: 0,
            action: metrics::ACTION_RECONCILING,
            requeue: None,
            events: Events::default(),
        };
        let result = self.sync_job(&mut ctx).await;
        self.record_later(ctx.events.take());
        self.metrics
            .observe_sync(mode_label, result.is_ok(), ctx.action, started.elapsed());
        // After a failed sync the in-memory Job may hold a status that was never written.
        if result.is_ok() {
            self.metrics.observe_job(&ctx.job);
        }
        result.map(|()| ctx.requeue)
    }

    /// `syncJob` from the first read on.
    async fn sync_job(&self, ctx: &mut SyncCtx) -> Result<(), ApiError> {
        let now = self.clock.now();
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        status
            .uncounted_terminated_pods
            .get_or_insert_with(Default::default);
        ctx.uncounted = Uncounted::from_status(status);

        let all_pods = self.pods_for_job(&ctx.job);
        let claimed = self.claim_pods(&ctx.job, all_pods).await?;
        self.release_orphans(spec::name(&ctx.job), Some(&ctx.job), &claimed.others)
            .await?;
        ctx.pods = claimed.mine;
        ctx.active_pods = ctx.pods.iter().filter(|p| is_active(p)).cloned().collect();
        ctx.ready = count(ctx.active_pods.iter().filter(|p| is_ready(p)));
        ctx.terminating = count(ctx.pods.iter().filter(|p| is_terminating(p)));
        let mut active = count(ctx.active_pods.iter());

        // J-22.
        let (new_succeeded, new_failed) = new_finished_pods(ctx);
        let policy = spec::pod_failure_policy(&ctx.job);
        let new_counted_failed = count(
            new_failed
                .iter()
                .filter(|p| match_policy(policy, p).count_failed),
        );
        let new_backoff = self
            .key_state(&ctx.key, |s| s.backoff.clone())
            .updated(&new_succeeded, &new_failed);
        let new_succeeded = count(new_succeeded.iter());
        ctx.new_backoff = new_backoff;
        let suspended = spec::suspended(&ctx.job);
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        ctx.succeeded = counter(status.succeeded)
            .saturating_add(new_succeeded)
            .saturating_add(count(ctx.uncounted.succeeded.iter()));
        ctx.failed = counter(status.failed)
            .saturating_add(new_counted_failed)
            .saturating_add(count(ctx.uncounted.failed.iter()));

        // J-21.
        if status.start_time.is_none() && !suspended {
            status.start_time = Some(Time(now));
        }

        self.find_finish_target(ctx, now);

        let mut manage_error = None;
        let mut suspend_changed = false;
        if ctx.finished.is_some() {
            // J-24: the Job is finishing: its active pods go, keeping their finalizers so
            // they are counted.
            let pods = ctx.active_pods.clone();
            let (deleted_ready, deleted, error) =
                self.delete_active_pods(&ctx.job, &pods, &ctx.events).await;
            if deleted != active {
                ctx.finished = None;
            }
            active -= deleted;
            ctx.terminating += deleted;
            ctx.ready -= deleted_ready;
            manage_error = error;
        } else {
            let mut manage_called = false;
            if !spec::being_deleted(&ctx.job) {
                let (now_active, error) = self.manage_job(ctx).await;
                active = now_active;
                manage_error = error;
                manage_called = true;
            }
            // J-25.
            let complete = match spec::completions(&ctx.job) {
                None => ctx.succeeded > 0 && active == 0,
                Some(c) => ctx.succeeded >= c && active == 0,
            };
            if complete {
                ctx.finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if manage_called {
                suspend_changed = self.update_suspended_condition(ctx, now);
            }
        }

        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        let needs_update = suspend_changed
            || active != counter(status.active)
            || status.ready != Some(ctx.ready)
            || status.terminating != Some(ctx.terminating);
        status.active = status::nonzero(active);
        status.ready = Some(ctx.ready);
        status.terminating = Some(ctx.terminating);
        self.track_status_and_remove_finalizers(ctx, needs_update)
            .await?;
        manage_error.map_or(Ok(()), Err)
    }

    /// J-23: the first finish condition that applies, and the deadline requeue.
    fn find_finish_target(&self, ctx: &mut SyncCtx, now: Timestamp) {
        let job = &ctx.job;
        let conditions = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[]);
        ctx.finished = success_criteria_met_condition(conditions).cloned();
        // J-65: with success criteria met, the failure policy is not evaluated.
        if ctx.finished.is_none() {
            let target = find_condition(conditions, "FailureTarget").filter(|c| c.status == "True");
            if let Some(target) = target {
                ctx.finished = Some(new_condition(
                    "Failed",
                    "True",
                    target.reason.as_deref().unwrap_or(""),
                    target.message.as_deref().unwrap_or(""),
                    now,
                ));
            } else if let Some(message) = fail_job_message(job, &ctx.pods) {
                ctx.finished = Some(new_condition(
                    "FailureTarget",
                    "True",
                    "PodFailurePolicy",
                    &message,
                    now,
                ));
            }
        }
        if ctx.finished.is_none() {
            let start = job.status.as_ref().and_then(|s| s.start_time.as_ref());
            let deadline = spec::active_deadline_seconds(job).filter(|_| !spec::suspended(job));
            let elapsed = start.map(|s| now.duration_since(s.0));
            let exceeded = matches!((deadline, elapsed),
                (Some(d), Some(e)) if e >= jiff::SignedDuration::from_secs(d));
            if ctx.failed > spec::backoff_limit(job)
                || past_backoff_limit_on_failure(job, &ctx.pods)
            {
                ctx.finished = Some(failure_target(
                    "BackoffLimitExceeded",
                    BACKOFF_LIMIT_MESSAGE,
                    now,
                ));
            } else if exceeded {
                ctx.finished = Some(failure_target("DeadlineExceeded", DEADLINE_MESSAGE, now));
            } else if let (Some(d), Some(e)) = (deadline, elapsed) {
                // J-40: sync again when the deadline passes.
                let left = jiff::SignedDuration::from_secs(d) - e;
                ctx.requeue_after(Duration::try_from(left).unwrap_or(Duration::ZERO));
            }
        }
        if spec::is_indexed(&ctx.job) {
            let completions = spec::indexed_completions(&ctx.job);
            let (prev, succeeded) = succeeded_indexes(&ctx.job, &ctx.pods, completions);
            ctx.prev_succeeded_indexes = prev;
            ctx.succeeded = i32::try_from(succeeded.total()).unwrap_or(i32::MAX);
            ctx.succeeded_indexes = succeeded;
            if let Some(limit) = spec::backoff_limit_per_index(&ctx.job) {
                let failed = failed_indexes(&ctx.job, &ctx.pods, completions, limit);
                if ctx.finished.is_none() {
                    let max = spec::max_failed_indexes(&ctx.job);
                    if max.is_some_and(|m| failed.total() > i64::from(m)) {
                        ctx.finished = Some(failure_target(
                            "MaxFailedIndexesExceeded",
                            "Job has exceeded the specified maximal number of failed indexes",
                            now,
                        ));
                    } else if failed.total() > 0
                        && failed.total() + ctx.succeeded_indexes.total() >= completions
                    {
                        ctx.finished = Some(failure_target(
                            "FailedIndexes",
                            "Job has failed indexes",
                            now,
                        ));
                    }
                }
                ctx.failed_indexes = Some(failed);
                ctx.delayed_deletion = pods_with_delayed_deletion(ctx, completions);
            }
            if ctx.finished.is_none()
                && let Some(message) = success_policy::match_policy(
                    ctx.job
                        .spec
                        .as_ref()
                        .and_then(|s| s.success_policy.as_ref()),
                    completions,
                    &ctx.succeeded_indexes,
                )
            {
                ctx.finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "True",
                    "SuccessPolicy",
                    &message,
                    now,
                ));
            }
        }
    }

    /// J-41, J-42: the Suspended condition follows spec.suspend, with its events. Suspending
    /// clears startTime and resuming sets it to now, so the active deadline counts only the
    /// time the Job runs (1.36, MutableSchedulingDirectivesForSuspendedJobs: without the
    /// clearing, a Job resumed after its deadline would fail at once). Returns whether the
    /// status changed.
    fn update_suspended_condition(&self, ctx: &mut SyncCtx, now: Timestamp) -> bool {
        let suspend = spec::suspended(&ctx.job);
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let changed = if suspend {
            status::ensure_condition(
                conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            )
        } else {
            status::ensure_condition(
                conditions,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
            )
        };
        if conditions.is_empty() {
            status.conditions = None;
        }
        if changed && !suspend {
            status.start_time = Some(Time(now));
        }
        let cleared = suspend && status.start_time.take().is_some();
        if changed {
            let (reason, message) = if suspend {
                ("Suspended", "Job suspended")
            } else {
                ("Resumed", "Job resumed")
            };
            ctx.events
                .push(event_spec(&ctx.job, "Normal", reason, message));
        }
        changed || cleared
    }

    /// Records an event about the Job from the job-controller at once (outside a sync's
    /// writes; within them, events go to the sync's [`Events`]).
    async fn event(&self, job: &Job, type_: &str, reason: &str, message: &str) {
        record(&self.registry, event_spec(job, type_, reason, message)).await;
    }

    /// Records a sync's events on a task of their own, after those of the syncs before, so
    /// that no sync waits for its events and they still appear in the order they happened
    /// (client-go's broadcaster writes them from one goroutine, in order).
    fn record_later(&self, events: Vec<EventSpec>) {
        if events.is_empty() {
            return;
        }
        let registry = self.registry.clone();
        let mut recording = self.recording.lock().unwrap_or_else(|p| p.into_inner());
        let previous = recording.take();
        *recording = Some(tokio::spawn(async move {
            if let Some(previous) = previous {
                // A previous recording that panicked has nothing left to wait for.
                let _ = previous.await;
            }
            for round in repeat_rounds(events) {
                join_all(round.into_iter().map(|e| record(&registry, e))).await;
            }
        }));
    }

    /// Waits until the events of every sync so far are recorded.
    pub async fn events_recorded(&self) {
        let last = self
            .recording
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(last) = last {
            let _ = last.await;
        }
    }

    /// Reads or changes the state of one Job key, creating it when missing.
    fn key_state<T>(&self, key: &str, f: impl FnOnce(&mut KeyState) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        f(keys.entry(key.to_owned()).or_default())
    }

    fn forget(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(key);
    }

    /// Records a pod write made by a sync of the Job `namespace/job_name`: its next sync
    /// waits for the pod informer to show it.
    fn wrote_pod(&self, namespace: &str, job_name: &str, written: &Object) {
        let revision = written
            .metadata()
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<i64>().ok())
            .unwrap_or(0);
        let key = format!("{namespace}/{job_name}");
        self.key_state(&key, |s| s.written = s.written.max(revision));
    }
}

/// Events are best effort, as client-go's recorder is: a failure is logged, never returned.
async fn record(registry: &Registry, event: EventSpec) {
    let (job, reason) = (event.involved.name.clone(), event.reason.clone());
    if let Err(e) = registry.record_event(event).await {
        tracing::warn!(job, reason, error = %e, "recording an event failed");
    }
}

/// Splits events into rounds to record one after the other: the n-th event of each (type,
/// reason) goes to round n, so no round holds two events that correlate — a repeat, or
/// events the correlator combines because they differ only in their message — and each is
/// written after the one it counts into, as client-go's one broadcaster goroutine would.
fn repeat_rounds(events: Vec<EventSpec>) -> Vec<Vec<EventSpec>> {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut rounds: Vec<Vec<EventSpec>> = Vec::new();
    for event in events {
        let n = seen
            .entry((event.type_.clone(), event.reason.clone()))
            .or_default();
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(event);
        *n += 1;
    }
    rounds
}

/// An event about the Job from the job-controller.
fn event_spec(job: &Job, type_: &str, reason: &str, message: &str) -> EventSpec {
    EventSpec {
        involved: ObjectReference {
            api_version: Some(JOB.api_version()),
            kind: Some(JOB.kind.to_owned()),
            name: job.metadata.name.clone(),
            namespace: job.metadata.namespace.clone(),
            uid: job.metadata.uid.clone(),
            resource_version: job.metadata.resource_version.clone(),
            ..Default::default()
        },
        type_: type_.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        component: FIELD_MANAGER.to_owned(),
        host: None,
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

/// A FailureTarget condition (J-26: failures are first written as a target).
fn failure_target(reason: &str, message: &str, now: Timestamp) -> JobCondition {
    new_condition("FailureTarget", "True", reason, message, now)
}

/// `getNewFinishedPods` (J-22): the pods that finished since the last sync — with the tracking
/// finalizer, not staged in uncountedTerminatedPods, and (Indexed) with a valid index.
fn new_finished_pods(ctx: &SyncCtx) -> (Vec<&Pod>, Vec<&Pod>) {
    let succeeded = valid_pods(ctx, &ctx.uncounted.succeeded, |p| {
        pods::phase(p) == "Succeeded"
    });
    let failed = valid_pods(ctx, &ctx.uncounted.failed, |p| is_failed(p, &ctx.job));
    (plain(succeeded), plain(failed))
}

fn plain(pods: Vec<&SharedPod>) -> Vec<&Pod> {
    pods.into_iter().map(|p| &**p).collect()
}

/// `getValidPodsWithFilter`.
fn valid_pods<'c>(
    ctx: &'c SyncCtx,
    skip: &HashSet<String>,
    keep: impl Fn(&Pod) -> bool,
) -> Vec<&'c SharedPod> {
    let indexed = spec::is_indexed(&ctx.job);
    let completions = spec::indexed_completions(&ctx.job);
    ctx.pods
        .iter()
        .filter(|p| has_tracking_finalizer(p) && !skip.contains(pods::uid(p)))
        .filter(|p| !indexed || completion_index(p).is_some_and(|i| i < completions))
        .filter(|p| keep(p))
        .collect()
}

/// `getFailJobMessage` (J-23(3)): the message of the first failed pod that matches a FailJob
/// rule.
fn fail_job_message(job: &Job, all: &[SharedPod]) -> Option<String> {
    let policy = spec::pod_failure_policy(job)?;
    all.iter()
        .filter(|p| is_failed(p, job))
        .find_map(|p| match_policy(Some(policy), p).fail_job_message)
}

/// `pastBackoffLimitOnFailure` (J-23(4), J-56): restarts of the live pods of an OnFailure Job
/// count against backoffLimit.
fn past_backoff_limit_on_failure(job: &Job, all: &[SharedPod]) -> bool {
    if spec::restart_policy(job) != "OnFailure" {
        return false;
    }
    let restarts: i64 = all
        .iter()
        .filter(|p| matches!(pods::phase(p), "Running" | "Pending"))
        .flat_map(|p| pods::restart_counts(p))
        .map(i64::from)
        .sum();
    let limit = i64::from(spec::backoff_limit(job));
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// `calculateSucceededIndexes` (J-83): the indexes in status.completedIndexes, and those plus
/// the indexes of succeeded pods not counted yet.
fn succeeded_indexes(job: &Job, all: &[SharedPod], completions: i64) -> (Intervals, Intervals) {
    let text = job
        .status
        .as_ref()
        .and_then(|s| s.completed_indexes.as_deref())
        .unwrap_or("");
    let prev = Intervals::parse(text, completions);
    let mut new: Vec<i64> = all
        .iter()
        .filter(|p| pods::phase(p) == "Succeeded" && has_tracking_finalizer(p))
        .filter_map(|p| completion_index(p))
        .filter(|i| *i < completions)
        .collect();
    new.sort_unstable();
    new.dedup();
    let now = prev.with_indexes(&new);
    (prev, now)
}

/// `calculateFailedIndexes` (J-55): the indexes in status.failedIndexes and those whose pods
/// failed for good since.
fn failed_indexes(job: &Job, all: &[SharedPod], completions: i64, limit: i32) -> Intervals {
    let text = job
        .status
        .as_ref()
        .and_then(|s| s.failed_indexes.as_deref());
    let prev = text.map_or_else(Intervals::default, |t| Intervals::parse(t, completions));
    let mut new: Vec<i64> = all
        .iter()
        .filter(|p| has_tracking_finalizer(p) && index_failed(job, p, limit))
        .filter_map(|p| completion_index(p))
        .filter(|i| *i < completions)
        .collect();
    new.sort_unstable();
    new.dedup();
    prev.with_indexes(&new)
}

/// `isIndexFailed` (J-55): a FailIndex match, or a counted failure of a pod whose index has
/// used up its backoffLimitPerIndex.
fn index_failed(job: &Job, pod: &Pod, limit: i32) -> bool {
    if !is_failed(pod, job) {
        return false;
    }
    let matched = match_policy(spec::pod_failure_policy(job), pod);
    if matched.action == Some(Action::FailIndex) {
        return true;
    }
    matched.count_failed && indexes::index_failure_count(pod) >= limit
}

/// `getPodsWithDelayedDeletionPerIndex` (J-55): for each index that is neither succeeded,
/// failed nor active, its last failed pod (most failures, then latest finish).
fn pods_with_delayed_deletion(ctx: &SyncCtx, completions: i64) -> HashMap<i64, SharedPod> {
    let active: HashSet<i64> = ctx
        .active_pods
        .iter()
        .filter_map(|p| completion_index(p))
        .collect();
    let failed_indexes = ctx.failed_indexes.clone().unwrap_or_default();
    let mut out: HashMap<i64, SharedPod> = HashMap::new();
    for pod in valid_pods(ctx, &HashSet::new(), |p| is_failed(p, &ctx.job)) {
        let Some(ix) = completion_index(pod).filter(|i| *i < completions) else {
            continue;
        };
        if ctx.succeeded_indexes.contains(ix) || failed_indexes.contains(ix) || active.contains(&ix)
        {
            continue;
        }
        let replace = out.get(&ix).is_none_or(|last| {
            index_absolute_failure_count(last) <= index_absolute_failure_count(pod)
                && finish_time(pod) >= finish_time(last)
        });
        if replace {
            out.insert(ix, pod.clone());
        }
    }
    out
}
