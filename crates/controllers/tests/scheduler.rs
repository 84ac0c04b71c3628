//! The scheduler over a registry on the in-memory store, on tokio's paused clock: binding to
//! ready nodes, kube-scheduler's failure messages, and retries when nodes change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kbatch_api::clock::SystemClock;
use kbatch_api::registry::{ListParams, Registry, WriteOptions};
use kbatch_controllers::runtime::Informer;
use kbatch_controllers::scheduler::{NodeUsage, PodRequests, Resources, Scheduler, find_node};
use kbatch_core::object::{EVENT, NODE, Object, PERSISTENTVOLUMECLAIM, POD};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};

struct Cluster {
    registry: Registry,
}

impl Cluster {
    async fn start() -> Cluster {
        let registry = Registry::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
        registry.bootstrap().await.unwrap();
        let pods = Informer::new(registry.clone(), POD);
        let nodes = Informer::new(registry.clone(), NODE);
        let claims = Informer::new(registry.clone(), PERSISTENTVOLUMECLAIM);
        let scheduler = Scheduler::new(
            registry.clone(),
            Arc::new(SystemClock),
            &pods,
            &nodes,
            &claims,
        );
        tokio::spawn(pods.run());
        tokio::spawn(nodes.run());
        tokio::spawn(claims.run());
        tokio::spawn(scheduler.run());
        Cluster { registry }
    }

    async fn node(&self, name: &str, ready: &str, extra: Value) {
        let mut json = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "allocatable": allocatable()}
        });
        merge(&mut json, extra);
        let node = Object::Node(serde_json::from_value::<Node>(json).unwrap());
        self.registry
            .create(&NODE, "", node, &WriteOptions::default(), Vec::new())
            .await
            .unwrap();
    }

    async fn edit_node(&self, name: &str, subresource: Option<&str>, change: Value) {
        let mut json = self.registry.get(&NODE, "", name).await.unwrap().to_json();
        merge(&mut json, change);
        let opts = WriteOptions {
            subresource: subresource.map(str::to_owned),
            ..Default::default()
        };
        self.registry
            .update(
                &NODE,
                "",
                name,
                Object::from_value(&NODE, json).unwrap(),
                &opts,
                Vec::new(),
            )
            .await
            .unwrap();
    }

    async fn pod(&self, name: &str, spec: Value) {
        let mut json = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        });
        merge(&mut json, json!({ "spec": spec }));
        let pod = Object::Pod(serde_json::from_value::<Pod>(json).unwrap());
        self.registry
            .create(&POD, "default", pod, &WriteOptions::default(), Vec::new())
            .await
            .unwrap();
    }

    async fn get_pod(&self, name: &str) -> Pod {
        match self.registry.get(&POD, "default", name).await.unwrap() {
            Object::Pod(p) => p,
            other => panic!("not a pod: {other:?}"),
        }
    }

    async fn node_of(&self, name: &str) -> Option<String> {
        self.get_pod(name).await.spec.and_then(|s| s.node_name)
    }

    /// Lets every task run until nothing is left to do (the paused clock advances only
    /// when all are idle).
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn events(&self, reason: &str) -> Vec<Event> {
        let list = self
            .registry
            .list(&EVENT, Some("default"), &ListParams::default())
            .await
            .unwrap();
        list.items
            .into_iter()
            .filter_map(|o| match o {
                Object::Event(e) if e.reason.as_deref() == Some(reason) => Some(e),
                _ => None,
            })
            .collect()
    }
}

/// What a test node offers unless the test says otherwise: 4 CPUs, 8 GiB, kubelet's 110 pods.
fn allocatable() -> Value {
    json!({"cpu": "4", "memory": "8Gi", "pods": "110"})
}

/// What `pods` (pod specs) take on a node.
fn usage_of(pods: &[Value]) -> NodeUsage {
    let mut usage = NodeUsage::default();
    for spec in pods {
        usage.add(&PodRequests::of(&pod(spec.clone())));
    }
    usage
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The pod's PodScheduled condition: (status, reason, message).
fn scheduled_condition(pod: &Pod) -> Option<(String, String, String)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

fn unschedulable(message: &str) -> Option<(String, String, String)> {
    Some((
        "False".to_owned(),
        "Unschedulable".to_owned(),
        message.to_owned(),
    ))
}

#[tokio::test(start_paused = true)]
async fn binds_a_pending_pod_to_the_ready_node() {
    let c = Cluster::start().await;
    c.node("down", "False", json!({})).await;
    c.node("up", "True", json!({})).await;
    c.pod("p", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("up"));
    let pod = c.get_pod("p").await;
    assert_eq!(
        scheduled_condition(&pod).map(|c| c.0).as_deref(),
        Some("True")
    );
    let events = c.events("Scheduled").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(
        e.message.as_deref(),
        Some("Successfully assigned default/p to up")
    );
    assert_eq!(
        e.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("default-scheduler")
    );
    assert_eq!(e.involved_object.name.as_deref(), Some("p"));
    assert_eq!(e.involved_object.kind.as_deref(), Some("Pod"));
}

#[tokio::test(start_paused = true)]
async fn a_selector_no_node_matches_leaves_the_pod_unschedulable_until_a_node_matches() {
    let c = Cluster::start().await;
    c.node("n1", "True", json!({})).await;
    c.pod("p", json!({"nodeSelector": {"disk": "ssd"}})).await;
    c.settle().await;
    let message = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";
    assert_eq!(c.node_of("p").await, None);
    assert_eq!(
        scheduled_condition(&c.get_pod("p").await),
        unschedulable(message)
    );
    let failed = c.events("FailedScheduling").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].type_.as_deref(), Some("Warning"));
    assert_eq!(failed[0].message.as_deref(), Some(message));
    assert_eq!(
        failed[0]
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("default-scheduler")
    );

    // A heartbeat changes nothing that matters: no new attempt.
    c.edit_node(
        "n1",
        Some("status"),
        json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "lastHeartbeatTime": "2030-01-01T00:00:00Z"}]}}),
    )
    .await;
    c.settle().await;
    assert_eq!(c.events("FailedScheduling").await[0].count, Some(1));

    c.edit_node("n1", None, json!({"metadata": {"labels": {"disk": "ssd"}}}))
        .await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("n1"));
    assert_eq!(
        scheduled_condition(&c.get_pod("p").await)
            .map(|c| c.0)
            .as_deref(),
        Some("True")
    );
}

#[tokio::test(start_paused = true)]
async fn an_unready_node_is_not_used_until_it_becomes_ready() {
    let c = Cluster::start().await;
    c.node("n1", "False", json!({})).await;
    c.pod("p", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("p").await, None);
    assert_eq!(
        scheduled_condition(&c.get_pod("p").await),
        unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint(s).")
    );
    c.edit_node(
        "n1",
        Some("status"),
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("n1"));
}

#[tokio::test(start_paused = true)]
async fn without_nodes_the_pod_waits_for_one() {
    let c = Cluster::start().await;
    c.pod("p", json!({})).await;
    c.settle().await;
    assert_eq!(
        scheduled_condition(&c.get_pod("p").await),
        unschedulable("no nodes available to schedule pods")
    );
    c.node("n1", "True", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("n1"));
}

#[tokio::test(start_paused = true)]
async fn an_unschedulable_pod_is_tried_again_after_five_minutes() {
    let c = Cluster::start().await;
    c.node("n1", "True", json!({"spec": {"unschedulable": true}}))
        .await;
    c.pod("p", json!({})).await;
    c.settle().await;
    let message = "0/1 nodes are available: 1 node(s) were unschedulable.";
    assert_eq!(
        scheduled_condition(&c.get_pod("p").await),
        unschedulable(message)
    );
    assert_eq!(c.events("FailedScheduling").await[0].count, Some(1));
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    c.settle().await;
    assert_eq!(c.events("FailedScheduling").await[0].count, Some(2));
}

#[tokio::test(start_paused = true)]
async fn pods_that_name_a_node_or_another_scheduler_are_left_alone() {
    let c = Cluster::start().await;
    c.node("n1", "True", json!({})).await;
    c.pod("pinned", json!({"nodeName": "elsewhere"})).await;
    c.pod("other", json!({"schedulerName": "my-scheduler"}))
        .await;
    let pinned = c.get_pod("pinned").await;
    let other = c.get_pod("other").await;
    c.pod("p", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("n1"));
    assert_eq!(c.get_pod("pinned").await, pinned);
    assert_eq!(c.get_pod("other").await, other);
    assert_eq!(c.events("Scheduled").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn pods_spread_over_the_least_loaded_nodes() {
    let c = Cluster::start().await;
    c.node("n1", "True", json!({})).await;
    c.node("n2", "True", json!({})).await;
    for i in 0..6 {
        c.pod(&format!("p{i}"), json!({})).await;
    }
    c.settle().await;
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for i in 0..6 {
        let node = c.node_of(&format!("p{i}")).await.unwrap();
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(per_node.get("n1"), Some(&3));
    assert_eq!(per_node.get("n2"), Some(&3));
}

/// The load of a node counts the unfinished pods bound to it, whoever bound them: a pod that
/// finished or was deleted no longer counts.
#[tokio::test(start_paused = true)]
async fn finished_and_deleted_pods_leave_their_nodes_load() {
    let c = Cluster::start().await;
    c.node("n1", "True", json!({})).await;
    c.node("n2", "True", json!({})).await;
    for (name, node) in [
        ("a", "n1"),
        ("b", "n1"),
        ("c", "n2"),
        ("d", "n2"),
        ("e", "n2"),
    ] {
        c.pod(name, json!({"nodeName": node})).await;
    }
    let mut done = c.get_pod("c").await;
    done.status.get_or_insert_with(Default::default).phase = Some("Succeeded".to_owned());
    let status = WriteOptions {
        subresource: Some("status".to_owned()),
        ..Default::default()
    };
    c.registry
        .update(&POD, "default", "c", Object::Pod(done), &status, Vec::new())
        .await
        .unwrap();
    let now = kbatch_api::registry::DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    c.registry.delete(&POD, "default", "d", &now).await.unwrap();
    c.settle().await;
    // n1 runs 2 pods, n2 only e.
    c.pod("p", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("p").await.as_deref(), Some("n2"));
    // 2 and 2: the tie goes by name.
    c.pod("q", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("q").await.as_deref(), Some("n1"));
}

fn node(name: &str, json: Value) -> Node {
    let mut base = json!({"metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": allocatable()}});
    merge(&mut base, json);
    serde_json::from_value(base).unwrap()
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

fn fit(pod: &Pod, nodes: &[Node]) -> Result<String, String> {
    find_node(pod, &nodes.iter().collect::<Vec<_>>(), &HashMap::new(), &[])
}

#[test]
fn each_node_counts_once_under_its_first_failing_filter() {
    let nodes = [
        node(
            "cordoned",
            json!({"spec": {"unschedulable": true,
            "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}),
        ),
        node(
            "tainted",
            json!({"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoExecute"}]}}),
        ),
        node(
            "unready",
            json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        ),
        node("plain", json!({})),
    ];
    let p = pod(json!({"nodeSelector": {"disk": "ssd"}}));
    assert_eq!(
        fit(&p, &nodes),
        Err(
            "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
             1 node(s) were unschedulable, 2 node(s) had untolerated taint(s)."
                .to_owned()
        )
    );
}

#[test]
fn tolerations_admit_tainted_cordoned_and_unready_nodes() {
    let tainted = [node(
        "tainted",
        json!({"spec": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"},
            {"key": "soft", "effect": "PreferNoSchedule"}]}}),
    )];
    let equal = pod(json!({"tolerations": [{"key": "gpu", "value": "yes"}]}));
    assert_eq!(fit(&equal, &tainted), Ok("tainted".to_owned()));
    let wrong_value = pod(json!({"tolerations": [{"key": "gpu", "value": "no"}]}));
    assert!(fit(&wrong_value, &tainted).is_err());
    let wrong_effect =
        pod(json!({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]}));
    assert!(fit(&wrong_effect, &tainted).is_err());
    let everything = pod(json!({"tolerations": [{"operator": "Exists"}]}));
    assert_eq!(fit(&everything, &tainted), Ok("tainted".to_owned()));

    let cordoned = [node("cordoned", json!({"spec": {"unschedulable": true}}))];
    assert!(fit(&pod(json!({})), &cordoned).is_err());
    let tolerates_cordon = pod(json!({"tolerations": [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}));
    assert_eq!(fit(&tolerates_cordon, &cordoned), Ok("cordoned".to_owned()));

    let unready = [node("unready", json!({"status": {"conditions": []}}))];
    assert!(fit(&pod(json!({})), &unready).is_err());
    let tolerates_not_ready = pod(json!({"tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}));
    assert_eq!(
        fit(&tolerates_not_ready, &unready),
        Ok("unready".to_owned())
    );
}

#[test]
fn required_node_affinity_terms_are_ored_and_their_requirements_anded() {
    let nodes = [
        node(
            "small",
            json!({"metadata": {"labels": {"zone": "a", "cpus": "2"}}}),
        ),
        node(
            "big",
            json!({"metadata": {"labels": {"zone": "b", "cpus": "64"}}}),
        ),
    ];
    let affinity = |terms: Value| {
        pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
    };
    let big_only = affinity(json!([{"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a", "b"]},
        {"key": "cpus", "operator": "Gt", "values": ["8"]}]}]));
    assert_eq!(fit(&big_only, &nodes), Ok("big".to_owned()));
    let by_name = affinity(json!([{"matchFields": [
        {"key": "metadata.name", "operator": "NotIn", "values": ["small"]}]}]));
    assert_eq!(fit(&by_name, &nodes), Ok("big".to_owned()));
    let either = affinity(json!([
        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]));
    assert_eq!(fit(&either, &nodes), Ok("small".to_owned()));
    let empty_term = affinity(json!([{}]));
    assert_eq!(
        fit(&empty_term, &nodes),
        Err(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
                .to_owned()
        )
    );
}

#[test]
fn the_least_allocated_node_wins_and_ties_go_by_name() {
    let nodes = [
        node("b", json!({})),
        node("a", json!({})),
        node("c", json!({})),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let p = pod(json!({}));
    assert_eq!(
        find_node(&p, &refs, &HashMap::new(), &[]),
        Ok("a".to_owned())
    );
    let load = HashMap::from([
        ("a".to_owned(), usage_of(&[json!({}), json!({})])),
        ("b".to_owned(), usage_of(&[json!({})])),
        ("c".to_owned(), usage_of(&[json!({})])),
    ]);
    assert_eq!(find_node(&p, &refs, &load, &[]), Ok("b".to_owned()));
}

/// VolumeBinding's node check: a pod whose bound claim names its node goes there, however
/// loaded; claims on two different nodes fit no node, with kube-scheduler's reason.
#[test]
fn a_bound_claim_pins_its_pods_to_its_node() {
    let nodes = [node("a", json!({})), node("b", json!({}))];
    let refs: Vec<&Node> = nodes.iter().collect();
    let p = pod(json!({}));
    let load = HashMap::from([
        ("a".to_owned(), NodeUsage::default()),
        ("b".to_owned(), usage_of(&vec![json!({}); 5])),
    ]);
    assert_eq!(
        find_node(&p, &refs, &load, &["b".to_owned()]),
        Ok("b".to_owned())
    );
    assert_eq!(
        find_node(&p, &refs, &load, &["a".to_owned(), "b".to_owned()]),
        Err("0/2 nodes are available: 2 node(s) had volume node affinity conflict.".to_owned())
    );
}

/// Through the informers: the claim's `selected-node` (written by the volume binder once the
/// first pod was placed) sends the next pod using it to that node.
#[tokio::test(start_paused = true)]
async fn the_scheduler_reads_a_claims_node_from_the_informer() {
    let c = Cluster::start().await;
    c.node("a", "True", json!({})).await;
    c.node("b", "True", json!({})).await;
    let claim = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "annotations": {"volume.kubernetes.io/selected-node": "b"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": "pvc-1",
                 "resources": {"requests": {"storage": "1Gi"}}}
    });
    c.registry
        .create(
            &PERSISTENTVOLUMECLAIM,
            "default",
            Object::from_value(&PERSISTENTVOLUMECLAIM, claim).unwrap(),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    c.settle().await;
    let volumes =
        json!({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]});
    c.pod("first", volumes.clone()).await;
    c.pod("plain", json!({})).await;
    c.settle().await;
    assert_eq!(c.node_of("first").await.as_deref(), Some("b"));
    // Without a claim the least loaded node wins: "a", as "b" has a pod now.
    assert_eq!(c.node_of("plain").await.as_deref(), Some("a"));
}

fn requests(cpu: &str, memory: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": memory}})
}

/// component-helpers' `PodRequests`: containers summed; each init container at its turn,
/// with the sidecars started before it, taken when larger; sidecars for the pod's whole life;
/// the overhead on top. Scores count a container without a request as 100m and 200Mi.
#[test]
fn a_pods_requests_are_summed_as_kube_scheduler_sums_them() {
    let p = pod(json!({
        "containers": [
            {"name": "a", "image": "x", "resources": requests("100m", "10Mi")},
            {"name": "b", "image": "x", "resources": requests("200m", "10Mi")}
        ],
        "initContainers": [
            {"name": "side", "image": "x", "restartPolicy": "Always",
             "resources": requests("50m", "1Mi")},
            {"name": "setup", "image": "x", "resources": requests("500m", "1Mi")}
        ],
        "overhead": {"cpu": "10m"}
    }));
    let r = PodRequests::of(&p);
    // max(100m + 200m + 50m, 500m + 50m) + 10m; memory: 10Mi + 10Mi + 1Mi.
    assert_eq!(r.requested.milli_cpu, 560);
    assert_eq!(r.requested.memory, 21 * 1024 * 1024);

    let bare = PodRequests::of(&pod(json!({
        "containers": [{"name": "a", "image": "x"},
                       {"name": "b", "image": "x", "resources": {"requests": {"cpu": "0"}}}]
    })));
    assert_eq!(bare.requested, Resources::default());
    // The default only fills a request that is missing, not one set to zero.
    assert_eq!(bare.non_zero.milli_cpu, 100);
    assert_eq!(bare.non_zero.memory, 2 * 200 * 1024 * 1024);
}

/// `NodeResourcesFit`: each short resource is a reason of its own, counted per node.
#[test]
fn requests_beyond_what_a_node_has_left_do_not_fit() {
    let nodes = [
        node("a", json!({"status": {"allocatable": {"cpu": "1"}}})),
        node("b", json!({"status": {"allocatable": {"memory": "512Mi"}}})),
    ];
    let p = pod(json!({"containers": [
        {"name": "c", "image": "x", "resources": requests("2", "1Gi")}
    ]}));
    assert_eq!(
        fit(&p, &nodes),
        Err("0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.".to_owned())
    );

    // What the pods already on a node request is no longer there: 4 CPUs, 3 taken.
    let nodes = [node("a", json!({}))];
    let refs: Vec<&Node> = nodes.iter().collect();
    let busy = HashMap::from([(
        "a".to_owned(),
        usage_of(&[json!({"containers": [
            {"name": "c", "image": "x", "resources": requests("3", "1Gi")}
        ]})]),
    )]);
    let wants_two = pod(json!({"containers": [
        {"name": "c", "image": "x", "resources": requests("2", "1Gi")}
    ]}));
    assert_eq!(
        find_node(&wants_two, &refs, &busy, &[]),
        Err("0/1 nodes are available: 1 Insufficient cpu.".to_owned())
    );
    // A pod that requests nothing is held back only by the node's pod count.
    let best_effort = pod(json!({"containers": [{"name": "c", "image": "x"}]}));
    assert_eq!(
        find_node(&best_effort, &refs, &busy, &[]),
        Ok("a".to_owned())
    );
    let nodes = [node("a", json!({"status": {"allocatable": {"pods": "1"}}}))];
    let refs: Vec<&Node> = nodes.iter().collect();
    assert_eq!(
        find_node(&best_effort, &refs, &busy, &[]),
        Err("0/1 nodes are available: 1 Too many pods.".to_owned())
    );
}

/// `LeastAllocated`: the node with the larger share left wins, however many pods it runs.
#[test]
fn the_node_with_the_most_left_wins_over_the_one_with_fewer_pods() {
    let nodes = [node("a", json!({})), node("b", json!({}))];
    let refs: Vec<&Node> = nodes.iter().collect();
    let small = json!({"containers": [
        {"name": "c", "image": "x", "resources": requests("10m", "10Mi")}
    ]});
    let big = json!({"containers": [
        {"name": "c", "image": "x", "resources": requests("3", "6Gi")}
    ]});
    let load = HashMap::from([
        (
            "a".to_owned(),
            usage_of(&[small.clone(), small.clone(), small]),
        ),
        ("b".to_owned(), usage_of(&[big])),
    ]);
    assert_eq!(
        find_node(&pod(json!({})), &refs, &load, &[]),
        Ok("a".to_owned())
    );
}

/// A Job's worth of pods spreads evenly over three equal nodes.
#[tokio::test(start_paused = true)]
async fn thirty_pods_spread_evenly_over_three_nodes() {
    let c = Cluster::start().await;
    for n in ["n1", "n2", "n3"] {
        c.node(n, "True", json!({})).await;
    }
    for i in 0..30 {
        c.pod(&format!("p{i}"), json!({})).await;
    }
    c.settle().await;
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for i in 0..30 {
        let node = c.node_of(&format!("p{i}")).await.unwrap();
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(
        per_node,
        HashMap::from([
            ("n1".to_owned(), 10),
            ("n2".to_owned(), 10),
            ("n3".to_owned(), 10)
        ])
    );
}
