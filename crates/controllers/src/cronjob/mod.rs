//! The CronJob controller (kube-controller-manager's `pkg/controller/cronjob`, ControllerV2):
//! one level-triggered `sync` per CronJob that reconciles status.active with the Jobs it owns,
//! trims the history, and starts the Job of the most recent due fire time (cronjob.md §3–§6).
//!
//! A sync reads the CronJob through the registry and its Jobs from the Jobs informer (or a
//! list of the namespace's Jobs without one), then
//! writes in this order: Job deletions and creations, the record of skipped fire times
//! (events, below), the status (once, C-28) carrying kbatch's metadata annotations (below), or,
//! when the status does not change, the annotations alone with one merge patch. Each
//! write is idempotent on retry: a Job's name is a pure function of its fire time (C-50), so a
//! crash between creating it and writing the status is repaired by the next sync, which gets
//! AlreadyExists and puts the Job in status.active with lastScheduleTime as if the first
//! attempt had finished (C-27); a crash before the status write repeats the record's events
//! rather than losing them. tests/cronjob_crash.rs crashes a sync after each of its writes in
//! turn.
//!
//! kbatch's additions, all in the `kbatch.dev/` annotation domain:
//! - [`NEXT_SCHEDULE_TIME`]: after every sync, the next fire time (the C-30 requeue target
//!   without its 100ms), RFC 3339 in the CronJob's zone; absent while nothing will fire
//!   (suspended, bad zone or schedule, a schedule that never fires, being deleted). Written
//!   only when it changes, so a sync with nothing to do writes nothing.
//! - [`RUN_NOW`]: a new or changed value starts one Job from the template at once, named
//!   `<cronjob>-manual-<hash of the value>` and annotated `cronjob.kubernetes.io/instantiate:
//!   manual` as `kubectl create job --from` does, subject to concurrencyPolicy (Forbid skips
//!   it while a Job is active, Replace deletes the active ones first). It also runs while the
//!   CronJob is suspended, as a manual `kubectl create job --from` would. The value handled
//!   is kept in [`RUN_NOW_HANDLED`]; the Job name derives from the value, so a crash before
//!   that annotation is written ends in AlreadyExists and the same Job, never a second one.
//! - The record of skipped fire times: every fire time that will never start a Job gets one
//!   `SkippedSchedule` event naming it and why (suspended, Forbid, past the starting
//!   deadline, superseded by a later due time, passed over by the missed-schedule walk of
//!   C-21a, or a Job of its name that the CronJob does not control). The most recent fire
//!   time can still start late under Kubernetes' rules (when the Job Forbid waits for ends,
//!   on resume, when the foreign Job goes), so it is recorded only once a later one is due
//!   or the deadline passes; when Forbid or a foreign Job holds it back, it gets a "for now"
//!   event at once. [`SCHEDULES_RECORDED_UNTIL`] remembers how far the record goes, so no
//!   fire time is reported twice, across restarts too. A sync records at most
//!   [`MAX_RECORDED`] fire times one by one and summarises the rest in one event. A suspended
//!   CronJob is not requeued (C-23(d)), so the fire times it skips are recorded by the next
//!   sync that looks at it.

mod cache;
mod jobs;
mod metrics;
mod record;
mod spec;
mod timeline;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    DeleteOptions, EventSpec, ListParams, PatchType, Propagation, Registry, WriteOptions,
};
use kbatch_core::object::{CRONJOB, JOB, Object};
use kbatch_schedule::{Instant, ParseError, Zone, ZoneError};
use serde_json::{Map, Value, json};

use self::cache::JobCache;
use self::metrics::CronJobMetrics;
use self::record::{Fate, Held, Outcome};
pub use self::timeline::KUBERNETES_REQUEUE_DELTA;
use self::timeline::{Missed, Timeline, go_seconds, go_sub};
use crate::runtime::Informer;

/// The field manager and event source of the controller's writes.
pub const FIELD_MANAGER: &str = "cronjob-controller";

/// The next fire time, RFC 3339 in the CronJob's zone.
pub const NEXT_SCHEDULE_TIME: &str = kbatch_core::printers::NEXT_SCHEDULE_ANNOTATION;
/// Set or change it to start one Job now.
pub const RUN_NOW: &str = "kbatch.dev/run-now";
/// The last [`RUN_NOW`] value the controller acted on.
pub const RUN_NOW_HANDLED: &str = "kbatch.dev/run-now-handled";
/// Every fire time up to this instant has started a Job or has a `SkippedSchedule` event.
pub const SCHEDULES_RECORDED_UNTIL: &str = "kbatch.dev/schedules-recorded-until";

/// C-51: the fire time a Job was created for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// `kubectl create job --from`'s mark on a Job started by hand.
pub const INSTANTIATE: &str = "cronjob.kubernetes.io/instantiate";

/// At most this many skipped fire times get an event each per sync (C-22's threshold).
pub const MAX_RECORDED: usize = 100;

/// The CronJob controller over the in-process API.
#[derive(Debug)]
pub struct CronJobController {
    registry: Registry,
    clock: Arc<dyn Clock>,
    metrics: CronJobMetrics,
    keys: Mutex<HashMap<String, KeyState>>,
    /// Added to the next fire time for the requeue (C-30).
    requeue_delta: Duration,
    /// Where a sync finds its Jobs; without it, a list of the namespace's Jobs.
    jobs: Option<JobCache>,
}

/// What the controller remembers about one CronJob between syncs.
#[derive(Debug, Default)]
struct KeyState {
    /// Syncs of one CronJob never overlap.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The last due fire time a sync held back, and why: its "for now" event is recorded
    /// once, and its reason is reused when it is skipped for good.
    held: Option<(Instant, Held)>,
}

/// One sync's working state (`cronJobCopy` and friends).
struct Ctx {
    cj: CronJob,
    /// spec.timeZone of `cj`, loaded once (an unset one is UTC).
    tz: Result<Zone, ZoneError>,
    jobs: Vec<Job>,
    now: Timestamp,
    /// `updateStatus`.
    changed: bool,
    outcome: Outcome,
    /// The schedule as the sync ends (lastScheduleTime included), when it parsed.
    timeline: Option<Timeline>,
    /// Fire times after this were not accounted for when the sync started.
    recorded_until: Option<Instant>,
    run_now_handled: Option<String>,
}

impl Ctx {
    fn now(&self) -> Instant {
        Instant::from(self.now)
    }

    /// The zone times are shown in: spec.timeZone, else UTC.
    fn zone(&self) -> Zone {
        self.tz.clone().unwrap_or_else(|_| Zone::utc())
    }

    fn set_cronjob(&mut self, cj: CronJob) {
        if spec::time_zone(&cj) != spec::time_zone(&self.cj) {
            self.tz = time_zone(&cj);
        }
        self.cj = cj;
    }
}

impl CronJobController {
    pub fn new(registry: Registry, clock: Arc<dyn Clock>) -> Self {
        CronJobController {
            registry,
            clock,
            metrics: CronJobMetrics::default(),
            keys: Mutex::new(HashMap::new()),
            requeue_delta: Duration::ZERO,
            jobs: None,
        }
    }

    /// Reads each CronJob's Jobs from `jobs` (the shared Jobs informer) through an index by
    /// controller, as upstream reads them from its lister, instead of listing the namespace's
    /// Jobs in every sync.
    pub fn with_job_cache(mut self, jobs: &Informer) -> Self {
        self.jobs = Some(JobCache::new(jobs));
        self
    }

    /// Requeues each CronJob `delta` after its next fire time instead of at it: with
    /// [`KUBERNETES_REQUEUE_DELTA`], the delays are kube-controller-manager's to the
    /// nanosecond (C-30), which the tests that pin Kubernetes' figures use.
    pub fn with_requeue_delta(mut self, delta: Duration) -> Self {
        self.requeue_delta = delta;
        self
    }

    /// Registers `cronjob_controller_job_creation_skew_duration_seconds` and
    /// kube-state-metrics' `kube_cronjob_{next_schedule_time, status_last_schedule_time,
    /// status_last_successful_time, status_active, spec_suspend}` gauges, labelled
    /// {namespace, cronjob}.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    /// One sync of the CronJob (C-20…C-52 and kbatch's annotations). `Ok(Some(d))`: sync
    /// again after `d`, which ends at the next fire time plus the requeue delta (C-30; none
    /// unless [`CronJobController::with_requeue_delta`]) and is measured from the end of the
    /// sync, so the sync's own duration does not make the next one late; `Ok(None)`: only an
    /// event brings it back (suspended, unusable schedule or zone, gone); `Err`: retry with
    /// backoff.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<Option<Duration>, ApiError> {
        // A sync's state holds several CronJobs; on the heap, callers' futures stay small.
        Box::pin(self.sync_key(namespace, name)).await
    }

    async fn sync_key(&self, namespace: &str, name: &str) -> Result<Option<Duration>, ApiError> {
        let key = format!("{namespace}/{name}");
        let lock = self.key_state(&key, |s| s.lock.clone());
        let result = {
            let _serialized = lock.lock().await;
            Box::pin(self.sync_locked(&key, namespace, name)).await
        };
        self.release(&key, &lock);
        result
    }

    async fn sync_locked(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Duration>, ApiError> {
        let cj = match self.get_cronjob(namespace, name).await {
            Ok(cj) => cj,
            Err(e) if e.is_not_found() => {
                self.forget(key);
                self.metrics.forget(namespace, name);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let jobs = self.owned_jobs(&cj).await?;
        let mut ctx = Ctx {
            tz: time_zone(&cj),
            cj,
            jobs,
            now: self.clock.now(),
            changed: false,
            outcome: Outcome::Unscheduled,
            timeline: None,
            recorded_until: None,
            run_now_handled: None,
        };
        if Box::pin(self.cleanup_finished_jobs(&mut ctx)).await {
            ctx.changed = true;
        }
        let mut result = Box::pin(self.sync_cronjob(&mut ctx)).await;
        if result.is_ok() && !spec::deleting(&ctx.cj) {
            // kbatch: a run-now request joins the one status write of this sync.
            if let Err(e) = Box::pin(self.run_now(&mut ctx)).await {
                result = Err(e);
            }
        }
        // kbatch's record goes before the status: a later sync resumes the record after
        // lastScheduleTime at the latest, so a crash between the status write and the record
        // would lose the fire times skipped on the way to the new lastScheduleTime. This way
        // a crash repeats the record instead (the same events again), and a record that cannot
        // be written fails the sync before the status moves.
        let recorded = if result.is_ok() && !spec::deleting(&ctx.cj) {
            Box::pin(self.record_skipped(&ctx)).await?
        } else {
            None
        };
        let mut annotations = if result.is_ok() && !spec::deleting(&ctx.cj) {
            annotation_changes(&ctx, recorded)
        } else {
            Map::new()
        };
        if ctx.changed {
            // kbatch's annotations ride on the status write when there is one: a write to
            // /status keeps the metadata it is given (Kubernetes' status strategy resets only
            // the spec), so a sync that starts a Job writes the CronJob once, not twice.
            let held = ctx
                .cj
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            for (key, value) in std::mem::take(&mut annotations) {
                match value {
                    Value::String(value) => held.insert(key, value),
                    _ => held.remove(&key),
                };
            }
            if held.is_empty() {
                ctx.cj.metadata.annotations = None;
            }
            let opts = WriteOptions {
                subresource: Some("status".into()),
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let written = self
                .registry
                .update(
                    &CRONJOB,
                    namespace,
                    name,
                    Object::CronJob(ctx.cj.clone()),
                    &opts,
                    vec![],
                )
                .await?;
            if let Object::CronJob(cj) = written.object {
                ctx.set_cronjob(cj);
            }
        }
        let requeue = result?;
        if !annotations.is_empty() {
            Box::pin(self.write_annotations(&mut ctx, annotations)).await?;
        }
        self.metrics
            .observe(&ctx.cj, kube_state_next(&ctx.cj, &ctx.tz));
        let now = Instant::from(self.clock.now());
        Ok(requeue.map(|at| timeline::until(at, now)))
    }

    /// C-31: the delay after which a spec update re-enqueues the CronJob. A changed schedule
    /// or timeZone gives the C-30 delay of the new schedule; an unparseable one gives `None`
    /// (do not enqueue) and a Warning `UnParseableCronJobSchedule` event, recorded in the
    /// background; any other change gives zero (enqueue now).
    pub fn requeue_after_update(&self, old: &CronJob, new: &CronJob) -> Option<Duration> {
        if spec::schedule(old) == spec::schedule(new)
            && spec::time_zone(old) == spec::time_zone(new)
        {
            return Some(Duration::ZERO);
        }
        match schedule_timeline(new, &time_zone(new)) {
            Ok(timeline) => {
                let now = Instant::from(self.clock.now());
                Some(timeline::until(
                    timeline.requeue_at(now, self.requeue_delta),
                    now,
                ))
            }
            Err(_) => {
                let spec = event_spec(
                    new,
                    "Warning",
                    "UnParseableCronJobSchedule",
                    format!("unparseable schedule for cronjob: {}", spec::schedule(new)),
                );
                let registry = self.registry.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move { record(&registry, spec).await });
                    }
                    Err(_) => tracing::warn!(
                        cronjob = spec::name(new),
                        "no runtime to record UnParseableCronJobSchedule on"
                    ),
                }
                None
            }
        }
    }

    /// `syncCronJob` (C-40, C-41, C-23); `Some(at)`: sync again at `at`.
    async fn sync_cronjob(&self, ctx: &mut Ctx) -> Result<Option<Instant>, ApiError> {
        Box::pin(self.reconcile_active(ctx)).await?;
        if spec::deleting(&ctx.cj) {
            return Ok(None);
        }
        let now = ctx.now();
        if let Some(tz) = spec::time_zone(&ctx.cj)
            && let Err(e) = &ctx.tz
        {
            let message = format!("invalid timeZone: {}: {e}", go_quote(tz));
            self.event(&ctx.cj, "Warning", "UnknownTimeZone", message)
                .await;
            return Ok(None);
        }
        if spec::suspended(&ctx.cj) {
            ctx.outcome = Outcome::Suspended;
            if let Ok(timeline) = schedule_timeline(&ctx.cj, &ctx.tz) {
                ctx.recorded_until = Some(recorded_until(&ctx.cj, &timeline));
            }
            return Ok(None);
        }
        let schedule = spec::schedule(&ctx.cj).to_owned();
        if schedule.contains("TZ") {
            // C-8 (`formatSchedule`).
            let message = format!(
                "CRON_TZ or TZ used in schedule {} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                go_quote(&schedule)
            );
            self.event(&ctx.cj, "Warning", "UnsupportedSchedule", message)
                .await;
        }
        let mut timeline = match schedule_timeline(&ctx.cj, &ctx.tz) {
            Ok(t) => t,
            Err(e) => {
                let message = format!("unparseable schedule: {} : {e}", go_quote(&schedule));
                self.event(&ctx.cj, "Warning", "UnparseableSchedule", message)
                    .await;
                return Ok(None);
            }
        };
        // `nextScheduleTime`.
        let due = match timeline.most_recent(now, true) {
            Err(e) => {
                let message = format!("invalid schedule: {schedule} : {e}");
                self.event(&ctx.cj, "Warning", "InvalidSchedule", message)
                    .await;
                return Ok(None);
            }
            Ok(found) => {
                if found.due.is_some() && found.missed == Missed::Many {
                    self.event(
                        &ctx.cj,
                        "Warning",
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                    )
                    .await;
                }
                found.due
            }
        };
        ctx.recorded_until = Some(recorded_until(&ctx.cj, &timeline));
        ctx.timeline = Some(timeline.clone());
        let Some(due) = due else {
            ctx.outcome = Outcome::Walked { due: None };
            return Ok(Some(timeline.requeue_at(now, self.requeue_delta)));
        };
        let walked = |fate| Outcome::Walked {
            due: Some((due, fate)),
        };
        if timeline.too_late(due, now) {
            let message = format!("Missed scheduled time to start a job: {}", rfc1123z(due));
            self.event(&ctx.cj, "Warning", "MissSchedule", message)
                .await;
            ctx.outcome = walked(Fate::TooLate);
            return Ok(Some(timeline.requeue_at(now, self.requeue_delta)));
        }
        let job_name = timeline::job_name(spec::name(&ctx.cj), due);
        if spec::in_active_by_name(&ctx.cj, &job_name) || last_schedule_time(&ctx.cj) == Some(due) {
            ctx.outcome = walked(Fate::Started);
            return Ok(Some(timeline.requeue_at(now, self.requeue_delta)));
        }
        if spec::concurrency_policy(&ctx.cj) == "Forbid" && !spec::active(&ctx.cj).is_empty() {
            self.event(
                &ctx.cj,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            .await;
            ctx.outcome = walked(Fate::Held(Held::Forbidden));
            return Ok(Some(timeline.requeue_at(now, self.requeue_delta)));
        }
        if spec::concurrency_policy(&ctx.cj) == "Replace" {
            self.replace_active(ctx).await?;
        }
        let scheduled = due.rfc3339(&ctx.zone()).to_string();
        let job = jobs::from_template(
            &ctx.cj,
            job_name.clone(),
            &[(SCHEDULED_TIMESTAMP, scheduled)],
        );
        let job_ref = match self.create_job(&ctx.cj, job).await {
            Created::New(job) => {
                if let Some(created) = job.metadata.creation_timestamp.as_ref() {
                    let skew = go_sub(Instant::from(created.0), due);
                    self.metrics.creation_skew(go_seconds(skew));
                }
                let message = format!("Created job {}", jobs::name(&job));
                self.event(&ctx.cj, "Normal", "SuccessfulCreate", message)
                    .await;
                jobs::reference(&job)
            }
            Created::Exists(job) => {
                if !jobs::controlled_by(&job, &ctx.cj) {
                    ctx.outcome = walked(Fate::Held(Held::Foreign(job_name)));
                    return Ok(None);
                }
                if spec::in_active(&ctx.cj, jobs::uid(&job)) {
                    ctx.outcome = walked(Fate::Started);
                    return Ok(None);
                }
                tracing::info!(
                    cronjob = spec::name(&ctx.cj),
                    job = job_name,
                    "job already exists"
                );
                jobs::reference(&job)
            }
            Created::Failed(e) => return Err(e),
        };
        let status = spec::status_mut(&mut ctx.cj);
        status.active.get_or_insert_with(Vec::new).push(job_ref);
        let at = due
            .to_jiff()
            .ok_or_else(|| ApiError::internal("a fire time beyond the year 9999"))?;
        status.last_schedule_time = Some(Time(at));
        ctx.changed = true;
        ctx.outcome = walked(Fate::Started);
        timeline.last_schedule = Some(due);
        let requeue = timeline.requeue_at(now, self.requeue_delta);
        ctx.timeline = Some(timeline);
        Ok(Some(requeue))
    }

    /// C-40 and C-41: status.active follows the owned Jobs; lastSuccessfulTime follows the
    /// succeeded ones.
    async fn reconcile_active(&self, ctx: &mut Ctx) -> Result<(), ApiError> {
        let mut children = HashSet::new();
        for i in 0..ctx.jobs.len() {
            let job = &ctx.jobs[i];
            let uid = jobs::uid(job).to_owned();
            let job_name = jobs::name(job).to_owned();
            children.insert(uid.clone());
            let found = spec::in_active(&ctx.cj, &uid);
            let finished = jobs::finished_condition(job).map(str::to_owned);
            let Some(condition) = finished else {
                if found {
                    continue;
                }
                let fresh = self
                    .get_cronjob(spec::namespace(&ctx.cj), spec::name(&ctx.cj))
                    .await?;
                if spec::in_active(&fresh, &uid) {
                    // Our copy was stale: go on with the fresh one.
                    ctx.set_cronjob(fresh);
                    continue;
                }
                let message =
                    format!("Saw a job that the controller did not create or forgot: {job_name}");
                self.event(&ctx.cj, "Warning", "UnexpectedJob", message)
                    .await;
                continue;
            };
            if found {
                spec::remove_from_active(&mut ctx.cj, &uid);
                let message = format!("Saw completed job: {job_name}, condition: {condition}");
                self.event(&ctx.cj, "Normal", "SawCompletedJob", message)
                    .await;
                ctx.changed = true;
            }
            let job = &ctx.jobs[i];
            if jobs::succeeded(job) {
                let completion = job.status.as_ref().and_then(|s| s.completion_time.clone());
                let status = spec::status_mut(&mut ctx.cj);
                if status.last_successful_time.is_none() {
                    status.last_successful_time = completion.clone();
                    ctx.changed = true;
                }
                if let (Some(done), Some(last)) = (&completion, &status.last_successful_time)
                    && done.0 > last.0
                {
                    status.last_successful_time = completion;
                    ctx.changed = true;
                }
            }
        }
        for entry in spec::active(&ctx.cj).to_vec() {
            let uid = entry.uid.clone().unwrap_or_default();
            if children.contains(&uid) {
                continue;
            }
            // The Job list may lag (upstream's lister does); ask the API before dropping it.
            let namespace = entry.namespace.as_deref().unwrap_or("");
            let job_name = entry.name.as_deref().unwrap_or("");
            match self.registry.get(&JOB, namespace, job_name).await {
                Err(e) if e.is_not_found() => {
                    let message = format!("Active job went missing: {job_name}");
                    self.event(&ctx.cj, "Normal", "MissingJob", message).await;
                    spec::remove_from_active(&mut ctx.cj, &uid);
                    ctx.changed = true;
                }
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// C-42 (`cleanupFinishedJobs`): deletes the oldest finished Jobs beyond each history
    /// limit. Returns whether the status needs writing.
    async fn cleanup_finished_jobs(&self, ctx: &mut Ctx) -> bool {
        let successful_limit = spec::successful_jobs_history_limit(&ctx.cj);
        let failed_limit = spec::failed_jobs_history_limit(&ctx.cj);
        if successful_limit.is_none() && failed_limit.is_none() {
            return false;
        }
        let (mut successful, mut failed) = (Vec::new(), Vec::new());
        for job in &ctx.jobs {
            match jobs::finished_condition(job) {
                Some("Complete") => successful.push(job.clone()),
                Some(_) => failed.push(job.clone()),
                None => {}
            }
        }
        let mut changed = false;
        for (limit, list) in [(successful_limit, successful), (failed_limit, failed)] {
            if let Some(limit) = limit
                && self.remove_oldest(ctx, list, limit).await
            {
                changed = true;
            }
        }
        changed
    }

    /// `removeOldestJobs`.
    async fn remove_oldest(&self, ctx: &mut Ctx, mut list: Vec<Job>, limit: i32) -> bool {
        let keep = usize::try_from(limit).unwrap_or(0);
        if list.len() <= keep {
            return false;
        }
        let excess = list.len() - keep;
        list.sort_by(jobs::by_start_time);
        let mut deleted = false;
        for job in &list[..excess] {
            if self.delete_job(ctx, job).await {
                deleted = true;
            }
        }
        deleted
    }

    /// C-26: every active Job is deleted before the new one is created.
    async fn replace_active(&self, ctx: &mut Ctx) -> Result<(), ApiError> {
        for entry in spec::active(&ctx.cj).to_vec() {
            let namespace = entry.namespace.as_deref().unwrap_or("");
            let job_name = entry.name.as_deref().unwrap_or("");
            let job = match self.get_job(namespace, job_name).await {
                Ok(job) => job,
                Err(e) => {
                    self.event(&ctx.cj, "Warning", "FailedGet", format!("Get job: {e}"))
                        .await;
                    return Err(e);
                }
            };
            if !self.delete_job(ctx, &job).await {
                return Err(ApiError::internal(format!(
                    "could not replace job {namespace}/{job_name}"
                )));
            }
            ctx.changed = true;
        }
        Ok(())
    }

    /// `deleteJob`: the Job goes with its pods (Background) and leaves status.active.
    async fn delete_job(&self, ctx: &mut Ctx, job: &Job) -> bool {
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..Default::default()
        };
        let namespace = job.metadata.namespace.as_deref().unwrap_or("");
        match self
            .registry
            .delete(&JOB, namespace, jobs::name(job), &opts)
            .await
        {
            Err(e) => {
                self.event(
                    &ctx.cj,
                    "Warning",
                    "FailedDelete",
                    format!("Deleted job: {e}"),
                )
                .await;
                false
            }
            Ok(_) => {
                spec::remove_from_active(&mut ctx.cj, jobs::uid(job));
                let message = format!("Deleted job {}", jobs::name(job));
                self.event(&ctx.cj, "Normal", "SuccessfulDelete", message)
                    .await;
                true
            }
        }
    }

    /// C-27's create, with its error handling: a terminating namespace fails quietly, an
    /// existing Job is read back, any other failure is a `FailedCreate` event.
    async fn create_job(&self, cj: &CronJob, job: Job) -> Created {
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let job_name = jobs::name(&job).to_owned();
        match self
            .registry
            .create(&JOB, spec::namespace(cj), Object::Job(job), &opts, vec![])
            .await
        {
            Ok(written) => match written.object {
                Object::Job(job) => Created::New(job),
                _ => Created::Failed(ApiError::internal("a Job create returned another kind")),
            },
            Err(e) if namespace_terminating(&e) => Created::Failed(e),
            Err(e) if e.reason() == "AlreadyExists" => {
                match self.get_job(spec::namespace(cj), &job_name).await {
                    Ok(job) => Created::Exists(job),
                    Err(e) => Created::Failed(e),
                }
            }
            Err(e) => {
                self.event(
                    cj,
                    "Warning",
                    "FailedCreate",
                    format!("Error creating job: {e}"),
                )
                .await;
                Created::Failed(e)
            }
        }
    }

    /// kbatch's run-now: one Job per new value of the annotation.
    async fn run_now(&self, ctx: &mut Ctx) -> Result<(), ApiError> {
        let Some(value) = spec::annotation(&ctx.cj, RUN_NOW).map(str::to_owned) else {
            return Ok(());
        };
        if spec::annotation(&ctx.cj, RUN_NOW_HANDLED) == Some(value.as_str()) {
            return Ok(());
        }
        let job_name = manual_job_name(spec::name(&ctx.cj), &value);
        if spec::in_active_by_name(&ctx.cj, &job_name) {
            ctx.run_now_handled = Some(value);
            return Ok(());
        }
        let request = format!("{RUN_NOW}={}", go_quote(&value));
        if spec::concurrency_policy(&ctx.cj) == "Forbid" && !spec::active(&ctx.cj).is_empty() {
            let message = format!(
                "Not starting job for {request} because prior execution is running and concurrency policy is Forbid"
            );
            self.event(&ctx.cj, "Normal", "RunNowSkipped", message)
                .await;
            ctx.run_now_handled = Some(value);
            return Ok(());
        }
        if spec::concurrency_policy(&ctx.cj) == "Replace" {
            self.replace_active(ctx).await?;
        }
        let job = jobs::from_template(&ctx.cj, job_name.clone(), &[(INSTANTIATE, "manual".into())]);
        let job_ref = match self.create_job(&ctx.cj, job).await {
            Created::New(job) => {
                let message = format!("Created job {job_name} for {request}");
                self.event(&ctx.cj, "Normal", "RunNow", message).await;
                Some(jobs::reference(&job))
            }
            Created::Exists(job) if !jobs::controlled_by(&job, &ctx.cj) => {
                let message = format!(
                    "Not starting job for {request}: job {job_name} exists and is not controlled by this CronJob"
                );
                self.event(&ctx.cj, "Warning", "RunNowSkipped", message)
                    .await;
                None
            }
            // Created before a crash: active unless it already finished.
            Created::Exists(job) => (jobs::finished_condition(&job).is_none()
                && !spec::in_active(&ctx.cj, jobs::uid(&job)))
            .then(|| jobs::reference(&job)),
            Created::Failed(e) => return Err(e),
        };
        if let Some(job_ref) = job_ref {
            spec::status_mut(&mut ctx.cj)
                .active
                .get_or_insert_with(Vec::new)
                .push(job_ref);
            ctx.changed = true;
        }
        ctx.run_now_handled = Some(value);
        Ok(())
    }

    /// kbatch's record: one `SkippedSchedule` event per fire time since the end of the record
    /// that no Job will ever start, then the "for now" event of a due fire time this sync held
    /// back. Returns the new end of the record, if it moved; an event of the record that
    /// cannot be written is an error (the "for now" event is best effort).
    async fn record_skipped(&self, ctx: &Ctx) -> Result<Option<Instant>, ApiError> {
        let timeline = match &ctx.outcome {
            Outcome::Unscheduled => None,
            Outcome::Suspended => schedule_timeline(&ctx.cj, &ctx.tz).ok(),
            Outcome::Walked { .. } => ctx.timeline.clone(),
        };
        let mut end = None;
        if let (Some(after), Some(timeline)) = (ctx.recorded_until, timeline) {
            let key = format!("{}/{}", spec::namespace(&ctx.cj), spec::name(&ctx.cj));
            let held = self.key_state(&key, |s| s.held.clone());
            // A fire time whose Job exists started, whatever lastScheduleTime says: a crash
            // between the Job's creation and the status write leaves it so.
            let started: HashSet<&str> = ctx
                .jobs
                .iter()
                .filter(|job| jobs::controlled_by(job, &ctx.cj))
                .map(jobs::name)
                .collect();
            let cronjob = spec::name(&ctx.cj);
            let (entries, recorded) = record::skipped(
                after,
                &ctx.outcome,
                &timeline,
                ctx.now(),
                held.as_ref(),
                &ctx.zone(),
                |at| started.contains(timeline::job_name(cronjob, at).as_str()),
            );
            for (type_, message) in entries {
                let spec = event_spec(&ctx.cj, type_, "SkippedSchedule", message);
                self.registry.write_event(spec).await?;
            }
            end = recorded;
        }
        if let Outcome::Walked {
            due: Some((due, Fate::Held(held))),
        } = &ctx.outcome
        {
            self.hold(ctx, *due, held.clone()).await;
        }
        Ok(end)
    }

    /// The due fire time is held back (C-25, C-27): a `SkippedSchedule` "for now" event, once
    /// per fire time and reason.
    async fn hold(&self, ctx: &Ctx, due: Instant, held: Held) {
        let cj = &ctx.cj;
        let key = format!("{}/{}", spec::namespace(cj), spec::name(cj));
        let entry = (due, held);
        let new = self.key_state(&key, |s| {
            let new = s.held.as_ref() != Some(&entry);
            s.held = Some(entry.clone());
            new
        });
        if new {
            let (due, held) = entry;
            let message = format!(
                "Skipped scheduled time {} for now: {}",
                due.rfc3339(&ctx.zone()),
                held.why()
            );
            self.event(cj, held.event_type(), "SkippedSchedule", message)
                .await;
        }
    }

    /// Writes kbatch's annotations that changed (`null`: remove), in one merge patch of the
    /// metadata.
    async fn write_annotations(
        &self,
        ctx: &mut Ctx,
        changes: Map<String, Value>,
    ) -> Result<(), ApiError> {
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let patch = json!({"metadata": {"annotations": changes}});
        match self
            .registry
            .patch(
                &CRONJOB,
                spec::namespace(&ctx.cj),
                spec::name(&ctx.cj),
                PatchType::Merge,
                &patch,
                &opts,
            )
            .await
        {
            Ok(written) => {
                if let Object::CronJob(cj) = written.object {
                    ctx.set_cronjob(cj);
                }
                Ok(())
            }
            // A CronJob that today's update validation refuses (C-8's TZ with timeZone,
            // stored by an older version) cannot take any update; scheduling goes on
            // without the annotations, and run-now stays exactly-once through its Job name.
            Err(e) if e.reason() == "Invalid" => {
                tracing::warn!(cronjob = spec::name(&ctx.cj), error = %e, "annotations not written");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn get_cronjob(&self, namespace: &str, name: &str) -> Result<CronJob, ApiError> {
        match self.registry.get(&CRONJOB, namespace, name).await? {
            Object::CronJob(cj) => Ok(cj),
            _ => Err(ApiError::internal("a CronJob read returned another kind")),
        }
    }

    async fn get_job(&self, namespace: &str, name: &str) -> Result<Job, ApiError> {
        match self.registry.get(&JOB, namespace, name).await? {
            Object::Job(job) => Ok(job),
            _ => Err(ApiError::internal("a Job read returned another kind")),
        }
    }

    /// C-52 (`getJobsToBeReconciled`): every Job of the namespace whose controller reference
    /// names the CronJob, whatever its labels.
    async fn owned_jobs(&self, cj: &CronJob) -> Result<Vec<Job>, ApiError> {
        if let Some(cache) = &self.jobs {
            return Ok(cache.controlled_by(spec::namespace(cj), spec::name(cj)));
        }
        let list = self
            .registry
            .list(&JOB, Some(spec::namespace(cj)), &ListParams::default())
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| match o {
                Object::Job(job) if jobs::owned_by_name(&job, spec::name(cj)) => Some(job),
                _ => None,
            })
            .collect())
    }

    /// Records an event about the CronJob. Events are best effort, as client-go's recorder
    /// is: a failure is logged, never returned.
    async fn event(&self, cj: &CronJob, type_: &str, reason: &str, message: impl Into<String>) {
        record(
            &self.registry,
            event_spec(cj, type_, reason, message.into()),
        )
        .await;
    }

    /// Reads or changes the state of one CronJob key, creating it when missing.
    fn key_state<T>(&self, key: &str, f: impl FnOnce(&mut KeyState) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        f(keys.entry(key.to_owned()).or_default())
    }

    /// Drops the state of `key` when it holds nothing to remember and no other sync waits on
    /// its lock: a CronJob between syncs costs no memory here.
    fn release(&self, key: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = keys.get(key)
            && state.held.is_none()
            && Arc::ptr_eq(&state.lock, lock)
            // The map's reference and the caller's.
            && Arc::strong_count(lock) == 2
        {
            keys.remove(key);
        }
    }

    fn forget(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(key);
    }
}

/// The outcome of creating a Job.
enum Created {
    New(Job),
    /// AlreadyExists, and this is the Job of that name.
    Exists(Job),
    Failed(ApiError),
}

fn event_spec(cj: &CronJob, type_: &str, reason: &str, message: String) -> EventSpec {
    EventSpec {
        involved: ObjectReference {
            api_version: Some(CRONJOB.api_version()),
            kind: Some(CRONJOB.kind.to_owned()),
            name: cj.metadata.name.clone(),
            namespace: cj.metadata.namespace.clone(),
            uid: cj.metadata.uid.clone(),
            resource_version: cj.metadata.resource_version.clone(),
            ..Default::default()
        },
        type_: type_.to_owned(),
        reason: reason.to_owned(),
        message,
        component: FIELD_MANAGER.to_owned(),
        host: None,
    }
}

async fn record(registry: &Registry, spec: EventSpec) {
    let reason = spec.reason.clone();
    if let Err(e) = registry.record_event(spec).await {
        tracing::warn!(reason, error = %e, "recording an event failed");
    }
}

/// kbatch's annotations whose value this sync changes (`null`: remove): the next fire time,
/// the run-now value handled, the end of the record of skipped fire times.
fn annotation_changes(ctx: &Ctx, recorded: Option<Instant>) -> Map<String, Value> {
    let zone = ctx.zone();
    let next = match (&ctx.outcome, &ctx.timeline) {
        (Outcome::Walked { .. }, Some(timeline)) => timeline
            .next_fire(ctx.now())
            .map(|t| t.rfc3339(&zone).to_string()),
        _ => None,
    };
    let mut changes = Map::new();
    let mut set = |key: &str, value: Option<String>| {
        if spec::annotation(&ctx.cj, key) != value.as_deref() {
            changes.insert(key.to_owned(), value.map_or(Value::Null, Value::String));
        }
    };
    set(NEXT_SCHEDULE_TIME, next);
    if let Some(handled) = ctx.run_now_handled.clone() {
        set(RUN_NOW_HANDLED, Some(handled));
    }
    if let Some(until) = recorded {
        set(
            SCHEDULES_RECORDED_UNTIL,
            Some(until.rfc3339(&zone).to_string()),
        );
    }
    changes
}

/// spec.timeZone as `time.LoadLocation` loads it; unset is UTC.
fn time_zone(cj: &CronJob) -> Result<Zone, ZoneError> {
    kbatch_schedule::zone(spec::time_zone(cj).unwrap_or(""))
}

/// The schedule of a CronJob as `formatSchedule` hands it to the parser: a schedule that
/// mentions TZ is used as written (in UTC unless its own prefix names a zone), otherwise it is
/// evaluated in spec.timeZone when that loads (C-16).
fn schedule_timeline(cj: &CronJob, tz: &Result<Zone, ZoneError>) -> Result<Timeline, ParseError> {
    let text = spec::schedule(cj);
    let schedule = kbatch_schedule::parse(text)?;
    let zone = match tz {
        Ok(zone) if !text.contains("TZ") => zone.clone(),
        _ => Zone::utc(),
    };
    Ok(Timeline {
        schedule,
        zone,
        created: cj
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Instant::GO_ZERO, |t| Instant::from(t.0)),
        last_schedule: last_schedule_time(cj),
        starting_deadline: spec::starting_deadline_seconds(cj),
    })
}

fn last_schedule_time(cj: &CronJob) -> Option<Instant> {
    cj.status
        .as_ref()?
        .last_schedule_time
        .as_ref()
        .map(|t| Instant::from(t.0))
}

/// Where the record of skipped fire times resumes: after the later of the recorded end and
/// the fire time that last started a Job (or the creation time).
fn recorded_until(cj: &CronJob, timeline: &Timeline) -> Instant {
    let start = timeline.last_schedule.unwrap_or(timeline.created);
    spec::annotation(cj, SCHEDULES_RECORDED_UNTIL)
        .and_then(|text| text.parse::<Instant>().ok())
        .map_or(start, |recorded| recorded.max(start))
}

/// kube-state-metrics' next schedule time: `CRON_TZ=<timeZone> <schedule>` from
/// lastScheduleTime, else the creation time; none while suspended, and none where that text
/// does not parse (a bad zone, or a second TZ in the schedule).
fn kube_state_next(cj: &CronJob, tz: &Result<Zone, ZoneError>) -> Option<Instant> {
    let text = spec::schedule(cj);
    if spec::suspended(cj) || (spec::time_zone(cj).is_some() && text.contains("TZ")) {
        return None;
    }
    let schedule = kbatch_schedule::parse(text).ok()?;
    let from = last_schedule_time(cj).or_else(|| {
        cj.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| Instant::from(t.0))
    })?;
    schedule.next(from, tz.as_ref().ok()?)
}

/// The name of the Job a run-now value starts: `<cronjob>-manual-<FNV-1a of the value>`,
/// the CronJob's name shortened so that the whole stays a valid 63-character Job name.
fn manual_job_name(cronjob: &str, value: &str) -> String {
    const SUFFIX_LEN: usize = "-manual-".len() + 8;
    let hash = value.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let keep = cronjob
        .char_indices()
        .nth(63 - SUFFIX_LEN)
        .map_or(cronjob.len(), |(i, _)| i);
    let prefix = cronjob[..keep].trim_end_matches('.');
    format!("{prefix}-manual-{hash:08x}")
}

/// Go's `time.RFC1123Z` in UTC, as MissSchedule prints its time.
fn rfc1123z(at: Instant) -> String {
    at.to_jiff()
        .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

/// Go's `%q` for the texts events quote: printable characters as they are, the rest escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() && u32::from(c) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a create failed because the namespace is being deleted: the `NamespaceTerminating`
/// cause of Kubernetes' lifecycle admission, or the registry's text for it.
fn namespace_terminating(e: &ApiError) -> bool {
    let cause =
        e.0.details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.reason.as_deref() == Some("NamespaceTerminating"))
            });
    cause || (e.code() == 403 && e.to_string().ends_with("because it is being terminated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_names_fit_a_job_name() {
        assert_eq!(manual_job_name("backup", "1"), "backup-manual-340ca71c");
        let long = "a".repeat(52);
        let name = manual_job_name(&long, "x");
        assert_eq!(name.len(), 63);
        assert!(name.starts_with(&"a".repeat(47)));
        let dotted = format!("{}.b", "a".repeat(46));
        assert!(manual_job_name(&dotted, "x").starts_with(&format!("{}-manual-", "a".repeat(46))));
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }

    #[test]
    fn rfc1123z_is_utc() {
        let t = Instant::from_unix(1_463_652_000, 0).unwrap();
        assert_eq!(rfc1123z(t), "Thu, 19 May 2016 10:00:00 +0000");
    }
}
