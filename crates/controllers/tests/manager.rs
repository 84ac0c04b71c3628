//! The controller manager: how Job and pod events become Job keys (J-36, J-40), and every
//! controller running together until shutdown. On tokio's paused clock, with a wall clock
//! that follows it.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Node;
use kbatch_api::Metrics;
use kbatch_api::clock::Clock;
use kbatch_api::registry::{DeleteOptions, Propagation, Registry, WriteOptions};
use kbatch_controllers::manager::{JOB_SYNC_BATCH_PERIOD, enqueue_jobs};
use kbatch_controllers::runtime::{Informer, ObjectKey, RateLimiter, WorkQueue};
use kbatch_controllers::{Controllers, ControllersConfig};
use kbatch_core::object::{JOB, NODE, Object, POD};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};
use tokio::time::Instant;

#[derive(Debug)]
struct TokioClock {
    base: Timestamp,
    start: Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap();
        self.base.checked_add(elapsed).unwrap()
    }
}

fn clock() -> Arc<TokioClock> {
    Arc::new(TokioClock {
        base: "2030-01-01T00:00:00Z".parse().unwrap(),
        start: Instant::now(),
    })
}

async fn registry(clock: Arc<TokioClock>) -> Registry {
    let registry = Registry::new(Arc::new(MemoryStore::new()), clock);
    registry.bootstrap().await.unwrap();
    registry
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn create(r: &Registry, json: Value) -> Object {
    let kind = if json["kind"] == "Job" { JOB } else { POD };
    let obj = Object::from_value(&kind, json).unwrap();
    r.create(&kind, "default", obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap()
        .object
}

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    })
}

fn pod(name: &str, owner: Option<(&Object, bool, &str)>) -> Value {
    let mut json = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    });
    if let Some((job, controller, uid)) = owner {
        json["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "batch/v1", "kind": "Job", "name": job.name(),
            "uid": uid, "controller": controller, "blockOwnerDeletion": true
        }]);
    }
    json
}

/// Rewrites a stored object through `subresource` (None: the main resource).
async fn edit(r: &Registry, kind: &kbatch_core::object::Kind, name: &str, sub: &str, v: Value) {
    let mut json = r.get(kind, "default", name).await.unwrap().to_json();
    for (k, val) in v.as_object().unwrap() {
        for (k2, val2) in val.as_object().unwrap() {
            json[k][k2] = val2.clone();
        }
    }
    let opts = WriteOptions {
        subresource: (!sub.is_empty()).then(|| sub.to_owned()),
        ..Default::default()
    };
    r.update(
        kind,
        "default",
        name,
        Object::from_value(kind, json).unwrap(),
        &opts,
        Vec::new(),
    )
    .await
    .unwrap();
}

struct Handlers {
    registry: Registry,
    queue: WorkQueue<ObjectKey>,
}

impl Handlers {
    async fn start() -> Handlers {
        let clock = clock();
        let registry = registry(clock.clone()).await;
        let jobs = Informer::new(registry.clone(), JOB);
        let pods = Informer::new(registry.clone(), POD);
        let queue = WorkQueue::new(RateLimiter::JOB_API);
        enqueue_jobs(&jobs, &pods, &queue, clock, JOB_SYNC_BATCH_PERIOD);
        tokio::spawn(jobs.clone().run());
        tokio::spawn(pods.clone().run());
        jobs.wait_synced().await;
        pods.wait_synced().await;
        Handlers { registry, queue }
    }

    /// The next Job key and how long it took to come.
    async fn next(&self) -> (String, Duration) {
        let start = Instant::now();
        let key = self.queue.get().await.unwrap();
        self.queue.done(&key);
        (key.to_string(), start.elapsed())
    }
}

fn at(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[tokio::test(start_paused = true)]
async fn a_pod_event_queues_the_job_controlling_it_after_one_second() {
    let h = Handlers::start().await;
    let j = create(&h.registry, job("j")).await;
    let uid = j.metadata().uid.clone().unwrap();
    // A new Job is synced at once.
    assert_eq!(h.next().await, ("default/j".to_owned(), at(0)));

    // Pods the Job does not control: another incarnation's uid, a non-controller reference,
    // no owner at all. Had any of them queued the Job, it would be ready at 1 s.
    create(&h.registry, pod("stranger", Some((&j, true, "other-uid")))).await;
    create(&h.registry, pod("bystander", Some((&j, false, &uid)))).await;
    create(&h.registry, pod("orphan", None)).await;
    tokio::time::sleep(at(5)).await;
    assert!(h.queue.is_empty());

    create(&h.registry, pod("p", Some((&j, true, &uid)))).await;
    assert_eq!(h.next().await, ("default/j".to_owned(), at(1)));

    edit(
        &h.registry,
        &POD,
        "p",
        "",
        json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(h.next().await, ("default/j".to_owned(), at(1)));

    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    h.registry.delete(&POD, "default", "p", &now).await.unwrap();
    assert_eq!(h.next().await, ("default/j".to_owned(), at(1)));
}

#[tokio::test(start_paused = true)]
async fn job_spec_changes_sync_at_once_and_other_updates_after_one_second() {
    let h = Handlers::start().await;
    create(&h.registry, job("j")).await;
    assert_eq!(h.next().await, ("default/j".to_owned(), at(0)));

    // A status write keeps the generation: batched. It starts the Job 10 s ago.
    let started = "2029-12-31T23:59:50Z";
    edit(
        &h.registry,
        &JOB,
        "j",
        "status",
        json!({"status": {"startTime": started}}),
    )
    .await;
    assert_eq!(h.next().await, ("default/j".to_owned(), at(1)));

    // It is now 11 s after the start. A new activeDeadlineSeconds is a spec change (at
    // once), and J-40 queues the Job again for startTime + 30 s.
    edit(
        &h.registry,
        &JOB,
        "j",
        "",
        json!({"spec": {"activeDeadlineSeconds": 30}}),
    )
    .await;
    assert_eq!(h.next().await, ("default/j".to_owned(), at(0)));
    assert_eq!(h.next().await, ("default/j".to_owned(), at(19)));

    // A deleted Job is synced at once.
    let background = DeleteOptions {
        propagation: Some(Propagation::Background),
        ..Default::default()
    };
    h.registry
        .delete(&JOB, "default", "j", &background)
        .await
        .unwrap();
    assert_eq!(h.next().await, ("default/j".to_owned(), at(0)));
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_manager_runs_the_scheduler_and_the_ttl_controller_until_shutdown() {
    let clock = clock();
    let registry = registry(clock.clone()).await;
    let metrics = Metrics::default();
    let controllers = Controllers::new(
        registry.clone(),
        clock.clone(),
        ControllersConfig::default(),
        &metrics,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(controllers.run(async {
        let _ = stopped.await;
    }));

    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}
    }))
    .unwrap();
    registry
        .create(
            &NODE,
            "",
            Object::Node(node),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    create(&registry, pod("p", None)).await;

    let mut finished = job("done");
    finished["spec"]["ttlSecondsAfterFinished"] = json!(0);
    create(&registry, finished).await;
    edit(
        &registry,
        &JOB,
        "done",
        "status",
        // A status the API server accepts (J-92): started, counted, and Complete after
        // SuccessCriteriaMet with a completionTime.
        json!({"status": {"startTime": rfc3339(clock.now()), "succeeded": 1,
            "completionTime": rfc3339(clock.now()),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True",
                 "lastTransitionTime": rfc3339(clock.now())},
                {"type": "Complete", "status": "True",
                 "lastTransitionTime": rfc3339(clock.now())}]}}),
    )
    .await;
    settle().await;

    let Object::Pod(p) = registry.get(&POD, "default", "p").await.unwrap() else {
        panic!("not a pod")
    };
    assert_eq!(p.spec.and_then(|s| s.node_name).as_deref(), Some("n1"));
    // The TTL controller deleted it in the foreground; the garbage collector, with no
    // dependents to wait for, removed its finalizer and with it the Job.
    let gone = registry.get(&JOB, "default", "done").await.unwrap_err();
    assert!(gone.is_not_found());

    stop.send(()).unwrap();
    manager.await.unwrap();
    // After the shutdown nothing schedules any more.
    create(&registry, pod("late", None)).await;
    settle().await;
    let Object::Pod(late) = registry.get(&POD, "default", "late").await.unwrap() else {
        panic!("not a pod")
    };
    assert_eq!(late.spec.and_then(|s| s.node_name), None);
}

/// An orphaned pod that still holds the tracking finalizer queues the Job it names, whose
/// sync releases it (upstream's orphan-pod queue, J-13/J-101): by controller reference when
/// the Job is gone, by the job-name label when the reference was removed (Orphan deletion).
#[tokio::test(start_paused = true)]
async fn an_orphan_with_the_tracking_finalizer_queues_its_jobs_sync() {
    let h = Handlers::start().await;
    let mut orphan = pod("orphan", None);
    orphan["metadata"]["finalizers"] = json!(["batch.kubernetes.io/job-tracking"]);
    orphan["metadata"]["labels"] = json!({"batch.kubernetes.io/job-name": "gone"});
    create(&h.registry, orphan).await;
    assert_eq!(h.next().await, ("default/gone".to_owned(), at(1)));

    let mut untracked = pod("untracked", None);
    untracked["metadata"]["labels"] = json!({"batch.kubernetes.io/job-name": "other"});
    create(&h.registry, untracked).await;
    tokio::time::sleep(at(5)).await;
    assert!(h.queue.is_empty());
}
