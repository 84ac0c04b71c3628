//! Reading a Job's spec the way the controller's helpers do (`isIndexedJob`,
//! `hasBackoffLimitPerIndex`, `onlyReplaceFailedPods`, ...). Reads are defaulted by the
//! registry, so the fallbacks here only matter for objects that bypassed admission.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

/// The value of `spec.managedBy` that names this controller.
pub const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

fn spec(job: &Job) -> Option<&JobSpec> {
    job.spec.as_ref()
}

pub fn name(job: &Job) -> &str {
    job.metadata.name.as_deref().unwrap_or("")
}

pub fn namespace(job: &Job) -> &str {
    job.metadata.namespace.as_deref().unwrap_or("")
}

pub fn uid(job: &Job) -> &str {
    job.metadata.uid.as_deref().unwrap_or("")
}

pub fn completion_mode(job: &Job) -> &str {
    spec(job)
        .and_then(|s| s.completion_mode.as_deref())
        .unwrap_or("NonIndexed")
}

/// `isIndexedJob`.
pub fn is_indexed(job: &Job) -> bool {
    completion_mode(job) == "Indexed"
}

/// The `completion_mode` label of the metrics (`getCompletionMode`).
pub fn mode_label(job: &Job) -> &'static str {
    if is_indexed(job) {
        "Indexed"
    } else {
        "NonIndexed"
    }
}

pub fn completions(job: &Job) -> Option<i32> {
    spec(job).and_then(|s| s.completions)
}

/// Completions of an Indexed Job (validation requires them); 0 if absent.
pub fn indexed_completions(job: &Job) -> i64 {
    i64::from(completions(job).unwrap_or(0))
}

pub fn parallelism(job: &Job) -> i32 {
    spec(job).and_then(|s| s.parallelism).unwrap_or(1)
}

pub fn backoff_limit(job: &Job) -> i32 {
    spec(job).and_then(|s| s.backoff_limit).unwrap_or(6)
}

pub fn backoff_limit_per_index(job: &Job) -> Option<i32> {
    spec(job).and_then(|s| s.backoff_limit_per_index)
}

/// `hasBackoffLimitPerIndex`.
pub fn has_backoff_limit_per_index(job: &Job) -> bool {
    backoff_limit_per_index(job).is_some()
}

pub fn max_failed_indexes(job: &Job) -> Option<i32> {
    spec(job).and_then(|s| s.max_failed_indexes)
}

pub fn active_deadline_seconds(job: &Job) -> Option<i64> {
    spec(job).and_then(|s| s.active_deadline_seconds)
}

/// `jobSuspended`.
pub fn suspended(job: &Job) -> bool {
    spec(job).and_then(|s| s.suspend).unwrap_or(false)
}

pub fn pod_failure_policy(job: &Job) -> Option<&k8s_openapi::api::batch::v1::PodFailurePolicy> {
    spec(job).and_then(|s| s.pod_failure_policy.as_ref())
}

/// `onlyReplaceFailedPods` (J-64): podReplacementPolicy Failed, or any pod failure policy.
pub fn only_replace_failed(job: &Job) -> bool {
    let spec = spec(job);
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

pub fn restart_policy(job: &Job) -> &str {
    spec(job)
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("")
}

/// `managedByExternalController` (J-20): the other controller's name, when spec.managedBy
/// names one.
pub fn managed_externally(job: &Job) -> Option<&str> {
    spec(job)
        .and_then(|s| s.managed_by.as_deref())
        .filter(|m| *m != JOB_CONTROLLER_NAME)
}

pub fn being_deleted(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_some()
}
