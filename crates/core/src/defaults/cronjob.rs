//! CronJob defaulting: `SetObjectDefaults_CronJob` (`pkg/apis/batch/v1/zz_generated.defaults.go`).

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec};
use k8s_openapi::api::core::v1::PodSpec;

use crate::defaults::job::default_pod_failure_policy;
use crate::defaults::pod::default_pod_spec;

/// `SetObjectDefaults_CronJob`: `SetDefaults_CronJob` (C-1) plus the defaulters of the types
/// nested in the job template.
///
/// `SetDefaults_Job` operates on a Job, not on a `JobSpec`, so the job template's
/// completions, parallelism, backoffLimit, completionMode, suspend, podReplacementPolicy and
/// manualSelector stay as written; the Job created from the template is defaulted when it is
/// created. Only the nested type defaulters reach into the template: pod failure policy
/// condition patterns (status `True`) and the pod spec.
pub fn default_cronjob(cj: &mut CronJob) {
    // Go's CronJobSpec is a value: an absent spec is defaulted like an empty one.
    let spec = cj.spec.get_or_insert_with(CronJobSpec::default);
    if spec.concurrency_policy.as_deref().unwrap_or("").is_empty() {
        spec.concurrency_policy = Some("Allow".to_owned());
    }
    if spec.suspend.is_none() {
        spec.suspend = Some(false);
    }
    if spec.successful_jobs_history_limit.is_none() {
        spec.successful_jobs_history_limit = Some(3);
    }
    if spec.failed_jobs_history_limit.is_none() {
        spec.failed_jobs_history_limit = Some(1);
    }

    let job_spec = spec.job_template.spec.get_or_insert_with(JobSpec::default);
    if let Some(policy) = job_spec.pod_failure_policy.as_mut() {
        default_pod_failure_policy(policy);
    }
    default_pod_spec(job_spec.template.spec.get_or_insert_with(PodSpec::default));
}
