//! The node: registration with what the machine offers, the Ready condition, and the
//! heartbeat — a Lease in `kube-node-lease` renewed every 10s, and the node's status
//! refreshed every 5 minutes (kubelet's `nodeLeaseDurationSeconds`, renew interval and
//! `nodeStatusReportFrequency`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kbatch_api::error::ApiError;
use kbatch_core::object::{LEASE, NODE, Object};

use crate::Context;
use crate::resources::Allocatable;

const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// Node status is written every 30 lease renewals: 5 minutes.
const STATUS_EVERY: u32 = 30;
/// kubelet's default `maxPods`.
const MAX_PODS: &str = "110";

/// What the machine offers, measured once at start.
pub(crate) fn machine(data_dir: &Path) -> Allocatable {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let info = rustix::system::sysinfo();
    let memory = u64::from(info.mem_unit).saturating_mul(info.totalram as u64);
    let disk = rustix::fs::statvfs(data_dir)
        .map(|s| s.f_blocks.saturating_mul(s.f_frsize))
        .unwrap_or(0);
    Allocatable {
        cpu_millis: cpus * 1000,
        memory_bytes: memory,
        ephemeral_storage_bytes: disk,
    }
}

/// Creates the node, or brings an existing one's status up to date.
pub(crate) async fn register(ctx: &Context) -> Result<(), ApiError> {
    let api = &ctx.api;
    match api.get(&NODE, "", &ctx.node_name).await {
        Err(e) if e.is_not_found() => {
            let node = Node {
                metadata: ObjectMeta {
                    name: Some(ctx.node_name.clone()),
                    labels: Some(labels(&ctx.node_name, &ctx.node_labels)),
                    annotations: log_server_annotation(ctx, None),
                    ..Default::default()
                },
                spec: Some(NodeSpec {
                    taints: (!ctx.node_taints.is_empty()).then(|| ctx.node_taints.clone()),
                    ..Default::default()
                }),
                status: Some(status(ctx, None)),
            };
            api.create(&NODE, "", Object::Node(node)).await?;
            tracing::info!(node = %ctx.node_name, "registered the node");
            Ok(())
        }
        Err(e) => Err(e),
        Ok(_) => post_status(ctx).await,
    }
}

/// Writes the node's status: capacity, conditions with a fresh heartbeat.
async fn post_status(ctx: &Context) -> Result<(), ApiError> {
    let api = &ctx.api;
    for _ in 0..5 {
        let Object::Node(mut node) = api.get(&NODE, "", &ctx.node_name).await? else {
            return Err(ApiError::internal("a node key holds another kind"));
        };
        node.status = Some(status(ctx, node.status.as_ref()));
        // The status subresource keeps metadata changes of a Node (nodeStatusStrategy resets
        // only the spec), as kubelet's node status patch relies on.
        node.metadata.annotations = log_server_annotation(ctx, node.metadata.annotations.take());
        match api
            .update_status(&NODE, "", &ctx.node_name, Object::Node(node))
            .await
        {
            Err(e) if e.is_conflict() => continue,
            other => return other.map(|_| ()),
        }
    }
    Err(ApiError::internal("the node's status kept changing"))
}

/// Renews the node's lease forever, and its status every few minutes.
pub(crate) async fn heartbeat(ctx: std::sync::Arc<Context>) {
    let mut beats: u32 = 0;
    loop {
        if let Err(e) = renew_lease(&ctx).await {
            tracing::warn!(node = %ctx.node_name, error = %e, "renewing the node lease");
        }
        beats += 1;
        if beats.is_multiple_of(STATUS_EVERY) {
            let posted = match post_status(&ctx).await {
                Err(e) if e.is_not_found() => register(&ctx).await,
                other => other,
            };
            if let Err(e) = posted {
                tracing::warn!(node = %ctx.node_name, error = %e, "updating the node status");
            }
        }
        tokio::time::sleep(RENEW_INTERVAL).await;
    }
}

/// kubelet's node lease: held by the node, owned by it (so it goes with the node).
async fn renew_lease(ctx: &Context) -> Result<(), ApiError> {
    let api = &ctx.api;
    let now = MicroTime(ctx.clock.now());
    match api.get(&LEASE, LEASE_NAMESPACE, &ctx.node_name).await {
        Ok(Object::Lease(mut lease)) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some(ctx.node_name.clone());
            spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
            spec.renew_time = Some(now);
            api.update(
                &LEASE,
                LEASE_NAMESPACE,
                &ctx.node_name,
                Object::Lease(lease),
            )
            .await?;
            Ok(())
        }
        Ok(_) => Err(ApiError::internal("a lease key holds another kind")),
        Err(e) if e.is_not_found() => {
            let node = api.get(&NODE, "", &ctx.node_name).await?;
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(ctx.node_name.clone()),
                    namespace: Some(LEASE_NAMESPACE.to_owned()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".to_owned(),
                        kind: "Node".to_owned(),
                        name: ctx.node_name.clone(),
                        uid: node.metadata().uid.clone().unwrap_or_default(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(ctx.node_name.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&LEASE, LEASE_NAMESPACE, Object::Lease(lease))
                .await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The annotations with the log server's certificate fingerprint set, when the node serves
/// logs (`kbatch_api::node_logs` pins it).
fn log_server_annotation(
    ctx: &Context,
    annotations: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let Some(server) = &ctx.log_server else {
        return annotations;
    };
    let mut annotations = annotations.unwrap_or_default();
    annotations.insert(
        crate::log_server::LOG_SERVER_CERT_ANNOTATION.to_owned(),
        server.sha256.clone(),
    );
    Some(annotations)
}

/// GOARCH's name for this machine's architecture.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The well-known labels kubelet puts on its node, then the ones asked for.
fn labels(name: &str, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch()),
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    labels.extend(extra.clone());
    labels
}

fn quantities(a: &Allocatable) -> BTreeMap<String, Quantity> {
    let cpu = if a.cpu_millis.is_multiple_of(1000) {
        (a.cpu_millis / 1000).to_string()
    } else {
        format!("{}m", a.cpu_millis)
    };
    [
        ("cpu", cpu),
        (
            "ephemeral-storage",
            format!("{}Ki", a.ephemeral_storage_bytes / 1024),
        ),
        ("memory", format!("{}Ki", a.memory_bytes / 1024)),
        ("pods", MAX_PODS.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Quantity(v)))
    .collect()
}

/// The node's status: kubelet's setters (`MachineInfo`, `NodeAddress`, the pressure and
/// Ready conditions, `VersionInfo`), keeping transition times of unchanged conditions.
fn status(ctx: &Context, old: Option<&NodeStatus>) -> NodeStatus {
    let now = Time(ctx.clock.now());
    let old_conditions = old.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        NodeCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(since),
        }
    };
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let os_image = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned());
    let uname = rustix::system::uname();
    let machine_id = read("/etc/machine-id");
    let quantities = quantities(&ctx.node.allocatable);
    NodeStatus {
        capacity: Some(quantities.clone()),
        allocatable: Some(quantities),
        conditions: Some(vec![
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            ),
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: ctx.node.ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: ctx.node_name.clone(),
            },
        ]),
        node_info: Some(NodeSystemInfo {
            architecture: arch().to_owned(),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            container_runtime_version: format!(
                "{}://kbatch-{}",
                ctx.runtime.name(),
                env!("CARGO_PKG_VERSION")
            ),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            kube_proxy_version: String::new(),
            kubelet_version: format!("v1.32.0+kbatch-{}", env!("CARGO_PKG_VERSION")),
            machine_id: machine_id.clone(),
            operating_system: "linux".to_owned(),
            os_image,
            system_uuid: machine_id,
            ..Default::default()
        }),
        daemon_endpoints: match &ctx.log_server {
            Some(server) => Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(server.port),
                }),
            }),
            None => old.and_then(|s| s.daemon_endpoints.clone()),
        },
        ..old.cloned().unwrap_or_default()
    }
}
