//! Job validation: `pkg/apis/batch/validation/validation.go` (job.md §1, §2, §7, §8) and the
//! parts of `pkg/registry/batch/job/strategy.go` that choose what runs (`Validate`,
//! `ValidateUpdate`, `WarningsOnCreate`, `WarningsOnUpdate`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, JobStatus, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule,
    UncountedTerminatedPods,
};
use k8s_openapi::api::core::v1::{Affinity, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use serde::Serialize;

use crate::defaults::job::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
};
use crate::field::{BadValue, ErrorList, FieldError, Path, go_quote};
use crate::validation::{meta, names, pod};

/// Options that differ between a Job and a CronJob's job template.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobSpecOpts {
    /// The spec is a CronJob's `jobTemplate.spec` (J-6: no selector, no manualSelector).
    pub in_cronjob_template: bool,
}

/// `maxParallelismForIndexedJob`: caps the length of `status.completedIndexes`.
const MAX_PARALLELISM_FOR_INDEXED_JOB: i32 = 100_000;
/// `maxFailedIndexesForIndexedJob`.
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i32 = 100_000;
/// `completionsSoftLimit`: above it, per-index backoff needs tighter limits.
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
/// `parallelismLimitForHighCompletions`.
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
/// `maxFailedIndexesLimitForHighCompletions`.
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
/// `parallelismSoftLimitForUnlimitedCompletions` of `WarningsForJobSpec`.
const PARALLELISM_SOFT_LIMIT_FOR_WARNING: i32 = 10_000;
/// J-60: at most 20 pod failure policy rules.
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
/// J-61: at most 255 exit codes per rule.
const MAX_ON_EXIT_CODES_VALUES: usize = 255;
/// J-62: at most 20 condition patterns per rule.
const MAX_ON_POD_CONDITIONS_PATTERNS: usize = 20;
/// `maxManagedByLength`.
const MAX_MANAGED_BY_LENGTH: usize = 63;
/// J-70: `succeededIndexes` is at most 64 KiB.
const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;
/// J-70: at most 20 success policy rules.
const MAX_SUCCESS_POLICY_RULES: usize = 20;

/// apimachinery's `FieldImmutableErrorMsg`.
pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";
/// apimachinery's `IsNegativeErrorMsg` (V-30).
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";

const NON_INDEXED: &str = "NonIndexed";
const INDEXED: &str = "Indexed";
const RESTART_NEVER: &str = "Never";
const RESTART_ON_FAILURE: &str = "OnFailure";
/// `sets.List(supportedPodFailurePolicyActions)`: sorted.
const POD_FAILURE_POLICY_ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];
/// `sets.List(supportedPodFailurePolicyOnExitCodesOperator)`.
const ON_EXIT_CODES_OPERATORS: [&str; 2] = ["In", "NotIn"];
/// `sets.List(supportedPodFailurePolicyOnPodConditionsStatus)`.
const CONDITION_STATUSES: [&str; 3] = ["False", "True", "Unknown"];
/// `sets.List(supportedPodReplacementPolicy)`.
const POD_REPLACEMENT_POLICIES: [&str; 2] = ["Failed", "TerminatingOrFailed"];

/// Kubernetes' warning when a Job or CronJob name is not a DNS label (J-2).
pub(crate) fn name_warning(name: &str) -> Option<String> {
    let msgs = names::is_dns1123_label(name);
    (!msgs.is_empty()).then(|| {
        // Go prints the []string with %v: `[msg1 msg2]`.
        format!(
            "metadata.name: this is used in Pod names and hostnames, which can result in \
             surprising behavior; a DNS label is recommended: [{}]",
            msgs.join(" ")
        )
    })
}

/// The Job strategy's `Validate`: `ValidateJob` with the prefixed-label check on (J-2, J-10,
/// job.md §1). Call after defaulting and `generate_selector`.
pub fn validate_job(job: &Job) -> ErrorList {
    validate_job_with(job, true)
}

/// `ValidateJob(job, opts)`; `require_prefixed_labels` is `opts.RequirePrefixedLabels`.
fn validate_job_with(job: &Job, require_prefixed_labels: bool) -> ErrorList {
    let empty = JobSpec::default();
    let spec = job.spec.as_ref().unwrap_or(&empty);
    let meta_path = Path::new("metadata");
    // `ValidateReplicationControllerName` is `NameIsDNSSubdomain` (V-1).
    let mut errs = meta::validate_object_meta(
        &job.metadata,
        true,
        names::name_is_dns_subdomain,
        &meta_path,
    );
    errs.extend(validate_generated_selector(
        job,
        spec,
        require_prefixed_labels,
    ));
    errs.extend(validate_job_spec(
        spec,
        &Path::new("spec"),
        JobSpecOpts::default(),
    ));

    // J-2: Indexed pods get the hostname `<name>-<index>`, which must be a DNS label.
    if spec.completion_mode.as_deref() == Some(INDEXED)
        && let Some(completions) = spec.completions.filter(|c| *c > 0)
    {
        let name = job.metadata.name.as_deref().unwrap_or("");
        let hostname = format!("{name}-{}", completions - 1);
        if !names::is_dns1123_label(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                &meta_path.child("name"),
                name,
                format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errs
}

/// `ValidateJobStatusUpdate` with the options `getStatusValidationOptions` picks while
/// JobManagedBy is on (beta, on by default since 1.32) (J-92): a write to `/status` must
/// leave the Job a status its clients can trust, whoever manages it. Most rules apply only
/// when a field they read changes, as upstream: a status that was already off (a completed
/// index beyond a scaled-down Indexed Job's completions, say) does not block unrelated writes
/// while the controller catches up.
pub fn validate_job_status_update(new: &Job, old: &Job) -> ErrorList {
    let empty = JobStatus::default();
    let status = new.status.as_ref().unwrap_or(&empty);
    let old_status = old.status.as_ref().unwrap_or(&empty);
    let rules = StatusRules::for_update(new, status, old_status);
    let path = Path::new("status");
    let mut errs = validate_job_status(new, status, &rules, &path);

    let conditions = &path.child("conditions");
    for type_ in ["Failed", "Complete", "FailureTarget"] {
        if condition_true(old_status, type_) && !condition_true(status, type_) {
            errs.push(condition_error(
                conditions,
                format!("cannot disable the terminal {type_}=True condition"),
            ));
        }
    }
    let failed = status.failed.unwrap_or(0);
    if failed < old_status.failed.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &path.child("failed"),
            failed,
            "cannot decrease the failed counter",
        ));
    }
    let succeeded = status.succeeded.unwrap_or(0);
    if rules.reject_decreasing_succeeded && succeeded < old_status.succeeded.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &path.child("succeeded"),
            succeeded,
            "cannot decrease the succeeded counter",
        ));
    }
    // A completionTime may be removed here; a Complete Job without one is refused by
    // `validate_job_status`.
    if let (Some(time), Some(old_time)) = (&status.completion_time, &old_status.completion_time)
        && time != old_time
    {
        errs.push(FieldError::invalid(
            &path.child("completionTime"),
            go_time(time),
            "completionTime cannot be mutated",
        ));
    }
    // startTime may go from unset to set; once set it changes only while the Job is
    // suspended (J-41 resets it on suspension).
    let suspended = new.spec.as_ref().and_then(|s| s.suspend) == Some(true);
    if old_status.start_time.is_some() && status.start_time != old_status.start_time && !suspended {
        errs.push(FieldError::required(
            &path.child("startTime"),
            "startTime cannot be removed for unsuspended job",
        ));
    }
    let met = condition_true(status, SUCCESS_CRITERIA_MET);
    let old_met = condition_true(old_status, SUCCESS_CRITERIA_MET);
    if old_met && !met {
        errs.push(condition_error(
            conditions,
            "cannot disable the SuccessCriteriaMet=True condition",
        ));
    }
    if condition_true(old_status, "Complete") && !old_met && met {
        errs.push(condition_error(
            conditions,
            "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions",
        ));
    }
    errs
}

const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";

/// `JobStatusValidationOptions` as `getStatusValidationOptions` fills them with JobManagedBy
/// on. The rules always on there (the terminal conditions stay, failed never decreases,
/// completionTime is never changed, SuccessCriteriaMet is allowed for every Job) are not
/// flags here.
struct StatusRules {
    reject_decreasing_succeeded: bool,
    reject_invalid_completed_indexes: bool,
    reject_invalid_failed_indexes: bool,
    reject_completed_indexes_for_non_indexed: bool,
    reject_failed_indexes_without_backoff_limit_per_index: bool,
    reject_failed_indexes_overlapping_completed: bool,
    reject_failed_without_failure_target: bool,
    reject_complete_without_success_criteria_met: bool,
    reject_finished_with_active: bool,
    reject_finished_without_start_time: bool,
    reject_finished_with_uncounted: bool,
    reject_completion_time_before_start_time: bool,
    reject_completion_time_without_complete: bool,
    reject_complete_without_completion_time: bool,
    reject_complete_and_failed: bool,
    reject_complete_and_failure_target: bool,
    reject_more_ready_than_active: bool,
    reject_finished_with_terminating: bool,
}

impl StatusRules {
    fn for_update(job: &Job, new: &JobStatus, old: &JobStatus) -> StatusRules {
        let spec = job.spec.as_ref();
        let indexed = spec.and_then(|s| s.completion_mode.as_deref()) == Some(INDEXED);
        let completions = spec.and_then(|s| s.completions);
        let changed = |type_: &str| condition_true(new, type_) != condition_true(old, type_);
        let finished = is_finished(new) != is_finished(old);
        let complete = changed("Complete");
        let failed = changed("Failed");
        let failure_target = changed("FailureTarget");
        let success_criteria_met = changed(SUCCESS_CRITERIA_MET);
        let completed_indexes = new.completed_indexes.as_deref().unwrap_or("")
            != old.completed_indexes.as_deref().unwrap_or("");
        let failed_indexes = new.failed_indexes != old.failed_indexes;
        let active = new.active.unwrap_or(0) != old.active.unwrap_or(0);
        let start_time = new.start_time != old.start_time;
        let completion_time = new.completion_time != old.completion_time;
        let uncounted = !uncounted_equal(
            new.uncounted_terminated_pods.as_ref(),
            old.uncounted_terminated_pods.as_ref(),
        );
        // A suspended Job of zero completions completes without ever starting.
        let suspended_with_zero_completions =
            spec.and_then(|s| s.suspend) == Some(true) && completions == Some(0);
        StatusRules {
            // An elastic Indexed Job (completions = parallelism) may be scaled down.
            reject_decreasing_succeeded: !indexed
                || completions != spec.and_then(|s| s.parallelism),
            reject_invalid_completed_indexes: completed_indexes,
            reject_invalid_failed_indexes: failed_indexes,
            reject_completed_indexes_for_non_indexed: completed_indexes,
            reject_failed_indexes_without_backoff_limit_per_index: failed_indexes,
            reject_failed_indexes_overlapping_completed: failed_indexes || completed_indexes,
            reject_failed_without_failure_target: failed || failed_indexes,
            reject_complete_without_success_criteria_met: complete || success_criteria_met,
            reject_finished_with_active: finished || active,
            reject_finished_without_start_time: (finished || start_time)
                && !suspended_with_zero_completions,
            reject_finished_with_uncounted: finished || uncounted,
            reject_completion_time_before_start_time: start_time || completion_time,
            reject_completion_time_without_complete: complete || completion_time,
            reject_complete_without_completion_time: complete || completion_time,
            reject_complete_and_failed: complete || failed,
            reject_complete_and_failure_target: complete || failure_target,
            reject_more_ready_than_active: new.ready != old.ready || active,
            reject_finished_with_terminating: finished || new.terminating != old.terminating,
        }
    }
}

/// `validateJobStatus`: counters are never negative, uncounted pods are named once each, and
/// the conditions, times, counters and indexes agree with each other where `rules` ask.
fn validate_job_status(
    job: &Job,
    status: &JobStatus,
    rules: &StatusRules,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let counters = [
        ("active", status.active),
        ("succeeded", status.succeeded),
        ("failed", status.failed),
        ("ready", status.ready),
        ("terminating", status.terminating),
    ];
    for (name, value) in counters {
        if let Some(v) = value {
            errs.extend(validate_non_negative(i64::from(v), &path.child(name)));
        }
    }
    if let Some(uncounted) = &status.uncounted_terminated_pods {
        let uncounted_path = path.child("uncountedTerminatedPods");
        let mut seen = BTreeSet::new();
        for (list, name) in [
            (&uncounted.succeeded, "succeeded"),
            (&uncounted.failed, "failed"),
        ] {
            for (i, uid) in list.iter().flatten().enumerate() {
                let item = uncounted_path.child(name).index(i);
                if uid.is_empty() {
                    errs.push(FieldError::invalid(&item, uid, "must not be empty"));
                } else if !seen.insert(uid.as_str()) {
                    errs.push(FieldError::duplicate(&item, uid));
                }
            }
        }
    }

    let conditions = &path.child("conditions");
    let complete = condition_true(status, "Complete");
    let failed = condition_true(status, "Failed");
    let failure_target = condition_true(status, "FailureTarget");
    let met = condition_true(status, SUCCESS_CRITERIA_MET);
    let finished = complete || failed;
    if rules.reject_complete_and_failed && complete && failed {
        errs.push(condition_error(
            conditions,
            "cannot set Complete=True and Failed=true conditions",
        ));
    }
    if rules.reject_complete_and_failure_target && complete && failure_target {
        errs.push(condition_error(
            conditions,
            "cannot set Complete=True and FailureTarget=true conditions",
        ));
    }
    let completion_path = path.child("completionTime");
    if rules.reject_completion_time_without_complete
        && let Some(time) = &status.completion_time
        && !complete
    {
        errs.push(FieldError::invalid(
            &completion_path,
            go_time(time),
            "cannot set completionTime when there is no Complete=True condition",
        ));
    }
    if rules.reject_complete_without_completion_time && complete && status.completion_time.is_none()
    {
        errs.push(FieldError::required(
            &completion_path,
            "completionTime is required for Complete jobs",
        ));
    }
    if rules.reject_completion_time_before_start_time
        && let (Some(start), Some(end)) = (&status.start_time, &status.completion_time)
        && end.0 < start.0
    {
        errs.push(FieldError::invalid(
            &completion_path,
            go_time(end),
            "completionTime cannot be set before startTime",
        ));
    }
    if rules.reject_failed_without_failure_target && failed && !failure_target {
        errs.push(condition_error(
            conditions,
            "cannot set Failed=True condition without the FailureTarget=true condition",
        ));
    }
    if rules.reject_complete_without_success_criteria_met && complete && !met {
        errs.push(condition_error(
            conditions,
            "cannot set Complete=True condition without the SuccessCriteriaMet=true condition",
        ));
    }
    let active = status.active.unwrap_or(0);
    if rules.reject_finished_with_active && finished && active > 0 {
        errs.push(FieldError::invalid(
            &path.child("active"),
            active,
            "active>0 is invalid for finished job",
        ));
    }
    if rules.reject_finished_without_start_time && finished && status.start_time.is_none() {
        errs.push(FieldError::required(
            &path.child("startTime"),
            "startTime is required for finished job",
        ));
    }
    if rules.reject_finished_with_uncounted
        && finished
        && let Some(uncounted) = &status.uncounted_terminated_pods
        && [&uncounted.succeeded, &uncounted.failed]
            .iter()
            .any(|list| list.as_ref().is_some_and(|uids| !uids.is_empty()))
    {
        errs.push(FieldError::invalid(
            &path.child("uncountedTerminatedPods"),
            go_uncounted(uncounted),
            "uncountedTerminatedPods needs to be empty for finished job",
        ));
    }

    let spec = job.spec.as_ref();
    let completions = spec.and_then(|s| s.completions);
    let per_index = spec.and_then(|s| s.backoff_limit_per_index).is_some();
    let indexed = spec.and_then(|s| s.completion_mode.as_deref()) == Some(INDEXED);
    let completed_indexes = status.completed_indexes.as_deref().unwrap_or("");
    let completed_path = path.child("completedIndexes");
    let failed_path = path.child("failedIndexes");
    if rules.reject_invalid_completed_indexes
        && let Some(completions) = completions
        && let Err(e) = validate_indexes_format(completed_indexes, i64::from(completions))
    {
        errs.push(FieldError::invalid(
            &completed_path,
            completed_indexes,
            format!("error parsing completedIndexes: {e}"),
        ));
    }
    if rules.reject_invalid_failed_indexes
        && per_index
        && let (Some(completions), Some(failed_indexes)) = (completions, &status.failed_indexes)
        && let Err(e) = validate_indexes_format(failed_indexes, i64::from(completions))
    {
        errs.push(FieldError::invalid(
            &failed_path,
            failed_indexes,
            format!("error parsing failedIndexes: {e}"),
        ));
    }
    if rules.reject_completed_indexes_for_non_indexed && !completed_indexes.is_empty() && !indexed {
        errs.push(FieldError::invalid(
            &completed_path,
            completed_indexes,
            "cannot set non-empty completedIndexes when non-indexed completion mode",
        ));
    }
    // This also keeps failedIndexes off NonIndexed Jobs, which have no backoffLimitPerIndex.
    if rules.reject_failed_indexes_without_backoff_limit_per_index
        && !per_index
        && let Some(failed_indexes) = &status.failed_indexes
    {
        errs.push(FieldError::invalid(
            &failed_path,
            failed_indexes,
            "cannot set non-null failedIndexes when backoffLimitPerIndex is null",
        ));
    }
    if rules.reject_failed_indexes_overlapping_completed
        && let (Some(completions), Some(failed_indexes)) = (completions, &status.failed_indexes)
        && let Some(index) =
            indexes_overlap(completed_indexes, failed_indexes, i64::from(completions))
    {
        errs.push(FieldError::invalid(
            &failed_path,
            failed_indexes,
            format!("failedIndexes and completedIndexes overlap at index: {index}"),
        ));
    }
    if rules.reject_finished_with_terminating
        && finished
        && let Some(terminating) = status.terminating
        && terminating > 0
    {
        errs.push(FieldError::invalid(
            &path.child("terminating"),
            terminating,
            "terminating>0 is invalid for finished job",
        ));
    }
    if rules.reject_more_ready_than_active
        && let Some(ready) = status.ready
        && ready > active
    {
        errs.push(FieldError::invalid(
            &path.child("ready"),
            ready,
            "cannot set more ready pods than active",
        ));
    }
    // AllowForSuccessCriteriaMetInExtendedScope is on, so SuccessCriteriaMet is allowed on any
    // Job; these three pairings never are.
    if met && failed {
        errs.push(condition_error(
            conditions,
            "cannot set SuccessCriteriaMet=True and Failed=true conditions",
        ));
    }
    if met && failure_target {
        errs.push(condition_error(
            conditions,
            "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions",
        ));
    }
    if spec.is_some_and(|s| s.success_policy.is_some()) && !met && complete {
        errs.push(condition_error(
            conditions,
            "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True",
        ));
    }
    errs
}

/// An error about the conditions as a whole: Go's `field.OmitValueType{}` prints no value.
fn condition_error(conditions: &Path, detail: impl Into<String>) -> FieldError {
    FieldError::invalid(conditions, BadValue::Omit, detail)
}

/// `IsConditionTrue` on a Job's status.
fn condition_true(status: &JobStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// `IsJobFinished`: Complete or Failed is True.
fn is_finished(status: &JobStatus) -> bool {
    condition_true(status, "Complete") || condition_true(status, "Failed")
}

/// `apiequality.Semantic.DeepEqual` of two `uncountedTerminatedPods`: absent differs from
/// present, but within it an absent list equals an empty one.
fn uncounted_equal(
    a: Option<&UncountedTerminatedPods>,
    b: Option<&UncountedTerminatedPods>,
) -> bool {
    fn list(l: &Option<Vec<String>>) -> &[String] {
        l.as_deref().unwrap_or_default()
    }
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            list(&a.succeeded) == list(&b.succeeded) && list(&a.failed) == list(&b.failed)
        }
        _ => false,
    }
}

/// `validateFailedIndexesNotOverlapCompleted`: the first index both lists name, walking both
/// interval lists in order; an interval that does not parse is skipped (its format is
/// reported by the format rules).
fn indexes_overlap(completed: &str, failed: &str, completions: i64) -> Option<i64> {
    if completed.is_empty() || failed.is_empty() {
        return None;
    }
    let completed: Vec<&str> = completed.split(',').collect();
    let failed: Vec<&str> = failed.split(',').collect();
    let (mut c, mut f) = (0, 0);
    let mut c_range = parse_index_interval(completed[0], completions);
    let mut f_range = parse_index_interval(failed[0], completions);
    while c < completed.len() && f < failed.len() {
        let advance_completed = match (&c_range, &f_range) {
            (Err(_), _) => true,
            (_, Err(_)) => false,
            (Ok((cx, cy)), Ok((fx, fy))) => {
                if cx <= fy && fx <= cy {
                    return Some(*cx.max(fx));
                }
                cx <= fx
            }
        };
        if advance_completed {
            c += 1;
            if let Some(next) = completed.get(c) {
                c_range = parse_index_interval(next, completions);
            }
        } else {
            f += 1;
            if let Some(next) = failed.get(f) {
                f_range = parse_index_interval(next, completions);
            }
        }
    }
    None
}

/// A `*metav1.Time` as a field error shows it: Go's `time.Time.String()`, in the API
/// server's zone (UTC).
fn go_time(time: &Time) -> BadValue {
    let ts = time.0;
    let nanos = ts.subsec_nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    BadValue::Go(format!(
        "{}{fraction} +0000 UTC",
        ts.strftime("%Y-%m-%d %H:%M:%S")
    ))
}

/// An internal `batch.UncountedTerminatedPods` as Go's `%#v` prints it in a field error.
fn go_uncounted(uncounted: &UncountedTerminatedPods) -> BadValue {
    let list = |l: &Option<Vec<String>>| match l {
        None => "[]types.UID(nil)".to_owned(),
        Some(uids) => format!(
            "[]types.UID{{{}}}",
            uids.iter()
                .map(|u| go_quote(u))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    BadValue::Go(format!(
        "batch.UncountedTerminatedPods{{Succeeded:{}, Failed:{}}}",
        list(&uncounted.succeeded),
        list(&uncounted.failed)
    ))
}

/// The Job strategy's `ValidateUpdate`: `ValidateJob` on the new object followed by
/// `ValidateJobUpdate` (metadata update rules and the "Mutable after create" column of
/// job.md §1).
///
/// Like Kubernetes, the spec rules run in both halves, so a spec error is reported twice
/// among the causes; Kubernetes' Status message removes the duplicates (V-43).
pub fn validate_job_update(new: &Job, old: &Job) -> ErrorList {
    let empty = JobSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);

    // validationOptionsForJob: Jobs created before the prefixed labels existed are not
    // required to have them.
    let old_labels = template_labels(&old_spec.template);
    let require_prefixed_labels = old_labels
        .is_some_and(|l| l.contains_key(JOB_NAME_LABEL) && l.contains_key(CONTROLLER_UID_LABEL));
    // Scheduling directives of the template may change only while the Job is suspended and
    // has never started.
    let allow_mutable_scheduling = old_spec.suspend == Some(true)
        && old.status.as_ref().is_none_or(|s| s.start_time.is_none());

    let spec_path = Path::new("spec");
    let mut errs = validate_job_with(new, require_prefixed_labels);
    errs.extend(meta::validate_object_meta_update(
        &new.metadata,
        &old.metadata,
        &Path::new("metadata"),
    ));
    // ValidateJobSpecUpdate.
    errs.extend(validate_job_spec(
        new_spec,
        &spec_path,
        JobSpecOpts::default(),
    ));
    errs.extend(validate_completions_update(new_spec, old_spec, &spec_path));
    errs.extend(immutable(
        &new_spec.selector,
        &old_spec.selector,
        &spec_path.child("selector"),
    ));
    errs.extend(validate_pod_template_update(
        new_spec,
        old_spec,
        &spec_path,
        allow_mutable_scheduling,
    ));
    errs.extend(immutable(
        &new_spec.completion_mode,
        &old_spec.completion_mode,
        &spec_path.child("completionMode"),
    ));
    errs.extend(immutable(
        &new_spec.pod_failure_policy,
        &old_spec.pod_failure_policy,
        &spec_path.child("podFailurePolicy"),
    ));
    errs.extend(immutable(
        &new_spec.backoff_limit_per_index,
        &old_spec.backoff_limit_per_index,
        &spec_path.child("backoffLimitPerIndex"),
    ));
    errs.extend(immutable(
        &new_spec.managed_by,
        &old_spec.managed_by,
        &spec_path.child("managedBy"),
    ));
    errs.extend(immutable(
        &new_spec.success_policy,
        &old_spec.success_policy,
        &spec_path.child("successPolicy"),
    ));
    errs
}

/// `ValidateJobSpec` for a Job (selector required and matching the template labels), or
/// `ValidateJobTemplateSpec`'s spec part for a CronJob's `jobTemplate.spec` (J-6, C-6).
pub fn validate_job_spec(spec: &JobSpec, path: &Path, opts: JobSpecOpts) -> ErrorList {
    let mut errs = validate_job_spec_fields(spec, path);
    let selector_path = path.child("selector");
    if opts.in_cronjob_template {
        // J-6: the Job created from the template gets a generated selector.
        if let Some(selector) = &spec.selector {
            errs.push(FieldError::invalid(
                &selector_path,
                json(selector),
                "`selector` will be auto-generated",
            ));
        }
        if spec.manual_selector == Some(true) {
            errs.push(FieldError::not_supported(
                &path.child("manualSelector"),
                true,
                &["nil", "false"],
            ));
        }
        return errs;
    }

    match &spec.selector {
        None => errs.push(FieldError::required(&selector_path, "")),
        Some(selector) => errs.extend(validate_label_selector(selector, &selector_path)),
    }
    // Whether generated or manual, the selector must select the pods the Job creates.
    let labels = template_labels(&spec.template);
    let empty = BTreeMap::new();
    if label_selector_matches(spec.selector.as_ref(), labels.unwrap_or(&empty)) == Some(false) {
        errs.push(FieldError::invalid(
            &path.child("template").child("metadata").child("labels"),
            json(&labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs
}

/// The Job strategy's `WarningsOnCreate`: the DNS-label warning of J-2, then
/// `WarningsForJobSpec`.
pub fn warnings_on_create(job: &Job) -> Vec<String> {
    let mut warnings: Vec<String> = name_warning(job.metadata.name.as_deref().unwrap_or(""))
        .into_iter()
        .collect();
    if let Some(spec) = &job.spec {
        warnings.extend(warnings_for_job_spec(spec, &Path::new("spec")));
    }
    warnings
}

/// The Job strategy's `WarningsOnUpdate`: the spec warnings, only when the generation moved
/// (call after admission bumped it).
pub fn warnings_on_update(new: &Job, old: &Job) -> Vec<String> {
    match &new.spec {
        Some(spec) if new.metadata.generation != old.metadata.generation => {
            warnings_for_job_spec(spec, &Path::new("spec"))
        }
        _ => Vec::new(),
    }
}

/// `WarningsForJobSpec` (pkg/api/job): Indexed Jobs with very many completions and a high
/// parallelism may lose track of failed indexes.
pub(crate) fn warnings_for_job_spec(spec: &JobSpec, path: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    if spec.completion_mode.as_deref() == Some(INDEXED)
        && spec.completions.unwrap_or(0) > COMPLETIONS_SOFT_LIMIT
        && spec.parallelism.unwrap_or(0) > PARALLELISM_SOFT_LIMIT_FOR_WARNING
    {
        warnings.push(format!(
            "{path}: In Indexed Jobs with a number of completions higher than 10^5 and a \
             parallelism higher than 10^4, Kubernetes might not be able to track \
             completedIndexes when a big number of indexes fail"
        ));
    }
    warnings
}

/// `validateGeneratedSelector` (J-10): with a generated selector, the template carries the
/// generated labels with the Job's name and uid, and the selector selects them.
fn validate_generated_selector(
    job: &Job,
    spec: &JobSpec,
    validate_batch_labels: bool,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.manual_selector == Some(true) {
        return errs;
    }
    // A missing selector is reported by validate_job_spec.
    let Some(selector) = &spec.selector else {
        return errs;
    };
    let uid = job.metadata.uid.as_deref().unwrap_or("");
    let name = job.metadata.name.as_deref().unwrap_or("");
    // An empty uid would give the selector `controller-uid=`.
    if uid.is_empty() {
        errs.push(FieldError::required(
            &Path::new("metadata").child("uid"),
            "",
        ));
    }

    let template_meta = spec.template.metadata.clone().unwrap_or_default();
    let template_meta_path = Path::new("spec").child("template").child("metadata");
    let mut expected = BTreeMap::new();
    let mut required_labels = vec![
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ];
    if validate_batch_labels {
        required_labels.extend([(CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)]);
    }
    for (key, value) in required_labels {
        errs.extend(validate_has_label(
            &template_meta,
            &template_meta_path,
            key,
            value,
        ));
        expected.insert(key.to_owned(), value.to_owned());
    }
    if label_selector_matches(Some(selector), &expected) == Some(false) {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("selector"),
            json(selector),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// core validation's `ValidateHasLabel`.
fn validate_has_label(
    meta: &ObjectMeta,
    path: &Path,
    key: &str,
    expected: &str,
) -> Option<FieldError> {
    let label_path = path.child("labels").key(key);
    let detail = format!("must be '{expected}'");
    match meta.labels.as_ref().and_then(|l| l.get(key)) {
        None => Some(FieldError::required(&label_path, detail)),
        Some(actual) if actual != expected => {
            Some(FieldError::invalid(&label_path, json(&meta.labels), detail))
        }
        Some(_) => None,
    }
}

/// `validateJobSpec`: the rules shared by Jobs and CronJob job templates (job.md §1).
fn validate_job_spec_fields(spec: &JobSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let non_negative = [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
        (
            "backoffLimitPerIndex",
            spec.backoff_limit_per_index.map(i64::from),
        ),
    ];
    for (name, value) in non_negative {
        if let Some(value) = value {
            errs.extend(validate_non_negative(value, &path.child(name)));
        }
    }
    if let Some(max_failed) = spec.max_failed_indexes {
        errs.extend(validate_non_negative(
            max_failed.into(),
            &path.child("maxFailedIndexes"),
        ));
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(managed_by) = &spec.managed_by {
        let managed_by_path = path.child("managedBy");
        errs.extend(names::is_domain_prefixed_path(&managed_by_path, managed_by));
        if managed_by.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(FieldError::too_long(
                &managed_by_path,
                MAX_MANAGED_BY_LENGTH,
            ));
        }
    }

    let mode = spec.completion_mode.as_deref();
    if let Some(mode) = mode {
        if mode != NON_INDEXED && mode != INDEXED {
            errs.push(FieldError::not_supported(
                &path.child("completionMode"),
                mode,
                &[NON_INDEXED, INDEXED],
            ));
        }
        if mode == INDEXED {
            errs.extend(validate_indexed_limits(spec, path));
        }
    }
    if mode.is_none_or(|m| m == NON_INDEXED) {
        if let Some(v) = spec.backoff_limit_per_index {
            errs.push(FieldError::invalid(
                &path.child("backoffLimitPerIndex"),
                v,
                "requires indexed completion mode",
            ));
        }
        if let Some(v) = spec.max_failed_indexes {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                v,
                "requires indexed completion mode",
            ));
        }
    }

    if let Some(policy) = &spec.pod_failure_policy {
        errs.extend(validate_pod_failure_policy(
            spec,
            policy,
            &path.child("podFailurePolicy"),
        ));
    }
    if let Some(policy) = &spec.success_policy {
        let success_path = path.child("successPolicy");
        if mode != Some(INDEXED) {
            errs.push(FieldError::invalid(
                &success_path,
                json(policy),
                "requires indexed completion mode",
            ));
        } else {
            errs.extend(validate_success_policy(spec, policy, &success_path));
        }
    }
    errs.extend(validate_pod_replacement_policy(
        spec,
        &path.child("podReplacementPolicy"),
    ));

    let template_path = path.child("template");
    errs.extend(pod::validate_pod_template_spec(
        &spec.template,
        &template_path,
    ));
    errs.extend(validate_restart_policy(spec, &template_path));
    errs
}

/// The Indexed-only limits of `validateJobSpec` (job.md §1: parallelism, maxFailedIndexes,
/// completions above 10^5 with backoffLimitPerIndex).
fn validate_indexed_limits(spec: &JobSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.completions.is_none() {
        errs.push(FieldError::required(
            &path.child("completions"),
            format!("when completion mode is {INDEXED}"),
        ));
    }
    if let Some(p) = spec
        .parallelism
        .filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB)
    {
        errs.push(FieldError::invalid(
            &path.child("parallelism"),
            p,
            format!(
                "must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is {INDEXED}"
            ),
        ));
    }
    if let (Some(c), Some(m)) = (spec.completions, spec.max_failed_indexes)
        && m > c
    {
        errs.push(FieldError::invalid(
            &path.child("maxFailedIndexes"),
            m,
            "must be less than or equal to completions",
        ));
    }
    if let Some(m) = spec
        .max_failed_indexes
        .filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED_JOB)
    {
        errs.push(FieldError::invalid(
            &path.child("maxFailedIndexes"),
            m,
            format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
        ));
    }
    if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT)
        && spec.backoff_limit_per_index.is_some()
    {
        let suffix = format!(
            "when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"
        );
        if spec.max_failed_indexes.is_none() {
            errs.push(FieldError::required(
                &path.child("maxFailedIndexes"),
                format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
            ));
        }
        if let Some(p) = spec
            .parallelism
            .filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS)
        {
            errs.push(FieldError::invalid(
                &path.child("parallelism"),
                p,
                format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"),
            ));
        }
        if let Some(m) = spec
            .max_failed_indexes
            .filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS)
        {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                format!(
                    "must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"
                ),
            ));
        }
    }
    errs
}

/// J-5: Jobs restart failed pods themselves, so the template's restartPolicy must be
/// OnFailure or Never, and Never when a pod failure policy decides on failures.
fn validate_restart_policy(spec: &JobSpec, template_path: &Path) -> Option<FieldError> {
    let path = template_path.child("spec").child("restartPolicy");
    let policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    // Pod defaulting turns an unset restartPolicy into Always, so both mean "not set".
    if policy.is_empty() || policy == "Always" {
        Some(
            FieldError::required(
                &path,
                format!(r#"valid values: "{RESTART_ON_FAILURE}", "{RESTART_NEVER}""#),
            )
            .with_hint(format!(
                "add `restartPolicy: Never` (or `OnFailure`) under {}: a Job retries failed \
                 pods itself, so the pod default `Always` is not allowed",
                template_path.child("spec")
            )),
        )
    } else if policy != RESTART_ON_FAILURE && policy != RESTART_NEVER {
        Some(FieldError::not_supported(
            &path,
            policy,
            &[RESTART_ON_FAILURE, RESTART_NEVER],
        ))
    } else if spec.pod_failure_policy.is_some() && policy != RESTART_NEVER {
        Some(FieldError::invalid(
            &path,
            policy,
            format!(r#"only "{RESTART_NEVER}" is supported when podFailurePolicy is specified"#),
        ))
    } else {
        None
    }
}

/// `validatePodFailurePolicy` (J-60…J-62).
fn validate_pod_failure_policy(
    spec: &JobSpec,
    policy: &PodFailurePolicy,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let rules_path = path.child("rules");
    if policy.rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            policy.rules.len(),
            MAX_POD_FAILURE_POLICY_RULES,
        ));
    }
    let pod_spec = spec.template.spec.as_ref();
    let container_names: BTreeSet<&str> = pod_spec
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .map(|c| c.name.as_str())
        .collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        errs.extend(validate_pod_failure_policy_rule(
            spec,
            rule,
            &rules_path.index(i),
            &container_names,
        ));
    }
    errs
}

/// `validatePodFailurePolicyRule` (J-60).
fn validate_pod_failure_policy_rule(
    spec: &JobSpec,
    rule: &PodFailurePolicyRule,
    path: &Path,
    container_names: &BTreeSet<&str>,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let action_path = path.child("action");
    let action = rule.action.as_str();
    if action.is_empty() {
        errs.push(FieldError::required(
            &action_path,
            format!(
                "valid values: {}",
                go_string_list(&POD_FAILURE_POLICY_ACTIONS)
            ),
        ));
    } else if action == "FailIndex" {
        // E6: failing an index only exists with per-index backoff.
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::invalid(
                &action_path,
                action,
                "requires the backoffLimitPerIndex to be set",
            ));
        }
    } else if !POD_FAILURE_POLICY_ACTIONS.contains(&action) {
        errs.push(FieldError::not_supported(
            &action_path,
            action,
            &POD_FAILURE_POLICY_ACTIONS,
        ));
    }

    let patterns = rule.on_pod_conditions.as_deref().unwrap_or(&[]);
    if let Some(on_exit_codes) = &rule.on_exit_codes {
        errs.extend(validate_on_exit_codes(
            on_exit_codes,
            &path.child("onExitCodes"),
            container_names,
        ));
    }
    if !patterns.is_empty() {
        errs.extend(validate_on_pod_conditions(
            patterns,
            &path.child("onPodConditions"),
        ));
    }
    match (rule.on_exit_codes.is_some(), !patterns.is_empty()) {
        (true, true) => errs.push(FieldError::invalid(
            path,
            BadValue::Omit,
            "specifying both OnExitCodes and OnPodConditions is not supported",
        )),
        (false, false) => errs.push(FieldError::invalid(
            path,
            BadValue::Omit,
            "specifying one of OnExitCodes and OnPodConditions is required",
        )),
        _ => {}
    }
    errs
}

/// `validatePodFailurePolicyRuleOnPodConditions` (J-62).
fn validate_on_pod_conditions(
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if patterns.len() > MAX_ON_POD_CONDITIONS_PATTERNS {
        errs.push(FieldError::too_many(
            path,
            patterns.len(),
            MAX_ON_POD_CONDITIONS_PATTERNS,
        ));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let pattern_path = path.index(j);
        errs.extend(meta::validate_qualified_name(
            &pattern.type_,
            &pattern_path.child("type"),
        ));
        let status_path = pattern_path.child("status");
        let status = pattern.status.as_deref().unwrap_or("");
        if status.is_empty() {
            errs.push(FieldError::required(
                &status_path,
                format!("valid values: {}", go_string_list(&CONDITION_STATUSES)),
            ));
        } else if !CONDITION_STATUSES.contains(&status) {
            errs.push(FieldError::not_supported(
                &status_path,
                status,
                &CONDITION_STATUSES,
            ));
        }
    }
    errs
}

/// `validatePodFailurePolicyRuleOnExitCodes` (J-61, E4, E5).
fn validate_on_exit_codes(
    req: &PodFailurePolicyOnExitCodesRequirement,
    path: &Path,
    container_names: &BTreeSet<&str>,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let operator_path = path.child("operator");
    let operator = req.operator.as_str();
    if operator.is_empty() {
        errs.push(FieldError::required(
            &operator_path,
            format!("valid values: {}", go_string_list(&ON_EXIT_CODES_OPERATORS)),
        ));
    } else if !ON_EXIT_CODES_OPERATORS.contains(&operator) {
        errs.push(FieldError::not_supported(
            &operator_path,
            operator,
            &ON_EXIT_CODES_OPERATORS,
        ));
    }
    if let Some(name) = &req.container_name
        && !container_names.contains(name.as_str())
    {
        errs.push(FieldError::invalid(
            &path.child("containerName"),
            name,
            "must be one of the container or initContainer names in the pod template",
        ));
    }

    let values_path = path.child("values");
    if req.values.is_empty() {
        errs.push(FieldError::invalid(
            &values_path,
            json(&req.values),
            "at least one value is required",
        ));
    } else if req.values.len() > MAX_ON_EXIT_CODES_VALUES {
        errs.push(FieldError::too_many(
            &values_path,
            req.values.len(),
            MAX_ON_EXIT_CODES_VALUES,
        ));
    }
    let mut seen = BTreeSet::new();
    for (j, &value) in req.values.iter().enumerate() {
        let value_path = values_path.index(j);
        // Exit code 0 is success: it can never be a failure to match.
        if operator == "In" && value == 0 {
            errs.push(FieldError::invalid(
                &value_path,
                value,
                "must not be 0 for the In operator",
            ));
        }
        if !seen.insert(value) {
            errs.push(FieldError::duplicate(&value_path, value));
        }
    }
    if req.values.windows(2).any(|w| w[0] > w[1]) {
        errs.push(FieldError::invalid(
            &values_path,
            json(&req.values),
            "must be ordered",
        ));
    }
    errs
}

/// `validatePodReplacementPolicy` (job.md §1): with a pod failure policy only `Failed`.
fn validate_pod_replacement_policy(spec: &JobSpec, path: &Path) -> Option<FieldError> {
    let policy = spec.pod_replacement_policy.as_deref()?;
    if spec.pod_failure_policy.is_some() {
        (policy != "Failed").then(|| FieldError::not_supported(path, policy, &["Failed"]))
    } else {
        (!POD_REPLACEMENT_POLICIES.contains(&policy))
            .then(|| FieldError::not_supported(path, policy, &POD_REPLACEMENT_POLICIES))
    }
}

/// `validateSuccessPolicy` (J-70); only reached for Indexed Jobs.
fn validate_success_policy(spec: &JobSpec, policy: &SuccessPolicy, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let rules_path = path.child("rules");
    if policy.rules.is_empty() {
        errs.push(FieldError::required(
            &rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if policy.rules.len() > MAX_SUCCESS_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            policy.rules.len(),
            MAX_SUCCESS_POLICY_RULES,
        ));
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        errs.extend(validate_success_policy_rule(
            spec,
            rule,
            &rules_path.index(i),
        ));
    }
    errs
}

/// `validateSuccessPolicyRule` (J-70). Kubernetes dereferences `completions` here (it is
/// required for Indexed Jobs); without it the comparisons against completions are skipped.
fn validate_success_policy_rule(
    spec: &JobSpec,
    rule: &SuccessPolicyRule,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
        errs.push(FieldError::required(
            path,
            "at least one of succeededCount or succeededIndexes must be specified",
        ));
    }
    let mut total_indexes = 0i64;
    if let Some(indexes) = &rule.succeeded_indexes {
        let indexes_path = path.child("succeededIndexes");
        if indexes.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
            errs.push(FieldError::too_long(
                &indexes_path,
                MAX_SUCCEEDED_INDEXES_LENGTH,
            ));
        }
        if let Some(completions) = spec.completions {
            // Go keeps the zero total when parsing fails.
            match validate_indexes_format(indexes, completions.into()) {
                Ok(total) => total_indexes = total,
                Err(err) => errs.push(FieldError::invalid(
                    &indexes_path,
                    indexes,
                    format!("error parsing succeededIndexes: {err}"),
                )),
            }
        }
    }
    if let Some(count) = rule.succeeded_count {
        let count_path = path.child("succeededCount");
        errs.extend(validate_non_negative(count.into(), &count_path));
        if let Some(completions) = spec.completions {
            if count > completions {
                errs.push(FieldError::invalid(
                    &count_path,
                    count,
                    format!(
                        "must be less than or equal to {completions} (the number of specified completions)"
                    ),
                ));
            }
            if rule.succeeded_indexes.is_some() && i64::from(count) > total_indexes {
                errs.push(FieldError::invalid(
                    &count_path,
                    count,
                    format!(
                        "must be less than or equal to {total_indexes} (the number of indexes in the specified succeededIndexes field)"
                    ),
                ));
            }
        }
    }
    errs
}

/// `validateIndexesFormat` (J-70, J-81): comma-separated, strictly increasing indexes and
/// `a-b` intervals below `completions`; returns how many indexes the string names.
pub(crate) fn validate_indexes_format(indexes: &str, completions: i64) -> Result<i64, String> {
    if indexes.is_empty() {
        return Ok(0);
    }
    let mut last: Option<i64> = None;
    let mut total = 0i64;
    for interval in indexes.split(',') {
        let (x, y) = parse_index_interval(interval, completions)?;
        if let Some(last) = last
            && last >= x
        {
            return Err(format!(
                "non-increasing order, previous: {last}, current: {x}"
            ));
        }
        total += y - x + 1;
        last = Some(y);
    }
    Ok(total)
}

/// `parseIndexInterval`: `n` or `a-b` with both ends below `completions` and a < b.
fn parse_index_interval(interval: &str, completions: i64) -> Result<(i64, i64), String> {
    let limits: Vec<&str> = interval.split('-').collect();
    if limits.len() > 2 {
        return Err(format!(
            "the fragment {} violates the requirement that an index interval can have at most two parts separated by '-'",
            crate::field::go_quote(interval)
        ));
    }
    let parse = |s: &str| -> Result<i64, String> {
        // Go's strconv.Atoi: optional sign, decimal digits, 64-bit range.
        let n: i64 = s.parse().map_err(|_| {
            format!(
                "cannot convert string to integer for index: {}",
                crate::field::go_quote(s)
            )
        })?;
        if n >= completions {
            return Err(format!("too large index: {}", crate::field::go_quote(s)));
        }
        Ok(n)
    };
    let x = parse(limits[0])?;
    match limits.get(1) {
        None => Ok((x, x)),
        Some(end) => {
            let y = parse(end)?;
            if x >= y {
                return Err(format!("non-increasing order, previous: {x}, current: {y}"));
            }
            Ok((x, y))
        }
    }
}

/// `validateCompletions` with ElasticIndexedJob on (GA): NonIndexed completions are
/// immutable; Indexed ones may change together with parallelism (new completions equal to
/// new parallelism).
fn validate_completions_update(
    spec: &JobSpec,
    old: &JobSpec,
    spec_path: &Path,
) -> Option<FieldError> {
    let path = spec_path.child("completions");
    if spec.completion_mode.as_deref() != Some(INDEXED) {
        return immutable(&spec.completions, &old.completions, &path);
    }
    // Unchanged, or removed (the missing completions of an Indexed Job are reported by
    // validate_job_spec).
    let completions = spec
        .completions
        .filter(|_| spec.completions != old.completions)?;
    (spec.parallelism != Some(completions)).then(|| {
        FieldError::invalid(
            &path,
            completions,
            format!(
                "can only be modified in tandem with {}",
                spec_path.child("parallelism")
            ),
        )
    })
}

/// `validatePodTemplateUpdate`: the template is immutable, except that a suspended Job that
/// never started may change its scheduling directives (node affinity, node selector,
/// tolerations, scheduling gates) and the template's labels and annotations.
fn validate_pod_template_update(
    spec: &JobSpec,
    old: &JobSpec,
    spec_path: &Path,
    allow_mutable_scheduling: bool,
) -> Option<FieldError> {
    let template = &spec.template;
    let mut old_template = old.template.clone();
    if allow_mutable_scheduling {
        let empty = PodSpec::default();
        let new_pod = template.spec.as_ref().unwrap_or(&empty);
        let old_pod = old_template.spec.get_or_insert_with(PodSpec::default);
        match (&new_pod.affinity, &mut old_pod.affinity) {
            // Clearing the affinity is allowed when node affinity was all it held.
            (None, Some(old_affinity)) => {
                old_affinity.node_affinity = None;
                if *old_affinity == Affinity::default() {
                    old_pod.affinity = None;
                }
            }
            (Some(new_affinity), None) => {
                old_pod.affinity = Some(Affinity {
                    node_affinity: new_affinity.node_affinity.clone(),
                    ..Affinity::default()
                });
            }
            (Some(new_affinity), Some(old_affinity)) => {
                old_affinity.node_affinity = new_affinity.node_affinity.clone();
            }
            (None, None) => {}
        }
        old_pod.node_selector = new_pod.node_selector.clone();
        old_pod.tolerations = new_pod.tolerations.clone();
        old_pod.scheduling_gates = new_pod.scheduling_gates.clone();
        let new_meta = template.metadata.clone().unwrap_or_default();
        let old_meta = old_template
            .metadata
            .get_or_insert_with(ObjectMeta::default);
        old_meta.annotations = new_meta.annotations;
        old_meta.labels = new_meta.labels;
    }
    immutable(template, &old_template, &spec_path.child("template"))
}

/// `ValidateImmutableField`: "field is immutable" with the new value, unless semantically
/// equal to the old one.
pub(crate) fn immutable<T: Serialize>(new: &T, old: &T, path: &Path) -> Option<FieldError> {
    let new_value = json(new);
    (semantic(new_value.clone()) != semantic(json(old)))
        .then(|| FieldError::invalid(path, new_value, FIELD_IMMUTABLE))
}

/// `ValidateNonnegativeField` (V-30).
pub(crate) fn validate_non_negative(value: i64, path: &Path) -> Option<FieldError> {
    (value < 0).then(|| FieldError::invalid(path, value, IS_NEGATIVE))
}

/// `ValidateQualifiedName`: one Invalid error per problem `IsQualifiedName` finds.
/// apimachinery's `ValidateLabelSelector` (matchLabels, then each matchExpression).
pub(crate) fn validate_label_selector(selector: &LabelSelector, path: &Path) -> ErrorList {
    let mut errs =
        meta::validate_labels(selector.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let req_path = path.child("matchExpressions").index(i);
        let values = req.values.as_deref().unwrap_or(&[]);
        match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                &req_path.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                &req_path.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                &req_path.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(meta::validate_label_name(&req.key, &req_path.child("key")));
        for (j, value) in values.iter().enumerate() {
            let value_path = req_path.child("values").index(j);
            errs.extend(
                names::is_valid_label_value(value)
                    .into_iter()
                    .map(|msg| FieldError::invalid(&value_path, value, msg)),
            );
        }
    }
    errs
}

/// `metav1.LabelSelectorAsSelector(selector).Matches(labels)`: `None` when the selector does
/// not convert (Kubernetes then skips the match check), a nil selector matches nothing and an
/// empty one everything.
fn label_selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    let Some(selector) = selector else {
        return Some(false);
    };
    let mut matches = true;
    // labels.NewRequirement rejects keys that are not qualified names and bad values.
    let valid_key = |key: &str| names::is_qualified_name(key).is_empty();
    let valid_value = |value: &str| names::is_valid_label_value(value).is_empty();
    for (key, value) in selector.match_labels.iter().flatten() {
        if !valid_key(key) || !valid_value(value) {
            return None;
        }
        matches &= labels.get(key) == Some(value);
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or(&[]);
        if !valid_key(&req.key) || !values.iter().all(|v| valid_value(v)) {
            return None;
        }
        let actual = labels.get(&req.key);
        matches &= match req.operator.as_str() {
            "In" if !values.is_empty() => actual.is_some_and(|a| values.contains(a)),
            "NotIn" if !values.is_empty() => actual.is_none_or(|a| !values.contains(a)),
            "Exists" if values.is_empty() => actual.is_some(),
            "DoesNotExist" if values.is_empty() => actual.is_none(),
            _ => return None,
        };
    }
    Some(matches)
}

/// The template's labels, if any.
fn template_labels(template: &PodTemplateSpec) -> Option<&BTreeMap<String, String>> {
    template.metadata.as_ref().and_then(|m| m.labels.as_ref())
}

/// Go's `%q` of a `[]string`: `["A" "B"]`.
fn go_string_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| crate::field::go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// A value as JSON, the way composite bad values are printed (V-41); `null` for nil.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    // Serializing these plain API types cannot fail; a failure would only print `null`.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// apimachinery's `Semantic.DeepEqual` treats nil and empty slices and maps alike; comparing
/// JSON with nulls, empty arrays and empty objects removed gives the same answer for API types.
fn semantic(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, semantic(v)))
                .filter(|(_, v)| !is_empty_json(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(semantic).collect()),
        other => other,
    }
}

fn is_empty_json(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
