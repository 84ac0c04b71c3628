//! `kubectl logs` of pods on any node: the server reads them from the agent that runs the
//! pod (kubelet's `/containerLogs` over TLS, the agent's certificate pinned by the
//! fingerprint its Node publishes, the server's kubelet client certificate checked against
//! the cluster CA). A `kbatch agent` on "another machine" (its own address and data dir),
//! and two servers on one etcd where kubectl asks one about a pod on the other's node.

mod common;

#[path = "../../store/tests/support/etcd.rs"]
#[allow(dead_code)]
mod etcd;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{RemoteAgent, Server, have_kubectl};

const REMOTE: &str = "far-node";
const LOCAL: &str = "main-node";
/// The remote node's address (any loopback address will do on Linux).
const REMOTE_IP: &str = "127.0.0.2";
const LONG: Duration = Duration::from_secs(120);

/// A Job of one pod pinned to `node`, running `command`.
fn pinned_job(s: &Server, name: &str, node: &str, command: &str) {
    s.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers:
      - name: work
        image: busybox
        command: [sh, -c, '{command}']
"
        ),
    );
}

fn wait_phase(s: &Server, pod: &str, phase: &str) {
    s.wait_for(
        &[
            "get",
            &format!("pod/{pod}"),
            "-o",
            "jsonpath={.status.phase}",
        ],
        LONG,
        |out| out == phase,
    );
}

/// Waits until `node` publishes its log server: the port and the certificate's SHA-256.
fn wait_log_server(s: &Server, node: &str) -> (String, String) {
    let out = s.wait_for(
        &[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port} {.metadata.annotations.kbatch\\.dev/log-server-cert-sha256}",
        ],
        LONG,
        |out| {
            out.split_once(' ')
                .is_some_and(|(port, sha)| port != "0" && !port.is_empty() && sha.len() == 64)
        },
    );
    let (port, sha) = out.split_once(' ').unwrap_or_default();
    (port.to_owned(), sha.to_owned())
}

/// `kubectl logs -f` as a child whose lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(s: &Server, args: &[&str]) -> Follower {
        let mut child = s
            .kubectl_command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run kubectl logs -f");
        let stdout = child.stdout.take().expect("kubectl's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// The next line, waiting generously; None once kubectl has closed its output.
    fn next(&self) -> Option<String> {
        match self.lines.recv_timeout(LONG) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("kubectl logs -f printed nothing"),
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubectl_logs_reads_a_pod_on_a_remote_agent() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start_with(&["--node-name", LOCAL, "--backoff-base", "1s"]);
    let _agent = RemoteAgent::start(&s, REMOTE, REMOTE_IP, &[]);
    let (port, _) = wait_log_server(&s, REMOTE);
    assert_ne!(port, "10250", "--log-port 0 picks a free port");
    // A single server on SQLite opens no log port of its own.
    s.wait_for(&["get", "node", LOCAL, "-o", "name"], LONG, |out| {
        !out.is_empty()
    });
    assert_eq!(
        s.ok(&[
            "get",
            "node",
            LOCAL,
            "-o",
            "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"
        ]),
        ""
    );

    // A finished pod: the whole log, its tail, through the Job.
    pinned_job(&s, "far-lines", REMOTE, "echo one; echo two; echo three");
    s.wait_condition("job/far-lines", "complete");
    let pod = s.first_pod_of("far-lines", LONG);
    assert_eq!(
        s.ok(&[
            "get",
            &format!("pod/{pod}"),
            "-o",
            "jsonpath={.spec.nodeName}"
        ]),
        REMOTE
    );
    assert_eq!(s.ok(&["logs", &pod]), "one\ntwo\nthree\n");
    assert_eq!(s.ok(&["logs", &pod, "--tail", "1"]), "three\n");
    assert_eq!(s.ok(&["logs", "job/far-lines"]), "one\ntwo\nthree\n");
    assert_eq!(s.ok(&["logs", &pod, "--limit-bytes", "6"]), "one\ntw");
    let stamped = s.ok(&["logs", &pod, "--timestamps", "--tail", "1"]);
    assert!(
        stamped.ends_with("Z three\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    // The agent's refusal comes back as its Status: there is no previous run.
    let err = s.fails(&["logs", &pod, "--previous"]);
    assert!(
        err.contains(&format!(
            "previous terminated container \"work\" in pod \"{pod}\" not found"
        )),
        "{err}"
    );

    // A running pod, followed: lines arrive as they are written, and the follow ends with
    // the container.
    let flag = tempfile::tempdir().expect("temp dir");
    let go = flag.path().join("go");
    pinned_job(
        &s,
        "far-follow",
        REMOTE,
        &format!(
            "echo started; while [ ! -e {} ]; do sleep 0.2; done; echo finished",
            go.display()
        ),
    );
    let pod = s.first_pod_of("far-follow", LONG);
    wait_phase(&s, &pod, "Running");
    let follower = Follower::start(&s, &["logs", "-f", &pod]);
    assert_eq!(follower.next().as_deref(), Some("started"));
    std::fs::write(&go, "").expect("the flag file");
    assert_eq!(follower.next().as_deref(), Some("finished"));
    assert_eq!(follower.next(), None);

    // A follow that kubectl gives up: the server closes its connection to the agent, and
    // the agent closes its side.
    pinned_job(&s, "far-forever", REMOTE, "echo awake; sleep 600");
    let pod = s.first_pod_of("far-forever", LONG);
    wait_phase(&s, &pod, "Running");
    let port: u16 = port.parse().expect("the log port");
    let follower = Follower::start(&s, &["logs", "-f", &pod]);
    assert_eq!(follower.next().as_deref(), Some("awake"));
    assert_eq!(agent_connections(port), 1, "the follow's connection");
    drop(follower);
    let deadline = std::time::Instant::now() + LONG;
    while agent_connections(port) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent kept the connection of a follow nobody reads"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stopped while the agent runs: a container outlives its agent (its shim stays for the
    // next agent to adopt), and this one would sleep on after the test.
    s.ok(&[
        "delete",
        "job",
        "far-forever",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
}

/// The connections the remote agent's log server holds open (established, or closed by the
/// other side but not by the agent), from /proc/net/tcp.
fn agent_connections(port: u16) -> usize {
    let ip: std::net::Ipv4Addr = REMOTE_IP.parse().expect("an IPv4 address");
    let [a, b, c, d] = ip.octets();
    // The kernel prints IPv4 addresses as a little-endian word, ports big-endian.
    let local = format!("{d:02X}{c:02X}{b:02X}{a:02X}:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .expect("/proc/net/tcp")
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str())
                && matches!(fields.get(3), Some(&"01") | Some(&"08"))
        })
        .count()
}

#[test]
fn kubectl_on_one_server_reads_a_pod_on_another_servers_node() {
    if !have_kubectl() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let Some(cluster) = runtime.block_on(etcd::Cluster::start("node logs", 1, false)) else {
        return;
    };
    let secrets = tempfile::tempdir().expect("temp dir");
    let secret = secrets.path().join("secret");
    std::fs::write(&secret, "one cluster, one CA\n").expect("the cluster secret");
    let endpoints = cluster.endpoints().join(",");
    let start = |node: &str, ip: &str| {
        let secret = secret.display().to_string();
        Server::start_in(
            tempfile::tempdir().expect("temp dir"),
            &[
                "--store",
                "etcd",
                "--etcd-endpoints",
                &endpoints,
                "--etcd-prefix",
                "/logs",
                "--node-name",
                node,
                "--node-ip",
                ip,
                "--cluster-secret-file",
                &secret,
            ],
        )
    };
    let a = start("server-a", "127.0.0.1");
    // b's node is at an address of its own, as on another machine.
    let b = start("server-b", "127.0.0.3");
    for node in ["server-a", "server-b"] {
        wait_log_server(&a, node);
    }
    pinned_job(&a, "on-b", "server-b", "echo from b; echo bye");
    a.wait_condition("job/on-b", "complete");
    let pod = a.first_pod_of("on-b", LONG);
    assert_eq!(
        a.ok(&[
            "get",
            &format!("pod/{pod}"),
            "-o",
            "jsonpath={.spec.nodeName}"
        ]),
        "server-b"
    );
    assert_eq!(
        a.ok(&[
            "get",
            "node",
            "server-b",
            "-o",
            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}"
        ]),
        "127.0.0.3"
    );
    // Asked through a (which reads b's node over TLS) and through b (its own node).
    assert_eq!(a.ok(&["logs", "job/on-b"]), "from b\nbye\n");
    assert_eq!(b.ok(&["logs", &pod, "--tail", "1"]), "bye\n");
}
