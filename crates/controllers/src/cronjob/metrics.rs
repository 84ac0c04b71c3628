//! The CronJob controller's metrics: `cronjob_controller_job_creation_skew_duration_seconds`
//! (`pkg/controller/cronjob/metrics`) and the `kube_cronjob_*` gauges kube-state-metrics
//! derives from CronJobs. The gauges are set at the end of every sync from the CronJob as the
//! sync last read or wrote it, and removed when a sync finds it gone.

use std::sync::atomic::AtomicU64;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_schedule::Instant;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::spec;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CronJobLabels {
    namespace: String,
    cronjob: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// kube-state-metrics' CronJob gauges, in the order [`CronJobMetrics::observe`] fills them.
const GAUGES: [(&str, &str); 5] = [
    (
        "kube_cronjob_next_schedule_time",
        "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation time if it's never been scheduled. Use this to determine if the job is delayed.",
    ),
    (
        "kube_cronjob_status_last_schedule_time",
        "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.",
    ),
    (
        "kube_cronjob_status_last_successful_time",
        "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.",
    ),
    (
        "kube_cronjob_status_active",
        "Active holds pointers to currently running jobs.",
    ),
    (
        "kube_cronjob_spec_suspend",
        "Suspend flag tells the controller to suspend subsequent executions.",
    ),
];

/// The skew histogram's upper bounds: Kubernetes' `metrics.ExponentialBuckets(1, 2, 10)`
/// (1 s to 512 s), below which kbatch adds nine, down to a millisecond, because its Jobs are
/// created within milliseconds of their fire time (Kubernetes' sync runs 100 ms after it,
/// C-30). Queries on Kubernetes' bounds read the same.
const SKEW_BUCKETS: [f64; 19] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0,
    128.0, 256.0, 512.0,
];

#[derive(Debug, Clone)]
pub(super) struct CronJobMetrics {
    creation_skew: Histogram,
    gauges: Vec<Family<CronJobLabels, FloatGauge>>,
}

impl Default for CronJobMetrics {
    fn default() -> Self {
        CronJobMetrics {
            creation_skew: Histogram::new(SKEW_BUCKETS),
            gauges: GAUGES.iter().map(|_| Family::default()).collect(),
        }
    }
}

impl CronJobMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cronjob_controller_job_creation_skew_duration_seconds",
            "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
            self.creation_skew.clone(),
        );
        for ((name, help), family) in GAUGES.iter().zip(&self.gauges) {
            registry.register(*name, *help, family.clone());
        }
    }

    /// `CronJobCreationSkew.Observe`: a job was created this long after its fire time.
    pub fn creation_skew(&self, seconds: f64) {
        self.creation_skew.observe(seconds);
    }

    /// Sets the gauges of one CronJob. `next` is kube-state-metrics' next schedule time:
    /// the fire time after lastScheduleTime (else the creation time) in spec.timeZone,
    /// absent while suspended or when the schedule or zone does not load.
    pub fn observe(&self, cj: &CronJob, next: Option<Instant>) {
        let labels = labels(spec::namespace(cj), spec::name(cj));
        let status = cj.status.as_ref();
        let seconds = |t: Option<&Time>| t.map(|t| t.0.as_second() as f64);
        let values: [Option<f64>; 5] = [
            next.map(|t| t.unix_seconds() as f64),
            seconds(status.and_then(|s| s.last_schedule_time.as_ref())),
            seconds(status.and_then(|s| s.last_successful_time.as_ref())),
            Some(spec::active(cj).len() as f64),
            cj.spec
                .as_ref()
                .and_then(|s| s.suspend)
                .map(|s| if s { 1.0 } else { 0.0 }),
        ];
        for (family, value) in self.gauges.iter().zip(values) {
            match value {
                Some(v) => {
                    family.get_or_create(&labels).set(v);
                }
                None => {
                    family.remove(&labels);
                }
            }
        }
    }

    /// Drops the gauges of a CronJob that is gone.
    pub fn forget(&self, namespace: &str, name: &str) {
        let labels = labels(namespace, name);
        for family in &self.gauges {
            family.remove(&labels);
        }
    }
}

fn labels(namespace: &str, name: &str) -> CronJobLabels {
    CronJobLabels {
        namespace: namespace.to_owned(),
        cronjob: name.to_owned(),
    }
}
