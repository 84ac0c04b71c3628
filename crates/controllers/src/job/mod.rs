//! Placeholder for the Job controller, so that the manager compiles against its API; the
//! Job controller itself (branch h-jobctl) replaces this file.

use std::sync::Arc;
use std::time::Duration;

use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::Registry;

/// The Job controller's settings: the pod-failure backoff (J-50).
#[derive(Debug, Clone, Copy)]
pub struct JobConfig {
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

#[derive(Debug)]
pub struct JobController {
    _registry: Registry,
    _clock: Arc<dyn Clock>,
    _config: JobConfig,
}

impl JobController {
    pub fn new(registry: Registry, clock: Arc<dyn Clock>, config: JobConfig) -> Self {
        JobController {
            _registry: registry,
            _clock: clock,
            _config: config,
        }
    }

    /// Syncs one Job; `Ok(Some(d))` asks to be synced again after `d`.
    pub async fn sync(&self, _namespace: &str, _name: &str) -> Result<Option<Duration>, ApiError> {
        Ok(None)
    }

    pub fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}
