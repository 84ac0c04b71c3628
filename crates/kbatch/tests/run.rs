//! `kbatch run` as a user runs it: the real binary on real manifests, with its exit codes,
//! its prefixed logs and summary, Ctrl-C and SIGTERM, `--timeout`, CronJobs once and on a
//! schedule, and every example under examples/.
//!
//! No assertion depends on timing: tests wait for what the run prints, with generous
//! patience, and signal it only once it has said what they wait for.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Far more than any run here needs, on a busy machine.
const PATIENCE: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kbatch run ARGS` to its end, from the repository's root, with its own TMPDIR.
fn run(args: &[&str], stdin: Option<&str>) -> (Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .arg("run")
        .args(args)
        .current_dir(repo())
        .env("TMPDIR", tmp.path())
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kbatch");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    (child.wait_with_output().expect("wait for kbatch"), tmp)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path
}

/// A Job whose one container runs `script` with `sh -c`.
fn job(name: &str, extra_spec: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{extra_spec}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox\n        command: [\"sh\", \"-c\", {script:?}]\n"
    )
}

/// A string no other process on the machine has in its command line.
fn marker() -> String {
    format!("{}.{}", 5000 + std::process::id() % 4000, rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000)
        .unwrap_or(0)
}

/// The pids of live (not zombie) processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("Z");
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// A `kbatch run` in the background, its output collected as it comes.
struct Background {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    _tmp: tempfile::TempDir,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(&mut from);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

impl Background {
    fn start(args: &[&str]) -> Background {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
            .arg("run")
            .args(args)
            .current_dir(repo())
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kbatch");
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout"), out.clone());
        collect(child.stderr.take().expect("stderr"), err.clone());
        Background {
            child,
            out,
            err,
            _tmp: tmp,
        }
    }

    /// Waits until stdout and stderr together satisfy `check`.
    fn wait_for(&mut self, what: &str, check: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (out, err) = (self.out(), self.err());
            if check(&out, &err) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Its last lines may still be on their way.
                std::thread::sleep(Duration::from_millis(200));
                let (out, err) = (self.out(), self.err());
                assert!(
                    check(&out, &err),
                    "kbatch run ended ({status}) before {what}:\n{out}\n{err}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} after {PATIENCE:?}:\n{out}\n{err}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the exit code, and for the output to be complete.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(200));
                return status.code().expect("an exit code, not a signal");
            }
            assert!(
                Instant::now() < deadline,
                "kbatch run did not end:\n{}\n{}",
                self.out(),
                self.err()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn out(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn err(&self) -> String {
        self.err.lock().unwrap().clone()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pod names a summary lists (`  pod/NAME  PHASE  …`).
fn summary_pods(err: &str) -> Vec<String> {
    err.lines()
        .filter_map(|l| l.strip_prefix("  pod/"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_job_that_completes_exits_0_with_every_line_prefixed_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = job(
        "two",
        "  completions: 2\n  parallelism: 2\n",
        "echo first line; echo second line >&2",
    );
    let path = write(dir.path(), "two.yaml", &manifest);
    let (o, _tmp) = run(&["-f", path.to_str().unwrap()], None);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.contains("Complete: job/two after ")
            && err.contains("(CompletionsReached: Reached expected number of succeeded pods)"),
        "{err}"
    );
    let pods = summary_pods(&err);
    assert_eq!(pods.len(), 2, "{err}");
    for pod in &pods {
        assert!(pod.starts_with("two-"), "{pod}");
        let row = err
            .lines()
            .find(|l| l.starts_with(&format!("  pod/{pod} ")))
            .unwrap();
        assert!(
            row.contains("Succeeded") && row.contains("main exited with code 0 (Completed)"),
            "{row}"
        );
        // Both streams of every pod, each line with kubectl's --prefix.
        for line in ["first line", "second line"] {
            let prefixed = format!("[pod/{pod}/main] {line}");
            assert!(out.lines().any(|l| l == prefixed), "{prefixed} in:\n{out}");
        }
    }
    assert_eq!(out.lines().count(), 4, "{out}");
    // Not a terminal: plain events, no color.
    assert!(
        err.contains(&format!("pod/{} started", pods[0])) && !err.contains('\x1b'),
        "{err}"
    );
    assert!(!out.contains('\x1b'), "{out}");
}

#[test]
fn a_job_that_fails_exits_1_with_the_reason_and_each_pods_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = job("broken", "  backoffLimit: 1\n", "echo doomed; exit 3");
    let path = write(dir.path(), "broken.yaml", &manifest);
    let (o, _tmp) = run(
        &["-f", path.to_str().unwrap(), "--backoff-base", "1s"],
        None,
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Failed: job/broken after ")
            && err.contains("(BackoffLimitExceeded: Job has reached the specified backoff limit)"),
        "{err}"
    );
    assert!(
        err.contains("job/broken: 1 failed pod (backoffLimit 1); "),
        "{err}"
    );
    let pods = summary_pods(&err);
    assert_eq!(pods.len(), 2, "{err}");
    for pod in pods {
        let row = err
            .lines()
            .find(|l| l.starts_with(&format!("  pod/{pod} ")))
            .unwrap();
        assert!(
            row.contains("Failed") && row.contains("main exited with code 3 (Error)"),
            "{row}"
        );
    }
}

#[test]
fn an_invalid_manifest_exits_2_with_the_same_lines_as_validate() {
    let invalid = "examples/invalid/job-without-restart-policy.yaml";
    let (o, _tmp) = run(&["-f", invalid], None);
    assert_eq!(o.status.code(), Some(2));
    let validated = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(["validate", "-f", invalid])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(stderr(&o), stderr(&validated));
    assert!(
        stderr(&o).starts_with(
            "examples/invalid/job-without-restart-policy.yaml: document 1 (Job/data-processing-job): spec.template.spec.restartPolicy: Required value"
        ),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let unknown = job("x", "  foo: 1\n", "true");
    let (o, _tmp) = run(&["-f", "-"], Some(&unknown));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "<stdin>: document 1 (Job/x): unknown field \"spec.foo\"\n"
    );

    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
    let (o, _tmp) = run(&["-f", "-"], Some(pod));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "<stdin>: document 1 (Pod/p): kbatch run runs a Job or a CronJob, not a Pod\n"
    );

    let two = format!("{}---\n{}", job("a", "", "true"), job("b", "", "true"));
    let (o, _tmp) = run(&["-f", "-"], Some(&two));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("<stdin>: 2 documents"),
        "{}",
        stderr(&o)
    );

    let (o, _tmp) = run(&["-f", "examples/nowhere.yaml"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("examples/nowhere.yaml: "));

    let (o, _tmp) = run(&["-f", "examples/job.yaml", "--schedule"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--schedule runs a CronJob"),
        "{}",
        stderr(&o)
    );

    let suspended = job("idle", "  suspend: true\n", "true");
    let (o, _tmp) = run(&["-f", "-"], Some(&suspended));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "<stdin>: document 1 (Job/idle): spec.suspend is true: the Job would never start a pod\n"
    );
}

#[test]
fn usage_errors_exit_2_and_name_what_exists() {
    let (o, _tmp) = run(&["-f", "examples/job.yaml", "--runtime", "runc"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("invalid value 'runc' for '--runtime <RUNTIME>'")
            && err.contains("[possible values: process]"),
        "{err}"
    );
    let (o, _tmp) = run(&["-f", "examples/job.yaml", "--timeout", "soon"], None);
    assert_eq!(o.status.code(), Some(2));
    let (o, _tmp) = run(&[], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn stdin_is_a_manifest_too() {
    let manifest = job("from-stdin", "", "echo read from stdin");
    let (o, _tmp) = run(&["-f", "-"], Some(&manifest));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("[pod/from-stdin-") && out.contains("/main] read from stdin"),
        "{out}"
    );
}

#[test]
fn quiet_prints_the_result_alone() {
    let (o, _tmp) = run(&["-f", "examples/job.yaml", "--quiet"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Complete: job/data-processing-job after "),
        "{err}"
    );
}

/// The stop tests' Job: a shell that starts a grandchild and waits for it; with `ignore_term`
/// both ignore SIGTERM (an ignored signal stays ignored across fork and exec).
fn sleeper(name: &str, marker: &str, ignore_term: bool) -> String {
    let trap = if ignore_term { "trap '' TERM; " } else { "" };
    job(
        name,
        "  completions: 2\n  parallelism: 2\n",
        &format!("{trap}sleep {marker} & echo waiting; wait; sleep {marker}"),
    )
}

/// Starts a sleeper Job and waits until both pods are running.
fn start_sleeper(dir: &Path, marker: &str, ignore_term: bool) -> Background {
    let path = write(
        dir,
        "sleeper.yaml",
        &sleeper("sleeper", marker, ignore_term),
    );
    let mut bg = Background::start(&["-f", path.to_str().unwrap()]);
    bg.wait_for("both pods running", |out, _| {
        out.matches("/main] waiting").count() == 2
    });
    assert!(!processes_with(marker).is_empty());
    bg
}

#[test]
fn ctrl_c_stops_the_pods_and_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker();
    let mut bg = start_sleeper(dir.path(), &marker, false);
    bg.signal("INT");
    assert_eq!(bg.exit_code(), 130, "{}", bg.err());
    assert_eq!(processes_with(&marker), Vec::<String>::new());
    let err = bg.err();
    assert!(
        err.contains("interrupted: stopping the pods (Ctrl-C again kills them at once)"),
        "{err}"
    );
    assert!(
        err.contains("Interrupted: job/sleeper after ")
            && err.contains(": stopped by Ctrl-C; its pods were stopped"),
        "{err}"
    );
    // SIGTERM from the agent ended each pod's shell: 128 + 15.
    let pods = summary_pods(&err);
    assert_eq!(pods.len(), 2, "{err}");
    for row in err.lines().filter(|l| l.starts_with("  pod/")) {
        assert!(row.contains("main exited with code 143"), "{row}");
    }
}

#[test]
fn a_second_ctrl_c_kills_pods_that_ignore_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker();
    let mut bg = start_sleeper(dir.path(), &marker, true);
    bg.signal("INT");
    bg.wait_for("the stop", |_, err| err.contains("stopping the pods"));
    // The shells ignore SIGTERM and their grace period is 30s: only the second Ctrl-C ends
    // them now.
    bg.signal("INT");
    assert_eq!(bg.exit_code(), 130, "{}", bg.err());
    assert!(
        bg.err().contains("killing the remaining pods"),
        "{}",
        bg.err()
    );
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn sigterm_stops_the_pods_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker();
    let mut bg = start_sleeper(dir.path(), &marker, false);
    bg.signal("TERM");
    assert_eq!(bg.exit_code(), 143, "{}", bg.err());
    assert!(
        bg.err().contains("Terminated: job/sleeper after "),
        "{}",
        bg.err()
    );
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn timeout_stops_the_pods_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker();
    let path = write(dir.path(), "slow.yaml", &sleeper("slow", &marker, false));
    let (o, _tmp) = run(&["-f", path.to_str().unwrap(), "--timeout", "3s"], None);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("timed out after 3s: stopping the pods"),
        "{err}"
    );
    assert!(
        err.contains("Timed out: job/slow after ")
            && err.contains("still running when --timeout 3s ran out; its pods were stopped"),
        "{err}"
    );
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn the_temporary_data_dir_is_removed_unless_kept() {
    let (o, tmp) = run(&["-f", "examples/job.yaml"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    let (o, tmp) = run(&["-f", "examples/job.yaml", "--keep"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let kept = err
        .lines()
        .find_map(|l| l.strip_prefix("data kept in "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no kept dir in:\n{err}"));
    assert!(Path::new(kept).starts_with(tmp.path()), "{kept}");
    assert!(Path::new(kept).join("kbatch.db").exists());
    assert!(Path::new(kept).join("agent/logs").is_dir());
}

#[test]
fn a_cronjob_runs_one_job_now_as_kubectl_create_job_from_does() {
    if !common::have_kubectl() {
        eprintln!("kubectl is missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (o, _tmp) = run(
        &[
            "-f",
            "examples/cronjob.yaml",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        None,
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("Complete: job/backup-cronjob-manual-")
            && err.contains(" created from cronjob/backup-cronjob"),
        "{err}"
    );
    assert!(out.contains("/backup] 3 databases backed up"), "{out}");
    // What the run left in its data dir, through a server and kubectl.
    let server = common::Server::start_in(dir, &[]);
    let jobs = server.ok(&["get", "jobs", "-o", "json"]);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{jobs}");
    let job = &items[0];
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "CronJob");
    assert_eq!(owner["name"], "backup-cronjob");
    assert_eq!(owner["controller"], true);
    let suspended = server.ok(&[
        "get",
        "cronjob",
        "backup-cronjob",
        "-o",
        "jsonpath={.spec.suspend}",
    ]);
    assert_eq!(suspended, "true");
}

#[test]
fn a_cronjob_on_its_schedule_runs_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker();
    let manifest = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick\nspec:\n  schedule: \"@every 2s\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - name: main\n            image: busybox\n            command: [\"sh\", \"-c\", \"echo tick {marker}\"]\n"
    );
    let path = write(dir.path(), "tick.yaml", &manifest);
    let mut bg = Background::start(&["-f", path.to_str().unwrap(), "--schedule"]);
    // CronJob Jobs are named after their fire time's minute (C-50): one run per minute.
    bg.wait_for("a run and the next fire time after it", |_, err| {
        err.find("Complete: job/tick-")
            .is_some_and(|at| err[at..].contains("cronjob/tick: next run at "))
    });
    bg.signal("INT");
    assert_eq!(bg.exit_code(), 130, "{}", bg.err());
    let (out, err) = (bg.out(), bg.err());
    assert!(
        err.contains("job/tick-") && err.contains(" started for "),
        "{err}"
    );
    assert!(
        err.contains("Stopped: cronjob/tick stopped by Ctrl-C after "),
        "{err}"
    );
    assert!(out.contains(&format!("/main] tick {marker}")), "{out}");
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

/// What each example ends in; every manifest under examples/ must be here.
const EXAMPLES: &[(&str, i32)] = &[
    ("cronjob.yaml", 0),
    ("hello-job.yaml", 0),
    ("indexed-job.yaml", 0),
    ("job.yaml", 0),
    ("pod-failure-policy.yaml", 1),
    ("retry-job.yaml", 1),
];

#[test]
fn every_example_runs_to_its_expected_exit_code() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    found.sort();
    let listed: Vec<String> = EXAMPLES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(found, listed, "examples/ and this test's table differ");
    let mut outputs = std::collections::HashMap::new();
    for (name, code) in EXAMPLES {
        let path = format!("examples/{name}");
        let (o, _tmp) = run(&["-f", &path, "--backoff-base", "1s"], None);
        assert_eq!(
            o.status.code(),
            Some(*code),
            "{path}:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).starts_with("[pod/"), "{path}: {}", stdout(&o));
        outputs.insert(*name, (stdout(&o), stderr(&o)));
    }
    let (out, _) = &outputs["indexed-job.yaml"];
    for i in 0..4 {
        assert!(
            out.contains(&format!("] shard {i} of 4 processed")),
            "{out}"
        );
    }
    let (_, err) = &outputs["pod-failure-policy.yaml"];
    assert!(
        err.contains("(PodFailurePolicy: Container main for pod default/pod-failure-policy-"),
        "{err}"
    );
    let (_, err) = &outputs["retry-job.yaml"];
    assert!(
        err.contains("(BackoffLimitExceeded: Job has reached the specified backoff limit)"),
        "{err}"
    );
}
