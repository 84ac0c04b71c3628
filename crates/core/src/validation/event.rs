//! Event validation: `ValidateEventCreate` / `ValidateEventUpdate` in
//! `pkg/apis/core/validation/events.go`, for core/v1 events (the legacy path).

use k8s_openapi::api::core::v1::Event;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::name_is_dns_subdomain;

/// `legacyValidateEvent` plus the object metadata: the involved object's namespace must be the
/// event's own (an event about a cluster-scoped object lives in `default` or no namespace).
pub fn validate_event(event: &Event) -> ErrorList {
    let mut errs = validate_object_meta(
        &event.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let ns = event.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = event.involved_object.namespace.as_deref().unwrap_or("");
    let path = Path::new("involvedObject").child("namespace");
    if involved_ns.is_empty() {
        if !ns.is_empty() && ns != "default" {
            errs.push(FieldError::invalid(
                &path,
                involved_ns,
                "does not match event.namespace",
            ));
        }
    } else if ns != involved_ns {
        errs.push(FieldError::invalid(
            &path,
            involved_ns,
            "does not match event.namespace",
        ));
    }
    errs
}

/// `ValidateEventUpdate`: the metadata rules and the create rules.
pub fn validate_event_update(new: &Event, old: &Event) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_event(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn event(ns: &str, involved_ns: Option<&str>) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some("pi.1".to_owned()),
                namespace: Some(ns.to_owned()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Job".to_owned()),
                name: Some("pi".to_owned()),
                namespace: involved_ns.map(str::to_owned),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn involved_object_namespace_must_match() {
        assert!(validate_event(&event("team", Some("team"))).is_empty());
        assert!(validate_event(&event("default", None)).is_empty());
        let errs = validate_event(&event("team", Some("other")));
        assert_eq!(
            errs[0].to_string(),
            "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"
        );
        assert_eq!(validate_event(&event("team", None)).len(), 1);
    }
}
