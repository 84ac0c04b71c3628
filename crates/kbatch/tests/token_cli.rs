//! `kbatch token create`: a bootstrap token stored through the server's API and the join
//! command printed with the CA's hash; the token alone buys nothing but a node credential.

mod common;

use std::process::Command;

use common::*;

fn token_create(s: &Server, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(["token", "create", "--data-dir"])
        .arg(s.data_dir())
        .args(extra)
        .output()
        .expect("run kbatch token create")
}

#[test]
fn token_create_prints_a_join_command_for_a_bootstrap_token() {
    if !have_kubectl() {
        return;
    }
    let s = Server::start();
    let out = token_create(&s, &["--ttl", "2h", "--server", "https://10.0.0.5:6443"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        words[..4],
        ["kbatch", "agent", "--server", "https://10.0.0.5:6443"],
        "{line}"
    );
    assert_eq!(words[4], "--token");
    let token = words[5];
    let (id, secret) = token.split_once('.').unwrap();
    assert!(id.len() == 6 && secret.len() == 16, "{token}");
    assert_eq!(words[6], "--ca-cert-hash");
    // The hash kubeadm would print: SHA-256 of the CA certificate's DER.
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(s.ca_path())
        .output();
    if let Ok(der) = der
        && der.status.success()
    {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&der.stdout)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(words[7], format!("sha256:{hex}"));
    }
    // The token is a kubeadm bootstrap token Secret in kube-system, expiring in 2 hours.
    let secret_name = format!("bootstrap-token-{id}");
    let typ = s.ok(&[
        "get",
        "secret",
        &secret_name,
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.type}",
    ]);
    assert_eq!(typ, "bootstrap.kubernetes.io/token");
    // With it, kubectl is forbidden everything.
    let refused = s.kubectl(&["--token", token, "get", "jobs"]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains(&format!(
            "User \"system:bootstrap:{id}\" cannot list resource \"jobs\" in API group \"batch\""
        )),
        "{}",
        refused.stderr
    );
}

#[test]
fn token_create_without_a_server_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(["token", "create", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a kbatch server running with --data-dir"),
        "{err}"
    );
}
