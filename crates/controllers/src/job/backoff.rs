//! The delay before failed pods are replaced (J-50..J-54), as `backoff_utils.go` computes it:
//! a record per Job of the failures since the last success, and per index the failure
//! annotations of its last failed pod.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;

use super::indexes::index_absolute_failure_count;
use super::pods::{condition, grace_period};

/// Consecutive pod failures of one Job since its last success (`backoffRecord`, J-52).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    pub failures_after_last_success: i32,
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// `newBackoffRecord` (J-52): the record after the pods that finished since the last
    /// sync. Failures only add up; a success resets the count to the failures strictly later
    /// than the latest success.
    pub fn updated(&self, new_succeeded: &[&Pod], new_failed: &[&Pod]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finish_time(p)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finish_time(p)).max();
        match last_success {
            None => match failed.last() {
                None => self.clone(),
                Some(&last) => BackoffRecord {
                    failures_after_last_success: self
                        .failures_after_last_success
                        .saturating_add(i32::try_from(failed.len()).unwrap_or(i32::MAX)),
                    last_failure_time: Some(last),
                },
            },
            Some(success) => {
                let later: Vec<Timestamp> = failed.into_iter().filter(|t| *t > success).collect();
                BackoffRecord {
                    failures_after_last_success: i32::try_from(later.len()).unwrap_or(i32::MAX),
                    last_failure_time: later.last().copied(),
                }
            }
        }
    }

    /// `getRemainingTime` (J-51).
    pub fn remaining(&self, now: Timestamp, base: Duration, max: Duration) -> Duration {
        match self.last_failure_time {
            Some(last) => remaining(now, base, max, self.failures_after_last_success, last),
            None => Duration::ZERO,
        }
    }
}

/// J-50: the delay after `failures` consecutive failures: 0, then `base`·2^(n−1), at most
/// `max`.
pub fn delay(failures: i32, base: Duration, max: Duration) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let mut delay = base;
    for _ in 1..failures {
        delay = delay.saturating_mul(2);
        if delay >= max {
            return max;
        }
    }
    delay
}

/// `getRemainingTimeForFailuresCount` (J-51): the delay less the time since the last failure,
/// never negative.
pub fn remaining(
    now: Timestamp,
    base: Duration,
    max: Duration,
    failures: i32,
    last_failure: Timestamp,
) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let delay = SignedDuration::try_from(delay(failures, base, max)).unwrap_or(SignedDuration::MAX);
    let elapsed = now.duration_since(last_failure);
    if delay < elapsed {
        return Duration::ZERO;
    }
    Duration::try_from(delay.saturating_sub(elapsed)).unwrap_or(Duration::ZERO)
}

/// `getRemainingTimePerIndex` (J-54): the index's failures are those recorded on its last
/// failed pod, plus that pod.
pub fn remaining_for_index(
    now: Timestamp,
    base: Duration,
    max: Duration,
    last_failed: Option<&Pod>,
) -> Duration {
    let Some(pod) = last_failed else {
        return Duration::ZERO;
    };
    let failures = index_absolute_failure_count(pod).saturating_add(1);
    remaining(now, base, max, failures, finish_time(pod))
}

/// `getFinishedTime` (J-53): when all containers terminated, the latest finishedAt; else the
/// PodReady=False transition; else deletionTimestamp minus the grace period; else the
/// creation time.
pub fn finish_time(pod: &Pod) -> Timestamp {
    if let Some(t) = finish_time_from_containers(pod) {
        return t;
    }
    if let Some(c) = condition(pod, "Ready")
        && c.status == "False"
        && let Some(t) = c.last_transition_time.as_ref()
    {
        return t.0;
    }
    if let Some(deleted) = pod.metadata.deletion_timestamp.as_ref() {
        let grace = SignedDuration::from_secs(grace_period(pod));
        return deleted.0.checked_sub(grace).unwrap_or(deleted.0);
    }
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

fn finish_time_from_containers(pod: &Pod) -> Option<Timestamp> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let mut latest: Option<Timestamp> = None;
    for status in statuses {
        let finished = status
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())?
            .finished_at
            .as_ref()?
            .0;
        if latest.is_none_or(|l| l < finished) {
            latest = Some(finished);
        }
    }
    latest
}
