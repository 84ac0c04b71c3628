//! An agent on "another machine": a `kbatch agent` process with its own node name and data
//! dir, talking to a `kbatch server` (whose embedded agent runs too) only over HTTPS with the
//! server's kubeconfig. Pods bound to it run there: their status, exit codes and events
//! reach the server through the API, their service account tokens come from it, and the
//! agent carries on when the server restarts. (The test reads the pods' logs in the agent's
//! data dir; `kubectl logs` of them is tests/node_logs.rs' subject.)

mod common;

use std::time::Duration;

use common::{RemoteAgent, Server, has_entry_with, have_kubectl};

const REMOTE: &str = "far-node";
const LOCAL: &str = "main-node";
/// The remote node's address (any loopback address will do on Linux).
const REMOTE_IP: &str = "127.0.0.2";
const LONG: Duration = Duration::from_secs(120);
/// The remote node's labels, from the agent's flags.
const AGENT_LABELS: &[&str] = &["--labels", "example.com/zone=far,tier=batch"];

fn jsonpath(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

#[test]
fn a_remote_agent_runs_the_pods_bound_to_its_node() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start_with(&["--node-name", LOCAL, "--backoff-base", "1s"]);
    let agent = RemoteAgent::start(&s, REMOTE, REMOTE_IP, AGENT_LABELS);

    // Both nodes register and are Ready; the remote one with the labels asked for.
    for node in [LOCAL, REMOTE] {
        s.wait_for(
            &[
                "get",
                "node",
                node,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
            LONG,
            |out| out == "True",
        );
    }
    let nodes = s.ok(&["get", "nodes"]);
    for node in [LOCAL, REMOTE] {
        let line = nodes
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("{node} missing from:\n{nodes}"));
        assert!(line.contains(" Ready "), "{line}");
    }
    assert_eq!(
        jsonpath(
            &s,
            &format!("node/{REMOTE}"),
            "{.metadata.labels.example\\.com/zone}"
        ),
        "far"
    );
    assert_eq!(
        jsonpath(&s, &format!("node/{REMOTE}"), "{.metadata.labels.tier}"),
        "batch"
    );
    assert_eq!(
        jsonpath(
            &s,
            &format!("node/{REMOTE}"),
            "{.status.addresses[?(@.type==\"InternalIP\")].address}"
        ),
        REMOTE_IP
    );
    // The heartbeat: the node's Lease, held by the node.
    s.wait_for(
        &[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            REMOTE,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        LONG,
        |out| out == REMOTE,
    );

    // A Job pinned to the remote node, reading a ConfigMap (a get through the API) into
    // its environment.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{greeting: hello-from-far}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: far-ok}}
spec:
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{kubernetes.io/hostname: {REMOTE}}}
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'echo \"$GREETING\"']
        env:
        - name: GREETING
          valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}
"
        ),
    );
    s.wait_condition("job/far-ok", "complete");
    let pod = s.first_pod_of("far-ok", LONG);
    let what = format!("pod/{pod}");
    assert_eq!(jsonpath(&s, &what, "{.spec.nodeName}"), REMOTE);
    assert_eq!(jsonpath(&s, &what, "{.status.hostIP}"), REMOTE_IP);
    assert_eq!(jsonpath(&s, &what, "{.status.phase}"), "Succeeded");
    assert_eq!(
        jsonpath(
            &s,
            &what,
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "0"
    );
    assert_eq!(
        jsonpath(
            &s,
            &what,
            "{.status.containerStatuses[0].state.terminated.reason}"
        ),
        "Completed"
    );
    let events = s.wait_for(
        &[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod}"),
            "-o",
            "jsonpath={range .items[*]}{.reason}/{.source.host}{\"\\n\"}{end}",
        ],
        LONG,
        |out| out.contains("Started/"),
    );
    assert!(
        events.contains(&format!("Created/{REMOTE}")),
        "events: {events}"
    );
    assert!(
        events.contains(&format!("Started/{REMOTE}")),
        "events: {events}"
    );
    let log = agent
        .log(&pod, "work")
        .expect("the pod's log on the remote agent");
    assert!(log.contains("stdout F hello-from-far"), "log: {log}");
    assert!(
        !has_entry_with(&s.data_dir().join("agent/logs"), &format!("_{pod}_")),
        "the server's own node ran the pod"
    );

    // The pod's service account token comes from the server (a TokenRequest over HTTPS),
    // and with it and the `kubernetes` service variables (the server's address) an
    // in-cluster kubectl on the remote node lists the Jobs. `HOME` is an empty directory so
    // that no kubeconfig of the host's user wins over the in-cluster config.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: far-in-cluster}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{kubernetes.io/hostname: {REMOTE}}}
      volumes: [{{name: home, emptyDir: {{}}}}]
      containers:
      - name: main
        image: busybox
        env: [{{name: HOME, value: /home/in-cluster}}]
        command: [sh, -c, 'echo \"api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT\"; kubectl get jobs -o name']
        volumeMounts: [{{name: home, mountPath: /home/in-cluster}}]
"
        ),
    );
    let pod = s.first_pod_of("far-in-cluster", LONG);
    let out = s.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/far-in-cluster",
        "--timeout=120s",
    ]);
    let log = agent.log(&pod, "main").unwrap_or_default();
    assert!(out.success, "the in-cluster kubectl failed: {log}");
    let api = s.url.trim_start_matches("https://");
    assert!(log.contains(&format!("stdout F api={api}")), "log: {log}");
    assert!(log.contains("stdout F job.batch/far-ok"), "log: {log}");

    // A failing pod: its exit code and Failed phase reach the server; the Job fails.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: far-fail}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{kubernetes.io/hostname: {REMOTE}}}
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'exit 7']
"
        ),
    );
    s.wait_condition("job/far-fail", "failed");
    let pod = s.first_pod_of("far-fail", LONG);
    let what = format!("pod/{pod}");
    assert_eq!(jsonpath(&s, &what, "{.spec.nodeName}"), REMOTE);
    assert_eq!(jsonpath(&s, &what, "{.status.phase}"), "Failed");
    assert_eq!(
        jsonpath(
            &s,
            &what,
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "7"
    );
    assert_eq!(
        jsonpath(
            &s,
            &what,
            "{.status.containerStatuses[0].state.terminated.reason}"
        ),
        "Error"
    );
    assert!(agent.has_logs_of(&pod));

    // Deleting a Job with a running pod on the remote node: the agent stops the pod and
    // makes the final delete, so the pod goes.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: far-long}}
spec:
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      nodeSelector: {{kubernetes.io/hostname: {REMOTE}}}
      containers:
      - name: work
        image: busybox
        command: [sleep, '600']
"
        ),
    );
    let pod = s.first_pod_of("far-long", LONG);
    s.wait_for(
        &[
            "get",
            &format!("pod/{pod}"),
            "-o",
            "jsonpath={.status.phase}",
        ],
        LONG,
        |out| out == "Running",
    );
    s.ok(&[
        "delete",
        "job",
        "far-long",
        "--cascade=foreground",
        "--wait=false",
    ]);
    s.wait_for(
        &["get", "pods", "-l", "job-name=far-long", "-o", "name"],
        LONG,
        |out| out.trim().is_empty(),
    );
}

/// A Job of one pod pinned to the remote node, running `command`.
fn pinned_job(s: &Server, name: &str, command: &str) {
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{kubernetes.io/hostname: {REMOTE}}}
      containers:
      - name: work
        image: busybox
        command: [sh, -c, '{command}']
"
        ),
    );
}

/// The agent reconnects when its server goes away and comes back at the same address: a
/// pod that ran on while the server was down reports its end, and new pods run.
#[test]
fn the_agent_carries_on_across_a_server_restart() {
    if !have_kubectl() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--node-name", LOCAL, "--listen", listen.as_str()];
    let s = Server::start_with(&args);
    let agent = RemoteAgent::start(&s, REMOTE, REMOTE_IP, AGENT_LABELS);
    pinned_job(&s, "before", "exit 0");
    s.wait_condition("job/before", "complete");

    // A pod that outlives the server's absence: it waits for a file the test makes while
    // the server is down.
    let flag = agent.dir.path().join("go");
    pinned_job(
        &s,
        "across",
        &format!(
            "while [ ! -e {} ]; do sleep 0.2; done; exit 3",
            flag.display()
        ),
    );
    let pod = s.first_pod_of("across", LONG);
    s.wait_for(
        &[
            "get",
            &format!("pod/{pod}"),
            "-o",
            "jsonpath={.status.phase}",
        ],
        LONG,
        |out| out == "Running",
    );
    let dir = s.stop();
    std::fs::write(&flag, "").unwrap();
    let s = Server::start_in(dir, &args);

    s.wait_condition("job/across", "failed");
    let what = format!("pod/{pod}");
    assert_eq!(jsonpath(&s, &what, "{.status.phase}"), "Failed");
    assert_eq!(
        jsonpath(
            &s,
            &what,
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "3"
    );
    pinned_job(&s, "after", "exit 0");
    s.wait_condition("job/after", "complete");
    let pod = s.first_pod_of("after", LONG);
    assert_eq!(
        jsonpath(&s, &format!("pod/{pod}"), "{.spec.nodeName}"),
        REMOTE
    );
    assert!(agent.has_logs_of(&pod));
}
