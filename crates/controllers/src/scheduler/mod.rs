//! The scheduler: binds each pending pod to a node, as kube-scheduler's default profile does
//! for the parts kbatch needs.
//!
//! - It schedules pods whose `spec.schedulerName` is `default-scheduler`, that name no node,
//!   are not being deleted, have not finished and carry no scheduling gates. A pod that names
//!   `spec.nodeName` is never touched.
//! - Filters, in the default profile's order, each giving kube-scheduler's reason:
//!   `NodeUnschedulable` (`spec.unschedulable` unless tolerated), `TaintToleration`
//!   (NoSchedule and NoExecute taints, plus the `node.kubernetes.io/not-ready` or
//!   `unreachable` NoSchedule taint the node lifecycle controller puts on a node whose Ready
//!   condition is not True), `NodeAffinity` (`spec.nodeSelector` and required node
//!   affinity) and `VolumeBinding`'s node check: a claim the volume binder bound names its
//!   node in `volume.kubernetes.io/selected-node` (its local volume lives there), so every
//!   later pod using it goes to that node.
//!   Between affinity and volumes, `NodeResourcesFit` (`resources.rs`): the node's pod
//!   count and `status.allocatable` against what its pods request ("Too many pods",
//!   "Insufficient cpu", …).
//! - Of the nodes that fit, the least allocated wins: `NodeResourcesFit`'s `LeastAllocated`
//!   score plus `NodeResourcesBalancedAllocation`'s, so a Job's pods spread over the nodes
//!   (ties: fewer pods, then the name). What each node's pods request is counted with the
//!   pods this scheduler bound that the cache does not show yet (the scheduler cache's
//!   assumed pods), and kept as the pod informer reports changes, not summed anew for each
//!   pod.
//! - Pods are scheduled one at a time, but as in kube-scheduler only the choice of a node is:
//!   the pod is assumed on its node and the binding (the `pods/binding` write and its event)
//!   runs on its own task, so the next pod need not wait for it. A failed binding forgets
//!   the assumption and tries the pod again after its backoff.
//! - Bound: Normal event `Scheduled` "Successfully assigned <ns>/<pod> to <node>".
//! - No fit: Warning event `FailedScheduling` and the condition PodScheduled=False reason
//!   `Unschedulable`, both with `FitError`'s message ("0/2 nodes are available: 1 node(s)
//!   didn't match Pod's node affinity/selector, 1 node(s) were unschedulable."). The pod is
//!   retried when a node is added or changes in a way that can matter, and after five minutes
//!   at the latest (`podMaxInUnschedulablePodsDuration`).

mod resources;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use self::resources::{NodeUsage, PodRequests, Resources};
use crate::volume_binding::SELECTED_NODE_ANNOTATION;
use k8s_openapi::api::core::v1::{
    Node, NodeCondition, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodCondition, Taint,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{EventSpec, Registry, WriteOptions};
use kbatch_core::object::{Object, POD};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, object_reference};

/// The scheduler's name: pods ask for it in `spec.schedulerName`, and its events carry it
/// as their source.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// How long an unschedulable pod waits for a node change before it is tried again anyway.
const UNSCHEDULABLE_RETRY: Duration = Duration::from_secs(5 * 60);

/// kube-scheduler's filter reasons.
const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
const REASON_TAINT: &str = "node(s) had untolerated taint(s)";
const REASON_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// VolumeBinding's `ErrReasonNodeConflict`.
const REASON_VOLUME_NODE: &str = "node(s) had volume node affinity conflict";
/// `ErrNoNodesAvailable`.
const NO_NODES: &str = "no nodes available to schedule pods";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    result: &'static str,
    profile: &'static str,
}

/// The scheduler over the pod and node informers. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    registry: Registry,
    clock: Arc<dyn Clock>,
    pods: Informer,
    nodes: Informer,
    claims: Informer,
    queue: WorkQueue<ObjectKey>,
    state: Arc<Mutex<State>>,
    attempts: Family<AttemptLabels, Counter>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Pods that fit no node at their last attempt (or are being attempted), tried again when
    /// a node changes (the scheduling queue's unschedulable pods).
    unschedulable: HashSet<ObjectKey>,
    /// Pods bound by this scheduler that the pod informer does not show bound yet: their
    /// node and what they request.
    assumed: HashMap<ObjectKey, (String, PodRequests)>,
    /// Per node, the pods the informer shows bound to it and not finished, and what they
    /// request together.
    bound: HashMap<String, NodeUsage>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Each critical section is a single set or map operation.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Scheduler {
    /// A scheduler fed by `pods`, `nodes` and `claims` (informers of Pods, Nodes and
    /// PersistentVolumeClaims); it registers its handlers on them.
    pub fn new(
        registry: Registry,
        clock: Arc<dyn Clock>,
        pods: &Informer,
        nodes: &Informer,
        claims: &Informer,
    ) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        let state = Arc::new(Mutex::new(State::default()));
        pods.add_handler({
            let queue = queue.clone();
            let state = Arc::clone(&state);
            move |change| on_pod(&queue, &state, change)
        });
        nodes.add_handler({
            let queue = queue.clone();
            let state = Arc::clone(&state);
            move |change| {
                let relevant = match change {
                    Change::Added(_) => true,
                    Change::Updated { old, new } => scheduling_properties_changed(old, new),
                    Change::Deleted(_) => false,
                };
                if relevant {
                    let retry: Vec<ObjectKey> = lock(&state).unschedulable.drain().collect();
                    retry.into_iter().for_each(|k| queue.add(k));
                }
            }
        });
        // A claim bound or changed may let a waiting pod fit (or name the node it needs).
        claims.add_handler({
            let queue = queue.clone();
            let state = Arc::clone(&state);
            move |change| {
                if !matches!(change, Change::Deleted(_)) {
                    let retry: Vec<ObjectKey> = lock(&state).unschedulable.drain().collect();
                    retry.into_iter().for_each(|k| queue.add(k));
                }
            }
        });
        Scheduler {
            registry,
            clock,
            pods: pods.clone(),
            nodes: nodes.clone(),
            claims: claims.clone(),
            queue,
            state,
            attempts: Family::default(),
        }
    }

    /// Adds `scheduler_schedule_attempts_total{result, profile}` to `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
            self.attempts.clone(),
        );
    }

    /// Waits for the informers, then schedules one pod at a time (as kube-scheduler does)
    /// until the queue is shut down.
    pub async fn run(self) {
        self.pods.wait_synced().await;
        self.nodes.wait_synced().await;
        let queue = self.queue.clone();
        crate::runtime::run_workers("scheduler", queue, 1, move |key: ObjectKey| {
            let scheduler = self.clone();
            async move { scheduler.sync(&key).await }
        })
        .await;
    }

    /// Stops the workers once the pods being scheduled are done.
    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// One scheduling attempt for the pod at `key`. `Ok(Some(d))`: try again after `d`.
    pub async fn sync(&self, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
        let pod = match self.pods.get(&key.namespace, &key.name).as_deref() {
            Some(Object::Pod(pod)) if needs_scheduling(pod) => pod.clone(),
            _ => {
                lock(&self.state).unschedulable.remove(key);
                return Ok(None);
            }
        };
        {
            let mut state = lock(&self.state);
            if state.assumed.contains_key(key) {
                return Ok(None);
            }
            // Listed before the nodes are read: a node change from now on retries the pod.
            state.unschedulable.insert(key.clone());
        }
        let nodes: Vec<Arc<Object>> = self.nodes.list();
        let node_list: Vec<&Node> = nodes
            .iter()
            .filter_map(|o| match &**o {
                Object::Node(n) => Some(n),
                _ => None,
            })
            .collect();
        let pinned = self.claim_nodes(&pod);
        match find_node(&pod, &node_list, &self.node_usage(&node_list), &pinned) {
            Ok(node) => {
                self.bind(key, node, PodRequests::of(&pod));
                Ok(None)
            }
            Err(message) => {
                self.attempt("unschedulable");
                self.record_failure(key, &pod, &message).await?;
                Ok(Some(UNSCHEDULABLE_RETRY))
            }
        }
    }

    /// The nodes the pod's bound claims live on (their `selected-node`).
    fn claim_nodes(&self, pod: &Pod) -> Vec<String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        volumes
            .into_iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .filter_map(
                |c| match self.claims.get(namespace, &c.claim_name).as_deref() {
                    Some(Object::PersistentVolumeClaim(pvc))
                        if pvc
                            .spec
                            .as_ref()
                            .and_then(|s| s.volume_name.as_deref())
                            .is_some_and(|v| !v.is_empty()) =>
                    {
                        pvc.metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(SELECTED_NODE_ANNOTATION))
                            .cloned()
                    }
                    _ => None,
                },
            )
            .collect()
    }

    fn attempt(&self, result: &'static str) {
        self.attempts
            .get_or_create(&AttemptLabels {
                result,
                profile: SCHEDULER_NAME,
            })
            .inc();
    }

    /// What bound unfinished pods take per node, assumed ones included. A pod leaves
    /// `assumed` in the same step in which the informer's binding counts it, so none is
    /// counted twice.
    fn node_usage(&self, nodes: &[&Node]) -> HashMap<String, NodeUsage> {
        let state = lock(&self.state);
        let mut usage: HashMap<String, NodeUsage> = nodes
            .iter()
            .map(|n| {
                let name = n.metadata.name.clone().unwrap_or_default();
                let bound = state.bound.get(&name).cloned().unwrap_or_default();
                (name, bound)
            })
            .collect();
        for (node, requests) in state.assumed.values() {
            if let Some(u) = usage.get_mut(node) {
                u.add(requests);
            }
        }
        usage
    }

    /// Assumes the pod on `node` and starts its binding cycle on a task of its own.
    fn bind(&self, key: &ObjectKey, node: String, requests: PodRequests) {
        {
            let mut state = lock(&self.state);
            state.unschedulable.remove(key);
            // Assumed before the binding lands, so the next pod already counts it.
            state.assumed.insert(key.clone(), (node.clone(), requests));
        }
        let scheduler = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            if let Err(e) = scheduler.binding_cycle(&key, &node).await {
                tracing::warn!(pod = %key, node, error = %e, "binding failed; retrying");
                scheduler.queue.add_rate_limited(key);
            }
        });
    }

    /// Binds an assumed pod and records the event. A pod gone, bound by someone else or
    /// being deleted meanwhile needs nothing more; any other failure forgets the assumption
    /// and is returned, for the pod to be tried again.
    async fn binding_cycle(&self, key: &ObjectKey, node: &str) -> Result<(), ApiError> {
        match self
            .registry
            .bind_pod(&key.namespace, &key.name, node)
            .await
        {
            Ok(bound) => {
                self.attempt("scheduled");
                self.event(
                    &bound,
                    "Normal",
                    "Scheduled",
                    format!(
                        "Successfully assigned {}/{} to {node}",
                        key.namespace, key.name
                    ),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                lock(&self.state).assumed.remove(key);
                // Gone, bound by someone else, or being deleted: nothing left to schedule.
                if e.is_not_found() || e.is_conflict() {
                    return Ok(());
                }
                self.attempt("error");
                Err(e)
            }
        }
    }

    /// `handleSchedulingFailure`: the event, then the PodScheduled condition if it changed.
    async fn record_failure(
        &self,
        key: &ObjectKey,
        pod: &Pod,
        message: &str,
    ) -> Result<(), ApiError> {
        self.event(
            &Object::Pod(pod.clone()),
            "Warning",
            "FailedScheduling",
            message.to_owned(),
        )
        .await;
        let current = match self.registry.get(&POD, &key.namespace, &key.name).await {
            Ok(Object::Pod(p)) => p,
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        if current.metadata.uid != pod.metadata.uid || !needs_scheduling(&current) {
            return Ok(());
        }
        let mut updated = current;
        let condition = PodCondition {
            type_: "PodScheduled".to_owned(),
            status: "False".to_owned(),
            reason: Some("Unschedulable".to_owned()),
            message: Some(message.to_owned()),
            ..Default::default()
        };
        if !update_condition(&mut updated, condition, Time(self.clock.now())) {
            return Ok(());
        }
        let opts = WriteOptions {
            subresource: Some("status".to_owned()),
            field_manager: Some("kube-scheduler".to_owned()),
            ..Default::default()
        };
        self.registry
            .update(
                &POD,
                &key.namespace,
                &key.name,
                Object::Pod(updated),
                &opts,
                Vec::new(),
            )
            .await?;
        Ok(())
    }

    /// Records an event; like client-go's recorder, a failure is only logged.
    async fn event(&self, about: &Object, type_: &str, reason: &str, message: String) {
        let spec = EventSpec {
            involved: object_reference(about),
            type_: type_.to_owned(),
            reason: reason.to_owned(),
            message,
            component: SCHEDULER_NAME.to_owned(),
            host: None,
        };
        if let Err(e) = self.registry.record_event(spec).await {
            tracing::warn!(pod = about.name(), reason, error = %e, "recording an event");
        }
    }
}

/// The pod informer's handler: keep the per-node counts; queue pods that need a node;
/// forget the ones that no longer do.
fn on_pod(queue: &WorkQueue<ObjectKey>, state: &Mutex<State>, change: Change<'_>) {
    let (before, after) = match change {
        Change::Added(obj) => (None, Some(obj)),
        Change::Updated { old, new } => (Some(old), Some(new)),
        Change::Deleted(obj) => (Some(obj), None),
    };
    let (left, joined) = (before.and_then(load_node), after.and_then(load_node));
    if left.map(|(n, _)| n) != joined.map(|(n, _)| n) {
        let mut state = lock(state);
        if let Some((node, pod)) = left
            && let Some(usage) = state.bound.get_mut(node)
        {
            usage.remove(&PodRequests::of(pod));
            if usage.pods == 0 {
                state.bound.remove(node);
            }
        }
        if let Some((node, pod)) = joined {
            state
                .bound
                .entry(node.to_owned())
                .or_default()
                .add(&PodRequests::of(pod));
        }
    }
    let (obj, changed) = match change {
        Change::Added(obj) => (obj, true),
        Change::Updated { old, new } => (new, pod_updated(old, new)),
        Change::Deleted(obj) => {
            let key = ObjectKey::of(obj);
            let mut state = lock(state);
            state.assumed.remove(&key);
            state.unschedulable.remove(&key);
            return;
        }
    };
    let Object::Pod(pod) = obj else {
        return;
    };
    let key = ObjectKey::of(obj);
    if needs_scheduling(pod) {
        // A status-only change (such as this scheduler's own condition) is no reason to try
        // again; the scheduling queue ignores it too (`isPodUpdated`).
        if changed {
            queue.add(key);
        }
    } else {
        let mut state = lock(state);
        state.unschedulable.remove(&key);
        if bound_node(pod).is_some() {
            state.assumed.remove(&key);
        }
    }
}

/// Whether an update changed more than the pod's status and bookkeeping.
fn pod_updated(old: &Object, new: &Object) -> bool {
    match (old, new) {
        (Object::Pod(o), Object::Pod(n)) => {
            o.spec != n.spec
                || o.metadata.labels != n.metadata.labels
                || o.metadata.annotations != n.metadata.annotations
        }
        _ => true,
    }
}

/// `nodeSchedulingPropertiesChange`: a change that can make a pod fit (heartbeats cannot).
fn scheduling_properties_changed(old: &Object, new: &Object) -> bool {
    let (Object::Node(o), Object::Node(n)) = (old, new) else {
        return true;
    };
    let spec = |node: &Node| {
        let s = node.spec.clone().unwrap_or_default();
        (
            s.unschedulable.unwrap_or(false),
            s.taints.unwrap_or_default(),
        )
    };
    let conditions = |node: &Node| -> Vec<NodeCondition> {
        let mut list = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        list.iter_mut().for_each(|c| c.last_heartbeat_time = None);
        list
    };
    spec(o) != spec(n)
        || o.metadata.labels != n.metadata.labels
        || conditions(o) != conditions(n)
        || o.status.as_ref().and_then(|s| s.allocatable.clone())
            != n.status.as_ref().and_then(|s| s.allocatable.clone())
}

/// The node whose load a pod adds to: the one it is bound to, while it has not finished.
fn load_node(obj: &Object) -> Option<(&str, &Pod)> {
    match obj {
        Object::Pod(pod) if !finished(pod) => bound_node(pod).map(|node| (node, pod)),
        _ => None,
    }
}

fn bound_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether this scheduler should find a node for `pod`.
fn needs_scheduling(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let ours = spec.scheduler_name.as_deref().unwrap_or(SCHEDULER_NAME) == SCHEDULER_NAME;
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    ours && !gated
        && bound_node(pod).is_none()
        && pod.metadata.deletion_timestamp.is_none()
        && !finished(pod)
}

/// Picks the node for `pod`: among the nodes that pass every filter, the one with the highest
/// resource score (ties: the node with fewer pods, then by name; kube-scheduler draws among
/// equals at random). Otherwise `FitError`'s message. `usage`: what the pods on each node
/// take; `pinned`: the nodes of the pod's bound claims, each of which the node must be.
pub fn find_node(
    pod: &Pod,
    nodes: &[&Node],
    usage: &HashMap<String, NodeUsage>,
    pinned: &[String],
) -> Result<String, String> {
    if nodes.is_empty() {
        return Err(NO_NODES.to_owned());
    }
    let requests = PodRequests::of(pod);
    let none = NodeUsage::default();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    let mut best: Option<(i64, i64, &str)> = None;
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let used = usage.get(name).unwrap_or(&none);
        match filter(pod, &requests, node, used, pinned) {
            Err(why) => {
                for reason in why {
                    *reasons.entry(reason).or_default() += 1;
                }
            }
            Ok(()) => {
                // Highest score first, then fewest pods, then the name.
                let candidate = (-resources::score(&requests, node, used), used.pods, name);
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
            }
        }
    }
    if let Some((_, _, name)) = best {
        return Ok(name.to_owned());
    }
    // FitError.Error: the reasons as "<count> <reason>", sorted as strings.
    let mut histogram: Vec<String> = reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    histogram.sort();
    Err(format!(
        "0/{} nodes are available: {}.",
        nodes.len(),
        histogram.join(", ")
    ))
}

/// The default profile's filters in their order; the first that rejects gives the reasons
/// (`NodeResourcesFit` can give several at once).
fn filter(
    pod: &Pod,
    requests: &PodRequests,
    node: &Node,
    usage: &NodeUsage,
    pinned: &[String],
) -> Result<(), Vec<String>> {
    let one = |reason: &str| Err(vec![reason.to_owned()]);
    let empty = Vec::new();
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_ref())
        .unwrap_or(&empty);
    let node_spec = node.spec.clone().unwrap_or_default();
    if node_spec.unschedulable == Some(true) {
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".to_owned(),
            effect: "NoSchedule".to_owned(),
            ..Default::default()
        };
        if !tolerated(tolerations, &taint) {
            return one(REASON_UNSCHEDULABLE);
        }
    }
    let mut taints = node_spec.taints.unwrap_or_default();
    taints.extend(readiness_taint(node));
    let untolerated = taints.iter().any(|t| {
        (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tolerations, t)
    });
    if untolerated {
        return one(REASON_TAINT);
    }
    if !node_affinity_matches(pod, node) {
        return one(REASON_AFFINITY);
    }
    let short = resources::insufficient(requests, node, usage);
    if !short.is_empty() {
        return Err(short);
    }
    let name = node.metadata.name.as_deref().unwrap_or("");
    if !pinned.iter().all(|p| p == name) {
        return one(REASON_VOLUME_NODE);
    }
    Ok(())
}

/// The NoSchedule taint the node lifecycle controller keeps on a node that is not Ready
/// (`TaintNodesByCondition`): `not-ready` when Ready is False or missing, `unreachable`
/// when it is Unknown.
fn readiness_taint(node: &Node) -> Option<Taint> {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let key = match ready {
        Some("True") => return None,
        Some("Unknown") => "node.kubernetes.io/unreachable",
        _ => "node.kubernetes.io/not-ready",
    };
    Some(Taint {
        key: key.to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Default::default()
    })
}

/// `Toleration.ToleratesTaint` over a pod's tolerations.
fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// `Toleration.ToleratesTaint`: the effect and key match (empty matches any), and the value
/// equals the taint's (`Equal`) or does not matter (`Exists`).
pub(crate) fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    let key = t.key.as_deref().unwrap_or("");
    if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// `RequiredNodeAffinity.Match`: `spec.nodeSelector` and the required node affinity terms.
fn node_affinity_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = &pod.spec else {
        return true;
    };
    let empty = Default::default();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = required.is_none_or(|sel| {
        sel.node_selector_terms
            .iter()
            .any(|term| term_matches(term, node, labels))
    });
    selector_ok && affinity_ok
}

/// One node selector term: every expression and field requirement holds; an empty term
/// matches nothing.
fn term_matches(
    term: &NodeSelectorTerm,
    node: &Node,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let name = node.metadata.name.as_deref().unwrap_or("");
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(name))
        })
}

/// A node selector requirement against the value the node has for its key, if any.
fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), [bound]) = (value.and_then(number), values) else {
                return false;
            };
            let Some(bound) = number(bound) else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// `UpdatePodCondition`: sets `condition` on the pod, keeping the last transition time when
/// the status stays; false if nothing changed.
fn update_condition(pod: &mut Pod, mut condition: PodCondition, now: Time) -> bool {
    let conditions = pod
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    condition.last_transition_time = Some(now);
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        None => {
            conditions.push(condition);
            true
        }
        Some(old) => {
            if old.status == condition.status {
                condition.last_transition_time = old.last_transition_time.clone();
            }
            let changed = *old != condition;
            *old = condition;
            changed
        }
    }
}
