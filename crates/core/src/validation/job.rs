//! Job validation: `pkg/apis/batch/validation/validation.go` (job.md §1).

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use crate::field::{ErrorList, Path};

/// Options that differ between a Job and a CronJob's job template.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobSpecOpts {
    /// The spec is a CronJob's `jobTemplate.spec` (J-6: no selector, no manualSelector).
    pub in_cronjob_template: bool,
}

/// `ValidateJob` (create), after defaulting and selector generation.
pub fn validate_job(_job: &Job) -> ErrorList {
    Vec::new()
}

/// `ValidateJobUpdate`.
pub fn validate_job_update(_new: &Job, _old: &Job) -> ErrorList {
    Vec::new()
}

/// `ValidateJobSpec`.
pub fn validate_job_spec(_spec: &JobSpec, _path: &Path, _opts: JobSpecOpts) -> ErrorList {
    Vec::new()
}

/// `WarningsOnCreate` in pkg/registry/batch/job/strategy.go (J-2).
pub fn warnings_on_create(_job: &Job) -> Vec<String> {
    Vec::new()
}
