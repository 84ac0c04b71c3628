//! CronJob validation: `pkg/apis/batch/validation/validation.go` (cronjob.md §1).

use k8s_openapi::api::batch::v1::CronJob;

use crate::field::ErrorList;

/// `ValidateCronJobCreate`.
pub fn validate_cronjob(_cj: &CronJob) -> ErrorList {
    Vec::new()
}

/// `ValidateCronJobUpdate`.
pub fn validate_cronjob_update(_new: &CronJob, _old: &CronJob) -> ErrorList {
    Vec::new()
}
