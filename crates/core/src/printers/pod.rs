//! Pods: `NAME READY STATUS RESTARTS AGE` + wide `IP NODE NOMINATED NODE READINESS GATES`
//! (`podColumnDefinitions` and `printPod`).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::duration::{instant, translate_timestamp_since};
use super::{age_column, column, name_column};
use crate::table::{TableColumnDefinition, TableRowCondition};

/// `apiv1.PodStatus{}.SwaggerDoc()["podIP"]`.
const POD_IP_DESCRIPTION: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
/// `apiv1.PodSpec{}.SwaggerDoc()["nodeName"]`.
const NODE_NAME_DESCRIPTION: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
/// `apiv1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]`.
const NOMINATED_NODE_DESCRIPTION: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
/// `apiv1.PodSpec{}.SwaggerDoc()["readinessGates"]`.
const READINESS_GATES_DESCRIPTION: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";

/// `node.NodeUnreachablePodReason`: the status reason of pods on a lost node.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column(
            "Ready",
            "string",
            0,
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        column(
            "Status",
            "string",
            0,
            "The aggregate status of the containers in this pod.",
        ),
        column(
            "Restarts",
            "string",
            0,
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_column(),
        column("IP", "string", 1, POD_IP_DESCRIPTION),
        column("Node", "string", 1, NODE_NAME_DESCRIPTION),
        column("Nominated Node", "string", 1, NOMINATED_NODE_DESCRIPTION),
        column("Readiness Gates", "string", 1, READINESS_GATES_DESCRIPTION),
    ]
}

/// `podSuccessConditions` / `podFailedConditions`: a finished pod's row is `Completed`.
pub(super) fn conditions(pod: &Pod) -> Vec<TableRowCondition> {
    let (reason, message) = match phase(pod) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![TableRowCondition {
        type_: "Completed".to_owned(),
        status: "True".to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
    }]
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// P-30…P-33: `printPod`.
pub(super) fn cells(pod: &Pod, now: Timestamp) -> Vec<Value> {
    let summary = summarize(pod);
    let restarts = match summary.last_restart {
        Some(at) if summary.restarts != 0 => format!(
            "{} ({} ago)",
            summary.restarts,
            translate_timestamp_since(Some(&Time(at)), now)
        ),
        _ => summary.restarts.to_string(),
    };
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let pod_ip = status
        .and_then(|s| s.pod_ips.as_ref())
        .and_then(|ips| ips.first())
        .map_or("", |ip| ip.ip.as_str());
    vec![
        Value::from(pod.metadata.name.as_deref().unwrap_or("")),
        Value::from(format!("{}/{}", summary.ready, summary.total)),
        Value::from(summary.reason),
        Value::from(restarts),
        Value::from(translate_timestamp_since(
            pod.metadata.creation_timestamp.as_ref(),
            now,
        )),
        Value::from(or_none(pod_ip)),
        Value::from(or_none(
            spec.and_then(|s| s.node_name.as_deref()).unwrap_or(""),
        )),
        Value::from(or_none(
            status
                .and_then(|s| s.nominated_node_name.as_deref())
                .unwrap_or(""),
        )),
        Value::from(readiness_gates(pod)),
    ]
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

/// What `printPod` works out from the containers: READY, STATUS and RESTARTS.
#[derive(Debug)]
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

/// Restart counts and the latest `lastState.terminated.finishedAt` over a set of containers.
#[derive(Debug, Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, status: &ContainerStatus) {
        self.count += i64::from(status.restart_count);
        let finished = status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| instant(t.finished_at.as_ref().map(|t| t.0)));
        if finished > self.last {
            self.last = finished;
        }
    }
}

fn summarize(pod: &Pod) -> Summary {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init_containers = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();

    // P-30: sidecars (restartable init containers) count towards the total.
    let total = containers.len()
        + init_containers
            .iter()
            .filter(|c| is_restartable_init_container(Some(c)))
            .count();
    let mut ready = 0;

    // P-31: the status reason if set, else the phase.
    let mut reason = status
        .and_then(|s| s.reason.as_deref())
        .filter(|r| !r.is_empty())
        .unwrap_or(phase(pod))
        .to_owned();
    if conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".to_owned();
    }

    let mut all = Restarts::default();
    let mut sidecars = Restarts::default();
    let mut initializing = false;
    for (i, cs) in init_statuses.iter().enumerate() {
        all.add(cs);
        // Go looks the spec up by name in a map, so with duplicate names the last one wins.
        let restartable =
            is_restartable_init_container(init_containers.iter().rev().find(|c| c.name == cs.name));
        if restartable {
            sidecars.add(cs);
        }
        let state = cs.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting_reason = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .unwrap_or("");
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if restartable && cs.started == Some(true) {
            if cs.ready {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            format!("Init:{}", terminated_reason(t))
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        initializing = true;
        break;
    }

    let mut restarts = all;
    if !initializing || is_pod_initialized_condition_true(conditions) {
        // Once initialized, only sidecar restarts count alongside the regular containers'.
        restarts = sidecars;
        let mut has_running = false;
        for cs in statuses.iter().rev() {
            restarts.add(cs);
            let state = cs.state.as_ref();
            let waiting_reason = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(w) = waiting_reason {
                reason = w.to_owned();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t);
            } else if cs.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last-listed container completed while another still runs is not done.
        if reason == "Completed" && has_running {
            reason = if has_pod_ready_condition(conditions) {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if status.and_then(|s| s.reason.as_deref()) == Some(NODE_UNREACHABLE_POD_REASON) {
            reason = "Unknown".to_owned();
        } else if !matches!(phase(pod), "Succeeded" | "Failed") {
            reason = "Terminating".to_owned();
        }
    }

    Summary {
        ready,
        total,
        reason,
        restarts: restarts.count,
        last_restart: restarts.last,
    }
}

/// A terminated container's reason, else `Signal:<n>`, else `ExitCode:<n>`.
fn terminated_reason(t: &ContainerStateTerminated) -> String {
    match t.reason.as_deref() {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => match t.signal {
            Some(signal) if signal != 0 => format!("Signal:{signal}"),
            _ => format!("ExitCode:{}", t.exit_code),
        },
    }
}

/// `podutil.IsRestartableInitContainer`: an init container with `restartPolicy: Always` (a
/// sidecar). A status without a matching spec entry is not one.
fn is_restartable_init_container(c: Option<&Container>) -> bool {
    c.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

/// `isPodInitializedConditionTrue`: the first `Initialized` condition decides.
fn is_pod_initialized_condition_true(conditions: &[PodCondition]) -> bool {
    conditions
        .iter()
        .find(|c| c.type_ == "Initialized")
        .is_some_and(|c| c.status == "True")
}

/// `hasPodReadyCondition`: any `Ready` condition that is `True`.
fn has_pod_ready_condition(conditions: &[PodCondition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// P-33: `<true gates>/<gates>`, where a gate counts by the first condition of its type.
fn readiness_gates(pod: &Pod) -> String {
    let gates = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default();
    if gates.is_empty() {
        return "<none>".to_owned();
    }
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let true_gates = gates
        .iter()
        .filter(|g| {
            conditions
                .iter()
                .find(|c| c.type_ == g.condition_type)
                .is_some_and(|c| c.status == "True")
        })
        .count();
    format!("{true_gates}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn status_cell(p: &Pod) -> String {
        cells(p, now())[2].as_str().unwrap().to_owned()
    }

    fn job_pod(phase: &str, state: Value, ready: bool) -> Pod {
        pod(json!({
            "metadata": {"name": "pi-abcde", "creationTimestamp": "2026-03-01T11:59:00Z"},
            "spec": {"containers": [{"name": "pi", "image": "perl"}]},
            "status": {
                "phase": phase,
                "containerStatuses": [{
                    "name": "pi", "image": "perl", "imageID": "", "restartCount": 0,
                    "ready": ready, "state": state
                }]
            }
        }))
    }

    // P-31: a Job's pod from Pending to its end: Pending, ContainerCreating, Running, then
    // Completed or Error.
    #[test]
    fn p31_typical_job_pod_lifecycle() {
        let pending = pod(json!({
            "spec": {"containers": [{"name": "pi"}]},
            "status": {"phase": "Pending"}
        }));
        assert_eq!(status_cell(&pending), "Pending");
        let creating = job_pod(
            "Pending",
            json!({"waiting": {"reason": "ContainerCreating"}}),
            false,
        );
        assert_eq!(status_cell(&creating), "ContainerCreating");
        let running = job_pod(
            "Running",
            json!({"running": {"startedAt": "2026-03-01T11:59:30Z"}}),
            true,
        );
        assert_eq!(status_cell(&running), "Running");
        assert_eq!(cells(&running, now())[1], "1/1");
        let done = job_pod(
            "Succeeded",
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            false,
        );
        assert_eq!(status_cell(&done), "Completed");
        assert_eq!(cells(&done, now())[1], "0/1");
        let failed = job_pod(
            "Failed",
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
            false,
        );
        assert_eq!(status_cell(&failed), "Error");
    }

    // P-31: status.reason beats the phase; SchedulingGated beats both.
    #[test]
    fn p31_reason_and_scheduling_gate() {
        let evicted = pod(json!({"status": {"phase": "Failed", "reason": "Evicted"}}));
        assert_eq!(status_cell(&evicted), "Evicted");
        let gated = pod(json!({"status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
        ]}}));
        assert_eq!(status_cell(&gated), "SchedulingGated");
    }

    // P-31: waiting reasons and terminations without a reason.
    #[test]
    fn p31_container_states() {
        let crash = job_pod(
            "Running",
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            false,
        );
        assert_eq!(status_cell(&crash), "CrashLoopBackOff");
        let signal = job_pod(
            "Running",
            json!({"terminated": {"exitCode": 137, "signal": 9}}),
            false,
        );
        assert_eq!(status_cell(&signal), "Signal:9");
        let exit = job_pod("Running", json!({"terminated": {"exitCode": 3}}), false);
        assert_eq!(status_cell(&exit), "ExitCode:3");
        // A waiting state without a reason leaves the phase.
        let quiet = job_pod("Pending", json!({"waiting": {}}), false);
        assert_eq!(status_cell(&quiet), "Pending");
    }

    fn two_containers(ready_condition: bool) -> Pod {
        pod(json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready_condition { "True" } else { "False" }}],
                "containerStatuses": [
                    {"name": "a", "image": "", "imageID": "", "restartCount": 0, "ready": true,
                     "state": {"running": {}}},
                    {"name": "b", "image": "", "imageID": "", "restartCount": 0, "ready": false,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                ]
            }
        }))
    }

    // P-31: `Completed` with a container still running and ready reads `Running`, or
    // `NotReady` without the pod's Ready condition.
    #[test]
    fn p31_completed_with_running_container() {
        assert_eq!(status_cell(&two_containers(true)), "Running");
        assert_eq!(status_cell(&two_containers(false)), "NotReady");
        assert_eq!(cells(&two_containers(true), now())[1], "1/2");
    }

    fn init_pod(init_state: Value, extra_conditions: Value) -> Pod {
        pod(json!({
            "spec": {
                "initContainers": [{"name": "init-a"}, {"name": "init-b"}],
                "containers": [{"name": "main"}]
            },
            "status": {
                "phase": "Pending",
                "conditions": extra_conditions,
                "initContainerStatuses": [
                    {"name": "init-a", "image": "", "imageID": "", "restartCount": 0, "ready": true,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "init-b", "image": "", "imageID": "", "restartCount": 2, "ready": false,
                     "state": init_state,
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T11:55:00Z"}}}
                ],
                "containerStatuses": [
                    {"name": "main", "image": "", "imageID": "", "restartCount": 0, "ready": false,
                     "state": {"waiting": {"reason": "PodInitializing"}}}
                ]
            }
        }))
    }

    // P-31: init containers: failure reasons, waiting reasons, progress; P-32: their restarts
    // count while initializing.
    #[test]
    fn p31_init_containers() {
        let p = init_pod(json!({"running": {}}), json!([]));
        assert_eq!(status_cell(&p), "Init:1/2");
        assert_eq!(cells(&p, now())[3], "2 (5m ago)");
        let p = init_pod(json!({"waiting": {"reason": "PodInitializing"}}), json!([]));
        assert_eq!(status_cell(&p), "Init:1/2");
        let p = init_pod(
            json!({"waiting": {"reason": "ImagePullBackOff"}}),
            json!([]),
        );
        assert_eq!(status_cell(&p), "Init:ImagePullBackOff");
        let p = init_pod(
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
            json!([]),
        );
        assert_eq!(status_cell(&p), "Init:Error");
        let p = init_pod(json!({"terminated": {"exitCode": 2}}), json!([]));
        assert_eq!(status_cell(&p), "Init:ExitCode:2");
        let p = init_pod(
            json!({"terminated": {"exitCode": 143, "signal": 15}}),
            json!([]),
        );
        assert_eq!(status_cell(&p), "Init:Signal:15");
    }

    // P-31: with Initialized=True the regular containers decide the status even while an
    // init container status looks unfinished, and only their restarts count (P-32).
    #[test]
    fn p31_initialized_condition_overrides() {
        let p = init_pod(
            json!({"running": {}}),
            json!([{"type": "Initialized", "status": "True"}]),
        );
        assert_eq!(status_cell(&p), "PodInitializing");
        assert_eq!(cells(&p, now())[3], "0");
    }

    fn sidecar_pod(started: bool, ready: bool) -> Pod {
        pod(json!({
            "spec": {
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "main"}]
            },
            "status": {
                "phase": "Running",
                "initContainerStatuses": [
                    {"name": "proxy", "image": "", "imageID": "", "restartCount": 1,
                     "ready": ready, "started": started, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T08:00:00Z"}}}
                ],
                "containerStatuses": [
                    {"name": "main", "image": "", "imageID": "", "restartCount": 3, "ready": true,
                     "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T11:58:00Z"}}}
                ]
            }
        }))
    }

    // P-30: a started, ready sidecar counts in READY and in the total; P-32: its restarts add
    // to the regular containers'.
    #[test]
    fn p30_sidecars_count() {
        let c = cells(&sidecar_pod(true, true), now());
        assert_eq!(c[1], "2/2");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "4 (2m ago)");
        let c = cells(&sidecar_pod(true, false), now());
        assert_eq!(c[1], "1/2");
        // A sidecar that has not started yet still holds initialization.
        let c = cells(&sidecar_pod(false, false), now());
        assert_eq!(c[2], "Init:0/1");
        assert_eq!(c[3], "1 (4h ago)");
    }

    // P-32: restarts without a recorded termination time show the bare count.
    #[test]
    fn p32_restarts_without_time() {
        let p = pod(json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "image": "", "imageID": "", "restartCount": 4, "ready": true,
                 "state": {"running": {}}}
            ]}
        }));
        assert_eq!(cells(&p, now())[3], "4");
    }

    // P-31: deletion: Terminating unless finished; NodeLost reads Unknown.
    #[test]
    fn p31_deletion() {
        let mut p = job_pod("Running", json!({"running": {}}), true);
        p.metadata.deletion_timestamp = Some(Time(now()));
        assert_eq!(status_cell(&p), "Terminating");
        let mut done = job_pod(
            "Succeeded",
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            false,
        );
        done.metadata.deletion_timestamp = Some(Time(now()));
        assert_eq!(status_cell(&done), "Completed");
        let mut lost = pod(json!({"status": {"phase": "Running", "reason": "NodeLost"}}));
        lost.metadata.deletion_timestamp = Some(Time(now()));
        assert_eq!(status_cell(&lost), "Unknown");
    }

    // P-33: the wide cells.
    #[test]
    fn p33_wide_cells() {
        let p = pod(json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-03-01T11:00:00Z"},
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "a"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.9",
                "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
                "nominatedNodeName": "node-2",
                "conditions": [
                    {"type": "example.com/lb", "status": "True"},
                    {"type": "example.com/dns", "status": "False"},
                    {"type": "example.com/dns", "status": "True"}
                ]
            }
        }));
        let c = cells(&p, now());
        assert_eq!(c[4], "60m");
        assert_eq!(c[5], "10.0.0.7");
        assert_eq!(c[6], "node-1");
        assert_eq!(c[7], "node-2");
        assert_eq!(c[8], "1/2");
        let bare = pod(json!({"metadata": {"name": "x"}}));
        assert_eq!(
            Value::from(cells(&bare, now())),
            json!([
                "x",
                "0/0",
                "",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ])
        );
    }

    // Finished pods carry the `Completed` row condition.
    #[test]
    fn row_conditions_for_finished_pods() {
        let done = job_pod("Succeeded", json!({}), false);
        let c = conditions(&done);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (
                c[0].type_.as_str(),
                c[0].status.as_str(),
                c[0].reason.as_str()
            ),
            ("Completed", "True", "Succeeded")
        );
        assert_eq!(c[0].message, "The pod has completed successfully.");
        let failed = job_pod("Failed", json!({}), false);
        assert_eq!(conditions(&failed)[0].reason, "Failed");
        assert_eq!(conditions(&failed)[0].message, "The pod failed.");
        assert!(conditions(&job_pod("Running", json!({}), true)).is_empty());
    }

    #[test]
    fn columns_match_upstream() {
        let c = columns();
        let shape: Vec<(&str, i32)> = c.iter().map(|c| (c.name.as_str(), c.priority)).collect();
        assert_eq!(
            shape,
            [
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1)
            ]
        );
        assert!(c.iter().all(|c| c.type_ == "string"));
    }
}
