use k8s_openapi::api::batch::v1::Job;

/// `SetDefaults_Job` (job.md §1 defaults column, J-1).
pub fn default_job(_job: &mut Job) {}

/// `generateSelector` in pkg/registry/batch/job/strategy.go (J-10).
pub fn generate_selector(_job: &mut Job) {}
