//! The Job controller over a registry on the in-memory store with a settable clock. Tests
//! call `sync` directly and play the kubelet by writing pod status through `/status`.
//!
//! The controller reads pods from a running pod informer. In the manager a sync follows the
//! pod events that queued it; here each sync first waits until the informer has seen every
//! write made so far (a write to a barrier pod in kube-system, then that write's revision),
//! as if the events of the test's own writes had queued it.

#![allow(dead_code)]

#[path = "../shared/events.rs"]
mod shared_events;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod,
    PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{DeleteOptions, ListParams, Registry, WriteOptions};
use kbatch_controllers::runtime::Informer;
use kbatch_controllers::{JobConfig, JobController};
use kbatch_core::object::{JOB, Object, POD};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};

pub const NS: &str = "default";

/// A wall clock the test moves.
#[derive(Debug)]
pub struct FakeClock(Mutex<Timestamp>);

impl FakeClock {
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(SignedDuration::try_from(d).unwrap())
            .unwrap();
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// The registry's clock: the fake clock plus a nanosecond per reading, so that objects the
/// registry names after the time (events) or orders by it (creation) stay distinct while
/// the fake clock stands still.
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

/// T of test-cases.md: 2016-05-19T10:00:00Z.
pub fn t0() -> Timestamp {
    "2016-05-19T10:00:00Z".parse().unwrap()
}

pub struct Env {
    pub registry: Registry,
    pub clock: Arc<FakeClock>,
    pub ctrl: JobController,
    pub pods: Informer,
}

impl Env {
    pub async fn new() -> Env {
        Self::with_config(JobConfig::default()).await
    }

    pub async fn with_config(config: JobConfig) -> Env {
        let clock = Arc::new(FakeClock(Mutex::new(t0())));
        let ticking = Arc::new(TickingClock {
            base: clock.clone(),
            ticks: AtomicI64::new(0),
        });
        let registry = Registry::new(Arc::new(MemoryStore::new()), ticking);
        registry.bootstrap().await.unwrap();
        let pods = Informer::new(registry.clone(), POD);
        let ctrl = JobController::new(registry.clone(), &pods, clock.clone(), config);
        tokio::spawn(pods.clone().run());
        pods.wait_synced().await;
        Env {
            registry,
            clock,
            ctrl,
            pods,
        }
    }

    /// Waits until the pod informer has seen every write made so far: it writes the barrier
    /// pod and waits for that write, whose revision is later than all of them.
    pub async fn caught_up(&self) {
        const BARRIER: &str = "informer-barrier";
        let opts = WriteOptions::default();
        let written = match self.registry.get(&POD, "kube-system", BARRIER).await {
            Ok(mut barrier) => {
                let labels = barrier
                    .metadata_mut()
                    .labels
                    .get_or_insert_with(Default::default);
                let n: u64 = labels.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                labels.insert("n".to_owned(), (n + 1).to_string());
                self.registry
                    .update(&POD, "kube-system", BARRIER, barrier, &opts, vec![])
                    .await
            }
            Err(_) => {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": BARRIER},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }))
                .unwrap();
                self.registry
                    .create(&POD, "kube-system", Object::Pod(pod), &opts, vec![])
                    .await
            }
        }
        .unwrap();
        let revision = written.object.metadata().resource_version.clone().unwrap();
        self.pods.wait_for_revision(revision.parse().unwrap()).await;
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Creates a Job named `name` whose spec is `spec` merged over a busybox template with
    /// restartPolicy Never.
    pub async fn create_job(&self, name: &str, spec: Value) -> Job {
        let mut body = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}
        });
        merge(&mut body["spec"], spec);
        let job: Job = serde_json::from_value(body).unwrap();
        let written = self
            .registry
            .create(&JOB, NS, Object::Job(job), &WriteOptions::default(), vec![])
            .await
            .unwrap();
        as_job(written.object)
    }

    pub async fn sync(&self, name: &str) -> Option<Duration> {
        self.try_sync(name).await.unwrap()
    }

    /// One sync, once the informer has seen every write so far; returns when its events
    /// are recorded too.
    pub async fn try_sync(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.caught_up().await;
        let result = self.ctrl.sync(NS, name).await;
        self.ctrl.events_recorded().await;
        result
    }

    pub async fn job(&self, name: &str) -> Job {
        as_job(self.registry.get(&JOB, NS, name).await.unwrap())
    }

    /// Replaces the Job's spec fields in `change` (as a user's update).
    pub async fn update_spec(&self, name: &str, change: Value) {
        let job = self.job(name).await;
        let mut value = serde_json::to_value(&job).unwrap();
        merge(&mut value["spec"], change);
        let job: Job = serde_json::from_value(value).unwrap();
        self.registry
            .update(
                &JOB,
                NS,
                name,
                Object::Job(job),
                &WriteOptions::default(),
                vec![],
            )
            .await
            .unwrap();
    }

    /// The Job's pods (by the job-name label), oldest first, then by name.
    pub async fn pods(&self, job: &str) -> Vec<Pod> {
        let mut pods: Vec<Pod> = self
            .all_pods()
            .await
            .into_iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("batch.kubernetes.io/job-name"))
                    .is_some_and(|n| n == job)
            })
            .collect();
        pods.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone().map(|t| t.0),
                p.metadata.name.clone(),
            )
        });
        pods
    }

    pub async fn all_pods(&self) -> Vec<Pod> {
        self.registry
            .list(&POD, Some(NS), &ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(as_pod)
            .collect()
    }

    pub async fn pod(&self, name: &str) -> Option<Pod> {
        match self.registry.get(&POD, NS, name).await {
            Ok(o) => Some(as_pod(o)),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Writes the pod's status as the kubelet would.
    pub async fn write_status(&self, pod: &Pod, change: impl FnOnce(&mut Pod)) -> Pod {
        let mut current = as_pod(self.registry.get(&POD, NS, name(pod)).await.unwrap());
        change(&mut current);
        let opts = WriteOptions {
            subresource: Some("status".into()),
            field_manager: Some("kubelet".into()),
            ..Default::default()
        };
        as_pod(
            self.registry
                .update(&POD, NS, name(pod), Object::Pod(current), &opts, vec![])
                .await
                .unwrap()
                .object,
        )
    }

    /// Running and Ready since now.
    pub async fn run(&self, pod: &Pod) -> Pod {
        let now = Time(self.now());
        self.write_status(pod, |p| {
            let status = p.status.get_or_insert_with(Default::default);
            status.phase = Some("Running".into());
            status.conditions = Some(vec![pod_condition("Ready", "True", now.clone())]);
            status.container_statuses = Some(vec![ContainerStatus {
                name: "c".into(),
                ready: true,
                state: Some(ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(now.clone()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]);
        })
        .await
    }

    /// Terminal with container `c` exited `code` now: Succeeded for 0, Failed otherwise.
    pub async fn finish(&self, pod: &Pod, code: i32) -> Pod {
        self.finish_with(pod, code, vec![]).await
    }

    /// Like `finish`, with extra pod conditions.
    pub async fn finish_with(&self, pod: &Pod, code: i32, extra: Vec<PodCondition>) -> Pod {
        let now = Time(self.now());
        self.write_status(pod, |p| {
            let status = p.status.get_or_insert_with(Default::default);
            status.phase = Some(if code == 0 { "Succeeded" } else { "Failed" }.into());
            let mut conditions = vec![pod_condition("Ready", "False", now.clone())];
            conditions.extend(extra);
            status.conditions = Some(conditions);
            status.container_statuses = Some(vec![terminated("c", code, now.clone())]);
        })
        .await
    }

    pub async fn succeed(&self, pod: &Pod) -> Pod {
        self.finish(pod, 0).await
    }

    pub async fn fail(&self, pod: &Pod) -> Pod {
        self.finish(pod, 1).await
    }

    /// Binds the pod to a node, as the scheduler would.
    pub async fn bind(&self, pod: &Pod) {
        self.registry
            .bind_pod(NS, name(pod), "node-1")
            .await
            .unwrap();
    }

    pub async fn delete_pod(&self, pod: &Pod) {
        self.registry
            .delete(&POD, NS, name(pod), &DeleteOptions::default())
            .await
            .unwrap();
    }

    /// The events about the Job `job`, oldest first, as (type, reason, message).
    pub async fn events(&self, job: &str) -> Vec<(String, String, String)> {
        shared_events::about(&self.registry, NS, job).await
    }

    pub async fn event_reasons(&self, job: &str) -> Vec<String> {
        self.events(job).await.into_iter().map(|e| e.1).collect()
    }
}

pub fn as_job(o: Object) -> Job {
    match o {
        Object::Job(j) => j,
        other => panic!("not a job: {:?}", other.kind()),
    }
}

pub fn as_pod(o: Object) -> Pod {
    match o {
        Object::Pod(p) => p,
        other => panic!("not a pod: {:?}", other.kind()),
    }
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap()
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn annotation<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

pub fn index(pod: &Pod) -> i64 {
    annotation(pod, "batch.kubernetes.io/job-completion-index")
        .unwrap()
        .parse()
        .unwrap()
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == "batch.kubernetes.io/job-tracking"))
}

pub fn pod_condition(type_: &str, status: &str, at: Time) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: Some(at),
        ..Default::default()
    }
}

pub fn terminated(container: &str, code: i32, at: Time) -> ContainerStatus {
    ContainerStatus {
        name: container.into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                finished_at: Some(at),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Job's conditions as (type, status, reason, message).
pub fn conditions(job: &Job) -> Vec<(String, String, String, String)> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c: JobCondition| {
            (
                c.type_,
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default(),
            )
        })
        .collect()
}

pub fn condition_types(job: &Job) -> Vec<String> {
    conditions(job).into_iter().map(|c| c.0).collect()
}

pub fn active(job: &Job) -> i32 {
    job.status.as_ref().and_then(|s| s.active).unwrap_or(0)
}

pub fn succeeded(job: &Job) -> i32 {
    job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0)
}

pub fn failed(job: &Job) -> i32 {
    job.status.as_ref().and_then(|s| s.failed).unwrap_or(0)
}

pub fn terminating(job: &Job) -> Option<i32> {
    job.status.as_ref().and_then(|s| s.terminating)
}

pub fn ready(job: &Job) -> Option<i32> {
    job.status.as_ref().and_then(|s| s.ready)
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
