//! Exactly once per fire time across crashes, write by write: a sync is cut short after each
//! of its writes in turn (the store refuses every later write, as if the server had died
//! there), then a new controller over a new registry, as a restarted server builds them,
//! syncs the same CronJob, before or after the next fire time. Whatever the crash point, every
//! fire time ends with exactly one Job or a `SkippedSchedule` event naming it: never both,
//! never neither, never two Jobs. crates/kbatch/tests/cronjob_crash.rs does the same with
//! SIGKILLs of a real server at random moments.

mod cronjob_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use kbatch_controllers::CronJobController;
use kbatch_store::{
    Deleted, Error, KeyValue, ListOptions, ListResult, MemoryStore, Result, Revision, Store,
    WatchStream,
};
use serde_json::json;

use cronjob_support::*;

/// The store as a crashing server leaves it: the first `budget` writes land, later ones fail.
#[derive(Debug)]
struct CrashStore {
    inner: Arc<MemoryStore>,
    budget: AtomicUsize,
    writes: AtomicUsize,
}

impl CrashStore {
    fn new(inner: Arc<MemoryStore>, budget: usize) -> CrashStore {
        CrashStore {
            inner,
            budget: AtomicUsize::new(budget),
            writes: AtomicUsize::new(0),
        }
    }

    /// Whether the next write lands.
    fn write(&self) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .map(|_| ())
            .map_err(|_| Error::Closed)
    }
}

#[async_trait]
impl Store for CrashStore {
    async fn get(&self, key: &str) -> Result<KeyValue> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        self.inner.list(prefix, options).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        self.write()?;
        self.inner.create(key, value).await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        self.write()?;
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.write()?;
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.inner.watch(prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.write()?;
        self.inner.compact(revision).await
    }
}

/// One case: the CronJob `cj` as `setup` leaves it, a sync at `now` cut short after `budget`
/// writes, a restarted controller's sync at `restart`.
struct Case {
    spec: serde_json::Value,
    last_schedule: Timestamp,
    now: Timestamp,
    restart: Timestamp,
}

impl Case {
    async fn setup(&self) -> Env {
        let env = Env::new().await;
        env.set_now(at_min(-61));
        env.create("cj", self.spec.clone()).await;
        env.set_last_schedule("cj", self.last_schedule).await;
        env.set_now(self.now);
        env
    }

    /// The writes of the whole sync, uninterrupted.
    async fn writes(&self) -> usize {
        let env = self.setup().await;
        let store = Arc::new(CrashStore::new(env.store.clone(), usize::MAX));
        let ctrl = CronJobController::new(env.registry_over(store.clone()), env.clock.clone());
        ctrl.sync(NS, "cj").await.unwrap();
        store.writes.load(Ordering::SeqCst)
    }

    /// Crashes after `budget` writes, restarts, and returns the env for the checks.
    async fn run(&self, budget: usize) -> Env {
        let env = self.setup().await;
        let store = Arc::new(CrashStore::new(env.store.clone(), budget));
        let crashing = CronJobController::new(env.registry_over(store), env.clock.clone());
        // Its error, if any, is the crash.
        let _ = crashing.sync(NS, "cj").await;
        env.set_now(self.restart);
        let restarted =
            CronJobController::new(env.registry_over(env.store.clone()), env.clock.clone());
        restarted.sync(NS, "cj").await.unwrap();
        env
    }
}

/// Every fire time in `slots` (UTC) has one Job or one kind of skip, as the lines say:
/// `Some(reason)` = skipped with that reason, `None` = a Job or, with `either`, a skip for
/// the deadline.
async fn check(env: &Env, budget: usize, expected: &[(Timestamp, Expect)]) {
    let jobs = env.job_names().await;
    let skips = env.messages("cj", "SkippedSchedule").await;
    for (slot, expect) in expected {
        let at = slot.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let job = job_name("cj", *slot);
        let has_job = jobs.contains(&job);
        let mine: Vec<&String> = skips
            .iter()
            .filter(|m| m.starts_with(&format!("Skipped scheduled time {at}:")))
            .collect();
        let why = |m: &&String| m.split_once(": ").map(|(_, why)| why.to_owned());
        let reasons: Vec<String> = mine.iter().filter_map(why).collect();
        let ok = match expect {
            Expect::Job => has_job && reasons.is_empty(),
            Expect::Skip(reason) => {
                !has_job && !reasons.is_empty() && reasons.iter().all(|r| r == reason)
            }
            Expect::JobOrSkip(reason) => {
                (has_job && reasons.is_empty())
                    || (!has_job && !reasons.is_empty() && reasons.iter().all(|r| r == reason))
            }
        };
        assert!(
            ok,
            "crash after {budget} writes, fire time {at} (expected {expect:?}): jobs {jobs:?}, \
             skips {skips:#?}"
        );
    }
}

#[derive(Debug)]
enum Expect {
    Job,
    Skip(&'static str),
    /// Started before the crash, or skipped after it for this reason.
    JobOrSkip(&'static str),
}

const SUPERSEDED: &str = "missed; only the most recent missed time starts a job";
const DEADLINE: &str = "missed by more than startingDeadlineSeconds (10s)";

/// Every crash point of the sync that catches up after an outage (10:00 and 11:00 missed,
/// 11:00 starts), with the restart before and after the next fire time.
#[tokio::test]
async fn a_crash_at_any_write_of_a_catch_up_loses_and_repeats_nothing() {
    let ms = SignedDuration::from_millis;
    let before_next = Case {
        spec: json!({"schedule": "0 * * * *", "concurrencyPolicy": "Allow"}),
        last_schedule: at_min(-60),
        now: at_min(60) + ms(500),
        restart: at_min(60) + ms(2_000),
    };
    let writes = before_next.writes().await;
    assert!(
        writes >= 4,
        "a Job, its event, the status, the record: {writes}"
    );
    for budget in 0..=writes {
        let env = before_next.run(budget).await;
        check(
            &env,
            budget,
            &[
                (at_min(0), Expect::Skip(SUPERSEDED)),
                (at_min(60), Expect::Job),
            ],
        )
        .await;
        let cj = env.cronjob("cj").await;
        assert_eq!(
            last_schedule(&cj),
            Some(at_min(60)),
            "after {budget} writes"
        );
        assert_eq!(active_names(&cj), vec![job_name("cj", at_min(60))]);
    }
    // The restart comes after 12:00: 11:00 started before the crash, or it is superseded.
    let after_next = Case {
        restart: at_min(120) + ms(500),
        ..before_next
    };
    for budget in 0..=writes {
        let env = after_next.run(budget).await;
        check(
            &env,
            budget,
            &[
                (at_min(0), Expect::Skip(SUPERSEDED)),
                (at_min(60), Expect::JobOrSkip(SUPERSEDED)),
                (at_min(120), Expect::Job),
            ],
        )
        .await;
    }
}

/// The same with startingDeadlineSeconds: 10:00 is past the deadline; 11:00 starts, or, when
/// the crash came first and the restart is past its deadline too, is skipped for it.
#[tokio::test]
async fn a_crash_at_any_write_within_the_deadline_loses_and_repeats_nothing() {
    let secs = SignedDuration::from_secs;
    let case = Case {
        spec: json!({"schedule": "0 * * * *", "startingDeadlineSeconds": 10}),
        last_schedule: at_min(-60),
        now: at_min(60) + secs(5),
        restart: at_min(60) + secs(20),
    };
    let writes = case.writes().await;
    for budget in 0..=writes {
        let env = case.run(budget).await;
        check(
            &env,
            budget,
            &[
                (at_min(0), Expect::Skip(DEADLINE)),
                (at_min(60), Expect::JobOrSkip(DEADLINE)),
            ],
        )
        .await;
    }
}
