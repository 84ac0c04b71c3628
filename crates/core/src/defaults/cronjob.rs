use k8s_openapi::api::batch::v1::CronJob;

/// `SetDefaults_CronJob` (cronjob.md C-1).
pub fn default_cronjob(_cj: &mut CronJob) {}
