//! The process runtime for real: host processes, their logs, exit codes, environment,
//! working directory, process-group kills, cgroup limits, and reclaiming what an earlier
//! agent left.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kbatch_agent::FileLogs;
use kbatch_agent::checkpoint::{ProcessRecord, start_ticks};
use kbatch_agent::runtime::process::ProcessRuntime;
use kbatch_agent::runtime::{ContainerSpec, Limits, PodRef, Runtime, StopSignal, run_id};
use kbatch_api::clock::SystemClock;
use kbatch_api::logs::{LogOptions, PodLogs};

fn runtime() -> ProcessRuntime {
    ProcessRuntime::new(Arc::new(SystemClock))
}

fn without_cgroups() -> ProcessRuntime {
    ProcessRuntime::with_cgroups(Arc::new(SystemClock), None)
}

/// The pod uid of a test's runs.
fn uid(name: &str) -> String {
    format!("test-{}-{name}", std::process::id())
}

/// Removes the pod cgroups of a test's runs.
async fn release(rt: &ProcessRuntime, names: &[&str]) {
    for name in names {
        rt.release_pod(&uid(name)).await;
    }
}

fn spec(dir: &Path, name: &str, argv: &[&str]) -> ContainerSpec {
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
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        working_dir: dir.to_owned(),
        log_path: dir.join("logs").join(format!("{name}.log")),
        limits: Limits::default(),
        mounts: Vec::new(),
        image: None,
    }
}

/// The (stream, tag, content) of each line of a CRI log file.
fn log_lines(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            let time = parts.next().unwrap();
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{l}");
            let stream = parts.next().unwrap().to_owned();
            let tag = parts.next().unwrap().to_owned();
            (stream, tag, parts.next().unwrap_or("").to_owned())
        })
        .collect()
}

fn line(stream: &str, tag: &str, content: &str) -> (String, String, String) {
    (stream.into(), tag.into(), content.into())
}

/// The live processes (zombies aside: they have ended and wait for their reaper) whose
/// process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
                    let state = rest.next()?;
                    let group = rest.nth(1)?.parse::<i32>().ok()?;
                    Some(state != "Z" && group == pgid)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_goes_to_the_log_and_the_exit_code_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let s = spec(
        dir.path(),
        "echo",
        &["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"],
    );
    let log = s.log_path.clone();
    let run = rt.start(s).await.unwrap();
    let exit = run.wait().await;
    assert_eq!((exit.code, exit.signal, exit.oom_killed), (3, None, false));
    assert!(exit.finished_at >= run.started_at());
    let mut lines = log_lines(&log);
    lines.sort();
    assert_eq!(
        lines,
        [
            line("stderr", "F", "err"),
            line("stdout", "F", "out"),
            line("stdout", "P", "partial")
        ]
    );
    release(&rt, &["echo"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shell_environment_and_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let rt = runtime();
    let mut s = spec(dir.path(), "env", &["env"]);
    s.env
        .push(("GREETING".into(), "hello $(NOT_EXPANDED) $HOME".into()));
    s.working_dir = work.clone();
    let log = s.log_path.clone();
    assert_eq!(rt.start(s).await.unwrap().wait().await.code, 0);
    let mut env: Vec<String> = log_lines(&log).into_iter().map(|(_, _, c)| c).collect();
    env.sort();
    // Exactly the environment given: nothing of the agent's leaks in, and the arguments
    // reach the process as written.
    assert_eq!(
        env,
        ["GREETING=hello $(NOT_EXPANDED) $HOME", "PATH=/usr/bin:/bin"]
    );

    let s = spec(dir.path(), "pwd", &["pwd"]);
    let log = s.log_path.clone();
    let s = ContainerSpec {
        working_dir: work.clone(),
        ..s
    };
    assert_eq!(rt.start(s).await.unwrap().wait().await.code, 0);
    assert_eq!(
        log_lines(&log),
        [line("stdout", "F", work.to_str().unwrap())]
    );
    release(&rt, &["env", "pwd"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_run_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let err = rt
        .start(spec(dir.path(), "missing", &["kbatch-no-such-program"]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"kbatch-no-such-program\": executable file not found in $PATH"
    );
    let err = rt
        .start(spec(dir.path(), "missing2", &["/nonexistent/prog"]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"/nonexistent/prog\": stat /nonexistent/prog: no such file or directory"
    );
    let mut s = spec(dir.path(), "nowhere", &["true"]);
    s.working_dir = dir.path().join("absent");
    let err = rt.start(s).await.unwrap_err();
    assert!(err.to_string().starts_with("chdir to cwd"), "{err}");
    release(&rt, &["missing", "missing2", "nowhere"]).await;
}

async fn group_dies_with_the_run(rt: &ProcessRuntime, dir: &Path) {
    // SIGTERM reaches the whole group: the shell and both sleeps.
    let run = rt
        .start(spec(dir, "tree", &["sh", "-c", "sleep 100 & sleep 100"]))
        .await
        .unwrap();
    let pgid = run.process().unwrap().pgid;
    while group_members(pgid).len() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.signal(StopSignal::Term);
    let exit = run.wait().await;
    assert_eq!((exit.code, exit.signal), (143, Some(15)));
    assert_eq!(group_members(pgid), Vec::<i32>::new());

    // A run whose first process exits takes what it started with it.
    let run = rt
        .start(spec(
            dir,
            "daemon",
            &["sh", "-c", "sleep 100 & echo started; exit 0"],
        ))
        .await
        .unwrap();
    let pgid = run.process().unwrap().pgid;
    assert_eq!(run.wait().await.code, 0);
    assert_eq!(group_members(pgid), Vec::<i32>::new());
    release(rt, &["tree", "daemon"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    group_dies_with_the_run(&runtime(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_kills_the_whole_process_group_without_cgroups() {
    let dir = tempfile::tempdir().unwrap();
    group_dies_with_the_run(&without_cgroups(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_applied_through_cgroups() {
    let rt = runtime();
    let Some(cgroups) = rt.cgroups() else {
        eprintln!("skipped: no usable cgroups on this host");
        return;
    };
    eprintln!("cgroups: {}", cgroups.describe());
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "limited", &["sleep", "100"]);
    s.limits = Limits {
        memory_bytes: Some(64 << 20),
        cpu_millis: Some(500),
        cpu_request_millis: Some(250),
    };
    let run = rt.start(s).await.unwrap();
    let record = run.process().unwrap();
    assert!(!record.cgroups.is_empty());
    let read = |p: &Path, f: &str| {
        std::fs::read_to_string(p.join(f))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let mut checked = 0;
    for path in &record.cgroups {
        // Joined before exec: the process is a member from its first instruction.
        let members = std::fs::read_to_string(path.join("cgroup.procs")).unwrap();
        assert!(
            members.lines().any(|l| l == record.pid.to_string()),
            "{members}"
        );
        if let Some(limit) =
            read(path, "memory.limit_in_bytes").or_else(|| read(path, "memory.max"))
        {
            assert_eq!(limit, (64u64 << 20).to_string());
            checked += 1;
        }
        if let Some(quota) = read(path, "cpu.cfs_quota_us") {
            assert_eq!(quota, "50000");
            assert_eq!(read(path, "cpu.shares").unwrap(), "256");
            checked += 1;
        }
        if let Some(max) = read(path, "cpu.max") {
            assert_eq!(max, "50000 100000");
            checked += 1;
        }
    }
    assert!(checked > 0, "no limit file in {:?}", record.cgroups);
    run.signal(StopSignal::Kill);
    assert_eq!(run.wait().await.code, 137);
    for path in &record.cgroups {
        assert!(!path.exists(), "{} stays after the run", path.display());
    }
    release(&rt, &["limited"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_memory_limit_is_oomkilled() {
    let rt = runtime();
    if !rt.cgroups().is_some_and(|c| c.limits_memory()) {
        eprintln!("skipped: no usable memory cgroup on this host, so no OOM kill to observe");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // `tail` keeps the whole (endless, newline-free) last line of /dev/zero in memory.
    let mut s = spec(dir.path(), "hog", &["tail", "/dev/zero"]);
    s.limits.memory_bytes = Some(16 << 20);
    let exit = rt.start(s).await.unwrap().wait().await;
    assert_eq!(
        (exit.code, exit.signal, exit.oom_killed),
        (137, Some(9), true)
    );
    release(&rt, &["hog"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_ends_what_an_earlier_agent_left() {
    let rt = runtime();
    let mut child = std::process::Command::new("sleep");
    std::os::unix::process::CommandExt::process_group(&mut child, 0);
    let mut child = child.arg("100").spawn().unwrap();
    let pid = child.id() as i32;
    let record = ProcessRecord {
        pid,
        start_ticks: start_ticks(pid).unwrap(),
        pgid: pid,
        cgroups: Vec::new(),
        shim: None,
    };
    // A record whose pid now belongs to another process is left alone.
    let reused = ProcessRecord {
        start_ticks: record.start_ticks + 1,
        ..record.clone()
    };
    assert!(!rt.reclaim(&reused).await);
    assert!(child.try_wait().unwrap().is_none());
    assert!(rt.reclaim(&record).await);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(
        !rt.reclaim(&record).await,
        "nothing is left the second time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_as_processes_through_the_agent() {
    let mut h = common::Harness::new().await;
    let rt = Arc::new(ProcessRuntime::new(h.clock.clone()));
    h.start_agent(h.config(rt));
    let pod = h
        .run_labelled_pod(
            "indexed-3",
            serde_json::json!({"batch.kubernetes.io/job-completion-index": "3"}),
            serde_json::json!({
                "restartPolicy": "Never",
                "containers": [{
                    "name": "c", "image": "busybox",
                    "command": ["sh", "-c"],
                    "args": ["echo \"$(GREETING) index=$JOB_COMPLETION_INDEX pod=$POD node=$NODE ip=$IP\"; pwd; exit 4"],
                    "env": [
                        {"name": "GREETING", "value": "hello"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                            "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}
                    ]
                }]
            }),
        )
        .await;
    let uid = pod.metadata.uid.clone().unwrap();
    let done = h.wait_phase("indexed-3", "Failed").await;
    let t = done
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (4, Some("Error")));
    let logs = FileLogs::new(h.dir.path());
    let mut stream = logs.logs(&done, "c", &LogOptions::default()).await.unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    let work = h.dir.path().join("work").join(&uid);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        format!(
            "hello index=3 pod=indexed-3 node={} ip=127.0.0.1\n{}\n",
            common::NODE,
            work.display()
        )
    );
    // The pod's working directory goes once the worker is done with the pod; its log stays.
    tokio::time::timeout(Duration::from_secs(60), async {
        while work.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the pod's working directory stays");
    assert!(run_path_exists(h.dir.path(), &uid));
}

fn run_path_exists(data_dir: &Path, uid: &str) -> bool {
    let pod = PodRef {
        namespace: "default".into(),
        name: "indexed-3".into(),
        uid: uid.into(),
    };
    kbatch_agent::logs::run_path(data_dir, &pod, "c", 0).exists()
}

/// A run with mounts sees its volumes at their paths, read-only where asked, in a mount
/// namespace of its own: the host sees nothing mounted there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_are_mounted_in_the_run_s_own_namespace() {
    use kbatch_agent::runtime::Mount;
    use kbatch_agent::runtime::mount_ns::{Support, support};
    if matches!(support(), Support::Unavailable(_)) {
        // The refusal itself is what the agent's tests check on such a host.
        eprintln!("skipped: {:?}", support());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join("setting"), "level=debug").unwrap();
    let config = dir.path().join("config-file");
    std::fs::write(&config, "from a file").unwrap();
    // Mount points that do not exist yet, one inside another mount.
    let at = dir.path().join("mnt/data");
    let ro = dir.path().join("mnt/data/ro");
    let file_at = dir.path().join("etc/app.conf");
    let script = format!(
        "cat {at}/setting; echo; cat {file}; echo; echo written > {at}/out && echo rw-ok; \
         touch {ro}/x 2>/dev/null || echo ro-refused",
        at = at.display(),
        ro = ro.display(),
        file = file_at.display(),
    );
    let rt = runtime();
    let s = ContainerSpec {
        mounts: vec![
            Mount {
                source: volume.clone(),
                destination: at.clone(),
                read_only: false,
            },
            Mount {
                source: volume.clone(),
                destination: ro.clone(),
                read_only: true,
            },
            Mount {
                source: config.clone(),
                destination: file_at.clone(),
                read_only: true,
            },
        ],
        ..spec(dir.path(), "mounts", &["/bin/sh", "-c", &script])
    };
    let log = s.log_path.clone();
    let exit = rt.start(s).await.unwrap().wait().await;
    assert_eq!(exit.code, 0, "{:?}", std::fs::read_to_string(&log));
    let out: Vec<String> = log_lines(&log).into_iter().map(|(_, _, l)| l).collect();
    assert_eq!(
        out,
        ["level=debug", "from a file", "rw-ok", "ro-refused"],
        "{out:?}"
    );
    // What the run wrote went into the volume; the host's mount points stay empty.
    assert_eq!(
        std::fs::read_to_string(volume.join("out")).unwrap(),
        "written\n"
    );
    assert!(!at.join("setting").exists());
    assert_eq!(std::fs::read_to_string(&file_at).unwrap(), "");
    release(&rt, &["mounts"]).await;
}
