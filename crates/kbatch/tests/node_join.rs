//! Joining a node with a bootstrap token, and losing it: `kbatch token create` on the server,
//! `kbatch agent --server … --token … --ca-cert-hash …` as it prints it; the agent's own
//! credential is a node's (`kubectl auth whoami`, and the Node authorizer refuses it the rest);
//! a wrong hash is refused before anything is sent. Then the agent is SIGKILLed with a pod
//! running: with shortened timeouts the node goes Unknown and tainted, the pod is evicted, the
//! Job's replacement runs on the server's own node, and the Job completes once the node is
//! declared out of service (the pod garbage collector ends the evicted pod); the agent,
//! started again on its data dir, uses the credential it kept.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, have_kubectl};

const LOCAL: &str = "main-node";
const REMOTE: &str = "joiner";
const LONG: Duration = Duration::from_secs(120);

fn join_command(s: &Server) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(["token", "create", "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[5].to_owned(), words[7].to_owned())
}

fn agent(s: &Server, dir: &Path, token: &str, hash: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kbatch"));
    c.arg("agent")
        .args(["--server", &s.url, "--token", token, "--ca-cert-hash", hash])
        .args(["--node-name", REMOTE, "--node-ip", "127.0.0.2"])
        // Tests run side by side: kubelet's port 10250 would be taken by the first.
        .args(["--log-port", "0"])
        .arg("--data-dir")
        .arg(dir)
        .arg("--run-dir")
        .arg(dir.join("run"))
        .env("KBATCH_LOG", "warn")
        .stdout(Stdio::null());
    c
}

/// An agent SIGKILLed when dropped, and what its pods left mounted in its data dir detached.
struct Killed(Child, PathBuf);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        common::unmount_under(&self.1);
    }
}

fn node_ready(s: &Server, node: &str) -> String {
    s.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
}

#[test]
fn a_joined_node_has_a_nodes_rights_and_its_lost_pods_are_replaced() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start_with(&[
        "--node-name",
        LOCAL,
        "--node-monitor-period",
        "500ms",
        // Agents renew their Lease every 10 s: a shorter grace would lose live nodes.
        "--node-monitor-grace-period",
        "20s",
        "--default-unreachable-toleration-seconds",
        "2",
        "--default-not-ready-toleration-seconds",
        "2",
    ]);
    let (token, hash) = join_command(&s);
    let dir = tempfile::tempdir().unwrap();

    // A wrong hash: refused, and no credential is kept.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = agent(&s, dir.path(), &token, &wrong)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("this is not the server the token is for"),
        "{err}"
    );
    assert!(!dir.path().join("agent.kubeconfig").exists());

    let child = Killed(
        agent(&s, dir.path(), &token, &hash)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
        dir.path().to_owned(),
    );
    s.wait_for(&["get", "nodes", "-o", "name"], LONG, |o| {
        o.contains(&format!("node/{REMOTE}"))
    });
    s.wait_for(
        &[
            "get",
            "node",
            REMOTE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        LONG,
        |o| o == "True",
    );

    // The agent's credential is the node's, kept private, and worth a node's rights only.
    let kubeconfig = dir.path().join("agent.kubeconfig");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kubeconfig).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let as_node = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
        all.extend_from_slice(args);
        s.kubectl(&all)
    };
    let whoami = as_node(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(
        whoami.stdout,
        format!("system:node:{REMOTE}"),
        "{}",
        whoami.stderr
    );
    let refused = as_node(&["get", "jobs", "-A"]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains(&format!(
            "User \"system:node:{REMOTE}\" cannot list resource \"jobs\""
        )),
        "{}",
        refused.stderr
    );

    // A pod of the Job runs on the joined node (the server's own is cordoned meanwhile)...
    s.ok(&["cordon", LOCAL]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: batch/v1
kind: Job
metadata: {name: survivor}
spec:
  backoffLimit: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        command: [sh, -c, 'if [ "$NODE" = joiner ]; then sleep 600; fi; echo done on $NODE']
"#,
    );
    let first = s.wait_for(
        &[
            "get",
            "pods",
            "-l",
            "job-name=survivor",
            "-o",
            "jsonpath={.items[?(@.status.phase==\"Running\")].metadata.name}",
        ],
        LONG,
        |o| !o.trim().is_empty(),
    );
    let first = first.trim().to_owned();
    assert_eq!(
        s.ok(&["get", "pod", &first, "-o", "jsonpath={.spec.nodeName}"]),
        REMOTE
    );

    // ...until the node is lost: Unknown and tainted, the pod evicted and replaced here.
    drop(child);
    s.ok(&["uncordon", LOCAL]);
    s.wait_for(
        &[
            "get",
            "node",
            REMOTE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        LONG,
        |o| o == "Unknown",
    );
    let taints = s.ok(&[
        "get",
        "node",
        REMOTE,
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        taints.contains("node.kubernetes.io/unreachable"),
        "{taints}"
    );
    // The replacement succeeds here; the evicted pod stays Terminating (nothing on the lost
    // node can confirm its end), so the Job meets its success criteria but is not Complete...
    s.wait_for(
        &[
            "get",
            "job",
            "survivor",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"SuccessCriteriaMet\")].status}",
        ],
        LONG,
        |o| o == "True",
    );
    let disruption = s.ok(&[
        "get",
        "pod",
        &first,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
    ]);
    assert_eq!(disruption, "DeletionByTaintManager");
    let replacement = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=survivor",
        "-o",
        &format!("jsonpath={{.items[?(@.spec.nodeName==\"{LOCAL}\")].metadata.name}}"),
    ]);
    let logs = s.ok(&["logs", replacement.trim()]);
    assert!(logs.contains(&format!("done on {LOCAL}")), "{logs}");
    assert_eq!(node_ready(&s, LOCAL), "True");
    // ...until the operator declares the node out of service, as on Kubernetes: the pod
    // garbage collector force-deletes the pod and the Job completes.
    s.ok(&[
        "taint",
        "node",
        REMOTE,
        "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
    ]);
    s.wait_for(
        &[
            "get",
            "job",
            "survivor",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Complete\")].status}",
        ],
        LONG,
        |o| o == "True",
    );
    assert!(!s.ok(&["get", "pods", "-o", "name"]).contains(&first));
    s.ok(&[
        "taint",
        "node",
        REMOTE,
        "node.kubernetes.io/out-of-service-",
    ]);

    // The agent again, on its data dir: no token needed any more (a made-up one will do), and
    // it is Ready again.
    let again = Killed(
        agent(&s, dir.path(), "abcdef.0000000000000000", &wrong)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
        dir.path().to_owned(),
    );
    s.wait_for(
        &[
            "get",
            "node",
            REMOTE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        LONG,
        |o| o == "True",
    );
    drop(again);
}
