//! Container log files and the API's log endpoint over them: which run a request reads,
//! tailLines, sinceTime, timestamps, limitBytes, previous and follow, kubelet's errors, and
//! the retention of a gone pod's logs.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kbatch_agent::FileLogs;
use kbatch_agent::logs::{LogWriter, Stream, collect_garbage, pod_dir, run_path};
use kbatch_agent::runtime::{PodRef, run_id};
use kbatch_api::clock::Clock;
use kbatch_api::logs::{LogOptions, PodLogs};

/// A clock the test moves by hand.
#[derive(Debug)]
struct HandClock(Mutex<jiff::Timestamp>);

impl HandClock {
    fn at(t: &str) -> Arc<HandClock> {
        Arc::new(HandClock(Mutex::new(t.parse().unwrap())))
    }

    fn set(&self, t: &str) {
        *self.0.lock().unwrap() = t.parse().unwrap();
    }
}

impl Clock for HandClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

const UID: &str = "0b1e6e8c-1111-4222-8333-444455556666";

fn pod_ref() -> PodRef {
    PodRef {
        namespace: "default".into(),
        name: "p".into(),
        uid: UID.into(),
    }
}

fn cid(attempt: u32) -> String {
    format!("process://{}", run_id(UID, "c", attempt))
}

/// A pod whose container `c` has a status as given.
fn pod(status: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "default", "uid": UID},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"containerStatuses": [status]}
    }))
    .unwrap()
}

/// Container `c` running its second run, the first one terminated.
fn restarted() -> Pod {
    pod(serde_json::json!({
        "name": "c", "image": "x", "imageID": "", "ready": true, "restartCount": 1,
        "containerID": cid(1),
        "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}},
        "lastState": {"terminated": {"exitCode": 1, "containerID": cid(0)}}
    }))
}

/// Writes two runs: the first with three lines, the second with two.
fn write_runs(dir: &Path, clock: &Arc<HandClock>) -> LogWriter {
    let first = LogWriter::create(&run_path(dir, &pod_ref(), "c", 0), clock.clone()).unwrap();
    clock.set("2026-01-01T00:00:01Z");
    first.write(Stream::Stdout, b"one", false).unwrap();
    clock.set("2026-01-01T00:00:02.5Z");
    first.write(Stream::Stderr, b"two", false).unwrap();
    clock.set("2026-01-01T00:00:03Z");
    first.write(Stream::Stdout, b"thr", true).unwrap();
    first.write(Stream::Stdout, b"ee", false).unwrap();
    drop(first);
    let second = LogWriter::create(&run_path(dir, &pod_ref(), "c", 1), clock.clone()).unwrap();
    clock.set("2026-01-01T00:01:01Z");
    second.write(Stream::Stdout, b"again", false).unwrap();
    second
}

async fn read(logs: &FileLogs, pod: &Pod, options: LogOptions) -> String {
    let mut stream = logs.logs(pod, "c", &options).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

async fn error(logs: &FileLogs, pod: &Pod, options: LogOptions) -> String {
    match logs.logs(pod, "c", &options).await {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            assert_eq!(e.code(), 400);
            e.to_string()
        }
    }
}

#[tokio::test]
async fn options_as_kubelet_applies_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = HandClock::at("2026-01-01T00:00:00Z");
    let writer = write_runs(dir.path(), &clock);
    drop(writer);
    let logs = FileLogs::new(dir.path());
    let pod = restarted();
    assert_eq!(read(&logs, &pod, LogOptions::default()).await, "again\n");
    let previous = LogOptions {
        previous: true,
        ..Default::default()
    };
    // A partial line continues on the next one.
    assert_eq!(
        read(&logs, &pod, previous.clone()).await,
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        read(
            &logs,
            &pod,
            LogOptions {
                tail_lines: Some(2),
                ..previous.clone()
            }
        )
        .await,
        "three\n"
    );
    assert_eq!(
        read(
            &logs,
            &pod,
            LogOptions {
                tail_lines: Some(0),
                ..previous.clone()
            }
        )
        .await,
        ""
    );
    assert_eq!(
        read(
            &logs,
            &pod,
            LogOptions {
                since: Some("2026-01-01T00:00:02Z".parse().unwrap()),
                timestamps: true,
                ..previous.clone()
            }
        )
        .await,
        "2026-01-01T00:00:02.5Z two\n2026-01-01T00:00:03Z thr2026-01-01T00:00:03Z ee\n"
    );
    assert_eq!(
        read(
            &logs,
            &pod,
            LogOptions {
                limit_bytes: Some(6),
                ..previous.clone()
            }
        )
        .await,
        "one\ntw"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_until_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = HandClock::at("2026-01-01T00:00:00Z");
    let writer = write_runs(dir.path(), &clock);
    let logs = FileLogs::new(dir.path());
    let follow = LogOptions {
        follow: true,
        ..Default::default()
    };
    let mut stream = logs.logs(&restarted(), "c", &follow).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"again\n");
    writer.write(Stream::Stdout, b"more", false).unwrap();
    writer.write(Stream::Stdout, b"end", false).unwrap();
    // The run ends: the writer lets go of the file, and the follower stops at its end.
    drop(writer);
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "more\nend\n");
}

#[tokio::test]
async fn kubelets_errors() {
    let dir = tempfile::tempdir().unwrap();
    let logs = FileLogs::new(dir.path());
    let waiting = pod(serde_json::json!({
        "name": "c", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}
    }));
    assert_eq!(
        error(&logs, &waiting, LogOptions::default()).await,
        "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"
    );
    let first_run = pod(serde_json::json!({
        "name": "c", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
        "containerID": cid(0),
        "state": {"running": {}}
    }));
    assert_eq!(
        error(
            &logs,
            &first_run,
            LogOptions {
                previous: true,
                ..Default::default()
            }
        )
        .await,
        "previous terminated container \"c\" in pod \"p\" not found"
    );
}

#[test]
fn logs_outlive_their_pod_for_the_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    let gone = pod_ref();
    let live = PodRef {
        uid: "live-uid".into(),
        name: "q".into(),
        ..pod_ref()
    };
    for p in [&gone, &live] {
        std::fs::create_dir_all(pod_dir(dir.path(), p).join("c")).unwrap();
    }
    let live_uids: HashSet<String> = ["live-uid".to_owned()].into();
    let day = Duration::from_secs(24 * 3600);
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    collect_garbage(dir.path(), &live_uids, t0, day);
    assert!(pod_dir(dir.path(), &gone).exists(), "kept, and marked");
    let almost = t0 + jiff::SignedDuration::from_hours(23);
    collect_garbage(dir.path(), &live_uids, almost, day);
    assert!(pod_dir(dir.path(), &gone).exists());
    let after = t0 + jiff::SignedDuration::from_hours(24);
    collect_garbage(dir.path(), &live_uids, after, day);
    assert!(!pod_dir(dir.path(), &gone).exists(), "removed after a day");
    assert!(
        pod_dir(dir.path(), &live).exists(),
        "a live pod's logs stay"
    );
}
