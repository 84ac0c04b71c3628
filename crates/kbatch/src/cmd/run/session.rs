//! A run's embedded instance — store, registry, controllers and a node agent in this process,
//! with no HTTPS listener — and the loop that follows the run's Jobs through watches until
//! they end, or until the run stops them.
//!
//! Stopping (Ctrl-C, SIGTERM, `--timeout`) leaves no process behind: the run suspends its
//! Jobs (and CronJob), so that a server started later on a kept data dir does not start them
//! again; stops the controllers, so that nothing creates a pod any more; deletes the pods
//! still running, which the agent stops as kubelet does (SIGTERM, then SIGKILL when the
//! grace period ends; a second Ctrl-C ends it at once); and waits until every pod is
//! terminal or gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_api::Metrics;
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    DeleteOptions, ListParams, PatchType, Registry, WatchEvent, WatchEventType, WatchParams,
    WatchStream, WriteOptions,
};
use kbatch_controllers::ControllersConfig;
use kbatch_controllers::job::pods::{controller_of, is_terminal};
use kbatch_core::object::{CRONJOB, JOB, Kind, NAMESPACE, Object, POD};
use kbatch_store::{Compactor, MemoryStore, Retention, Store};
use serde_json::json;

use super::console::Console;
use super::cronjob;
use super::data::DataDir;
use super::job::{Backoff, Tracked};
use super::logs::Logs;
use super::manifest::Manifest;
use super::signals::Signals;
use super::summary::{self, Stopped};
use super::{
    EXIT_COMPLETE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_TERMINATED, RuntimeKind,
};
use crate::instance::{
    Instance, NodeSettings, Settings, Supervision, encrypt_secrets, host_node_name, open_store,
};

/// The field manager of the run's own writes.
const FIELD_MANAGER: &str = "kbatch-run";

/// How the run is set up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub backoff: Backoff,
    pub timeout: Option<Duration>,
    /// A CronJob runs on its schedule instead of once.
    pub schedule: bool,
    pub runtime: RuntimeKind,
}

/// Starts the instance, submits the manifest and follows it to its end; returns the exit
/// code.
pub async fn run(
    manifest: Manifest,
    options: Options,
    data: &DataDir,
    console: Arc<Console>,
) -> anyhow::Result<u8> {
    let signals = Signals::install(options.timeout)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> = if data.persistent() {
        encrypt_secrets(open_store(data.path())?, data.path()).await?
    } else {
        Arc::new(MemoryStore::new())
    };
    let registry = Registry::new(store.clone(), clock.clone());
    registry.bootstrap().await?;
    if options.schedule {
        // A run on a schedule lasts: its history is compacted as a server's is.
        tokio::spawn(async move {
            let compactor = Compactor::new(Retention::default());
            let Err(e) = compactor
                .run(
                    store,
                    Arc::new(kbatch_store::SystemClock),
                    Duration::from_secs(60),
                )
                .await;
            tracing::error!(error = %e, "store compaction stopped");
        });
    }
    let mut node = NodeSettings::new(
        host_node_name(),
        data.path(),
        // A run ends every container before it exits, so no container needs a
        // supervisor that outlives it.
        match options.runtime {
            RuntimeKind::Process => Supervision::Direct,
        },
    );
    // Nothing of a run outlives it: its checkpoints go with its data dir.
    node.run_dir.clone_from(&node.dir);
    let settings = Settings {
        controllers: Some(ControllersConfig {
            backoff_base: options.backoff.base,
            backoff_max: options.backoff.max,
            // As the server's default (`--job-sync-batch-period`): a pod's end reaches its
            // Job in milliseconds, not after Kubernetes' 1 s; only the timing differs.
            job_sync_batch_period: Duration::from_millis(5),
            ..Default::default()
        }),
        node: Some(node),
        log_server: None,
    };
    let logs = Logs::new(settings.logs(), console.clone());
    let instance = Instance::start(&registry, &clock, &Metrics::default(), settings);
    let namespace = manifest.namespace.clone();
    ensure_namespace(&registry, &namespace).await?;
    // Watching before submitting: every change of the run's objects is seen.
    let jobs = Feed::start(&registry, JOB, &namespace).await?;
    let pods = Feed::start(&registry, POD, &namespace).await?;
    let mut run = Run {
        registry,
        namespace,
        console,
        logs,
        backoff: options.backoff,
        instance,
        jobs: Vec::new(),
        stray_pods: HashMap::new(),
        cronjob: None,
        stopping: None,
        started: Instant::now(),
    };
    let cronjobs = match run.submit(&manifest, options.schedule).await {
        Ok(feed) => feed,
        Err(e) => {
            run.console.note(&format!(
                "{}: {}",
                manifest.label,
                e.0.message.unwrap_or_default()
            ));
            return Ok(EXIT_INVALID);
        }
    };
    Ok(run.follow(signals, jobs, pods, cronjobs).await)
}

/// Makes the manifest's namespace exist, as a user of a fresh cluster would.
async fn ensure_namespace(registry: &Registry, name: &str) -> Result<(), ApiError> {
    match registry.get(&NAMESPACE, "", name).await {
        Err(e) if e.is_not_found() => {
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let created = registry
                .create(
                    &NAMESPACE,
                    "",
                    Object::Namespace(ns),
                    &write_options(),
                    Vec::new(),
                )
                .await;
            match created {
                Err(e) if e.reason() != "AlreadyExists" => Err(e),
                _ => Ok(()),
            }
        }
        other => other.map(|_| ()),
    }
}

fn write_options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    }
}

/// A watch of one kind in the namespace that outlives its stream: when the stream ends or
/// fails (410 after compaction), it starts again from the current state, as an informer
/// relists.
struct Feed {
    registry: Registry,
    kind: Kind,
    namespace: String,
    stream: WatchStream,
}

impl Feed {
    async fn start(registry: &Registry, kind: Kind, namespace: &str) -> Result<Feed, ApiError> {
        let (stream, _) = registry
            .watch(&kind, Some(namespace), WatchParams::default())
            .await?;
        Ok(Feed {
            registry: registry.clone(),
            kind,
            namespace: namespace.to_owned(),
            stream,
        })
    }

    async fn next(&mut self) -> (WatchEventType, Object) {
        loop {
            match self.stream.next().await {
                Some(WatchEvent::Object(type_, obj)) => return (type_, *obj),
                Some(WatchEvent::Error(_)) | None => {
                    let watched = self
                        .registry
                        .watch(&self.kind, Some(&self.namespace), WatchParams::default())
                        .await;
                    match watched {
                        Ok((stream, _)) => self.stream = stream,
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }
    }
}

/// The next event of a feed that may not exist.
async fn next_of(feed: &mut Option<Feed>) -> (WatchEventType, Object) {
    match feed {
        Some(feed) => feed.next().await,
        None => std::future::pending().await,
    }
}

/// The CronJob a `--schedule` run follows.
struct Schedule {
    name: String,
    uid: String,
    /// The next fire time, as the CronJob controller last wrote it.
    next: Option<String>,
    complete: usize,
    failed: usize,
}

/// The run's state.
struct Run {
    registry: Registry,
    namespace: String,
    console: Arc<Console>,
    logs: Logs,
    backoff: Backoff,
    instance: Instance,
    /// The Jobs of the run, oldest first; with a schedule, those not reported yet.
    jobs: Vec<Tracked>,
    /// With a schedule: pods seen before their Job, by the Job's uid.
    stray_pods: HashMap<String, Vec<Pod>>,
    cronjob: Option<Schedule>,
    stopping: Option<Stopped>,
    started: Instant,
}

impl Run {
    /// Creates what the manifest asks for; returns the CronJob feed of a scheduled run.
    async fn submit(
        &mut self,
        manifest: &Manifest,
        schedule: bool,
    ) -> Result<Option<Feed>, ApiError> {
        match manifest.object.clone() {
            Object::Job(job) => {
                let job = self.create_job(job).await?;
                self.console
                    .event(&format!("job/{} created", name_of(&job.metadata)));
                Ok(None)
            }
            Object::CronJob(mut cj) if !schedule => {
                // Suspended, so that no scheduled Job starts beside the one run now; a
                // manual Job runs all the same, as on a cluster.
                cj.spec.get_or_insert_with(Default::default).suspend = Some(true);
                let cj = self.create_cronjob(cj).await?;
                let job = self.create_job(cronjob::manual_job(&cj)).await?;
                self.console.event(&format!(
                    "job/{} created from cronjob/{} (--schedule runs it on its schedule)",
                    name_of(&job.metadata),
                    name_of(&cj.metadata)
                ));
                Ok(None)
            }
            Object::CronJob(cj) => {
                let feed = Feed::start(&self.registry, CRONJOB, &self.namespace).await?;
                let cj = self.create_cronjob(cj).await?;
                let name = name_of(&cj.metadata).to_owned();
                let schedule = cj.spec.as_ref().map_or("", |s| s.schedule.as_str());
                self.console.event(&format!(
                    "cronjob/{name} created: schedule {schedule:?}; Ctrl-C stops it"
                ));
                self.cronjob = Some(Schedule {
                    name,
                    uid: cj.metadata.uid.clone().unwrap_or_default(),
                    next: None,
                    complete: 0,
                    failed: 0,
                });
                Ok(Some(feed))
            }
            _ => Err(ApiError::bad_request("kbatch run runs a Job or a CronJob")),
        }
    }

    async fn create_job(&mut self, job: Job) -> Result<Job, ApiError> {
        let written = self
            .registry
            .create(
                &JOB,
                &self.namespace,
                Object::Job(job),
                &write_options(),
                Vec::new(),
            )
            .await?;
        let Object::Job(job) = written.object else {
            return Err(ApiError::internal(
                "the registry answered a Job with another kind",
            ));
        };
        self.jobs.push(Tracked::new(job.clone(), Instant::now()));
        Ok(job)
    }

    async fn create_cronjob(&self, cj: CronJob) -> Result<CronJob, ApiError> {
        let written = self
            .registry
            .create(
                &CRONJOB,
                &self.namespace,
                Object::CronJob(cj),
                &write_options(),
                Vec::new(),
            )
            .await?;
        match written.object {
            Object::CronJob(cj) => Ok(cj),
            _ => Err(ApiError::internal(
                "the registry answered a CronJob with another kind",
            )),
        }
    }

    /// Follows the run's objects until the run is over; returns the exit code.
    async fn follow(
        mut self,
        mut signals: Signals,
        mut jobs: Feed,
        mut pods: Feed,
        mut cronjobs: Option<Feed>,
    ) -> u8 {
        let mut tick = self
            .console
            .has_progress()
            .then(|| tokio::time::interval(Duration::from_millis(250)));
        loop {
            if self.cronjob.is_some() {
                self.report_finished().await;
            }
            if self.over() {
                break;
            }
            tokio::select! {
                (type_, obj) = jobs.next() => self.job_event(type_, obj).await,
                (type_, obj) = pods.next() => self.pod_event(type_, obj).await,
                (type_, obj) = next_of(&mut cronjobs) => self.cronjob_event(type_, obj),
                stopped = signals.next() => self.stop(stopped).await,
                // Between changes, the clock and the backoff wait move on.
                () = tick_of(&mut tick) => {}
            }
            if tick.is_some() {
                self.show_progress();
            }
        }
        self.end().await
    }

    /// Whether the run is over: its one Job has ended and no pod of it runs, or the run was
    /// stopped and no pod of any of its Jobs runs.
    fn over(&self) -> bool {
        if self.stopping.is_some() {
            return self.jobs.iter().all(Tracked::pods_quiet);
        }
        if self.cronjob.is_some() {
            return false;
        }
        self.jobs
            .iter()
            .all(|j| (j.finished().is_some() || j.deleted) && j.pods_quiet())
    }

    /// The end: the logs drained, the summary, the exit code.
    async fn end(mut self) -> u8 {
        let uids: Vec<String> = self.jobs.iter().map(|j| j.uid().to_owned()).collect();
        for uid in &uids {
            self.logs.drain(uid).await;
        }
        self.console.finish();
        for job in &self.jobs {
            summary::print(&self.console, job, self.stopping);
        }
        let code = match self.stopping {
            Some(Stopped::Interrupt) => EXIT_INTERRUPTED,
            Some(Stopped::Terminate) => EXIT_TERMINATED,
            Some(Stopped::Timeout(_)) if self.cronjob.is_none() => EXIT_FAILED,
            _ if self.cronjob.is_some() => {
                let failed = self.cronjob.as_ref().map_or(0, |s| s.failed);
                // Runs cut short by the end of --timeout count as failed.
                if failed == 0 && self.jobs.iter().all(|j| j.finished().is_some()) {
                    EXIT_COMPLETE
                } else {
                    EXIT_FAILED
                }
            }
            _ if self.jobs.iter().all(Tracked::complete) => EXIT_COMPLETE,
            _ => EXIT_FAILED,
        };
        if let Some(schedule) = &self.cronjob {
            let cut = self.jobs.iter().filter(|j| j.finished().is_none()).count();
            let runs = schedule.complete + schedule.failed + cut;
            let how = match self.stopping {
                Some(Stopped::Interrupt) => "stopped by Ctrl-C",
                Some(Stopped::Terminate) => "stopped by SIGTERM",
                _ => "stopped at the end of --timeout",
            };
            let mut rest = format!(
                ": cronjob/{} {how} after {}: {runs} run{}, {} complete, {} failed",
                schedule.name,
                summary::elapsed(self.started.elapsed()),
                if runs == 1 { "" } else { "s" },
                schedule.complete,
                schedule.failed
            );
            if cut > 0 {
                rest.push_str(&format!(", {cut} stopped"));
            }
            self.console.result("Stopped", code == EXIT_COMPLETE, &rest);
        }
        code
    }

    fn tracked(&mut self, uid: &str) -> Option<&mut Tracked> {
        self.jobs.iter_mut().find(|j| j.uid() == uid)
    }

    async fn job_event(&mut self, type_: WatchEventType, obj: Object) {
        let Object::Job(job) = obj else { return };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let backoff = self.backoff;
        if let Some(tracked) = self.tracked(&uid) {
            if type_ == WatchEventType::Deleted {
                tracked.deleted = true;
                tracked.ended.get_or_insert_with(Instant::now);
                return;
            }
            let lines = tracked.job_changed(job, backoff);
            self.events(&lines);
            return;
        }
        // With a schedule: a Job the CronJob controller started.
        let Some(schedule) = &self.cronjob else {
            return;
        };
        let ours = job
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.controller == Some(true) && r.uid == schedule.uid);
        if !ours {
            return;
        }
        if type_ == WatchEventType::Deleted || job_finished(&job) {
            // Reported already (or never to be): its pods are of no more interest.
            self.stray_pods.remove(&uid);
            return;
        }
        let when = cronjob::scheduled_for(&job)
            .map(|t| format!(" for {t}"))
            .unwrap_or_default();
        self.console
            .event(&format!("job/{} started{when}", name_of(&job.metadata)));
        let mut tracked = Tracked::new(job, Instant::now());
        let mut lines = Vec::new();
        for pod in self.stray_pods.remove(&uid).unwrap_or_default() {
            self.logs.pod(&uid, &pod);
            lines.extend(tracked.pod_changed(pod));
        }
        self.jobs.push(tracked);
        self.events(&lines);
        if self.stopping.is_some() {
            // Started as the run was stopping: it is stopped too.
            self.suspend_job(&uid).await;
            self.delete_pods(None).await;
        }
    }

    async fn pod_event(&mut self, type_: WatchEventType, obj: Object) {
        let Object::Pod(pod) = obj else { return };
        let Some(owner) = controller_of(&pod).map(|r| r.uid.clone()) else {
            return;
        };
        let deleted = type_ == WatchEventType::Deleted;
        if self.tracked(&owner).is_none() {
            if self.cronjob.is_some() {
                let uid = pod.metadata.uid.clone();
                let stray = self.stray_pods.entry(owner).or_default();
                stray.retain(|p| p.metadata.uid != uid);
                if !deleted {
                    stray.push(pod);
                }
            }
            return;
        }
        // Every state of a pod, a deleted pod's last one too, starts the followers of its new
        // runs and tells those of the runs that ended.
        self.logs.pod(&owner, &pod);
        if deleted || is_terminal(&pod) {
            self.logs
                .pod_ended(pod.metadata.uid.as_deref().unwrap_or(""))
                .await;
        }
        let Some(tracked) = self.tracked(&owner) else {
            return;
        };
        let lines = if deleted {
            tracked.pod_deleted(pod)
        } else {
            tracked.pod_changed(pod)
        };
        self.events(&lines);
    }

    fn cronjob_event(&mut self, type_: WatchEventType, obj: Object) {
        let Object::CronJob(cj) = obj else { return };
        let Some(schedule) = &mut self.cronjob else {
            return;
        };
        if cj.metadata.uid.as_deref() != Some(schedule.uid.as_str())
            || type_ == WatchEventType::Deleted
            || self.stopping.is_some()
        {
            return;
        }
        // Announced when first known and after each run's result, not at every change: a
        // schedule that fires often would drown the output.
        let next = cronjob::next_run(&cj);
        if schedule.next.is_none()
            && let Some(next) = &next
        {
            let line = format!(
                "cronjob/{}: next run at {}",
                schedule.name,
                cronjob::when(next)
            );
            self.console.event(&line);
        }
        schedule.next = next;
    }

    /// With a schedule: the result of each Job that has ended, once its pods and logs have.
    async fn report_finished(&mut self) {
        while let Some(i) = self
            .jobs
            .iter()
            .position(|j| j.finished().is_some() && j.pods_quiet())
        {
            let job = self.jobs.remove(i);
            self.logs.drain(job.uid()).await;
            summary::print(&self.console, &job, None);
            if let Some(schedule) = &mut self.cronjob {
                if job.complete() {
                    schedule.complete += 1;
                } else {
                    schedule.failed += 1;
                }
                if let Some(next) = &schedule.next {
                    self.console.event(&format!(
                        "cronjob/{}: next run at {}",
                        schedule.name,
                        cronjob::when(next)
                    ));
                }
            }
        }
    }

    fn events(&self, lines: &[String]) {
        for line in lines {
            self.console.event(line);
        }
    }

    fn show_progress(&self) {
        let mut parts: Vec<String> = self
            .jobs
            .iter()
            .filter(|j| j.finished().is_none())
            .map(|j| j.progress(self.backoff))
            .collect();
        if let Some(schedule) = &self.cronjob {
            let mut line = format!(
                "cronjob/{}  {} complete · {} failed",
                schedule.name, schedule.complete, schedule.failed
            );
            if let Some(next) = &schedule.next {
                line.push_str(&format!(" · next run at {}", cronjob::when(next)));
            }
            parts.insert(0, line);
        }
        if let Some(stopped) = self.stopping {
            parts.push(format!("stopping ({})", stop_cause(stopped)));
        }
        self.console.progress(parts.join("  |  "));
    }

    /// The first reason to stop stops the Jobs gracefully; a second kills their pods.
    async fn stop(&mut self, stopped: Stopped) {
        if self.stopping.is_some() {
            self.console
                .event("stopping again: killing the remaining pods (grace period 0)");
            self.delete_pods(Some(0)).await;
            return;
        }
        self.stopping = Some(stopped);
        let again = match stopped {
            Stopped::Interrupt => "Ctrl-C again kills them at once",
            Stopped::Terminate => "a second SIGTERM kills them at once",
            Stopped::Timeout(_) => "Ctrl-C kills them at once",
        };
        self.console.event(&format!(
            "{}: stopping the pods ({again})",
            stop_cause(stopped)
        ));
        if let Some(schedule) = &self.cronjob {
            let name = schedule.name.clone();
            self.suspend(&CRONJOB, &name).await;
        }
        let unfinished: Vec<String> = self
            .jobs
            .iter()
            .filter(|j| j.finished().is_none() && !j.deleted)
            .map(|j| j.uid().to_owned())
            .collect();
        for uid in unfinished {
            self.suspend_job(&uid).await;
        }
        // From here on nothing creates a pod: what runs now is all that must be stopped.
        self.instance.stop_controllers().await;
        self.catch_up().await;
        self.delete_pods(None).await;
    }

    async fn suspend_job(&mut self, uid: &str) {
        if let Some(name) = self.tracked(uid).map(|j| j.name().to_owned()) {
            self.suspend(&JOB, &name).await;
        }
    }

    /// Sets spec.suspend (J-30, C-23): a server started later on a kept data dir does not
    /// run it again.
    async fn suspend(&self, kind: &Kind, name: &str) {
        let patched = self
            .registry
            .patch(
                kind,
                &self.namespace,
                name,
                PatchType::Merge,
                &json!({"spec": {"suspend": true}}),
                &write_options(),
            )
            .await;
        match patched {
            Err(e) if !e.is_not_found() => self.console.note(&format!(
                "suspending {}/{name}: {e}",
                kind.kind.to_ascii_lowercase()
            )),
            _ => {}
        }
    }

    /// Brings the run's view up to date once the controllers are stopped: Jobs the CronJob
    /// controller started and pods the Job controller created that the watches have not
    /// delivered yet.
    async fn catch_up(&mut self) {
        if self.cronjob.is_some()
            && let Ok(list) = self
                .registry
                .list(&JOB, Some(&self.namespace), &ListParams::default())
                .await
        {
            for job in list.items {
                self.job_event(WatchEventType::Added, job).await;
            }
        }
        match self
            .registry
            .list(&POD, Some(&self.namespace), &ListParams::default())
            .await
        {
            Ok(list) => {
                for pod in list.items {
                    self.pod_event(WatchEventType::Added, pod).await;
                }
            }
            Err(e) => self.console.note(&format!("listing the pods: {e}")),
        }
    }

    /// Deletes every pod of the run that still runs: once (with its own grace period), or
    /// again with `grace` to cut the grace period short.
    async fn delete_pods(&self, grace: Option<i64>) {
        let pods: Vec<(String, String)> = self
            .jobs
            .iter()
            .flat_map(|j| &j.pods)
            .filter(|p| {
                !p.gone
                    && !is_terminal(&p.pod)
                    && (grace.is_some() || p.pod.metadata.deletion_timestamp.is_none())
            })
            .map(|p| {
                (
                    p.name().to_owned(),
                    p.pod.metadata.uid.clone().unwrap_or_default(),
                )
            })
            .collect();
        for (name, uid) in pods {
            let options = DeleteOptions {
                grace_period_seconds: grace,
                preconditions: kbatch_api::registry::Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                },
                ..Default::default()
            };
            match self
                .registry
                .delete(&POD, &self.namespace, &name, &options)
                .await
            {
                Err(e) if !e.is_not_found() && !e.is_conflict() => {
                    self.console.note(&format!("deleting pod/{name}: {e}"))
                }
                _ => {}
            }
        }
    }
}

fn stop_cause(stopped: Stopped) -> String {
    match stopped {
        Stopped::Interrupt => "interrupted".to_owned(),
        Stopped::Terminate => "terminated".to_owned(),
        Stopped::Timeout(after) => format!("timed out after {}", summary::wait(after)),
    }
}

fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

/// Whether a Job has its terminal condition (J-23).
fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True")
        })
}

/// The next tick of the progress line, if there is one.
async fn tick_of(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}
