//! Pod and pod template validation: the parts of `pkg/apis/core/validation` a Job or CronJob
//! manifest reaches (validation.md §2).

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};

use crate::field::{ErrorList, Path};

/// `ValidatePodTemplateSpec`.
pub fn validate_pod_template_spec(_template: &PodTemplateSpec, _path: &Path) -> ErrorList {
    Vec::new()
}

/// `ValidatePodCreate`.
pub fn validate_pod(_pod: &Pod) -> ErrorList {
    Vec::new()
}

/// `ValidatePodUpdate`.
pub fn validate_pod_update(_new: &Pod, _old: &Pod) -> ErrorList {
    Vec::new()
}

pub mod quantity;
pub use quantity::{Quantity, parse_quantity};
