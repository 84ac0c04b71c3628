//! `kbatch agent`: a node on another machine. The same agent as a server's embedded one
//! (same runtimes, built by `instance::agent_config`), talking to a server's HTTPS API
//! instead of the in-process registry: it registers its Node, heartbeats its Lease, runs
//! the pods bound to it and serves their logs to the API servers (`--log-port`).
//!
//! Its credential comes from a kubeconfig (`--kubeconfig`: the server's URL and CA, and a
//! bearer token or a client certificate), or from joining (`--server URL --token T
//! --ca-cert-hash H`, as `kbatch token create` prints it): the agent checks the server's CA
//! against the hash, exchanges the bootstrap token for its node credential and keeps both in
//! `DATA_DIR/agent.kubeconfig`, which later starts use (kubelet's bootstrap kubeconfig).
//! Everything else only sees a [`Kubeconfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use k8s_openapi::api::core::v1::Taint;
use kbatch_agent::Agent;
use kbatch_agent::api::{NodeApi, RemoteApi};
use kbatch_agent::log_server::{KUBELET_PORT, LogServer};
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_core::field::Path as FieldPath;
use kbatch_core::validation::meta::validate_labels;
use kbatch_core::validation::names::{is_qualified_name, is_valid_label_value};

use crate::instance::{
    DefaultRuntime, NodeSettings, Supervision, agent_config, go_duration, host_node_name,
};
use crate::join::{self, Kubeconfig};

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The server's URL (https://HOST:PORT) [default: the kubeconfig's server]. Several
    /// servers of one cluster, comma-separated: the agent talks to the first it can reach
    /// and moves on to another when that one goes away.
    #[arg(long, value_delimiter = ',')]
    server: Vec<String>,
    /// A kubeconfig with the server's CA and this node's credential (a token, or a client
    /// certificate and key); its current context is used.
    #[arg(long, required_unless_present = "token", conflicts_with = "token")]
    kubeconfig: Option<PathBuf>,
    /// A bootstrap token (`kbatch token create` prints the command) to join with: exchanged
    /// for this node's own credential on the first start.
    #[arg(long, requires_all = ["server", "ca_cert_hash"])]
    token: Option<String>,
    /// sha256:<hex> of the server's CA certificate; the agent trusts no other.
    #[arg(long, requires = "token")]
    ca_cert_hash: Option<String>,
    /// The name of this node [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// Where logs, images, volumes and the pods' working directories live [default: the
    /// user's data directory, e.g. ~/.local/share/kbatch-agent].
    #[arg(long, env = "KBATCH_AGENT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the node keeps per-boot state: the runs' status files, the pods' checkpoints and
    /// the volumes it writes from the API [default: a directory for this data directory on
    /// the first tmpfs among $XDG_RUNTIME_DIR, /run and /dev/shm; the data directory without
    /// one].
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Labels of the Node, beside the well-known ones (kubelet's --node-labels):
    /// KEY=VALUE,…
    #[arg(long, value_delimiter = ',', value_parser = label)]
    labels: Vec<(String, String)>,
    /// Taints the Node is registered with (kubelet's --register-with-taints):
    /// KEY[=VALUE]:EFFECT,… with EFFECT NoSchedule, PreferNoSchedule or NoExecute. Only a
    /// new Node gets them; change an existing one's with `kubectl taint`.
    #[arg(long, value_delimiter = ',', value_parser = taint)]
    register_with_taints: Vec<Taint>,
    /// The node's address: its InternalIP, and every pod's podIP and hostIP (pods share the
    /// host's network).
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: std::net::IpAddr,
    /// The runtime of pods that name no `runtimeClassName`: host processes, or OCI
    /// containers from the pods' images run by runc.
    #[arg(long, value_enum, default_value = "process")]
    runtime: DefaultRuntime,
    /// A registry (HOST:PORT) to pull images from over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// The most processes each container of the runc runtime may have; -1: no limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pod_max_pids: i64,
    /// How long a pod's logs are kept after the pod is gone.
    #[arg(long, default_value = "24h", value_parser = go_duration)]
    log_retention: Duration,
    /// The port the agent serves its containers' logs on, over TLS, to the API servers
    /// (`kubectl logs`), on the --node-ip address: kubelet's port; 0 picks a free one, which
    /// the Node advertises. Only callers with a certificate of the cluster CA get in.
    #[arg(long, default_value_t = KUBELET_PORT)]
    log_port: u16,
    #[command(flatten)]
    image_gc: crate::instance::ImageGcArgs,
}

fn label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: a label is KEY=VALUE"))?;
    let pair = BTreeMap::from([(key.to_owned(), value.to_owned())]);
    let errors = validate_labels(Some(&pair), &FieldPath::new("labels"));
    match errors.first() {
        Some(e) => Err(e.to_string()),
        None => Ok((key.to_owned(), value.to_owned())),
    }
}

/// apimachinery's `taints.ParseTaint` for a taint that must name its effect.
fn taint(text: &str) -> Result<Taint, String> {
    let (key_value, effect) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: a taint is KEY[=VALUE]:EFFECT"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "{text:?}: invalid taint effect {effect:?}: use NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = match key_value.split_once('=') {
        Some((_, v)) if v.contains('=') => return Err(format!("invalid taint spec: {text}")),
        Some((k, v)) => (k, Some(v)),
        None => (key_value, None),
    };
    if let Some(e) = is_qualified_name(key).first() {
        return Err(format!("{text:?}: invalid taint key {key:?}: {e}"));
    }
    if let Some(e) = value.and_then(|v| is_valid_label_value(v).into_iter().next()) {
        return Err(format!("{text:?}: invalid taint value: {e}"));
    }
    Ok(Taint {
        key: key.to_owned(),
        value: value.filter(|v| !v.is_empty()).map(str::to_owned),
        effect: effect.to_owned(),
        time_added: None,
    })
}

pub fn run(args: AgentArgs) -> ExitCode {
    super::run_daemon(serve(args))
}

async fn serve(args: AgentArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => dirs::data_dir()
            .map(|d| d.join("kbatch-agent"))
            .context("no user data directory is known here; pass --data-dir")?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let name = args.node_name.clone().unwrap_or_else(host_node_name);
    let kubeconfig = match &args.kubeconfig {
        Some(path) => path.clone(),
        None => joined(&args, &data_dir, &name).await?,
    };
    let join = Kubeconfig::read(&kubeconfig, args.server.first().map(String::as_str))?;
    let servers: Vec<&str> = if args.server.is_empty() {
        vec![join.server.as_str()]
    } else {
        args.server.iter().map(String::as_str).collect()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let api: Arc<dyn NodeApi> = Arc::new(
        RemoteApi::with_servers(&servers, &join.ca_pem, join.credentials, clock.clone())
            .with_context(|| format!("setting up the client of {}", servers.join(", ")))?,
    );
    // Each container runs under a shim (this binary's hidden subcommand), so that it
    // survives a restart of the agent and is adopted by the next one.
    let program = std::env::current_exe()
        .context("locating the kbatch binary, which supervises the containers")?;
    let mut node = NodeSettings::new(name.clone(), &data_dir, Supervision::Shim(program));
    if let Some(dir) = &args.run_dir {
        node.run_dir.clone_from(dir);
    }
    let (run_dir, agent_dir) = (node.run_dir.clone(), node.dir.clone());
    node.log_retention = args.log_retention;
    node.insecure_registries = args.insecure_registries.clone();
    node.default_runtime = args.runtime;
    node.pod_max_pids = args.pod_max_pids;
    node.api_server = api_address(&join.server).await;
    let listen = SocketAddr::new(args.node_ip, args.log_port);
    let log_server = LogServer::bind(&node.dir, listen, &join.ca_pem).await?;
    node.image_gc = args.image_gc.policy()?;
    let mut config = agent_config(&clock, node);
    config.labels = args.labels.iter().cloned().collect();
    config.taints = args.register_with_taints.clone();
    config.node_ip = args.node_ip;
    println!("kbatch agent: node {name} of {}", servers.join(", "));
    println!("  data dir: {}", data_dir.display());
    println!("  run dir:  {}", run_dir.display());
    println!(
        "  logs served on {}",
        SocketAddr::new(args.node_ip, log_server.port())
    );
    let agent = Agent::new(api, clock, config).with_log_server(log_server);
    tokio::select! {
        () = agent.run() => {}
        () = super::shutdown_signal() => tracing::info!("shutting down"),
    }
    kbatch_agent::run_dir::release(&run_dir, &agent_dir);
    Ok(())
}

/// The kubeconfig of a node that joins with a bootstrap token: the one an earlier start
/// made, or a new one from [`join::join`].
async fn joined(args: &AgentArgs, data_dir: &Path, node: &str) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(JOINED_KUBECONFIG);
    if path.exists() {
        tracing::info!(kubeconfig = %path.display(), "joined before; using that credential");
        return Ok(path);
    }
    let (Some(server), Some(token), Some(hash)) =
        (args.server.first(), &args.token, &args.ca_cert_hash)
    else {
        bail!("joining needs --server, --token and --ca-cert-hash");
    };
    let joined = join::join(server, token, hash, node).await?;
    let user = format!("system:node:{node}");
    let text = join::kubeconfig_text(server, &joined.ca_pem, &joined.token, &user);
    write_private(&path, &text)?;
    tracing::info!(kubeconfig = %path.display(), "joined the cluster as node {node}");
    Ok(path)
}

/// Where a joined node keeps its credential, in its data dir.
const JOINED_KUBECONFIG: &str = "agent.kubeconfig";

/// Writes `text` to `path` readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Where pods on this node reach the API (their `KUBERNETES_SERVICE_HOST`/`_PORT`, which
/// must be an IP): the server's address, its host name resolved once at start (there is no
/// Service IP in front of the servers); none when it does not resolve.
async fn api_address(server: &str) -> Option<SocketAddr> {
    let authority = server.strip_prefix("https://")?.split('/').next()?;
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) => (authority, 443),
        },
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            tracing::warn!(server, error = %e, "resolving the server's host name for the pods' KUBERNETES_SERVICE_HOST");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked() {
        assert_eq!(label("zone=a"), Ok(("zone".to_owned(), "a".to_owned())));
        assert!(label("zone").is_err());
        assert!(label("bad key=a").is_err());
        assert!(label("zone=not valid!").is_err());
    }

    #[tokio::test]
    async fn pods_reach_the_server_by_its_address() {
        assert_eq!(
            api_address("https://10.1.2.3:6443").await,
            Some("10.1.2.3:6443".parse().unwrap())
        );
        assert_eq!(
            api_address("https://[::1]:7443").await,
            Some("[::1]:7443".parse().unwrap())
        );
        assert_eq!(
            api_address("https://10.1.2.3").await,
            Some("10.1.2.3:443".parse().unwrap())
        );
        let local = api_address("https://localhost:6443").await.unwrap();
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 6443);
        assert_eq!(api_address("https://no-such-host.invalid:6443").await, None);
    }

    #[test]
    fn taints_are_read_as_kubelet_reads_them() {
        let t = taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            ("dedicated", Some("gpu"), "NoSchedule")
        );
        let t = taint("example.com/edge:NoExecute").unwrap();
        assert_eq!((t.key.as_str(), t.value), ("example.com/edge", None));
        assert!(
            taint("dedicated=gpu")
                .unwrap_err()
                .contains("KEY[=VALUE]:EFFECT")
        );
        assert!(
            taint("a=b:Sometimes")
                .unwrap_err()
                .contains("invalid taint effect")
        );
        assert!(taint("a=b=c:NoSchedule").is_err());
        assert!(taint("bad key:NoSchedule").is_err());
        assert!(taint("a=not valid!:NoSchedule").is_err());
    }
}
