//! `kbatch server`: the API over HTTPS on the embedded SQLite store or on etcd, with
//! credentials and a kubeconfig made on first start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kbatch_agent::LogServer;
use kbatch_api::Metrics;
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_api::node_logs::{KubeletClient, NodeLogsConfig};
use kbatch_api::pki::{ClusterCredentials, Credentials, server_url};
use kbatch_api::registry::plugins::DefaultTolerations;
use kbatch_api::server::{Api, ApiConfig, bind};
use kbatch_api::serviceaccount::TokenIssuer;
use kbatch_controllers::{ControllersConfig, LeaderElectionConfig, NodeLifecycleConfig};
use kbatch_store::{EtcdOptions, EtcdTls, Store};

use crate::bootstrap;
use crate::instance::{
    DefaultRuntime, Instance, NodeSettings, Settings, Supervision, connect_etcd, encrypt_secrets,
    go_duration, host_node_name, open_store,
};

/// Where a server keeps the cluster's state.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum StoreKind {
    /// The embedded SQLite store in the data directory (one server).
    Sqlite,
    /// An etcd v3 cluster (any number of servers).
    Etcd,
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Where the store, the credentials and the kubeconfig live [default: the user's data
    /// directory, e.g. ~/.local/share/kbatch]
    #[arg(long, env = "KBATCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the node keeps per-boot state: the runs' status files, the pods' checkpoints and
    /// the volumes it writes from the API [default: a directory for this data directory on
    /// the first tmpfs among $XDG_RUNTIME_DIR, /run and /dev/shm; the data directory without
    /// one].
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Address and port to serve HTTPS on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// The first delay before a Job's failed pod is replaced; it doubles with each
    /// consecutive failure (Kubernetes: 10s).
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    backoff_base: Duration,
    /// The longest such delay (Kubernetes: 10m).
    #[arg(long, default_value = "10m", value_parser = go_duration)]
    backoff_max: Duration,
    /// How long the Job controller waits after a pod event before it syncs the pod's Job, so
    /// that a burst of events costs one sync; also the shortest delay before a Job held back
    /// by the failure backoff is synced again. Only the timing of syncs depends on it.
    /// Kubernetes waits 1s, which caps a Job at about `parallelism` pods per second;
    /// `--job-sync-batch-period 1s` gives Kubernetes' exact pacing.
    #[arg(long, default_value = "5ms", value_parser = go_duration)]
    job_sync_batch_period: Duration,
    /// How often the node lifecycle controller checks the nodes' heartbeats.
    #[arg(long, default_value = "5s", value_parser = go_duration)]
    node_monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is marked Unknown and tainted
    /// unreachable (Kubernetes 1.32: 50s).
    #[arg(long, default_value = "50s", value_parser = go_duration)]
    node_monitor_grace_period: Duration,
    /// Seconds a pod tolerates a not-ready node unless it says otherwise (its pods are then
    /// evicted and a Job replaces them).
    #[arg(long, default_value_t = 300)]
    default_not_ready_toleration_seconds: i64,
    /// Seconds a pod tolerates an unreachable node unless it says otherwise.
    #[arg(long, default_value_t = 300)]
    default_unreachable_toleration_seconds: i64,
    /// The name of this server's node [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// Run no node on this server: the API and controllers only.
    #[arg(long)]
    no_agent: bool,
    /// Run no controllers on this server (no Job, CronJob, TTL or garbage collection, no
    /// scheduling): the API alone, as kube-apiserver without a controller manager.
    #[arg(long)]
    no_controllers: bool,
    /// How long a pod's logs are kept after the pod is gone.
    #[arg(long, default_value = "24h", value_parser = go_duration)]
    log_retention: Duration,
    /// With --store etcd: the port this server's node serves its containers' logs on, over
    /// TLS, to the other servers (kubelet's; 0: any free port, which the Node advertises).
    /// A server on SQLite reads its node's logs itself and opens no such port.
    #[arg(long, default_value_t = 0)]
    node_log_port: u16,
    /// The address of this server's node: its InternalIP, where the other servers read its
    /// logs (--node-log-port), and its pods' podIP and hostIP.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: std::net::IpAddr,
    /// How many CronJobs are synced at once. Syncs of one CronJob never overlap; a sync that
    /// starts a Job waits on three store commits, so CronJobs due at the same time finish
    /// sooner when more of them wait together (1,000 sharing a slot: 3.5 s with 5, about
    /// 0.6 s with 200 on an idle machine). Kubernetes syncs 5 at once
    /// (`--concurrent-cron-job-syncs`).
    #[arg(long, default_value_t = 200)]
    concurrent_cron_job_syncs: usize,
    /// The runtime of pods that name no `runtimeClassName`: host processes, or OCI
    /// containers from the pods' images run by runc (`apt-get install runc`).
    #[arg(long, value_enum, default_value = "process")]
    runtime: DefaultRuntime,
    /// A registry (HOST:PORT) to pull images from over plain HTTP instead of HTTPS, such as
    /// one on loopback; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// The most processes each container of the runc runtime may have (kubelet's
    /// `--pod-max-pids`); -1: no limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pod_max_pids: i64,
    #[command(flatten)]
    image_gc: crate::instance::ImageGcArgs,
    /// Where the cluster's state lives: the embedded SQLite store in the data directory, or
    /// etcd (which several servers can share; needs --etcd-endpoints).
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreKind,
    /// The etcd members' client URLs, comma-separated (kube-apiserver's --etcd-servers).
    #[arg(long, value_delimiter = ',', required_if_eq("store", "etcd"))]
    etcd_endpoints: Vec<String>,
    /// Prepended to every key in etcd, so that several clusters can share one etcd
    /// [default: none: Kubernetes' /registry/… layout].
    #[arg(long, default_value = "")]
    etcd_prefix: String,
    /// The CA bundle (PEM) that verifies the etcd members' certificates; https:// endpoints
    /// need it.
    #[arg(long)]
    etcd_cafile: Option<PathBuf>,
    /// A client certificate (PEM) for etcd members that require one.
    #[arg(long, requires_all = ["etcd_cafile", "etcd_keyfile"])]
    etcd_certfile: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "etcd_certfile")]
    etcd_keyfile: Option<PathBuf>,
    /// With --store etcd, where several servers may share the store: run the controllers and
    /// the scheduler only while this server holds the leader Lease. Ignored with SQLite, which
    /// one server owns.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// How long the other servers wait before they take over a Lease its holder stopped
    /// renewing (kube-controller-manager: 15s).
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    leader_elect_lease_duration: Duration,
    /// How long the leader tries to renew before it stops leading; less than the lease
    /// duration (kube-controller-manager: 10s).
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    leader_elect_renew_deadline: Duration,
    /// The pause between attempts to acquire or renew the Lease (kube-controller-manager: 2s).
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    leader_elect_retry_period: Duration,
    /// The namespace of the leader Lease.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    /// The name of the leader Lease.
    #[arg(long, default_value = "kbatch-controller-manager")]
    leader_elect_resource_name: String,
    /// With --store etcd: a file holding the cluster's secret, the same for every server. The
    /// first server stores its CA and admin token in etcd, encrypted with it; the others use
    /// them, so every server writes the same kubeconfig but for its address.
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
}

pub fn run(args: ServerArgs) -> ExitCode {
    super::run_daemon(serve(args))
}

pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("kbatch"))
        .context("no user data directory is known here; pass --data-dir")
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let store: Arc<dyn Store> = match args.store {
        StoreKind::Sqlite => open_store(&data_dir)?,
        StoreKind::Etcd => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            connect_etcd(etcd_options(&args)).await?
        }
    };
    // The shared credentials come first: they hold the keys the Secrets are encrypted with.
    if let Some(path) = &args.cluster_secret_file {
        anyhow::ensure!(
            args.store == StoreKind::Etcd,
            "--cluster-secret-file needs --store etcd"
        );
        share_credentials(store.as_ref(), path, &data_dir).await?;
    }
    let store = encrypt_secrets(store, &data_dir).await?;
    let listener = bind(args.listen).await?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let credentials = Credentials::load_or_create(&data_dir, addr)?;
    let tls = credentials.server_config()?;
    let url = server_url(addr);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut settings = settings(&args, &data_dir, addr)?;
    let node_dirs = settings
        .node
        .as_ref()
        .map(|n| (n.run_dir.clone(), n.dir.clone()));
    if args.store == StoreKind::Etcd
        && let Some(node) = &settings.node
    {
        let listen = SocketAddr::new(node.node_ip, args.node_log_port);
        let server = LogServer::bind(&node.dir, listen, credentials.ca_pem.as_bytes()).await?;
        println!("  node logs served on port {}", server.port());
        settings.log_server = Some(server);
    }
    let kubelet_client = KubeletClient::from_pem(
        &credentials.kubelet_client_cert_pem,
        &credentials.kubelet_client_key_pem,
    )?;
    let token_issuer = TokenIssuer::new(&credentials.service_account_key_pem, &credentials.ca_pem)
        .with_context(|| {
            format!(
                "reading {}",
                data_dir.join("pki/service-account.key").display()
            )
        })?;
    let metrics: Arc<Metrics> = Arc::default();
    let api = Api::new(
        ApiConfig {
            store,
            clock: clock.clone(),
            logs: settings.logs(),
            node_logs: Some(NodeLogsConfig {
                node_name: settings.node.as_ref().map(|n| n.name.clone()),
                client: kubelet_client,
            }),
            token: Some(credentials.token.clone()),
            token_issuer: Some(token_issuer),
            default_tolerations: DefaultTolerations {
                not_ready_seconds: args.default_not_ready_toleration_seconds,
                unreachable_seconds: args.default_unreachable_toleration_seconds,
            },
            metrics: metrics.clone(),
        },
        url.trim_start_matches("https://").to_owned(),
    )
    .await?;
    api.spawn_compactor();
    let election = leader_election(&args);
    let elected = election.is_some();
    // Runs until the process ends; dropping it would stop the controllers.
    let mut instance = match election {
        Some(election) => {
            Instance::start_elected(api.registry(), &clock, &metrics, settings, election)?
        }
        None => Instance::start(api.registry(), &clock, &metrics, settings),
    };
    let lost = instance.leadership_lost();
    println!("kbatch server listening on {url}");
    println!("  data dir:   {}", data_dir.display());
    if let Some(node) = &node_dirs {
        println!("  run dir:    {}", node.0.display());
    }
    println!("  kubeconfig: {}", credentials.kubeconfig.display());
    println!(
        "use it with: export KUBECONFIG={}; kubectl get jobs",
        credentials.kubeconfig.display()
    );
    let lost_leadership = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown = {
        let lost_leadership = lost_leadership.clone();
        async move {
            tokio::select! {
                () = super::shutdown_signal() => {}
                () = lost => lost_leadership.store(true, std::sync::atomic::Ordering::Relaxed),
            }
        }
    };
    api.serve(listener, Some(tls), shutdown).await;
    // As kube-controller-manager, a server that lost its lease exits: its controllers have
    // stopped already, and a restart campaigns afresh (its pods' shims outlive it).
    anyhow::ensure!(
        !lost_leadership.load(std::sync::atomic::Ordering::Relaxed),
        "leader election lost"
    );
    tracing::info!("shutting down");
    if let Some((run_dir, agent_dir)) = &node_dirs {
        kbatch_agent::run_dir::release(run_dir, agent_dir);
    }
    // A leader gives its lease up, so that another server takes over at once rather than
    // after the lease duration (client-go's ReleaseOnCancel); the controllers finish the keys
    // they hold first, for as long as a renewal could take.
    if elected
        && tokio::time::timeout(
            args.leader_elect_renew_deadline,
            instance.stop_controllers(),
        )
        .await
        .is_err()
    {
        tracing::warn!("the controllers did not stop in time; the leader lease is left to expire");
    }
    Ok(())
}

/// The leader election the flags ask for: with etcd, unless --leader-elect=false. The
/// identity is the node's name and a fresh UUID, as kube-controller-manager's is the host
/// name and one.
fn leader_election(args: &ServerArgs) -> Option<LeaderElectionConfig> {
    if args.store != StoreKind::Etcd || !args.leader_elect || args.no_controllers {
        return None;
    }
    let node = args.node_name.clone().unwrap_or_else(host_node_name);
    let mut config = LeaderElectionConfig::new(format!("{node}_{}", uuid::Uuid::new_v4()));
    config.lease_duration = args.leader_elect_lease_duration;
    config.renew_deadline = args.leader_elect_renew_deadline;
    config.retry_period = args.leader_elect_retry_period;
    config.namespace = args.leader_elect_resource_namespace.clone();
    config.name = args.leader_elect_resource_name.clone();
    Some(config)
}

/// Makes the cluster's CA, token and keys in the store this server's, storing this server's
/// own (or new ones) when the cluster has none yet.
async fn share_credentials(
    store: &dyn Store,
    secret: &Path,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let secret = bootstrap::read_secret(secret)?;
    let shared = bootstrap::shared_credentials(store, &secret, || {
        Ok(match ClusterCredentials::load(data_dir)? {
            Some(own) => own,
            None => ClusterCredentials::generate()?,
        })
    })
    .await?;
    shared.install(data_dir)?;
    Ok(())
}

/// The etcd connection the flags describe.
fn etcd_options(args: &ServerArgs) -> EtcdOptions {
    let mut options = EtcdOptions::new(args.etcd_endpoints.clone());
    options.prefix = args.etcd_prefix.clone();
    options.tls = args.etcd_cafile.clone().map(|ca_file| EtcdTls {
        ca_file,
        cert_file: args.etcd_certfile.clone(),
        key_file: args.etcd_keyfile.clone(),
    });
    options
}

/// The controllers and the node the flags ask for.
fn settings(args: &ServerArgs, data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Settings> {
    let controllers = (!args.no_controllers).then(|| ControllersConfig {
        backoff_base: args.backoff_base,
        backoff_max: args.backoff_max,
        cronjob_workers: args.concurrent_cron_job_syncs,
        job_sync_batch_period: args.job_sync_batch_period,
        node_lifecycle: NodeLifecycleConfig {
            monitor_period: args.node_monitor_period,
            grace_period: args.node_monitor_grace_period,
        },
        ..Default::default()
    });
    let node = if args.no_agent {
        None
    } else {
        // Each container runs under a shim (this binary's hidden subcommand), so that it
        // survives a restart of the server and is adopted by the next one.
        let program = std::env::current_exe()
            .context("locating the kbatch binary, which supervises the containers")?;
        let name = args.node_name.clone().unwrap_or_else(host_node_name);
        let mut node = NodeSettings::new(name, data_dir, Supervision::Shim(program));
        if let Some(dir) = &args.run_dir {
            node.run_dir.clone_from(dir);
        }
        node.log_retention = args.log_retention;
        node.insecure_registries = args.insecure_registries.clone();
        node.default_runtime = args.runtime;
        node.pod_max_pids = args.pod_max_pids;
        node.node_ip = args.node_ip;
        node.image_gc = args.image_gc.policy()?;
        // Pods share the host's network: they reach the API where this server listens
        // (loopback when it listens on every address, which its certificate covers).
        node.api_server = Some(api_address(listen));
        Some(node)
    };
    Ok(Settings {
        controllers,
        node,
        log_server: None,
    })
}

/// The address a process on this host reaches a server listening on `listen` at.
fn api_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}
