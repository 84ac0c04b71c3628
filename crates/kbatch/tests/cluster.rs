//! `kbatch server --store etcd` for real: servers on a real etcd (Debian's etcd-server, started
//! on free loopback ports by the store's test support), driven by the real kubectl. The
//! cluster's state lives in etcd, not in the server's data directory; servers sharing one
//! etcd elect one leader through a Lease, and the other takes over when it dies.
//!
//! Without `etcd` or kubectl on the PATH every test here says so and passes without running.

mod common;

#[path = "../../store/tests/support/etcd.rs"]
#[allow(dead_code)]
mod etcd;

use std::time::{Duration, Instant};

use common::{Server, have_kubectl};
use etcd::Cluster;

/// Generous: the machine is shared, and a takeover waits out a 15 s lease.
const LONG: Duration = Duration::from_secs(120);

/// A one-member etcd for `test`, or None (after saying why) without etcd or kubectl.
fn etcd(test: &str) -> Option<Cluster> {
    if !have_kubectl() {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(Cluster::start(test, 1, false))
}

/// A server on `cluster` under `prefix`, with its own data dir and node.
fn server_on(cluster: &Cluster, prefix: &str, node: &str) -> Server {
    server_in(
        tempfile::tempdir().expect("temp dir"),
        cluster,
        prefix,
        node,
    )
}

fn server_in(dir: tempfile::TempDir, cluster: &Cluster, prefix: &str, node: &str) -> Server {
    let endpoints = cluster.endpoints().join(",");
    Server::start_in(
        dir,
        &[
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoints,
            "--etcd-prefix",
            prefix,
            "--node-name",
            node,
        ],
    )
}

fn job(name: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [sh, -c, 'echo {name} done']
"
    )
}

fn wait_complete(s: &Server, name: &str) {
    s.wait_for(
        &[
            "get",
            "job",
            name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Complete\")].status}",
        ],
        LONG,
        |status| status == "True",
    );
}

#[test]
fn a_server_on_etcd_runs_a_job_and_a_restarted_server_still_has_it() {
    let Some(cluster) = etcd("a server on etcd") else {
        return;
    };
    let s = server_on(&cluster, "/one", "node-a");
    s.ok_stdin(&["apply", "-f", "-"], &job("on-etcd"));
    wait_complete(&s, "on-etcd");
    assert_eq!(
        s.ok(&[
            "get",
            "job",
            "on-etcd",
            "-o",
            "jsonpath={.status.succeeded}"
        ]),
        "2"
    );
    assert_eq!(
        s.ok(&["logs", "job/on-etcd"]).trim(),
        "on-etcd done",
        "the local node ran the pods"
    );
    let uid = s.ok(&["get", "job", "on-etcd", "-o", "jsonpath={.metadata.uid}"]);
    // Nothing of the cluster's state is in the data directory.
    assert!(!s.data_dir().join("kbatch.db").exists());

    let dir = s.stop();
    let s = server_in(dir, &cluster, "/one", "node-a");
    assert_eq!(
        s.ok(&["get", "job", "on-etcd", "-o", "jsonpath={.metadata.uid}"]),
        uid
    );
    assert_eq!(
        s.ok(&["get", "pods", "-l", "job-name=on-etcd", "-o", "name"])
            .lines()
            .count(),
        2
    );
    // A server with a data directory of its own on the same etcd sees the same cluster…
    let other = server_on(&cluster, "/one", "node-b");
    assert_eq!(
        other.ok(&["get", "job", "on-etcd", "-o", "jsonpath={.metadata.uid}"]),
        uid
    );
    // …and one under another prefix sees another cluster.
    let apart = server_on(&cluster, "/two", "node-c");
    assert!(apart.fails(&["get", "job", "on-etcd"]).contains("NotFound"));
}

/// The leader Lease's holder, as `server` shows it ("" when none).
fn holder(s: &Server) -> String {
    let out = s.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kbatch-controller-manager",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    if out.success {
        out.stdout
    } else {
        String::new()
    }
}

fn wait_leader(s: &Server, node: &str) {
    s.wait_for(
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kbatch-controller-manager",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        LONG,
        |holder| holder.starts_with(&format!("{node}_")),
    );
}

/// Pods of Job `name`, and how many succeeded: a Job that completed once has exactly its
/// completions, never a pod more made by a second controller.
fn completed_once(s: &Server, name: &str) {
    wait_complete(s, name);
    assert_eq!(
        s.ok(&["get", "job", name, "-o", "jsonpath={.status.succeeded}"]),
        "2"
    );
    let pods = s.ok(&[
        "get",
        "pods",
        "-l",
        &format!("job-name={name}"),
        "-o",
        "name",
    ]);
    assert_eq!(pods.lines().count(), 2, "{pods}");
}

#[test]
fn two_servers_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    let Some(cluster) = etcd("two servers") else {
        return;
    };
    // A control-plane-only server, started first so that it leads…
    let first = Server::start_in(
        tempfile::tempdir().expect("temp dir"),
        &[
            "--store",
            "etcd",
            "--etcd-endpoints",
            &cluster.endpoints().join(","),
            "--etcd-prefix",
            "/ha",
            "--node-name",
            "control",
            "--no-agent",
        ],
    );
    wait_leader(&first, "control");
    // …and a server with the only node, which waits for the Lease.
    let second = server_on(&cluster, "/ha", "worker");
    assert!(holder(&second).starts_with("control_"));
    let transitions = |s: &Server| {
        s.ok(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kbatch-controller-manager",
            "-o",
            "jsonpath={.spec.leaseTransitions}",
        ])
    };
    let before = transitions(&second);

    // A Job made through the follower is run by the leader's controllers, on the
    // follower's node.
    second.ok_stdin(&["apply", "-f", "-"], &job("before"));
    completed_once(&first, "before");
    completed_once(&second, "before");
    let nodes = second.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=before",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    assert_eq!(nodes, "worker worker");
    assert!(
        holder(&second).starts_with("control_"),
        "the leader kept its lease"
    );

    // SIGKILL: the leader cannot give its Lease up; the follower waits it out and leads.
    drop(first);
    wait_leader(&second, "worker");
    let after: i64 = transitions(&second).parse().unwrap();
    assert_eq!(after, before.parse::<i64>().unwrap() + 1);
    second.ok_stdin(&["apply", "-f", "-"], &job("after"));
    completed_once(&second, "after");
    completed_once(&second, "before");
}

#[test]
fn servers_given_one_cluster_secret_share_the_ca_the_token_and_the_secrets_keys() {
    let Some(cluster) = etcd("one cluster secret") else {
        return;
    };
    let secrets = tempfile::tempdir().expect("temp dir");
    let secret = secrets.path().join("secret");
    std::fs::write(&secret, "correct horse battery staple\n").unwrap();
    let endpoints = cluster.endpoints().join(",");
    let args = |node: &'static str, secret: &std::path::Path| -> Vec<String> {
        [
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoints,
            "--etcd-prefix",
            "/shared",
            "--node-name",
            node,
            "--no-agent",
            "--cluster-secret-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([secret.display().to_string()])
        .collect()
    };
    let start = |node: &'static str| {
        let args = args(node, &secret);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_in(tempfile::tempdir().expect("temp dir"), &args)
    };
    let a = start("a");
    let b = start("b");
    assert_eq!(a.token(), b.token());
    assert_eq!(
        std::fs::read_to_string(a.ca_path()).unwrap(),
        std::fs::read_to_string(b.ca_path()).unwrap()
    );
    // The kubeconfigs differ in the server's address only.
    let config = |s: &Server| {
        std::fs::read_to_string(&s.kubeconfig)
            .unwrap()
            .replace(&s.url, "URL")
    };
    assert_eq!(config(&a), config(&b));
    // So a's kubeconfig works on b.
    a.ok_stdin(&["apply", "-f", "-"], &job("shared"));
    let via_b = a.ok(&["--server", &b.url, "get", "job", "shared", "-o", "name"]);
    assert_eq!(via_b.trim(), "job.batch/shared");
    // A Secret one server wrote (encrypted at rest) the other reads: they share its keys.
    a.ok(&[
        "create",
        "secret",
        "generic",
        "shared",
        "--from-literal=password=hunter2",
    ]);
    let read = a.ok(&[
        "--server",
        &b.url,
        "get",
        "secret",
        "shared",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(read, "aHVudGVyMg==");
    // Restarted, a server keeps the cluster's credentials.
    let dir = b.stop();
    let restart = args("b", &secret);
    let restart: Vec<&str> = restart.iter().map(String::as_str).collect();
    let b = Server::start_in(dir, &restart);
    assert_eq!(a.token(), b.token());

    // A server with another secret refuses to start, and says why.
    let wrong = secrets.path().join("wrong");
    std::fs::write(&wrong, "another secret").unwrap();
    let data = secrets.path().join("data-c");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .arg("server")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .args(args("c", &wrong))
        .output()
        .expect("run kbatch server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not open"), "{stderr}");
}

#[test]
fn a_leader_stopped_with_sigterm_gives_its_lease_up() {
    let Some(cluster) = etcd("a leader's SIGTERM") else {
        return;
    };
    // A lease of twenty minutes: the follower can only lead within the test's patience if
    // the leader gives the Lease up.
    let start = |node: &str| {
        let endpoints = cluster.endpoints().join(",");
        Server::start_in(
            tempfile::tempdir().expect("temp dir"),
            &[
                "--store",
                "etcd",
                "--etcd-endpoints",
                &endpoints,
                "--etcd-prefix",
                "/release",
                "--node-name",
                node,
                "--no-agent",
                "--leader-elect-lease-duration",
                "20m",
            ],
        )
    };
    let leader = start("first");
    wait_leader(&leader, "first");
    let follower = start("second");
    assert!(holder(&follower).starts_with("first_"));

    // The leader's process, found by its data dir (the test harness keeps only a handle).
    let data_dir = leader.data_dir();
    let pids = std::process::Command::new("pgrep")
        .arg("-f")
        .arg(format!("data-dir {}", data_dir.display()))
        .output()
        .expect("run pgrep");
    let pids = String::from_utf8_lossy(&pids.stdout).into_owned();
    let pid = pids.split_whitespace().next().expect("the leader's pid");
    let term = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .expect("run kill");
    assert!(term.success());
    wait_leader(&follower, "second");
}

#[test]
fn a_leader_that_loses_etcd_stops_leading_and_exits() {
    use std::io::BufRead;
    let Some(mut cluster) = etcd("a leader without etcd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let log = dir.path().join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .arg("server")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--store", "etcd", "--no-agent"])
        .args(["--etcd-endpoints", &cluster.endpoints().join(",")])
        .args(["--node-name", "alone"])
        .env("KBATCH_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("start kbatch server");
    let stdout = child.stdout.take().expect("the server's stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.starts_with("kbatch server listening on "))),
        "the server did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    std::thread::spawn(move || for _ in lines {});
    let deadline = Instant::now() + LONG;
    loop {
        let lease = std::process::Command::new(
            std::env::var("KBATCH_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned()),
        )
        .env("KUBECONFIG", data.join("kubeconfig"))
        .env("HOME", dir.path())
        .args([
            "get",
            "lease",
            "-n",
            "kube-system",
            "kbatch-controller-manager",
        ])
        .args(["-o", "jsonpath={.spec.holderIdentity}"])
        .output()
        .expect("run kubectl");
        if String::from_utf8_lossy(&lease.stdout).starts_with("alone_") {
            break;
        }
        assert!(Instant::now() < deadline, "the server never led");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Without etcd no renewal succeeds: after the renew deadline the server stops leading
    // and exits, as kube-controller-manager does.
    cluster.kill(0);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the server's status") {
            break status;
        }
        if Instant::now() > deadline + LONG {
            let _ = child.kill();
            panic!("the server went on after losing etcd");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!status.success());
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(stderr.contains("leader election lost"), "{stderr}");
}

/// The Jobs of CronJob `name` by slot (`name-<minutes since the epoch>`, the CronJob
/// controller's deterministic names) with their succeeded counts and pod counts.
fn cron_runs(s: &Server, name: &str) -> Vec<(String, String, usize)> {
    let jobs = s.ok(&[
        "get",
        "jobs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].name} {.status.succeeded}{\"\\n\"}{end}",
    ]);
    let mut runs: Vec<(String, String, usize)> = jobs
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let job = words.next()?.to_owned();
            (words.next()? == name).then(|| {
                let succeeded = words.next().unwrap_or("").to_owned();
                let pods = s
                    .ok(&[
                        "get",
                        "pods",
                        "-l",
                        &format!("job-name={job}"),
                        "-o",
                        "name",
                    ])
                    .lines()
                    .count();
                (job, succeeded, pods)
            })
        })
        .collect();
    runs.sort();
    runs
}

#[test]
fn a_cronjob_runs_each_slot_exactly_once_across_a_leader_failover() {
    let Some(cluster) = etcd("cron failover") else {
        return;
    };
    // Short leases, so that the takeover happens within seconds of the leader's death.
    let lease = [
        "--leader-elect-lease-duration",
        "4s",
        "--leader-elect-renew-deadline",
        "3s",
        "--leader-elect-retry-period",
        "500ms",
    ];
    let endpoints = cluster.endpoints().join(",");
    let args = |node: &'static str, agent: bool| {
        let mut a = vec![
            "--store",
            "etcd",
            "--etcd-endpoints",
            endpoints.as_str(),
            "--etcd-prefix",
            "/cron",
            "--node-name",
            node,
        ];
        if !agent {
            a.push("--no-agent");
        }
        a.extend(lease);
        a
    };
    let first = Server::start_in(tempfile::tempdir().unwrap(), &args("control", false));
    wait_leader(&first, "control");
    let second = Server::start_in(tempfile::tempdir().unwrap(), &args("worker", true));
    second.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: batch/v1
kind: CronJob
metadata: {name: every-minute}
spec:
  schedule: '* * * * *'
  successfulJobsHistoryLimit: 10
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: [sh, -c, 'echo tick']}]
",
    );
    // The first slot, run by the first leader.
    second.wait_for(
        &["get", "jobs", "-o", "name"],
        Duration::from_secs(90),
        |o| o.contains("job.batch/every-minute-"),
    );
    // SIGKILL the leader a few seconds before the next slot: the slot falls while no server
    // leads, and the new leader must run it, once.
    let second_of_minute = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 60
    };
    while second_of_minute() < 57 {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(first);
    wait_leader(&second, "worker");
    // Two more slots: the one during the failover and one under the new leader.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let runs = cron_runs(&second, "every-minute");
        if runs.len() >= 3
            && runs
                .iter()
                .take(3)
                .all(|(_, succeeded, _)| succeeded == "1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "slots not run in time: {runs:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let runs = cron_runs(&second, "every-minute");
    // Consecutive slots, each one Job with one pod that succeeded once.
    let minutes: Vec<i64> = runs
        .iter()
        .map(|(job, _, _)| job.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    for pair in minutes.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1,
            "a slot was skipped or repeated: {runs:?}"
        );
    }
    for (job, succeeded, pods) in &runs {
        if succeeded == "1" {
            assert_eq!(*pods, 1, "{job} ran more than one pod: {runs:?}");
        }
    }
}
