//! `kbatch validate` as a user runs it: real files, the real binary, exit codes and messages.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kbatch(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kbatch");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: pi\n        image: perl\n";

#[test]
fn the_readme_examples_are_valid() {
    let o = kbatch(
        &[
            "validate",
            "-f",
            "examples/job.yaml",
            "examples/cronjob.yaml",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("examples/job.yaml: document 1 (Job/data-processing-job): valid"));
    assert!(stdout(&o).contains("(CronJob/backup-cronjob): valid"));
}

#[test]
fn the_tutorials_broken_job_gets_kubernetes_error_and_a_hint() {
    let o = kbatch(&["validate", "-f", "examples/invalid"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "examples/invalid/job-without-restart-policy.yaml: document 1 (Job/data-processing-job): spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"\n    hint: "
        ),
        "{err}"
    );
}

#[test]
fn unknown_and_duplicate_fields_are_errors() {
    let text = JOB.replace("  template:\n", "  foo: 1\n  template:\n");
    let o = kbatch(&["validate", "-f", "-"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("<stdin>: document 1 (Job/pi): unknown field \"spec.foo\""),
        "{}",
        stderr(&o)
    );
    let text = JOB.replace("  name: pi\n", "  name: pi\n  name: pi\n");
    let o = kbatch(&["validate", "-f", "-"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("duplicate field \"metadata.name\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn syntax_errors_and_unreadable_files_exit_2() {
    let o = kbatch(
        &["validate", "-f", "-"],
        Some("apiVersion: batch/v1\nkind: [Job\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("<stdin>: line "), "{}", stderr(&o));
    let o = kbatch(&["validate", "-f", "does/not/exist.yaml"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does/not/exist.yaml"));
    let o = kbatch(&["validate"], None);
    assert_eq!(o.status.code(), Some(2), "a usage error");
}

#[test]
fn a_syntax_error_outranks_an_invalid_document() {
    let dir = tempfile::tempdir().unwrap();
    let bad = JOB.replace("restartPolicy: Never", "restartPolicy: Always");
    std::fs::write(dir.path().join("a.yaml"), bad).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.yml"), "a: [\n").unwrap();
    std::fs::write(dir.path().join("sub/notes.txt"), "not a manifest").unwrap();
    let o = kbatch(&["validate", "-f", dir.path().to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(
            "a.yaml: document 1 (Job/pi): spec.template.spec.restartPolicy: Required value"
        ),
        "{err}"
    );
    assert!(err.contains("sub/b.yml: line 1"), "{err}");
    assert!(!err.contains("notes.txt"));
}

#[test]
fn multi_document_yaml_json_and_lists() {
    let second = JOB
        .replace("name: pi\n", "name: pi-2\n")
        .replace("image: perl", "image: \"\"");
    let text = format!("{JOB}---\n{second}");
    let o = kbatch(&["validate", "-f", "-"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("<stdin>: document 1 (Job/pi): valid"));
    assert!(
        stderr(&o).contains(
            "<stdin>: document 2 (Job/pi-2): spec.template.spec.containers[0].image: Required value"
        ),
        "{}",
        stderr(&o)
    );

    let list = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}},
        {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"Team_B"}}]}"#;
    let o = kbatch(&["validate", "-f", "-"], Some(list));
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("<stdin>: document 1 item 1 (Namespace/team-a): valid"));
    assert!(
        stderr(&o).contains(
            "<stdin>: document 1 item 2 (Namespace/Team_B): metadata.name: Invalid value: \"Team_B\""
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_kinds_name_what_kbatch_serves() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
    let o = kbatch(&["validate", "-f", "-"], Some(deployment));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "(Deployment/web): no kind \"Deployment\" is registered for version \"apps/v1\": kbatch serves batch/v1 Job, batch/v1 CronJob, v1 Pod, v1 Namespace"
        ),
        "{}",
        stderr(&o)
    );
    let o = kbatch(
        &["validate", "-f", "-"],
        Some("kind: Job\nmetadata:\n  name: x\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("(Job/x): apiVersion: Required value"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn type_errors_name_the_field() {
    let text = JOB.replace("  template:\n", "  backoffLimit: many\n  template:\n");
    let o = kbatch(&["validate", "-f", "-"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("<stdin>: document 1 (Job/pi): spec.backoffLimit: invalid type"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn output_json_shows_the_defaults() {
    let o = kbatch(
        &["validate", "-f", "-", "-o", "json", "-n", "team-a"],
        Some(JOB),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let job: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(job["metadata"]["namespace"], "team-a");
    assert_eq!(job["spec"]["backoffLimit"], 6);
    assert_eq!(job["spec"]["completions"], 1);
    assert_eq!(job["spec"]["parallelism"], 1);
    assert_eq!(job["spec"]["completionMode"], "NonIndexed");
    let uid = job["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "pi"
    );

    let two = format!("{JOB}---\n{}", JOB.replace("name: pi\n", "name: pi-2\n"));
    let o = kbatch(&["validate", "-f", "-", "-o", "json"], Some(&two));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}
