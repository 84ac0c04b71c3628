//! RuntimeClasses: `NAME HANDLER AGE` (`runtimeClassColumnDefinitions` and
//! `printRuntimeClass`).

use jiff::Timestamp;
use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

/// `nodev1.RuntimeClass{}.SwaggerDoc()["handler"]`.
const HANDLER_DESCRIPTION: &str = "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class. The possible values are specific to the node & CRI configuration.  It is assumed that all handlers are available on every node, and handlers of the same name are equivalent on every node. For example, a handler called \"runc\" might specify that the runc OCI runtime (using native Linux containers) will be used to run the containers in a pod. The Handler must be lowercase, conform to the DNS Label (RFC 1123) requirements, and is immutable.";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Handler", "string", 0, HANDLER_DESCRIPTION),
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
