//! Namespace validation: `ValidateNamespace` in `pkg/apis/core/validation`.

use k8s_openapi::api::core::v1::Namespace;

use crate::field::ErrorList;

/// `ValidateNamespace`.
pub fn validate_namespace(_ns: &Namespace) -> ErrorList {
    Vec::new()
}

/// `ValidateNamespaceUpdate`.
pub fn validate_namespace_update(_new: &Namespace, _old: &Namespace) -> ErrorList {
    Vec::new()
}
