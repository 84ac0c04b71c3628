//! Jobs: `NAME STATUS COMPLETIONS DURATION AGE` + wide `CONTAINERS IMAGES SELECTOR`
//! (`jobColumnDefinitions` and `printJob`).

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use serde_json::Value;

use super::duration::{go_sub, human_duration, translate_timestamp_since};
use super::{
    age_column, column, format_label_selector, layout_container_cells, name_column,
    template_columns,
};
use crate::table::TableColumnDefinition;

/// `batchv1.JobStatus{}.SwaggerDoc()["succeeded"]`.
const SUCCEEDED_DESCRIPTION: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(0),
        column("Status", "string", 0, "Status of the job."),
        column("Completions", "string", 0, SUCCEEDED_DESCRIPTION),
        column(
            "Duration",
            "string",
            0,
            "Time required to complete the job.",
        ),
        age_column(),
    ];
    columns.extend(template_columns());
    columns
}

pub(super) fn cells(job: &Job, now: Timestamp) -> Vec<Value> {
    let spec = job.spec.as_ref();
    let status = job.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let containers = spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let [names, images] = layout_container_cells(containers);
    vec![
        Value::from(job.metadata.name.as_deref().unwrap_or("")),
        Value::from(job_status(job, conditions)),
        Value::from(completions(job)),
        Value::from(duration(job, now)),
        Value::from(translate_timestamp_since(
            job.metadata.creation_timestamp.as_ref(),
            now,
        )),
        names,
        images,
        Value::from(format_label_selector(
            spec.and_then(|s| s.selector.as_ref()),
        )),
    ]
}

/// P-10: the first of these that holds wins; a Job with no conditions yet is `Running`.
fn job_status(job: &Job, conditions: &[JobCondition]) -> &'static str {
    if has_job_condition(conditions, "Complete") {
        "Complete"
    } else if has_job_condition(conditions, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_job_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_job_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `hasJobCondition`: only the first condition of the type counts.
fn has_job_condition(conditions: &[JobCondition], type_: &str) -> bool {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .is_some_and(|c| c.status == "True")
}

/// P-11: `succeeded/completions`; without completions (a work queue), `succeeded/1`, with
/// ` of <parallelism>` when more than one pod runs at a time.
fn completions(job: &Job) -> String {
    let spec = job.spec.as_ref();
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
    match spec.and_then(|s| s.completions) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match spec.and_then(|s| s.parallelism).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// P-12: empty until the Job starts, then the time since start; frozen at completion.
fn duration(job: &Job, now: Timestamp) -> String {
    let status = job.status.as_ref();
    // Go tests the pointers for nil, not the times for zero.
    let Some(start) = status.and_then(|s| s.start_time.as_ref()) else {
        return String::new();
    };
    let end = status
        .and_then(|s| s.completion_time.as_ref())
        .map_or(now, |t| t.0);
    human_duration(go_sub(end, start.0))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn job(v: Value) -> Job {
        serde_json::from_value(v).unwrap()
    }

    fn status_of(conditions: Value, deleting: bool) -> String {
        let mut j = job(json!({"metadata": {"name": "pi"}, "status": {"conditions": conditions}}));
        if deleting {
            j.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
        }
        cells(&j, now())[1].as_str().unwrap().to_owned()
    }

    fn cond(type_: &str, status: &str) -> Value {
        json!({"type": type_, "status": status})
    }

    // P-10: the precedence of the STATUS column; J-43: a suspended Job shows `Suspended`.
    #[test]
    fn p10_status_precedence() {
        assert_eq!(status_of(json!([]), false), "Running");
        assert_eq!(status_of(json!(null), false), "Running");
        assert_eq!(
            status_of(json!([cond("SuccessCriteriaMet", "True")]), false),
            "Running"
        );
        assert_eq!(
            status_of(json!([cond("FailureTarget", "True")]), false),
            "FailureTarget"
        );
        assert_eq!(
            status_of(
                json!([cond("FailureTarget", "True"), cond("Suspended", "True")]),
                false
            ),
            "Suspended"
        );
        assert_eq!(
            status_of(json!([cond("Suspended", "True")]), true),
            "Terminating"
        );
        assert_eq!(status_of(json!([cond("Failed", "True")]), true), "Failed");
        assert_eq!(
            status_of(
                json!([cond("Failed", "True"), cond("Complete", "True")]),
                false
            ),
            "Complete"
        );
        assert_eq!(
            status_of(json!([cond("Suspended", "False")]), false),
            "Running"
        );
    }

    // P-10: `hasJobCondition` looks at the first condition of a type only.
    #[test]
    fn p10_first_condition_of_a_type_decides() {
        assert_eq!(
            status_of(
                json!([cond("Complete", "False"), cond("Complete", "True")]),
                false
            ),
            "Running"
        );
    }

    fn completions_of(spec: Value, succeeded: i32) -> String {
        let j = job(json!({"spec": spec, "status": {"succeeded": succeeded}}));
        cells(&j, now())[2].as_str().unwrap().to_owned()
    }

    // P-11: COMPLETIONS.
    #[test]
    fn p11_completions() {
        let tmpl = json!({});
        assert_eq!(
            completions_of(
                json!({"template": tmpl, "completions": 3, "parallelism": 2}),
                1
            ),
            "1/3"
        );
        assert_eq!(
            completions_of(json!({"template": tmpl, "parallelism": 4}), 2),
            "2/1 of 4"
        );
        assert_eq!(
            completions_of(json!({"template": tmpl, "parallelism": 1}), 0),
            "0/1"
        );
        assert_eq!(completions_of(json!({"template": tmpl}), 0), "0/1");
        let empty = job(json!({}));
        assert_eq!(cells(&empty, now())[2], "0/1");
    }

    fn duration_of(status: Value) -> Value {
        cells(&job(json!({"status": status})), now())[3].clone()
    }

    // P-12: DURATION.
    #[test]
    fn p12_duration() {
        assert_eq!(duration_of(json!({})), "");
        assert_eq!(
            duration_of(json!({"startTime": "2026-03-01T11:59:30Z"})),
            "30s"
        );
        assert_eq!(
            duration_of(json!({
                "startTime": "2026-03-01T10:00:00Z",
                "completionTime": "2026-03-01T10:03:10Z"
            })),
            "3m10s"
        );
        // A failed Job has no completionTime, so its duration keeps growing.
        assert_eq!(
            duration_of(json!({
                "startTime": "2026-03-01T09:00:00Z",
                "conditions": [{"type": "Failed", "status": "True"}]
            })),
            "3h"
        );
    }

    // P-13: AGE, CONTAINERS, IMAGES and SELECTOR, and the whole row of a typical Job.
    #[test]
    fn p13_full_row() {
        let j = job(json!({
            "metadata": {"name": "pi", "creationTimestamp": "2026-03-01T11:59:57Z"},
            "spec": {
                "completions": 1,
                "parallelism": 1,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "9a15"}},
                "template": {"spec": {"containers": [
                    {"name": "pi", "image": "perl:5.34"},
                    {"name": "side", "image": "busybox"}
                ]}}
            },
            "status": {
                "succeeded": 1,
                "startTime": "2026-03-01T11:59:57Z",
                "completionTime": "2026-03-01T11:59:59Z",
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"}
                ]
            }
        }));
        assert_eq!(
            Value::from(cells(&j, now())),
            json!([
                "pi",
                "Complete",
                "1/1",
                "2s",
                "3s",
                "pi,side",
                "perl:5.34,busybox",
                "batch.kubernetes.io/controller-uid=9a15"
            ])
        );
    }

    // P-13: a Job without selector or containers, and without creationTimestamp.
    #[test]
    fn p13_empty_template_and_selector() {
        let c = cells(&job(json!({"metadata": {"name": "x"}})), now());
        assert_eq!(c[4], "<unknown>");
        assert_eq!(c[5], "");
        assert_eq!(c[6], "");
        assert_eq!(c[7], "<none>");
    }

    #[test]
    fn columns_match_upstream() {
        let c = columns();
        let names: Vec<(&str, i32)> = c.iter().map(|c| (c.name.as_str(), c.priority)).collect();
        assert_eq!(
            names,
            [
                ("Name", 0),
                ("Status", 0),
                ("Completions", 0),
                ("Duration", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        assert!(c.iter().all(|c| c.type_ == "string"));
        assert_eq!(c[0].format, "name");
        assert!(c[1..].iter().all(|c| c.format.is_empty()));
        assert_eq!(c[2].description, SUCCEEDED_DESCRIPTION);
    }
}
