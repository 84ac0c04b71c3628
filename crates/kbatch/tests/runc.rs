//! The runc runtime end to end: a busybox image built here (ENTRYPOINT and CMD) pushed to
//! Debian's docker-registry on loopback, pulled by the server's agent and run by Debian's
//! runc, driven by the real kubectl: the image's entrypoint, command/args overrides, logs,
//! exit codes, OOMKilled, runAsNonRoot, image pull failures, an unknown RuntimeClass, and
//! nothing left behind after a SIGKILLed server is restarted.

mod common;
#[path = "image/support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use common::*;
use oci_client::secrets::RegistryAuth;
use support::{GZIP, REGISTRY_BIN, Registry, busybox_image, push, push_client};

const PATIENCE: Duration = Duration::from_secs(120);

/// Whether everything these tests need is here; says what is missing otherwise.
fn ready() -> bool {
    if !have_kubectl() {
        return false;
    }
    let runc = Path::new("/usr/sbin/runc").exists()
        || std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("runc").is_file()));
    if !runc {
        eprintln!("SKIPPED: runc is not installed (apt-get install runc; .ci/run installs it)");
        return false;
    }
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) != 0 {
        eprintln!("SKIPPED: the runc runtime needs root");
        return false;
    }
    if !Path::new(REGISTRY_BIN).exists() || !Path::new(support::BUSYBOX).exists() {
        eprintln!(
            "SKIPPED: {REGISTRY_BIN} or {} is missing (apt-get install docker-registry busybox-static)",
            support::BUSYBOX
        );
        return false;
    }
    true
}

/// A registry on loopback holding `kbatch-test/busybox:v1`; returns it and the image name.
fn registry_with_busybox() -> (Registry, String) {
    let registry = Registry::start(support::Auth::None).expect("docker-registry starts");
    let image = format!("{}/kbatch-test/busybox:v1", registry.addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(push(
        &push_client(),
        &image,
        &busybox_image(),
        GZIP,
        &RegistryAuth::Anonymous,
    ));
    (registry, image)
}

fn apply(server: &Server, yaml: &str) {
    server.ok_stdin(&["apply", "-f", "-"], yaml);
}

fn job(name: &str, image: &str, container_extra: &str, pod_extra: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    spec:
      runtimeClassName: runc
      restartPolicy: Never
{pod_extra}
      containers:
      - name: main
        image: {image}
{container_extra}
"#
    )
}

/// What the container's state says: `{reason} {exitCode}` of its termination.
fn terminated(server: &Server, pod: &str) -> String {
    server
        .wait_for(
            &[
                "get", "pod", pod, "-o",
                "jsonpath={.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}",
            ],
            PATIENCE,
            |o| !o.trim().is_empty(),
        )
        .trim()
        .to_owned()
}

#[test]
fn jobs_run_as_runc_containers_from_a_pulled_image() {
    if !ready() {
        return;
    }
    let (registry, image) = registry_with_busybox();
    let server = Server::start_with(&["--insecure-registry", &registry.addr]);

    // Only `image`: the image's ENTRYPOINT + CMD.
    apply(&server, &job("entry", &image, "", ""));
    server.wait_for(
        &["get", "job", "entry", "-o", "jsonpath={.status.succeeded}"],
        PATIENCE,
        |o| o == "1",
    );
    let pod = server.first_pod_of("entry", PATIENCE);
    assert_eq!(server.ok(&["logs", &pod]), "hello from the image\n");
    let events = server.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
    ]);
    assert!(
        events.contains("Pulling") && events.contains("Pulled"),
        "{events}"
    );
    let id = server.ok(&[
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].containerID}",
    ]);
    assert!(id.starts_with("runc://"), "{id}");
    // The run's end removed its container (runc's state) and its cgroup in every
    // hierarchy, without `runc delete` or with it.
    let uid = server.ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"]);
    let data = server.data_dir();
    wait_until("the ended run's container and cgroups are gone", || {
        runc_containers(&data).is_empty() && container_cgroups(&uid).is_empty()
    });

    // `args` alone replaces CMD and keeps ENTRYPOINT (/bin/busybox); `command` replaces
    // both. The hostname is the pod's; the image's second layer shows; the exit code is
    // the container's.
    apply(
        &server,
        &job("args", &image, "        args: [echo, from, args]", ""),
    );
    let pod = server.first_pod_of("args", PATIENCE);
    assert_eq!(terminated(&server, &pod), "Completed 0");
    assert_eq!(server.ok(&["logs", &pod]), "from args\n");
    apply(
        &server,
        &job(
            "fails",
            &image,
            "        command: [/bin/sh, -c, 'cat /etc/motd; echo $HOSTNAME; echo $GREETING; exit 3']\n        env: [{name: GREETING, value: hi}]",
            "",
        ),
    );
    let pod = server.first_pod_of("fails", PATIENCE);
    assert_eq!(terminated(&server, &pod), "Error 3");
    assert_eq!(
        server.ok(&["logs", &pod]),
        format!("layer two\n{pod}\nhi\n")
    );
    server.wait_for(
        &["get", "job", "fails", "-o", "jsonpath={.status.failed}"],
        PATIENCE,
        |o| o == "1",
    );

    // Volumes are the agent's, as on the process runtime, bind-mounted by the OCI spec: a
    // ConfigMap's key as a read-only file (no line break: the value has none), an emptyDir, and
    // an env var from the ConfigMap.
    apply(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: nightly}\n",
    );
    apply(
        &server,
        &job(
            "volumes",
            &image,
            "        command: [/bin/sh, -c, 'cat /config/mode; echo $MODE; echo x > /scratch/f && cat /scratch/f; (echo y > /config/new) 2>/dev/null || echo read-only']\n        env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]\n        volumeMounts: [{name: config, mountPath: /config}, {name: scratch, mountPath: /scratch}]",
            "      volumes: [{name: config, configMap: {name: settings}}, {name: scratch, emptyDir: {}}]",
        ),
    );
    let pod = server.first_pod_of("volumes", PATIENCE);
    assert_eq!(terminated(&server, &pod), "Completed 0");
    assert_eq!(server.ok(&["logs", &pod]), "nightlynightly\nx\nread-only\n");

    // A command the image does not have: the container never starts (containerd's
    // StartError, exit code 128, runc's reason).
    apply(
        &server,
        &job("badexec", &image, "        command: [no-such-program]", ""),
    );
    let pod = server.first_pod_of("badexec", PATIENCE);
    assert_eq!(terminated(&server, &pod), "StartError 128");
    let message = server.ok(&[
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.message}",
    ]);
    assert!(
        message.contains(r#"exec: "no-such-program": executable file not found in $PATH"#),
        "{message}"
    );

    // A memory limit breached: the kernel's OOM killer ends it, reported as OOMKilled, and
    // a podFailurePolicy rule on its exit code fails the Job at once.
    apply(
        &server,
        &format!(
            r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: oom}}
spec:
  backoffLimit: 5
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {{containerName: main, operator: In, values: [137]}}
  template:
    spec:
      runtimeClassName: runc
      restartPolicy: Never
      containers:
      - name: main
        image: {image}
        command: [/bin/sh, -c, 'x=0123456789; while true; do x=$x$x; done']
        resources: {{limits: {{memory: 32Mi}}}}
"#
        ),
    );
    let pod = server.first_pod_of("oom", PATIENCE);
    assert_eq!(terminated(&server, &pod), "OOMKilled 137");
    server.wait_for(
        &[
            "get",
            "job",
            "oom",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Failed")].reason}"#,
        ],
        PATIENCE,
        |o| o == "PodFailurePolicy",
    );

    // runAsNonRoot with an image that runs as root: kubelet's refusal, and the container
    // waits.
    apply(
        &server,
        &job(
            "nonroot",
            &image,
            "        securityContext: {runAsNonRoot: true}",
            "",
        ),
    );
    let pod = server.first_pod_of("nonroot", PATIENCE);
    let waiting = server.wait_for(
        &[
            "get", "pod", &pod, "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}",
        ],
        PATIENCE,
        |o| o.starts_with("CreateContainerConfigError"),
    );
    assert_eq!(
        waiting,
        format!(
            "CreateContainerConfigError: container has runAsNonRoot and image will run as root (pod: \"{pod}_default({})\", container: main)",
            server.ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"])
        )
    );
    // runAsUser satisfies it: the container runs as that user.
    apply(
        &server,
        &job(
            "user",
            &image,
            "        command: [/bin/sh, -c, 'echo $(busybox id -u):$(busybox id -g)']\n        securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 2000}",
            "",
        ),
    );
    let pod = server.first_pod_of("user", PATIENCE);
    assert_eq!(terminated(&server, &pod), "Completed 0");
    assert_eq!(server.ok(&["logs", &pod]), "1000:2000\n");

    // An image the registry does not have: ErrImagePull, then the pull back-off.
    let missing = format!("{}/kbatch-test/missing:v1", registry.addr);
    apply(&server, &job("missing", &missing, "", ""));
    let pod = server.first_pod_of("missing", PATIENCE);
    server.wait_for(&["get", "pod", &pod], PATIENCE, |o| {
        o.contains("ErrImagePull")
    });
    server.wait_for(&["get", "pod", &pod], PATIENCE, |o| {
        o.contains("ImagePullBackOff")
    });

    // An image imported from a `docker save` archive runs with imagePullPolicy Never.
    let archive = server.dir.path().join("saved.tar");
    support::write_docker_save(&archive, &busybox_image(), &["kbatch-test/saved:v1"]);
    let out = support::kbatch_image(&server.data_dir(), &["import", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    apply(
        &server,
        &job(
            "imported",
            "kbatch-test/saved:v1",
            "        imagePullPolicy: Never",
            "",
        ),
    );
    let pod = server.first_pod_of("imported", PATIENCE);
    assert_eq!(terminated(&server, &pod), "Completed 0");
    assert_eq!(server.ok(&["logs", &pod]), "hello from the image\n");

    // imagePullPolicy Never with an image the node does not have.
    apply(
        &server,
        &job(
            "never",
            &format!("{}/kbatch-test/absent:v1", registry.addr),
            "        imagePullPolicy: Never",
            "",
        ),
    );
    let pod = server.first_pod_of("never", PATIENCE);
    server.wait_for(&["get", "pod", &pod], PATIENCE, |o| {
        o.contains("ErrImageNeverPull")
    });

    // A name that is no image reference: InvalidImageName, with kubelet's message.
    apply(&server, &job("invalid", "Not/A_Name:x", "", ""));
    let pod = server.first_pod_of("invalid", PATIENCE);
    let waiting = server.wait_for(
        &[
            "get", "pod", &pod, "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}",
        ],
        PATIENCE,
        |o| o.starts_with("InvalidImageName"),
    );
    assert!(
        waiting
            .starts_with(r#"InvalidImageName: Failed to apply default image tag "Not/A_Name:x": "#),
        "{waiting}"
    );
}

/// runc's containers, in the server's own runc state directory.
fn runc_containers(data: &Path) -> Vec<String> {
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(data.join("agent/runc/state"))
        .args(["list", "-q"])
        .output()
        .expect("runc list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The cgroups of pod `uid`'s containers, in every hierarchy (v1's below
/// `/sys/fs/cgroup/<controller>`, v2's below `/sys/fs/cgroup`).
fn container_cgroups(uid: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::PathBuf::from("/sys/fs/cgroup");
    let hierarchies = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path())
        .chain([root.clone()]);
    hierarchies
        .flat_map(|h| {
            std::fs::read_dir(h.join("kbatch-runc"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(uid))
        .map(|e| e.path())
        .collect()
}

/// Mounts below `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .filter(|m| m.starts_with(dir))
        .collect()
}

fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_killed_server_leaves_nothing_behind_after_its_restart() {
    if !ready() {
        return;
    }
    let (registry, image) = registry_with_busybox();
    let insecure = ["--insecure-registry", registry.addr.as_str()];
    let server = Server::start_with(&insecure);
    let data = server.data_dir();
    apply(
        &server,
        &job(
            "sleeper",
            &image,
            "        command: [/bin/sh, -c, 'echo started; exec sleep 1000']",
            "      terminationGracePeriodSeconds: 1",
        ),
    );
    let pod = server.first_pod_of("sleeper", PATIENCE);
    let uid = server.ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"]);
    server.wait_for(&["logs", &pod], PATIENCE, |o| o == "started\n");
    assert_eq!(runc_containers(&data).len(), 1);
    assert!(!mounts_under(&data).is_empty(), "the rootfs is mounted");

    // SIGKILL: the container goes on without the server.
    let dir = server.stop();
    assert_eq!(runc_containers(&dir.path().join("data")).len(), 1);
    let server = Server::start_in(dir, &insecure);
    // The restarted server adopts it (still running, same container) ...
    server.wait_for(
        &["get", "pod", &pod, "-o", "jsonpath={.status.phase}"],
        PATIENCE,
        |o| o == "Running",
    );
    // ... and once the Job is deleted, nothing of it is left.
    server.ok(&[
        "delete",
        "job",
        "sleeper",
        "--cascade=foreground",
        "--wait=false",
    ]);
    // The bundle goes after the rootfs is unmounted (runc/cleanup.rs `release`), so it is
    // waited for with them.
    let bundles = data.join("agent/runc/bundles");
    wait_until(
        "the container, its rootfs mount and its bundle are gone",
        || {
            runc_containers(&data).is_empty()
                && mounts_under(&data).is_empty()
                && std::fs::read_dir(&bundles).map_or(0, |d| d.count()) == 0
        },
    );
    let leftovers: Vec<_> = std::fs::read_dir("/sys/fs/cgroup/memory/kbatch-runc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().starts_with(&uid)),
        "{leftovers:?}"
    );
}

#[test]
fn runtime_classes_exist_and_an_unknown_one_is_rejected() {
    if !have_kubectl() {
        return;
    }
    let server = Server::start();
    let out = server.ok(&["get", "runtimeclasses"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "HANDLER", "AGE"], "{out}");
    assert_eq!(&rows[1][..2], ["process", "process"], "{out}");
    assert_eq!(&rows[2][..2], ["runc", "runc"], "{out}");
    let err = server.fails(&[
        "run",
        "p",
        "--image=busybox",
        "--restart=Never",
        "--overrides={\"spec\":{\"runtimeClassName\":\"nope\"}}",
        "--",
        "true",
    ]);
    assert!(
        err.contains(r#"pods "p" is forbidden: pod rejected: RuntimeClass "nope" not found"#),
        "{err}"
    );
}
