//! A CronJob manifest: one Job from its template now, as `kubectl create job --from=cronjob/…`
//! makes it, or (`--schedule`) the CronJob controller's Jobs on the schedule.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kbatch_controllers::cronjob::{INSTANTIATE, NEXT_SCHEDULE_TIME, SCHEDULED_TIMESTAMP};

use super::summary;

/// The longest Job name whose pods' `batch.kubernetes.io/job-name` label is still a valid
/// label value.
const MAX_JOB_NAME: usize = 63;
/// `-manual-` and the five characters generateName adds.
const MANUAL_SUFFIX: usize = "-manual-".len() + 5;

/// kubectl's `createJobFromCronJob`: the jobTemplate's labels and spec, its annotations plus
/// `cronjob.kubernetes.io/instantiate: manual`, and the CronJob as controller (without
/// blockOwnerDeletion, as kubectl leaves it). kubectl takes the name from its user; a run
/// names it `<cronjob>-manual-<random>` through generateName.
pub fn manual_job(cj: &CronJob) -> Job {
    let name = cj.metadata.name.as_deref().unwrap_or("");
    let keep = name
        .char_indices()
        .nth(MAX_JOB_NAME - MANUAL_SUFFIX)
        .map_or(name.len(), |(i, _)| i);
    let template = cj.spec.as_ref().map(|s| &s.job_template);
    let template_meta = template.and_then(|t| t.metadata.as_ref());
    let mut annotations = BTreeMap::from([(INSTANTIATE.to_owned(), "manual".to_owned())]);
    annotations.extend(
        template_meta
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default(),
    );
    Job {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-manual-",
                name[..keep].trim_end_matches(['-', '.'])
            )),
            namespace: cj.metadata.namespace.clone(),
            annotations: Some(annotations),
            labels: template_meta.and_then(|m| m.labels.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_owned(),
                kind: "CronJob".to_owned(),
                name: name.to_owned(),
                uid: cj.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: template.and_then(|t| t.spec.clone()),
        status: None,
    }
}

/// The next fire time the CronJob controller keeps on the CronJob (RFC 3339 in its zone).
pub fn next_run(cj: &CronJob) -> Option<String> {
    cj.metadata
        .annotations
        .as_ref()?
        .get(NEXT_SCHEDULE_TIME)
        .cloned()
}

/// A fire time with how far off it is now: `2026-03-01T13:00:00+01:00 (in 42m10s)`.
pub fn when(next: &str) -> String {
    let left = next.parse::<jiff::Timestamp>().ok().and_then(|at| {
        std::time::Duration::try_from(at.duration_since(jiff::Timestamp::now())).ok()
    });
    match left {
        Some(left) => format!("{next} (in {})", summary::wait(left)),
        None => next.to_owned(),
    }
}

/// The fire time a scheduled Job was created for (C-51).
pub fn scheduled_for(job: &Job) -> Option<&str> {
    job.metadata
        .annotations
        .as_ref()?
        .get(SCHEDULED_TIMESTAMP)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec, JobTemplateSpec};

    #[test]
    fn a_manual_job_is_what_kubectl_create_job_from_makes() {
        let cj = CronJob {
            metadata: ObjectMeta {
                name: Some("backup".into()),
                namespace: Some("ops".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                schedule: "0 * * * *".into(),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([("app".into(), "backup".into())])),
                        annotations: Some(BTreeMap::from([("team".into(), "ops".into())])),
                        ..Default::default()
                    }),
                    spec: Some(JobSpec {
                        backoff_limit: Some(2),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        };
        let job = manual_job(&cj);
        assert_eq!(
            job.metadata.generate_name.as_deref(),
            Some("backup-manual-")
        );
        assert_eq!(job.metadata.namespace.as_deref(), Some("ops"));
        let annotations = job.metadata.annotations.unwrap();
        assert_eq!(annotations[INSTANTIATE], "manual");
        assert_eq!(annotations["team"], "ops");
        assert_eq!(job.metadata.labels.unwrap()["app"], "backup");
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("CronJob", "backup", "u-1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, None);
        assert_eq!(job.spec.unwrap().backoff_limit, Some(2));
    }

    #[test]
    fn a_long_cronjob_name_leaves_room_for_the_suffix() {
        let name = "a".repeat(52);
        let cj = CronJob {
            metadata: ObjectMeta {
                name: Some(name),
                ..Default::default()
            },
            ..Default::default()
        };
        let prefix = manual_job(&cj).metadata.generate_name.unwrap();
        assert_eq!(prefix.len() + 5, MAX_JOB_NAME);
    }
}
