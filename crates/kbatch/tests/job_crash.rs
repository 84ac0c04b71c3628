//! Crash safety of Jobs: the server is SIGKILLed at random moments while a 200-completion Job
//! runs and restarted on the same data dir (same node name), as a machine crash of the server
//! alone would leave it: the pods' processes, in their own process groups, keep running until
//! the restarted agent adopts or fails them. The Job must still end Complete with exactly its
//! completions counted once each.
//!
//! Everything is checked against the API's own record: every watch event of the Job and of its
//! pods, followed across the restarts by resuming each watch from the last resourceVersion
//! seen, so a pod that was Succeeded at any moment is known even if it is gone by the end.
//!
//! The agent's own promise, that a container of a restartPolicy Never pod runs once and that no
//! process outlives its pod, is checked too (`containers_run_once_across_server_kills`): a
//! kill between the runtime's spawn of a shim and the agent's record of the run leaves the run
//! to the restarted agent, which adopts it through its claim (crates/agent/src/shim.rs).
//!
//! `KBATCH_CRASH_KILLS` sets the number of kills per Job (default 4, at least 3 is the point);
//! `KBATCH_CRASH_SEED` replays the random kill moments a failed run printed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

const COMPLETIONS: u64 = 200;
const PARALLELISM: u64 = 10;
/// Generous: the machine is shared and slow at times; a Job that makes no progress at all
/// fails well before.
const PATIENCE: Duration = Duration::from_secs(180);
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// The same node on every start, so the restarted agent finds its checkpoints and its pods;
/// short back-off, since every lost pod is a failure the Job replaces after a delay.
const SERVER_ARGS: &[&str] = &[
    "--node-name",
    "crash-node",
    "--backoff-base",
    "100ms",
    "--backoff-max",
    "1s",
];

/// xorshift64*: the kill moments, reproducible from the seed a run prints.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("KBATCH_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("KBATCH_CRASH_SEED={seed}");
        Rng(seed)
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn kills() -> u64 {
    std::env::var("KBATCH_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("KBATCH_CRASH_KILLS: a number"))
        .unwrap_or(4)
}

/// One collection's watch events, followed across server restarts: each server gets a new
/// watch that resumes from the last resourceVersion the previous one delivered, so no change
/// is missed (the store keeps 10 minutes of history, far more than a run takes).
struct History {
    path: String,
    selector: String,
    seen: Arc<Mutex<Seen>>,
    resource_version: String,
    stream: Option<(Child, JoinHandle<()>)>,
}

#[derive(Default)]
struct Seen {
    events: Vec<Value>,
    /// The ERROR event that ended a watch (a 410 would mean events were lost).
    error: Option<Value>,
}

impl History {
    /// Starts following `path` (a collection) from now on.
    fn follow(s: &Server, path: &str, selector: &str) -> History {
        let list = get(s, &format!("{path}?labelSelector={selector}"));
        let mut history = History {
            path: path.to_owned(),
            selector: selector.to_owned(),
            seen: Arc::default(),
            resource_version: list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned(),
            stream: None,
        };
        history.attach(s);
        history
    }

    /// Watches `s` from where the last watch stopped.
    fn attach(&mut self, s: &Server) {
        let last = self.seen().events.last().map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        if let Some(rv) = last {
            self.resource_version = rv;
        }
        let mut child = Command::new("curl")
            .args(["-sSN", "--cacert"])
            .arg(s.ca_path())
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", s.token()))
            .arg(format!(
                "{}{}?watch=true&labelSelector={}&resourceVersion={}",
                s.url, self.path, self.selector, self.resource_version
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run curl");
        let out = BufReader::new(child.stdout.take().unwrap());
        let seen = self.seen.clone();
        let reader = std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                // A line cut short by the kill is not an event; the next watch resends it.
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let mut seen = seen.lock().unwrap();
                if event["type"] == "ERROR" {
                    seen.error = Some(event);
                    break;
                }
                seen.events.push(event);
            }
        });
        self.stream = Some((child, reader));
    }

    /// After the server died: everything it sent has been read once curl sees the closed
    /// connection and exits.
    fn detach(&mut self) {
        if let Some((mut child, reader)) = self.stream.take() {
            let _ = child.wait();
            reader.join().expect("watch reader");
        }
    }

    /// Creates `sentinel` (an object of the followed kind, labelled for the watch) and returns
    /// every event up to it: the watch delivers in revision order, so once the sentinel is
    /// seen, every change made before it has been.
    fn finish(mut self, s: &Server, sentinel: Value) -> Vec<Value> {
        let name = sentinel["metadata"]["name"].as_str().unwrap().to_owned();
        post(s, &self.path, &sentinel);
        wait_until(
            &format!("the watch of {} to deliver {name}", self.path),
            || {
                self.seen()
                    .events
                    .iter()
                    .any(|e| e["object"]["metadata"]["name"] == name.as_str())
            },
        );
        let (mut child, reader) = self.stream.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        reader.join().expect("watch reader");
        let events = std::mem::take(&mut self.seen().events);
        events
            .into_iter()
            .filter(|e| e["object"]["metadata"]["name"] != name.as_str())
            .collect()
    }

    /// What the watches delivered so far; a watch that failed fails the test.
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        let seen = self.seen.lock().unwrap();
        if let Some(error) = &seen.error {
            panic!("the watch of {} failed: {error}", self.path);
        }
        seen
    }

    /// The newest state of the object called `name`.
    fn latest(&self, name: &str) -> Option<Value> {
        self.seen()
            .events
            .iter()
            .rev()
            .find(|e| e["object"]["metadata"]["name"] == name)
            .map(|e| e["object"].clone())
    }
}

fn get(s: &Server, path: &str) -> Value {
    let (code, body, err) = s.curl("GET", path, &[], None, true);
    assert_eq!(code, 200, "GET {path}: {body}{err}");
    serde_json::from_str(&body).unwrap()
}

fn post(s: &Server, path: &str, object: &Value) {
    let body = object.to_string();
    let (code, out, err) = s.curl(
        "POST",
        path,
        &["Content-Type: application/json"],
        Some(body.as_bytes()),
        true,
    );
    assert_eq!(code, 201, "POST {path}: {out}{err}");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// A pod's one container: records its start in a file named after the pod, sleeps 0 to 2.9s
/// (by pid, so that a restart finds some pods' processes still running and others ended while
/// no agent watched), then records its end just before it exits 0. Every pod the API calls
/// Succeeded must have both lines; a pod lost after its end line is Failed (its exit was never
/// seen), and no pod may have two starts (restartPolicy Never: its container runs once).
const SCRIPT: &str = "echo start >> \"$RECORDS/$POD_NAME\"; sleep $(($$ % 3)).$(($$ % 10)); echo done >> \"$RECORDS/$POD_NAME\"";

/// A Job of short pods running [`SCRIPT`].
fn job(name: &str, mode: &str, records: &Path) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"crash-test": name}},
        "spec": {
            "completions": COMPLETIONS,
            "parallelism": PARALLELISM,
            "completionMode": mode,
            // Every pod running at a kill is lost and fails; those failures are the
            // crash's, not the work's.
            "backoffLimit": 100_000,
            "template": {
                "metadata": {"labels": {"crash-test": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "work",
                        "image": "busybox",
                        "command": ["sh", "-c", SCRIPT],
                        "env": [
                            {"name": "RECORDS", "value": records.to_str().unwrap()},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        ],
                    }],
                },
            },
        },
    })
}

/// What the watches saw, once the Job is Complete.
struct Outcome {
    /// Every state of the Job, oldest first.
    job_states: Vec<Value>,
    /// Every pod by uid: its every state, oldest first, and whether it was deleted.
    pods: BTreeMap<String, (Vec<Value>, bool)>,
    kills: u64,
    /// Processes of the Job's pods alive when it was Complete.
    leftovers: Vec<String>,
}

impl Outcome {
    fn final_job(&self) -> &Value {
        self.job_states.last().unwrap()
    }

    /// Every state the API recorded of the pod called `name`, one line each.
    fn history(&self, name: &str) -> String {
        let states = self
            .pods
            .values()
            .find(|(states, _)| states.iter().any(|p| pod_name(p) == name));
        let Some((states, deleted)) = states else {
            return format!("{name}: never seen by the watch");
        };
        let mut lines = vec![format!("{name}:")];
        for pod in states {
            let status = &pod["status"];
            let mut line = format!(
                "  rv {} phase {} node {}",
                pod["metadata"]["resourceVersion"].as_str().unwrap_or("?"),
                status["phase"].as_str().unwrap_or("-"),
                pod["spec"]["nodeName"].as_str().unwrap_or("-"),
            );
            for c in status["containerStatuses"].as_array().into_iter().flatten() {
                let state = c["state"].as_object().and_then(|s| s.iter().next());
                let (what, detail) = state.map_or(("-", &Value::Null), |(k, v)| (k.as_str(), v));
                line += &format!(
                    " | {what} {} {} exit {} id {} restarts {}",
                    detail["reason"].as_str().unwrap_or(""),
                    detail["message"].as_str().unwrap_or(""),
                    detail["exitCode"],
                    c["containerID"].as_str().unwrap_or("-"),
                    c["restartCount"],
                );
            }
            if pod["metadata"]["deletionTimestamp"].is_string() {
                line += " (deleting)";
            }
            lines.push(line);
        }
        if *deleted {
            lines.push("  deleted".to_owned());
        }
        lines.join(
            "
",
        )
    }

    /// The pods the API reported Succeeded at some moment.
    fn succeeded_pods(&self) -> Vec<&Value> {
        self.pods
            .values()
            .filter_map(|(states, _)| states.iter().find(|p| p["status"]["phase"] == "Succeeded"))
            .collect()
    }
}

/// Runs the Job, killing the server `kills()` times at random moments while it runs, and
/// returns what the API recorded.
fn run_with_kills(name: &str, mode: &str) -> (Outcome, tempfile::TempDir) {
    let records = tempfile::tempdir().unwrap();
    let mut rng = Rng::new();
    let kills = kills();
    let mut s = Server::start_with(SERVER_ARGS);
    let selector = format!("crash-test%3D{name}");
    let mut jobs = History::follow(&s, JOBS, &selector);
    let mut pods = History::follow(&s, PODS, &selector);
    post(&s, JOBS, &job(name, mode, records.path()));

    // The kth kill comes once the Job has counted a random number of successes in the kth
    // slice of its run, then after a random pause of up to 0.5s, so kills land in every phase
    // of a pod's life: being created, bound, started, exited, reported, counted.
    let slice = (COMPLETIONS - 10) / kills.max(1);
    for k in 0..kills {
        let threshold = k * slice + rng.below(slice);
        wait_until(&format!("{name} to count {threshold} successes"), || {
            let job = jobs.latest(name).unwrap_or_default();
            assert_ne!(failed(&job), Some("True"), "{name} failed: {job:#}");
            job["status"]["succeeded"].as_u64().unwrap_or(0) >= threshold
        });
        std::thread::sleep(Duration::from_millis(rng.below(500)));
        let dir = s.stop();
        jobs.detach();
        pods.detach();
        s = Server::start_in(dir, SERVER_ARGS);
        jobs.attach(&s);
        pods.attach(&s);
    }

    wait_until(&format!("{name} to complete"), || {
        let job = jobs.latest(name).unwrap_or_default();
        assert_ne!(failed(&job), Some("True"), "{name} failed: {job:#}");
        condition(&job, "Complete") == Some("True")
    });
    let leftovers = live_processes(records.path());
    let job_events = jobs.finish(
        &s,
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": format!("{name}-sentinel"), "labels": {"crash-test": name}},
            "spec": {"suspend": true, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
            }}},
        }),
    );
    // Bound to a node that does not exist, so nothing ever runs it.
    let pod_events = pods.finish(
        &s,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": format!("{name}-sentinel"), "labels": {"crash-test": name}},
            "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]},
        }),
    );
    let mut pods: BTreeMap<String, (Vec<Value>, bool)> = BTreeMap::new();
    for event in pod_events {
        let uid = event["object"]["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_owned();
        let entry = pods.entry(uid).or_default();
        entry.1 |= event["type"] == "DELETED";
        entry.0.push(event["object"].clone());
    }
    let outcome = Outcome {
        job_states: job_events
            .into_iter()
            .map(|e| e["object"].clone())
            .collect(),
        pods,
        kills,
        leftovers,
    };
    drop(s);
    (outcome, records)
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a str> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["status"]
        .as_str()
}

fn failed(job: &Value) -> Option<&str> {
    condition(job, "Failed")
}

fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap()
}

/// The processes (not yet dead: neither zombies nor with a SIGKILL pending) whose environment
/// holds `RECORDS=<records>`, i.e. the pods' processes, with their command lines.
fn live_processes(records: &Path) -> Vec<String> {
    let marker = format!("RECORDS={}", records.display());
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let Ok(environ) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
                .to_owned()
        };
        let zombie = matches!(field("State:").chars().next(), Some('Z' | 'X') | None);
        let kill_pending = u64::from_str_radix(&field("ShdPnd:"), 16).unwrap_or(0)
            | u64::from_str_radix(&field("SigPnd:"), 16).unwrap_or(0);
        if zombie || kill_pending & (1 << 8) != 0 {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        live.push(format!(
            "{}: {}",
            entry.file_name().to_string_lossy(),
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        ));
    }
    live
}

/// The Job's own guarantees after the kills (both completion modes).
fn check_job(o: &Outcome, records: &Path) {
    let job = o.final_job();
    assert_eq!(job["status"]["succeeded"], COMPLETIONS, "{job:#}");
    assert_eq!(failed(job), None, "{job:#}");
    // Each success is counted exactly once: the count only grows, and never past completions
    // (J-31: a finished pod is counted once, through uncountedTerminatedPods).
    let mut last = 0;
    for state in &o.job_states {
        let succeeded = state["status"]["succeeded"].as_u64().unwrap_or(0);
        assert!(
            succeeded >= last && succeeded <= COMPLETIONS,
            "status.succeeded went from {last} to {succeeded}: {state:#}"
        );
        last = succeeded;
    }
    // The agent reported Succeeded only for processes that ran to their end.
    for pod in o.succeeded_pods() {
        let name = pod_name(pod);
        let record = std::fs::read_to_string(records.join(name)).unwrap_or_default();
        assert!(
            record.ends_with("done\n"),
            "{name} is Succeeded but its process never finished ({record:?}):\n{}",
            o.history(name)
        );
    }
    // Nothing is left running or waiting to run.
    let unfinished: Vec<&str> = o
        .pods
        .values()
        .filter(|(_, deleted)| !deleted)
        .map(|(states, _)| states.last().unwrap())
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .map(pod_name)
        .collect();
    assert!(
        unfinished.is_empty(),
        "pods left unfinished: {}",
        unfinished
            .iter()
            .map(|n| o.history(n))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let failed_pods = o
        .pods
        .values()
        .filter(|(states, _)| states.iter().any(|p| p["status"]["phase"] == "Failed"))
        .count();
    eprintln!(
        "{} kills: {} pods, {failed_pods} failed (lost to a kill)",
        o.kills,
        o.pods.len(),
    );
}

/// The agent's guarantees about the pods' processes after the kills.
fn check_runs(o: &Outcome, records: &Path) {
    // restartPolicy Never: each pod's container runs once. A restarted agent adopts or fails
    // a run it finds recorded, and never starts it again.
    let mut twice = Vec::new();
    for entry in std::fs::read_dir(records).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let record = std::fs::read_to_string(entry.path()).unwrap();
        if record.matches("start").count() != 1 {
            twice.push(format!("{record:?}\n{}", o.history(&name)));
        }
    }
    assert!(
        twice.is_empty(),
        "containers that ran more than once:\n{}",
        twice.join("\n")
    );
    // Every pod is finished, so every process it ran has ended: the restarted agent killed
    // what it could not follow.
    assert!(
        o.leftovers.is_empty(),
        "processes of finished pods still run: {:#?}",
        o.leftovers
    );
}

#[test]
fn indexed_job_survives_server_kills() {
    let (o, records) = run_with_kills("crash-indexed", "Indexed");
    check_job(&o, records.path());
    let job = o.final_job();
    assert_eq!(job["status"]["completedIndexes"], "0-199", "{job:#}");
    // No index succeeded twice, and every index once.
    let mut by_index: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for pod in o.succeeded_pods() {
        let index = pod["metadata"]["annotations"][INDEX_KEY]
            .as_str()
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("no completion index: {pod:#}"));
        by_index.entry(index).or_default().push(pod_name(pod));
    }
    let twice: Vec<String> = by_index
        .iter()
        .filter(|(_, pods)| pods.len() > 1)
        .map(|(index, pods)| {
            let histories: Vec<String> = pods.iter().map(|p| o.history(p)).collect();
            format!("index {index}:\n{}", histories.join("\n"))
        })
        .collect();
    assert!(
        twice.is_empty(),
        "indexes that succeeded twice:\n{}",
        twice.join("\n")
    );
    assert_eq!(
        by_index.keys().copied().collect::<BTreeSet<u64>>(),
        (0..COMPLETIONS).collect::<BTreeSet<u64>>()
    );
}

#[test]
fn non_indexed_job_survives_server_kills() {
    let (o, records) = run_with_kills("crash-nonindexed", "NonIndexed");
    check_job(&o, records.path());
    // Every pod that succeeded was counted, so exactly completions of them succeeded.
    assert_eq!(o.succeeded_pods().len() as u64, COMPLETIONS);
}

/// Before runs were claimed, this failed in about half the runs with `KBATCH_CRASH_KILLS=8`: a
/// kill between the runtime's spawn and the checkpoint save left the run unrecorded, the
/// restarted agent started the container again (a pod's record read "start start done done"
/// or "start done start done", its API history one run).
#[test]
fn containers_run_once_across_server_kills() {
    let (o, records) = run_with_kills("crash-runs", "NonIndexed");
    check_job(&o, records.path());
    check_runs(&o, records.path());
}
