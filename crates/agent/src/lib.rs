//! kbatch's node agent: it registers a Node, keeps its Lease fresh, watches the pods bound
//! to it through the API (never the store) and runs each through a pod worker on a
//! runtime, writing back the status kubelet would.
//!
//! Pods share the host's network: `status.podIP` and `status.hostIP` are the node's
//! address ([`AgentConfig::node_ip`], 127.0.0.1 unless told otherwise), which every process
//! on the host can reach.

pub mod api;
pub mod cgroup;
pub mod checkpoint;
pub mod env;
mod events;
mod image_gc;
pub mod log_server;
pub mod logs;
mod node;
mod pod_worker;
pub mod resources;
pub mod run_dir;
pub mod runtime;
pub mod shim;
pub mod sources;
mod status;
mod tokens;
pub mod volumes;
mod work_dir;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Taint};
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{WatchEvent, WatchEventType};
use kbatch_core::object::{Object, PERSISTENTVOLUMECLAIM, POD};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use log_server::LogServer;
pub use logs::FileLogs;

use api::NodeApi;
use checkpoint::Checkpoints;
use env::NodeFacts;
use runtime::Runtime;

/// How often the directories of deleted claims are looked for.
const CLAIM_SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// How often old log directories are looked for.
const LOG_GC_INTERVAL: Duration = Duration::from_secs(600);
/// How long to wait before listing again after the API refused a list or a watch.
const RELIST_DELAY: Duration = Duration::from_secs(1);
/// The `PATH` of a container that sets none (containerd's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How an agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Node's name (the host name, usually).
    pub node_name: String,
    /// Where logs, volumes and pods' working directories live.
    pub data_dir: PathBuf,
    /// Where the pods' checkpoints and the volumes the agent writes live: per-boot state
    /// ([`run_dir`]).
    pub run_dir: PathBuf,
    /// The runtime of pods that name no `runtimeClassName`.
    pub runtime: Arc<dyn Runtime>,
    /// The other runtimes a pod can pick by its `runtimeClassName` (the RuntimeClass's
    /// handler is the runtime's [`Runtime::name`]).
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// The node's image store and puller, for runtimes that run images; `None`: such pods
    /// wait with `ErrImagePull`.
    pub images: Option<Images>,
    /// How long a pod's logs stay after the pod is gone.
    pub log_retention: Duration,
    /// The node's address, reported as every pod's podIP and hostIP.
    pub node_ip: IpAddr,
    /// Where the pods reach the API server (`KUBERNETES_SERVICE_HOST` and `_PORT`, which
    /// in-cluster clients read); `None`: the variables are not set.
    pub api_server: Option<SocketAddr>,
    /// Labels the Node is registered with, beside (and over) kubelet's well-known ones
    /// (kubelet's `--node-labels`).
    pub labels: BTreeMap<String, String>,
    /// Taints the Node is created with (kubelet's `--register-with-taints`); a node that
    /// already exists keeps the taints it has.
    pub taints: Vec<Taint>,
    /// When the node's unused images are removed (kubelet's image GC flags); with
    /// [`AgentConfig::images`] only.
    pub image_gc: kbatch_image::GcPolicy,
}

impl AgentConfig {
    /// The defaults: logs kept for 24 hours after their pod is gone, address 127.0.0.1,
    /// checkpoints in the data directory.
    pub fn new(
        node_name: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        runtime: Arc<dyn Runtime>,
    ) -> AgentConfig {
        let data_dir = data_dir.into();
        AgentConfig {
            node_name: node_name.into(),
            run_dir: data_dir.clone(),
            data_dir,
            runtime,
            runtimes: Vec::new(),
            images: None,
            log_retention: Duration::from_secs(24 * 3600),
            node_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_server: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            image_gc: kbatch_image::GcPolicy::default(),
        }
    }
}

/// The node's images: where they are stored and how they are pulled.
#[derive(Debug, Clone)]
pub struct Images {
    pub store: kbatch_image::Store,
    pub puller: kbatch_image::Puller,
}

/// What every part of a running agent shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub api: Arc<dyn NodeApi>,
    pub clock: Arc<dyn Clock>,
    /// The default runtime.
    pub runtime: Arc<dyn Runtime>,
    /// Every runtime, the default first.
    pub runtimes: Vec<Arc<dyn Runtime>>,
    pub images: Option<Images>,
    pub node_name: String,
    /// The labels asked for beside the well-known ones.
    pub node_labels: BTreeMap<String, String>,
    /// The taints asked for at registration.
    pub node_taints: Vec<Taint>,
    pub node: NodeFacts,
    /// What an image would put in a container's environment: PATH and HOME.
    pub base_env: Vec<(String, String)>,
    pub data_dir: PathBuf,
    /// Per-boot state: checkpoints, and the volumes the agent writes ([`run_dir`]).
    pub run_dir: PathBuf,
    pub checkpoints: Checkpoints,
    pub log_retention: Duration,
    /// Where the node serves its logs, published on the Node; `None`: it does not.
    pub log_server: Option<PublishedLogServer>,
    pub image_gc: kbatch_image::GcPolicy,
    /// The images the node's pods name, which image garbage collection keeps.
    pub images_in_use: image_gc::InUse,
    /// The pods' working directories on runtimes without images.
    pub work_dirs: work_dir::WorkDirs,
}

/// What the Node says of its log server (`kbatch_api::node_logs` reads it).
#[derive(Debug, Clone)]
pub(crate) struct PublishedLogServer {
    /// `status.daemonEndpoints.kubeletEndpoint.Port`.
    pub port: u16,
    /// The [`log_server::LOG_SERVER_CERT_ANNOTATION`].
    pub sha256: String,
}

/// The node agent.
#[derive(Debug)]
pub struct Agent {
    api: Arc<dyn NodeApi>,
    clock: Arc<dyn Clock>,
    config: AgentConfig,
    log_server: Option<LogServer>,
}

impl Agent {
    pub fn new(api: Arc<dyn NodeApi>, clock: Arc<dyn Clock>, config: AgentConfig) -> Agent {
        Agent {
            api,
            clock,
            config,
            log_server: None,
        }
    }

    /// Serves the node's container logs on `server` while the agent runs, and publishes its
    /// port and certificate on the Node (kubelet's port 10250, for the API server's log proxy).
    pub fn with_log_server(mut self, server: LogServer) -> Agent {
        self.log_server = Some(server);
        self
    }

    /// Registers the node, then heartbeats, runs the pods bound to it and removes old logs,
    /// forever. Dropping the future stops the agent and its workers, and leaves the runs
    /// to the next agent over the same runtime.
    pub async fn run(self) {
        let config = self.config;
        if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
            tracing::warn!(dir = %config.data_dir.display(), error = %e, "creating the agent's data directory");
        }
        let mut base_env = vec![("PATH".to_owned(), DEFAULT_PATH.to_owned())];
        if let Ok(home) = std::env::var("HOME") {
            base_env.push(("HOME".to_owned(), home));
        }
        let ctx = Arc::new(Context {
            node: NodeFacts {
                ip: config.node_ip.to_string(),
                allocatable: node::machine(&config.data_dir),
                service_env: config.api_server.map(service_env).unwrap_or_default(),
            },
            api: self.api,
            clock: self.clock,
            runtimes: std::iter::once(config.runtime.clone())
                .chain(config.runtimes)
                .collect(),
            runtime: config.runtime,
            images: config.images,
            node_name: config.node_name,
            node_labels: config.labels,
            node_taints: config.taints,
            base_env,
            checkpoints: Checkpoints::new(&config.run_dir),
            work_dirs: work_dir::WorkDirs::new(&config.data_dir),
            data_dir: config.data_dir,
            run_dir: config.run_dir,
            log_retention: config.log_retention,
            log_server: self.log_server.as_ref().map(|s| PublishedLogServer {
                port: s.port(),
                sha256: s.fingerprint().to_owned(),
            }),
            image_gc: config.image_gc,
            images_in_use: image_gc::InUse::default(),
        });
        while let Err(e) = node::register(&ctx).await {
            tracing::warn!(node = %ctx.node_name, error = %e, "registering the node");
            tokio::time::sleep(RELIST_DELAY).await;
        }
        let mut background = JoinSet::new();
        if let Some(server) = self.log_server {
            let logs = Arc::new(FileLogs::new(ctx.data_dir.clone()));
            background.spawn(server.serve(
                ctx.api.clone(),
                ctx.node_name.clone(),
                logs,
                ctx.clock.clone(),
            ));
        }
        background.spawn(node::heartbeat(ctx.clone()));
        background.spawn(sweep_claims(ctx.clone()));
        if ctx.images.is_some() {
            background.spawn(image_gc::run(ctx.clone()));
        }
        Dispatcher::new(ctx).run().await;
    }
}

/// Removes, every [`CLAIM_SWEEP_INTERVAL`], the directories of this node's claims that
/// have been deleted, as their reclaim policy says (`volumes::claims::sweep`). Lists the
/// claims only while the node has claim directories.
async fn sweep_claims(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(CLAIM_SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        if volumes::claims::present(&ctx.data_dir).is_empty() {
            continue;
        }
        match ctx.api.list(&PERSISTENTVOLUMECLAIM, None).await {
            Ok(list) => {
                let live: HashSet<String> = list
                    .items
                    .iter()
                    .filter_map(|o| o.metadata().uid.clone())
                    .collect();
                volumes::claims::sweep(&ctx.data_dir, &live);
            }
            Err(e) => tracing::warn!(error = %e, "listing the claims to remove deleted ones"),
        }
    }
}

/// Routes the pods bound to the node to their workers.
struct Dispatcher {
    ctx: Arc<Context>,
    workers: HashMap<String, watch::Sender<Option<Pod>>>,
    tasks: JoinSet<String>,
    /// Pods whose worker has finished: they never run again here.
    finished: HashSet<String>,
    /// Pods already deleted for good.
    deleted: HashSet<String>,
    /// The uids of the pods bound to the node.
    live: HashSet<String>,
}

impl Dispatcher {
    fn new(ctx: Arc<Context>) -> Self {
        Dispatcher {
            ctx,
            workers: HashMap::new(),
            tasks: JoinSet::new(),
            finished: HashSet::new(),
            deleted: HashSet::new(),
            live: HashSet::new(),
        }
    }

    async fn run(mut self) {
        let mut first = true;
        let mut gc = tokio::time::interval(LOG_GC_INTERVAL);
        loop {
            match self.sync(&mut first, &mut gc).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(node = %self.ctx.node_name, error = %e, "watching the node's pods")
                }
            }
            tokio::time::sleep(RELIST_DELAY).await;
        }
    }

    fn selector(&self) -> String {
        format!("spec.nodeName={}", self.ctx.node_name)
    }

    /// Lists the node's pods, then follows their changes until the watch ends.
    async fn sync(
        &mut self,
        first: &mut bool,
        gc: &mut tokio::time::Interval,
    ) -> Result<(), ApiError> {
        let list = self.ctx.api.list(&POD, Some(&self.selector())).await?;
        let mut present = HashSet::new();
        for obj in list.items {
            if let Object::Pod(pod) = obj {
                present.insert(pod.metadata.uid.clone().unwrap_or_default());
                self.seen(pod).await;
            }
        }
        let vanished: Vec<String> = self
            .live
            .iter()
            .filter(|uid| !present.contains(*uid))
            .cloned()
            .collect();
        for uid in vanished {
            self.gone(&uid);
        }
        if std::mem::take(first) {
            self.reclaim_orphans().await;
        }
        let mut events = self
            .ctx
            .api
            .watch(&POD, Some(&self.selector()), &list.resource_version)
            .await?;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(WatchEvent::Object(kind, obj)) => {
                        let Object::Pod(pod) = *obj else { continue };
                        match kind {
                            WatchEventType::Deleted => {
                                self.gone(pod.metadata.uid.as_deref().unwrap_or(""));
                            }
                            _ => self.seen(pod).await,
                        }
                    }
                    Some(WatchEvent::Error(status)) => return Err(ApiError::from(*status)),
                    None => return Ok(()),
                },
                Some(done) = self.tasks.join_next() => {
                    if let Ok(uid) = done {
                        self.workers.remove(&uid);
                        self.finished.insert(uid);
                    }
                }
                _ = gc.tick() => {
                    logs::collect_garbage(
                        &self.ctx.data_dir,
                        &self.live,
                        self.ctx.clock.now(),
                        self.ctx.log_retention,
                    );
                }
            }
        }
    }

    /// A pod bound to the node was added or changed.
    async fn seen(&mut self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.live.insert(uid.clone());
        if let Some(tx) = self.workers.get(&uid) {
            tx.send_replace(Some(pod));
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let terminal = matches!(phase, Some("Succeeded" | "Failed"));
        if terminal || self.finished.contains(&uid) {
            // Stopped here already: a delete only waits for kubelet's final one.
            if terminal && pod.metadata.deletion_timestamp.is_some() && self.deleted.insert(uid) {
                pod_worker::final_delete(&self.ctx, &pod).await;
            }
            return;
        }
        let (tx, rx) = watch::channel(Some(pod.clone()));
        self.workers.insert(uid.clone(), tx);
        let ctx = self.ctx.clone();
        self.tasks.spawn(async move {
            pod_worker::run(ctx, pod, rx).await;
            uid
        });
    }

    /// A pod is gone from the API (or from the node).
    fn gone(&mut self, uid: &str) {
        self.live.remove(uid);
        self.finished.remove(uid);
        self.deleted.remove(uid);
        if let Some(tx) = self.workers.get(uid) {
            tx.send_replace(None);
        }
    }

    /// Ends the runs of pods no worker follows: pods deleted while no agent was watching,
    /// and pods whose final status an earlier agent wrote but died before it let go of
    /// their runs; then whatever the runtime still keeps for pods without a worker, which
    /// includes runs an earlier agent started but died before recording; then the volumes
    /// of pods without a worker.
    async fn reclaim_orphans(&self) {
        for checkpoint in self.ctx.checkpoints.all() {
            if self.workers.contains_key(&checkpoint.uid) {
                continue;
            }
            for run in &checkpoint.runs {
                let found = self.ctx.runtimes.iter().find_map(|r| r.find(&run.id));
                match found {
                    Some(handle) => handle.signal(runtime::StopSignal::Kill),
                    None => {
                        // Every runtime's runs are processes (runc's: `runc run`) the same
                        // reclaim ends; the containers go with the pod below.
                        if let Some(process) = &run.process {
                            self.ctx.runtime.reclaim(process).await;
                        }
                    }
                }
                for r in &self.ctx.runtimes {
                    r.forget(&run.id);
                }
            }
            for r in &self.ctx.runtimes {
                r.release_pod(&checkpoint.uid).await;
            }
            if let Err(e) = self.ctx.work_dirs.remove(&checkpoint.uid) {
                tracing::warn!(pod = %checkpoint.name, error = %e, "removing a working directory");
            }
            // Last, as in `pod_worker::finish`: a crash before this repeats the release.
            if let Err(e) = self.ctx.checkpoints.remove(&checkpoint.uid) {
                tracing::warn!(pod = %checkpoint.name, error = %e, "removing a checkpoint");
            }
        }
        for r in &self.ctx.runtimes {
            for uid in r.pods() {
                if !self.workers.contains_key(&uid) {
                    r.release_pod(&uid).await;
                }
            }
        }
        let keep: HashSet<String> = self.workers.keys().cloned().collect();
        volumes::remove_orphans(&self.ctx.data_dir, &self.ctx.run_dir, &keep);
    }
}

/// The variables kubelet gives every container for the `kubernetes` service
/// (`getServiceEnvVarMap` with `FromServices`): pods share the host's network, so the service
/// is the API server's own address and port.
fn service_env(api: SocketAddr) -> Vec<(String, String)> {
    let host = api.ip().to_string();
    let port = api.port().to_string();
    let url = format!("tcp://{}", api);
    vec![
        ("KUBERNETES_SERVICE_HOST".to_owned(), host.clone()),
        ("KUBERNETES_SERVICE_PORT".to_owned(), port.clone()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".to_owned(), port.clone()),
        ("KUBERNETES_PORT".to_owned(), url.clone()),
        (format!("KUBERNETES_PORT_{port}_TCP"), url),
        (
            format!("KUBERNETES_PORT_{port}_TCP_PROTO"),
            "tcp".to_owned(),
        ),
        (format!("KUBERNETES_PORT_{port}_TCP_PORT"), port.clone()),
        (format!("KUBERNETES_PORT_{port}_TCP_ADDR"), host),
    ]
}
