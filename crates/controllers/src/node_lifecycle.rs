//! The node lifecycle controller (`pkg/controller/nodelifecycle`) and the NoExecute taint
//! eviction it drives (`pkg/controller/tainteviction`): what happens to a node whose agent
//! stopped — a machine lost, a `kbatch agent` killed.
//!
//! Every `monitor_period` (`--node-monitor-period`) each node's heartbeat is checked: its
//! Lease's renewTime and its Ready condition's lastHeartbeatTime. As upstream, what counts is
//! when this controller *saw* either change (its own clock, so the node's clock does not
//! matter, and a controller that just started gives every node a full grace period). A node
//! not heard from for `grace_period` (`--node-monitor-grace-period`) gets its conditions set to
//! Unknown (`NodeStatusUnknown`, "Kubelet stopped posting node status."). A node whose Ready
//! condition is False or Unknown carries the `node.kubernetes.io/not-ready` or `unreachable`
//! taint, NoSchedule and NoExecute (`TaintNodesByCondition`, `doNoExecuteTaintingPass`), which
//! go once it is Ready again.
//!
//! Pods on a node with NoExecute taints are evicted: at once when they tolerate none of them,
//! after the smallest `tolerationSeconds` of their tolerations (counted from the taints'
//! `timeAdded`) otherwise — every pod has 300 s for `not-ready` and `unreachable` unless it
//! says otherwise (the DefaultTolerationSeconds admission plugin) — and never when it tolerates
//! them without a limit. An evicted pod first gets the `DisruptionTarget` condition (reason
//! `DeletionByTaintManager`), then is deleted; the Job controller replaces it as it replaces
//! any terminating pod.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{DeleteOptions, Preconditions, Registry, WriteOptions};
use kbatch_core::object::{NODE, Object, POD};

use crate::runtime::Informer;
use crate::scheduler::tolerates;

/// The taints of a node that is not Ready.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The conditions kubelet reports, set to Unknown together (`nodeConditionTypes`).
const CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
const FIELD_MANAGER: &str = "kube-controller-manager";

/// The controller's timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLifecycleConfig {
    /// How often nodes are checked (`--node-monitor-period`, 5 s).
    pub monitor_period: Duration,
    /// How long a node may go unheard before it is Unknown (`--node-monitor-grace-period`:
    /// 50 s since Kubernetes 1.32, 40 s before).
    pub grace_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(50),
        }
    }
}

/// What this controller last saw of a node's heartbeats, and when.
#[derive(Debug, Clone)]
struct Health {
    renew: Option<Timestamp>,
    heartbeat: Option<Timestamp>,
    /// When either last changed, on this controller's clock (`probeTimestamp`).
    observed: Timestamp,
}

/// The controller over the node, pod and Lease informers. Cheap to clone.
#[derive(Clone)]
pub struct NodeLifecycleController {
    registry: Registry,
    clock: Arc<dyn Clock>,
    config: NodeLifecycleConfig,
    nodes: Informer,
    pods: Informer,
    leases: Informer,
    health: Arc<Mutex<HashMap<String, Health>>>,
}

impl std::fmt::Debug for NodeLifecycleController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLifecycleController")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NodeLifecycleController {
    pub fn new(
        registry: Registry,
        clock: Arc<dyn Clock>,
        config: NodeLifecycleConfig,
        nodes: &Informer,
        pods: &Informer,
        leases: &Informer,
    ) -> Self {
        NodeLifecycleController {
            registry,
            clock,
            config,
            nodes: nodes.clone(),
            pods: pods.clone(),
            leases: leases.clone(),
            health: Arc::default(),
        }
    }

    /// Checks the nodes and evicts what must go every monitor period, forever.
    pub async fn run(self) {
        self.nodes.wait_synced().await;
        self.pods.wait_synced().await;
        self.leases.wait_synced().await;
        loop {
            if let Err(e) = self.monitor().await {
                tracing::warn!(error = %e, "monitoring node health");
            }
            if let Err(e) = self.evict().await {
                tracing::warn!(error = %e, "evicting pods from tainted nodes");
            }
            tokio::time::sleep(self.config.monitor_period).await;
        }
    }

    /// `monitorNodeHealth`, then the taints each node's Ready condition calls for.
    pub async fn monitor(&self) -> Result<(), ApiError> {
        let now = self.clock.now();
        let nodes: Vec<Node> = self
            .nodes
            .list()
            .iter()
            .filter_map(|o| match o.as_ref() {
                Object::Node(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let grace =
            SignedDuration::try_from(self.config.grace_period).unwrap_or(SignedDuration::MAX);
        let mut silent = Vec::new();
        {
            let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
            health.retain(|name, _| {
                nodes
                    .iter()
                    .any(|n| n.metadata.name.as_deref() == Some(name))
            });
            for node in &nodes {
                let name = node.metadata.name.clone().unwrap_or_default();
                let renew =
                    self.leases
                        .get(LEASE_NAMESPACE, &name)
                        .and_then(|o| match o.as_ref() {
                            Object::Lease(l) => l
                                .spec
                                .as_ref()
                                .and_then(|s| s.renew_time.as_ref())
                                .map(|t| t.0),
                            _ => None,
                        });
                let heartbeat = ready(node)
                    .and_then(|c| c.last_heartbeat_time.as_ref())
                    .map(|t| t.0);
                let seen = health.entry(name.clone()).or_insert(Health {
                    renew,
                    heartbeat,
                    observed: now,
                });
                if seen.renew != renew || seen.heartbeat != heartbeat {
                    *seen = Health {
                        renew,
                        heartbeat,
                        observed: now,
                    };
                }
                let unheard = now.duration_since(seen.observed) > grace;
                let already_unknown = ready(node).is_some_and(|c| c.status == "Unknown");
                if unheard && !already_unknown {
                    silent.push(name);
                }
            }
        }
        for name in &silent {
            self.mark_unknown(name, now).await?;
        }
        for node in &nodes {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            // The informer's copy predates `mark_unknown`, whose nodes the edit reads afresh;
            // the others are read only when their taints are wrong.
            if silent.iter().any(|s| s == name) || readiness_taints(node, now).is_some() {
                self.set_taints(name, now).await?;
            }
        }
        Ok(())
    }

    /// `tryUpdateNodeHealth` for a silent node: every kubelet condition Unknown.
    async fn mark_unknown(&self, name: &str, now: Timestamp) -> Result<(), ApiError> {
        tracing::info!(
            node = name,
            "node stopped posting status; marking it Unknown"
        );
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            subresource: Some("status".to_owned()),
            ..Default::default()
        };
        let result = self
            .registry
            .edit(&NODE, "", name, &opts, |obj| {
                let Object::Node(node) = obj else {
                    return false;
                };
                let status = node.status.get_or_insert_with(Default::default);
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                if !conditions.iter().any(|c| c.type_ == "Ready") {
                    // A node that never reported (`NodeStatusNeverUpdated`).
                    conditions.push(NodeCondition {
                        type_: "Ready".to_owned(),
                        status: "Unknown".to_owned(),
                        reason: Some("NodeStatusNeverUpdated".to_owned()),
                        message: Some("Kubelet never posted node status.".to_owned()),
                        last_transition_time: Some(Time(now)),
                        last_heartbeat_time: None,
                    });
                }
                let mut changed = false;
                for c in conditions.iter_mut() {
                    if CONDITIONS.contains(&c.type_.as_str()) && c.status != "Unknown" {
                        c.status = "Unknown".to_owned();
                        c.reason = Some("NodeStatusUnknown".to_owned());
                        c.message = Some("Kubelet stopped posting node status.".to_owned());
                        c.last_transition_time = Some(Time(now));
                        changed = true;
                    }
                }
                changed
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The not-ready / unreachable taints (NoSchedule and NoExecute) a node's Ready condition
    /// calls for, and no others of those keys; `timeAdded` of a NoExecute taint kept as is.
    async fn set_taints(&self, name: &str, now: Timestamp) -> Result<(), ApiError> {
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let result = self
            .registry
            .edit(&NODE, "", name, &opts, |obj| {
                let Object::Node(node) = obj else {
                    return false;
                };
                match readiness_taints(node, now) {
                    Some(taints) => {
                        node.spec.get_or_insert_with(Default::default).taints =
                            (!taints.is_empty()).then_some(taints);
                        true
                    }
                    None => false,
                }
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The taint eviction pass: every pod on a node with NoExecute taints whose time is up.
    pub async fn evict(&self) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut tainted: HashMap<String, Vec<Taint>> = HashMap::new();
        for obj in self.nodes.list() {
            let Object::Node(node) = obj.as_ref() else {
                continue;
            };
            let taints: Vec<Taint> = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| t.effect == "NoExecute")
                .cloned()
                .collect();
            if !taints.is_empty() {
                tainted.insert(node.metadata.name.clone().unwrap_or_default(), taints);
            }
        }
        if tainted.is_empty() {
            return Ok(());
        }
        for obj in self.pods.list() {
            let Object::Pod(pod) = obj.as_ref() else {
                continue;
            };
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("");
            let Some(taints) = tainted.get(node) else {
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if eviction_due(pod, taints).is_some_and(|due| due <= now) {
                self.evict_pod(pod, now).await?;
            }
        }
        Ok(())
    }

    /// `addConditionAndDeletePod`: DisruptionTarget, then a delete with the pod's uid as
    /// precondition.
    async fn evict_pod(&self, pod: &Pod, now: Timestamp) -> Result<(), ApiError> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        tracing::info!(pod = %format!("{ns}/{name}"), "evicting a pod from a NoExecute-tainted node");
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            subresource: Some("status".to_owned()),
            ..Default::default()
        };
        let marked = self
            .registry
            .edit(&POD, &ns, &name, &opts, |obj| {
                let Object::Pod(pod) = obj else {
                    return false;
                };
                let status = pod.status.get_or_insert_with(Default::default);
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                if conditions
                    .iter()
                    .any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
                {
                    return false;
                }
                conditions.retain(|c| c.type_ != "DisruptionTarget");
                conditions.push(PodCondition {
                    type_: "DisruptionTarget".to_owned(),
                    status: "True".to_owned(),
                    reason: Some("DeletionByTaintManager".to_owned()),
                    message: Some("Taint manager: deleting due to NoExecute taint".to_owned()),
                    last_transition_time: Some(Time(now)),
                    last_probe_time: None,
                    observed_generation: None,
                });
                true
            })
            .await;
        match marked {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
        let options = DeleteOptions {
            preconditions: Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            },
            ..Default::default()
        };
        match self.registry.delete(&POD, &ns, &name, &options).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn ready(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
}

/// The taints of `node` with the not-ready / unreachable ones its Ready condition calls for
/// (NoSchedule and NoExecute, `timeAdded` of a kept one as it was), or `None` when they are
/// right already.
fn readiness_taints(node: &Node, now: Timestamp) -> Option<Vec<Taint>> {
    let wanted = match ready(node).map(|c| c.status.as_str()) {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        // Ready False, or not reported yet.
        _ => Some(TAINT_NOT_READY),
    };
    let before = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut taints = before.clone();
    taints.retain(|t| {
        let ours = t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE;
        !ours || Some(t.key.as_str()) == wanted
    });
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                taints.push(Taint {
                    key: key.to_owned(),
                    effect: effect.to_owned(),
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                    value: None,
                });
            }
        }
    }
    (taints != before).then_some(taints)
}

/// When a pod on a node with these NoExecute `taints` must go (`processPodOnNode`): now if it
/// tolerates not all of them; at the earliest `timeAdded` plus the smallest
/// `tolerationSeconds` of the tolerations used (`getMinTolerationTime`); `None` if they are
/// tolerated forever.
pub fn eviction_due(pod: &Pod, taints: &[Taint]) -> Option<Timestamp> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in taints {
        match tolerations.iter().find(|t| tolerates(t, taint)) {
            Some(t) => used.push(t),
            None => return Some(Timestamp::MIN),
        }
    }
    let seconds = used.iter().filter_map(|t| t.toleration_seconds).min()?;
    let added = taints
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .min()
        .unwrap_or(Timestamp::MIN);
    // Negative or zero: at once (`getMinTolerationTime` treats <= 0 as 0).
    added
        .checked_add(SignedDuration::from_secs(seconds.max(0)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn taint(key: &str, added: i64) -> Taint {
        Taint {
            key: key.to_owned(),
            effect: "NoExecute".to_owned(),
            time_added: Some(Time(at(added))),
            value: None,
        }
    }

    fn pod(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}], "tolerations": tolerations},
        }))
        .unwrap()
    }

    #[test]
    fn eviction_waits_for_the_smallest_toleration() {
        let default = pod(serde_json::json!([
            {"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ]));
        assert_eq!(
            eviction_due(&default, &[taint(TAINT_UNREACHABLE, 1000)]),
            Some(at(1300))
        );
        // A taint it does not tolerate: now.
        assert_eq!(
            eviction_due(&default, &[taint("example.com/x", 1000)]),
            Some(Timestamp::MIN)
        );
        // Tolerated forever: never.
        let forever = pod(serde_json::json!([{"operator": "Exists"}]));
        assert_eq!(
            eviction_due(&forever, &[taint(TAINT_UNREACHABLE, 1000)]),
            None
        );
        // Two tolerations used: the smaller limit, from the earliest taint.
        let two = pod(serde_json::json!([
            {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
            {"key": "example.com/x", "operator": "Equal", "value": "", "tolerationSeconds": 600},
        ]));
        assert_eq!(
            eviction_due(
                &two,
                &[taint(TAINT_UNREACHABLE, 1000), taint("example.com/x", 900)]
            ),
            Some(at(930))
        );
        // No tolerations at all: now.
        assert_eq!(
            eviction_due(&pod(serde_json::json!([])), &[taint(TAINT_NOT_READY, 5)]),
            Some(Timestamp::MIN)
        );
    }
}
