//! `kbatch agent`: a node on another machine. The same agent as a server's embedded one
//! (same runtimes, built by `instance::agent_config`), talking to a server's HTTPS API
//! instead of the in-process registry: it registers its Node, heartbeats its Lease and runs
//! the pods bound to it.
//!
//! Its credential comes from a kubeconfig ([`Join::from_kubeconfig`]): the server's URL and
//! CA, and a bearer token or a client certificate. Everything else only sees a [`Join`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use kbatch_agent::Agent;
use kbatch_agent::api::{Credentials, NodeApi, RemoteApi};
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_core::field::Path as FieldPath;
use kbatch_core::validation::meta::validate_labels;
use serde_json::Value;

use crate::instance::{
    DefaultRuntime, NodeSettings, Supervision, agent_config, go_duration, host_node_name,
};

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The server's URL (https://HOST:PORT) [default: the kubeconfig's server].
    #[arg(long)]
    server: Option<String>,
    /// A kubeconfig with the server's CA and this node's credential (a token, or a client
    /// certificate and key); its current context is used.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The name of this node [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// Where logs, checkpoints, images and the pods' working directories live [default: the
    /// user's data directory, e.g. ~/.local/share/kbatch-agent].
    #[arg(long, env = "KBATCH_AGENT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Labels of the Node, beside the well-known ones (kubelet's --node-labels):
    /// KEY=VALUE,…
    #[arg(long, value_delimiter = ',', value_parser = label)]
    labels: Vec<(String, String)>,
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

pub fn run(args: AgentArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KBATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: AgentArgs) -> anyhow::Result<()> {
    let join = Join::from_kubeconfig(&args.kubeconfig, args.server.as_deref())?;
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => dirs::data_dir()
            .map(|d| d.join("kbatch-agent"))
            .context("no user data directory is known here; pass --data-dir")?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let api: Arc<dyn NodeApi> = Arc::new(
        RemoteApi::new(&join.server, &join.ca_pem, join.credentials, clock.clone())
            .with_context(|| format!("setting up the client of {}", join.server))?,
    );
    // Each container runs under a shim (this binary's hidden subcommand), so that it
    // survives a restart of the agent and is adopted by the next one.
    let program = std::env::current_exe()
        .context("locating the kbatch binary, which supervises the containers")?;
    let name = args.node_name.clone().unwrap_or_else(host_node_name);
    let mut node = NodeSettings::new(name.clone(), &data_dir, Supervision::Shim(program));
    node.log_retention = args.log_retention;
    node.insecure_registries = args.insecure_registries.clone();
    node.default_runtime = args.runtime;
    node.pod_max_pids = args.pod_max_pids;
    node.api_server = api_address(&join.server);
    let mut config = agent_config(&clock, node);
    config.labels = args.labels.iter().cloned().collect();
    config.node_ip = args.node_ip;
    println!("kbatch agent: node {name} of {}", join.server);
    println!("  data dir: {}", data_dir.display());
    tokio::select! {
        () = Agent::new(api, clock, config).run() => {}
        () = shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

/// Where pods on this node reach the API (their `KUBERNETES_SERVICE_HOST`/`_PORT`): the
/// server's address when its URL names it by IP; none otherwise.
fn api_address(server: &str) -> Option<SocketAddr> {
    let authority = server.strip_prefix("https://")?.split('/').next()?;
    authority.parse::<SocketAddr>().ok().or_else(|| {
        let host = authority.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, 443))
    })
}

/// What an agent needs to join a cluster: the server, the CA that signed its certificate,
/// and the node's credential.
#[derive(Debug)]
struct Join {
    server: String,
    ca_pem: Vec<u8>,
    credentials: Credentials,
}

impl Join {
    /// The current context of a kubeconfig: its cluster's server (unless `server` is given)
    /// and CA, its user's token or client certificate. Files a kubeconfig names are relative
    /// to it, as kubectl reads them.
    fn from_kubeconfig(path: &Path, server: Option<&str>) -> anyhow::Result<Join> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Value = serde_saphyr::from_str(&text)
            .with_context(|| format!("reading {} as YAML", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let context_name = config["current-context"]
            .as_str()
            .context("the kubeconfig has no current-context")?;
        let context = named(&config, "contexts", context_name, "context")?;
        let cluster_name = context["cluster"]
            .as_str()
            .context("the current context names no cluster")?;
        let user_name = context["user"]
            .as_str()
            .context("the current context names no user")?;
        let cluster = named(&config, "clusters", cluster_name, "cluster")?;
        let user = named(&config, "users", user_name, "user")?;
        let server = match server {
            Some(s) => s.to_owned(),
            None => cluster["server"]
                .as_str()
                .context("the kubeconfig's cluster has no server")?
                .to_owned(),
        };
        let ca_pem = data_or_file(cluster, "certificate-authority", base)?
            .context("the kubeconfig's cluster has no certificate-authority(-data)")?;
        let credentials = if let Some(token) = user["token"].as_str() {
            Credentials::Token(token.to_owned())
        } else if let Some(cert_pem) = data_or_file(user, "client-certificate", base)? {
            let key_pem = data_or_file(user, "client-key", base)?
                .context("the kubeconfig's user has a client certificate but no key")?;
            Credentials::ClientCertificate { cert_pem, key_pem }
        } else {
            bail!("the kubeconfig's user has neither a token nor a client certificate");
        };
        Ok(Join {
            server,
            ca_pem,
            credentials,
        })
    }
}

/// The `field` of the entry named `name` in the kubeconfig's list `list`.
fn named<'a>(config: &'a Value, list: &str, name: &str, field: &str) -> anyhow::Result<&'a Value> {
    config[list]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"].as_str() == Some(name)))
        .map(|i| &i[field])
        .filter(|v| v.is_object())
        .with_context(|| format!("the kubeconfig has no {field} named {name:?}"))
}

/// `<key>-data` (base64) or the file `<key>` names.
fn data_or_file(section: &Value, key: &str, base: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = section[format!("{key}-data")].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| format!("{key}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    match section[key].as_str() {
        Some(file) => {
            let file = base.join(file);
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            Ok(Some(bytes))
        }
        None => Ok(None),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_gives_server_ca_and_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA PEM").unwrap();
        let path = dir.path().join("config");
        let token_config = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
users:
- name: u
  user:
    token: abc
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
";
        std::fs::write(&path, token_config).unwrap();
        let join = Join::from_kubeconfig(&path, None).unwrap();
        assert_eq!(join.server, "https://10.0.0.1:6443");
        assert_eq!(join.ca_pem, b"CA PEM");
        assert!(matches!(join.credentials, Credentials::Token(ref t) if t == "abc"));
        let join = Join::from_kubeconfig(&path, Some("https://10.0.0.2:1")).unwrap();
        assert_eq!(join.server, "https://10.0.0.2:1");

        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cert_config = format!(
            "clusters:
- name: c
  cluster:
    server: https://h:1
    certificate-authority-data: {}
users:
- name: u
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts:
- name: x
  context: {{cluster: c, user: u}}
current-context: x
",
            b64("CA"),
            b64("CERT"),
            b64("KEY")
        );
        std::fs::write(&path, cert_config).unwrap();
        let join = Join::from_kubeconfig(&path, None).unwrap();
        match join.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                assert_eq!(cert_pem, b"CERT");
                assert_eq!(key_pem, b"KEY");
            }
            other => panic!("unexpected {other:?}"),
        }
        std::fs::write(&path, "current-context: nowhere\n").unwrap();
        assert!(Join::from_kubeconfig(&path, None).is_err());
    }

    #[test]
    fn labels_are_checked() {
        assert_eq!(label("zone=a"), Ok(("zone".to_owned(), "a".to_owned())));
        assert!(label("zone").is_err());
        assert!(label("bad key=a").is_err());
        assert!(label("zone=not valid!").is_err());
    }

    #[test]
    fn pods_reach_a_server_named_by_ip() {
        assert_eq!(
            api_address("https://10.1.2.3:6443"),
            Some("10.1.2.3:6443".parse().unwrap())
        );
        assert_eq!(
            api_address("https://[::1]:7443"),
            Some("[::1]:7443".parse().unwrap())
        );
        assert_eq!(api_address("https://kbatch.example:6443"), None);
    }
}
