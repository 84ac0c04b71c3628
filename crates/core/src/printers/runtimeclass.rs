//! RuntimeClasses: `NAME HANDLER AGE` (`runtimeClassColumnDefinitions` and
//! `printRuntimeClass`).

use jiff::Timestamp;
use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Handler", "string", 0, ""),
        age_column(),
    ]
}

pub(super) fn cells(rc: &RuntimeClass, now: Timestamp) -> Vec<Value> {
    vec![
        Value::from(rc.metadata.name.as_deref().unwrap_or("")),
        Value::from(rc.handler.as_str()),
        Value::from(translate_timestamp_since(
            rc.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}
