//! The pod garbage collector (`pkg/controller/podgc`), for pods nothing else will finish: a
//! pod bound to a node that no longer exists (`gcOrphaned`, after the node has been missing
//! for a quarantine period, so a node about to be created again is not raced), and a
//! terminating pod on a node that is not Ready and carries the `node.kubernetes.io/out-of-service`
//! taint (`gcTerminating`: the operator says the machine is gone). Each is force-deleted after
//! its `DisruptionTarget` condition (reason `DeletionByPodGC`), so that a Job counts it and can
//! finish. A pod deleted from a node that is merely unreachable stays Terminating, as in
//! Kubernetes: the node may come back and its agent finish the pod.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{DeleteOptions, Preconditions, Registry, WriteOptions};
use kbatch_core::object::{Object, POD};

use crate::runtime::Informer;

/// How often pods are looked at (`gcCheckPeriod`).
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);
/// How long a node must be missing before its pods are orphans (`quarantineTime`).
const QUARANTINE: SignedDuration = SignedDuration::from_secs(40);
/// The taint that says a node is out of service (`v1.TaintNodeOutOfService`).
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// The collector over the pod and node informers. Cheap to clone.
#[derive(Clone)]
pub struct PodGc {
    registry: Registry,
    clock: Arc<dyn Clock>,
    pods: Informer,
    nodes: Informer,
    /// Nodes named by pods but missing, and since when (`nodeQueue`'s delays).
    missing: Arc<Mutex<HashMap<String, Timestamp>>>,
}

impl std::fmt::Debug for PodGc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodGc").finish_non_exhaustive()
    }
}

impl PodGc {
    pub fn new(
        registry: Registry,
        clock: Arc<dyn Clock>,
        pods: &Informer,
        nodes: &Informer,
    ) -> Self {
        PodGc {
            registry,
            clock,
            pods: pods.clone(),
            nodes: nodes.clone(),
            missing: Arc::default(),
        }
    }

    /// Collects every `period`, forever.
    pub async fn run(self, period: Duration) {
        self.pods.wait_synced().await;
        self.nodes.wait_synced().await;
        loop {
            if let Err(e) = self.collect().await {
                tracing::warn!(error = %e, "collecting pods");
            }
            tokio::time::sleep(period).await;
        }
    }

    /// One pass: `gcTerminating`, then `gcOrphaned`.
    pub async fn collect(&self) -> Result<(), ApiError> {
        let now = self.clock.now();
        let nodes: HashMap<String, Node> = self
            .nodes
            .list()
            .iter()
            .filter_map(|o| match o.as_ref() {
                Object::Node(n) => Some((n.metadata.name.clone().unwrap_or_default(), n.clone())),
                _ => None,
            })
            .collect();
        let mut doomed: Vec<(Pod, &str)> = Vec::new();
        let mut orphans_by_node: HashMap<String, Vec<Pod>> = HashMap::new();
        for obj in self.pods.list() {
            let Object::Pod(pod) = obj.as_ref() else {
                continue;
            };
            let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            match nodes.get(&node_name) {
                Some(node) => {
                    if pod.metadata.deletion_timestamp.is_some() && out_of_service(node) {
                        doomed.push((pod.clone(), "PodGC: node is out-of-service"));
                    }
                }
                None => orphans_by_node
                    .entry(node_name)
                    .or_default()
                    .push(pod.clone()),
            }
        }
        let orphaned_nodes: Vec<String> = {
            let mut missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
            missing.retain(|n, _| orphans_by_node.contains_key(n));
            orphans_by_node
                .keys()
                .filter(|n| {
                    let since = *missing.entry((*n).clone()).or_insert(now);
                    now.duration_since(since) >= QUARANTINE
                })
                .cloned()
                .collect()
        };
        for node in orphaned_nodes {
            // The node may have appeared since the informer's copy: ask the API.
            match self
                .registry
                .get(&kbatch_core::object::NODE, "", &node)
                .await
            {
                Ok(_) => continue,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            for pod in orphans_by_node.remove(&node).unwrap_or_default() {
                doomed.push((pod, "PodGC: node no longer exists"));
            }
        }
        for (pod, message) in doomed {
            self.force_delete(&pod, message, now).await?;
        }
        Ok(())
    }

    /// `markFailedAndDeletePodWithCondition`: DisruptionTarget (reason DeletionByPodGC), then
    /// a delete with no grace period.
    async fn force_delete(&self, pod: &Pod, message: &str, now: Timestamp) -> Result<(), ApiError> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        tracing::info!(pod = %format!("{ns}/{name}"), reason = message, "garbage-collecting a pod");
        let opts = WriteOptions {
            field_manager: Some("kube-controller-manager".to_owned()),
            subresource: Some("status".to_owned()),
            ..Default::default()
        };
        let finished = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        let marked = self
            .registry
            .edit(&POD, &ns, &name, &opts, |obj| {
                let Object::Pod(pod) = obj else {
                    return false;
                };
                let status = pod.status.get_or_insert_with(Default::default);
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                if conditions.iter().any(|c| c.type_ == "DisruptionTarget") {
                    return false;
                }
                conditions.push(PodCondition {
                    type_: "DisruptionTarget".to_owned(),
                    status: "True".to_owned(),
                    reason: Some("DeletionByPodGC".to_owned()),
                    message: Some(message.to_owned()),
                    last_transition_time: Some(Time(now)),
                    last_probe_time: None,
                    observed_generation: None,
                });
                // A pod that never finished is Failed (`markFailedAndDeletePodWithCondition`).
                if !finished {
                    status.phase = Some("Failed".to_owned());
                }
                true
            })
            .await;
        match marked {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
        let options = DeleteOptions {
            grace_period_seconds: Some(0),
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

/// Not Ready, with the out-of-service taint (`gcTerminating`'s node filter).
fn out_of_service(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == TAINT_OUT_OF_SERVICE));
    !ready && tainted
}
