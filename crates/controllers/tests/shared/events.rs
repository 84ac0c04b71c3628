//! Shared by the Job and CronJob test supports: the events about one object, as a test reads
//! them.

use k8s_openapi::api::core::v1::Event;
use kbatch_api::registry::{ListParams, Registry};
use kbatch_core::object::{EVENT, Object};

/// The events in `namespace` about the object named `name`, oldest first, as
/// (type, reason, message).
pub async fn about(
    registry: &Registry,
    namespace: &str,
    name: &str,
) -> Vec<(String, String, String)> {
    let mut events: Vec<Event> = registry
        .list(&EVENT, Some(namespace), &ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| match o {
            Object::Event(e) => Some(e),
            _ => None,
        })
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect();
    events.sort_by_key(|e| {
        (
            e.first_timestamp.clone().map(|t| t.0),
            e.metadata.name.clone(),
        )
    });
    events
        .into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}
