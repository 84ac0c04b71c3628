//! The node lifecycle controller over a registry on the in-memory store, with a clock the test
//! moves: a node heard from stays Ready; one silent past the grace period becomes Unknown and
//! tainted unreachable; its pods get the default tolerations at admission and are evicted
//! (DisruptionTarget, then deleted) once they run out; the taints go when the node is back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kbatch_api::clock::Clock;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_controllers::node_lifecycle::{
    NodeLifecycleConfig, NodeLifecycleController, TAINT_UNREACHABLE,
};
use kbatch_controllers::runtime::Informer;
use kbatch_core::object::{Kind, LEASE, NODE, Object, POD};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};

#[derive(Debug)]
struct TestClock(Mutex<Timestamp>);

impl TestClock {
    fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(SignedDuration::from_secs(seconds)).unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

struct Setup {
    registry: Registry,
    clock: Arc<TestClock>,
    controller: NodeLifecycleController,
    informers: Vec<Informer>,
}

async fn setup() -> Setup {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::from_second(1_800_000_000).unwrap(),
    )));
    let registry = Registry::new(Arc::new(MemoryStore::new()), clock.clone());
    registry.bootstrap().await.unwrap();
    let informer = |kind: Kind| {
        let i = Informer::new(registry.clone(), kind);
        tokio::spawn(i.clone().run());
        i
    };
    let (nodes, pods, leases) = (informer(NODE), informer(POD), informer(LEASE));
    for i in [&nodes, &pods, &leases] {
        i.wait_synced().await;
    }
    let config = NodeLifecycleConfig {
        monitor_period: Duration::from_secs(5),
        grace_period: Duration::from_secs(40),
    };
    let controller = NodeLifecycleController::new(
        registry.clone(),
        clock.clone(),
        config,
        &nodes,
        &pods,
        &leases,
    );
    Setup {
        registry,
        clock,
        controller,
        informers: vec![nodes, pods, leases],
    }
}

impl Setup {
    async fn create(&self, kind: Kind, ns: &str, value: Value) -> Object {
        let obj = Object::from_value(&kind, value).unwrap();
        self.registry
            .create(&kind, ns, obj, &WriteOptions::default(), Vec::new())
            .await
            .unwrap()
            .object
    }

    /// Lets the informers catch up with the store.
    async fn settle(&self) {
        let revision = self.registry.store().current_revision().await.unwrap();
        for i in &self.informers {
            let _ = tokio::time::timeout(Duration::from_millis(200), i.wait_for_revision(revision))
                .await;
        }
    }

    async fn heartbeat(&self, node: &str) {
        let now = self.clock.now();
        let opts = WriteOptions {
            subresource: Some("status".to_owned()),
            ..Default::default()
        };
        self.registry
            .edit(&NODE, "", node, &opts, |obj| {
                let Object::Node(n) = obj else { return false };
                let status = n.status.get_or_insert_with(Default::default);
                status.conditions =
                    Some(vec![serde_json::from_value(json!({
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "lastHeartbeatTime": now.to_string(), "lastTransitionTime": now.to_string(),
                }))
                .unwrap()]);
                true
            })
            .await
            .unwrap();
        self.settle().await;
    }

    async fn node(&self, name: &str) -> Value {
        self.registry.get(&NODE, "", name).await.unwrap().to_json()
    }

    async fn pass(&self) {
        self.settle().await;
        self.controller.monitor().await.unwrap();
        self.settle().await;
        self.controller.evict().await.unwrap();
        self.settle().await;
    }
}

fn ready(node: &Value) -> Value {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or(Value::Null)
}

fn taint_keys(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["key"].as_str().unwrap(),
                        t["effect"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_silent_node_goes_unknown_and_its_pods_are_evicted_after_their_tolerations() {
    let s = setup().await;
    s.create(NODE, "", json!({"metadata": {"name": "n1"}}))
        .await;
    s.create(
        LEASE,
        "kube-node-lease",
        json!({"metadata": {"name": "n1"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}),
    )
    .await;
    s.heartbeat("n1").await;
    // The DefaultTolerationSeconds admission plugin's tolerations.
    let pod = s
        .create(
            POD,
            "default",
            json!({"metadata": {"name": "p"}, "spec": {
            "nodeName": "n1", "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await
        .to_json();
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])
    );
    // A pod that tolerates the node's loss for 10 s only.
    s.create(POD, "default", json!({"metadata": {"name": "quick"}, "spec": {
        "nodeName": "n1", "restartPolicy": "Never",
        "tolerations": [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}],
        "containers": [{"name": "c", "image": "busybox"}]}})).await;

    s.pass().await;
    assert_eq!(ready(&s.node("n1").await)["status"], "True");
    assert!(taint_keys(&s.node("n1").await).is_empty());
    // Heard from within the grace period: still Ready.
    s.clock.advance(30);
    s.heartbeat("n1").await;
    s.pass().await;
    s.clock.advance(30);
    s.pass().await;
    assert_eq!(ready(&s.node("n1").await)["status"], "True");
    // Silent past it: Unknown, tainted unreachable.
    s.clock.advance(11);
    s.pass().await;
    let node = s.node("n1").await;
    let condition = ready(&node);
    assert_eq!(condition["status"], "Unknown", "{node}");
    assert_eq!(condition["reason"], "NodeStatusUnknown");
    assert_eq!(condition["message"], "Kubelet stopped posting node status.");
    assert_eq!(
        taint_keys(&node),
        [
            format!("{TAINT_UNREACHABLE}:NoSchedule"),
            format!("{TAINT_UNREACHABLE}:NoExecute")
        ]
    );
    // The 10 s pod goes after 10 s, with its DisruptionTarget condition; the other stays.
    s.clock.advance(9);
    s.pass().await;
    let quick = s
        .registry
        .get(&POD, "default", "quick")
        .await
        .unwrap()
        .to_json();
    assert!(quick["metadata"]["deletionTimestamp"].is_null(), "{quick}");
    s.clock.advance(2);
    s.pass().await;
    let quick = s
        .registry
        .get(&POD, "default", "quick")
        .await
        .unwrap()
        .to_json();
    assert!(
        quick["metadata"]["deletionTimestamp"].is_string(),
        "{quick}"
    );
    let disruption = quick["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .cloned()
        .unwrap();
    assert_eq!(disruption["reason"], "DeletionByTaintManager");
    let p = s
        .registry
        .get(&POD, "default", "p")
        .await
        .unwrap()
        .to_json();
    assert!(p["metadata"]["deletionTimestamp"].is_null());
    // 300 s after the taint, the default-tolerating pod goes too.
    s.clock.advance(290);
    s.pass().await;
    let p = s
        .registry
        .get(&POD, "default", "p")
        .await
        .unwrap()
        .to_json();
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");

    // The agent comes back: Ready again, the taints go.
    s.heartbeat("n1").await;
    s.pass().await;
    let node = s.node("n1").await;
    assert_eq!(ready(&node)["status"], "True");
    assert!(taint_keys(&node).is_empty(), "{node}");
}

#[tokio::test]
async fn a_lease_renewal_alone_keeps_a_node_and_a_new_controller_gives_a_full_grace_period() {
    let s = setup().await;
    s.create(NODE, "", json!({"metadata": {"name": "n1"}}))
        .await;
    s.heartbeat("n1").await;
    s.create(
        LEASE,
        "kube-node-lease",
        json!({"metadata": {"name": "n1"},
            "spec": {"holderIdentity": "n1", "renewTime": "2027-01-15T08:00:00.000000Z"}}),
    )
    .await;
    // Whatever the lease's or heartbeat's own times say, the controller counts from when it
    // first saw them (here: now, although both are old by the test clock's standards).
    s.clock.advance(100);
    s.pass().await;
    assert_eq!(ready(&s.node("n1").await)["status"], "True");
    for _ in 0..5 {
        s.clock.advance(30);
        let now = s.clock.now();
        let opts = WriteOptions::default();
        s.registry
            .edit(&LEASE, "kube-node-lease", "n1", &opts, |obj| {
                let Object::Lease(l) = obj else { return false };
                l.spec.get_or_insert_with(Default::default).renew_time = Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now),
                );
                true
            })
            .await
            .unwrap();
        s.pass().await;
        assert_eq!(ready(&s.node("n1").await)["status"], "True");
    }
}
