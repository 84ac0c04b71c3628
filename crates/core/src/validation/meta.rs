//! ObjectMeta validation: apimachinery's `pkg/api/validation/objectmeta.go` (V-1…V-8).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::field::{ErrorList, Path};

/// Validates a name (or, with `prefix`, a generateName); returns the problems.
pub type NameValidator = fn(name: &str, prefix: bool) -> Vec<String>;

/// `ValidateObjectMeta` for create.
pub fn validate_object_meta(
    _meta: &ObjectMeta,
    _requires_namespace: bool,
    _name: NameValidator,
    _path: &Path,
) -> ErrorList {
    Vec::new()
}

/// `ValidateObjectMetaUpdate`.
pub fn validate_object_meta_update(_new: &ObjectMeta, _old: &ObjectMeta, _path: &Path) -> ErrorList {
    Vec::new()
}
