//! Namespaces: `NAME STATUS AGE` (`namespaceColumnDefinitions` and `printNamespace`).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Status", "string", 0, "The status of the namespace"),
        age_column(),
    ]
}

/// STATUS is the phase verbatim (`Active`, `Terminating`), empty when unset.
pub(super) fn cells(ns: &Namespace, now: Timestamp) -> Vec<Value> {
    vec![
        Value::from(ns.metadata.name.as_deref().unwrap_or("")),
        Value::from(
            ns.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or(""),
        ),
        Value::from(translate_timestamp_since(
            ns.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn namespace_row() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "team-a", "creationTimestamp": "2026-02-20T12:00:00Z"},
            "status": {"phase": "Terminating"}
        }))
        .unwrap();
        assert_eq!(
            Value::from(cells(&ns, now)),
            json!(["team-a", "Terminating", "9d"])
        );
        let bare: Namespace = serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap();
        assert_eq!(
            Value::from(cells(&bare, now)),
            json!(["b", "", "<unknown>"])
        );
        let names: Vec<String> = columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Status", "Age"]);
    }
}
