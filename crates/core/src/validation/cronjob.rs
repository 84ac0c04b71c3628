//! CronJob validation: `pkg/apis/batch/validation/validation.go` (cronjob.md §1) and the
//! warnings of `pkg/registry/batch/cronjob/strategy.go`.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec};

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::job::{
    JobSpecOpts, name_warning, validate_job_spec, validate_non_negative, warnings_for_job_spec,
};
use crate::validation::{meta, names};

/// C-3: job names are `<cronjob>-<minutes since epoch>`; the 11-character suffix must fit in
/// a 63-character DNS label (`DNS1035LabelMaxLength - 11`).
const MAX_CRONJOB_NAME_LENGTH: usize = 52;

/// `ValidateCronJobCreate` (C-2…C-8, name ≤ 52 characters on create).
pub fn validate_cronjob(cj: &CronJob) -> ErrorList {
    let meta_path = Path::new("metadata");
    let mut errs =
        meta::validate_object_meta(&cj.metadata, true, names::name_is_dns_subdomain, &meta_path);
    let empty = CronJobSpec::default();
    errs.extend(validate_cronjob_spec(
        cj.spec.as_ref().unwrap_or(&empty),
        None,
        &Path::new("spec"),
    ));
    let name = cj.metadata.name.as_deref().unwrap_or("");
    if name.len() > MAX_CRONJOB_NAME_LENGTH {
        errs.push(FieldError::invalid(
            &meta_path.child("name"),
            name,
            format!("must be no more than {MAX_CRONJOB_NAME_LENGTH} characters"),
        ));
    }
    errs
}

/// `ValidateCronJobUpdate`: metadata update rules and the spec (everything is mutable, C-9).
/// The 52-character name limit is not checked, so older CronJobs with longer names can still
/// be updated and deleted.
pub fn validate_cronjob_update(new: &CronJob, old: &CronJob) -> ErrorList {
    let mut errs =
        meta::validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let empty = CronJobSpec::default();
    errs.extend(validate_cronjob_spec(
        new.spec.as_ref().unwrap_or(&empty),
        Some(old.spec.as_ref().unwrap_or(&empty)),
        &Path::new("spec"),
    ));
    errs
}

/// The CronJob strategy's `WarningsOnCreate`: the DNS-label name warning and the job
/// template's spec warnings.
pub fn warnings_on_create(cj: &CronJob) -> Vec<String> {
    let mut warnings: Vec<String> = name_warning(cj.metadata.name.as_deref().unwrap_or(""))
        .into_iter()
        .collect();
    if let Some(job_spec) = cj.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()) {
        warnings.extend(warnings_for_job_spec(job_spec, &job_spec_path()));
    }
    warnings
}

/// The CronJob strategy's `WarningsOnUpdate`: job template spec warnings when the generation
/// moved (call after admission bumped it), and a warning for TZ in the schedule (C-8).
pub fn warnings_on_update(new: &CronJob, old: &CronJob) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(spec) = &new.spec else {
        return warnings;
    };
    if new.metadata.generation != old.metadata.generation
        && let Some(job_spec) = &spec.job_template.spec
    {
        warnings.extend(warnings_for_job_spec(job_spec, &job_spec_path()));
    }
    if spec.schedule.contains("TZ") {
        // Kubernetes names the field `spec.spec.schedule` in this warning; kept verbatim.
        warnings.push(
            "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, see \
             https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
                .to_owned(),
        );
    }
    warnings
}

fn job_spec_path() -> Path {
    Path::new("spec").child("jobTemplate").child("spec")
}

/// `validateCronJobSpec`; `old` is the stored spec on update.
fn validate_cronjob_spec(spec: &CronJobSpec, old: Option<&CronJobSpec>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let schedule_path = path.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&schedule_path, ""));
    } else {
        // C-8: TZ in a schedule is only tolerated when the stored schedule already had it.
        let allow_tz_in_schedule = old.is_some_and(|o| o.schedule.contains("TZ"));
        errs.extend(validate_schedule_format(
            &spec.schedule,
            allow_tz_in_schedule,
            spec.time_zone.as_deref(),
            &schedule_path,
        ));
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        errs.extend(validate_non_negative(
            deadline,
            &path.child("startingDeadlineSeconds"),
        ));
    }
    // C-7: an unchanged time zone is not revalidated, so a zone that later disappears from
    // the tz database does not block updates.
    if old.is_none_or(|o| o.time_zone != spec.time_zone) {
        errs.extend(validate_time_zone(
            spec.time_zone.as_deref(),
            &path.child("timeZone"),
        ));
    }
    errs.extend(validate_concurrency_policy(
        spec.concurrency_policy.as_deref().unwrap_or(""),
        &path.child("concurrencyPolicy"),
    ));
    // C-6: `ValidateJobTemplateSpec` validates only the template's spec.
    let empty = JobSpec::default();
    errs.extend(validate_job_spec(
        spec.job_template.spec.as_ref().unwrap_or(&empty),
        &path.child("jobTemplate").child("spec"),
        JobSpecOpts {
            in_cronjob_template: true,
        },
    ));
    // C-4: zero history limits are valid (keep no finished jobs).
    if let Some(limit) = spec.successful_jobs_history_limit {
        errs.extend(validate_non_negative(
            limit.into(),
            &path.child("successfulJobsHistoryLimit"),
        ));
    }
    if let Some(limit) = spec.failed_jobs_history_limit {
        errs.extend(validate_non_negative(
            limit.into(),
            &path.child("failedJobsHistoryLimit"),
        ));
    }
    errs
}

/// `validateConcurrencyPolicy` (C-5).
fn validate_concurrency_policy(policy: &str, path: &Path) -> Option<FieldError> {
    match policy {
        "Allow" | "Forbid" | "Replace" => None,
        "" => Some(FieldError::required(path, "")),
        other => Some(FieldError::not_supported(
            path,
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
}

/// `validateScheduleFormat` (C-2, C-8).
fn validate_schedule_format(
    schedule: &str,
    allow_tz_in_schedule: bool,
    time_zone: Option<&str>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    // C-2: robfig/cron's ParseStandard, with its error text as the detail.
    if let Err(err) = kbatch_schedule::parse(schedule) {
        errs.push(FieldError::invalid(path, schedule, err.to_string()));
    }
    let has_tz = schedule.contains("TZ");
    if allow_tz_in_schedule && has_tz && time_zone.is_some() {
        errs.push(FieldError::invalid(
            path,
            schedule,
            "cannot use both timeZone field and TZ or CRON_TZ in schedule",
        ));
    } else if !allow_tz_in_schedule && has_tz {
        errs.push(FieldError::invalid(
            path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    errs
}

/// `validateTimeZone` (C-7): syntax per IANA naming rules (digits and '+' tolerated for
/// legacy names), no implicit `Local`, and the zone must exist in the tz database.
fn validate_time_zone(time_zone: Option<&str>, path: &Path) -> ErrorList {
    let Some(tz) = time_zone else {
        return ErrorList::new();
    };
    if tz.is_empty() {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be nil or non-empty string",
        )];
    }
    // `^[A-Za-z\.\-_0-9+]{1,14}$` per '/'-separated part, not `.`, `..` or `-…`: this also
    // keeps names like `../etc` from reaching the tz database lookup.
    let valid_part = |part: &str| {
        (1..=14).contains(&part.len())
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    };
    if !tz.split('/').all(valid_part) {
        return vec![FieldError::invalid(
            path,
            tz,
            format!("unknown time zone {tz}"),
        )];
    }
    let mut errs = ErrorList::new();
    if tz.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    // Go's time.LoadLocation: `Local` itself loads; `local` and unknown names do not.
    if let Err(err) = kbatch_schedule::zone(tz) {
        errs.push(FieldError::invalid(path, tz, err.to_string()));
    }
    errs
}
