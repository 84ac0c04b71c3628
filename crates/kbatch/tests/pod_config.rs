//! Pods' configuration for real: ConfigMaps and Secrets as environment and as files, the
//! downward API, `$(VAR)` expansion, emptyDir, subPath, claims, and a container that waits in
//! CreateContainerConfigError until its ConfigMap is created; through the real kubectl
//! against a real server, once on each runtime with the same manifests (issue 10): the
//! process runtime runs the pods as host processes, each with its volumes mounted in a
//! mount namespace of its own, and ignores the image; runc runs them in containers of the
//! busybox image built by the image tests' support, imported into the server's image store
//! (no pull: the tag is not `latest`, so the policy is IfNotPresent).
//!
//! Mount paths are under each test's temporary directory: the processes share the host's
//! filesystem, where missing mount points are created; runc creates them in the container.
//! Every command is `sh -c` with busybox applets, which the host's shell and the image's
//! busybox (whose shell runs its applets itself) both have.
//!
//! Each scenario is a function of the runtime; `process::<scenario>` and `runc::<scenario>`
//! run it, the latter skipped, saying why, where runc.rs's tests are.

mod common;
#[path = "image/support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use common::{Server, have_kubectl};

/// The image every manifest here names, for both runtimes.
const IMAGE: &str = "kbatch-test/busybox:v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Process,
    Runc,
}

impl Runtime {
    /// The scheme of its containers' IDs (`runc://…`).
    fn name(self) -> &'static str {
        match self {
            Runtime::Process => "process",
            Runtime::Runc => "runc",
        }
    }
}

/// A server and the runtime its pods run on.
struct Node {
    server: Server,
    runtime: Runtime,
}

impl std::ops::Deref for Node {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

/// Whether the runc variants can run here; says what is missing otherwise (runc.rs's
/// conditions, less the registry: the image is imported, not pulled).
fn runc_ready() -> bool {
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
    if !Path::new(support::BUSYBOX).exists() {
        eprintln!(
            "SKIPPED: {} is missing (apt-get install busybox-static)",
            support::BUSYBOX
        );
        return false;
    }
    true
}

/// A server whose pods run on `runtime` by default, so the manifests need no
/// `runtimeClassName`; None (with the reason printed) where the runtime cannot run here.
fn server(runtime: Runtime) -> Option<Node> {
    if !have_kubectl() {
        return None;
    }
    let server = match runtime {
        Runtime::Process => Server::start(),
        Runtime::Runc => {
            if !runc_ready() {
                return None;
            }
            let s = Server::start_with(&["--runtime", "runc"]);
            let archive = s.dir.path().join("busybox.tar");
            support::write_docker_save(&archive, &support::busybox_image(), &[IMAGE]);
            let out = support::kbatch_image(&s.data_dir(), &["import", archive.to_str().unwrap()]);
            assert!(out.status.success(), "{}", support::stderr(&out));
            s
        }
    };
    Some(Node { server, runtime })
}

/// Two tests per scenario: `process::<scenario>` and `runc::<scenario>`.
macro_rules! on_both_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod process {
            $(#[test]
            fn $scenario() {
                super::$scenario(super::Runtime::Process)
            })*
        }
        mod runc {
            $(#[test]
            fn $scenario() {
                super::$scenario(super::Runtime::Runc)
            })*
        }
    };
}

on_both_runtimes!(
    config_map_env_and_secret_file,
    env_from_with_prefix_and_expansion,
    a_missing_config_map_waits_then_runs_once_created,
    empty_dir_shared_by_init_and_main_containers,
    downward_api_labels_file_and_sub_paths,
    a_missing_volume_source_keeps_the_pod_creating,
    the_nightly_backup_example_runs,
    a_claim_binds_at_first_use_and_keeps_its_files,
    projected_host_path_memory_read_only_and_fs_group,
    an_empty_dir_past_its_size_limit_evicts_the_pod,
);

/// Far more than any pod here needs, on a busy machine.
const LONG: Duration = Duration::from_secs(120);

fn apply(s: &Server, manifest: &str) {
    s.ok_stdin(&["apply", "-f", "-"], manifest);
}

/// Waits until the Job completes, and checks that its pods ran on the node's runtime.
fn wait_complete(s: &Node, job: &str) {
    let out = s.kubectl(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{job}"),
        "--timeout=120s",
    ]);
    assert!(
        out.success,
        "job/{job} never completed: {}{}\n{}\n{}",
        out.stdout,
        out.stderr,
        s.kubectl(&[
            "get",
            "pods",
            "-l",
            &format!("job-name={job}"),
            "-o",
            "yaml"
        ])
        .stdout,
        s.kubectl(&["get", "events"]).stdout,
    );
    let ids = s.ok(&[
        "get",
        "pods",
        "-l",
        &format!("job-name={job}"),
        "-o",
        "jsonpath={.items[*].status.containerStatuses[*].containerID}",
    ]);
    let scheme = format!("{}://", s.runtime.name());
    assert!(
        !ids.is_empty() && ids.split_whitespace().all(|id| id.starts_with(&scheme)),
        "{ids}"
    );
}

/// Polls `check` until it holds, with generous patience.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + LONG;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a test's mount paths go: inside the server's temporary directory.
fn mounts_dir(s: &Server) -> String {
    let dir = s.dir.path().join("mnt");
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_str().unwrap().to_owned()
}

/// A Job with one pod whose `main` container runs `script`; `pod_extra` goes under the
/// pod's spec, `container_extra` under the container (both indented already).
fn job(name: &str, script: &str, container_extra: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {{app: {name}, tier: batch}}
    spec:
      restartPolicy: Never
{pod_extra}      containers:
      - name: main
        image: {IMAGE}
        command: [sh, -c, {script:?}]
{container_extra}"
    )
}

fn config_map_env_and_secret_file(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    s.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=greeting=hello",
        "--from-literal=level=debug",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cr3t-value",
    ]);
    apply(
        &s,
        &job(
            "reader",
            &format!(
                "echo \"$GREETING from $POD\"; cat {mnt}/creds/password; echo; ls {mnt}/creds; stat -c %a {mnt}/creds/..data/password"
            ),
            "        env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        volumeMounts:
        - {name: creds, mountPath: MNT/creds}
"
            .replace("MNT", &mnt)
            .as_str(),
            "      volumes:
      - name: creds
        secret: {secretName: creds, defaultMode: 0400}
",
        ),
    );
    wait_complete(&s, "reader");
    let pod = s.ok(&["get", "pods", "-l", "job-name=reader", "-o", "name"]);
    let pod = pod.trim().trim_start_matches("pod/");
    let logs = s.ok(&["logs", "job/reader"]);
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            format!("hello from {pod}").as_str(),
            "s3cr3t-value",
            "password",
            "400"
        ],
        "{logs}"
    );
    // The host sees nothing mounted where the pod saw its Secret.
    assert!(!std::path::Path::new(&mnt).join("creds/password").exists());
    // Secret values never reach events.
    let events = s.ok(&["get", "events", "-o", "yaml"]);
    assert!(!events.contains("s3cr3t-value"), "{events}");
    // The pod's volumes went with it (a Secret's is in the run dir: docs/runtimes.md).
    let volumes = s.run_dir().join("pod-volumes");
    assert!(volumes.is_dir(), "{}", volumes.display());
    eventually("the pod's volumes are removed", || {
        std::fs::read_dir(&volumes).is_ok_and(|mut d| d.next().is_none())
    });
}

fn env_from_with_prefix_and_expansion(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    s.ok(&[
        "create",
        "configmap",
        "app",
        "--from-literal=MODE=fast",
        "--from-literal=1bad=prefixed",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=USER=admin",
    ]);
    apply(
        &s,
        &job(
            "envfrom",
            "echo \"$APP_MODE $DB_USER $URL $MODE $APP_1bad\"; echo \"$@\"; env | grep -c ^1bad= || true",
            "        args: [x, '$(APP_MODE)', '$$(APP_MODE)', '$(UNSET)']
        envFrom:
        - {configMapRef: {name: app}, prefix: APP_}
        - {secretRef: {name: db}, prefix: DB_}
        - {configMapRef: {name: app}}
        - {configMapRef: {name: nowhere, optional: true}}
        env:
        - {name: URL, value: 'db://$(DB_USER)@$(NODE)/$(APP_MODE)'}
        - name: NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
",
            "",
        ),
    );
    wait_complete(&s, "envfrom");
    let logs = s.ok(&["logs", "job/envfrom"]);
    // URL refers to NODE before NODE is defined: it stays as written.
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            "fast admin db://admin@$(NODE)/fast fast prefixed",
            "fast $(APP_MODE) $(UNSET)",
            "0"
        ],
        "{logs}"
    );
    let events = s.ok(&["get", "events"]);
    assert!(
        events.contains(
            "Keys [1bad] from the EnvFrom configMap default/app were skipped since they are considered invalid environment variable names."
        ),
        "{events}"
    );
}

fn a_missing_config_map_waits_then_runs_once_created(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    apply(
        &s,
        &job(
            "late",
            "echo \"setting=$SETTING\"",
            "        env:
        - name: SETTING
          valueFrom: {configMapKeyRef: {name: late-config, key: setting}}
",
            "",
        ),
    );
    let waiting = |reason_and_message: &str| {
        s.wait_for(
            &[
                "get",
                "pods",
                "-l",
                "job-name=late",
                "-o",
                "jsonpath={.items[0].status.containerStatuses[0].state.waiting.reason}: {.items[0].status.containerStatuses[0].state.waiting.message}",
            ],
            LONG,
            |out| out == reason_and_message,
        )
    };
    waiting("CreateContainerConfigError: configmap \"late-config\" not found");
    let table = s.ok(&["get", "pods", "-l", "job-name=late"]);
    assert!(table.contains("CreateContainerConfigError"), "{table}");
    // A ConfigMap without the key: kubelet's other message.
    s.ok(&[
        "create",
        "configmap",
        "late-config",
        "--from-literal=other=x",
    ]);
    waiting(
        "CreateContainerConfigError: couldn't find key setting in ConfigMap default/late-config",
    );
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late-config}\ndata: {setting: ready}\n",
    );
    wait_complete(&s, "late");
    assert_eq!(s.ok(&["logs", "job/late"]).trim(), "setting=ready");
    let events = s.ok(&["get", "events"]);
    assert!(
        events.contains("Error: configmap \"late-config\" not found"),
        "{events}"
    );
}

fn empty_dir_shared_by_init_and_main_containers(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    let manifest = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: shared}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      initContainers:
      - name: prepare
        image: {IMAGE}
        command: [sh, -c, 'echo prepared-by-init > {mnt}/scratch/msg']
        volumeMounts: [{{name: scratch, mountPath: {mnt}/scratch}}]
      containers:
      - name: main
        image: {IMAGE}
        command: [sh, -c, 'cat {mnt}/work/msg']
        volumeMounts: [{{name: scratch, mountPath: {mnt}/work}}]
      volumes:
      - {{name: scratch, emptyDir: {{}}}}
"
    );
    apply(&s, &manifest);
    wait_complete(&s, "shared");
    assert_eq!(
        s.ok(&["logs", "job/shared", "-c", "main"]).trim(),
        "prepared-by-init"
    );
    assert!(!std::path::Path::new(&mnt).join("scratch/msg").exists());
}

/// kubelet's local storage eviction: an emptyDir on disk past its `sizeLimit` fails the pod,
/// `Evicted`, with kubelet's message; one within it is left alone.
fn an_empty_dir_past_its_size_limit_evicts_the_pod(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    let manifest = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: hoarder}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {IMAGE}
        command: [sh, -c, 'dd if=/dev/zero of={mnt}/scratch/small bs=1024 count=100 && dd if=/dev/zero of={mnt}/scratch/big bs=1024 count=2048 && sleep 120']
        volumeMounts: [{{name: scratch, mountPath: {mnt}/scratch}}]
      volumes:
      - {{name: scratch, emptyDir: {{sizeLimit: 1Mi}}}}
"
    );
    apply(&s, &manifest);
    let pod = s.wait_for(
        &[
            "get",
            "pods",
            "-l",
            "job-name=hoarder",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        LONG,
        |o| !o.trim().is_empty(),
    );
    let status = s.wait_for(
        &[
            "get",
            "pod",
            pod.trim(),
            "-o",
            "jsonpath={.status.phase}/{.status.reason}/{.status.message}",
        ],
        LONG,
        |o| o.starts_with("Failed/"),
    );
    assert_eq!(
        status,
        "Failed/Evicted/Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". "
    );
    s.wait_for(
        &["get", "job", "hoarder", "-o", "jsonpath={.status.failed}"],
        LONG,
        |o| o == "1",
    );
}

fn downward_api_labels_file_and_sub_paths(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    s.ok(&[
        "create",
        "configmap",
        "conf",
        "--from-literal=app.conf=threads=4",
        "--from-literal=other=not-mounted",
    ]);
    apply(
        &s,
        &job(
            "info",
            &format!(
                "grep -E '^(app|tier)=' {mnt}/podinfo/labels; cat {mnt}/podinfo/mem; echo; cat {mnt}/etc/app.conf; echo; \
                 ls {mnt}/etc; echo out > {mnt}/out/file; ls {mnt}/whole"
            ),
            &"        resources: {limits: {memory: 64Mi}}
        env:
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        volumeMounts:
        - {name: podinfo, mountPath: MNT/podinfo}
        - {name: conf, mountPath: MNT/etc/app.conf, subPath: app.conf}
        - {name: scratch, mountPath: MNT/out, subPathExpr: '$(POD)'}
        - {name: scratch, mountPath: MNT/whole}
"
            .replace("MNT", &mnt),
            "      volumes:
      - name: podinfo
        downwardAPI:
          items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}
      - {name: conf, configMap: {name: conf}}
      - {name: scratch, emptyDir: {}}
",
        ),
    );
    wait_complete(&s, "info");
    let pod = s.ok(&["get", "pods", "-l", "job-name=info", "-o", "name"]);
    let pod = pod.trim().trim_start_matches("pod/");
    let logs = s.ok(&["logs", "job/info"]);
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            "app=\"info\"",
            "tier=\"batch\"",
            "64",
            "threads=4",
            "app.conf",
            pod,
        ],
        "{logs}"
    );
}

fn a_missing_volume_source_keeps_the_pod_creating(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    apply(
        &s,
        &job(
            "novol",
            "cat MNT/cfg/k".replace("MNT", &mnt).as_str(),
            &"        volumeMounts: [{name: cfg, mountPath: MNT/cfg}]\n".replace("MNT", &mnt),
            "      volumes: [{name: cfg, configMap: {name: later}}]\n",
        ),
    );
    s.wait_for(&["get", "events"], LONG, |out| {
        out.contains("MountVolume.SetUp failed for volume \"cfg\" : configmap \"later\" not found")
    });
    let reason = s.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=novol",
        "-o",
        "jsonpath={.items[0].status.phase} {.items[0].status.containerStatuses[0].state.waiting.reason}",
    ]);
    assert_eq!(reason, "Pending ContainerCreating");
    s.ok(&["create", "configmap", "later", "--from-literal=k=v"]);
    wait_complete(&s, "novol");
    assert_eq!(s.ok(&["logs", "job/novol"]).trim(), "v");
}

/// The other volume types, and what kubelet does to all: a projected volume of three
/// sources with item modes; a hostPath the pod shares with the host; an emptyDir of medium
/// Memory (a tmpfs of its sizeLimit); readOnly mounts and read-only volume types refusing
/// writes; a mount listed before the one it sits in still showing; and the pod's fsGroup
/// owning the files (group read for a Secret's `0400`), which lets the pod's user read them
/// on runc (the process runtime runs the pod as the server's user).
fn projected_host_path_memory_read_only_and_fs_group(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    // The host's directory, which the pod's user may write to.
    let host = s.dir.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::write(host.join("from-host"), "from-the-host\n").unwrap();
    s.ok(&[
        "create",
        "configmap",
        "conf",
        "--from-literal=a=from-configmap",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=token=from-secret",
    ]);
    let script = [
        "cd MNT",
        "cat bundle/conf/a bundle/token bundle/name; echo",
        "stat -c '%a %g' bundle/..data/conf/a bundle/..data/token bundle/..data/name",
        "grep ' MNT/outer/mem ' /proc/mounts | cut -d' ' -f3",
        "echo $(( $(stat -f -c '%b * %S' outer/mem) ))",
        "echo deep > outer/mem/f && cat outer/mem/f",
        "stat -c '%a %g' outer",
        "cat host/from-host; echo from-the-pod > host/f",
        "(echo x > ro/f) 2>/dev/null || echo ro refused",
        "(echo x > bundle/f) 2>/dev/null || echo bundle refused",
    ]
    .join("; ")
    .replace("MNT", &mnt);
    apply(
        &s,
        &job(
            "kinds",
            &script,
            &"        volumeMounts:
        - {name: mem, mountPath: MNT/outer/mem}
        - {name: scratch, mountPath: MNT/outer}
        - {name: bundle, mountPath: MNT/bundle}
        - {name: host, mountPath: MNT/host}
        - {name: scratch, mountPath: MNT/ro, readOnly: true}
"
            .replace("MNT", &mnt),
            &"      securityContext: {runAsUser: 1000, fsGroup: 2000}
      volumes:
      - name: bundle
        projected:
          defaultMode: 0400
          sources:
          - configMap: {name: conf, items: [{key: a, path: conf/a}]}
          - secret: {name: creds, items: [{key: token, path: token, mode: 0600}]}
          - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
      - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
      - {name: scratch, emptyDir: {}}
      - {name: host, hostPath: {path: HOST, type: DirectoryOrCreate}}
"
            .replace("HOST", host.to_str().unwrap()),
        ),
    );
    wait_complete(&s, "kinds");
    let pod = s.ok(&["get", "pods", "-l", "job-name=kinds", "-o", "name"]);
    let pod = pod.trim().trim_start_matches("pod/");
    let logs = s.ok(&["logs", "job/kinds"]);
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            format!("from-configmapfrom-secret{pod}").as_str(),
            "440 2000",
            "640 2000",
            "440 2000",
            "tmpfs",
            "16777216",
            "deep",
            "2777 2000",
            "from-the-host",
            "ro refused",
            "bundle refused",
        ],
        "{logs}"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap(),
        "from-the-pod\n"
    );
}

/// examples/kubectl/nightly-backup.yaml as the README shows it (the image aside): a Secret, a ConfigMap, a claim and a
/// CronJob applied together, one run created from the CronJob, and a second Job that reads
/// the dump back from the claim.
fn the_nightly_backup_example_runs(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/kubectl/nightly-backup.yaml");
    let example = std::fs::read_to_string(example).unwrap();
    assert!(example.contains("image: busybox\n"));
    apply(
        &s,
        &example.replace("image: busybox\n", &format!("image: {IMAGE}\n")),
    );
    s.ok(&[
        "create",
        "job",
        "--from=cronjob/nightly-backup",
        "backup-now",
    ]);
    wait_complete(&s, "backup-now");
    let pod = s.ok(&["get", "pods", "-l", "job-name=backup-now", "-o", "name"]);
    let pod = pod.trim().trim_start_matches("pod/").to_owned();
    let logs = s.ok(&["logs", "job/backup-now"]);
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            "backing up orders on db.internal as backup, keeping 7 days".to_owned(),
            format!("wrote /var/backups/nightly/orders-{pod}.sql"),
        ],
        "{logs}"
    );
    assert!(!logs.contains("change-me"));
    let mnt = mounts_dir(&s);
    apply(
        &s,
        &job(
            "restore-check",
            &format!("cat {mnt}/dumps/orders-{pod}.sql"),
            &"        volumeMounts: [{name: dumps, mountPath: MNT/dumps, readOnly: true}]\n"
                .replace("MNT", &mnt),
            "      volumes: [{name: dumps, persistentVolumeClaim: {claimName: backup-dumps}}]\n",
        ),
    );
    wait_complete(&s, "restore-check");
    assert_eq!(
        s.ok(&["logs", "job/restore-check"]),
        "-- dump of orders\ncompress=gzip\nexclude=audit_log\n"
    );
}

/// A claim of the default class binds to the node when a pod first uses it, keeps what one
/// Job wrote for the next, and, deleted, stays while its pods exist (PVC protection).
fn a_claim_binds_at_first_use_and_keeps_its_files(runtime: Runtime) {
    let Some(s) = server(runtime) else { return };
    let mnt = mounts_dir(&s);
    apply(
        &s,
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: dumps}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
",
    );
    let claim = |name: &str, script: &str| {
        job(
            name,
            script,
            &"        volumeMounts: [{name: dumps, mountPath: MNT/dumps}]\n".replace("MNT", &mnt),
            "      volumes: [{name: dumps, persistentVolumeClaim: {claimName: dumps}}]\n",
        )
    };
    apply(
        &s,
        &claim("writer", &format!("echo nightly > {mnt}/dumps/db.sql")),
    );
    wait_complete(&s, "writer");
    let node = s.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let bound = s.ok(&[
        "get",
        "pvc",
        "dumps",
        "-o",
        "jsonpath={.status.phase} {.spec.volumeName} {.metadata.annotations.volume\\.kubernetes\\.io/selected-node} {.status.capacity.storage}",
    ]);
    let uid = s.ok(&["get", "pvc", "dumps", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(bound, format!("Bound pvc-{uid} {node} 1Gi"));
    apply(&s, &claim("reader", &format!("cat {mnt}/dumps/db.sql")));
    wait_complete(&s, "reader");
    assert_eq!(s.ok(&["logs", "job/reader"]).trim(), "nightly");
    let dir = s.data_dir().join(format!("agent/storage/pvc-{uid}"));
    assert_eq!(
        std::fs::read_to_string(dir.join("db.sql")).unwrap(),
        "nightly\n"
    );
    // Admission gave the claim the protection finalizer: deleted while pods (finished, not
    // deleted) use it, it stays Terminating with its files ...
    assert_eq!(
        s.ok(&[
            "get",
            "pvc",
            "dumps",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        r#"["kubernetes.io/pvc-protection"]"#
    );
    s.ok(&["delete", "pvc", "dumps", "--wait=false"]);
    let table = s.ok(&["get", "pvc", "dumps", "--no-headers"]);
    assert!(table.contains("Terminating"), "{table}");
    assert!(dir.join("db.sql").exists());
    // ... until they are gone; then the class `local` deletes its files with it.
    s.ok(&["delete", "job", "writer", "reader"]);
    s.wait_for(&["get", "pvc", "--no-headers"], LONG, |out| {
        !out.contains("dumps")
    });
    eventually("the deleted claim's directory is removed", || !dir.exists());
}
