//! The embedded instance that `kbatch server` and `kbatch run` share: a store, the registry
//! over it, the controllers and a node agent, all in this process. The server puts its HTTPS
//! API in front of the registry; `run` drives the registry directly and needs no listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kbatch_agent::api::LocalApi;
use kbatch_agent::runtime::Runtime;
use kbatch_agent::runtime::process::ProcessRuntime;
use kbatch_agent::runtime::runc::{self, RuncRuntime};
use kbatch_agent::{Agent, AgentConfig, FileLogs, Images, LogServer};
use kbatch_api::Metrics;
use kbatch_api::clock::Clock;
use kbatch_api::encryption::{EncryptedStore, Keys};
use kbatch_api::logs::{NoLogs, PodLogs};
use kbatch_api::registry::Registry;
use kbatch_controllers::{Controllers, ControllersConfig, LeaderElectionConfig, LeaderElector};
use kbatch_store::{EtcdOptions, EtcdStore, SqliteStore, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A duration as Go writes it (`10s`, `1m30s`, `250ms`), the form Kubernetes flags take.
pub fn go_duration(text: &str) -> Result<Duration, String> {
    let nanos = kbatch_schedule::parse_go_duration(text).map_err(|e| e.to_string())?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{text}: must not be negative"))
}

/// Opens (creating it if needed) the SQLite store in `data_dir`.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let store = SqliteStore::open(data_dir)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

/// Wraps `store` so that Secrets are encrypted at rest with the keys of
/// `data_dir/secrets-encryption.keys` (created on first use), and rewrites the Secrets that are
/// plaintext or under an older key (docs/secrets-encryption.md).
pub async fn encrypt_secrets(
    store: Arc<dyn Store>,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn Store>> {
    let keys = Keys::load_or_create(data_dir).context("loading the Secret encryption keys")?;
    let write_key = keys.write_key_name().to_owned();
    let store = EncryptedStore::new(store, keys);
    let rewritten = store
        .rewrite_stale()
        .await
        .context("re-encrypting the stored Secrets")?;
    if rewritten > 0 {
        tracing::info!(rewritten, key = %write_key, "Secrets re-encrypted under the first key");
    }
    Ok(Arc::new(store))
}

/// Connects to the etcd cluster `options` name: the store several servers share.
pub async fn connect_etcd(options: EtcdOptions) -> anyhow::Result<Arc<dyn Store>> {
    let endpoints = options.endpoints.join(",");
    let store = EtcdStore::connect(options)
        .await
        .with_context(|| format!("connecting to etcd at {endpoints}"))?;
    Ok(Arc::new(store))
}

/// The host name as a node name: Kubernetes node names are lower-case DNS subdomains.
pub fn host_node_name() -> String {
    let host = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_ascii_lowercase();
    if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    }
}

/// How containers are run.
#[derive(Debug, Clone)]
pub enum Supervision {
    /// Each container under a shim (`<program> __shim`) that survives this process, so a
    /// restarted server adopts its runs: what a long-lived server needs.
    Shim(PathBuf),
    /// Containers are this process's children: a one-shot run, which ends them all before
    /// it exits, needs no more (and starts each container without an extra process).
    Direct,
}

/// The runtime of pods that name no `runtimeClassName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DefaultRuntime {
    /// Host processes (no image needed: the container's command runs on the host).
    #[default]
    Process,
    /// OCI containers from the pods' images, run by runc.
    Runc,
}

/// The node this instance runs.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub name: String,
    /// The agent's directory: logs, volumes, the pods' working directories.
    pub dir: PathBuf,
    /// The node's per-boot state: the runs' claim and status files, the checkpoints, the
    /// volumes the agent writes (`kbatch_agent::run_dir`).
    pub run_dir: PathBuf,
    pub supervision: Supervision,
    pub log_retention: Duration,
    /// The node's image store (`kbatch image` uses the same one).
    pub images_dir: PathBuf,
    /// Registries (HOST:PORT) reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    pub default_runtime: DefaultRuntime,
    /// runc's pids limit per container (kubelet's `--pod-max-pids`); -1: none.
    pub pod_max_pids: i64,
    /// Where pods reach the API server (their `KUBERNETES_SERVICE_HOST`/`_PORT`).
    pub api_server: Option<std::net::SocketAddr>,
    /// The node's address: its InternalIP (where other servers read its logs), and its pods'
    /// podIP and hostIP.
    pub node_ip: std::net::IpAddr,
    /// kubelet's image garbage collection settings.
    pub image_gc: kbatch_image::GcPolicy,
}

impl NodeSettings {
    /// A node named after the host, keeping its files under `data_dir/agent` and its
    /// per-boot state in the default run directory.
    pub fn new(name: String, data_dir: &Path, supervision: Supervision) -> NodeSettings {
        let dir = data_dir.join("agent");
        NodeSettings {
            name,
            run_dir: kbatch_agent::run_dir::default_for(&dir),
            dir,
            supervision,
            log_retention: Duration::from_secs(24 * 3600),
            images_dir: data_dir.join("images"),
            insecure_registries: Vec::new(),
            default_runtime: DefaultRuntime::Process,
            pod_max_pids: -1,
            api_server: None,
            node_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            image_gc: kbatch_image::GcPolicy::default(),
        }
    }
}

/// What runs beside the registry.
#[derive(Debug, Default)]
pub struct Settings {
    /// None: no controllers (the API alone).
    pub controllers: Option<ControllersConfig>,
    /// None: no node.
    pub node: Option<NodeSettings>,
    /// Where the node serves its logs to other servers (servers sharing an etcd); None: it
    /// does not, and only this server reads them.
    pub log_server: Option<LogServer>,
}

impl Settings {
    /// The container logs the API serves: the node's log files, or none without a node.
    pub fn logs(&self) -> Arc<dyn PodLogs> {
        match &self.node {
            Some(node) => Arc::new(FileLogs::new(node.dir.clone())),
            None => Arc::new(NoLogs),
        }
    }
}

/// The controllers and the agent, running over a registry; dropping it stops the
/// controllers.
#[derive(Debug)]
pub struct Instance {
    controllers: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// Fires when this instance lost the leader election.
    lost: Option<oneshot::Receiver<()>>,
}

impl Instance {
    /// Starts the controllers and the agent `settings` ask for, as tasks on the current
    /// tokio runtime.
    pub fn start(
        registry: &Registry,
        clock: &Arc<dyn Clock>,
        metrics: &Metrics,
        settings: Settings,
    ) -> Instance {
        let controllers = settings.controllers.map(|config| {
            let controllers = Controllers::new(registry.clone(), clock.clone(), config, metrics);
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(controllers.run(async {
                let _ = stopped.await;
            }));
            (stop, task)
        });
        Self::start_agent(registry, clock, settings);
        Instance {
            controllers,
            lost: None,
        }
    }

    /// As [`Instance::start`], but the controllers run only while this instance leads the
    /// election `election` describes, for servers sharing one store. They stop as soon as
    /// leadership is lost, and [`Instance::leadership_lost`] completes; then the instance
    /// never leads again (as kube-controller-manager, which exits, its process should end).
    /// Stopped with [`Instance::stop_controllers`], a leader gives its lease up so another
    /// takes over at once.
    pub fn start_elected(
        registry: &Registry,
        clock: &Arc<dyn Clock>,
        metrics: &Metrics,
        settings: Settings,
        election: LeaderElectionConfig,
    ) -> anyhow::Result<Instance> {
        let mut lost = None;
        let controllers = match settings.controllers {
            Some(config) => {
                let elector = LeaderElector::new(registry.clone(), clock.clone(), election)?;
                let controllers =
                    Controllers::new(registry.clone(), clock.clone(), config, metrics);
                let (stop, stopped) = oneshot::channel::<()>();
                let (lose, lost_rx) = oneshot::channel::<()>();
                lost = Some(lost_rx);
                let task = tokio::spawn(lead(elector, controllers, stopped, lose));
                Some((stop, task))
            }
            None => None,
        };
        Self::start_agent(registry, clock, settings);
        Ok(Instance { controllers, lost })
    }

    /// Completes once this instance has lost the leader election; never without an election.
    pub fn leadership_lost(&mut self) -> impl std::future::Future<Output = ()> + use<> {
        let lost = self.lost.take();
        async move {
            if let Some(lost) = lost
                && lost.await.is_ok()
            {
                return;
            }
            std::future::pending().await
        }
    }

    fn start_agent(registry: &Registry, clock: &Arc<dyn Clock>, settings: Settings) {
        // The agent runs until the tokio runtime ends.
        if let Some(node) = settings.node {
            let config = agent_config(clock, node);
            let api = Arc::new(LocalApi::new(registry.clone()));
            let mut agent = Agent::new(api, clock.clone(), config);
            if let Some(server) = settings.log_server {
                agent = agent.with_log_server(server);
            }
            tokio::spawn(agent.run());
        }
    }

    /// Stops the controllers; they finish the keys they hold first, so once this returns
    /// nothing creates or deletes pods any more. The agent goes on running the pods it has.
    pub async fn stop_controllers(&mut self) {
        if let Some((stop, task)) = self.controllers.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// The agent `node` describes: its runtimes (host processes, and runc over the node's image
/// store when it opens), the default one first. The embedded agent and `kbatch agent` share it.
pub fn agent_config(clock: &Arc<dyn Clock>, node: NodeSettings) -> AgentConfig {
    let process = ProcessRuntime::new(clock.clone());
    let process: Arc<dyn Runtime> = Arc::new(match &node.supervision {
        Supervision::Shim(program) => {
            process.with_shim(program, node.run_dir.join(kbatch_agent::run_dir::RUNS))
        }
        Supervision::Direct => process,
    });
    let images = match kbatch_image::Store::open(&node.images_dir) {
        Ok(store) => {
            let keyring = kbatch_image::auth::Keyring::default_path()
                .and_then(|p| kbatch_image::auth::Keyring::load(&p).ok())
                .unwrap_or_default();
            let puller = kbatch_image::Puller::new(kbatch_image::PullOptions {
                insecure_registries: node.insecure_registries.clone(),
                keyring,
                platform: kbatch_image::Platform::host(),
            });
            Some(Images { store, puller })
        }
        Err(e) => {
            tracing::warn!(dir = %node.images_dir.display(), error = %e, "opening the image store: pods of the runc runtime cannot pull images");
            None
        }
    };
    let mut runtimes: Vec<Arc<dyn Runtime>> = vec![process];
    if let Some(images) = &images {
        let supervision = match &node.supervision {
            Supervision::Shim(program) => runc::Supervision::Shim(program.clone()),
            Supervision::Direct => runc::Supervision::Direct,
        };
        let runc = RuncRuntime::new(
            clock.clone(),
            node.dir.join("runc"),
            images.store.clone(),
            supervision,
        )
        .with_pids_limit(Some(node.pod_max_pids));
        runtimes.push(Arc::new(runc));
    }
    let wanted = match node.default_runtime {
        DefaultRuntime::Process => "process",
        DefaultRuntime::Runc => "runc",
    };
    let default = runtimes
        .iter()
        .position(|r| r.name() == wanted)
        .unwrap_or(0);
    let default = runtimes.remove(default);
    let mut config = AgentConfig::new(node.name, node.dir, default);
    config.run_dir = node.run_dir;
    config.runtimes = runtimes;
    config.images = images;
    config.log_retention = node.log_retention;
    config.api_server = node.api_server;
    config.node_ip = node.node_ip;
    config.image_gc = node.image_gc;
    config
}

/// kubelet's image garbage collection flags, shared by `kbatch server` and `kbatch agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImageGcArgs {
    /// The percent of the image store's disk usage at or above which unused images are
    /// removed, least recently used first (kubelet's --image-gc-high-threshold).
    #[arg(long = "image-gc-high-threshold", default_value_t = 85, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub high: u8,
    /// The percent of disk usage image garbage collection brings it down to (kubelet's
    /// --image-gc-low-threshold); less than the high threshold.
    #[arg(long = "image-gc-low-threshold", default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub low: u8,
    /// How long an image is kept after it was first stored before garbage collection may
    /// remove it (kubelet's --image-minimum-gc-age, or its older name
    /// --minimum-image-ttl-duration).
    #[arg(long = "image-minimum-gc-age", alias = "minimum-image-ttl-duration", default_value = "2m", value_parser = go_duration)]
    pub min_age: Duration,
}

impl ImageGcArgs {
    /// The policy, refused with kubelet's message when the thresholds are the wrong way
    /// round (its `ValidateKubeletConfiguration`).
    pub fn policy(&self) -> anyhow::Result<kbatch_image::GcPolicy> {
        if self.low >= self.high {
            anyhow::bail!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) {}",
                self.low,
                self.high
            );
        }
        Ok(kbatch_image::GcPolicy {
            high_threshold_percent: self.high,
            low_threshold_percent: self.low,
            min_age: self.min_age,
            ..kbatch_image::GcPolicy::default()
        })
    }
}

/// Campaigns until elected, then runs `controllers` while the lease is held: until `stopped`
/// (then the lease is given up) or until a renewal misses the renew deadline (then `lost`
/// fires at once, while the controllers finish the keys they hold).
async fn lead(
    elector: LeaderElector,
    controllers: Controllers,
    mut stopped: oneshot::Receiver<()>,
    lost: oneshot::Sender<()>,
) {
    tokio::select! {
        _ = &mut stopped => return,
        () = elector.acquire() => {}
    }
    let asked_to_stop = std::sync::atomic::AtomicBool::new(false);
    controllers
        .run(async {
            tokio::select! {
                _ = stopped => asked_to_stop.store(true, std::sync::atomic::Ordering::Relaxed),
                () = elector.hold() => {
                    let _ = lost.send(());
                }
            }
        })
        .await;
    if asked_to_stop.load(std::sync::atomic::Ordering::Relaxed)
        && let Err(e) = elector.release().await
    {
        tracing::warn!(error = %e, "giving up the leader lease");
    }
}
