//! ConfigMaps and Secrets through the real kubectl: the imperative `create configmap` and
//! `create secret` (JSON bodies from kubectl 1.27, protobuf from 1.32 on), their columns and
//! `describe`, Kubernetes' validation errors with their field paths, and `immutable`.

mod common;

use common::{Server, manifest, path_str, server_for};

/// The rows of `kubectl get` split into cells.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn imperative_creates(s: &Server) {
    let dir = s.dir.path();
    std::fs::write(dir.join("greeting.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("blob"), b"\xff\x00bin").unwrap();
    std::fs::write(dir.join("app.env"), "MODE=fast\n# a comment\nLEVEL=3\n").unwrap();
    let greeting = dir.join("greeting.txt");
    let blob = dir.join("blob");
    let env = dir.join("app.env");

    s.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
        &format!("--from-file={}", path_str(&greeting)),
        &format!("--from-file={}", path_str(&blob)),
    ]);
    s.ok(&[
        "create",
        "configmap",
        "envs",
        &format!("--from-env-file={}", path_str(&env)),
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=s3cr3t",
        &format!("--from-file=motd={}", path_str(&greeting)),
    ]);
    s.ok(&[
        "create",
        "secret",
        "docker-registry",
        "registry",
        "--docker-server=registry.example",
        "--docker-username=u",
        "--docker-password=p",
    ]);

    // kubectl ≥ 1.32 sends this one as protobuf too.
    s.ok(&["create", "serviceaccount", "ci-bot"]);
    assert_eq!(
        s.ok(&["get", "serviceaccount", "ci-bot", "-o", "name"]),
        "serviceaccount/ci-bot\n"
    );
    // A TokenRequest: protobuf from 1.32 on, JSON with a null expirationTimestamp before.
    let token = s.ok(&["create", "token", "ci-bot", "--duration", "1h"]);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");

    // Text in data, non-UTF-8 bytes in binaryData, as kubectl splits them.
    assert_eq!(
        s.ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}|{.data.greeting\\.txt}|{.binaryData.blob}"
        ]),
        "fast|hello\n|/wBiaW4="
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "envs",
            "-o",
            "jsonpath={.data.MODE},{.data.LEVEL}"
        ]),
        "fast,3"
    );
    assert_eq!(
        s.ok(&["get", "secret", "db", "-o", "jsonpath={.data.password}"]),
        "czNjcjN0"
    );
    let docker = s.ok(&[
        "get",
        "secret",
        "registry",
        "-o",
        "jsonpath={.type} {.data.\\.dockerconfigjson}",
    ]);
    assert!(
        docker.starts_with("kubernetes.io/dockerconfigjson ey"),
        "{docker}"
    );

    // Kubernetes' columns: NAME DATA AGE and NAME TYPE DATA AGE.
    // Every namespace also has kube-root-ca.crt (published by a controller, maybe not yet).
    let cms: Vec<Vec<String>> = rows(&s.ok(&["get", "configmaps"]))
        .into_iter()
        .filter(|r| r[0] != "kube-root-ca.crt")
        .collect();
    assert_eq!(cms[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(cms[1][..2], ["envs", "2"]);
    assert_eq!(cms[2][..2], ["settings", "3"]);
    let secrets = rows(&s.ok(&["get", "secrets"]));
    assert_eq!(secrets[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(secrets[1][..3], ["db", "Opaque", "2"]);
    assert_eq!(
        secrets[2][..3],
        ["registry", "kubernetes.io/dockerconfigjson", "1"]
    );
    assert_eq!(
        rows(&s.ok(&[
            "get",
            "secrets",
            "--field-selector",
            "type=Opaque",
            "-o",
            "name"
        ])),
        [["secret/db"]]
    );

    // describe shows a Secret's sizes, never its values.
    let described = s.ok(&["describe", "secret", "db"]);
    assert!(described.contains("password:  6 bytes"), "{described}");
    assert!(!described.contains("s3cr3t"), "{described}");
    let described = s.ok(&["describe", "configmap", "settings"]);
    assert!(
        described.contains("mode:\n----\nfast") && described.contains("blob: 5 bytes"),
        "{described}"
    );
}

fn validation_errors(s: &Server) {
    let bad = manifest(
        s,
        "bad-cm.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: bad}
data:
  \"a b\": \"1\"
  k: \"2\"
binaryData:
  k: AA==
",
    );
    let err = s.fails(&["apply", "-f", path_str(&bad)]);
    assert!(
        err.contains("The ConfigMap \"bad\" is invalid")
            && err.contains("data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
            && err.contains("data[k]: Invalid value: \"k\": duplicate of key present in binaryData"),
        "{err}"
    );
    let tls = manifest(
        s,
        "bad-tls.yaml",
        "apiVersion: v1
kind: Secret
metadata: {name: half-tls}
type: kubernetes.io/tls
stringData: {tls.crt: cert}
",
    );
    let err = s.fails(&["create", "-f", path_str(&tls)]);
    assert!(
        err.contains("The Secret \"half-tls\" is invalid: data[tls.key]: Required value"),
        "{err}"
    );
}

fn immutability(s: &Server) {
    let secret = "apiVersion: v1
kind: Secret
metadata: {name: frozen}
immutable: true
stringData: {password: one}
";
    let path = manifest(s, "frozen.yaml", secret);
    s.ok(&["apply", "-f", path_str(&path)]);
    // stringData is merged into data and never returned.
    assert_eq!(
        s.ok(&[
            "get",
            "secret",
            "frozen",
            "-o",
            "jsonpath={.data.password}|{.stringData}"
        ]),
        "b25l|"
    );
    let path = manifest(s, "frozen.yaml", &secret.replace("one", "two"));
    let err = s.fails(&["apply", "-f", path_str(&path)]);
    assert!(
        err.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    let err = s.fails(&["patch", "secret", "frozen", "-p", "{\"immutable\":false}"]);
    assert!(
        err.contains("immutable: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    let err = s.fails(&[
        "patch",
        "secret",
        "frozen",
        "-p",
        "{\"type\":\"example.com/other\"}",
    ]);
    assert!(
        err.contains("type: Invalid value: \"example.com/other\": field is immutable"),
        "{err}"
    );
    // Metadata still changes, and the Secret can be deleted.
    s.ok(&["label", "secret", "frozen", "tier=db"]);
    s.ok(&["delete", "secret", "frozen"]);
}

/// `immutable` set and enforced with imperative commands only.
fn immutable_config_map(s: &Server) {
    s.ok(&["create", "configmap", "fixed", "--from-literal=a=1"]);
    s.ok(&["patch", "configmap", "fixed", "-p", "{\"immutable\":true}"]);
    let err = s.fails(&[
        "patch",
        "configmap",
        "fixed",
        "-p",
        "{\"data\":{\"a\":\"2\"}}",
    ]);
    assert!(
        err.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
}

/// What every kubectl version must do: the imperative commands. (Files, which kubectl 1.27
/// and 1.28 validate against OpenAPI v2, are tests/kubectl.rs's, for every version.)
fn suite(s: &Server) {
    imperative_creates(s);
    immutable_config_map(s);
}

#[test]
fn manifests_are_validated_as_kubernetes_does() {
    if let Some(s) = server_for(None) {
        validation_errors(&s);
        immutability(&s);
    }
}

macro_rules! per_version {
    ($($name:ident => $minor:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(server) = server_for($minor) {
                    suite(&server);
                }
            }
        )*
    };
}

// 1.27 sends JSON bodies; 1.32 and later send `create configmap|secret` as protobuf.
per_version! {
    config_kubectl_on_path => None,
    config_kubectl_1_27 => Some(27),
    config_kubectl_1_33 => Some(33),
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        // A link holds no data of its own: the runc runtime's `runc` points at the server's
        // sealed copy of the binary, gone with the server.
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Secrets are encrypted at rest by default: no file of the data dir (the SQLite database and
/// its WAL included) holds the value in clear or in base64, the key file is private, and a
/// restarted server reads the Secret back. ConfigMaps are not encrypted.
#[test]
fn secrets_are_encrypted_at_rest() {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = server_for(None) else {
        return;
    };
    let value = "correct-horse-battery-staple";
    let encoded = "Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5LXN0YXBsZQ==";
    s.ok(&[
        "create",
        "secret",
        "generic",
        "vault",
        &format!("--from-literal=password={value}"),
    ]);
    s.ok(&[
        "create",
        "configmap",
        "plain",
        "--from-literal=note=visible-in-clear",
    ]);
    let key_file = s.data_dir().join("secrets-encryption.keys");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let dir = s.stop();
    let data = dir.path().join("data");
    let mut config_map_seen = false;
    for file in files(&data) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [value, encoded, "Y29ycmVjdC1ob3JzZS1i"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds the Secret's value ({needle})",
                file.display()
            );
        }
        config_map_seen |= bytes
            .windows("visible-in-clear".len())
            .any(|w| w == b"visible-in-clear");
    }
    assert!(config_map_seen, "ConfigMaps are stored in clear");

    let s = Server::start_in(dir, &[]);
    assert_eq!(
        s.ok(&["get", "secret", "vault", "-o", "jsonpath={.data.password}"]),
        encoded
    );
}

/// Every namespace gets a `default` ServiceAccount (the existing ones at start, new ones when
/// created, and again when it is deleted); pods run as it unless they name another.
#[test]
fn default_service_accounts() {
    let Some(s) = server_for(None) else {
        return;
    };
    let patience = std::time::Duration::from_secs(60);
    // default, kube-system, kube-public and kube-node-lease.
    s.wait_for(
        &["get", "serviceaccounts", "-A", "-o", "name"],
        patience,
        |out| {
            out.lines()
                .filter(|l| *l == "serviceaccount/default")
                .count()
                == 4
        },
    );
    s.ok(&["create", "namespace", "team-a"]);
    s.wait_for(&["get", "sa", "default", "-n", "team-a"], patience, |_| {
        true
    });
    let sa = rows(&s.ok(&["get", "sa", "-n", "team-a"]));
    assert_eq!(sa[0], ["NAME", "SECRETS", "AGE"]);
    assert_eq!(sa[1][..2], ["default", "0"]);
    s.ok(&["delete", "sa", "default", "-n", "team-a"]);
    s.wait_for(&["get", "sa", "default", "-n", "team-a"], patience, |_| {
        true
    });

    s.ok(&["create", "serviceaccount", "builder", "-n", "team-a"]);
    let pods = manifest(
        &s,
        "pods.yaml",
        "apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: team-a}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [\"true\"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: named, namespace: team-a}
spec:
  serviceAccountName: builder
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [\"true\"]}]
",
    );
    s.ok(&["create", "-f", path_str(&pods)]);
    assert_eq!(
        s.ok(&[
            "get",
            "pod",
            "plain",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.spec.serviceAccountName}/{.spec.serviceAccount}"
        ]),
        "default/default"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "pod",
            "named",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.spec.serviceAccountName}"
        ]),
        "builder"
    );
}

/// The default StorageClass `local`, a claim without a class gets it, stays Pending until a
/// pod uses it, and is then Bound on that pod's node with the request as its capacity.
#[test]
fn claims_get_the_default_class_and_bind_at_first_use() {
    let Some(s) = server_for(None) else {
        return;
    };
    let classes = rows(&s.ok(&["get", "storageclass"]));
    assert_eq!(
        classes[0],
        [
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE"
        ]
    );
    assert_eq!(
        classes[1][..6],
        [
            "local",
            "(default)",
            "kbatch.dev/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "false"
        ]
    );
    let claim = manifest(
        &s,
        "claim.yaml",
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
",
    );
    s.ok(&["apply", "-f", path_str(&claim)]);
    let pending = rows(&s.ok(&["get", "pvc"]));
    assert_eq!(
        pending[0],
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );
    assert_eq!(pending[1][..4], ["data", "Pending", "local", "<unset>"]);
    let err = s.fails(&[
        "patch",
        "pvc",
        "data",
        "-p",
        "{\"spec\":{\"accessModes\":[\"ReadWriteMany\"]}}",
    ]);
    assert!(
        err.contains("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"),
        "{err}"
    );
    let bad = manifest(
        &s,
        "bad-claim.yaml",
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bad}
spec:
  accessModes: [Sometimes]
",
    );
    let err = s.fails(&["apply", "-f", path_str(&bad)]);
    assert!(
        err.contains("spec.accessModes: Unsupported value: \"Sometimes\"")
            && err.contains("spec.resources[storage]: Required value"),
        "{err}"
    );

    let pod = manifest(
        &s,
        "user.yaml",
        "apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [\"true\"]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
",
    );
    s.ok(&["apply", "-f", path_str(&pod)]);
    let bound = s.wait_for(
        &["get", "pvc", "data", "--no-headers"],
        std::time::Duration::from_secs(60),
        |out| out.contains("Bound"),
    );
    let cells: Vec<&str> = bound.split_whitespace().collect();
    assert!(cells[2].starts_with("pvc-"), "{bound}");
    assert_eq!(cells[3..6], ["2Gi", "RWO", "local"]);
    let node = s.ok(&["get", "pod", "user", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(
        s.ok(&[
            "get",
            "pvc",
            "data",
            "-o",
            "jsonpath={.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"
        ]),
        node
    );
}
