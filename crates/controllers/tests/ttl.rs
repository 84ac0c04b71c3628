//! The TTL-after-finished controller (J-110) over a registry on the in-memory store. The
//! wall clock follows tokio's paused clock, so advancing one advances the other.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kbatch_api::clock::Clock;
use kbatch_api::registry::{DeleteOptions, Propagation, Registry, WriteOptions};
use kbatch_controllers::runtime::Informer;
use kbatch_controllers::ttl_after_finished::{
    TtlAfterFinishedController, TtlError, needs_cleanup, time_left,
};
use kbatch_core::object::{JOB, Object};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};

/// Wall-clock time that moves with tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap();
        self.base.checked_add(elapsed).unwrap()
    }
}

fn base() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().unwrap()
}

struct Setup {
    registry: Registry,
    clock: Arc<TokioClock>,
    jobs: Informer,
    ttl: TtlAfterFinishedController,
}

async fn setup() -> Setup {
    let clock = Arc::new(TokioClock {
        base: base(),
        start: tokio::time::Instant::now(),
    });
    let registry = Registry::new(Arc::new(MemoryStore::new()), clock.clone());
    registry.bootstrap().await.unwrap();
    let jobs = Informer::new(registry.clone(), JOB);
    let ttl = TtlAfterFinishedController::new(registry.clone(), clock.clone(), &jobs);
    tokio::spawn(jobs.clone().run());
    jobs.wait_synced().await;
    Setup {
        registry,
        clock,
        jobs,
        ttl,
    }
}

/// Lets the informer (and a running controller) catch up: the paused clock moves only
/// once every task is idle, and then by exactly one second.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Setup {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Creates a Job with `ttl`, then gives it `conditions` through /status, in a status
    /// the API server accepts (`valid_status`).
    async fn job(&self, name: &str, ttl: Option<i32>, conditions: Value) {
        let json = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name},
            "spec": {"ttlSecondsAfterFinished": ttl, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
        });
        let job = Object::Job(serde_json::from_value::<Job>(json).unwrap());
        let created = self
            .registry
            .create(&JOB, "default", job, &WriteOptions::default(), Vec::new())
            .await
            .unwrap()
            .object;
        let mut json = created.to_json();
        json["status"] = valid_status(conditions);
        let opts = WriteOptions {
            subresource: Some("status".into()),
            ..Default::default()
        };
        self.registry
            .update(
                &JOB,
                "default",
                name,
                Object::from_value(&JOB, json).unwrap(),
                &opts,
                Vec::new(),
            )
            .await
            .unwrap();
    }

    async fn get(&self, name: &str) -> Option<Job> {
        match self.registry.get(&JOB, "default", name).await {
            Ok(Object::Job(j)) => Some(j),
            Ok(other) => panic!("not a job: {other:?}"),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Whether the TTL controller's delete reached the Job: marked for deletion with the
    /// foreground finalizer (no garbage collector runs here to finish it).
    async fn deleted_in_foreground(&self, name: &str) -> bool {
        let job = self.get(name).await.expect("the job is still stored");
        let finalizers = job.metadata.finalizers.unwrap_or_default();
        match job.metadata.deletion_timestamp {
            None => false,
            Some(_) => {
                assert_eq!(finalizers, ["foregroundDeletion"]);
                true
            }
        }
    }
}

/// A status with `conditions` that the API server accepts (J-92): each terminal condition
/// follows its interim one (J-26) at the same time, a Complete one comes with its
/// completionTime, and the Job started long before and counted a pod.
fn valid_status(conditions: Value) -> Value {
    let mut status = json!({"startTime": "2000-01-01T00:00:00Z", "conditions": []});
    for condition in conditions.as_array().unwrap() {
        let interim = match (condition["type"].as_str(), condition["status"].as_str()) {
            (Some("Complete"), Some("True")) => {
                status["completionTime"] = condition["lastTransitionTime"].clone();
                status["succeeded"] = json!(1);
                Some("SuccessCriteriaMet")
            }
            (Some("Failed"), Some("True")) => {
                status["failed"] = json!(1);
                Some("FailureTarget")
            }
            _ => None,
        };
        let list = status["conditions"].as_array_mut().unwrap();
        if let Some(interim) = interim {
            let mut before = condition.clone();
            before["type"] = json!(interim);
            list.push(before);
        }
        list.push(condition.clone());
    }
    status
}

fn finished(type_: &str, at: Timestamp) -> Value {
    json!([{"type": type_, "status": "True", "lastTransitionTime": rfc3339(at)}])
}

// --- J-110's rule on its own: test-cases.md H1–H6 ---

fn job_value(ttl: Option<i32>, conditions: Value) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": "j", "namespace": "default"},
        "spec": {"ttlSecondsAfterFinished": ttl, "template": {}},
        "status": {"conditions": conditions}
    }))
    .unwrap()
}

#[test]
fn time_left_follows_the_finish_condition_and_the_ttl() {
    let now = base();
    let secs = SignedDuration::from_secs;
    let ago = |s: i64| now.checked_sub(secs(s)).unwrap();

    // H1: not finished.
    let running = job_value(Some(100), json!([]));
    assert!(!needs_cleanup(&running));
    let err = time_left(&running, now).unwrap_err();
    assert!(matches!(err, TtlError::NotEligible(_)));
    assert_eq!(err.to_string(), "job default/j should not be cleaned up");
    // H2: no TTL.
    let no_ttl = job_value(None, finished("Complete", now));
    assert!(!needs_cleanup(&no_ttl));
    assert!(matches!(
        time_left(&no_ttl, now),
        Err(TtlError::NotEligible(_))
    ));
    // H3: ttl 0 expires at once.
    let zero = job_value(Some(0), finished("Complete", now));
    assert_eq!(time_left(&zero, now).unwrap(), (secs(0), now));
    // H4, H5.
    let h4 = job_value(Some(10), finished("Complete", now));
    assert_eq!(time_left(&h4, now).unwrap().0, secs(10));
    let h5 = job_value(Some(15), finished("Complete", ago(10)));
    assert_eq!(time_left(&h5, now).unwrap(), (secs(5), ago(-5)));
    // H6: Failed counts like Complete.
    let h6 = job_value(Some(15), finished("Failed", ago(10)));
    assert_eq!(time_left(&h6, now).unwrap().0, secs(5));
    // Past the expiry the time left is negative.
    let late = job_value(Some(5), finished("Complete", ago(60)));
    assert_eq!(time_left(&late, now).unwrap().0, secs(-55));
    // A condition that is not True does not finish the Job.
    let not_true = job_value(
        Some(5),
        json!([{"type": "Complete", "status": "False", "lastTransitionTime": rfc3339(now)}]),
    );
    assert!(!needs_cleanup(&not_true));
    // Finished in the future (clock skew): the whole TTL still lies ahead.
    let future = job_value(Some(5), finished("Complete", ago(-10)));
    assert_eq!(time_left(&future, now).unwrap().0, secs(15));
    // No lastTransitionTime: an error.
    let no_time = job_value(Some(5), json!([{"type": "Complete", "status": "True"}]));
    let err = time_left(&no_time, now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find the time when the Job default/j finished"
    );
}

// --- The controller's sync against the API ---

#[tokio::test(start_paused = true)]
async fn an_unexpired_job_is_checked_again_after_the_remainder_then_deleted() {
    let s = setup().await;
    s.job("j", Some(10), finished("Complete", s.now())).await;
    settle().await;
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(
        s.ttl.sync("default", "j").await.unwrap(),
        Some(Duration::from_secs(6))
    );
    assert!(!s.deleted_in_foreground("j").await);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(s.ttl.sync("default", "j").await.unwrap(), None);
    assert!(s.deleted_in_foreground("j").await);
}

#[tokio::test(start_paused = true)]
async fn jobs_without_ttl_unfinished_or_gone_are_left_alone() {
    let s = setup().await;
    s.job("no-ttl", None, finished("Complete", s.now())).await;
    s.job("running", Some(0), json!([])).await;
    settle().await;
    for name in ["no-ttl", "running", "missing"] {
        assert_eq!(s.ttl.sync("default", name).await.unwrap(), None);
    }
    assert!(!s.deleted_in_foreground("no-ttl").await);
    assert!(!s.deleted_in_foreground("running").await);
}

#[tokio::test(start_paused = true)]
async fn a_job_being_deleted_is_left_to_that_deletion() {
    let s = setup().await;
    s.job("j", Some(0), finished("Complete", s.now())).await;
    let orphan = DeleteOptions {
        propagation: Some(Propagation::Orphan),
        ..Default::default()
    };
    s.registry
        .delete(&JOB, "default", "j", &orphan)
        .await
        .unwrap();
    settle().await;
    assert_eq!(s.ttl.sync("default", "j").await.unwrap(), None);
    let job = s.get("j").await.unwrap();
    assert_eq!(job.metadata.finalizers.unwrap(), ["orphan"]);
}

#[tokio::test(start_paused = true)]
async fn the_stored_job_is_checked_again_before_it_is_deleted() {
    let s = setup().await;
    s.job("j", Some(0), finished("Complete", s.now())).await;
    settle().await;
    // The TTL grows; the informer has not seen it yet (this test's runtime runs one task
    // at a time and nothing below waits).
    let mut json = s
        .registry
        .get(&JOB, "default", "j")
        .await
        .unwrap()
        .to_json();
    json["spec"]["ttlSecondsAfterFinished"] = json!(1000);
    s.registry
        .update(
            &JOB,
            "default",
            "j",
            Object::from_value(&JOB, json).unwrap(),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    let cached = s.jobs.get("default", "j").unwrap();
    let Object::Job(cached) = &*cached else {
        panic!("not a job")
    };
    assert_eq!(
        cached.spec.as_ref().unwrap().ttl_seconds_after_finished,
        Some(0)
    );

    assert_eq!(
        s.ttl.sync("default", "j").await.unwrap(),
        Some(Duration::from_secs(999))
    );
    assert!(!s.deleted_in_foreground("j").await);
}

#[tokio::test(start_paused = true)]
async fn a_finished_condition_without_a_time_is_an_error() {
    let s = setup().await;
    s.job("j", Some(0), json!([{"type": "Failed", "status": "True"}]))
        .await;
    settle().await;
    let err = s.ttl.sync("default", "j").await.unwrap_err();
    assert!(matches!(err, TtlError::NoFinishTime(_)), "{err}");
    assert!(!s.deleted_in_foreground("j").await);
}

#[tokio::test(start_paused = true)]
async fn a_job_finished_in_the_future_waits_for_its_whole_ttl_from_then() {
    let s = setup().await;
    let future = s.now().checked_add(SignedDuration::from_secs(20)).unwrap();
    s.job("j", Some(5), finished("Complete", future)).await;
    settle().await;
    assert_eq!(
        s.ttl.sync("default", "j").await.unwrap(),
        Some(Duration::from_secs(24))
    );
}

// --- The running controller ---

#[tokio::test(start_paused = true)]
async fn the_running_controller_deletes_each_job_when_its_ttl_expires() {
    let s = setup().await;
    tokio::spawn(s.ttl.clone().run(2));
    s.job("now", Some(0), finished("Complete", s.now())).await;
    s.job("later", Some(30), finished("Failed", s.now())).await;
    s.job("kept", None, finished("Complete", s.now())).await;
    settle().await;
    assert!(s.deleted_in_foreground("now").await);
    assert!(!s.deleted_in_foreground("later").await);
    // The Jobs were seen at 0 s; it is 1 s now.
    tokio::time::sleep(Duration::from_secs(28)).await;
    assert!(!s.deleted_in_foreground("later").await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert!(s.deleted_in_foreground("later").await);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!s.deleted_in_foreground("kept").await);
}
