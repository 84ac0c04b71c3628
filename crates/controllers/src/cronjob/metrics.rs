//! The CronJob controller's metrics: `cronjob_controller_job_creation_skew_duration_seconds`
//! (`pkg/controller/cronjob/metrics`) and the `kube_cronjob_*` gauges kube-state-metrics
//! derives from CronJobs. The gauges are set at the end of every sync from the CronJob as the
//! sync last read or wrote it, and removed when a sync finds it gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_schedule::Instant;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::spec;

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

/// The gauges' values of every CronJob, by `<namespace>/<name>`, in [`GAUGES`] order; NaN
/// where a gauge has no value. One small entry per CronJob: a family per gauge would hold a
/// label set and a gauge per CronJob five times, about a kilobyte per CronJob.
type Values = HashMap<Box<str>, [f64; 5]>;

#[derive(Debug, Clone)]
pub(super) struct CronJobMetrics {
    creation_skew: Histogram,
    gauges: Arc<Mutex<Values>>,
}

impl Default for CronJobMetrics {
    fn default() -> Self {
        CronJobMetrics {
            creation_skew: Histogram::new(SKEW_BUCKETS),
            gauges: Arc::default(),
        }
    }
}

/// Encodes the gauges at each scrape from [`Values`].
#[derive(Debug)]
struct Gauges(Arc<Mutex<Values>>);

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A copy, so syncs never wait for a scrape; sorted, so scrapes read alike.
        let mut values: Vec<(Box<str>, [f64; 5])> = lock(&self.0)
            .iter()
            .map(|(key, values)| (key.clone(), *values))
            .collect();
        values.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (i, (name, help)) in GAUGES.iter().enumerate() {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (key, values) in &values {
                if values[i].is_nan() {
                    continue;
                }
                let (namespace, cronjob) = key.split_once('/').unwrap_or(("", key));
                let labels = [("namespace", namespace), ("cronjob", cronjob)];
                ConstGauge::new(values[i]).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn lock(values: &Mutex<Values>) -> MutexGuard<'_, Values> {
    // Every change is one insert or remove: a poisoned lock still holds whole entries.
    values.lock().unwrap_or_else(|p| p.into_inner())
}

impl CronJobMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cronjob_controller_job_creation_skew_duration_seconds",
            "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
            self.creation_skew.clone(),
        );
        registry.register_collector(Box::new(Gauges(Arc::clone(&self.gauges))));
    }

    /// `CronJobCreationSkew.Observe`: a job was created this long after its fire time.
    pub fn creation_skew(&self, seconds: f64) {
        self.creation_skew.observe(seconds);
    }

    /// Sets the gauges of one CronJob. `next` is kube-state-metrics' next schedule time:
    /// the fire time after lastScheduleTime (else the creation time) in spec.timeZone,
    /// absent while suspended or when the schedule or zone does not load.
    pub fn observe(&self, cj: &CronJob, next: Option<Instant>) {
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
        let values = values.map(|v| v.unwrap_or(f64::NAN));
        let key = key(spec::namespace(cj), spec::name(cj));
        let mut gauges = lock(&self.gauges);
        match gauges.get_mut(key.as_str()) {
            Some(held) => *held = values,
            None => {
                gauges.insert(key.into_boxed_str(), values);
            }
        }
    }

    /// Drops the gauges of a CronJob that is gone.
    pub fn forget(&self, namespace: &str, name: &str) {
        lock(&self.gauges).remove(key(namespace, name).as_str());
    }
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}
