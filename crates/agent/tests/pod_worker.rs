//! The pod worker's state machine over the fake runtime, through the agent and the API, in
//! paused time: the statuses it reports, the runs it starts, the signals it sends.

mod common;

use std::sync::Arc;

use common::{Harness, History, condition};
use kbatch_agent::checkpoint::{Checkpoints, PodCheckpoint, ProcessRecord, RunRecord};
use kbatch_agent::runtime::fake::{Behaviour, FakeEvent, FakeRuntime};
use kbatch_agent::runtime::{StopSignal, run_id};
use kbatch_api::registry::{DeleteOptions, ListParams, PatchType, WriteOptions};
use kbatch_core::object::{CONFIGMAP, EVENT, LEASE, NODE, Object, POD, SECRET};
use serde_json::json;

async fn harness() -> (Harness, Arc<FakeRuntime>) {
    let mut h = Harness::new().await;
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(fake.clone()));
    (h, fake)
}

fn one_container(restart_policy: &str) -> serde_json::Value {
    json!({
        "restartPolicy": restart_policy,
        "containers": [{"name": "c", "image": "busybox", "command": ["run"]}]
    })
}

/// `type reason message` of the events about a pod, oldest first.
async fn event_messages(h: &Harness, pod: &str) -> Vec<String> {
    let list = h
        .registry
        .list(&EVENT, Some("default"), &ListParams::default())
        .await
        .unwrap();
    let mut events: Vec<_> = list
        .items
        .into_iter()
        .filter_map(|o| match o {
            Object::Event(e) if e.involved_object.name.as_deref() == Some(pod) => Some(e),
            _ => None,
        })
        .collect();
    events.sort_by_key(|e| e.first_timestamp.clone().map(|t| t.0));
    events
        .into_iter()
        .map(|e| {
            assert_eq!(
                e.source.as_ref().and_then(|s| s.host.as_deref()),
                Some(common::NODE)
            );
            format!(
                "{} {} {}",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect()
}

fn signals(fake: &FakeRuntime) -> Vec<(String, StopSignal)> {
    fake.events()
        .into_iter()
        .filter_map(|e| match e {
            FakeEvent::Signalled {
                container, signal, ..
            } => Some((container, signal)),
            FakeEvent::Started(_) => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn success_reports_running_then_succeeded() {
    let (h, fake) = harness().await;
    fake.script("c", [Behaviour::Run]);
    let history = History::record(&h.registry, "ok").await;
    h.run_pod("ok", one_container("Never")).await;
    let running = h.wait_phase("ok", "Running").await;
    assert_eq!(condition(&running, "Ready"), Some(("True".into(), None)));
    assert_eq!(
        condition(&running, "PodReadyToStartContainers"),
        Some(("True".into(), None))
    );
    let status = running.status.clone().unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    let c = &status.container_statuses.unwrap()[0];
    assert!(c.ready && c.started == Some(true));
    let id = c.container_id.clone().unwrap();
    let uid = running.metadata.uid.clone().unwrap();
    assert_eq!(id, format!("fake://{}", run_id(&uid, "c", 0)));

    fake.exit("c", 0);
    let done = h.wait_phase("ok", "Succeeded").await;
    let status = done.status.clone().unwrap();
    let t = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert!(t.started_at.is_some() && t.finished_at.is_some());
    assert_eq!(t.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        condition(&done, "Ready"),
        Some(("False".into(), Some("PodCompleted".into())))
    );
    assert_eq!(
        condition(&done, "Initialized"),
        Some(("True".into(), Some("PodCompleted".into())))
    );
    assert_eq!(
        condition(&done, "PodReadyToStartContainers"),
        Some(("False".into(), None))
    );
    let kinds: Vec<&str> = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(
        history.summary(),
        [
            "Pending: ",
            "Running: c=running/0",
            "Succeeded: c=Completed:0/0"
        ]
    );
    assert_eq!(fake.started(), [("c".to_owned(), 0)]);
    // The run's record goes once its exit is reported.
    assert_eq!(Checkpoints::new(h.dir.path()).load(&uid), None);
}

/// A run that ends within moments of its start is reported once, terminated, with no
/// Running write before it: kubelet too sees a start only at its next relist, so on a cluster
/// such a pod goes from Pending to Succeeded. (The agent holds the start's report for
/// `START_REPORT_HOLD`; test time stands still here until the test lets it run.)
#[tokio::test(start_paused = true)]
async fn a_run_that_ends_at_once_is_reported_in_one_write() {
    let (h, fake) = harness().await;
    fake.script("c", [Behaviour::Run]);
    let history = History::record(&h.registry, "quick").await;
    h.run_pod("quick", one_container("Never")).await;
    // Yielding, not sleeping, so that test time does not reach the end of the hold.
    for _ in 0..100_000 {
        if !fake.started().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.started(), [("c".to_owned(), 0)]);
    fake.exit("c", 0);
    h.wait_phase("quick", "Succeeded").await;
    assert_eq!(
        history.summary(),
        ["Pending: ", "Succeeded: c=Completed:0/0"]
    );
}

#[tokio::test(start_paused = true)]
async fn failure_with_restart_policy_never() {
    let (h, fake) = harness().await;
    fake.script("c", [Behaviour::Exit(3)]);
    let history = History::record(&h.registry, "bad").await;
    h.run_pod("bad", one_container("Never")).await;
    let done = h.wait_phase("bad", "Failed").await;
    let t = done.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(
        history.summary().last().map(String::as_str),
        Some("Failed: c=Error:3/0")
    );
    assert_eq!(fake.started().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn oom_kill_is_reported_as_oomkilled() {
    let (h, fake) = harness().await;
    fake.script("c", [Behaviour::OomKill]);
    h.run_pod("oom", one_container("Never")).await;
    let done = h.wait_phase("oom", "Failed").await;
    let t = done.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_in_place_with_crash_loop_back_off() {
    let (h, fake) = harness().await;
    fake.script(
        "c",
        [Behaviour::Exit(1), Behaviour::Exit(2), Behaviour::Exit(0)],
    );
    let history = History::record(&h.registry, "flaky").await;
    let pod = h.run_pod("flaky", one_container("OnFailure")).await;
    let uid = pod.metadata.uid.clone().unwrap();
    let backing_off = h
        .wait("flaky", |p| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c[0].state.as_ref())
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
        })
        .await
        .unwrap();
    let status = backing_off.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let c = &status.container_statuses.unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(
        c.state.clone().unwrap().waiting.unwrap().message.unwrap(),
        format!("back-off 10s restarting failed container=c pod=flaky_default({uid})")
    );
    let last = c.last_state.clone().unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (2, Some("Error")));
    assert_eq!(
        c.container_id.as_deref(),
        Some(format!("fake://{}", run_id(&uid, "c", 1)).as_str())
    );

    let done = h.wait_phase("flaky", "Succeeded").await;
    let c = &done.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(c.restart_count, 2);
    assert_eq!(
        c.last_state.clone().unwrap().terminated.unwrap().exit_code,
        2
    );
    assert_eq!(
        fake.started(),
        [
            ("c".to_owned(), 0),
            ("c".to_owned(), 1),
            ("c".to_owned(), 2)
        ]
    );
    // The first failure restarts at once; the second waits out the back-off.
    let summary = history.summary();
    assert!(
        summary.contains(&"Running: c=waiting:CrashLoopBackOff/1".to_owned()),
        "{summary:#?}"
    );
    assert_eq!(
        summary.last().map(String::as_str),
        Some("Succeeded: c=Completed:0/2")
    );
    // Each run has its own log file name (the attempt).
    let events = fake.events();
    let logs: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            FakeEvent::Started(spec) => Some(spec.log_path.file_name()?.to_str()?.to_owned()),
            FakeEvent::Signalled { .. } => None,
        })
        .collect();
    assert_eq!(logs, ["0.log", "1.log", "2.log"]);
}

#[tokio::test(start_paused = true)]
async fn init_containers_run_one_by_one_before_the_others() {
    let (h, fake) = harness().await;
    fake.script("init-1", [Behaviour::Run]);
    fake.script("init-2", [Behaviour::Exit(0)]);
    fake.script("main", [Behaviour::Exit(0)]);
    let history = History::record(&h.registry, "inits").await;
    h.run_pod(
        "inits",
        json!({
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "init-1", "image": "x", "command": ["a"]},
                {"name": "init-2", "image": "x", "command": ["b"]}
            ],
            "containers": [{"name": "main", "image": "x", "command": ["c"]}]
        }),
    )
    .await;
    let pending = h
        .wait("inits", |p| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.init_container_statuses.as_ref())
                .is_some_and(|c| c[0].state.as_ref().is_some_and(|s| s.running.is_some()))
        })
        .await
        .unwrap();
    assert_eq!(fake.started(), [("init-1".to_owned(), 0)]);
    assert_eq!(
        condition(&pending, "Initialized"),
        Some(("False".into(), Some("ContainersNotInitialized".into())))
    );
    fake.exit("init-1", 0);
    h.wait_phase("inits", "Succeeded").await;
    assert_eq!(
        fake.started(),
        [
            ("init-1".to_owned(), 0),
            ("init-2".to_owned(), 0),
            ("main".to_owned(), 0)
        ]
    );
    let summary = history.summary();
    assert_eq!(
        summary[1],
        "Pending: init-1=running/0 init-2=waiting:PodInitializing/0 main=waiting:PodInitializing/0"
    );
    assert_eq!(
        summary.last().unwrap(),
        "Succeeded: init-1=Completed:0/0 init-2=Completed:0/0 main=Completed:0/0"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_init_container_fails_the_pod_under_never() {
    let (h, fake) = harness().await;
    fake.script("init", [Behaviour::Exit(7)]);
    h.run_pod(
        "init-fails",
        json!({
            "restartPolicy": "Never",
            "initContainers": [{"name": "init", "image": "x", "command": ["a"]}],
            "containers": [{"name": "main", "image": "x", "command": ["c"]}]
        }),
    )
    .await;
    let done = h.wait_phase("init-fails", "Failed").await;
    let status = done.status.unwrap();
    assert_eq!(
        common::summarize(&status),
        "Failed: init=Error:7/0 main=waiting:PodInitializing/0"
    );
    assert_eq!(fake.started(), [("init".to_owned(), 0)]);
}

#[tokio::test(start_paused = true)]
async fn sidecars_start_first_and_stop_after_the_main_containers() {
    let (h, fake) = harness().await;
    fake.script("log-shipper", [Behaviour::Run]);
    fake.script("main", [Behaviour::Run]);
    h.run_pod(
        "with-sidecar",
        json!({
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "log-shipper", "image": "x", "command": ["ship"], "restartPolicy": "Always"},
                {"name": "setup", "image": "x", "command": ["setup"]}
            ],
            "containers": [{"name": "main", "image": "x", "command": ["work"]}]
        }),
    )
    .await;
    fake.script("setup", [Behaviour::Exit(0)]);
    let running = h.wait_phase("with-sidecar", "Running").await;
    assert_eq!(
        fake.started(),
        [
            ("log-shipper".to_owned(), 0),
            ("setup".to_owned(), 0),
            ("main".to_owned(), 0)
        ]
    );
    assert_eq!(condition(&running, "Ready"), Some(("True".into(), None)));
    assert!(signals(&fake).is_empty());
    fake.exit("main", 0);
    let done = h.wait_phase("with-sidecar", "Succeeded").await;
    assert_eq!(
        signals(&fake),
        [("log-shipper".to_owned(), StopSignal::Term)]
    );
    assert_eq!(
        common::summarize(done.status.as_ref().unwrap()),
        "Succeeded: log-shipper=Error:143/0 setup=Completed:0/0 main=Completed:0/0"
    );
}

#[tokio::test(start_paused = true)]
async fn a_container_without_command_fails_the_pod_at_once() {
    let (h, fake) = harness().await;
    h.run_pod(
        "no-command",
        json!({
            "restartPolicy": "OnFailure",
            "containers": [
                {"name": "ok", "image": "x", "command": ["run"]},
                {"name": "image-only", "image": "busybox"}
            ]
        }),
    )
    .await;
    let done = h.wait_phase("no-command", "Failed").await;
    let status = done.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("ContainerCannotRun"));
    let message = status.message.unwrap();
    assert!(
        message.contains("container \"image-only\" has no command"),
        "{message}"
    );
    assert!(message.contains("set `command`"), "{message}");
    assert!(message.contains("runc runtime"), "{message}");
    let statuses = status.container_statuses.unwrap();
    let t = statuses[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!(
        (statuses[0].name.as_str(), t.exit_code, t.reason.as_deref()),
        ("image-only", 128, Some("ContainerCannotRun"))
    );
    assert!(fake.started().is_empty(), "nothing may start");
}

#[tokio::test(start_paused = true)]
async fn deletion_stops_the_containers_then_deletes_the_pod_for_good() {
    let (h, fake) = harness().await;
    fake.script("c", [Behaviour::IgnoreTerm]);
    let history = History::record(&h.registry, "doomed").await;
    let mut spec = one_container("Never");
    spec["terminationGracePeriodSeconds"] = json!(5);
    h.run_pod("doomed", spec).await;
    // A finalizer, as the Job controller puts on its pods: the pod outlives kubelet's final
    // delete until it is removed, so its last status can be seen.
    let finalizer = json!({"metadata": {"finalizers": ["batch.kubernetes.io/job-tracking"]}});
    h.registry
        .patch(
            &POD,
            "default",
            "doomed",
            PatchType::Merge,
            &finalizer,
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    h.wait_phase("doomed", "Running").await;
    h.registry
        .delete(&POD, "default", "doomed", &DeleteOptions::default())
        .await
        .unwrap();
    // kubelet's final delete sets the grace period to 0.
    let deleted = h
        .wait("doomed", |p| {
            p.is_some_and(|p| p.metadata.deletion_grace_period_seconds == Some(0))
        })
        .await
        .unwrap();
    assert_eq!(
        common::summarize(deleted.status.as_ref().unwrap()),
        "Failed: c=Error:137/0"
    );
    // SIGTERM first; the container ignores it, so SIGKILL when the grace period is over.
    assert_eq!(
        signals(&fake),
        [
            ("c".to_owned(), StopSignal::Term),
            ("c".to_owned(), StopSignal::Kill)
        ]
    );
    assert_eq!(
        history.summary().last().map(String::as_str),
        Some("Failed: c=Error:137/0")
    );
    assert_eq!(
        event_messages(&h, "doomed").await,
        [
            "Normal Created Created container: c",
            "Normal Started Started container c",
            "Normal Killing Stopping container c"
        ]
    );
    let unfinalized = json!({"metadata": {"finalizers": null}});
    h.registry
        .patch(
            &POD,
            "default",
            "doomed",
            PatchType::Merge,
            &unfinalized,
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    h.wait("doomed", |p| p.is_none()).await;
}

#[tokio::test(start_paused = true)]
async fn a_pod_deleted_from_the_api_is_killed_at_once() {
    let (h, fake) = harness().await;
    h.run_pod("forced", one_container("Never")).await;
    h.wait_phase("forced", "Running").await;
    let force = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    h.registry
        .delete(&POD, "default", "forced", &force)
        .await
        .unwrap();
    h.wait("forced", |p| p.is_none()).await;
    common::eventually("the container is killed", async || {
        signals(&fake).contains(&("c".to_owned(), StopSignal::Kill))
    })
    .await;
    assert_eq!(signals(&fake), [("c".to_owned(), StopSignal::Kill)]);
}

#[tokio::test(start_paused = true)]
async fn active_deadline_fails_the_pod_with_deadline_exceeded() {
    let (h, fake) = harness().await;
    let mut spec = one_container("OnFailure");
    spec["activeDeadlineSeconds"] = json!(30);
    h.run_pod("slow", spec).await;
    let done = h.wait_phase("slow", "Failed").await;
    let status = done.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert_eq!(signals(&fake), [("c".to_owned(), StopSignal::Term)]);
    // The pod is not deleted: only stopped.
    assert!(h.get("slow").await.is_some());
}

#[tokio::test(start_paused = true)]
async fn lost_runs_after_a_restart_fail_the_pod() {
    let mut h = Harness::new().await;
    let pod = h.run_pod("orphan", one_container("Never")).await;
    let uid = pod.metadata.uid.clone().unwrap();
    let id = run_id(&uid, "c", 0);
    // What an earlier agent process left: a running status and a record of a process that
    // is gone.
    let mut running = pod.clone();
    running.status.as_mut().unwrap().container_statuses =
        Some(vec![serde_json::from_value(
        json!({"name": "c", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
               "containerID": format!("fake://{id}"),
               "state": {"running": {"startedAt": "2026-03-01T09:00:00Z"}}}),
    )
    .unwrap()]);
    running.status.as_mut().unwrap().phase = Some("Running".into());
    h.registry
        .update(
            &POD,
            "default",
            "orphan",
            Object::Pod(running),
            &WriteOptions {
                subresource: Some("status".into()),
                ..Default::default()
            },
            Vec::new(),
        )
        .await
        .unwrap();
    let record = ProcessRecord {
        pid: i32::MAX - 7,
        start_ticks: 42,
        pgid: i32::MAX - 7,
        cgroups: Vec::new(),
        shim: None,
    };
    Checkpoints::new(h.dir.path())
        .save(&PodCheckpoint {
            namespace: "default".into(),
            name: "orphan".into(),
            uid: uid.clone(),
            runs: vec![RunRecord {
                container: "c".into(),
                id: id.clone(),
                attempt: 0,
                started_at: "2026-03-01T09:00:00Z".into(),
                process: Some(record.clone()),
            }],
        })
        .unwrap();

    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(fake.clone()));
    let done = h.wait_phase("orphan", "Failed").await;
    let status = done.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("ContainerStatusUnknown"));
    assert!(
        status
            .message
            .as_deref()
            .unwrap()
            .contains("could no longer follow the process of container(s) [c]"),
        "{:?}",
        status.message
    );
    let t = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (137, Some("ContainerStatusUnknown"))
    );
    assert_eq!(fake.reclaimed(), [record]);
    assert!(fake.started().is_empty(), "a lost pod is not run again");
}

#[tokio::test(start_paused = true)]
async fn an_agent_restarted_over_the_same_runtime_adopts_its_runs() {
    let mut h = Harness::new().await;
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(fake.clone()));
    h.run_pod("kept", one_container("Never")).await;
    h.wait_phase("kept", "Running").await;
    h.stop_agent();
    h.start_agent(h.config(fake.clone()));
    fake.exit("c", 0);
    let done = h.wait_phase("kept", "Succeeded").await;
    assert_eq!(
        common::summarize(done.status.as_ref().unwrap()),
        "Succeeded: c=Completed:0/0"
    );
    assert_eq!(fake.started(), [("c".to_owned(), 0)]);
    assert!(fake.reclaimed().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_node_registers_with_a_ready_condition_and_a_lease() {
    let (h, _fake) = harness().await;
    common::eventually("the node is registered", async || {
        h.registry.get(&NODE, "", common::NODE).await.is_ok()
    })
    .await;
    let Ok(Object::Node(node)) = h.registry.get(&NODE, "", common::NODE).await else {
        panic!("not a node")
    };
    let status = node.status.unwrap();
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("True", Some("KubeletReady"))
    );
    let capacity = status.capacity.unwrap();
    assert!(capacity.contains_key("cpu") && capacity.contains_key("memory"));
    assert_eq!(capacity["pods"].0, "110");
    common::eventually("the lease is created", async || {
        h.registry
            .get(&LEASE, "kube-node-lease", common::NODE)
            .await
            .is_ok()
    })
    .await;
    let Ok(Object::Lease(lease)) = h
        .registry
        .get(&LEASE, "kube-node-lease", common::NODE)
        .await
    else {
        panic!("not a lease")
    };
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(common::NODE));
    let first = spec.renew_time.unwrap().0;
    // The lease is renewed every 10s.
    tokio::time::sleep(std::time::Duration::from_secs(25)).await;
    let Ok(Object::Lease(later)) = h
        .registry
        .get(&LEASE, "kube-node-lease", common::NODE)
        .await
    else {
        panic!("lease gone")
    };
    assert!(later.spec.unwrap().renew_time.unwrap().0 > first);
}

/// The waiting reason and message of the pod's first container.
async fn waiting_state(
    h: &Harness,
    pod: &str,
    want: (&str, &str),
) -> k8s_openapi::api::core::v1::Pod {
    let waiting = |p: Option<&k8s_openapi::api::core::v1::Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .map(|w| {
                (
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default(),
                )
            })
    };
    h.wait(pod, |p| {
        waiting(p) == Some((want.0.to_owned(), want.1.to_owned()))
    })
    .await
    .unwrap()
}

async fn create(h: &Harness, kind: &kbatch_core::object::Kind, object: serde_json::Value) {
    let obj = Object::from_value(kind, object).unwrap();
    h.registry
        .create(kind, "default", obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap();
}

/// A container whose ConfigMap is missing waits in CreateContainerConfigError with
/// kubelet's message, and starts by itself once the ConfigMap is there, with the value in
/// its environment and its volumes in its mounts.
#[tokio::test(start_paused = true)]
async fn an_unresolvable_env_var_keeps_the_container_waiting() {
    let (h, fake) = harness().await;
    h.run_pod(
        "needs-config",
        json!({
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x", "command": ["run", "$(K)"],
                "env": [
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}},
                    {"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}
                ],
                "volumeMounts": [
                    {"name": "creds", "mountPath": "/etc/creds"},
                    {"name": "scratch", "mountPath": "/work", "subPath": "w"}
                ]}],
            "volumes": [
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "scratch", "emptyDir": {}}
            ]
        }),
    )
    .await;
    let waiting = waiting_state(&h, "needs-config", ("ContainerCreating", "")).await;
    assert_eq!(waiting.status.unwrap().phase.as_deref(), Some("Pending"));
    common::eventually("the FailedMount event", async || {
        event_messages(&h, "needs-config").await.contains(
            &"Warning FailedMount MountVolume.SetUp failed for volume \"creds\" : secret \"creds\" not found".to_owned(),
        )
    })
    .await;
    create(
        &h,
        &SECRET,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
            "data": {"password": "aHVudGVyMg=="}}),
    )
    .await;
    waiting_state(
        &h,
        "needs-config",
        (
            "CreateContainerConfigError",
            "configmap \"settings\" not found",
        ),
    )
    .await;
    create(
        &h,
        &CONFIGMAP,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
            "data": {"other": "x"}}),
    )
    .await;
    waiting_state(
        &h,
        "needs-config",
        (
            "CreateContainerConfigError",
            "couldn't find key k in ConfigMap default/settings",
        ),
    )
    .await;
    assert!(fake.started().is_empty());
    let mut cm = match h
        .registry
        .get(&CONFIGMAP, "default", "settings")
        .await
        .unwrap()
    {
        Object::ConfigMap(cm) => cm,
        _ => unreachable!(),
    };
    cm.data = Some([("k".to_owned(), "v".to_owned())].into());
    h.registry
        .update(
            &CONFIGMAP,
            "default",
            "settings",
            Object::ConfigMap(cm),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    h.wait_phase("needs-config", "Running").await;
    let spec = fake
        .events()
        .into_iter()
        .find_map(|e| match e {
            FakeEvent::Started(spec) => Some(spec),
            FakeEvent::Signalled { .. } => None,
        })
        .unwrap();
    assert_eq!(spec.argv, ["run", "v"]);
    assert!(spec.env.contains(&("K".to_owned(), "v".to_owned())));
    assert!(spec.env.contains(&("P".to_owned(), "hunter2".to_owned())));
    let uid = &spec.pod.uid;
    let volumes = h.dir.path().join("pod-volumes").join(uid).join("volumes");
    let destinations: Vec<_> = spec
        .mounts
        .iter()
        .map(|m| (m.destination.to_str().unwrap(), m.read_only))
        .collect();
    // Shallowest mount path first.
    assert_eq!(destinations, [("/work", false), ("/etc/creds", true)]);
    assert_eq!(
        spec.mounts[1].source,
        volumes.join("kubernetes.io~secret/creds")
    );
    assert!(
        spec.mounts[0]
            .source
            .ends_with("kubernetes.io~empty-dir/scratch/w")
    );
    assert_eq!(
        std::fs::read_to_string(spec.mounts[1].source.join("password")).unwrap(),
        "hunter2"
    );
    let events = event_messages(&h, "needs-config").await.join("\n");
    assert!(
        events.contains("Warning Failed Error: configmap \"settings\" not found"),
        "{events}"
    );
    assert!(!events.contains("hunter2"), "{events}");
    fake.exit("c", 0);
    h.wait_phase("needs-config", "Succeeded").await;
    common::eventually("the pod's volumes are removed", async || {
        !h.dir.path().join("pod-volumes").join(uid).exists()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_init_container_is_retried_under_on_failure() {
    let (h, fake) = harness().await;
    fake.script("init", [Behaviour::Exit(1), Behaviour::Exit(0)]);
    fake.script("main", [Behaviour::Exit(0)]);
    h.run_pod(
        "init-retry",
        json!({
            "restartPolicy": "OnFailure",
            "initContainers": [{"name": "init", "image": "x", "command": ["a"]}],
            "containers": [{"name": "main", "image": "x", "command": ["c"]}]
        }),
    )
    .await;
    let done = h.wait_phase("init-retry", "Succeeded").await;
    assert_eq!(
        common::summarize(done.status.as_ref().unwrap()),
        "Succeeded: init=Completed:0/1 main=Completed:0/0"
    );
    assert_eq!(
        fake.started(),
        [
            ("init".to_owned(), 0),
            ("init".to_owned(), 1),
            ("main".to_owned(), 0)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn runs_of_pods_deleted_while_no_agent_watched_are_reclaimed() {
    let mut h = Harness::new().await;
    let record = ProcessRecord {
        pid: i32::MAX - 9,
        start_ticks: 1,
        pgid: i32::MAX - 9,
        cgroups: Vec::new(),
        shim: None,
    };
    let checkpoints = Checkpoints::new(h.dir.path());
    checkpoints
        .save(&PodCheckpoint {
            namespace: "default".into(),
            name: "vanished".into(),
            uid: "gone-uid".into(),
            runs: vec![RunRecord {
                container: "c".into(),
                id: run_id("gone-uid", "c", 0),
                attempt: 0,
                started_at: "2026-03-01T09:00:00Z".into(),
                process: Some(record.clone()),
            }],
        })
        .unwrap();
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(fake.clone()));
    common::eventually("the orphan's checkpoint is gone", async || {
        checkpoints.load("gone-uid").is_none()
    })
    .await;
    assert_eq!(fake.reclaimed(), [record]);
}

#[tokio::test(start_paused = true)]
async fn runs_of_pods_that_finished_just_before_the_agent_died_are_reclaimed() {
    let mut h = Harness::new().await;
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(fake.clone()));
    let pod = h.run_pod("finished", one_container("Never")).await;
    h.wait_phase("finished", "Running").await;
    fake.exit("c", 0);
    h.wait_phase("finished", "Succeeded").await;
    h.stop_agent();
    // The agent died after it wrote the final status, before it dropped the run's record.
    let uid = pod.metadata.uid.clone().unwrap();
    let record = ProcessRecord {
        pid: i32::MAX - 11,
        start_ticks: 1,
        pgid: i32::MAX - 11,
        cgroups: Vec::new(),
        shim: None,
    };
    let checkpoints = Checkpoints::new(h.dir.path());
    checkpoints
        .save(&PodCheckpoint {
            namespace: "default".into(),
            name: "finished".into(),
            uid: uid.clone(),
            runs: vec![RunRecord {
                container: "c".into(),
                id: run_id(&uid, "c", 0),
                attempt: 0,
                started_at: "2026-03-01T09:00:00Z".into(),
                process: Some(record.clone()),
            }],
        })
        .unwrap();
    let next = Arc::new(FakeRuntime::new(h.clock.clone()));
    h.start_agent(h.config(next.clone()));
    common::eventually("the finished pod's checkpoint is gone", async || {
        checkpoints.load(&uid).is_none()
    })
    .await;
    assert_eq!(next.reclaimed(), [record]);
    assert!(next.started().is_empty());
}

/// One container waiting for its ConfigMap does not hold back the other, and is still
/// tried again once the other has started.
#[tokio::test(start_paused = true)]
async fn a_container_waiting_for_its_config_map_starts_when_it_appears() {
    let (h, fake) = harness().await;
    h.run_pod(
        "two",
        json!({
            "restartPolicy": "Never",
            "containers": [
                {"name": "a", "image": "x", "command": ["run"],
                    "envFrom": [{"configMapRef": {"name": "for-a"}}]},
                {"name": "b", "image": "x", "command": ["run"]}
            ]
        }),
    )
    .await;
    waiting_state(
        &h,
        "two",
        (
            "CreateContainerConfigError",
            "configmap \"for-a\" not found",
        ),
    )
    .await;
    common::eventually("b runs", async || fake.started() == [("b".to_owned(), 0)]).await;
    create(
        &h,
        &CONFIGMAP,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "for-a", "namespace": "default"},
            "data": {"MODE": "on"}}),
    )
    .await;
    common::eventually("a runs", async || fake.started().len() == 2).await;
    let a = fake
        .events()
        .into_iter()
        .find_map(|e| match e {
            FakeEvent::Started(spec) if spec.name == "a" => Some(spec),
            _ => None,
        })
        .unwrap();
    assert!(a.env.contains(&("MODE".to_owned(), "on".to_owned())));
}

/// A running pod's ConfigMap volume follows the ConfigMap, as kubelet's periodic sync
/// brings it up to date.
#[tokio::test(start_paused = true)]
async fn a_config_map_volume_follows_its_config_map() {
    let (h, fake) = harness().await;
    create(
        &h,
        &CONFIGMAP,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "live", "namespace": "default"},
            "data": {"level": "info"}}),
    )
    .await;
    h.run_pod(
        "follows",
        json!({
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x", "command": ["run"],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "live"}}]
        }),
    )
    .await;
    h.wait_phase("follows", "Running").await;
    let spec = fake
        .events()
        .into_iter()
        .find_map(|e| match e {
            FakeEvent::Started(spec) => Some(spec),
            FakeEvent::Signalled { .. } => None,
        })
        .unwrap();
    let file = spec.mounts[0].source.join("level");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "info");
    let Object::ConfigMap(mut cm) = h.registry.get(&CONFIGMAP, "default", "live").await.unwrap()
    else {
        unreachable!()
    };
    cm.data = Some([("level".to_owned(), "debug".to_owned())].into());
    h.registry
        .update(
            &CONFIGMAP,
            "default",
            "live",
            Object::ConfigMap(cm),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    common::eventually("the volume's file follows the ConfigMap", async || {
        std::fs::read_to_string(&file).ok().as_deref() == Some("debug")
    })
    .await;
    fake.exit("c", 0);
    h.wait_phase("follows", "Succeeded").await;
}
