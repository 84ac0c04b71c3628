//! `manageJob` (J-30..J-37): how many pods a Job should run, which to delete first, and
//! creating the missing ones in slow-start batches behind the failure backoff.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{DeleteOptions, WriteOptions};
use kbatch_core::object::{Object, POD};

use super::backoff::remaining_for_index;
use super::indexes::{completion_index, first_pending};
use super::metrics::{ACTION_PODS_CREATED, ACTION_PODS_DELETED, ACTION_TRACKING};
use super::pods::{self, SharedPod, is_ready, is_terminating, new_pod};
use super::{Events, FIELD_MANAGER, JobController, SyncCtx, count, event_spec, spec};

/// `MaxPodCreateDeletePerSync` (J-32, J-34).
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;

/// The result of deleting some pods: how many were ready, how many went, the first error.
struct Deleted {
    ready: i32,
    deleted: i32,
    error: Option<ApiError>,
}

/// Why a pod create failed.
enum CreateError {
    /// The namespace is being deleted: every further create fails too, so this one is not
    /// reported (J-35).
    NamespaceTerminating,
    Api(ApiError),
}

impl JobController {
    /// `manageJob`: returns the number of active pods after its deletions and creations, and
    /// the first API error, which fails the sync after the status was tracked.
    pub(super) async fn manage_job(&self, ctx: &mut SyncCtx) -> (i32, Option<ApiError>) {
        let job = ctx.job.clone();
        let mut active = count(ctx.active_pods.iter());
        if spec::suspended(&job) {
            // J-30: a suspended Job runs nothing; its pods lose the finalizer first, so they
            // are not counted as failed.
            let all = pods_for_removal(&job, &ctx.active_pods, ctx.active_pods.len());
            let done = self.delete_job_pods(&job, &all, &ctx.events).await;
            active -= done.deleted;
            ctx.terminating += done.deleted;
            ctx.ready -= done.ready;
            ctx.action = ACTION_PODS_DELETED;
            return (active, done.error);
        }
        // J-31.
        let parallelism = spec::parallelism(&job);
        let want_active = match spec::completions(&job) {
            None if ctx.succeeded > 0 => active,
            None => parallelism,
            Some(c) => c.saturating_sub(ctx.succeeded).min(parallelism).max(0),
        };
        // J-32: removals first, and nothing is created in a sync that deletes.
        let rm_at_least = usize::try_from(active - want_active).unwrap_or(0);
        let mut to_delete = pods_for_removal(&job, &ctx.active_pods, rm_at_least);
        to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !to_delete.is_empty() {
            let done = self.delete_job_pods(&job, &to_delete, &ctx.events).await;
            active -= done.deleted;
            ctx.terminating += done.deleted;
            ctx.ready -= done.ready;
            ctx.action = ACTION_PODS_DELETED;
            return (active, done.error);
        }
        // J-34, J-64: with podReplacementPolicy Failed, terminating pods are not replaced yet.
        let terminating = if spec::only_replace_failed(&job) {
            ctx.terminating
        } else {
            0
        };
        let diff = want_active - terminating - active;
        if diff <= 0 {
            ctx.action = ACTION_TRACKING;
            return (active, None);
        }
        ctx.action = ACTION_PODS_CREATED;
        let now = self.clock.now();
        let (base, max) = (self.config.backoff_base, self.config.backoff_max);
        if !spec::has_backoff_limit_per_index(&job) {
            let remaining = ctx.new_backoff.remaining(now, base, max);
            if !remaining.is_zero() {
                ctx.requeue_after(remaining.max(self.config.sync_batch_period));
                return (active, None);
            }
        }
        let diff = usize::try_from(diff)
            .unwrap_or(0)
            .min(MAX_POD_CREATE_DELETE_PER_SYNC);
        let indexes: Vec<Option<i64>> = if spec::is_indexed(&job) {
            let mut pending = pending_indexes(ctx, diff);
            if spec::has_backoff_limit_per_index(&job) {
                let (now_creatable, remaining) = creatable_indexes(ctx, &pending, now, base, max);
                if !remaining.is_zero() {
                    ctx.requeue_after(remaining.max(self.config.sync_batch_period));
                    return (active, None);
                }
                pending = now_creatable;
            }
            pending.into_iter().map(Some).collect()
        } else {
            vec![None; diff]
        };
        active += count(indexes.iter());
        let (created, failed, error) = self
            .create_in_batches(ctx, &job, indexes, &mut active)
            .await;
        self.metrics
            .pods_created(creation_reason(&job, ctx), created, failed);
        (active, error)
    }

    /// J-35: slow start — batches of 1, 2, 4, … pods; after a batch with a failed create, the
    /// pods not attempted yet are left for a later sync. Returns the creates that succeeded
    /// and failed, and the first error.
    async fn create_in_batches(
        &self,
        ctx: &SyncCtx,
        job: &Job,
        indexes: Vec<Option<i64>>,
        active: &mut i32,
    ) -> (u64, u64, Option<ApiError>) {
        let (mut created, mut failed) = (0, 0);
        let mut first_error = None;
        let mut left = indexes.as_slice();
        let mut batch = left.len().min(1);
        while !left.is_empty() {
            let (this, rest) = left.split_at(batch);
            let results = join_all(this.iter().map(|ix| {
                let replaced = ix.and_then(|i| ctx.delayed_deletion.get(&i));
                self.create_pod(job, *ix, replaced.map(|p| &**p), &ctx.events)
            }))
            .await;
            let mut batch_failed = false;
            for result in results {
                match result {
                    Ok(()) => created += 1,
                    Err(CreateError::NamespaceTerminating) => {}
                    Err(CreateError::Api(e)) => {
                        *active -= 1;
                        failed += 1;
                        batch_failed = true;
                        first_error.get_or_insert(e);
                    }
                }
            }
            if batch_failed && !rest.is_empty() {
                *active -= count(rest.iter());
                break;
            }
            left = rest;
            batch = (2 * batch).min(left.len());
        }
        (created, failed, first_error)
    }

    /// Creates one pod (`CreatePodsWithGenerateName`) and records J-37's event.
    async fn create_pod(
        &self,
        job: &Job,
        index: Option<i64>,
        replaced: Option<&Pod>,
        events: &Events,
    ) -> Result<(), CreateError> {
        let pod = new_pod(job, index, replaced);
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        match self
            .registry
            .create(
                &POD,
                spec::namespace(job),
                Object::Pod(pod),
                &opts,
                Vec::new(),
            )
            .await
        {
            Ok(written) => {
                self.wrote_pod(spec::namespace(job), spec::name(job), &written.object);
                let message = format!("Created pod: {}", written.object.name());
                events.push(event_spec(job, "Normal", "SuccessfulCreate", &message));
                Ok(())
            }
            Err(e) if namespace_terminating(&e) => Err(CreateError::NamespaceTerminating),
            Err(e) => {
                let message = format!("Error creating: {e}");
                events.push(event_spec(job, "Warning", "FailedCreate", &message));
                Err(CreateError::Api(e))
            }
        }
    }

    /// `deleteJobPods` (J-30, J-32): removes the tracking finalizer, then deletes, so the pods
    /// are never counted.
    async fn delete_job_pods(&self, job: &Job, pods: &[SharedPod], events: &Events) -> Deleted {
        let results = join_all(pods.iter().map(|pod| async move {
            self.remove_tracking_finalizer(spec::name(job), pod).await?;
            self.delete_pod(job, pod, events).await
        }))
        .await;
        tally(pods, results)
    }

    /// `deleteActivePods` (J-24): deletes keeping the finalizers, so the pods are counted
    /// when the finishing Job tracks them.
    pub(super) async fn delete_active_pods(
        &self,
        job: &Job,
        pods: &[SharedPod],
        events: &Events,
    ) -> (i32, i32, Option<ApiError>) {
        let results = join_all(pods.iter().map(|pod| self.delete_pod(job, pod, events))).await;
        let done = tally(pods, results);
        (done.ready, done.deleted, done.error)
    }

    /// `DeletePod` with J-37's events; a pod already gone is not an error for the callers.
    async fn delete_pod(&self, job: &Job, pod: &Pod, events: &Events) -> Result<(), ApiError> {
        let name = pods::name(pod);
        match self
            .registry
            .delete(&POD, spec::namespace(job), name, &DeleteOptions::default())
            .await
        {
            Ok(outcome) => {
                self.wrote_pod(spec::namespace(job), spec::name(job), outcome.0.object());
                let message = format!("Deleted pod: {name}");
                events.push(event_spec(job, "Normal", "SuccessfulDelete", &message));
                Ok(())
            }
            Err(e) if e.is_not_found() => Err(e),
            Err(e) => {
                let message = format!("Error deleting: {e}");
                events.push(event_spec(job, "Warning", "FailedDelete", &message));
                Err(e)
            }
        }
    }
}

/// Counts deletions: a pod that was already gone counts as deleted.
fn tally(pods: &[SharedPod], results: Vec<Result<(), ApiError>>) -> Deleted {
    let mut done = Deleted {
        ready: 0,
        deleted: 0,
        error: None,
    };
    for (pod, result) in pods.iter().zip(results) {
        match result {
            Err(e) if !e.is_not_found() => {
                done.error.get_or_insert(e);
            }
            _ => {
                done.deleted += 1;
                if is_ready(pod) {
                    done.ready += 1;
                }
            }
        }
    }
    done
}

/// Whether a create failed because the namespace is being deleted: the `NamespaceTerminating`
/// cause Kubernetes' lifecycle admission gives, or the registry's text for it.
fn namespace_terminating(e: &ApiError) -> bool {
    let cause =
        e.0.details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.reason.as_deref() == Some("NamespaceTerminating"))
            });
    cause || (e.code() == 403 && e.to_string().ends_with("because it is being terminated"))
}

/// The `reason` label of `job_controller_job_pods_creation_total` (`recordJobPodsCreationTotal`).
fn creation_reason(job: &Job, ctx: &SyncCtx) -> &'static str {
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_replacement_policy.as_deref());
    if policy == Some("Failed") && ctx.failed > 0 {
        "recreate_failed"
    } else if ctx.failed > 0 || ctx.terminating > 0 {
        "recreate_terminating_or_failed"
    } else {
        "new"
    }
}

/// `firstPendingIndexes` (J-80): skipping succeeded, active and failed indexes, and the
/// indexes of terminating pods when only failed pods are replaced.
fn pending_indexes(ctx: &SyncCtx, count: usize) -> Vec<i64> {
    let completions = spec::indexed_completions(&ctx.job);
    let active: BTreeSet<i64> = ctx
        .active_pods
        .iter()
        .filter_map(|p| completion_index(p))
        .collect();
    let mut taken = ctx
        .succeeded_indexes
        .with_indexes(&active.into_iter().collect::<Vec<_>>());
    if spec::only_replace_failed(&ctx.job) {
        let terminating: BTreeSet<i64> = ctx
            .pods
            .iter()
            .filter(|p| is_terminating(p))
            .filter_map(|p| completion_index(p))
            .collect();
        taken = taken.with_indexes(&terminating.into_iter().collect::<Vec<_>>());
    }
    if let Some(failed) = &ctx.failed_indexes {
        taken = taken.merge(failed);
    }
    first_pending(&taken, count, completions)
}

/// `getPodCreationInfoForIndependentIndexes` (J-54): the indexes whose own backoff is over;
/// when none is, the shortest remaining delay.
fn creatable_indexes(
    ctx: &SyncCtx,
    pending: &[i64],
    now: Timestamp,
    base: Duration,
    max: Duration,
) -> (Vec<i64>, Duration) {
    let mut ready = Vec::new();
    let mut shortest: Option<Duration> = None;
    for &ix in pending {
        let remaining =
            remaining_for_index(now, base, max, ctx.delayed_deletion.get(&ix).map(|p| &**p));
        if remaining.is_zero() {
            ready.push(ix);
        } else {
            shortest = Some(shortest.map_or(remaining, |s| s.min(remaining)));
        }
    }
    if ready.is_empty() {
        (ready, shortest.unwrap_or(Duration::ZERO))
    } else {
        (ready, Duration::ZERO)
    }
}

/// `activePodsForRemoval` (J-32): for Indexed Jobs, pods without a valid index and all but
/// the most advanced pod of each index; then, as needed, the earliest-stage pods (J-33).
fn pods_for_removal(job: &Job, active: &[SharedPod], rm_at_least: usize) -> Vec<SharedPod> {
    let (mut rm, mut left) = if spec::is_indexed(job) {
        duplicated_index_pods(active, spec::indexed_completions(job))
    } else {
        (Vec::new(), active.to_vec())
    };
    if rm.len() < rm_at_least {
        left.sort_by(|a, b| deletion_order(a, b));
        let more = rm_at_least - rm.len();
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// `appendDuplicatedIndexPodsForRemoval`: splits active pods into those to remove (no index,
/// index out of range, or a duplicate of an index) and the rest.
fn duplicated_index_pods(
    active: &[SharedPod],
    completions: i64,
) -> (Vec<SharedPod>, Vec<SharedPod>) {
    let mut sorted = active.to_vec();
    sorted.sort_by_key(|p| completion_index(p).unwrap_or(-1));
    let (mut rm, mut left) = (Vec::new(), Vec::new());
    let mut rest = sorted.as_slice();
    while let Some(first) = rest.first() {
        let ix = completion_index(first);
        let same = rest
            .iter()
            .take_while(|p| completion_index(p) == ix)
            .count();
        let (group, tail) = rest.split_at(same);
        rest = tail;
        match ix {
            Some(i) if i < completions => {
                let mut group = group.to_vec();
                group.sort_by(|a, b| deletion_order(a, b));
                if let Some(keep) = group.pop() {
                    left.push(keep);
                }
                rm.extend(group);
            }
            _ => rm.extend_from_slice(group),
        }
    }
    (rm, left)
}

/// J-33 `controller.ActivePods`: the pod to delete first sorts first — unassigned before
/// assigned, Pending before Unknown before Running, not ready before ready, ready for less
/// time before longer, more restarts before fewer, newer before older.
fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let phase = |p: &Pod| match pods::phase(p) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let by_phase = phase(a).cmp(&phase(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ra, rb) = (is_ready(a), is_ready(b));
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if ra {
        let ready_since = |p: &Pod| {
            pods::condition(p, "Ready")
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0)
        };
        let by_ready = later_or_unset_first(ready_since(a), ready_since(b));
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let restarts = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.restart_count)
            .max()
            .unwrap_or(0)
    };
    let by_restarts = restarts(b).cmp(&restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    later_or_unset_first(created(a), created(b))
}

/// `afterOrZero` as an ordering: an unset time first, then the later time first.
fn later_or_unset_first(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}
