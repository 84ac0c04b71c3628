//! The real kubectl against a real `kbatch server` (kubectl-wire.md is the contract). The
//! whole suite runs once per kubectl version installed here: the `kubectl` on PATH picks its
//! version from the server's /version, and `kubectl.1.NN` beside it are run directly.

mod common;

use std::time::Duration;

use common::{Server, manifest, path_str, server_for};

const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: pi
  labels:
    app: pi
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: busybox
        command: [\"sh\", \"-c\", \"echo 3.14\"]
";

const CRONJOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  schedule: \"0 * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: busybox
";

macro_rules! per_version {
    ($($name:ident => $minor:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(server) = server_for($minor) {
                    suite(&server);
                }
            }
        )*
    };
}

per_version! {
    kubectl_on_path => None,
    kubectl_1_27 => Some(27),
    kubectl_1_28 => Some(28),
    kubectl_1_29 => Some(29),
    kubectl_1_30 => Some(30),
    kubectl_1_31 => Some(31),
    kubectl_1_32 => Some(32),
    kubectl_1_33 => Some(33),
}

fn suite(s: &Server) {
    version_and_discovery(s);
    apply_create_get(s);
    imperative_creates(s);
    get_outputs(s);
    patch_label_annotate_edit(s);
    describe_and_events(s);
    errors(s);
    watch(s);
    delete_policies(s);
    namespaces(s);
    explain(s);
    run_wait_and_read_logs(s);
    auth_can_i(s);
    auth_failure(s);
}

fn version_and_discovery(s: &Server) {
    let v = s.ok(&["version"]);
    // kubectl 1.27 still prints the whole version.Info struct.
    assert!(
        v.contains("Server Version: v1.32") || v.contains("GitVersion:\"v1.32."),
        "{v}"
    );
    let resources = s.ok(&["api-resources"]);
    for needle in [
        "jobs",
        "cronjobs",
        "cj",
        "pods",
        "po",
        "namespaces",
        "ns",
        "events",
        "ev",
        "nodes",
        "no",
        "leases",
    ] {
        assert!(
            resources.split_whitespace().any(|w| w == needle),
            "{needle} missing in api-resources:\n{resources}"
        );
    }
    let versions = s.ok(&["api-versions"]);
    assert!(versions.contains("batch/v1") && versions.contains("coordination.k8s.io/v1"));
}

fn apply_create_get(s: &Server) {
    let job = manifest(s, "job.yaml", JOB);
    let out = s.ok(&["apply", "-f", path_str(&job)]);
    assert_eq!(out.trim(), "job.batch/pi created");
    let out = s.ok(&["apply", "-f", path_str(&job)]);
    assert_eq!(out.trim(), "job.batch/pi unchanged");
    let changed = manifest(s, "job2.yaml", &JOB.replace("app: pi", "app: pi2"));
    let out = s.ok(&["apply", "-f", path_str(&changed)]);
    assert_eq!(out.trim(), "job.batch/pi configured");
    let labels = s.ok(&["get", "job", "pi", "-o", "jsonpath={.metadata.labels.app}"]);
    assert_eq!(labels, "pi2");
    // The apiserver's defaults and the generated selector are there.
    let yaml = s.ok(&["get", "job", "pi", "-o", "yaml"]);
    for needle in [
        "backoffLimit: 4",
        "completionMode: NonIndexed",
        "batch.kubernetes.io/controller-uid:",
        "batch.kubernetes.io/job-name: pi",
        "kubectl.kubernetes.io/last-applied-configuration",
        "podReplacementPolicy: TerminatingOrFailed",
    ] {
        assert!(yaml.contains(needle), "{needle} missing:\n{yaml}");
    }

    let cj = manifest(s, "cj.yaml", CRONJOB);
    let out = s.ok(&["apply", "--server-side", "-f", path_str(&cj)]);
    assert_eq!(out.trim(), "cronjob.batch/backup serverside-applied");
    let out = s.ok(&["apply", "--server-side", "-f", path_str(&cj)]);
    assert_eq!(out.trim(), "cronjob.batch/backup serverside-applied");
    let managers = s.ok(&[
        "get",
        "cronjob",
        "backup",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("kubectl"), "{managers}");

    let created = manifest(
        s,
        "created.yaml",
        &JOB.replace("name: pi\n", "name: pi-create\n"),
    );
    let out = s.ok(&["create", "-f", path_str(&created)]);
    assert_eq!(out.trim(), "job.batch/pi-create created");
    let err = s.fails(&["create", "-f", path_str(&created)]);
    assert!(
        err.contains("Error from server (AlreadyExists)")
            && err.contains("jobs.batch \"pi-create\" already exists"),
        "{err}"
    );
}

fn imperative_creates(s: &Server) {
    let out = s.ok(&["create", "job", "j1", "--image=busybox", "--", "echo", "hi"]);
    assert_eq!(out.trim(), "job.batch/j1 created");
    let out = s.ok(&[
        "create",
        "cronjob",
        "hello",
        "--image=busybox",
        "--schedule=*/1 * * * *",
        "--",
        "echo",
        "hi",
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello created");
    let out = s.ok(&["create", "job", "manual-1", "--from=cronjob/hello"]);
    assert_eq!(out.trim(), "job.batch/manual-1 created");
    let owner = s.ok(&[
        "get",
        "job",
        "manual-1",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}",
    ]);
    assert_eq!(owner, "CronJob/hello manual");
    let out = s.ok(&["create", "namespace", "team-a"]);
    assert_eq!(out.trim(), "namespace/team-a created");
    let policy = s.ok(&[
        "get",
        "cronjob",
        "hello",
        "-o",
        "jsonpath={.spec.jobTemplate.spec.template.spec.restartPolicy} {.spec.concurrencyPolicy}",
    ]);
    assert_eq!(policy, "OnFailure Allow");
}

fn get_outputs(s: &Server) {
    let table = s.ok(&["get", "jobs"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    // Running or already done: how far the Job got by now depends on the machine.
    let pi_row = table.lines().find(|l| l.starts_with("pi ")).unwrap_or("");
    assert!(
        pi_row.contains(" 0/1 ") || pi_row.contains(" 1/1 "),
        "{table}"
    );
    let wide = s.ok(&["get", "jobs", "-o", "wide"]);
    let wide_header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        wide_header,
        [
            "NAME",
            "STATUS",
            "COMPLETIONS",
            "DURATION",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let one = s.ok(&["get", "job", "pi"]);
    assert_eq!(one.lines().count(), 2, "{one}");
    let cj = s.ok(&["get", "cj"]);
    let header: Vec<&str> = cj.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ]
    );
    let names = s.ok(&["get", "jobs", "-o", "name"]);
    assert!(names.lines().any(|l| l == "job.batch/pi"), "{names}");
    let json = s.ok(&["get", "jobs", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["items"].as_array().unwrap().len() >= 3);
    let selected = s.ok(&["get", "jobs", "-l", "app=pi2", "-o", "name"]);
    assert_eq!(selected.trim(), "job.batch/pi");
    let none = s.ok(&["get", "jobs", "-l", "app=nothing"]);
    let err = s.kubectl(&["get", "jobs", "-l", "app=nothing"]).stderr;
    assert!(
        none.is_empty() && err.contains("No resources found in default namespace."),
        "{err}"
    );
    let all_ns = s.ok(&["get", "jobs", "-A"]);
    assert!(all_ns.starts_with("NAMESPACE"), "{all_ns}");
    let labels = s.ok(&["get", "job", "pi", "--show-labels"]);
    assert!(labels.contains("app=pi2"), "{labels}");
    let all = s.ok(&["get", "all"]);
    assert!(
        all.contains("job.batch/pi") && all.contains("cronjob.batch/hello"),
        "{all}"
    );
    let ns = s.ok(&["get", "ns"]);
    for n in ["default", "kube-system", "team-a"] {
        assert!(ns.contains(n), "{ns}");
    }
    let sorted = s.ok(&["get", "jobs", "--sort-by=.metadata.name", "-o", "name"]);
    let order: Vec<&str> = sorted.lines().collect();
    let mut expected = order.clone();
    expected.sort();
    assert_eq!(order, expected);
}

fn patch_label_annotate_edit(s: &Server) {
    let out = s.ok(&[
        "patch",
        "cronjob",
        "hello",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello patched");
    let out = s.ok(&[
        "patch",
        "cronjob",
        "hello",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello patched (no change)");
    let out = s.ok(&[
        "patch",
        "cronjob",
        "hello",
        "--type=merge",
        "-p",
        r#"{"spec":{"successfulJobsHistoryLimit":5}}"#,
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello patched");
    let out = s.ok(&[
        "patch",
        "cronjob",
        "hello",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/schedule","value":"*/5 * * * *"}]"#,
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello patched");
    let got = s.ok(&[
        "get",
        "cj",
        "hello",
        "-o",
        "jsonpath={.spec.suspend} {.spec.successfulJobsHistoryLimit} {.spec.schedule}",
    ]);
    assert_eq!(got, "true 5 */5 * * * *");
    // Immutable fields of a Job (job.md §1) are refused with the apiserver's text.
    let err = s.fails(&[
        "patch",
        "job",
        "pi",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"alpine"}]"#,
    ]);
    assert!(err.contains("field is immutable"), "{err}");

    let out = s.ok(&["label", "job", "pi", "tier=batch"]);
    assert_eq!(out.trim(), "job.batch/pi labeled");
    let out = s.ok(&["annotate", "job", "pi", "owner=team-a"]);
    // kubectl 1.27 prints its verb, not the past tense (its own printer's wording).
    assert!(
        ["job.batch/pi annotated", "job.batch/pi annotate"].contains(&out.trim()),
        "{out}"
    );
    let out = s.ok(&["label", "job", "pi", "tier-"]);
    assert_eq!(out.trim(), "job.batch/pi unlabeled");

    let editor = manifest(
        s,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/backoffLimit: 4/backoffLimit: 2/' \"$1\"\n",
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap();
    let out = s
        .kubectl_command()
        .env("KUBE_EDITOR", &editor)
        .args(["edit", "job", "pi"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "job.batch/pi edited"
    );
    let limit = s.ok(&["get", "job", "pi", "-o", "jsonpath={.spec.backoffLimit}"]);
    assert_eq!(limit, "2");
}

fn describe_and_events(s: &Server) {
    let d = s.ok(&["describe", "job", "pi"]);
    for needle in [
        "Name:",
        "pi",
        "Parallelism:",
        "Completions:",
        "Pods Statuses:",
    ] {
        assert!(d.contains(needle), "{needle}:\n{d}");
    }
    let d = s.ok(&["describe", "cronjob", "hello"]);
    assert!(
        d.contains("Schedule:") && d.contains("Concurrency Policy:"),
        "{d}"
    );
    // Events are stored and listed (the controllers record them; here one is posted).
    let uid = s.ok(&["get", "job", "pi", "-o", "jsonpath={.metadata.uid}"]);
    let event = format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"pi.1","namespace":"default"}},
        "involvedObject":{{"kind":"Job","name":"pi","namespace":"default","uid":"{uid}","apiVersion":"batch/v1"}},
        "reason":"SuccessfulCreate","message":"Created pod: pi-abcde","type":"Normal",
        "source":{{"component":"job-controller"}},"count":3,
        "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:05:00Z"}}"#
    );
    s.ok_stdin(&["create", "-f", "-"], &event);
    let d = s.ok(&["describe", "job", "pi"]);
    assert!(
        d.contains("SuccessfulCreate") && d.contains("Created pod: pi-abcde"),
        "{d}"
    );
    let ev = s.ok(&["get", "events"]);
    assert!(
        ev.contains("job/pi") && ev.contains("SuccessfulCreate"),
        "{ev}"
    );
    let ev = s.ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "involvedObject.name=nothing",
    ]);
    assert!(ev.is_empty(), "{ev}");
}

fn errors(s: &Server) {
    let err = s.fails(&["get", "job", "nope"]);
    assert!(
        err.contains("Error from server (NotFound): jobs.batch \"nope\" not found"),
        "{err}"
    );
    let bad = manifest(
        s,
        "bad.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\nspec:\n  template:\n    spec:\n      restartPolicy: Always\n      containers: []\n",
    );
    let err = s.fails(&["apply", "-f", path_str(&bad)]);
    assert!(err.contains("The Job \"bad\" is invalid"), "{err}");
    // J-5: `Always` (the pod default) is a Required error with the valid values.
    assert!(
        err.contains("spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""),
        "{err}"
    );
    let unknown = manifest(
        s,
        "unk.yaml",
        &JOB.replace("backoffLimit: 4", "backoffLimit: 4\n  foo: 1")
            .replace("name: pi\n", "name: unk\n"),
    );
    let err = s.fails(&["create", "-f", path_str(&unknown)]);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.foo\""),
        "{err}"
    );
    let out = s.kubectl(&["create", "--validate=warn", "-f", path_str(&unknown)]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown field \"spec.foo\""),
        "{}",
        out.stderr
    );
    let err = s.fails(&["get", "jobs", "-l", "a in (b"]);
    assert!(
        err.contains("Error from server (BadRequest)") || err.contains("unable to parse"),
        "{err}"
    );
    let err = s.fails(&["get", "pods", "--field-selector", "spec.foo=bar"]);
    assert!(err.contains("field label not supported: spec.foo"), "{err}");
    let err = s.fails(&["create", "job", "x", "--image=busybox", "-n", "missing"]);
    assert!(err.contains("namespaces \"missing\" not found"), "{err}");
}

fn watch(s: &Server) {
    let mut child = s
        .kubectl_command()
        .args(["get", "jobs", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    s.ok(&["label", "job", "j1", "watched=yes"]);
    s.ok(&["create", "job", "j-watch", "--image=busybox"]);
    std::thread::sleep(Duration::from_millis(800));
    // The watch must still be open: kubectl exits when the server closes it.
    assert!(child.try_wait().unwrap().is_none(), "kubectl get -w exited");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MODIFIED") && text.contains("j1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ADDED") && l.contains("j-watch")),
        "{text}"
    );

    // A single-object watch: kubectl drops the synthetic first event and prints changes.
    let mut child = s
        .kubectl_command()
        .args([
            "get",
            "job",
            "j1",
            "-w",
            "-o",
            "jsonpath={.metadata.labels.step}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    s.ok(&["label", "job", "j1", "step=two"]);
    std::thread::sleep(Duration::from_millis(800));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("two"));

    // kubectl wait sees a condition through list + watch.
    let out = s.kubectl(&[
        "wait",
        "--for=jsonpath={.spec.suspend}=false",
        "job/j1",
        "--timeout=10s",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "job.batch/j1 condition met");
}

fn delete_policies(s: &Server) {
    let out = s.ok(&["delete", "job", "j-watch"]);
    assert_eq!(out.trim(), "job.batch \"j-watch\" deleted");
    for (name, cascade) in [
        ("d-bg", "background"),
        ("d-fg", "foreground"),
        ("d-orphan", "orphan"),
    ] {
        s.ok(&["create", "job", name, "--image=busybox"]);
        let out = s.ok(&[
            "delete",
            "job",
            name,
            &format!("--cascade={cascade}"),
            "--timeout=20s",
        ]);
        assert_eq!(out.trim(), format!("job.batch \"{name}\" deleted"));
        let err = s.fails(&["get", "job", name]);
        assert!(err.contains("NotFound"), "{err}");
    }
    let err = s.fails(&["delete", "job", "nonexist"]);
    assert!(
        err.contains("Error from server (NotFound): jobs.batch \"nonexist\" not found"),
        "{err}"
    );
    s.ok(&["create", "job", "dry", "--image=busybox"]);
    let out = s.ok(&["delete", "job", "dry", "--dry-run=server"]);
    assert!(out.contains("deleted (server dry run)"), "{out}");
    s.ok(&["get", "job", "dry"]);
}

fn namespaces(s: &Server) {
    s.ok(&["create", "job", "inside", "--image=busybox", "-n", "team-a"]);
    s.ok(&[
        "create",
        "cronjob",
        "inside-cj",
        "--image=busybox",
        "--schedule=@hourly",
        "-n",
        "team-a",
    ]);
    let out = s.ok(&["delete", "namespace", "team-a", "--timeout=30s"]);
    assert_eq!(out.trim(), "namespace \"team-a\" deleted");
    let err = s.fails(&["get", "ns", "team-a"]);
    assert!(err.contains("NotFound"), "{err}");
    let left = s.ok(&[
        "get",
        "jobs,cronjobs",
        "-A",
        "-o",
        "name",
        "--field-selector",
        "metadata.namespace=team-a",
    ]);
    assert!(left.is_empty(), "{left}");
}

fn explain(s: &Server) {
    let out = s.ok(&["explain", "job.spec.backoffLimit"]);
    assert!(
        out.contains("backoffLimit") && out.contains("retries"),
        "{out}"
    );
    let out = s.ok(&["explain", "cronjob.spec"]);
    assert!(out.contains("schedule"), "{out}");
}

/// A Job's life as each kubectl version follows it: `wait` for Complete and for Failed, and
/// `logs` of the Job, followed (`-f`) and whole.
fn run_wait_and_read_logs(s: &Server) {
    let job = manifest(
        s,
        "lines.yaml",
        &JOB.replace("name: pi\n", "name: lines\n").replace(
            "echo 3.14",
            "for i in 1 2 3; do echo line $i; sleep 0.2; done",
        ),
    );
    s.ok(&["apply", "-f", path_str(&job)]);
    let followed = s.ok(&["logs", "-f", "job/lines", "--pod-running-timeout=20s"]);
    assert_eq!(followed, "line 1\nline 2\nline 3\n");
    let out = s.ok(&[
        "wait",
        "--for=condition=complete",
        "job/lines",
        "--timeout=30s",
    ]);
    assert_eq!(out.trim(), "job.batch/lines condition met");
    assert_eq!(s.ok(&["logs", "job/lines"]), "line 1\nline 2\nline 3\n");

    let failing = manifest(
        s,
        "fails.yaml",
        &JOB.replace("name: pi\n", "name: fails\n")
            .replace("backoffLimit: 4", "backoffLimit: 0")
            .replace("echo 3.14", "exit 3"),
    );
    s.ok(&["apply", "-f", path_str(&failing)]);
    let out = s.ok(&[
        "wait",
        "--for=condition=failed",
        "job/fails",
        "--timeout=30s",
    ]);
    assert_eq!(out.trim(), "job.batch/fails condition met");
    let reason = s.ok(&[
        "get",
        "job",
        "fails",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
    ]);
    assert_eq!(reason, "BackoffLimitExceeded");
}

/// `kubectl auth can-i`: a SelfSubjectAccessReview (JSON before kubectl 1.32, protobuf from
/// it on) and, with `--list`, a SelfSubjectRulesReview. The admin may do anything.
fn auth_can_i(s: &Server) {
    assert_eq!(s.ok(&["auth", "can-i", "create", "jobs"]).trim(), "yes");
    assert_eq!(
        s.ok(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "--subresource=log",
            "-n",
            "team-a"
        ])
        .trim(),
        "yes"
    );
    let rules = s.ok(&["auth", "can-i", "--list"]);
    assert!(
        rules
            .lines()
            .any(|l| l.split_whitespace().next() == Some("*.*")),
        "{rules}"
    );
}

fn auth_failure(s: &Server) {
    let bad = s.dir.path().join("bad-kubeconfig");
    let text = std::fs::read_to_string(&s.kubeconfig).unwrap();
    std::fs::write(&bad, text.replace(&s.token(), "wrong-token")).unwrap();
    let out = s
        .kubectl_command()
        .env("KUBECONFIG", &bad)
        .args(["get", "jobs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("You must be logged in to the server (Unauthorized)"),
        "{err}"
    );
}

/// `GET /openapi/v2` as kube-openapi's handler answers it: JSON by default, gnostic's protobuf
/// for the media type kubectl 1.27 and 1.28 ask for, 304 for the ETag sent back, 406 for
/// anything else.
#[test]
fn openapi_v2_in_each_form() {
    let s = Server::start();
    let (code, body, headers) = s.curl("GET", "/openapi/v2", &[], None, true);
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(doc["swagger"], "2.0");
    assert!(doc["definitions"]["io.k8s.api.batch.v1.Job"].is_object());
    let etag = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .expect("an ETag")
        .trim()
        .to_owned();

    let (code, body, headers) = s.curl(
        "GET",
        "/openapi/v2",
        &["Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf"],
        None,
        true,
    );
    assert_eq!(code, 200);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        "{headers}"
    );
    // Field 1 of the Document, "2.0": tag 0x0a, length 3.
    assert!(body.as_bytes().starts_with(b"\x0a\x032.0"), "{headers}");

    let if_none_match = format!("If-None-Match: {etag}");
    let (code, body, _) = s.curl("GET", "/openapi/v2", &[&if_none_match], None, true);
    assert_eq!(code, 304, "{body}");

    let (code, body, _) = s.curl("GET", "/openapi/v2", &["Accept: text/html"], None, true);
    assert_eq!(code, 406, "{body}");
    assert!(body.contains("NotAcceptable"), "{body}");
}

/// What kbatch does not serve answers as a cluster without it would, and says so: a missing
/// route is a 404 whose `details` is empty (kubectl debug reads it, and crashed without it),
/// and exec, attach and port-forward name the alternative.
#[test]
fn unserved_pod_endpoints_say_so() {
    let Some(s) = server_for(None) else {
        return;
    };
    s.ok(&[
        "run",
        "idle",
        "--image=busybox",
        "--restart=Never",
        "--command",
        "--",
        "sleep",
        "60",
    ]);
    let err = s.fails(&["exec", "idle", "--", "true"]);
    assert!(
        err.contains("kbatch does not serve pods/exec") && err.contains("kubectl logs"),
        "{err}"
    );
    let err = s.fails(&["debug", "idle", "--image=busybox"]);
    assert!(
        err.contains("ephemeral containers are disabled for this cluster")
            && !err.contains("panic"),
        "{err}"
    );
    s.ok(&["delete", "pod", "idle", "--grace-period=1"]);
}
