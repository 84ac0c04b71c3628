//! Service account tokens end to end, through the real kubectl: a Job whose pod runs
//! `kubectl get jobs` with nothing but what Kubernetes gives every pod (the projected token,
//! `ca.crt` and `namespace` at /var/run/secrets/kubernetes.io/serviceaccount, and
//! `KUBERNETES_SERVICE_HOST`/`_PORT`), on the process runtime and on runc; `kubectl create
//! token`; the `kube-root-ca.crt` ConfigMap every namespace gets back when it is deleted; a
//! pod of a missing service account refused.

mod common;
#[path = "image/support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use common::*;
use oci_client::secrets::RegistryAuth;
use support::{GZIP, REGISTRY_BIN, Registry, busybox_image, push, push_client};

const PATIENCE: Duration = Duration::from_secs(120);
const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The Job, in namespace `team-b`: it lists the Jobs of its own namespace (kubectl's
/// in-cluster config reads the namespace file), reads its token files, and prints the
/// service variables. `HOME` points at an empty directory because on the process runtime
/// the pod shares the host's files, and a kubeconfig in the agent's home would win over the
/// in-cluster config, as for any client.
fn job(name: &str, kubectl: &str, pod_extra: &str, container_extra: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: team-b}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
{pod_extra}
      volumes: [{{name: home, emptyDir: {{}}}}]
      containers:
      - name: main
        image: busybox
        env: [{{name: HOME, value: /home/in-cluster}}]
        command: [sh, -c, 'cat {TOKEN_DIR}/namespace; echo; head -c 27 {TOKEN_DIR}/ca.crt; echo; echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; {kubectl} get jobs -o name']
        volumeMounts: [{{name: home, mountPath: /home/in-cluster}}]
{container_extra}
"#
    )
}

fn completes_and_lists_itself(s: &Server, name: &str) {
    let status = s.wait_for(
        &[
            "get",
            "job",
            name,
            "-n",
            "team-b",
            "-o",
            "jsonpath={.status.succeeded}/{.status.failed}",
        ],
        PATIENCE,
        |o| o == "1/" || o.ends_with("/1"),
    );
    let logs = s.ok(&["logs", &format!("job/{name}"), "-n", "team-b"]);
    assert_eq!(status, "1/", "the in-cluster kubectl failed:\n{logs}");
    let api = s.url.trim_start_matches("https://");
    assert!(
        logs.starts_with("team-b\n-----BEGIN CERTIFICATE-----\n"),
        "{logs}"
    );
    assert!(logs.contains(&format!("api={api}\n")), "{logs}");
    assert!(logs.contains(&format!("job.batch/{name}")), "{logs}");
    // Only its own namespace's Jobs.
    assert!(!logs.contains("job.batch/elsewhere"), "{logs}");
}

fn setup(s: &Server) {
    s.ok(&["create", "namespace", "team-b"]);
    s.ok(&[
        "create",
        "job",
        "elsewhere",
        "--image",
        "busybox",
        "--",
        "true",
    ]);
    // The namespace's CA ConfigMap is published (and the pods' token volumes wait for it).
    s.wait_for(
        &[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "team-b",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
        PATIENCE,
        |o| o.starts_with("-----BEGIN CERTIFICATE-----"),
    );
}

#[test]
fn kubectl_inside_a_job_uses_its_service_account_token() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    setup(&s);
    let kubectl = kubectl_for(32).unwrap_or_else(|| "kubectl".to_owned());
    s.ok_stdin(&["apply", "-f", "-"], &job("in-cluster", &kubectl, "", ""));
    completes_and_lists_itself(&s, "in-cluster");

    // The pod got Kubernetes' token volume, mounted read-only in its container.
    let pod = s.ok(&[
        "get",
        "pods",
        "-n",
        "team-b",
        "-l",
        "job-name=in-cluster",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let volume = s.ok(&[
        "get",
        "pod",
        &pod,
        "-n",
        "team-b",
        "-o",
        "jsonpath={.spec.volumes[1].name} {.spec.containers[0].volumeMounts[1].mountPath}",
    ]);
    assert!(volume.starts_with("kube-api-access-"), "{volume}");
    assert!(volume.ends_with(TOKEN_DIR), "{volume}");

    // A pod that opts out has no token, and its kubectl cannot authenticate.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job(
            "no-token",
            &kubectl,
            "      automountServiceAccountToken: false",
            "",
        ),
    );
    s.wait_for(
        &[
            "get",
            "job",
            "no-token",
            "-n",
            "team-b",
            "-o",
            "jsonpath={.status.failed}",
        ],
        PATIENCE,
        |o| o == "1",
    );
    let logs = s.ok(&["logs", "job/no-token", "-n", "team-b"]);
    assert!(logs.contains("No such file or directory"), "{logs}");
}

#[test]
fn tokens_from_kubectl_create_token_call_the_api() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    s.ok(&["create", "serviceaccount", "builder"]);
    let token = s.ok(&["create", "token", "builder", "--duration", "1h"]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let as_builder = |args: &[&str]| {
        let mut all = vec!["--token", token];
        all.extend_from_slice(args);
        s.kubectl(&all)
    };
    let listed = as_builder(&["get", "serviceaccounts", "-o", "name"]);
    assert!(listed.success, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("serviceaccount/builder"),
        "{}",
        listed.stdout
    );
    // Deleting the account ends its tokens.
    s.ok(&["delete", "serviceaccount", "builder"]);
    let refused = as_builder(&["get", "jobs"]);
    assert!(!refused.success);
    assert!(
        refused
            .stderr
            .contains("You must be logged in to the server (Unauthorized)"),
        "{}",
        refused.stderr
    );
    // Kubernetes' own validation and messages.
    let short = s.fails(&["create", "token", "default", "--duration", "5m"]);
    assert!(
        short.contains("may not specify a duration less than 10 minutes"),
        "{short}"
    );
    let missing = s.fails(&["create", "token", "ghost"]);
    assert!(
        missing.contains("serviceaccounts \"ghost\" not found"),
        "{missing}"
    );
}

#[test]
fn the_root_ca_config_map_comes_back_and_missing_accounts_are_refused() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    s.wait_for(
        &[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
        PATIENCE,
        |o| o.starts_with("-----BEGIN CERTIFICATE-----"),
    );
    let ca = std::fs::read_to_string(s.ca_path()).unwrap();
    let published = s.ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert_eq!(published.trim(), ca.trim());
    s.ok(&["delete", "configmap", "kube-root-ca.crt"]);
    s.wait_for(
        &[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
        PATIENCE,
        |o| o.trim() == ca.trim(),
    );

    let refused = s.fails(&[
        "run",
        "p",
        "--image",
        "busybox",
        "--restart",
        "Never",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"ghost"}}"#,
        "--",
        "true",
    ]);
    assert!(
        refused.contains("pods \"p\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"),
        "{refused}"
    );
}

/// Whether runc, root, the registry and busybox are here; says what is missing otherwise.
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
    if !Path::new(REGISTRY_BIN).exists() || !Path::new(support::BUSYBOX).exists() {
        eprintln!(
            "SKIPPED: {REGISTRY_BIN} or {} is missing (apt-get install docker-registry busybox-static)",
            support::BUSYBOX
        );
        return false;
    }
    true
}

#[test]
fn kubectl_inside_a_runc_container_uses_its_service_account_token() {
    if !have_kubectl() || !runc_ready() {
        return;
    }
    // kubectl is a static binary: the busybox container gets it through a hostPath volume.
    let Some(kubectl) = kubectl_for(32) else {
        eprintln!("SKIPPED: kubectl.1.32 is not installed");
        return;
    };
    let registry = Registry::start(support::Auth::None).expect("docker-registry starts");
    let image = format!("{}/kbatch-test/busybox:v1", registry.addr);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(push(
            &push_client(),
            &image,
            &busybox_image(),
            GZIP,
            &RegistryAuth::Anonymous,
        ));
    let s = Server::start_with(&["--insecure-registry", &registry.addr]);
    setup(&s);
    let manifest = job(
        "in-runc",
        "/opt/kubectl",
        &format!("      runtimeClassName: runc\n      volumes: [{{name: kubectl, hostPath: {{path: {kubectl}, type: File}}}}, {{name: home, emptyDir: {{}}}}]"),
        "",
    )
    .replace("image: busybox", &format!("image: {image}"))
    .replace(
        "volumeMounts: [{name: home, mountPath: /home/in-cluster}]",
        "volumeMounts: [{name: home, mountPath: /home/in-cluster}, {name: kubectl, mountPath: /opt/kubectl, readOnly: true}]",
    )
    .replace("      volumes: [{name: home, emptyDir: {}}]\n", "");
    s.ok_stdin(&["apply", "-f", "-"], &manifest);
    completes_and_lists_itself(&s, "in-runc");
}
