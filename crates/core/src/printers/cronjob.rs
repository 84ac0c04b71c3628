//! CronJobs: `NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE` + wide
//! `CONTAINERS IMAGES SELECTOR` (`cronJobColumnDefinitions` and `printCronJob`).

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::CronJob;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{
    age_column, column, format_label_selector, layout_container_cells, name_column,
    template_columns,
};
use crate::table::TableColumnDefinition;

/// `batchv1beta1.CronJobSpec{}.SwaggerDoc()["schedule"]`.
const SCHEDULE_DESCRIPTION: &str =
    "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
/// `batchv1beta1.CronJobSpec{}.SwaggerDoc()["timeZone"]`.
const TIME_ZONE_DESCRIPTION: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
/// `batchv1beta1.CronJobSpec{}.SwaggerDoc()["suspend"]`.
const SUSPEND_DESCRIPTION: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
/// `batchv1beta1.CronJobStatus{}.SwaggerDoc()["active"]`.
const ACTIVE_DESCRIPTION: &str = "A list of pointers to currently running jobs.";
/// `batchv1beta1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]`.
const LAST_SCHEDULE_DESCRIPTION: &str =
    "Information when was the last time the job was successfully scheduled.";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(0),
        column("Schedule", "string", 0, SCHEDULE_DESCRIPTION),
        column("Timezone", "string", 0, TIME_ZONE_DESCRIPTION),
        // Declared boolean upstream, yet the cell is the string `True`/`False`/`<unset>`.
        column("Suspend", "boolean", 0, SUSPEND_DESCRIPTION),
        column("Active", "integer", 0, ACTIVE_DESCRIPTION),
        column("Last Schedule", "string", 0, LAST_SCHEDULE_DESCRIPTION),
        age_column(),
    ];
    columns.extend(template_columns());
    // kbatch's own, after Kubernetes' columns: when the controller fires next.
    columns.push(column(
        "Next Schedule",
        "string",
        1,
        NEXT_SCHEDULE_DESCRIPTION,
    ));
    columns
}

/// The annotation the CronJob controller keeps the next fire time in (RFC3339, in the
/// CronJob's zone).
pub const NEXT_SCHEDULE_ANNOTATION: &str = "kbatch.dev/next-schedule-time";

const NEXT_SCHEDULE_DESCRIPTION: &str = "When the controller creates the next Job (kbatch: the kbatch.dev/next-schedule-time annotation).";

/// P-20.
pub(super) fn cells(cj: &CronJob, now: Timestamp) -> Vec<Value> {
    let spec = cj.spec.as_ref();
    let status = cj.status.as_ref();
    let job_spec = spec.and_then(|s| s.job_template.spec.as_ref());
    let containers = job_spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let last_schedule = match status.and_then(|s| s.last_schedule_time.as_ref()) {
        None => "<none>".to_owned(),
        Some(t) => translate_timestamp_since(Some(t), now),
    };
    let active = status.and_then(|s| s.active.as_ref()).map_or(0, Vec::len);
    let [names, images] = layout_container_cells(containers);
    vec![
        Value::from(cj.metadata.name.as_deref().unwrap_or("")),
        Value::from(spec.map_or("", |s| s.schedule.as_str())),
        Value::from(
            spec.and_then(|s| s.time_zone.as_deref())
                .unwrap_or("<none>"),
        ),
        Value::from(print_bool_ptr(spec.and_then(|s| s.suspend))),
        Value::from(active),
        Value::from(last_schedule),
        Value::from(translate_timestamp_since(
            cj.metadata.creation_timestamp.as_ref(),
            now,
        )),
        names,
        images,
        Value::from(format_label_selector(
            job_spec.and_then(|s| s.selector.as_ref()),
        )),
        Value::from(
            cj.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(NEXT_SCHEDULE_ANNOTATION))
                .map_or("<none>", String::as_str),
        ),
    ]
}

/// `printBoolPtr`.
fn print_bool_ptr(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn cronjob(v: Value) -> CronJob {
        serde_json::from_value(v).unwrap()
    }

    // P-20: a defaulted CronJob with one active Job and a recent schedule, every cell typed as
    // upstream (ACTIVE is an integer, SUSPEND a string).
    #[test]
    fn p20_full_row() {
        let cj = cronjob(json!({
            "metadata": {"name": "hello", "creationTimestamp": "2026-03-01T11:00:00Z"},
            "spec": {
                "schedule": "*/1 * * * *",
                "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                    {"name": "hello", "image": "busybox"}
                ]}}}}
            },
            "status": {
                "active": [{"kind": "Job", "name": "hello-29000000"}],
                "lastScheduleTime": "2026-03-01T11:59:00Z"
            }
        }));
        assert_eq!(
            Value::from(cells(&cj, now())),
            json!([
                "hello",
                "*/1 * * * *",
                "<none>",
                "False",
                1,
                "60s",
                "60m",
                "hello",
                "busybox",
                "<none>",
                "<none>"
            ])
        );
    }

    // kbatch's NEXT SCHEDULE column shows the controller's annotation.
    #[test]
    fn next_schedule_comes_from_the_annotation() {
        let cj = cronjob(json!({
            "metadata": {"name": "n", "annotations": {NEXT_SCHEDULE_ANNOTATION: "2026-03-01T13:00:00+01:00"}},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {}}
        }));
        assert_eq!(cells(&cj, now())[10], "2026-03-01T13:00:00+01:00");
    }

    // P-20: TIMEZONE verbatim, SUSPEND True and <unset>, no active jobs, never scheduled.
    #[test]
    fn p20_optional_fields() {
        let cj = cronjob(json!({
            "metadata": {"name": "tz"},
            "spec": {
                "schedule": "0 9 * * 1-5",
                "timeZone": "Europe/Berlin",
                "suspend": true,
                "jobTemplate": {"spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": {}
                }}
            }
        }));
        let c = cells(&cj, now());
        assert_eq!(c[1], "0 9 * * 1-5");
        assert_eq!(c[2], "Europe/Berlin");
        assert_eq!(c[3], "True");
        assert_eq!(c[4], json!(0));
        assert_eq!(c[5], "<none>");
        assert_eq!(c[6], "<unknown>");
        assert_eq!(c[9], "app=x");

        let unset = cronjob(json!({"spec": {"schedule": "@daily", "jobTemplate": {}}}));
        assert_eq!(cells(&unset, now())[3], "<unset>");
    }

    #[test]
    fn columns_match_upstream() {
        let c = columns();
        let shape: Vec<(&str, &str, i32)> = c
            .iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.priority))
            .collect();
        assert_eq!(
            shape,
            [
                ("Name", "string", 0),
                ("Schedule", "string", 0),
                ("Timezone", "string", 0),
                ("Suspend", "boolean", 0),
                ("Active", "integer", 0),
                ("Last Schedule", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
                ("Next Schedule", "string", 1)
            ]
        );
    }
}
