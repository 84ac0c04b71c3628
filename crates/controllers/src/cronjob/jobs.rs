//! The Jobs of a CronJob: which ones it owns (C-52), whether they finished, the Job made from
//! the template (C-50, C-51), the references in status.active (C-43), and the history order
//! (C-42).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kbatch_core::object::{CRONJOB, JOB};

use super::spec;

/// `metav1.GetControllerOf`.
fn controller_of(job: &Job) -> Option<&OwnerReference> {
    job.metadata
        .owner_references
        .as_deref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// C-52: a Job belongs to the CronJob whose name its controller reference gives.
pub(super) fn owned_by_name(job: &Job, cronjob: &str) -> bool {
    controller_of(job).is_some_and(|r| r.name == cronjob)
}

/// `metav1.IsControlledBy`: the controller reference carries the CronJob's uid.
pub(super) fn controlled_by(job: &Job, cj: &CronJob) -> bool {
    controller_of(job).is_some_and(|r| Some(r.uid.as_str()) == cj.metadata.uid.as_deref())
}

/// `FinishedCondition`: the type of the first Complete or Failed condition that is True.
pub(super) fn finished_condition(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// `IsJobSucceeded`: a Complete condition that is True.
pub(super) fn succeeded(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

pub(super) fn uid(job: &Job) -> &str {
    job.metadata.uid.as_deref().unwrap_or("")
}

pub(super) fn name(job: &Job) -> &str {
    job.metadata.name.as_deref().unwrap_or("")
}

/// `ref.GetReference` of a Job, as status.active holds it (C-43).
pub(super) fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some(JOB.api_version()),
        kind: Some(JOB.kind.to_owned()),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// `getJobFromTemplate2` (C-51): the template's labels, annotations (plus `extra`) and spec,
/// controlled by the CronJob (`metav1.NewControllerRef`).
pub(super) fn from_template(cj: &CronJob, name: String, extra: &[(&str, String)]) -> Job {
    let template = spec::job_template(cj);
    let meta = template.and_then(|t| t.metadata.as_ref());
    let labels = meta.and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut annotations: BTreeMap<String, String> =
        meta.and_then(|m| m.annotations.clone()).unwrap_or_default();
    for (key, value) in extra {
        annotations.insert((*key).to_owned(), value.clone());
    }
    Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: cj.metadata.namespace.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: CRONJOB.api_version(),
                kind: CRONJOB.kind.to_owned(),
                name: spec::name(cj).to_owned(),
                uid: cj.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: template.and_then(|t| t.spec.clone()),
        status: None,
    }
}

/// `byJobStartTime` (C-42, C35): jobs with a startTime before those without, then by
/// startTime, then by name.
pub(super) fn by_start_time(a: &Job, b: &Job) -> Ordering {
    let start = |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
    };
    match (start(a), start(b)) {
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (x, y) if x == y => name(a).cmp(name(b)),
        (x, y) => x.cmp(&y),
    }
}
