//! Job defaulting: `SetObjectDefaults_Job` (`pkg/apis/batch/v1/zz_generated.defaults.go`), i.e.
//! `SetDefaults_Job` from `defaults.go` plus the nested defaulters, and the selector the Job
//! strategy generates on create (`generateSelector` in `pkg/registry/batch/job/strategy.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec, PodFailurePolicy};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::defaults::pod::default_pod_spec;

/// Legacy label with the Job's name, added to the pod template (J-10).
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// Label with the Job's name, added to the pod template (J-10).
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Legacy label with the Job's uid, added to the pod template (J-10).
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// Label with the Job's uid: the template gets it and the generated selector selects it (J-10).
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// `SetObjectDefaults_Job`: job.md §1 default column, J-1, E11, and the pod spec defaults of
/// the template.
pub fn default_job(job: &mut Job) {
    // Go's JobSpec is a value, not a pointer: an absent spec is defaulted like an empty one.
    let spec = job.spec.get_or_insert_with(JobSpec::default);
    default_job_spec_fields(spec);
    if let Some(policy) = spec.pod_failure_policy.as_mut() {
        default_pod_failure_policy(policy);
    }
    // Go's PodTemplateSpec.Spec is a value too, so SetDefaults_PodSpec always runs.
    default_pod_spec(spec.template.spec.get_or_insert_with(PodSpec::default));
    inherit_template_labels(job);
}

/// J-1: a Job without labels takes a copy of its template's labels. Go tests
/// `labels != nil`, so an explicitly empty template label map is copied too.
fn inherit_template_labels(job: &mut Job) {
    let template_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    if let Some(template_labels) = template_labels
        && job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
    {
        job.metadata.labels = Some(template_labels.clone());
    }
}

/// The scalar defaults of `SetDefaults_Job`.
fn default_job_spec_fields(spec: &mut JobSpec) {
    // Both unset: a non-parallel Job, completions = parallelism = 1. Only parallelism set:
    // completions stays nil (a work queue).
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    if spec.parallelism.is_none() {
        spec.parallelism = Some(1);
    }
    if spec.backoff_limit.is_none() {
        // E11: with a per-index limit the global limit is effectively disabled.
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    if spec.completion_mode.is_none() {
        spec.completion_mode = Some("NonIndexed".to_owned());
    }
    if spec.suspend.is_none() {
        spec.suspend = Some(false);
    }
    if spec.pod_replacement_policy.is_none() {
        // job.md §1: a pod failure policy only works when pods are replaced once terminal.
        spec.pod_replacement_policy = Some(
            if spec.pod_failure_policy.is_some() {
                "Failed"
            } else {
                "TerminatingOrFailed"
            }
            .to_owned(),
        );
    }
    if spec.manual_selector.is_none() {
        spec.manual_selector = Some(false);
    }
}

/// `SetDefaults_PodFailurePolicyOnPodConditionsPattern` on every pattern (J-62: status
/// defaults to `True`). defaulter-gen calls it wherever the type is nested, so CronJob job
/// templates get it as well.
pub(crate) fn default_pod_failure_policy(policy: &mut PodFailurePolicy) {
    for rule in &mut policy.rules {
        for pattern in rule.on_pod_conditions.iter_mut().flatten() {
            if pattern.status.as_deref().unwrap_or("").is_empty() {
                pattern.status = Some("True".to_owned());
            }
        }
    }
}

/// The Job strategy's selector generation on create (J-10), with the Job labels of J-1
/// following the template labels.
///
/// With `manualSelector` not true (`generateSelectorIfNeeded`), the template gets `job-name`,
/// `batch.kubernetes.io/job-name`, `controller-uid` and `batch.kubernetes.io/controller-uid`
/// where the user did not set them, and the selector's matchLabels get
/// `batch.kubernetes.io/controller-uid` unless present. Conflicting user values are kept and
/// rejected by validation. Admission sets `metadata.uid` before calling this.
///
/// In Kubernetes a Job without labels ends up with the final template labels, generated ones
/// included (`kubectl describe job` shows `controller-uid=…`, `job-name=…`): when J-1 copied
/// the template labels, both fields share one Go map, so the generated labels land in both;
/// when the template had none, decoding the stored object re-applies `SetDefaults_Job`. Here,
/// Job labels that are empty or equal to the template labels before generation follow them.
/// (A Job whose own labels the user wrote identical to the template's keeps them unchanged in
/// Kubernetes; that coincidence is not told apart.)
pub fn generate_selector(job: &mut Job) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let spec = job.spec.get_or_insert_with(JobSpec::default);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref());
    let follows_template = match &job.metadata.labels {
        None => true,
        Some(labels) => labels.is_empty() || Some(labels) == template_labels,
    };

    if spec.manual_selector != Some(true) {
        let labels = spec
            .template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
            labels.entry(key.to_owned()).or_insert_with(|| name.clone());
        }
        for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
            labels.entry(key.to_owned()).or_insert_with(|| uid.clone());
        }
        spec.selector
            .get_or_insert_with(LabelSelector::default)
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .entry(CONTROLLER_UID_LABEL.to_owned())
            .or_insert(uid);
    }
    if follows_template
        && let Some(labels) = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
    {
        job.metadata.labels = Some(labels);
    }
}
