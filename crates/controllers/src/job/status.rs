//! The Job's status: conditions (J-26..J-28) and the counting protocol of the tracking
//! finalizer (J-90, J-91, `trackJobStatusAndRemoveFinalizers`): a terminated pod is staged
//! in `uncountedTerminatedPods`, the status is written, its finalizer removed, and only then
//! is it moved to the counters, so no pod is counted twice or lost across restarts.

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::error::ApiError;
use kbatch_api::registry::WriteOptions;
use kbatch_core::object::{JOB, Object};

use super::failure_policy::{Action, match_policy};
use super::indexes::completion_index;
use super::metrics::Counters;
use super::pods::{SharedPod, has_tracking_finalizer, is_failed, phase, uid};
use super::{Events, FIELD_MANAGER, JobController, SyncCtx, event_spec, spec};

/// `MaxUncountedPods` (J-91): at most this many pods are staged per sync.
const MAX_UNCOUNTED_PODS: usize = 500;

/// `status.uncountedTerminatedPods` as sets of pod uids.
#[derive(Debug, Default)]
pub(super) struct Uncounted {
    pub succeeded: HashSet<String>,
    pub failed: HashSet<String>,
}

impl Uncounted {
    pub fn from_status(status: &JobStatus) -> Uncounted {
        let lists = status.uncounted_terminated_pods.as_ref();
        let set = |l: Option<&Vec<String>>| l.into_iter().flatten().cloned().collect();
        Uncounted {
            succeeded: set(lists.and_then(|u| u.succeeded.as_ref())),
            failed: set(lists.and_then(|u| u.failed.as_ref())),
        }
    }
}

/// A counter of the status; Go's zero for an absent one.
pub(super) fn counter(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

/// A counter as Go serialises an `omitempty` int32: absent when 0.
pub(super) fn nonzero(value: i32) -> Option<i32> {
    (value != 0).then_some(value)
}

fn nonempty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// `newCondition` (J-28): both times are now.
pub(super) fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: nonempty(reason.to_owned()),
        message: nonempty(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// `ensureJobConditionStatus` (J-28): an existing condition of the type is replaced when its
/// status, reason or message differ; a missing one is appended unless its status is False.
/// Returns whether the list changed.
pub(super) fn ensure_condition(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(existing) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = existing.status == status
            && existing.reason.as_deref().unwrap_or("") == reason
            && existing.message.as_deref().unwrap_or("") == message;
        if same {
            return false;
        }
        *existing = new_condition(type_, status, reason, message, now);
        return true;
    }
    if status == "False" {
        return false;
    }
    list.push(new_condition(type_, status, reason, message, now));
    true
}

pub(super) fn find_condition<'c>(
    list: &'c [JobCondition],
    type_: &str,
) -> Option<&'c JobCondition> {
    list.iter().find(|c| c.type_ == type_)
}

/// `hasSuccessCriteriaMetCondition`.
pub(super) fn success_criteria_met_condition(list: &[JobCondition]) -> Option<&JobCondition> {
    find_condition(list, "SuccessCriteriaMet").filter(|c| c.status == "True")
}

fn is_success_criteria_met(c: &JobCondition) -> bool {
    c.type_ == "SuccessCriteriaMet" && c.status == "True"
}

/// `IsJobFinished` (J-20): Complete or Failed with status True.
pub fn is_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|list| {
            list.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

fn uncounted_mut(status: &mut JobStatus) -> &mut UncountedTerminatedPods {
    status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default)
}

fn uncounted_len(status: &JobStatus) -> usize {
    status.uncounted_terminated_pods.as_ref().map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    })
}

/// `cleanUncountedPodsWithoutFinalizers`: staged pods whose finalizer is gone move to the
/// counters. Returns whether the status changed.
fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let mut changed = false;
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let moved = |list: &mut Option<Vec<String>>| -> i32 {
        let Some(items) = list.as_mut() else {
            return 0;
        };
        let before = items.len();
        items.retain(|u| with_finalizer.contains(u));
        let gone = before - items.len();
        if items.is_empty() {
            *list = None;
        }
        i32::try_from(gone).unwrap_or(i32::MAX)
    };
    let succeeded = moved(&mut uncounted.succeeded);
    let failed = moved(&mut uncounted.failed);
    if succeeded > 0 {
        status.succeeded = nonzero(counter(status.succeeded).saturating_add(succeeded));
        changed = true;
    }
    if failed > 0 {
        status.failed = nonzero(counter(status.failed).saturating_add(failed));
        changed = true;
    }
    changed
}

/// `canRemoveFinalizer`: always while the Job is deleted or finishing and for succeeded pods;
/// for failed pods unless the pod is the last failure of an index still waiting for its
/// replacement (J-55).
fn can_remove_finalizer(ctx: &SyncCtx, pod: &Pod, failed: bool) -> bool {
    if spec::being_deleted(&ctx.job) || ctx.finished.is_some() || phase(pod) == "Succeeded" {
        return true;
    }
    if !failed {
        return false;
    }
    if spec::has_backoff_limit_per_index(&ctx.job)
        && let Some(ix) = completion_index(pod)
        && ctx
            .delayed_deletion
            .get(&ix)
            .is_some_and(|p| uid(p) == uid(pod))
    {
        return false;
    }
    true
}

impl JobController {
    /// `trackJobStatusAndRemoveFinalizers` (J-26, J-91): stages newly terminated pods,
    /// records the interim FailureTarget or SuccessCriteriaMet condition, writes the status,
    /// removes finalizers, moves counted pods to the counters and, once nothing is uncounted
    /// or terminating, adds the terminal condition.
    pub(super) async fn track_status_and_remove_finalizers(
        &self,
        ctx: &mut SyncCtx,
        mut needs_flush: bool,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let indexed = spec::is_indexed(&ctx.job);
        let completions = spec::indexed_completions(&ctx.job);
        if indexed {
            // Completed indexes are staged in order.
            ctx.pods.sort_by_key(|p| completion_index(p).unwrap_or(-1));
        }
        let mut with_finalizer: HashSet<String> = ctx
            .pods
            .iter()
            .filter(|p| has_tracking_finalizer(p))
            .map(|p| uid(p).to_owned())
            .collect();
        let mut old = Counters::of(&ctx.job);
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        if clean_uncounted(status, &with_finalizer) {
            needs_flush = true;
        }
        let policy = spec::pod_failure_policy(&ctx.job).cloned();
        let mut by_action: HashMap<Action, u64> = HashMap::new();
        let mut to_remove: Vec<SharedPod> = Vec::new();
        let mut new_succeeded_indexes: Vec<i64> = Vec::new();
        let mut reached_max = false;
        let finishing_as_failure = ctx
            .finished
            .as_ref()
            .is_some_and(|c| !is_success_criteria_met(c));
        for pod in &ctx.pods {
            if !has_tracking_finalizer(pod) {
                // Counted by an earlier sync.
                continue;
            }
            let failed = is_failed(pod, &ctx.job);
            if !can_remove_finalizer(ctx, pod, failed) {
                continue;
            }
            to_remove.push(pod.clone());
            let pod_uid = uid(pod);
            let status = ctx.job.status.get_or_insert_with(JobStatus::default);
            if phase(pod) == "Succeeded" && !ctx.uncounted.failed.contains(pod_uid) {
                if indexed {
                    // The index is enough to never count a success twice.
                    if let Some(ix) = completion_index(pod)
                        && ix < completions
                        && !ctx.prev_succeeded_indexes.contains(ix)
                    {
                        new_succeeded_indexes.push(ix);
                        needs_flush = true;
                    }
                } else if !ctx.uncounted.succeeded.contains(pod_uid) {
                    needs_flush = true;
                    uncounted_mut(status)
                        .succeeded
                        .get_or_insert_with(Vec::new)
                        .push(pod_uid.to_owned());
                }
            } else if failed || finishing_as_failure {
                // A Job that fails counts each of its unfinished pods as failed.
                let valid_index = completion_index(pod).is_some_and(|i| i < completions);
                if !ctx.uncounted.failed.contains(pod_uid) && (!indexed || valid_index) {
                    let counted = match policy.as_ref() {
                        Some(policy) => {
                            let matched = match_policy(Some(policy), pod);
                            if let Some(action) = matched.action {
                                *by_action.entry(action).or_default() += 1;
                            }
                            matched.count_failed
                        }
                        None => true,
                    };
                    if counted {
                        needs_flush = true;
                        uncounted_mut(status)
                            .failed
                            .get_or_insert_with(Vec::new)
                            .push(pod_uid.to_owned());
                    }
                }
            }
            if new_succeeded_indexes.len() + uncounted_len(status) >= MAX_UNCOUNTED_PODS {
                // The rest waits for the next sync, which this sync's writes trigger, so
                // that status stays small and big Jobs do not starve the others.
                reached_max = true;
                break;
            }
        }
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        if indexed {
            ctx.succeeded_indexes = ctx.succeeded_indexes.with_indexes(&new_succeeded_indexes);
            let text = ctx.succeeded_indexes.to_string();
            if text != status.completed_indexes.as_deref().unwrap_or("") {
                needs_flush = true;
            }
            let total = i32::try_from(ctx.succeeded_indexes.total()).unwrap_or(i32::MAX);
            status.succeeded = nonzero(total);
            status.completed_indexes = nonempty(text);
            let failed_text = ctx.failed_indexes.as_ref().map(ToString::to_string);
            if status.failed_indexes != failed_text {
                status.failed_indexes = failed_text;
                needs_flush = true;
            }
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if let Some(target) = ctx.finished.clone() {
            if target.type_ == "FailureTarget" {
                // The target is written before any finalizer goes, so the reason survives.
                conditions.push(target.clone());
                needs_flush = true;
                ctx.finished = Some(terminal("Failed", &target, now));
            } else if is_success_criteria_met(&target) {
                if success_criteria_met_condition(conditions).is_none() {
                    conditions.push(target.clone());
                    needs_flush = true;
                }
                ctx.finished = Some(terminal("Complete", &target, now));
            }
        }
        if conditions.is_empty() {
            status.conditions = None;
        }
        needs_flush = self
            .flush_uncounted_and_remove_finalizers(
                ctx,
                &to_remove,
                &mut with_finalizer,
                &mut old,
                &by_action,
                needs_flush,
            )
            .await?;
        let finished = !reached_max && self.enact_job_finished(ctx, now);
        if finished {
            needs_flush = true;
        }
        if needs_flush {
            ctx.job = self.update_status(&ctx.job).await?;
            if finished && let Some(condition) = ctx.finished.clone() {
                self.record_job_finished(&ctx.job, &condition, &ctx.events);
            }
            self.metrics.pods_finished(&ctx.job, &old);
        }
        Ok(())
    }

    /// `flushUncountedAndRemoveFinalizers`: writes the staged pods, removes their finalizers
    /// and moves those without one to the counters. Returns whether the status still has
    /// changes to write.
    async fn flush_uncounted_and_remove_finalizers(
        &self,
        ctx: &mut SyncCtx,
        to_remove: &[SharedPod],
        with_finalizer: &mut HashSet<String>,
        old: &mut Counters,
        by_action: &HashMap<Action, u64>,
        mut needs_flush: bool,
    ) -> Result<bool, ApiError> {
        if needs_flush {
            ctx.job = self.update_status(&ctx.job).await?;
            // J-52: the backoff record moves on once the pods it counts are staged.
            let record = ctx.new_backoff.clone();
            self.key_state(&ctx.key, |s| s.backoff = record);
            self.metrics.pods_finished(&ctx.job, old);
            *old = Counters::of(&ctx.job);
            needs_flush = false;
        }
        for (action, n) in by_action {
            self.metrics.failure_policy_action(*action, *n);
        }
        let mut remove_error = None;
        let job_name = spec::name(&ctx.job);
        let results = join_all(
            to_remove
                .iter()
                .map(|p| self.remove_tracking_finalizer(job_name, p)),
        )
        .await;
        for (pod, result) in to_remove.iter().zip(results) {
            match result {
                Ok(()) => {
                    with_finalizer.remove(uid(pod));
                }
                Err(e) if e.is_not_found() => {
                    with_finalizer.remove(uid(pod));
                }
                Err(e) => {
                    tracing::warn!(pod = uid(pod), error = %e, "removing tracking finalizer");
                    remove_error.get_or_insert(e);
                }
            }
        }
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        if clean_uncounted(status, with_finalizer) {
            needs_flush = true;
        }
        if let Some(e) = remove_error {
            // Record the partial progress before failing the sync.
            if needs_flush {
                self.update_status(&ctx.job).await?;
            }
            return Err(e);
        }
        Ok(needs_flush)
    }

    /// `enactJobFinished` (J-26): the terminal condition, once no pod is uncounted or
    /// terminating; Complete also sets completionTime. Returns whether the Job finished.
    fn enact_job_finished(&self, ctx: &mut SyncCtx, now: Timestamp) -> bool {
        let Some(condition) = ctx.finished.clone() else {
            return false;
        };
        let status = ctx.job.status.get_or_insert_with(JobStatus::default);
        if uncounted_len(status) > 0 || ctx.terminating > 0 {
            return false;
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        ensure_condition(
            conditions,
            &condition.type_,
            &condition.status,
            condition.reason.as_deref().unwrap_or(""),
            condition.message.as_deref().unwrap_or(""),
            now,
        );
        if condition.type_ == "Complete" {
            status.completion_time = condition.last_transition_time.clone();
        }
        true
    }

    /// `recordJobFinished` (J-27): events and the finished-jobs metric.
    fn record_job_finished(&self, job: &Job, condition: &JobCondition, events: &Events) {
        let mode = spec::mode_label(job);
        let reason = condition.reason.as_deref().unwrap_or("");
        if condition.type_ == "Complete" {
            let succeeded = counter(job.status.as_ref().and_then(|s| s.succeeded));
            if spec::completions(job).is_some_and(|c| succeeded > c) {
                events.push(event_spec(
                    job,
                    "Warning",
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                ));
            }
            events.push(event_spec(job, "Normal", "Completed", "Job completed"));
            self.metrics.job_finished(mode, "succeeded", "");
        } else {
            let message = condition.message.as_deref().unwrap_or("");
            events.push(event_spec(job, "Warning", reason, message));
            self.metrics.job_finished(mode, "failed", reason);
        }
    }

    /// Writes the status through `/status` with the resourceVersion read, so a Job changed
    /// meanwhile fails the sync with a conflict and is synced again.
    pub(super) async fn update_status(&self, job: &Job) -> Result<Job, ApiError> {
        let opts = WriteOptions {
            subresource: Some("status".to_owned()),
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let written = self
            .registry
            .update(
                &JOB,
                spec::namespace(job),
                spec::name(job),
                Object::Job(job.clone()),
                &opts,
                Vec::new(),
            )
            .await?;
        match written.object {
            Object::Job(j) => Ok(j),
            _ => Err(ApiError::internal(
                "a Job status write returned another kind",
            )),
        }
    }
}

/// The terminal condition that follows an interim one, with its reason and message.
fn terminal(type_: &str, interim: &JobCondition, now: Timestamp) -> JobCondition {
    new_condition(
        type_,
        "True",
        interim.reason.as_deref().unwrap_or(""),
        interim.message.as_deref().unwrap_or(""),
        now,
    )
}
