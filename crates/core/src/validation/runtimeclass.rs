//! RuntimeClass validation: `ValidateRuntimeClass` / `ValidateRuntimeClassUpdate` in
//! `pkg/apis/node/validation`.

use k8s_openapi::api::node::v1::RuntimeClass;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::job::FIELD_IMMUTABLE;
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::{is_dns1123_label, name_is_dns_subdomain};

/// `ValidateRuntimeClass`: cluster-scoped, named as a DNS subdomain; the handler a DNS
/// label (`ValidateRuntimeHandler`).
pub fn validate_runtime_class(rc: &RuntimeClass) -> ErrorList {
    let mut errs = validate_object_meta(
        &rc.metadata,
        false,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let handler = Path::new("handler");
    if rc.handler.is_empty() {
        errs.push(FieldError::required(&handler, ""));
    } else {
        for msg in is_dns1123_label(&rc.handler) {
            errs.push(FieldError::invalid(&handler, rc.handler.as_str(), msg));
        }
    }
    errs
}

/// `ValidateRuntimeClassUpdate`: the handler cannot change.
pub fn validate_runtime_class_update(new: &RuntimeClass, old: &RuntimeClass) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_runtime_class(new));
    if new.handler != old.handler {
        errs.push(FieldError::invalid(
            &Path::new("handler"),
            new.handler.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(name: &str, handler: &str) -> RuntimeClass {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}, "handler": handler
        }))
        .unwrap()
    }

    #[test]
    fn handler_is_a_required_dns_label() {
        assert!(validate_runtime_class(&rc("runc", "runc")).is_empty());
        let errs = validate_runtime_class(&rc("x", ""));
        assert_eq!(errs[0].to_string(), "handler: Required value");
        let errs = validate_runtime_class(&rc("x", "Not_A_Label"));
        assert!(
            errs[0]
                .to_string()
                .starts_with("handler: Invalid value: \"Not_A_Label\""),
            "{}",
            errs[0]
        );
        let errs = validate_runtime_class_update(&rc("x", "runc"), &rc("x", "process"));
        assert!(
            errs.iter()
                .any(|e| e.to_string().ends_with("field is immutable")),
            "{errs:?}"
        );
    }
}
