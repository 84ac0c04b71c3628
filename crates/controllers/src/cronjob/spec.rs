//! Reading a CronJob's fields with Go's zero values for the absent ones (the registry applies
//! the defaults of C-1 on every read).

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, CronJobStatus, JobTemplateSpec};
use k8s_openapi::api::core::v1::ObjectReference;

pub(super) fn name(cj: &CronJob) -> &str {
    cj.metadata.name.as_deref().unwrap_or("")
}

pub(super) fn namespace(cj: &CronJob) -> &str {
    cj.metadata.namespace.as_deref().unwrap_or("")
}

fn spec(cj: &CronJob) -> Option<&CronJobSpec> {
    cj.spec.as_ref()
}

pub(super) fn schedule(cj: &CronJob) -> &str {
    spec(cj).map_or("", |s| s.schedule.as_str())
}

pub(super) fn time_zone(cj: &CronJob) -> Option<&str> {
    spec(cj)?.time_zone.as_deref()
}

pub(super) fn suspended(cj: &CronJob) -> bool {
    spec(cj).and_then(|s| s.suspend).unwrap_or(false)
}

pub(super) fn concurrency_policy(cj: &CronJob) -> &str {
    spec(cj)
        .and_then(|s| s.concurrency_policy.as_deref())
        .unwrap_or("")
}

pub(super) fn starting_deadline_seconds(cj: &CronJob) -> Option<i64> {
    spec(cj)?.starting_deadline_seconds
}

pub(super) fn successful_jobs_history_limit(cj: &CronJob) -> Option<i32> {
    spec(cj)?.successful_jobs_history_limit
}

pub(super) fn failed_jobs_history_limit(cj: &CronJob) -> Option<i32> {
    spec(cj)?.failed_jobs_history_limit
}

pub(super) fn job_template(cj: &CronJob) -> Option<&JobTemplateSpec> {
    spec(cj).map(|s| &s.job_template)
}

pub(super) fn deleting(cj: &CronJob) -> bool {
    cj.metadata.deletion_timestamp.is_some()
}

pub(super) fn active(cj: &CronJob) -> &[ObjectReference] {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_deref())
        .unwrap_or(&[])
}

pub(super) fn status_mut(cj: &mut CronJob) -> &mut CronJobStatus {
    cj.status.get_or_insert_with(CronJobStatus::default)
}

pub(super) fn in_active(cj: &CronJob, uid: &str) -> bool {
    active(cj).iter().any(|r| r.uid.as_deref() == Some(uid))
}

/// `inActiveListByName`.
pub(super) fn in_active_by_name(cj: &CronJob, name: &str) -> bool {
    active(cj).iter().any(|r| {
        r.name.as_deref() == Some(name)
            && r.namespace.as_deref() == cj.metadata.namespace.as_deref()
    })
}

/// `deleteFromActiveList`. Go leaves an empty list, which `omitempty` drops.
pub(super) fn remove_from_active(cj: &mut CronJob, uid: &str) {
    let status = status_mut(cj);
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| r.uid.as_deref() != Some(uid));
        if active.is_empty() {
            status.active = None;
        }
    }
}

pub(super) fn annotation<'c>(cj: &'c CronJob, key: &str) -> Option<&'c str> {
    cj.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}
