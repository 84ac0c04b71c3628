//! The TTL-after-finished controller (`pkg/controller/ttlafterfinished`), J-110: a Job with
//! `spec.ttlSecondsAfterFinished` and a Complete=True or Failed=True condition, not being
//! deleted, expires at that condition's lastTransitionTime plus the TTL. Before then it is
//! queued again for the remainder; once expired it is read again from the API (the cache
//! may be stale), checked again with that fresh copy, and deleted with
//! propagationPolicy=Foreground and a precondition on its uid.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{DeleteOptions, Preconditions, Propagation, Registry};
use kbatch_core::object::{JOB, Object};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};

/// Why a Job's expiry cannot be computed, or the API call that failed.
#[derive(Debug, thiserror::Error)]
pub enum TtlError {
    /// The Job has no TTL or has not finished (`getFinishAndExpireTime`).
    #[error("job {0} should not be cleaned up")]
    NotEligible(ObjectKey),
    /// Its finished condition has no lastTransitionTime (`jobFinishTime`).
    #[error("unable to find the time when the Job {0} finished")]
    NoFinishTime(ObjectKey),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The TTL-after-finished controller over the Job informer. Cheap to clone.
#[derive(Clone)]
pub struct TtlAfterFinishedController {
    registry: Registry,
    clock: Arc<dyn Clock>,
    jobs: Informer,
    queue: WorkQueue<ObjectKey>,
    deletion_duration: Histogram,
}

impl std::fmt::Debug for TtlAfterFinishedController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlAfterFinishedController")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// What to do with a Job now.
enum Due {
    /// No TTL, not finished, or being deleted.
    Never,
    /// Check again after this long.
    After(Duration),
    /// Expired at this time.
    Expired(Timestamp),
}

impl TtlAfterFinishedController {
    /// A controller fed by `jobs` (an informer of Jobs); it registers its handler on it.
    pub fn new(registry: Registry, clock: Arc<dyn Clock>, jobs: &Informer) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        jobs.add_handler({
            let queue = queue.clone();
            move |change| {
                // addJob / updateJob: only Jobs that may need cleaning up are queued.
                if let Change::Added(obj) | Change::Updated { new: obj, .. } = change
                    && let Object::Job(job) = obj
                    && job.metadata.deletion_timestamp.is_none()
                    && needs_cleanup(job)
                {
                    queue.add(ObjectKey::of(obj));
                }
            }
        });
        TtlAfterFinishedController {
            registry,
            clock,
            jobs: jobs.clone(),
            queue,
            deletion_duration: Histogram::new(exponential_buckets(0.1, 2.0, 14)),
        }
    }

    /// Adds `ttl_after_finished_controller_job_deletion_duration_seconds` to `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "ttl_after_finished_controller_job_deletion_duration_seconds",
            "The time it took to delete the job since it became eligible for deletion",
            self.deletion_duration.clone(),
        );
    }

    /// Waits for the Job informer, then runs `workers` workers until the queue is shut down.
    pub async fn run(self, workers: usize) {
        self.jobs.wait_synced().await;
        let queue = self.queue.clone();
        run_workers(
            "ttl-after-finished-controller",
            queue,
            workers,
            move |key: ObjectKey| {
                let controller = self.clone();
                async move { controller.sync(&key.namespace, &key.name).await }
            },
        )
        .await;
    }

    /// Stops the workers once the Jobs being processed are done.
    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// `processJob`: deletes the Job if its TTL has expired. `Ok(Some(d))`: check it again
    /// after `d`.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<Option<Duration>, TtlError> {
        let cached = match self.jobs.get(namespace, name).as_deref() {
            Some(Object::Job(job)) => job.clone(),
            _ => return Ok(None),
        };
        match due(&cached, self.clock.now())? {
            Due::Never => return Ok(None),
            Due::After(d) => return Ok(Some(d)),
            Due::Expired(_) => {}
        }
        let fresh = match self.registry.get(&JOB, namespace, name).await {
            Ok(Object::Job(job)) => job,
            Ok(_) => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        let expired_at = match due(&fresh, now)? {
            Due::Never => return Ok(None),
            Due::After(d) => return Ok(Some(d)),
            Due::Expired(at) => at,
        };
        let opts = DeleteOptions {
            propagation: Some(Propagation::Foreground),
            preconditions: Preconditions {
                uid: fresh.metadata.uid.clone(),
                resource_version: None,
            },
            ..Default::default()
        };
        tracing::info!(job = %ObjectKey::new(namespace, name), "cleaning up finished Job");
        match self.registry.delete(&JOB, namespace, name, &opts).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let late = now.duration_since(expired_at).as_secs_f64().max(0.0);
        self.deletion_duration.observe(late);
        Ok(None)
    }
}

/// `processTTL` on one copy of the Job.
fn due(job: &Job, now: Timestamp) -> Result<Due, TtlError> {
    if job.metadata.deletion_timestamp.is_some() || !needs_cleanup(job) {
        return Ok(Due::Never);
    }
    let (left, expire_at) = time_left(job, now)?;
    if left.is_positive() {
        Ok(Due::After(left.unsigned_abs()))
    } else {
        Ok(Due::Expired(expire_at))
    }
}

/// Whether the Job has a TTL and has finished (`needsCleanup`).
pub fn needs_cleanup(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.ttl_seconds_after_finished.is_some())
        && finished_condition(job).is_some()
}

/// The first Complete=True or Failed=True condition.
fn finished_condition(job: &Job) -> Option<&k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|list| {
            list.iter()
                .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// `timeLeft`: how long until the Job expires (negative once past) and when it expires. A
/// finish time in the future (clock skew) is logged and the cleanup deferred.
pub fn time_left(job: &Job, now: Timestamp) -> Result<(SignedDuration, Timestamp), TtlError> {
    let key = || {
        ObjectKey::new(
            job.metadata.namespace.clone().unwrap_or_default(),
            job.metadata.name.clone().unwrap_or_default(),
        )
    };
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    let (Some(ttl), Some(finished)) = (ttl, finished_condition(job)) else {
        return Err(TtlError::NotEligible(key()));
    };
    let finish_at = finished
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .ok_or_else(|| TtlError::NoFinishTime(key()))?;
    // Past the end of time the Job never expires.
    let expire_at = finish_at
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .unwrap_or(Timestamp::MAX);
    if finish_at > now {
        tracing::warn!(
            job = %key(),
            "found Job finished in the future; this is likely due to time skew in the cluster; cleanup deferred"
        );
    }
    Ok((expire_at.duration_since(now), expire_at))
}
