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

/// Whether `/dev/shm` is a tmpfs here, as the default run dir's last candidate.
fn dev_shm_is_tmpfs() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines().any(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.get(1..3) == Some(&["/dev/shm", "tmpfs"][..])
        })
    })
}

/// The default run dir (crates/agent/src/run_dir.rs): the runs' files, the checkpoints and
/// the token volume go to a tmpfs, not the data dir; a SIGKILLed server's successor finds
/// them there and adopts the run; a server stopped with nothing running removes them.
#[test]
fn the_default_run_dir_is_on_a_tmpfs_and_survives_a_server_kill() {
    if !have_kubectl() || !dev_shm_is_tmpfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let s = Server::start_in_default_run_dir(dir);
    let run = s.run_dir();
    let data = s.data_dir();
    assert!(!run.starts_with(&data), "{}", run.display());
    let manifest = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "held"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "c", "image": "busybox",
            "command": ["sh", "-c", format!("{}; echo done", wait_for_file(&gate))],
        }]},
    });
    s.ok_stdin(&["apply", "-f", "-"], &manifest.to_string());
    phase_is(&s, "held", "Running");
    let uid = jsonpath(&s, "pod/held", "{.metadata.uid}");
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(run.join(sub))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        names("runs")
            .iter()
            .any(|n| n.starts_with(&uid) && n.ends_with(".claim"))
    );
    assert_eq!(names("pods"), [format!("{uid}.json")]);
    assert_eq!(
        names("pod-volumes"),
        std::slice::from_ref(&uid),
        "the token volume"
    );
    for sub in ["runs", "pods", "pod-volumes"] {
        assert!(
            !data.join("agent").join(sub).exists(),
            "{sub} in the data dir"
        );
    }

    let dir = s.stop();
    let mut s = Server::start_in_default_run_dir(dir);
    assert_eq!(s.run_dir(), run, "the same data dir, the same run dir");
    std::fs::write(&gate, "").unwrap();
    phase_is(&s, "held", "Succeeded");
    assert_eq!(s.ok(&["logs", "held"]), "done\n");
    s.ok(&["delete", "pod", "held", "--wait"]);
    let deadline = Instant::now() + LONG;
    while !names("pods").is_empty() || !names("pod-volumes").is_empty() {
        assert!(Instant::now() < deadline, "the pod's state stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.terminate().success());
    assert!(
        !run.exists(),
        "a server stopped with no runs removes its run dir"
    );
}
