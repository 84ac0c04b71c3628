//! Restart safety for real: a `kbatch server` SIGKILLed while pods run, restarted on the
//! same data dir, adopts the runs its shims kept going; they end as they really end, with
//! all their output, and a Job loses nothing to the crash.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Server, have_kubectl};

const LONG: Duration = Duration::from_secs(60);

fn jsonpath(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn phase_is(s: &Server, pod: &str, phase: &str) {
    s.wait_for(
        &["get", "pod", pod, "-o", "jsonpath={.status.phase}"],
        LONG,
        |p| p == phase,
    );
}

/// `until [ -e <gate> ]; do sleep 0.05; done`
fn wait_for_file(gate: &Path) -> String {
    format!("until [ -e {} ]; do sleep 0.05; done", gate.display())
}

#[test]
fn a_pod_running_when_the_server_is_killed_is_adopted_after_the_restart() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    let (down, up) = (s.dir.path().join("down"), s.dir.path().join("up"));
    let marker = s.dir.path().join("said-while-down");
    let script = format!(
        "echo started; {}; echo while-down; touch {}; {}; echo done",
        wait_for_file(&down),
        marker.display(),
        wait_for_file(&up),
    );
    let manifest = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "survivor"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c", script],
        }]},
    });
    s.ok_stdin(&["apply", "-f", "-"], &manifest.to_string());
    phase_is(&s, "survivor", "Running");

    let dir = s.stop();
    // With no server, the container goes on writing output (a dead reader would have
    // killed it with SIGPIPE).
    std::fs::write(&down, "").unwrap();
    let deadline = Instant::now() + LONG;
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the container stopped with the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = Server::start_in(dir, &[]);
    // Following the log works across the restart, and ends when the run does.
    let mut follow = s
        .kubectl_command()
        .args(["logs", "-f", "survivor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(&up, "").unwrap();
    phase_is(&s, "survivor", "Succeeded");
    let state = jsonpath(
        &s,
        "pod/survivor",
        "{.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].restartCount}",
    );
    assert_eq!(state, "Completed 0 0");
    assert_eq!(s.ok(&["logs", "survivor"]), "started\nwhile-down\ndone\n");
    let deadline = Instant::now() + LONG;
    while follow.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = follow.kill();
            panic!("kubectl logs -f did not end with the run");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut followed = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut followed)
        .unwrap();
    assert_eq!(followed, "started\nwhile-down\ndone\n");
}

#[test]
fn an_indexed_job_completes_across_a_server_kill_without_failures() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    let gate = s.dir.path().join("gate");
    let manifest = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: crash}}
spec:
  completions: 6
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX; {}']
",
        wait_for_file(&gate)
    );
    s.ok_stdin(&["apply", "-f", "-"], &manifest);
    s.wait_for(
        &[
            "get",
            "pods",
            "-l",
            "job-name=crash",
            "--field-selector=status.phase=Running",
            "-o",
            "name",
        ],
        LONG,
        |out| out.lines().count() == 3,
    );

    let dir = s.stop();
    let s = Server::start_in(dir, &[]);
    std::fs::write(&gate, "").unwrap();
    let out = s.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/crash",
        "--timeout=60s",
    ]);
    assert!(
        out.success,
        "{}{}\n{}",
        out.stdout,
        out.stderr,
        s.kubectl(&["get", "job/crash", "-o", "yaml"]).stdout
    );
    assert_eq!(
        jsonpath(
            &s,
            "job/crash",
            "{.status.succeeded} {.status.failed} {.status.completedIndexes}"
        ),
        "6  0-5"
    );
    // Each index ran to success exactly once, and no run was lost to the crash.
    let pods = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=crash",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.status.phase}{\"\\n\"}{end}",
    ]);
    let mut rows: Vec<&str> = pods.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "0 Succeeded",
            "1 Succeeded",
            "2 Succeeded",
            "3 Succeeded",
            "4 Succeeded",
            "5 Succeeded"
        ],
        "{pods}"
    );
}
