//! The official Kubernetes Python client (`kubernetes` from PyPI) against a real server.

mod common;

use std::process::Command;

#[test]
fn python_client_create_list_watch_patch_logs_delete() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let available = Command::new(&python)
        .args(["-c", "import kubernetes"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "SKIPPED: the Python package `kubernetes` is not installed (.ci/run installs it)"
        );
        return;
    }
    let server = common::Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&server.url)
        .arg(server.token())
        .arg(server.ca_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
