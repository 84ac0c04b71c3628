//! The CronJob controller over a registry on the in-memory store with a settable wall clock.
//! Tests call `sync` directly, play the Job controller by writing Job status through
//! `/status`, and move the clock by hand, so months of schedule run in milliseconds.

#![allow(dead_code)]

#[path = "../shared/events.rs"]
mod shared_events;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job, JobCondition};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    DeleteOptions, ListParams, PatchType, Propagation, Registry, WriteOptions,
};
use kbatch_controllers::CronJobController;
use kbatch_controllers::cronjob::KUBERNETES_REQUEUE_DELTA;
use kbatch_core::object::{CRONJOB, EVENT, JOB, NAMESPACE, Object};
use kbatch_store::{MemoryStore, Store};
use serde_json::{Value, json};

pub const NS: &str = "default";

/// A wall clock the test moves.
#[derive(Debug)]
pub struct FakeClock(Mutex<Timestamp>);

impl FakeClock {
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// The registry's clock: the fake clock plus a nanosecond per reading, so that events the
/// registry names after the time stay distinct while the fake clock stands still.
#[derive(Debug)]
struct TickingClock {
    base: Arc<FakeClock>,
    ticks: AtomicI64,
}

impl Clock for TickingClock {
    fn now(&self) -> Timestamp {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        self.base.now() + SignedDuration::from_nanos(tick)
    }
}

/// T of test-cases.md: 2016-05-19T10:00:00Z, a Thursday.
pub fn t0() -> Timestamp {
    ts("2016-05-19T10:00:00Z")
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// T + minutes.
pub fn at_min(minutes: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(minutes)
}

/// The requeue duration of a fire time `minutes` from now: that + 100ms (C-30).
pub fn after_min(minutes: u64) -> Option<Duration> {
    Some(Duration::from_secs(minutes * 60) + Duration::from_millis(100))
}

pub struct Env {
    pub store: Arc<MemoryStore>,
    pub registry: Registry,
    pub clock: Arc<FakeClock>,
    pub ctrl: CronJobController,
}

impl Env {
    pub async fn new() -> Env {
        let clock = Arc::new(FakeClock(Mutex::new(t0())));
        let ticking = Arc::new(TickingClock {
            base: clock.clone(),
            ticks: AtomicI64::new(0),
        });
        let store = Arc::new(MemoryStore::new());
        let registry = Registry::new(store.clone(), ticking);
        registry.bootstrap().await.unwrap();
        // Kubernetes' requeue delays to the nanosecond, as test-cases.md gives them.
        let ctrl = CronJobController::new(registry.clone(), clock.clone())
            .with_requeue_delta(KUBERNETES_REQUEUE_DELTA);
        Env {
            store,
            registry,
            clock,
            ctrl,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Another registry with the test's clock over `store` (e.g. a wrapper of `self.store`):
    /// what a restarted server builds over the same data.
    pub fn registry_over(&self, store: Arc<dyn Store>) -> Registry {
        let ticking = Arc::new(TickingClock {
            base: self.clock.clone(),
            // Apart from the first registry's readings, so event names stay distinct.
            ticks: AtomicI64::new(1 << 24),
        });
        Registry::new(store, ticking)
    }

    pub fn set_now(&self, t: Timestamp) {
        self.clock.set(t);
    }

    /// Creates a CronJob `name` at the clock's time: `spec` merged over an hourly schedule
    /// with a busybox job template.
    pub async fn create(&self, name: &str, spec: Value) -> CronJob {
        let mut body = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name},
            "spec": {
                "schedule": "0 * * * ?",
                "jobTemplate": {
                    "metadata": {"labels": {"app": name}, "annotations": {"note": "kept"}},
                    "spec": {"template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}]}}}
                }
            }
        });
        merge(&mut body["spec"], spec);
        let cj: CronJob = serde_json::from_value(body).unwrap();
        let written = self
            .registry
            .create(
                &CRONJOB,
                NS,
                Object::CronJob(cj),
                &WriteOptions::default(),
                vec![],
            )
            .await
            .unwrap();
        as_cronjob(written.object)
    }

    pub async fn sync(&self, name: &str) -> Option<Duration> {
        self.ctrl.sync(NS, name).await.unwrap()
    }

    pub async fn try_sync(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.ctrl.sync(NS, name).await
    }

    pub async fn cronjob(&self, name: &str) -> CronJob {
        as_cronjob(self.registry.get(&CRONJOB, NS, name).await.unwrap())
    }

    /// Changes the CronJob's spec as a user's update would.
    pub async fn update_spec(&self, name: &str, change: Value) -> CronJob {
        let cj = self.cronjob(name).await;
        let mut value = serde_json::to_value(&cj).unwrap();
        merge(&mut value["spec"], change);
        let cj: CronJob = serde_json::from_value(value).unwrap();
        let written = self
            .registry
            .update(
                &CRONJOB,
                NS,
                name,
                Object::CronJob(cj),
                &WriteOptions::default(),
                vec![],
            )
            .await
            .unwrap();
        as_cronjob(written.object)
    }

    /// Sets (or, with `None`, removes) an annotation of the CronJob, as `kubectl annotate`.
    pub async fn annotate(&self, name: &str, key: &str, value: Option<&str>) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.registry
            .patch(
                &CRONJOB,
                NS,
                name,
                PatchType::Merge,
                &patch,
                &WriteOptions::default(),
            )
            .await
            .unwrap();
    }

    /// Writes the CronJob's status through `/status`.
    pub async fn set_status(&self, name: &str, change: impl FnOnce(&mut CronJobStatus)) {
        let mut cj = self.cronjob(name).await;
        change(cj.status.get_or_insert_with(Default::default));
        let opts = WriteOptions {
            subresource: Some("status".into()),
            ..Default::default()
        };
        self.registry
            .update(&CRONJOB, NS, name, Object::CronJob(cj), &opts, vec![])
            .await
            .unwrap();
    }

    pub async fn set_last_schedule(&self, name: &str, at: Timestamp) {
        self.set_status(name, |s| s.last_schedule_time = Some(Time(at)))
            .await;
    }

    /// Every Job in the namespace, by name.
    pub async fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = self
            .registry
            .list(&JOB, Some(NS), &ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(as_job)
            .collect();
        jobs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        jobs
    }

    pub async fn job_names(&self) -> Vec<String> {
        self.jobs()
            .await
            .into_iter()
            .map(|j| j.metadata.name.unwrap_or_default())
            .collect()
    }

    pub async fn job(&self, name: &str) -> Option<Job> {
        match self.registry.get(&JOB, NS, name).await {
            Ok(o) => Some(as_job(o)),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates a Job as another actor would: `owner` is the CronJob that controls it, if any.
    pub async fn create_job(&self, name: &str, owner: Option<&CronJob>) -> Job {
        let mut body = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}
        });
        if let Some(cj) = owner {
            body["metadata"]["ownerReferences"] = json!([{
                "apiVersion": "batch/v1", "kind": "CronJob",
                "name": cj.metadata.name, "uid": cj.metadata.uid,
                "controller": true, "blockOwnerDeletion": true,
            }]);
        }
        let job: Job = serde_json::from_value(body).unwrap();
        as_job(
            self.registry
                .create(&JOB, NS, Object::Job(job), &WriteOptions::default(), vec![])
                .await
                .unwrap()
                .object,
        )
    }

    /// Plays the Job controller: the Job started at `start` and finished at `end` with
    /// `condition` (Complete or Failed), after its interim condition (J-26), which the API
    /// server requires (J-92).
    pub async fn finish_job(&self, name: &str, condition: &str, start: Timestamp, end: Timestamp) {
        let mut job = self.job(name).await.unwrap();
        let status = job.status.get_or_insert_with(Default::default);
        status.start_time = Some(Time(start));
        let interim = if condition == "Complete" {
            "SuccessCriteriaMet"
        } else {
            "FailureTarget"
        };
        status.conditions = Some(
            [interim, condition]
                .into_iter()
                .map(|type_| JobCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(end)),
                    ..Default::default()
                })
                .collect(),
        );
        if condition == "Complete" {
            status.completion_time = Some(Time(end));
            status.succeeded = Some(1);
        } else {
            status.failed = Some(1);
        }
        let opts = WriteOptions {
            subresource: Some("status".into()),
            ..Default::default()
        };
        self.registry
            .update(&JOB, NS, name, Object::Job(job), &opts, vec![])
            .await
            .unwrap();
    }

    /// Plays the Job controller: the Job started at `start` and is running.
    pub async fn start_job(&self, name: &str, start: Timestamp) {
        let mut job = self.job(name).await.unwrap();
        let status = job.status.get_or_insert_with(Default::default);
        status.start_time = Some(Time(start));
        status.active = Some(1);
        let opts = WriteOptions {
            subresource: Some("status".into()),
            ..Default::default()
        };
        self.registry
            .update(&JOB, NS, name, Object::Job(job), &opts, vec![])
            .await
            .unwrap();
    }

    pub async fn delete_job(&self, name: &str) {
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..Default::default()
        };
        self.registry.delete(&JOB, NS, name, &opts).await.unwrap();
    }

    /// The events about the CronJob `name`, oldest first, as (type, reason, message).
    pub async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        shared_events::about(&self.registry, NS, name).await
    }

    /// The events about `name`, then deletes every event and compacts the store (as the
    /// server does in the background): long runs keep lists and the registry's search for
    /// repeated events short.
    pub async fn take_events(&self, name: &str) -> Vec<(String, String, String)> {
        let events = self.events(name).await;
        let all = self
            .registry
            .list(&EVENT, Some(NS), &ListParams::default())
            .await
            .unwrap();
        for event in all.items {
            self.registry
                .delete(&EVENT, NS, event.name(), &DeleteOptions::default())
                .await
                .unwrap();
        }
        let revision = self.store.current_revision().await.unwrap();
        self.store.compact(revision).await.unwrap();
        events
    }

    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events(name).await.into_iter().map(|e| e.1).collect()
    }

    /// The messages of the events about `name` with `reason`.
    pub async fn messages(&self, name: &str, reason: &str) -> Vec<String> {
        self.events(name)
            .await
            .into_iter()
            .filter(|e| e.1 == reason)
            .map(|e| e.2)
            .collect()
    }

    /// The store's revision: it moves with every write.
    pub async fn revision(&self) -> i64 {
        self.store.current_revision().await.unwrap()
    }

    /// Edits the stored CronJob directly, bypassing admission: how a CronJob that validation
    /// would refuse today (a bad zone, an unparseable schedule) can exist.
    pub async fn edit_stored(&self, name: &str, change: impl FnOnce(&mut Value)) {
        self.edit_stored_key(Registry::key(&CRONJOB, NS, name), change)
            .await;
    }

    /// Edits the stored Job directly, bypassing admission: how a Job status the API server
    /// refuses today (J-92) can exist, written by an older server.
    pub async fn edit_stored_job(&self, name: &str, change: impl FnOnce(&mut Value)) {
        self.edit_stored_key(Registry::key(&JOB, NS, name), change)
            .await;
    }

    async fn edit_stored_key(&self, key: String, change: impl FnOnce(&mut Value)) {
        let kv = self.store.get(&key).await.unwrap();
        let mut value: Value = serde_json::from_slice(&kv.value).unwrap();
        change(&mut value);
        self.store
            .update(&key, serde_json::to_vec(&value).unwrap(), kv.mod_revision)
            .await
            .unwrap();
    }

    /// Marks the namespace terminating directly in the store, as a namespace delete leaves
    /// it while its content goes (without the background deletion of that content).
    pub async fn mark_terminating(&self, namespace: &str) {
        let key = Registry::key(&NAMESPACE, "", namespace);
        let kv = self.store.get(&key).await.unwrap();
        let mut value: Value = serde_json::from_slice(&kv.value).unwrap();
        value["metadata"]["deletionTimestamp"] = json!("2016-05-19T00:00:00Z");
        value["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        value["status"]["phase"] = json!("Terminating");
        self.store
            .update(&key, serde_json::to_vec(&value).unwrap(), kv.mod_revision)
            .await
            .unwrap();
    }
}

pub fn as_cronjob(o: Object) -> CronJob {
    match o {
        Object::CronJob(c) => c,
        other => panic!("not a cronjob: {:?}", other.kind()),
    }
}

pub fn as_job(o: Object) -> Job {
    match o {
        Object::Job(j) => j,
        other => panic!("not a job: {:?}", other.kind()),
    }
}

pub fn active(cj: &CronJob) -> Vec<ObjectReference> {
    cj.status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default()
}

pub fn active_names(cj: &CronJob) -> Vec<String> {
    active(cj)
        .into_iter()
        .map(|r| r.name.unwrap_or_default())
        .collect()
}

pub fn last_schedule(cj: &CronJob) -> Option<Timestamp> {
    cj.status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0)
}

pub fn last_successful(cj: &CronJob) -> Option<Timestamp> {
    cj.status
        .as_ref()
        .and_then(|s| s.last_successful_time.as_ref())
        .map(|t| t.0)
}

pub fn annotation(
    meta_annotations: &Option<std::collections::BTreeMap<String, String>>,
    key: &str,
) -> Option<String> {
    meta_annotations.as_ref().and_then(|a| a.get(key)).cloned()
}

pub fn cj_annotation(cj: &CronJob, key: &str) -> Option<String> {
    annotation(&cj.metadata.annotations, key)
}

pub fn job_annotation(job: &Job, key: &str) -> Option<String> {
    annotation(&job.metadata.annotations, key)
}

/// The name of the Job for a fire time (C-50).
pub fn job_name(cronjob: &str, at: Timestamp) -> String {
    format!("{cronjob}-{}", at.as_second() / 60)
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}
