//! The process runtime in shim mode, with the real shim (`kbatch __shim`): runs behave as
//! direct ones do, outlive the runtime that started them, and are adopted by a later one
//! with their real exit codes and logs; a run whose shim died is reported lost, never left
//! running. The agent on top adopts its pods' runs the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kbatch_agent::api::LocalApi;
use kbatch_agent::checkpoint::{Checkpoints, RunRecord, ShimRecord};
use kbatch_agent::runtime::process::ProcessRuntime;
use kbatch_agent::runtime::{ContainerHandle, ContainerSpec, Limits, PodRef, Runtime, run_id};
use kbatch_agent::{Agent, AgentConfig};
use kbatch_api::clock::{Clock, SystemClock};
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_core::object::{Object, POD};
use kbatch_store::MemoryStore;

fn kbatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kbatch"))
}

/// A shim-mode runtime with the host's cgroups, its status files in `dir/runs`.
fn runtime(dir: &Path) -> ProcessRuntime {
    ProcessRuntime::new(Arc::new(SystemClock)).with_shim(kbatch(), dir.join("runs"))
}

fn uid(name: &str) -> String {
    format!("shim-{}-{name}", std::process::id())
}

fn spec(dir: &Path, name: &str, script: &str) -> ContainerSpec {
    let uid = uid(name);
    ContainerSpec {
        id: run_id(&uid, name, 0),
        pod: PodRef {
            namespace: "default".into(),
            name: "p".into(),
            uid,
        },
        name: name.into(),
        attempt: 0,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        working_dir: dir.to_owned(),
        log_path: dir.join("logs").join(format!("{name}.log")),
        limits: Limits::default(),
        mounts: Vec::new(),
        image: None,
    }
}

/// A script that says `before`, waits until the file `gate` exists in its working
/// directory, says `after` and exits with `code`.
fn gated(code: i32) -> String {
    format!("echo before; while [ ! -e gate ]; do sleep 0.02; done; echo after; exit {code}")
}

fn open_gate(dir: &Path) {
    std::fs::write(dir.join("gate"), "").unwrap();
}

/// The contents of a CRI log file's lines.
fn log_contents(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_owned())
        .collect()
}

/// The checkpoint record of a started run, as the pod worker writes it.
fn recorded(run: &Arc<dyn ContainerHandle>, name: &str) -> RunRecord {
    RunRecord {
        container: name.into(),
        id: run.id().to_owned(),
        attempt: 0,
        started_at: run.started_at().to_string(),
        process: run.process(),
    }
}

/// Starts a gated run as an agent process that then dies would: on a runtime of its own,
/// whose tasks (and handle on the shim) all go away with it. Returns the run's checkpoint
/// record, taken once the run has said `before`.
fn start_in_a_dying_agent(dir: &Path, spec: ContainerSpec) -> RunRecord {
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let tasks = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tasks.block_on(async {
            let (name, log) = (spec.name.clone(), spec.log_path.clone());
            let run = runtime(&dir).start(spec).await.unwrap();
            eventually("the run has started", || log_contents(&log) == ["before"]).await;
            recorded(&run, &name)
        })
    })
    .join()
    .unwrap()
}

fn shim_of(record: &RunRecord) -> ShimRecord {
    record.process.clone().unwrap().shim.expect("a shim record")
}

/// `/proc/<pid>/stat` field `n` (1-based, n > 2), or `None` once the process is gone.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(n - 3)
        .map(str::to_owned)
}

/// Whether a process lives (a zombie has ended).
fn alive(pid: i32) -> bool {
    stat_field(pid, 3).is_some_and(|state| state != "Z" && state != "X")
}

fn kill9(pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls until `check` holds; gives up (failing the test) after a minute, so a broken
/// runtime fails the test instead of hanging it.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let polled = tokio::time::timeout(Duration::from_secs(60), async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_a_shim_behaves_as_a_direct_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mut s = spec(
        dir.path(),
        "plain",
        "echo out; echo err >&2; echo \"$GREETING\"; printf partial; sleep 100 & exit 3",
    );
    s.env.push(("GREETING".into(), "hello".into()));
    let log = s.log_path.clone();
    let run = rt.start(s).await.unwrap();
    let record = run.process().unwrap();
    let shim = record.shim.clone().unwrap();
    // The shim has a session of its own, so it lives on when the agent's goes; the
    // container has a process group of its own within it.
    assert_eq!(stat_field(shim.pid, 6), Some(shim.pid.to_string()));
    assert_eq!(record.pgid, record.pid);
    let exit = run.wait().await;
    assert_eq!(
        (exit.code, exit.signal, exit.oom_killed, exit.lost),
        (3, None, false, None)
    );
    let mut lines = log_contents(&log);
    lines.sort();
    assert_eq!(lines, ["err", "hello", "out", "partial"]);
    // What the run left behind went with it.
    assert!(!alive(record.pid));
    let err = rt
        .start(ContainerSpec {
            argv: vec!["kbatch-no-such-program".into()],
            ..spec(dir.path(), "missing", "")
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"kbatch-no-such-program\": executable file not found in $PATH"
    );
    rt.forget(run.id());
    eventually("the status file of a forgotten run goes", || {
        !shim.status_file.exists()
    })
    .await;
    rt.release_pod(&uid("plain")).await;
    rt.release_pod(&uid("missing")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_outlives_its_runtime_and_is_adopted_with_its_exit_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "kept", &gated(3));
    let log = s.log_path.clone();
    let record = start_in_a_dying_agent(dir.path(), s);

    let second = runtime(dir.path());
    let adopted = second.adopt(&record).await.expect("adopted");
    assert_eq!(adopted.id(), record.id);
    assert_eq!(adopted.started_at().to_string(), record.started_at);
    assert!(
        second.find(&record.id).is_some(),
        "an adopted run is followed"
    );
    open_gate(dir.path());
    let exit = adopted.wait().await;
    assert_eq!((exit.code, exit.lost), (3, None));
    assert_eq!(log_contents(&log), ["before", "after"]);
    second.release_pod(&uid("kept")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ended_while_no_runtime_followed_it_reports_its_real_exit() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "ended", &gated(7));
    let log = s.log_path.clone();
    let record = start_in_a_dying_agent(dir.path(), s);
    let shim = shim_of(&record);
    open_gate(dir.path());
    eventually("the shim has ended", || !shim.is_alive()).await;

    let second = runtime(dir.path());
    let exit = second.adopt(&record).await.unwrap().wait().await;
    assert_eq!((exit.code, exit.signal, exit.lost), (7, None, None));
    assert_eq!(log_contents(&log), ["before", "after"]);
    second.release_pod(&uid("ended")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_shim_was_killed_is_lost_and_its_container_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let s = spec(dir.path(), "orphaned", &gated(0));
    let log = s.log_path.clone();
    let run = rt.start(s).await.unwrap();
    let record = run.process().unwrap();
    eventually("the run has started", || log_contents(&log) == ["before"]).await;
    kill9(record.shim.as_ref().unwrap().pid);
    let exit = run.wait().await;
    assert_eq!(exit.code, 137);
    let why = exit.lost.expect("lost");
    assert!(
        why.contains(&format!(
            "the container's supervisor (kbatch shim, pid {})",
            record.shim.as_ref().unwrap().pid
        )) && why.contains("recorded no exit"),
        "{why}"
    );
    eventually("the container is killed", || !alive(record.pid)).await;
    rt.release_pod(&uid("orphaned")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_run_whose_shim_died_meanwhile_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let record = start_in_a_dying_agent(dir.path(), spec(dir.path(), "gone", &gated(0)));
    let process = record.process.clone().unwrap();
    // The shim dies with its container (a machine-wide kill, say) while no agent runs.
    kill9(process.shim.as_ref().unwrap().pid);
    kill9(process.pid);
    eventually("the shim has ended", || {
        !process.shim.as_ref().unwrap().is_alive()
    })
    .await;

    let second = runtime(dir.path());
    let exit = second.adopt(&record).await.unwrap().wait().await;
    assert_eq!(exit.code, 137);
    assert!(
        exit.lost
            .as_deref()
            .is_some_and(|why| why.contains("is gone and recorded no exit")),
        "{:?}",
        exit.lost
    );
    second.release_pod(&uid("gone")).await;
}

/// The command line of a process.
fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// Shims are forked by the runtime's spawner; one that has ended is replaced, and runs
/// start as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shims_are_forked_by_a_spawner_that_is_replaced_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let first = rt
        .start(spec(dir.path(), "forked", &gated(3)))
        .await
        .unwrap();
    let shim = first.process().unwrap().shim.unwrap();
    let spawner: i32 = stat_field(shim.pid, 4).unwrap().parse().unwrap();
    assert!(
        cmdline(spawner).contains("__shim-spawner"),
        "{}",
        cmdline(spawner)
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", shim.pid)).unwrap_or_default(),
        "kbatch-shim\n"
    );
    open_gate(dir.path());
    assert_eq!(first.wait().await.code, 3);
    kill9(spawner);
    eventually("the spawner has ended", || !alive(spawner)).await;

    let second = rt.start(spec(dir.path(), "after", "exit 4")).await.unwrap();
    assert_eq!(second.wait().await.code, 4);
    rt.release_pod(&uid("forked")).await;
    rt.release_pod(&uid("after")).await;
}

/// Without a working spawner (here one that ends at once, before or after it was handed the
/// run) the runtime executes each shim itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_spawner_shims_are_executed() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("kbatch-without-spawner");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\ncase \"$1\" in __shim-spawner) exit 0;; esac\nexec {} \"$@\"\n",
            kbatch().display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&program)
        .status()
        .unwrap();
    let rt =
        ProcessRuntime::new(Arc::new(SystemClock)).with_shim(&program, dir.path().join("runs"));
    for (i, name) in ["exec-1", "exec-2", "exec-3"].into_iter().enumerate() {
        let run = rt.start(spec(dir.path(), name, &counted(5))).await.unwrap();
        let shim = run.process().unwrap().shim.unwrap();
        assert!(
            cmdline(shim.pid).contains(" __shim"),
            "{}",
            cmdline(shim.pid)
        );
        open_gate(dir.path());
        assert_eq!((run.wait().await.code, starts(dir.path())), (5, i + 1));
        std::fs::remove_file(dir.path().join("gate")).unwrap();
        rt.release_pod(&uid(name)).await;
    }
}

/// A gated script (as [`gated`]) that first appends `start` to the file `starts` in its
/// working directory: how many times the container ran.
fn counted(code: i32) -> String {
    format!("echo start >> starts; {}", gated(code))
}

/// How many times a [`counted`] container has started in `dir`.
fn starts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// The directory that holds the shims of [`held_runtime`] at their start's points.
fn holds(dir: &Path) -> PathBuf {
    dir.join("holds")
}

/// A shim-mode runtime whose shims stop at the points `holds(dir)` names.
fn held_runtime(dir: &Path) -> ProcessRuntime {
    runtime(dir).hold_shims_at(holds(dir))
}

/// Holds the next shims at `point` until [`release`] (`ProcessRuntime::hold_shims_at`).
fn hold(dir: &Path, point: &str) {
    std::fs::create_dir_all(holds(dir)).unwrap();
    std::fs::write(holds(dir).join(point), "").unwrap();
}

fn release(dir: &Path, point: &str) {
    std::fs::remove_file(holds(dir).join(point)).unwrap();
}

/// Starts the run as an agent process would that dies once its shim has stopped at
/// `point`: the runtime and its pending start go away, the shim stays. Returns the shim's
/// pid.
fn start_in_an_agent_dying_at(dir: &Path, point: &str, spec: ContainerSpec) -> i32 {
    let held = holds(dir).join(format!("{point}.held"));
    let dir = dir.to_owned();
    let waited = held.clone();
    std::thread::spawn(move || {
        let tasks = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tasks.block_on(async {
            let rt = held_runtime(&dir);
            tokio::select! {
                started = rt.start(spec) => panic!("the start did not wait for its held shim: {:?}", started.map(|r| r.id().to_owned())),
                () = eventually("the shim is held", || waited.exists()) => {}
            }
        });
        // Dropping the tasks drops the pending start, as the agent's death would.
    })
    .join()
    .unwrap();
    std::fs::read_to_string(&held).unwrap().parse().unwrap()
}

/// The agent died after the shim had recorded the run but before the agent did (its
/// checkpoint): the pod worker starts the same attempt again, and gets the run the shim
/// started, which goes on to its end; the container runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_for_an_agent_that_died_before_recording_it_is_followed_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "again", &counted(0));
    let log = s.log_path.clone();
    let earlier = start_in_a_dying_agent(dir.path(), s.clone())
        .process
        .unwrap();

    let second = runtime(dir.path());
    let run = second.start(s).await.unwrap();
    assert_eq!(run.process().unwrap(), earlier, "the earlier run, followed");
    open_gate(dir.path());
    let exit = run.wait().await;
    assert_eq!((exit.code, exit.lost), (0, None));
    assert_eq!(log_contents(&log), ["before", "after"]);
    assert_eq!(starts(dir.path()), 1);
    second.release_pod(&uid("again")).await;
}

/// The agent died after spawning the shim, before the shim wrote anything (`claimed`) or
/// while it was about to start the container (`starting`): the next start waits for that
/// shim, follows the run it starts and never starts one of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waits_for_the_shim_an_agent_that_died_spawned() {
    for point in ["claimed", "starting"] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("spawned-{point}");
        let s = spec(dir.path(), &name, &counted(4));
        let log = s.log_path.clone();
        hold(dir.path(), point);
        let shim = start_in_an_agent_dying_at(dir.path(), point, s.clone());

        let second = Arc::new(runtime(dir.path()));
        let starting = tokio::spawn({
            let second = second.clone();
            async move { second.start(s).await }
        });
        release(dir.path(), point);
        let run = starting.await.unwrap().unwrap();
        assert_eq!(run.process().unwrap().shim.unwrap().pid, shim, "{point}");
        open_gate(dir.path());
        let exit = run.wait().await;
        assert_eq!((exit.code, exit.lost), (4, None), "{point}");
        assert_eq!(log_contents(&log), ["before", "after"], "{point}");
        assert_eq!(starts(dir.path()), 1, "{point}");
        second.release_pod(&uid(&name)).await;
    }
}

/// A run whose shim recorded it started (`started`) but had not yet answered when the agent
/// died is followed at once, while the shim is still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_follows_a_recorded_run_whose_shim_never_answered() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "unanswered", &counted(0));
    hold(dir.path(), "started");
    let shim = start_in_an_agent_dying_at(dir.path(), "started", s.clone());

    let second = runtime(dir.path());
    let run = second.start(s).await.unwrap();
    assert_eq!(run.process().unwrap().shim.unwrap().pid, shim);
    release(dir.path(), "started");
    open_gate(dir.path());
    assert_eq!(run.wait().await.code, 0);
    assert_eq!(starts(dir.path()), 1);
    second.release_pod(&uid("unanswered")).await;
}

/// A shim that died before it marked the run as starting provably started nothing: the
/// run is started (once); one that died after the mark may have, so the run is lost, and
/// not started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_that_died_starting_a_run_leaves_it_to_start_only_if_it_never_could_have() {
    for point in ["claimed", "starting"] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("died-{point}");
        let s = spec(dir.path(), &name, &counted(0));
        hold(dir.path(), point);
        let shim = start_in_an_agent_dying_at(dir.path(), point, s.clone());
        kill9(shim);
        eventually("the shim is gone", || !alive(shim)).await;

        let second = runtime(dir.path());
        let run = second.start(s).await.unwrap();
        open_gate(dir.path());
        let exit = run.wait().await;
        if point == "claimed" {
            assert_eq!((exit.code, exit.lost), (0, None));
            assert_eq!(starts(dir.path()), 1);
        } else {
            assert_eq!(exit.code, 137);
            let why = exit.lost.expect("lost");
            assert!(
                why.contains(&format!(
                    "(kbatch shim, pid {shim}) ended while it was starting the container"
                )),
                "{why}"
            );
            assert_eq!(starts(dir.path()), 0);
        }
        second.release_pod(&uid(&name)).await;
    }
}

/// A shim that died while it overwrote its status file left no whole version: the
/// run may have started (the file exists), so it is lost, and not started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_file_left_half_written_makes_the_run_lost() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "torn", &counted(0));
    hold(dir.path(), "starting");
    let shim = start_in_an_agent_dying_at(dir.path(), "starting", s.clone());
    kill9(shim);
    eventually("the shim is gone", || !alive(shim)).await;
    let status = dir
        .path()
        .join("runs")
        .join(format!("{}_{}.json", s.pod.uid, s.id));
    let mut bytes = std::fs::read(&status).unwrap();
    let half = bytes.len() / 2;
    bytes[half..].fill(b'x');
    std::fs::write(&status, bytes).unwrap();

    let second = runtime(dir.path());
    let exit = second.start(s).await.unwrap().wait().await;
    assert_eq!(exit.code, 137);
    let why = exit.lost.expect("lost");
    assert!(
        why.contains("while it was recording the container's start"),
        "{why}"
    );
    open_gate(dir.path());
    assert_eq!(starts(dir.path()), 0);
    second.release_pod(&uid("torn")).await;
}

/// An agent that died after creating a run's claim but before spawning its shim left a
/// claim nobody holds and no status: the run never started, and is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_no_shim_took_is_started() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "unspawned", &counted(0));
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let claim = runs.join(format!("{}_{}.claim", s.pod.uid, s.id));
    std::fs::write(claim, "{\"launch\": {").unwrap();

    let rt = runtime(dir.path());
    let run = rt.start(s).await.unwrap();
    open_gate(dir.path());
    assert_eq!((run.wait().await.code, starts(dir.path())), (0, 1));
    rt.release_pod(&uid("unspawned")).await;
}

/// A run that ended while no agent ran, started for an agent that died before recording
/// it: starting it again reports its real exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_reports_the_exit_of_an_unrecorded_run_that_ended_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "ended-unrecorded", &counted(5));
    let shim = shim_of(&start_in_a_dying_agent(dir.path(), s.clone()));
    open_gate(dir.path());
    eventually("the shim has ended", || !shim.is_alive()).await;

    let second = runtime(dir.path());
    let exit = second.start(s).await.unwrap().wait().await;
    assert_eq!((exit.code, exit.lost), (5, None));
    assert_eq!(starts(dir.path()), 1);
    second.release_pod(&uid("ended-unrecorded")).await;
}

/// Releasing a pod ends every run of it on the node, the ones no agent recorded included:
/// a shim still starting one is killed before it starts anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_pod_ends_the_runs_no_agent_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "released", &counted(0));
    let uid = s.pod.uid.clone();
    hold(dir.path(), "starting");
    let shim = start_in_an_agent_dying_at(dir.path(), "starting", s);

    let second = runtime(dir.path());
    assert!(second.pods().contains(&uid));
    second.release_pod(&uid).await;
    assert!(!alive(shim));
    assert!(!second.pods().contains(&uid));
    release(dir.path(), "starting");
    assert_eq!(starts(dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_reports_an_oom_kill() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    if !rt.cgroups().is_some_and(|c| c.limits_memory()) {
        eprintln!("skipped: no usable memory cgroup on this host, so no OOM kill to observe");
        return;
    }
    let mut s = spec(dir.path(), "hog", "");
    // `tail` keeps the whole (endless, newline-free) last line of /dev/zero in memory.
    s.argv = vec!["tail".into(), "/dev/zero".into()];
    s.limits.memory_bytes = Some(16 << 20);
    let exit = rt.start(s).await.unwrap().wait().await;
    assert_eq!(
        (exit.code, exit.signal, exit.oom_killed, exit.lost),
        (137, Some(9), true, None)
    );
    rt.release_pod(&uid("hog")).await;
}

const NODE: &str = "node-1";

/// A registry on the in-memory store.
async fn registry() -> Registry {
    let registry = Registry::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    registry.bootstrap().await.unwrap();
    registry
}

/// Creates a pod running `script` under `restartPolicy: Never` and binds it to the node.
async fn run_pod(registry: &Registry, name: &str, script: &str) {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c", script],
        }]},
    }))
    .unwrap();
    registry
        .create(
            &POD,
            "default",
            Object::Pod(pod),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    registry.bind_pod("default", name, NODE).await.unwrap();
}

async fn get(registry: &Registry, name: &str) -> Pod {
    match registry.get(&POD, "default", name).await.unwrap() {
        Object::Pod(p) => p,
        _ => unreachable!(),
    }
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// `(exitCode, reason)` of the pod's one container once it has terminated.
fn terminated(pod: &Pod) -> Option<(i32, String)> {
    let state = pod.status.as_ref()?.container_statuses.as_ref()?[0]
        .state
        .clone()?;
    let t = state.terminated?;
    Some((t.exit_code, t.reason.unwrap_or_default()))
}

async fn wait_for(registry: &Registry, name: &str, what: impl Fn(&Pod) -> bool) -> Pod {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let pod = get(registry, name).await;
            if what(&pod) {
                return pod;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    match waited {
        Ok(pod) => pod,
        Err(_) => panic!("{name}: {:#?}", get(registry, name).await.status),
    }
}

/// An agent whose process died (its task and its runtime gone) leaves its pods' runs to
/// the next one: a run that ended meanwhile reports its real exit, a running one goes on
/// to its end; neither is run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agent_adopts_the_runs_of_its_pods() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let (ended_gate, running_gate) = (dir.path().join("ended"), dir.path().join("running"));
    let registry = registry().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let agent = |rt: ProcessRuntime| {
        let config = AgentConfig::new(NODE, &data, Arc::new(rt));
        tokio::spawn(
            Agent::new(
                Arc::new(LocalApi::new(registry.clone())),
                clock.clone(),
                config,
            )
            .run(),
        )
    };
    let shims =
        || ProcessRuntime::new(Arc::new(SystemClock)).with_shim(kbatch(), data.join("runs"));
    let first = agent(shims());
    let script = |gate: &Path, code: i32| {
        format!(
            "echo started; while [ ! -e {} ]; do sleep 0.02; done; echo finished; exit {code}",
            gate.display()
        )
    };
    run_pod(&registry, "ends-while-down", &script(&ended_gate, 3)).await;
    run_pod(&registry, "runs-on", &script(&running_gate, 0)).await;
    for name in ["ends-while-down", "runs-on"] {
        wait_for(&registry, name, |p| phase(p) == Some("Running")).await;
    }
    first.abort();
    let _ = first.await;
    let ended_uid = get(&registry, "ends-while-down")
        .await
        .metadata
        .uid
        .unwrap();
    let checkpoint = Checkpoints::new(&data).load(&ended_uid).unwrap();
    let shim = checkpoint.runs[0].process.clone().unwrap().shim.unwrap();
    std::fs::write(&ended_gate, "").unwrap();
    eventually("the first run has ended", || !shim.is_alive()).await;

    let second = agent(shims());
    let ended = wait_for(&registry, "ends-while-down", |p| phase(p) == Some("Failed")).await;
    assert_eq!(terminated(&ended), Some((3, "Error".to_owned())));
    std::fs::write(&running_gate, "").unwrap();
    let done = wait_for(&registry, "runs-on", |p| phase(p) == Some("Succeeded")).await;
    assert_eq!(terminated(&done), Some((0, "Completed".to_owned())));
    for pod in [&ended, &done] {
        let status = &pod
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0];
        assert_eq!(status.restart_count, 0, "{status:?}");
        let uid = pod.metadata.uid.clone().unwrap();
        let pod_ref = PodRef {
            namespace: "default".into(),
            name: pod.metadata.name.clone().unwrap(),
            uid,
        };
        let log = kbatch_agent::logs::run_path(&data, &pod_ref, "c", 0);
        assert_eq!(log_contents(&log), ["started", "finished"]);
    }
    second.abort();
}

/// An agent killed between spawning a shim and recording the run (the shim held before it
/// wrote anything): the next agent waits for that shim and adopts its run; the container
/// runs once and the pod succeeds as if nothing had happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agent_adopts_a_run_the_dead_agent_spawned_but_never_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let registry = registry().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let agent = |rt: ProcessRuntime| {
        let config = AgentConfig::new(NODE, &data, Arc::new(rt));
        tokio::spawn(
            Agent::new(
                Arc::new(LocalApi::new(registry.clone())),
                clock.clone(),
                config,
            )
            .run(),
        )
    };
    let shims =
        || ProcessRuntime::new(Arc::new(SystemClock)).with_shim(kbatch(), data.join("runs"));
    hold(dir.path(), "claimed");
    let first = agent(shims().hold_shims_at(holds(dir.path())));
    let (count, gate) = (dir.path().join("starts"), dir.path().join("gate"));
    let script = format!(
        "echo start >> {}; echo started; while [ ! -e {} ]; do sleep 0.02; done; echo finished",
        count.display(),
        gate.display()
    );
    run_pod(&registry, "spawned", &script).await;
    eventually("the shim is held", || {
        holds(dir.path()).join("claimed.held").exists()
    })
    .await;
    first.abort();
    let _ = first.await;
    let pod = get(&registry, "spawned").await;
    assert_ne!(
        phase(&pod),
        Some("Running"),
        "reported before it was recorded"
    );

    let second = agent(shims());
    release(dir.path(), "claimed");
    wait_for(&registry, "spawned", |p| phase(p) == Some("Running")).await;
    std::fs::write(&gate, "").unwrap();
    let done = wait_for(&registry, "spawned", |p| phase(p) == Some("Succeeded")).await;
    assert_eq!(terminated(&done), Some((0, "Completed".to_owned())));
    let status = &done
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(status.restart_count, 0);
    let pod_ref = PodRef {
        namespace: "default".into(),
        name: "spawned".into(),
        uid: done.metadata.uid.clone().unwrap(),
    };
    let log = kbatch_agent::logs::run_path(&data, &pod_ref, "c", 0);
    assert_eq!(log_contents(&log), ["started", "finished"]);
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "start\n");
    second.abort();
}

/// The shim record of the pod's (first) run, from the agent's checkpoint.
fn shim_of_pod(data: &Path, pod: &Pod) -> ShimRecord {
    let uid = pod.metadata.uid.clone().unwrap();
    let checkpoint = Checkpoints::new(data).load(&uid).expect("a checkpoint");
    shim_of(&checkpoint.runs[0])
}

/// A pod whose run's shim died without recording the exit fails as kubelet fails a pod
/// whose container it cannot find: never left Running, whether the agent saw the shim die
/// or found it dead after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_whose_shims_died_fail_with_container_status_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let registry = registry().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let agent = |rt: ProcessRuntime| {
        let config = AgentConfig::new(NODE, &data, Arc::new(rt));
        tokio::spawn(
            Agent::new(
                Arc::new(LocalApi::new(registry.clone())),
                clock.clone(),
                config,
            )
            .run(),
        )
    };
    let shims =
        || ProcessRuntime::new(Arc::new(SystemClock)).with_shim(kbatch(), data.join("runs"));
    let first = agent(shims());
    run_pod(&registry, "seen-dying", "sleep 100").await;
    run_pod(&registry, "found-dead", "sleep 100").await;
    let mut pods = Vec::new();
    for name in ["seen-dying", "found-dead"] {
        pods.push(wait_for(&registry, name, |p| phase(p) == Some("Running")).await);
    }

    kill9(shim_of_pod(&data, &pods[0]).pid);
    let failed = wait_for(&registry, "seen-dying", |p| phase(p) == Some("Failed")).await;
    let check = |pod: &Pod| {
        let status = pod.status.clone().unwrap();
        assert_eq!(status.reason.as_deref(), Some("ContainerStatusUnknown"));
        let message = status.message.unwrap_or_default();
        assert!(
            message.contains("could no longer follow the process of container(s) [c]")
                && message.contains("the container's supervisor (kbatch shim, pid"),
            "{message}"
        );
        assert_eq!(
            terminated(pod),
            Some((137, "ContainerStatusUnknown".to_owned()))
        );
    };
    check(&failed);

    first.abort();
    let _ = first.await;
    let shim = shim_of_pod(&data, &pods[1]);
    let container = Checkpoints::new(&data)
        .load(pods[1].metadata.uid.as_deref().unwrap())
        .unwrap()
        .runs[0]
        .process
        .clone()
        .unwrap()
        .pid;
    kill9(shim.pid);
    kill9(container);
    eventually("the shim has ended", || !shim.is_alive()).await;
    let second = agent(shims());
    let failed = wait_for(&registry, "found-dead", |p| phase(p) == Some("Failed")).await;
    check(&failed);
    second.abort();
}
