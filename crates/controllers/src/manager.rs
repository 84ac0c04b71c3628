//! The controller manager: the shared informers and every controller kbatch runs — the
//! garbage collector, the scheduler, the TTL-after-finished controller and the Job
//! controller — started together and stopped together.
//!
//! ```no_run
//! # async fn serve(
//! #     registry: kbatch_api::registry::Registry,
//! #     metrics: &kbatch_api::Metrics,
//! #     shutdown: impl std::future::Future<Output = ()>,
//! # ) {
//! use std::sync::Arc;
//!
//! use kbatch_api::clock::SystemClock;
//! use kbatch_controllers::{Controllers, ControllersConfig};
//!
//! let config = ControllersConfig::default();
//! let controllers = Controllers::new(registry, Arc::new(SystemClock), config, metrics);
//! // Returns once `shutdown` has completed and the workers have finished their keys.
//! controllers.run(shutdown).await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use kbatch_api::Metrics;
use kbatch_api::clock::Clock;
use kbatch_api::registry::Registry;
use kbatch_api::serviceaccount::ROOT_CA_CONFIG_MAP;
use kbatch_core::object::{
    CONFIGMAP, CRONJOB, JOB, LEASE, NAMESPACE, NODE, Object, PERSISTENTVOLUMECLAIM, POD,
    SERVICEACCOUNT,
};
use kbatch_core::selector::FieldSelector;
use tokio::task::JoinSet;

use crate::GarbageCollector;
use crate::cronjob::CronJobController;
use crate::job::{JobConfig, JobController};
use crate::node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
use crate::pod_gc::{self, PodGc};
use crate::pvc_protection::PvcProtectionController;
use crate::root_ca_publisher::RootCaPublisher;
use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};
use crate::scheduler::Scheduler;
use crate::serviceaccounts::ServiceAccountsController;
use crate::ttl_after_finished::TtlAfterFinishedController;
use crate::volume_binding::VolumeBinder;

/// J-36: Kubernetes' batching delay between a pod event and the sync of its Job
/// (`syncJobBatchPeriod`), the default of [`ControllersConfig::job_sync_batch_period`].
pub const JOB_SYNC_BATCH_PERIOD: Duration = Duration::from_secs(1);

/// Settings of the controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllersConfig {
    /// The Job controller's pod-failure backoff (J-50): the delay after the first failure…
    pub backoff_base: Duration,
    /// …and its cap.
    pub backoff_max: Duration,
    /// Jobs synced concurrently (`--concurrent-job-syncs`).
    pub job_workers: usize,
    /// The node lifecycle controller's timings (`--node-monitor-period`,
    /// `--node-monitor-grace-period`).
    pub node_lifecycle: NodeLifecycleConfig,
    /// Jobs checked for expiry concurrently (`--concurrent-ttl-after-finished-syncs`).
    pub ttl_workers: usize,
    pub cronjob_workers: usize,
    /// J-36: how long pod events and Job status updates wait before their Job is synced, so
    /// that a burst of them costs one sync; also the shortest delay of a backoff requeue
    /// (J-51). Only the timing of syncs depends on it, never what a sync does.
    pub job_sync_batch_period: Duration,
}

impl Default for ControllersConfig {
    /// kube-controller-manager's defaults: backoff 10 s up to 10 min, 5 and 5 workers, a 1 s
    /// batch period.
    fn default() -> Self {
        ControllersConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            job_workers: 5,
            node_lifecycle: NodeLifecycleConfig::default(),
            ttl_workers: 5,
            cronjob_workers: 5,
            job_sync_batch_period: JOB_SYNC_BATCH_PERIOD,
        }
    }
}

/// Every controller over one registry, ready to [`Controllers::run`].
pub struct Controllers {
    registry: Registry,
    config: ControllersConfig,
    jobs: Informer,
    pods: Informer,
    nodes: Informer,
    scheduler: Scheduler,
    ttl: TtlAfterFinishedController,
    job: Arc<JobController>,
    job_queue: WorkQueue<ObjectKey>,
    cronjobs: Informer,
    cronjob: Arc<CronJobController>,
    cronjob_queue: WorkQueue<ObjectKey>,
    namespaces: Informer,
    service_accounts: Informer,
    claims: Informer,
    service_account_controller: ServiceAccountsController,
    /// The `kube-root-ca.crt` ConfigMaps, and their publisher: on servers that issue tokens.
    root_ca: Option<(Informer, RootCaPublisher)>,
    volume_binder: VolumeBinder,
    pvc_protection: PvcProtectionController,
    leases: Informer,
    node_lifecycle: NodeLifecycleController,
    pod_gc: PodGc,
}

/// Workers of the ServiceAccounts controller (upstream `ConcurrentServiceAccountSyncs` is 5;
/// a sync is one lookup and at most one create) and of the volume binder.
const SERVICE_ACCOUNT_WORKERS: usize = 2;
const VOLUME_BINDER_WORKERS: usize = 2;
/// As kube-controller-manager runs it (`startPVCProtectionController`: one worker).
const PVC_PROTECTION_WORKERS: usize = 1;

impl std::fmt::Debug for Controllers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controllers")
            .field("config", &self.config)
            .field("jobs", &self.jobs)
            .field("pods", &self.pods)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Controllers {
    /// Builds the informers and the controllers and registers the controllers' metrics in
    /// `metrics`. Nothing runs until [`Controllers::run`].
    pub fn new(
        registry: Registry,
        clock: Arc<dyn Clock>,
        config: ControllersConfig,
        metrics: &Metrics,
    ) -> Self {
        let jobs = Informer::new(registry.clone(), JOB);
        let pods = Informer::new(registry.clone(), POD);
        let nodes = Informer::new(registry.clone(), NODE);
        let claims = Informer::new(registry.clone(), PERSISTENTVOLUMECLAIM);
        let scheduler =
            Scheduler::new(registry.clone(), Arc::clone(&clock), &pods, &nodes, &claims);
        let ttl = TtlAfterFinishedController::new(registry.clone(), Arc::clone(&clock), &jobs);
        let job = Arc::new(JobController::new(
            registry.clone(),
            &pods,
            Arc::clone(&clock),
            JobConfig {
                backoff_base: config.backoff_base,
                backoff_max: config.backoff_max,
                sync_batch_period: config.job_sync_batch_period,
            },
        ));
        let job_queue = WorkQueue::new(RateLimiter::JOB_API);
        enqueue_jobs(
            &jobs,
            &pods,
            &job_queue,
            Arc::clone(&clock),
            config.job_sync_batch_period,
        );
        let cronjobs = Informer::new(registry.clone(), CRONJOB);
        let cronjob = Arc::new(
            CronJobController::new(registry.clone(), Arc::clone(&clock)).with_job_cache(&jobs),
        );
        let cronjob_queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        enqueue_cronjobs(&cronjobs, &jobs, &cronjob_queue, Arc::clone(&cronjob));
        let namespaces = Informer::new(registry.clone(), NAMESPACE);
        let service_accounts = Informer::new(registry.clone(), SERVICEACCOUNT);
        let service_account_controller =
            ServiceAccountsController::new(registry.clone(), &namespaces, &service_accounts);
        let root_ca = registry.token_issuer().map(|issuer| {
            let selector = FieldSelector::equal("metadata.name", ROOT_CA_CONFIG_MAP);
            let config_maps = Informer::selecting(registry.clone(), CONFIGMAP, Some(selector));
            let publisher = RootCaPublisher::new(
                registry.clone(),
                issuer.root_ca().to_owned(),
                &namespaces,
                &config_maps,
            );
            (config_maps, publisher)
        });
        let volume_binder = VolumeBinder::new(registry.clone(), &pods, &claims);
        let pvc_protection = PvcProtectionController::new(registry.clone(), &pods, &claims);
        let leases = Informer::new(registry.clone(), LEASE);
        let pod_gc = PodGc::new(registry.clone(), Arc::clone(&clock), &pods, &nodes);
        let node_lifecycle = NodeLifecycleController::new(
            registry.clone(),
            Arc::clone(&clock),
            config.node_lifecycle,
            &nodes,
            &pods,
            &leases,
        );
        metrics.register(|r| {
            scheduler.register_metrics(r);
            ttl.register_metrics(r);
            job.register_metrics(r);
            cronjob.register_metrics(r);
        });
        Controllers {
            registry,
            config,
            jobs,
            pods,
            nodes,
            scheduler,
            ttl,
            job,
            job_queue,
            cronjobs,
            cronjob,
            cronjob_queue,
            namespaces,
            service_accounts,
            claims,
            service_account_controller,
            root_ca,
            volume_binder,
            pvc_protection,
            leases,
            node_lifecycle,
            pod_gc,
        }
    }

    /// Runs every controller until `shutdown` completes; then lets the workers finish the
    /// keys they hold, stops the informers and the garbage collector, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut background = JoinSet::new();
        background.spawn(GarbageCollector::new(self.registry.clone()).run());
        for informer in [
            &self.jobs,
            &self.pods,
            &self.nodes,
            &self.cronjobs,
            &self.namespaces,
            &self.service_accounts,
            &self.claims,
            &self.leases,
        ] {
            background.spawn(informer.clone().run());
        }
        if let Some((config_maps, _)) = &self.root_ca {
            background.spawn(config_maps.clone().run());
        }
        let mut shutdown = std::pin::pin!(shutdown);
        let synced = async {
            self.jobs.wait_synced().await;
            self.pods.wait_synced().await;
            self.nodes.wait_synced().await;
            self.cronjobs.wait_synced().await;
        };
        tokio::select! {
            _ = synced => {}
            _ = &mut shutdown => {
                background.shutdown().await;
                return;
            }
        }
        let mut workers = JoinSet::new();
        workers.spawn(self.scheduler.clone().run());
        workers.spawn(self.ttl.clone().run(self.config.ttl_workers));
        workers.spawn(
            self.service_account_controller
                .clone()
                .run(SERVICE_ACCOUNT_WORKERS),
        );
        if let Some((_, publisher)) = &self.root_ca {
            workers.spawn(publisher.clone().run(SERVICE_ACCOUNT_WORKERS));
        }
        workers.spawn(self.volume_binder.clone().run(VOLUME_BINDER_WORKERS));
        workers.spawn(self.pvc_protection.clone().run(PVC_PROTECTION_WORKERS));
        // Polls rather than queues (upstream's `monitorNodeHealth` ticker): stopped by the
        // JoinSet's shutdown below.
        background.spawn(self.node_lifecycle.clone().run());
        background.spawn(self.pod_gc.clone().run(pod_gc::CHECK_PERIOD));
        let job = Arc::clone(&self.job);
        workers.spawn(run_workers(
            "job-controller",
            self.job_queue.clone(),
            self.config.job_workers,
            move |key: ObjectKey| {
                let job = Arc::clone(&job);
                async move { job.sync(&key.namespace, &key.name).await }
            },
        ));
        let cronjob = Arc::clone(&self.cronjob);
        workers.spawn(run_workers(
            "cronjob-controller",
            self.cronjob_queue.clone(),
            self.config.cronjob_workers,
            move |key: ObjectKey| {
                let cronjob = Arc::clone(&cronjob);
                async move { cronjob.sync(&key.namespace, &key.name).await }
            },
        ));
        shutdown.await;
        self.scheduler.shut_down();
        self.cronjob_queue.shut_down();
        self.ttl.shut_down();
        self.service_account_controller.shut_down();
        if let Some((_, publisher)) = &self.root_ca {
            publisher.shut_down();
        }
        self.volume_binder.shut_down();
        self.pvc_protection.shut_down();
        self.job_queue.shut_down();
        while workers.join_next().await.is_some() {}
        background.shutdown().await;
    }
}

/// The Job controller's event handlers (`addJob`/`updateJob`/`deleteJob`,
/// `addPod`/`updatePod`/`deletePod`), feeding `queue` with Job keys:
/// - a Job added or deleted, or its spec changed (a new generation), is queued at once;
///   other Job updates wait `batch_period` (J-36; Kubernetes: [`JOB_SYNC_BATCH_PERIOD`]);
/// - J-40: a started Job whose activeDeadlineSeconds changed is also queued for
///   startTime + activeDeadlineSeconds;
/// - a pod event queues the Job that controls the pod (its controller ownerReference of
///   kind Job, with the uid of the Job in the cache) after `batch_period`; a change of
///   controller queues the former one as well.
pub fn enqueue_jobs(
    jobs: &Informer,
    pods: &Informer,
    queue: &WorkQueue<ObjectKey>,
    clock: Arc<dyn Clock>,
    batch_period: Duration,
) {
    jobs.add_handler({
        let queue = queue.clone();
        move |change| match change {
            Change::Added(job) | Change::Deleted(job) => queue.add(ObjectKey::of(job)),
            Change::Updated { old, new } => {
                let key = ObjectKey::of(new);
                if old.metadata().generation == new.metadata().generation {
                    queue.add_after(key.clone(), batch_period);
                } else {
                    queue.add(key.clone());
                }
                if let Some(at) = deadline_change(old, new, clock.now()) {
                    queue.add_after(key, at);
                }
            }
        }
    });
    pods.add_handler({
        let queue = queue.clone();
        let jobs = jobs.clone();
        move |change| {
            let (pod, former) = match change {
                Change::Added(pod) | Change::Deleted(pod) => (pod, None),
                Change::Updated { old, new } => (new, Some(old)),
            };
            let owner = controlling_job(&jobs, pod);
            if let Some(former) = former.and_then(|old| controlling_job(&jobs, old))
                && Some(&former) != owner.as_ref()
            {
                queue.add_after(former, batch_period);
            }
            if let Some(owner) = owner.or_else(|| orphan_cleanup_key(pod)) {
                queue.add_after(owner, batch_period);
            }
        }
    });
}

/// The CronJob controller's triggers: a CronJob added or deleted syncs at once; an update
/// syncs after the delay the new schedule gives (C-31: immediately for other changes, never
/// for an unparseable schedule); a change to a Job a CronJob controls syncs that CronJob at
/// once (C-32). The timer queue is the work queue's delayed adds: each sync returns when the
/// CronJob fires next, so nothing polls.
pub fn enqueue_cronjobs(
    cronjobs: &Informer,
    jobs: &Informer,
    queue: &WorkQueue<ObjectKey>,
    controller: Arc<CronJobController>,
) {
    cronjobs.add_handler({
        let queue = queue.clone();
        move |change| match change {
            Change::Added(cj) | Change::Deleted(cj) => queue.add(ObjectKey::of(cj)),
            Change::Updated { old, new } => {
                if let (Object::CronJob(old_cj), Object::CronJob(new_cj)) = (old, new)
                    && let Some(delay) = controller.requeue_after_update(old_cj, new_cj)
                {
                    queue.add_after(ObjectKey::of(new), delay);
                }
            }
        }
    });
    jobs.add_handler({
        let queue = queue.clone();
        let cronjobs = cronjobs.clone();
        move |change| {
            let (job, former) = match change {
                Change::Added(job) | Change::Deleted(job) => (job, None),
                Change::Updated { old, new } => (new, Some(old)),
            };
            for key in [Some(job), former]
                .into_iter()
                .flatten()
                .filter_map(|j| controlling_cronjob(&cronjobs, j))
            {
                queue.add(key);
            }
        }
    });
}

/// The CronJob that controls a Job (controller ownerReference, uid checked against the cache).
fn controlling_cronjob(cronjobs: &Informer, job: &Object) -> Option<ObjectKey> {
    let meta = job.metadata();
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))?;
    if owner.kind != CRONJOB.kind {
        return None;
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    let cj = cronjobs.get(namespace, &owner.name)?;
    (cj.metadata().uid.as_deref() == Some(owner.uid.as_str()))
        .then(|| ObjectKey::new(namespace, &owner.name))
}

/// J-40: when a started Job's activeDeadlineSeconds changes, how long until
/// startTime + activeDeadlineSeconds (zero if that has passed).
fn deadline_change(old: &Object, new: &Object, now: jiff::Timestamp) -> Option<Duration> {
    let (Object::Job(old), Object::Job(new)) = (old, new) else {
        return None;
    };
    let start = new.status.as_ref()?.start_time.as_ref()?.0;
    let deadline = new.spec.as_ref()?.active_deadline_seconds?;
    let before = old.spec.as_ref().and_then(|s| s.active_deadline_seconds);
    if before == Some(deadline) {
        return None;
    }
    let left = SignedDuration::from_secs(deadline).saturating_sub(now.duration_since(start));
    Some(if left.is_positive() {
        left.unsigned_abs()
    } else {
        Duration::ZERO
    })
}

/// `resolveControllerRef`: the key of the cached Job that controls `pod`, if any.
/// An orphaned pod still holding the Job tracking finalizer (its Job gone, replaced, or
/// orphaning it): a sync of the Job it names releases it (upstream's orphan-pod queue,
/// `syncOrphanPod`). The controller reference names the Job; without one, the pod's
/// `batch.kubernetes.io/job-name` label does.
fn orphan_cleanup_key(pod: &Object) -> Option<ObjectKey> {
    let meta = pod.metadata();
    let tracked = meta
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER));
    if !tracked {
        return None;
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    let by_owner = meta
        .owner_references
        .as_ref()
        .and_then(|refs| refs.iter().find(|r| r.controller == Some(true)))
        .filter(|r| r.kind == JOB.kind)
        .map(|r| r.name.clone());
    let by_label = || {
        meta.labels
            .as_ref()
            .and_then(|l| l.get("batch.kubernetes.io/job-name"))
            .cloned()
    };
    by_owner
        .or_else(by_label)
        .map(|name| ObjectKey::new(namespace, &name))
}

/// The Job tracking finalizer (J-11).
const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

fn controlling_job(jobs: &Informer, pod: &Object) -> Option<ObjectKey> {
    let meta = pod.metadata();
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))?;
    if owner.kind != JOB.kind {
        return None;
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    let job = jobs.get(namespace, &owner.name)?;
    (job.metadata().uid.as_deref() == Some(owner.uid.as_str()))
        .then(|| ObjectKey::new(namespace, &owner.name))
}
