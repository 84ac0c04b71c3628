//! Events: `LAST SEEN TYPE REASON OBJECT MESSAGE` + wide `SUBOBJECT SOURCE FIRST SEEN COUNT
//! NAME`, interleaved as upstream declares them (`eventColumnDefinitions` and `printEvent`).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

use super::duration::{instant, translate_micro_timestamp_since, translate_timestamp_since};
use super::{column, name_column};
use crate::table::TableColumnDefinition;

/// `apiv1.Event{}.SwaggerDoc()[...]` and `apiv1.ObjectReference{}.SwaggerDoc()["fieldPath"]`.
const LAST_TIMESTAMP_DESCRIPTION: &str =
    "The time at which the most recent occurrence of this event was recorded.";
const TYPE_DESCRIPTION: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const REASON_DESCRIPTION: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const INVOLVED_OBJECT_DESCRIPTION: &str = "The object that this event is about.";
const FIELD_PATH_DESCRIPTION: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const SOURCE_DESCRIPTION: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const MESSAGE_DESCRIPTION: &str = "A human-readable description of the status of this operation.";
const FIRST_TIMESTAMP_DESCRIPTION: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const COUNT_DESCRIPTION: &str = "The number of times this event has occurred.";

/// P-40: the wide columns sit between the default ones.
pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        column("Last Seen", "string", 0, LAST_TIMESTAMP_DESCRIPTION),
        column("Type", "string", 0, TYPE_DESCRIPTION),
        column("Reason", "string", 0, REASON_DESCRIPTION),
        column("Object", "string", 0, INVOLVED_OBJECT_DESCRIPTION),
        column("Subobject", "string", 1, FIELD_PATH_DESCRIPTION),
        column("Source", "string", 1, SOURCE_DESCRIPTION),
        column("Message", "string", 0, MESSAGE_DESCRIPTION),
        column("First Seen", "string", 1, FIRST_TIMESTAMP_DESCRIPTION),
        // Declared string upstream, yet the cell is an integer.
        column("Count", "string", 1, COUNT_DESCRIPTION),
        name_column(1),
    ]
}

/// P-40/P-41.
pub(super) fn cells(event: &Event, now: Timestamp) -> Vec<Value> {
    let first_seen = if instant(event.first_timestamp.as_ref().map(|t| t.0)).is_some() {
        translate_timestamp_since(event.first_timestamp.as_ref(), now)
    } else {
        translate_micro_timestamp_since(event.event_time.as_ref(), now)
    };
    let mut last_seen = if instant(event.last_timestamp.as_ref().map(|t| t.0)).is_some() {
        translate_timestamp_since(event.last_timestamp.as_ref(), now)
    } else {
        first_seen.clone()
    };
    let count = match &event.series {
        Some(series) => {
            last_seen = translate_micro_timestamp_since(series.last_observed_time.as_ref(), now);
            series.count.unwrap_or(0)
        }
        // Singleton events of the events.k8s.io API carry no count.
        None => match event.count.unwrap_or(0) {
            0 => 1,
            n => n,
        },
    };
    let involved = &event.involved_object;
    let kind = lower(involved.kind.as_deref().unwrap_or(""));
    let target = match involved.name.as_deref() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    vec![
        Value::from(last_seen),
        Value::from(event.type_.as_deref().unwrap_or("")),
        Value::from(event.reason.as_deref().unwrap_or("")),
        Value::from(target),
        Value::from(involved.field_path.as_deref().unwrap_or("")),
        Value::from(source(event)),
        Value::from(event.message.as_deref().unwrap_or("").trim()),
        Value::from(first_seen),
        Value::from(count),
        Value::from(event.metadata.name.as_deref().unwrap_or("")),
    ]
}

/// Go's `strings.ToLower`: rune by rune, without Rust's context-dependent final sigma.
fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `formatEventSource`: `component[, host]`, falling back to the events.k8s.io
/// `reportingController` / `reportingInstance` when `source` leaves them empty.
fn source(event: &Event) -> String {
    let src = event.source.as_ref();
    let first_non_empty = |a: Option<&str>, b: Option<&str>| -> String {
        [a, b]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_owned()
    };
    let component = first_non_empty(
        src.and_then(|s| s.component.as_deref()),
        event.reporting_component.as_deref(),
    );
    let instance = first_non_empty(
        src.and_then(|s| s.host.as_deref()),
        event.reporting_instance.as_deref(),
    );
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn event(v: Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    // P-40: wide column order and priorities.
    #[test]
    fn p40_column_order() {
        let c = columns();
        let shape: Vec<(&str, i32)> = c.iter().map(|c| (c.name.as_str(), c.priority)).collect();
        assert_eq!(
            shape,
            [
                ("Last Seen", 0),
                ("Type", 0),
                ("Reason", 0),
                ("Object", 0),
                ("Subobject", 1),
                ("Source", 1),
                ("Message", 0),
                ("First Seen", 1),
                ("Count", 1),
                ("Name", 1)
            ]
        );
        assert_eq!(c[9].format, "name");
        assert!(c.iter().all(|c| c.type_ == "string"));
    }

    // P-41: a job-controller event, cell by cell.
    #[test]
    fn p41_job_controller_event() {
        let e = event(json!({
            "metadata": {"name": "pi.18a2b", "namespace": "default"},
            "involvedObject": {"kind": "Job", "name": "pi", "namespace": "default"},
            "reason": "SuccessfulCreate",
            "message": "Created pod: pi-abcde\n",
            "source": {"component": "job-controller"},
            "firstTimestamp": "2026-03-01T11:55:00Z",
            "lastTimestamp": "2026-03-01T11:59:00Z",
            "count": 3,
            "type": "Normal"
        }));
        assert_eq!(
            Value::from(cells(&e, now())),
            json!([
                "60s",
                "Normal",
                "SuccessfulCreate",
                "job/pi",
                "",
                "job-controller",
                "Created pod: pi-abcde",
                "5m",
                3,
                "pi.18a2b"
            ])
        );
    }

    // P-41: FIRST SEEN falls back to eventTime and LAST SEEN to FIRST SEEN; COUNT 0 reads 1.
    #[test]
    fn p41_fallbacks() {
        let e = event(json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "CronJob", "name": "hello"},
            "eventTime": "2026-03-01T11:58:00.000001Z",
            "reportingComponent": "cronjob-controller",
            "reportingInstance": "kbatch-0"
        }));
        let c = cells(&e, now());
        assert_eq!(c[0], "119s");
        assert_eq!(c[3], "cronjob/hello");
        assert_eq!(c[5], "cronjob-controller, kbatch-0");
        assert_eq!(c[7], "119s");
        assert_eq!(c[8], json!(1));

        let bare = event(json!({"involvedObject": {"kind": "Pod"}}));
        let c = cells(&bare, now());
        assert_eq!(c[0], "<unknown>");
        assert_eq!(c[3], "pod");
        assert_eq!(c[5], "");
        assert_eq!(c[7], "<unknown>");
    }

    // P-41: a series decides LAST SEEN and COUNT, even a zero count.
    #[test]
    fn p41_series() {
        let e = event(json!({
            "involvedObject": {"kind": "Pod", "name": "p"},
            "firstTimestamp": "2026-03-01T10:00:00Z",
            "lastTimestamp": "2026-03-01T11:00:00Z",
            "count": 7,
            "series": {"count": 0, "lastObservedTime": "2026-03-01T11:59:50.5Z"}
        }));
        let c = cells(&e, now());
        assert_eq!(c[0], "9s");
        assert_eq!(c[7], "120m");
        assert_eq!(c[8], json!(0));
    }

    // P-41: SOURCE prefers `source` over the reporting fields, field by field.
    #[test]
    fn p41_source() {
        let e = event(json!({
            "involvedObject": {},
            "source": {"component": "kubelet", "host": ""},
            "reportingComponent": "ignored",
            "reportingInstance": "node-1"
        }));
        assert_eq!(cells(&e, now())[5], "kubelet, node-1");
        let e = event(json!({
            "involvedObject": {},
            "source": {"component": "", "host": "node-2"},
            "reportingComponent": "ctrl"
        }));
        assert_eq!(cells(&e, now())[5], "ctrl, node-2");
    }

    // P-41: MESSAGE is trimmed on both sides, SUBOBJECT is the field path.
    #[test]
    fn p41_message_and_subobject() {
        let e = event(json!({
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{main}"},
            "message": " \t Pulling image \"busybox\"\r\n"
        }));
        let c = cells(&e, now());
        assert_eq!(c[4], "spec.containers{main}");
        assert_eq!(c[6], "Pulling image \"busybox\"");
    }
}
