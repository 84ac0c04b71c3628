//! Jobs run for real: the real kubectl against a real server whose controllers and local agent
//! run pods as host processes (job.md rules cited where a check pins one).

mod common;

use std::time::Duration;

use common::{Server, have_kubectl};

fn server() -> Option<Server> {
    have_kubectl().then(|| Server::start_with(&["--backoff-base", "1s", "--backoff-max", "4s"]))
}

const LONG: Duration = Duration::from_secs(60);

fn jsonpath(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn apply(s: &Server, manifest: &str) {
    s.ok_stdin(&["apply", "-f", "-"], manifest);
}

fn wait(s: &Server, what: &str, condition: &str) {
    let out = s.kubectl(&[
        "wait",
        &format!("--for=condition={condition}"),
        what,
        "--timeout=60s",
    ]);
    assert!(
        out.success,
        "{what} never became {condition}: {}{}\n{}",
        out.stdout,
        out.stderr,
        s.kubectl(&["get", what, "-o", "yaml"]).stdout
    );
}

#[test]
fn completions_and_parallelism() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: five}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'echo done']
",
    );
    wait(&s, "job/five", "complete");
    assert_eq!(jsonpath(&s, "job/five", "{.status.succeeded}"), "5");
    let table = s.ok(&["get", "job", "five"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["five", "Complete", "5/5"], "{table}");
    let pods = s.ok(&["get", "pods", "-l", "job-name=five", "-o", "name"]);
    assert_eq!(pods.lines().count(), 5, "{pods}");
    let logs = s.ok(&["logs", "job/five"]);
    assert_eq!(logs.trim(), "done");
    // J-26: the terminal condition follows SuccessCriteriaMet with the same reason.
    let conditions = jsonpath(&s, "job/five", "{.status.conditions[*].type}");
    assert_eq!(conditions, "SuccessCriteriaMet Complete");
}

#[test]
fn indexed_job_sees_its_index() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX']
",
    );
    wait(&s, "job/idx", "complete");
    // J-83
    assert_eq!(jsonpath(&s, "job/idx", "{.status.completedIndexes}"), "0-2");
    let mut seen = Vec::new();
    for pod in s
        .ok(&["get", "pods", "-l", "job-name=idx", "-o", "name"])
        .lines()
    {
        seen.push(s.ok(&["logs", pod]).trim().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["index=0", "index=1", "index=2"]);
}

#[test]
fn backoff_limit_fails_after_retries_with_delays() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'exit 1']
",
    );
    wait(&s, "job/fails", "failed");
    // J-23(4): three pods failed (backoffLimit 2 → the third failure ends the Job).
    assert_eq!(jsonpath(&s, "job/fails", "{.status.failed}"), "3");
    let reason = jsonpath(
        &s,
        "job/fails",
        "{.status.conditions[?(@.type==\"Failed\")].reason}",
    );
    assert_eq!(reason, "BackoffLimitExceeded");
    // J-50: with --backoff-base 1s the replacements wait 1s, then 2s.
    let created = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=fails",
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "jsonpath={range .items[*]}{.metadata.creationTimestamp}{\"\\n\"}{end}",
    ]);
    let times: Vec<jiff::Timestamp> = created.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 3, "{created}");
    assert!(
        times[1].duration_since(times[0]).as_secs() >= 1,
        "{created}"
    );
    assert!(
        times[2].duration_since(times[1]).as_secs() >= 2,
        "{created}"
    );
}

#[test]
fn pod_failure_policy_fail_job_and_ignore() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: pfp}
spec:
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {operator: In, values: [42]}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'exit 42']
",
    );
    wait(&s, "job/pfp", "failed");
    assert_eq!(
        jsonpath(
            &s,
            "job/pfp",
            "{.status.conditions[?(@.type==\"Failed\")].reason}"
        ),
        "PodFailurePolicy"
    );
    assert_eq!(
        s.ok(&["get", "pods", "-l", "job-name=pfp", "-o", "name"])
            .lines()
            .count(),
        1
    );

    // Ignore: the first pod exits 43 (ignored, not counted), the replacement succeeds.
    let marker = s.dir.path().join("ignored-once");
    let script = format!(
        "if [ -e {m} ]; then exit 0; fi; touch {m}; exit 43",
        m = marker.display()
    );
    apply(
        &s,
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: ignore}}
spec:
  backoffLimit: 0
  podFailurePolicy:
    rules:
    - action: Ignore
      onExitCodes: {{operator: In, values: [43]}}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, '{script}']
"
        ),
    );
    wait(&s, "job/ignore", "complete");
    assert_eq!(jsonpath(&s, "job/ignore", "{.status.failed}"), "");
}

#[test]
fn active_deadline_kills_the_pod() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: slow}
spec:
  activeDeadlineSeconds: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox
        command: [sleep, '300']
",
    );
    wait(&s, "job/slow", "failed");
    assert_eq!(
        jsonpath(
            &s,
            "job/slow",
            "{.status.conditions[?(@.type==\"Failed\")].reason}"
        ),
        "DeadlineExceeded"
    );
    assert_eq!(jsonpath(&s, "job/slow", "{.status.active}"), "");
}

#[test]
fn suspend_and_resume() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: sus}
spec:
  parallelism: 2
  completions: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox
        command: [sleep, '300']
",
    );
    s.wait_for(
        &["get", "job", "sus", "-o", "jsonpath={.status.active}"],
        LONG,
        |o| o == "2",
    );
    s.ok(&[
        "patch",
        "job",
        "sus",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    wait(&s, "job/sus", "suspended");
    s.wait_for(
        &["get", "pods", "-l", "job-name=sus", "-o", "name"],
        LONG,
        |o| o.trim().is_empty(),
    );
    let table = s.ok(&["get", "job", "sus"]);
    assert!(table.contains("Suspended"), "{table}");
    s.ok(&[
        "patch",
        "job",
        "sus",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    s.wait_for(
        &["get", "job", "sus", "-o", "jsonpath={.status.active}"],
        LONG,
        |o| o == "2",
    );
    s.ok(&["delete", "job", "sus"]);
}

#[test]
fn ttl_after_finished_deletes_job_and_pods() {
    let Some(s) = server() else { return };
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: ttl}
spec:
  ttlSecondsAfterFinished: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: ['true']
",
    );
    s.wait_for(&["get", "jobs", "-o", "name"], LONG, |o| {
        !o.contains("job.batch/ttl")
    });
    s.wait_for(
        &["get", "pods", "-l", "job-name=ttl", "-o", "name"],
        LONG,
        |o| o.trim().is_empty(),
    );
}

#[test]
fn delete_removes_pods_and_logs_follow() {
    let Some(s) = server() else { return };
    for (name, cascade) in [("bg", "background"), ("fg", "foreground")] {
        s.ok(&[
            "create",
            "job",
            name,
            "--image=busybox",
            "--",
            "sleep",
            "300",
        ]);
        s.wait_for(
            &[
                "get",
                "pods",
                "-l",
                &format!("job-name={name}"),
                "-o",
                "jsonpath={.items[*].status.phase}",
            ],
            LONG,
            |o| o == "Running",
        );
        s.ok(&[
            "delete",
            "job",
            name,
            &format!("--cascade={cascade}"),
            "--timeout=60s",
        ]);
        s.wait_for(
            &[
                "get",
                "pods",
                "-l",
                &format!("job-name={name}"),
                "-o",
                "name",
            ],
            LONG,
            |o| o.trim().is_empty(),
        );
    }
    apply(
        &s,
        "apiVersion: batch/v1
kind: Job
metadata: {name: talk}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'for i in 1 2 3; do echo line $i; sleep 0.3; done']
",
    );
    s.wait_for(
        &["get", "pods", "-l", "job-name=talk", "-o", "name"],
        LONG,
        |o| !o.trim().is_empty(),
    );
    let pod = s
        .ok(&["get", "pods", "-l", "job-name=talk", "-o", "name"])
        .trim()
        .to_owned();
    s.wait_for(
        &["get", &pod, "-o", "jsonpath={.status.phase}"],
        LONG,
        |o| o == "Running" || o == "Succeeded",
    );
    let out = s.ok(&["logs", "-f", &pod]);
    assert_eq!(out, "line 1\nline 2\nline 3\n");
    wait(&s, "job/talk", "complete");
    let tail = s.ok(&["logs", &pod, "--tail=1"]);
    assert_eq!(tail, "line 3\n");
}

#[test]
fn on_failure_restarts_show_in_restarts() {
    let Some(s) = server() else { return };
    let counter = s.dir.path().join("attempts");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -ge 3 ]",
        c = counter.display()
    );
    apply(
        &s,
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: again}}
spec:
  backoffLimit: 6
  template:
    spec:
      restartPolicy: OnFailure
      containers:
      - name: work
        image: busybox
        command: [sh, -c, '{script}']
"
        ),
    );
    wait(&s, "job/again", "complete");
    let pods = s.ok(&["get", "pods", "-l", "job-name=again"]);
    let row: Vec<&str> = pods.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[2], "Completed", "{pods}");
    assert_eq!(row[3], "2", "{pods}");
}

#[test]
fn a_container_without_command_fails_with_a_reason() {
    let Some(s) = server() else { return };
    s.ok(&["create", "job", "nocmd", "--image=busybox"]);
    let reason = s.wait_for(
        &[
            "get",
            "pods",
            "-l",
            "job-name=nocmd",
            "-o",
            "jsonpath={.items[0].status.containerStatuses[0].state.terminated.reason}",
        ],
        LONG,
        |o| !o.is_empty(),
    );
    assert_eq!(reason, "ContainerCannotRun");
}

/// J-92: the API server keeps a Job's status one its clients can trust, whoever writes it
/// (`kubectl patch --subresource=status` here): a finished Job stays finished with its counts,
/// while a write that keeps the rules goes through.
#[test]
fn status_writes_that_break_the_job_rules_are_refused() {
    let Some(s) = server() else { return };
    s.ok(&["create", "job", "done", "--image=busybox", "--", "true"]);
    wait(&s, "job/done", "complete");
    let before = s.ok(&["get", "job/done", "-o", "jsonpath={.status}"]);

    let err = s.fails(&[
        "patch",
        "job/done",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"succeeded":0,"conditions":null,"completionTime":null}}"#,
    ]);
    // V-44: several causes print as `The Job "done" is invalid: ` then `* field: body` lines.
    for expected in [
        r#"The Job "done" is invalid: "#,
        "\n* status.",
        "status.conditions: Invalid value: cannot disable the terminal Complete=True condition",
        "status.conditions: Invalid value: cannot disable the SuccessCriteriaMet=True condition",
        "status.succeeded: Invalid value: 0: cannot decrease the succeeded counter",
    ] {
        assert!(err.contains(expected), "no {expected:?} in:\n{err}");
    }
    let err = s.fails(&[
        "patch",
        "job/done",
        "--subresource=status",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/status/conditions/-","value":{"type":"Failed","status":"True"}}]"#,
    ]);
    for expected in [
        "status.conditions: Invalid value: cannot set Complete=True and Failed=true conditions",
        "status.conditions: Invalid value: cannot set Failed=True condition without the FailureTarget=true condition",
        "status.conditions: Invalid value: cannot set SuccessCriteriaMet=True and Failed=true conditions",
    ] {
        assert!(err.contains(expected), "no {expected:?} in:\n{err}");
    }
    assert_eq!(
        s.ok(&["get", "job/done", "-o", "jsonpath={.status}"]),
        before,
        "a refused write changed the status"
    );

    // Within the rules: a running Job's counters may grow, ready up to active.
    s.ok(&[
        "create",
        "job",
        "long",
        "--image=busybox",
        "--",
        "sleep",
        "60",
    ]);
    s.wait_for(
        &["get", "job/long", "-o", "jsonpath={.status.active}"],
        LONG,
        |active| active == "1",
    );
    let err = s.fails(&[
        "patch",
        "job/long",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"ready":2}}"#,
    ]);
    assert!(
        err.contains("status.ready: Invalid value: 2: cannot set more ready pods than active"),
        "{err}"
    );
    s.ok(&[
        "patch",
        "job/long",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"failed":1}}"#,
    ]);
    assert_eq!(jsonpath(&s, "job/long", "{.status.failed}"), "1");
}

/// A Job's pods carry the QoS class their resources give them (the pod strategy's
/// `ComputePodQOS`), and a write to a pod's `/status` keeps `ValidatePodStatusUpdate`'s rules:
/// a container that ended in a `Never` pod does not run again, and the class does not change.
#[test]
fn job_pods_carry_their_qos_class_and_keep_the_pod_status_rules() {
    let Some(s) = server() else { return };
    s.ok(&["create", "job", "plain", "--image=busybox", "--", "true"]);
    let guaranteed = common::manifest(
        &s,
        "guaranteed.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  name: sized
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: [\"true\"]
        resources:
          limits: {cpu: 250m, memory: 64Mi}
",
    );
    s.ok(&["apply", "-f", common::path_str(&guaranteed)]);
    wait(&s, "job/plain", "complete");
    wait(&s, "job/sized", "complete");
    let class = |job: &str| {
        let pod = s.first_pod_of(job, LONG);
        s.ok(&["get", "pod", &pod, "-o", "jsonpath={.status.qosClass}"])
    };
    assert_eq!(class("plain"), "BestEffort");
    assert_eq!(class("sized"), "Guaranteed");
    let pod = s.first_pod_of("sized", LONG);
    let described = s.ok(&["describe", "pod", &pod]);
    assert!(
        described
            .lines()
            .any(|l| l.starts_with("QoS Class:") && l.ends_with("Guaranteed")),
        "{described}"
    );

    let before = s.ok(&["get", "pod", &pod, "-o", "jsonpath={.status}"]);
    let err = s.fails(&[
        "patch",
        "pod",
        &pod,
        "--subresource=status",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/status/containerStatuses/0/state","value":{"running":{"startedAt":"2026-01-01T00:00:00Z"}}},{"op":"replace","path":"/status/qosClass","value":"Burstable"}]"#,
    ]);
    let header = format!(r#"The Pod "{pod}" is invalid: "#);
    for expected in [
        header.as_str(),
        "status.qosClass: Invalid value: \"Burstable\": field is immutable",
        "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
    ] {
        assert!(err.contains(expected), "no {expected:?} in:\n{err}");
    }
    assert_eq!(
        s.ok(&["get", "pod", &pod, "-o", "jsonpath={.status}"]),
        before,
        "a refused write changed the status"
    );
}
