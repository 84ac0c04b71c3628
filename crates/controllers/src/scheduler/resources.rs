//! kube-scheduler's `NodeResourcesFit` filter and scores, and `NodeResourcesBalancedAllocation`:
//! what a pod requests, what a node has left, and which node is the least allocated.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kbatch_core::validation::pod::{milli_value, value};

/// `schedutil.DefaultMilliCPURequest` and `DefaultMemoryRequest`: what a container that
/// requests nothing counts as when nodes are scored (not when they are filtered), so that
/// pods without requests still spread.
const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// `framework.MaxNodeScore`.
const MAX_NODE_SCORE: i64 = 100;

/// `framework.Resource`: amounts of the resources the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources and hugepages, by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// A `ResourceList` as numbers; `pods` is not a resource a pod requests and is skipped.
    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list.into_iter().flatten() {
            let clamp = |v: Option<i128>| v.map_or(0, |v| v.clamp(0, i128::from(i64::MAX)) as i64);
            match name.as_str() {
                "cpu" => r.milli_cpu = clamp(milli_value(&q.0)),
                "memory" => r.memory = clamp(value(&q.0)),
                "ephemeral-storage" => r.ephemeral_storage = clamp(value(&q.0)),
                "pods" => {}
                other => {
                    r.scalar.insert(other.to_owned(), clamp(value(&q.0)));
                }
            }
        }
        r
    }

    fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }

    fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            if let Some(e) = self.scalar.get_mut(name) {
                *e = e.saturating_sub(*v);
                if *e == 0 {
                    self.scalar.remove(name);
                }
            }
        }
    }

    /// Each amount the larger of the two.
    fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

/// What one pod takes from its node: its requests as filters see them, and as scores do
/// (with the defaults for what a container leaves out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub requested: Resources,
    pub non_zero: Resources,
}

impl PodRequests {
    /// component-helpers' `resource.PodRequests`: the containers' requests summed, each
    /// init container's at its turn (with the sidecars started before it) taken when larger,
    /// sidecars (init containers with `restartPolicy: Always`) added for the pod's whole
    /// life, and the pod's overhead on top.
    pub fn of(pod: &Pod) -> PodRequests {
        PodRequests {
            requested: pod_requests(pod, false),
            non_zero: pod_requests(pod, true),
        }
    }
}

fn container_requests(container: &Container, non_missing: bool) -> Resources {
    let list = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let mut r = Resources::from_list(list);
    if non_missing {
        // `NonMissingContainerRequests`: only a request that is absent gets the default; an
        // explicit zero stays zero.
        let has = |name: &str| list.is_some_and(|l| l.contains_key(name));
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn pod_requests(pod: &Pod, non_missing: bool) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c, non_missing));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c, non_missing);
        let at_its_turn = if c.restart_policy.as_deref() == Some("Always") {
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut r = own;
            r.add(&sidecars);
            r
        };
        init_peak.max(&at_its_turn);
    }
    total.max(&init_peak);
    total.add(&Resources::from_list(spec.overhead.as_ref()));
    total
}

/// What the pods bound (or assumed) on one node take together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUsage {
    pub pods: i64,
    pub requested: Resources,
    pub non_zero: Resources,
}

impl NodeUsage {
    pub fn add(&mut self, pod: &PodRequests) {
        self.pods += 1;
        self.requested.add(&pod.requested);
        self.non_zero.add(&pod.non_zero);
    }

    pub fn remove(&mut self, pod: &PodRequests) {
        self.pods = (self.pods - 1).max(0);
        self.requested.sub(&pod.requested);
        self.non_zero.sub(&pod.non_zero);
    }
}

/// A node's `status.allocatable` as numbers, with its pod count.
struct Allocatable {
    resources: Resources,
    pods: i64,
}

fn allocatable(node: &Node) -> Allocatable {
    let list = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let pods = list
        .and_then(|l| l.get("pods"))
        .and_then(|q| value(&q.0))
        .map_or(0, |v| v.clamp(0, i128::from(i64::MAX)) as i64);
    Allocatable {
        resources: Resources::from_list(list),
        pods,
    }
}

/// `noderesources.fitsRequest`: every reason the pod does not fit on the node, in
/// kube-scheduler's order and words ("Too many pods", "Insufficient cpu", …).
pub fn insufficient(pod: &PodRequests, node: &Node, usage: &NodeUsage) -> Vec<String> {
    let alloc = allocatable(node);
    let mut reasons = Vec::new();
    if usage.pods + 1 > alloc.pods {
        reasons.push("Too many pods".to_owned());
    }
    let want = &pod.requested;
    let have = &alloc.resources;
    let used = &usage.requested;
    if want.milli_cpu == 0
        && want.memory == 0
        && want.ephemeral_storage == 0
        && want.scalar.values().all(|v| *v == 0)
    {
        return reasons;
    }
    let short = |want: i64, have: i64, used: i64| want > 0 && want > have.saturating_sub(used);
    if short(want.milli_cpu, have.milli_cpu, used.milli_cpu) {
        reasons.push("Insufficient cpu".to_owned());
    }
    if short(want.memory, have.memory, used.memory) {
        reasons.push("Insufficient memory".to_owned());
    }
    if short(
        want.ephemeral_storage,
        have.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push("Insufficient ephemeral-storage".to_owned());
    }
    for (name, amount) in &want.scalar {
        let have = have.scalar.get(name).copied().unwrap_or(0);
        let used = used.scalar.get(name).copied().unwrap_or(0);
        if short(*amount, have, used) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

/// The default profile's resource scores for placing `pod` on `node`, summed (each plugin's
/// weight is 1): `NodeResourcesFit`'s `LeastAllocated` strategy over cpu and memory (weights
/// 1 and 1, with the default requests of containers that name none), and
/// `NodeResourcesBalancedAllocation` (how evenly cpu and memory would be used). Each is
/// 0..=100; the higher, the better.
pub fn score(pod: &PodRequests, node: &Node, usage: &NodeUsage) -> i64 {
    let alloc = allocatable(node).resources;
    let with_pod = |used: i64, own: i64| used.saturating_add(own);
    // (requested with the pod, allocatable) per resource; a resource the node does not
    // report takes no part in either score.
    let counted = |pairs: [(i64, i64); 2]| -> Vec<(i64, i64)> {
        pairs.into_iter().filter(|(_, cap)| *cap != 0).collect()
    };
    // `leastResourceScorer` over `leastRequestedScore`.
    let least = counted([
        (
            with_pod(usage.non_zero.milli_cpu, pod.non_zero.milli_cpu),
            alloc.milli_cpu,
        ),
        (
            with_pod(usage.non_zero.memory, pod.non_zero.memory),
            alloc.memory,
        ),
    ]);
    let least_allocated = if least.is_empty() {
        0
    } else {
        let sum: i64 = least
            .iter()
            .map(|&(req, cap)| {
                if req > cap {
                    0
                } else {
                    (cap - req) * MAX_NODE_SCORE / cap
                }
            })
            .sum();
        sum / least.len() as i64
    };
    // `balancedResourceScorer`: the requests as they are (no defaults), as fractions of
    // what the node has, capped at 1; with two resources the standard deviation is half
    // their difference.
    let fractions: Vec<f64> = counted([
        (
            with_pod(usage.requested.milli_cpu, pod.requested.milli_cpu),
            alloc.milli_cpu,
        ),
        (
            with_pod(usage.requested.memory, pod.requested.memory),
            alloc.memory,
        ),
    ])
    .into_iter()
    .map(|(req, cap)| (req as f64 / cap as f64).min(1.0))
    .collect();
    let std = match fractions.as_slice() {
        [a, b] => (a - b).abs() / 2.0,
        _ => 0.0,
    };
    let balanced = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;

    least_allocated + balanced
}
