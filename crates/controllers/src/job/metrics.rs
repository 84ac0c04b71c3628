//! The Job controller's metrics: `pkg/controller/job/metrics` (`job_controller_*`), and the
//! `kube_job_*` gauges kube-state-metrics derives from Jobs. The gauges are set at the end of
//! every sync from the Job as the sync last read or wrote it, and removed when a sync finds
//! the Job gone, so they follow the store without a collector that would have to read it at
//! scrape time.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::failure_policy::Action;
use super::indexes::Intervals;
use super::spec;
use super::status::counter;

/// The `action` label values (`JobSyncAction*`).
pub(super) const ACTION_RECONCILING: &str = "reconciling";
pub(super) const ACTION_TRACKING: &str = "tracking";
pub(super) const ACTION_PODS_CREATED: &str = "pods_created";
pub(super) const ACTION_PODS_DELETED: &str = "pods_deleted";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    completion_mode: String,
    result: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    completion_mode: String,
    result: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodsFinishedLabels {
    completion_mode: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CreationLabels {
    reason: String,
    status: String,
}

/// Upstream spells this label `backoffLimit`.
#[allow(non_snake_case)]
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IndexLabels {
    status: String,
    backoffLimit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    namespace: String,
    job_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    namespace: String,
    job_name: String,
    condition: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type SyncHistogram = Family<SyncLabels, Histogram, fn() -> Histogram>;

fn sync_histogram() -> Histogram {
    // `metrics.ExponentialBuckets(0.004, 2, 15)`.
    Histogram::new(exponential_buckets(0.004, 2.0, 15))
}

/// kube-state-metrics' Job gauges, by family name.
#[derive(Clone, Debug, Default)]
struct Gauges {
    per_job: Vec<(&'static str, &'static str, Family<JobLabels, FloatGauge>)>,
    complete: Family<ConditionLabels, FloatGauge>,
    failed: Family<ConditionLabels, FloatGauge>,
}

const JOB_GAUGES: [(&str, &str); 9] = [
    (
        "kube_job_status_active",
        "The number of actively running pods.",
    ),
    (
        "kube_job_status_succeeded",
        "The number of pods which reached Phase Succeeded.",
    ),
    (
        "kube_job_status_failed",
        "The number of pods which reached Phase Failed.",
    ),
    (
        "kube_job_status_start_time",
        "StartTime represents time when the job was acknowledged by the Job Manager.",
    ),
    (
        "kube_job_status_completion_time",
        "CompletionTime represents time when the job was completed.",
    ),
    (
        "kube_job_spec_parallelism",
        "The maximum desired number of pods the job should run at any given time.",
    ),
    (
        "kube_job_spec_completions",
        "The desired number of successfully finished pods the job should be run with.",
    ),
    (
        "kube_job_spec_active_deadline_seconds",
        "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.",
    ),
    ("kube_job_created", "Unix creation timestamp"),
];

#[derive(Clone, Debug)]
pub(super) struct JobMetrics {
    sync_duration: SyncHistogram,
    syncs: Family<SyncLabels, Counter>,
    finished: Family<FinishedLabels, Counter>,
    pods_finished: Family<PodsFinishedLabels, Counter>,
    failure_policy: Family<ActionLabels, Counter>,
    pods_creation: Family<CreationLabels, Counter>,
    finished_indexes: Family<IndexLabels, Counter>,
    gauges: Gauges,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            sync_duration: Family::new_with_constructor(sync_histogram),
            syncs: Family::default(),
            finished: Family::default(),
            pods_finished: Family::default(),
            failure_policy: Family::default(),
            pods_creation: Family::default(),
            finished_indexes: Family::default(),
            gauges: Gauges {
                per_job: JOB_GAUGES
                    .iter()
                    .map(|(name, help)| (*name, *help, Family::default()))
                    .collect(),
                complete: Family::default(),
                failed: Family::default(),
            },
        }
    }
}

/// The counters of a status, to compute what a write added (`recordJobPodFinished`).
#[derive(Clone, Debug, Default)]
pub(super) struct Counters {
    succeeded: i32,
    failed: i32,
    completed_indexes: String,
    failed_indexes: Option<String>,
}

impl Counters {
    pub fn of(job: &Job) -> Counters {
        let status = job.status.as_ref();
        Counters {
            succeeded: counter(status.and_then(|s| s.succeeded)),
            failed: counter(status.and_then(|s| s.failed)),
            completed_indexes: status
                .and_then(|s| s.completed_indexes.clone())
                .unwrap_or_default(),
            failed_indexes: status.and_then(|s| s.failed_indexes.clone()),
        }
    }
}

impl JobMetrics {
    pub fn register(&self, registry: &mut Registry) {
        // prometheus-client appends `_total` to counters.
        registry.register(
            "job_controller_job_sync_duration_seconds",
            "The time it took to sync a job",
            self.sync_duration.clone(),
        );
        registry.register(
            "job_controller_job_syncs",
            "The number of job syncs",
            self.syncs.clone(),
        );
        registry.register(
            "job_controller_jobs_finished",
            "The number of finished jobs",
            self.finished.clone(),
        );
        registry.register(
            "job_controller_job_pods_finished",
            "The number of finished Pods that are fully tracked",
            self.pods_finished.clone(),
        );
        registry.register(
            "job_controller_pod_failures_handled_by_failure_policy",
            "The number of failed Pods handled by failure policy with respect to the failure policy action applied based on the matched rule.",
            self.failure_policy.clone(),
        );
        registry.register(
            "job_controller_job_pods_creation",
            "The number of Pods created by the Job controller labelled with a reason for the Pod creation.",
            self.pods_creation.clone(),
        );
        registry.register(
            "job_controller_job_finished_indexes",
            "The number of finished indexes.",
            self.finished_indexes.clone(),
        );
        for (name, help, family) in &self.gauges.per_job {
            registry.register(*name, *help, family.clone());
        }
        registry.register(
            "kube_job_complete",
            "The job has completed its execution.",
            self.gauges.complete.clone(),
        );
        registry.register(
            "kube_job_failed",
            "The job has failed its execution.",
            self.gauges.failed.clone(),
        );
    }

    pub fn observe_sync(&self, mode: &str, ok: bool, action: &str, elapsed: Duration) {
        let labels = SyncLabels {
            completion_mode: mode.to_owned(),
            result: if ok { "success" } else { "error" }.to_owned(),
            action: action.to_owned(),
        };
        self.sync_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.syncs.get_or_create(&labels).inc();
    }

    pub fn job_finished(&self, mode: &str, result: &str, reason: &str) {
        self.finished
            .get_or_create(&FinishedLabels {
                completion_mode: mode.to_owned(),
                result: result.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn failure_policy_action(&self, action: Action, n: u64) {
        self.failure_policy
            .get_or_create(&ActionLabels {
                action: action.as_str().to_owned(),
            })
            .inc_by(n);
    }

    pub fn pods_created(&self, reason: &str, created: u64, failed: u64) {
        for (status, n) in [("succeeded", created), ("failed", failed)] {
            if n > 0 {
                self.pods_creation
                    .get_or_create(&CreationLabels {
                        reason: reason.to_owned(),
                        status: status.to_owned(),
                    })
                    .inc_by(n);
            }
        }
    }

    /// `recordJobPodFinished`: the pods (and, for Indexed Jobs, indexes) a status write
    /// counted.
    pub fn pods_finished(&self, job: &Job, old: &Counters) {
        let new = Counters::of(job);
        let mode = spec::completion_mode(job);
        let succeeded = if spec::is_indexed(job) {
            let completions = spec::indexed_completions(job);
            let total = |text: &str| Intervals::parse(text, completions).total();
            let limit = if spec::has_backoff_limit_per_index(job) {
                "perIndex"
            } else {
                "global"
            };
            let diff = if new.completed_indexes != old.completed_indexes {
                total(&new.completed_indexes) - total(&old.completed_indexes)
            } else {
                0
            };
            self.add_indexes("succeeded", limit, diff);
            if spec::has_backoff_limit_per_index(job) && new.failed_indexes != old.failed_indexes {
                let count = |t: &Option<String>| t.as_deref().map_or(0, total);
                self.add_indexes(
                    "failed",
                    limit,
                    count(&new.failed_indexes) - count(&old.failed_indexes),
                );
            }
            diff
        } else {
            i64::from(new.succeeded) - i64::from(old.succeeded)
        };
        let failed = i64::from(new.failed) - i64::from(old.failed);
        for (result, n) in [("succeeded", succeeded), ("failed", failed)] {
            if let Ok(n @ 1..) = u64::try_from(n) {
                self.pods_finished
                    .get_or_create(&PodsFinishedLabels {
                        completion_mode: mode.to_owned(),
                        result: result.to_owned(),
                    })
                    .inc_by(n);
            }
        }
    }

    fn add_indexes(&self, status: &str, limit: &str, n: i64) {
        if let Ok(n @ 1..) = u64::try_from(n) {
            self.finished_indexes
                .get_or_create(&IndexLabels {
                    status: status.to_owned(),
                    backoffLimit: limit.to_owned(),
                })
                .inc_by(n);
        }
    }

    /// Sets kube-state-metrics' gauges of one Job.
    pub fn observe_job(&self, job: &Job) {
        let labels = JobLabels {
            namespace: spec::namespace(job).to_owned(),
            job_name: spec::name(job).to_owned(),
        };
        let status = job.status.as_ref();
        let seconds = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.map(|t| t.0.as_second() as f64)
        };
        let values: [Option<f64>; 9] = [
            Some(f64::from(counter(status.and_then(|s| s.active)))),
            Some(f64::from(counter(status.and_then(|s| s.succeeded)))),
            Some(f64::from(counter(status.and_then(|s| s.failed)))),
            seconds(status.and_then(|s| s.start_time.as_ref())),
            seconds(status.and_then(|s| s.completion_time.as_ref())),
            Some(f64::from(spec::parallelism(job))),
            spec::completions(job).map(f64::from),
            spec::active_deadline_seconds(job).map(|d| d as f64),
            seconds(job.metadata.creation_timestamp.as_ref()),
        ];
        for ((_, _, family), value) in self.gauges.per_job.iter().zip(values) {
            match value {
                Some(v) => {
                    family.get_or_create(&labels).set(v);
                }
                None => {
                    family.remove(&labels);
                }
            }
        }
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        for (type_, family) in [
            ("Complete", &self.gauges.complete),
            ("Failed", &self.gauges.failed),
        ] {
            let found = conditions.iter().find(|c| c.type_ == type_);
            for value in ["true", "false", "unknown"] {
                let labels = ConditionLabels {
                    namespace: labels.namespace.clone(),
                    job_name: labels.job_name.clone(),
                    condition: value.to_owned(),
                };
                match found {
                    Some(c) => {
                        let on = c.status.eq_ignore_ascii_case(value);
                        family
                            .get_or_create(&labels)
                            .set(if on { 1.0 } else { 0.0 });
                    }
                    None => {
                        family.remove(&labels);
                    }
                }
            }
        }
    }

    /// Drops the gauges of a Job that is gone.
    pub fn forget_job(&self, namespace: &str, name: &str) {
        let labels = JobLabels {
            namespace: namespace.to_owned(),
            job_name: name.to_owned(),
        };
        for (_, _, family) in &self.gauges.per_job {
            family.remove(&labels);
        }
        for family in [&self.gauges.complete, &self.gauges.failed] {
            for value in ["true", "false", "unknown"] {
                family.remove(&ConditionLabels {
                    namespace: namespace.to_owned(),
                    job_name: name.to_owned(),
                    condition: value.to_owned(),
                });
            }
        }
    }
}
