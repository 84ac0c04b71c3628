//! The status a pod worker reports, derived from its state alone: kubelet's
//! `generateAPIPodStatus` with `convertToAPIContainerStatuses`, `getPhase`, the condition
//! generators of `pkg/kubelet/status`, and the status manager's merge with what other
//! components wrote.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::pod_worker::{Role, Run, Slot, Terminated};

/// A container's state when it has not been started (kubelet's `defaultWaitingState`).
const CONTAINER_CREATING: &str = "ContainerCreating";
const POD_INITIALIZING: &str = "PodInitializing";

/// The condition types kubelet owns (`PodConditionByKubelet`); others are left as other
/// components wrote them.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// What a pod worker knows, as the status derivation needs it.
#[derive(Debug)]
pub(crate) struct View<'a> {
    pub pod: &'a Pod,
    pub slots: &'a [Slot],
    /// Every container has stopped and none will run again.
    pub terminal: bool,
    /// The pod's "sandbox" (its process groups and cgroups) is set up.
    pub sandbox_ready: bool,
    /// Why the pod failed as a whole (reason, message), e.g. DeadlineExceeded.
    pub failure: Option<(&'a str, &'a str)>,
    pub node_ip: &'a str,
    pub start_time: jiff::Timestamp,
}

impl Terminated {
    fn api(&self) -> ContainerStateTerminated {
        ContainerStateTerminated {
            container_id: self.container_id.clone(),
            exit_code: self.exit_code,
            finished_at: self.finished_at.map(Time),
            message: self.message.clone(),
            reason: Some(self.reason.clone()),
            signal: None,
            started_at: self.started_at.map(Time),
        }
    }
}

impl Slot {
    /// The container's status (`convertToAPIContainerStatuses` for one container).
    pub(crate) fn api_status(&self, default_waiting: &str) -> ContainerStatus {
        let waiting = |reason: &str, message: Option<String>| ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_owned()),
                message,
            }),
            ..Default::default()
        };
        let last_id = self.last.as_ref().and_then(|t| t.container_id.clone());
        let (state, container_id, running) = match &self.run {
            Run::Pending => (waiting(default_waiting, None), None, false),
            Run::Waiting { reason, message } => (waiting(reason, message.clone()), last_id, false),
            Run::BackOff { message, .. } => (
                waiting("CrashLoopBackOff", Some(message.clone())),
                last_id,
                false,
            ),
            Run::Running {
                handle,
                container_id,
            } => (
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time(handle.started_at())),
                    }),
                    ..Default::default()
                },
                Some(container_id.clone()),
                true,
            ),
            Run::Terminated(t) => (
                ContainerState {
                    terminated: Some(t.api()),
                    ..Default::default()
                },
                t.container_id.clone(),
                false,
            ),
        };
        // Without probes a started container is ready while it runs; an init container is
        // ready once it has succeeded (the prober manager's `UpdatePodStatus`).
        let ready = match self.role {
            Role::Init => matches!(&self.run, Run::Terminated(t) if t.exit_code == 0),
            Role::Sidecar | Role::Regular => running,
        };
        ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: String::new(),
            container_id,
            ready,
            started: Some(running),
            restart_count: i32::try_from(self.runs.saturating_sub(1)).unwrap_or(i32::MAX),
            state: Some(state),
            last_state: Some(ContainerState {
                terminated: self.last.as_ref().map(Terminated::api),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// The pod's status as the worker sees it, before merging with what others wrote.
pub(crate) fn pod_status(view: &View<'_>, now: jiff::Timestamp) -> PodStatus {
    let spec = view.pod.spec.clone().unwrap_or_default();
    let has_init = spec.init_containers.as_ref().is_some_and(|c| !c.is_empty());
    let default_waiting = if has_init {
        POD_INITIALIZING
    } else {
        CONTAINER_CREATING
    };
    let init: Vec<ContainerStatus> = view
        .slots
        .iter()
        .filter(|s| s.role != Role::Regular)
        .map(|s| s.api_status(default_waiting))
        .collect();
    let mut regular: Vec<ContainerStatus> = view
        .slots
        .iter()
        .filter(|s| s.role == Role::Regular)
        .map(|s| s.api_status(default_waiting))
        .collect();
    regular.sort_by(|a, b| a.name.cmp(&b.name));
    let old = view.pod.status.clone().unwrap_or_default();
    let mut phase = match view.failure {
        Some(_) => "Failed",
        None => phase(&spec, &init, &regular, view.terminal),
    };
    // A terminal phase is final (the status manager never moves a pod out of one).
    if let Some(p @ ("Succeeded" | "Failed")) = old.phase.as_deref() {
        phase = if p == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    let all: Vec<&ContainerStatus> = init.iter().chain(&regular).collect();
    let containers_ready = containers_ready(&spec, &all, phase);
    let ready = PodCondition {
        type_: "Ready".to_owned(),
        ..containers_ready.clone()
    };
    let conditions = vec![
        PodCondition {
            type_: "PodReadyToStartContainers".to_owned(),
            status: if view.sandbox_ready { "True" } else { "False" }.to_owned(),
            ..Default::default()
        },
        initialized(&spec, &all, phase),
        ready,
        containers_ready,
        PodCondition {
            type_: "PodScheduled".to_owned(),
            status: "True".to_owned(),
            ..Default::default()
        },
    ];
    let conditions = conditions
        .into_iter()
        .map(|c| with_transition_time(c, old.conditions.as_deref().unwrap_or(&[]), now))
        .collect();
    let ip = view.node_ip.to_owned();
    PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(conditions),
        reason: view.failure.map(|(r, _)| r.to_owned()),
        message: view.failure.map(|(_, m)| m.to_owned()),
        host_ip: Some(ip.clone()),
        host_ips: Some(vec![HostIP { ip: ip.clone() }]),
        pod_ip: Some(ip.clone()),
        pod_ips: Some(vec![PodIP { ip }]),
        start_time: Some(Time(old.start_time.map_or(view.start_time, |t| t.0))),
        init_container_statuses: has_init.then_some(init),
        container_statuses: Some(regular),
        ..Default::default()
    }
}

/// Keeps a condition's lastTransitionTime while its status stays (the status manager's
/// `updateLastTransitionTime`).
fn with_transition_time(
    mut c: PodCondition,
    old: &[PodCondition],
    now: jiff::Timestamp,
) -> PodCondition {
    let previous = old.iter().find(|o| o.type_ == c.type_);
    c.last_transition_time = match previous {
        Some(o) if o.status == c.status => o.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    c
}

/// The stored status with the worker's parts replaced: conditions other components own
/// come first and stay, as do the fields kubelet does not write (the status manager's
/// `mergePodStatus`).
pub(crate) fn merge(stored: Option<&PodStatus>, ours: &PodStatus) -> PodStatus {
    let mut merged = stored.cloned().unwrap_or_default();
    let mut conditions: Vec<PodCondition> = merged
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .collect();
    conditions.extend(ours.conditions.clone().unwrap_or_default());
    merged.conditions = Some(conditions);
    merged.phase = ours.phase.clone();
    merged.reason = ours.reason.clone();
    merged.message = ours.message.clone();
    merged.host_ip = ours.host_ip.clone();
    merged.host_ips = ours.host_ips.clone();
    merged.pod_ip = ours.pod_ip.clone();
    merged.pod_ips = ours.pod_ips.clone();
    merged.start_time = ours.start_time.clone();
    merged.init_container_statuses = ours.init_container_statuses.clone();
    merged.container_statuses = ours.container_statuses.clone();
    merged
}

fn is_sidecar(spec: &PodSpec, name: &str) -> bool {
    spec.init_containers
        .iter()
        .flatten()
        .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
}

fn find<'a>(statuses: &[&'a ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().copied().find(|s| s.name == name)
}

fn state_of(s: &ContainerStatus) -> ContainerState {
    s.state.clone().unwrap_or_default()
}

fn last_terminated(s: &ContainerStatus) -> Option<ContainerStateTerminated> {
    s.last_state.as_ref().and_then(|l| l.terminated.clone())
}

/// Whether any regular container has started at least once
/// (`kubecontainer.HasAnyRegularContainerStarted`).
fn any_regular_started(spec: &PodSpec, statuses: &[&ContainerStatus]) -> bool {
    spec.containers.iter().any(|c| {
        find(statuses, &c.name).is_some_and(|s| {
            let st = state_of(s);
            st.running.is_some() || st.terminated.is_some() || last_terminated(s).is_some()
        })
    })
}

/// kubelet's `getPhase`.
pub(crate) fn phase(
    spec: &PodSpec,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let all: Vec<&ContainerStatus> = init.iter().chain(regular).collect();
    let mut pending_init = 0;
    let mut failed_init = 0;
    for c in spec.init_containers.iter().flatten() {
        if c.restart_policy.as_deref() == Some("Always") {
            continue;
        }
        let Some(s) = find(&all, &c.name) else {
            pending_init += 1;
            continue;
        };
        let st = state_of(s);
        if st.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &st.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if st.waiting.is_some() {
            match last_terminated(s) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        if c.restart_policy.as_deref() != Some("Always") {
            continue;
        }
        let Some(s) = find(&all, &c.name) else {
            unknown += 1;
            continue;
        };
        let st = state_of(s);
        if st.running.is_some() {
            if s.started != Some(true) {
                pending_init += 1;
            }
            running += 1;
        } else if st.terminated.is_some() {
            // A stopped sidecar does not decide the phase.
        } else if st.waiting.is_some() {
            // Nor does one waiting to be restarted; one that never ran holds the pod back.
            if last_terminated(s).is_none() {
                pending_init += 1;
                waiting += 1;
            }
        } else {
            pending_init += 1;
            unknown += 1;
        }
    }
    for c in &spec.containers {
        let Some(s) = find(&all, &c.name) else {
            unknown += 1;
            continue;
        };
        let st = state_of(s);
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = &st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if st.waiting.is_some() {
            if last_terminated(s).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_regular_started(spec, &all)) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// `GeneratePodInitializedCondition`.
fn initialized(spec: &PodSpec, all: &[&ContainerStatus], phase: &str) -> PodCondition {
    let mut unknown = Vec::new();
    let mut incomplete = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        let Some(s) = find(all, &c.name) else {
            unknown.push(c.name.clone());
            continue;
        };
        if c.restart_policy.as_deref() == Some("Always") {
            if s.started != Some(true) {
                incomplete.push(c.name.clone());
            }
            continue;
        }
        if state_of(s).terminated.is_none_or(|t| t.exit_code != 0) {
            incomplete.push(c.name.clone());
        }
    }
    let condition = |status: &str, reason: Option<&str>, message: Option<String>| PodCondition {
        type_: "Initialized".to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..Default::default()
    };
    if phase == "Succeeded" && unknown.is_empty() {
        return condition("True", Some("PodCompleted"), None);
    }
    if any_regular_started(spec, all) {
        return condition("True", None, None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: [{}]",
            unknown.join(" ")
        ));
    }
    if !incomplete.is_empty() {
        messages.push(format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        ));
    }
    if messages.is_empty() {
        condition("True", None, None)
    } else {
        condition(
            "False",
            Some("ContainersNotInitialized"),
            Some(messages.join(", ")),
        )
    }
}

/// `GenerateContainersReadyCondition` (the Ready condition copies it: no readiness gates).
fn containers_ready(spec: &PodSpec, all: &[&ContainerStatus], phase: &str) -> PodCondition {
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_sidecar(spec, &c.name));
    for c in sidecars.chain(&spec.containers) {
        match find(all, &c.name) {
            Some(s) if !s.ready => unready.push(c.name.clone()),
            Some(_) => {}
            None => unknown.push(c.name.clone()),
        }
    }
    let condition = |status: &str, reason: Option<&str>, message: Option<String>| PodCondition {
        type_: "ContainersReady".to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..Default::default()
    };
    if phase == "Succeeded" && unknown.is_empty() {
        return condition("False", Some("PodCompleted"), None);
    }
    if phase == "Failed" {
        return condition("False", Some("PodFailed"), None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: [{}]",
            unknown.join(" ")
        ));
    }
    if !unready.is_empty() {
        messages.push(format!(
            "containers with unready status: [{}]",
            unready.join(" ")
        ));
    }
    if messages.is_empty() {
        condition("True", None, None)
    } else {
        condition(
            "False",
            Some("ContainersNotReady"),
            Some(messages.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> PodSpec {
        serde_json::from_value(json).unwrap()
    }

    fn status(
        name: &str,
        state: serde_json::Value,
        last: Option<serde_json::Value>,
    ) -> ContainerStatus {
        let mut s = serde_json::json!({
            "name": name, "image": "", "imageID": "", "ready": false, "restartCount": 0,
            "state": state
        });
        if let Some(l) = last {
            s["lastState"] = l;
        }
        serde_json::from_value(s).unwrap()
    }

    /// Cases from kubelet's `TestPodPhaseWithRestartNever` / `…OnFailure` / init containers.
    #[test]
    fn get_phase() {
        let never = spec(serde_json::json!({"restartPolicy": "Never",
            "containers": [{"name": "a"}, {"name": "b"}]}));
        let running = serde_json::json!({"running": {}});
        let ok = serde_json::json!({"terminated": {"exitCode": 0}});
        let bad = serde_json::json!({"terminated": {"exitCode": 1}});
        let waiting = serde_json::json!({"waiting": {}});
        let p =
            |spec: &PodSpec, st: Vec<ContainerStatus>, terminal| phase(spec, &[], &st, terminal);
        assert_eq!(
            p(
                &never,
                vec![
                    status("a", running.clone(), None),
                    status("b", running.clone(), None)
                ],
                false
            ),
            "Running"
        );
        assert_eq!(
            p(
                &never,
                vec![status("a", ok.clone(), None), status("b", ok.clone(), None)],
                false
            ),
            "Succeeded"
        );
        assert_eq!(
            p(
                &never,
                vec![
                    status("a", ok.clone(), None),
                    status("b", bad.clone(), None)
                ],
                false
            ),
            "Failed"
        );
        assert_eq!(
            p(
                &never,
                vec![
                    status("a", running.clone(), None),
                    status("b", bad.clone(), None)
                ],
                false
            ),
            "Running"
        );
        assert_eq!(
            p(&never, vec![status("a", running.clone(), None)], false),
            "Pending"
        );
        assert_eq!(
            p(
                &never,
                vec![
                    status("a", waiting.clone(), None),
                    status("b", running.clone(), None)
                ],
                false
            ),
            "Pending"
        );
        let on_failure = spec(serde_json::json!({"restartPolicy": "OnFailure",
            "containers": [{"name": "a"}]}));
        let last_bad = serde_json::json!({"terminated": {"exitCode": 1}});
        assert_eq!(
            p(
                &on_failure,
                vec![status("a", waiting.clone(), Some(last_bad.clone()))],
                false
            ),
            "Running"
        );
        assert_eq!(
            p(&on_failure, vec![status("a", bad.clone(), None)], false),
            "Running"
        );
        assert_eq!(
            p(&on_failure, vec![status("a", bad.clone(), None)], true),
            "Failed"
        );
        let init = spec(serde_json::json!({"restartPolicy": "Never",
            "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}));
        let st = [status("a", waiting.clone(), None)];
        assert_eq!(
            phase(&init, &[status("i", running.clone(), None)], &st, false),
            "Pending"
        );
        assert_eq!(
            phase(&init, &[status("i", bad.clone(), None)], &st, false),
            "Failed"
        );
    }

    #[test]
    fn merge_keeps_foreign_conditions_first() {
        let stored: PodStatus = serde_json::from_value(serde_json::json!({
            "phase": "Running", "qosClass": "BestEffort",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
            ]
        }))
        .unwrap();
        let ours: PodStatus = serde_json::from_value(serde_json::json!({
            "phase": "Failed",
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
        }))
        .unwrap();
        let merged = merge(Some(&stored), &ours);
        let types: Vec<&str> = merged
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["DisruptionTarget", "Ready", "PodScheduled"]);
        assert_eq!(merged.qos_class.as_deref(), Some("BestEffort"));
        assert_eq!(merged.phase.as_deref(), Some("Failed"));
    }
}
