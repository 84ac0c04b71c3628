//! A real `kbatch server` on a free loopback port with a temporary data dir, driven by the
//! real kubectl (or any HTTP client) the way a user would.
//!
//! `KBATCH_KUBECTL` picks the kubectl binary (e.g. `kubectl.1.29`); the default is the
//! `kubectl` on PATH.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub kubeconfig: PathBuf,
    /// kubectl's HOME: a discovery cache of this server's own.
    pub home: PathBuf,
    /// The kubectl binary; None: `KBATCH_KUBECTL` or `kubectl`.
    kubectl_bin: Option<String>,
    /// The node's run dir, as the server printed it (None: it runs no node).
    run_dir: Option<PathBuf>,
    /// Whether dropping the server removes a run dir outside `dir` (the default one).
    remove_run_dir: bool,
    /// Whether [`Server::stop`] gave the data dir to a next server, which adopts the runs.
    handed_over: bool,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra)
    }

    /// Starts a server on an existing data dir (restarts), on a free loopback port unless
    /// `extra` names a `--listen` address.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Self::launch(dir, extra, true)
    }

    /// Starts a server on `dir`'s data dir with the default run dir
    /// (`kbatch_agent::run_dir`), which dropping the server removes.
    pub fn start_in_default_run_dir(dir: tempfile::TempDir) -> Server {
        Self::launch(dir, &[], false)
    }

    fn launch(dir: tempfile::TempDir, extra: &[&str], own_run_dir: bool) -> Server {
        let data = dir.path().join("data");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        // The run dir inside the temporary directory, unless a test picks it: what a killed
        // server's pods leave there goes with the rest (restart_adoption.rs tests the default).
        let run_dir = dir.path().join("run");
        let run: &[&std::ffi::OsStr] = if !own_run_dir || extra.contains(&"--run-dir") {
            &[]
        } else {
            &["--run-dir".as_ref(), run_dir.as_os_str()]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .args(listen)
            .args(run)
            .args(extra)
            .env("KBATCH_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kbatch server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read server output");
            if let Some(url) = line.strip_prefix("kbatch server listening on ") {
                break url.trim().to_owned();
            }
        };
        // The lines that follow say where things are, up to the kubeconfig's.
        let mut run_dir = None;
        for line in lines.by_ref() {
            let line = line.expect("read server output");
            if let Some(dir) = line.trim().strip_prefix("run dir:") {
                run_dir = Some(PathBuf::from(dir.trim()));
            }
            if line.trim().starts_with("kubeconfig:") {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            kubeconfig: data.join("kubeconfig"),
            dir,
            url,
            home,
            kubectl_bin: None,
            run_dir,
            remove_run_dir: !own_run_dir,
            handed_over: false,
        }
    }

    /// Sends the server SIGTERM and waits for it to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        self.child.wait().expect("wait for the server")
    }

    /// Uses another kubectl binary for this server's commands.
    pub fn with_kubectl(mut self, bin: String) -> Server {
        self.kubectl_bin = Some(bin);
        self
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The node's run dir, as the server printed it.
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir
            .clone()
            .expect("a server with a node prints its run dir")
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("pki/admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn ca_path(&self) -> PathBuf {
        self.data_dir().join("pki/ca.crt")
    }

    /// Stops the server and gives back its data dir, for a next server to adopt what is in
    /// it. A server that is simply killed for good is dropped instead, which also ends its
    /// left runs (`end_left_runs`).
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The next server on the same data dir adopts what is in it.
        self.remove_run_dir = false;
        self.handed_over = true;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn kubectl_command(&self) -> Command {
        let bin = self.kubectl_bin.clone().unwrap_or_else(|| {
            std::env::var("KBATCH_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
        });
        let mut cmd = Command::new(bin);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    /// Runs kubectl with `args`.
    pub fn kubectl(&self, args: &[&str]) -> Out {
        Out::from(
            self.kubectl_command()
                .args(args)
                .output()
                .expect("run kubectl"),
        )
    }

    /// Runs kubectl with `stdin` as its input (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Out {
        let mut child = self
            .kubectl_command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Out::from(child.wait_with_output().unwrap())
    }

    /// Runs kubectl and insists it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.success,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert!(
            out.success,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs kubectl and insists it fails; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.success,
            "kubectl {args:?} succeeded unexpectedly:\n{}",
            out.stdout
        );
        out.stderr
    }

    /// Raw HTTPS with curl (the CA of the server, the token unless `auth` is false).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&[u8]>,
        auth: bool,
    ) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-D",
            "/dev/stderr",
            "-w",
            "\n%{http_code}",
        ])
        .arg("--cacert")
        .arg(self.ca_path())
        .args(["-X", method]);
        if auth {
            cmd.arg("-H")
                .arg(format!("Authorization: Bearer {}", self.token()));
        }
        for h in headers {
            cmd.arg("-H").arg(h);
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("{}{}", self.url, path));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run curl");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(b) = body {
            stdin.write_all(b).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            body.to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Waits until `check` holds on kubectl's output, or panics after `timeout`.
    pub fn wait_for(
        &self,
        args: &[&str],
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.kubectl(args);
            if out.success && check(&out.stdout) {
                return out.stdout;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting on kubectl {args:?}: {}{}",
                    out.stdout, out.stderr
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Server {
    /// The name of the first pod of Job `job`, once there is one.
    pub fn first_pod_of(&self, job: &str, patience: Duration) -> String {
        self.wait_for(
            &[
                "get",
                "pods",
                "-l",
                &format!("job-name={job}"),
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ],
            patience,
            |out| !out.trim().is_empty(),
        )
        .trim()
        .to_owned()
    }

    /// `kubectl wait --for=condition=…` on `what` (e.g. `job/x`), failing with the object's
    /// YAML when it never gets there.
    pub fn wait_condition(&self, what: &str, condition: &str) {
        let out = self.kubectl(&[
            "wait",
            &format!("--for=condition={condition}"),
            what,
            "--timeout=120s",
        ]);
        assert!(
            out.success,
            "{what} never became {condition}: {}{}\n{}",
            out.stdout,
            out.stderr,
            self.kubectl(&["get", what, "-o", "yaml"]).stdout
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.handed_over
            && let Some(run) = &self.run_dir
        {
            end_left_runs(run);
        }
        unmount_under(self.dir.path());
        if self.remove_run_dir
            && let Some(run) = &self.run_dir
        {
            unmount_under(run);
            let _ = std::fs::remove_dir_all(run);
        }
    }
}

/// Ends the runs a killed server's or agent's shims still supervise and removes the cgroups
/// of their pods. A restarted node would reclaim both; none follows this one, so without this
/// the runs would go on after the test and their pods' cgroups would stay on the host.
pub fn end_left_runs(run_dir: &Path) {
    use kbatch_agent::run_dir::{PODS, RUNS};
    // The pods' checkpoints (`<uid>.json`), and the runs' claims (`<uid>_<run id>.claim`).
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(run_dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    };
    let uids: std::collections::BTreeSet<String> = names(PODS)
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .chain(names(RUNS).iter().filter_map(|n| {
            n.strip_suffix(".claim")
                .and_then(|n| n.rsplit_once('_'))
                .map(|(uid, _)| uid)
        }))
        .map(str::to_owned)
        .collect();
    if uids.is_empty() {
        return;
    }
    let Ok(cgroups) = kbatch_agent::cgroup::Cgroups::detect() else {
        return;
    };
    // Drop may run on a tokio runtime's thread, which cannot block on another runtime.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime to end the runs");
            rt.block_on(async {
                for uid in &uids {
                    cgroups.end_pod(uid).await;
                }
            });
        });
    });
}

/// Detaches what a SIGKILLed server's or agent's pods left mounted under `dir` (their
/// volumes' tmpfs), which a restarted one would clean up at start, so the temporary
/// directory can go.
pub fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).status();
    }
}

pub struct Out {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out {
            success: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Whether kubectl can be run here; tests that need it say so and skip otherwise.
pub fn have_kubectl() -> bool {
    let bin = std::env::var("KBATCH_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    let found = Command::new(&bin)
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: {bin} is not installed (.ci/run installs it)");
    }
    found
}

/// The `kubectl.1.NN` binary installed beside the `kubectl` on PATH, if any.
pub fn kubectl_for(minor: u32) -> Option<String> {
    let on_path = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
        .ok()?;
    let real = String::from_utf8_lossy(&on_path.stdout).trim().to_owned();
    let dir = Path::new(&real).parent()?;
    let candidate = dir.join(format!("kubectl.1.{minor}"));
    candidate
        .exists()
        .then(|| candidate.to_string_lossy().into_owned())
}

/// A server whose kubectl is the binary for `minor` (None: the one on PATH); None, after
/// saying so, when that kubectl is not installed here.
pub fn server_for(minor: Option<u32>) -> Option<Server> {
    if !have_kubectl() {
        return None;
    }
    let server = Server::start();
    match minor {
        None => Some(server),
        Some(m) => match kubectl_for(m) {
            Some(bin) => Some(server.with_kubectl(bin)),
            None => {
                eprintln!("SKIPPED: kubectl 1.{m} is not installed here");
                None
            }
        },
    }
}

/// Writes a manifest into the server's temp dir and returns its path.
pub fn manifest(server: &Server, name: &str, text: &str) -> PathBuf {
    let path = server.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A `kbatch agent` process on "another machine": its own node name, address and data dir,
/// talking to `server` over HTTPS with the server's kubeconfig; killed when dropped.
pub struct RemoteAgent {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl RemoteAgent {
    /// Starts the agent of node `node` at `ip` (any loopback address will do on Linux), with
    /// `extra` flags.
    pub fn start(server: &Server, node: &str, ip: &str, extra: &[&str]) -> RemoteAgent {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
            .arg("agent")
            .args(["--server", &server.url])
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .args(["--node-name", node, "--node-ip", ip])
            // Tests run side by side: kubelet's port 10250 would be taken by the first.
            .args(["--log-port", "0"])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .args(extra)
            .env("KBATCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kbatch agent");
        RemoteAgent { child, dir }
    }

    /// The log file of the first run of `container` in pod `pod`, from the agent's data dir.
    pub fn log(&self, pod: &str, container: &str) -> Option<String> {
        let logs = self.dir.path().join("agent/logs");
        let entry = std::fs::read_dir(&logs).ok()?.flatten().find(|e| {
            e.file_name()
                .to_string_lossy()
                .contains(&format!("_{pod}_"))
        })?;
        std::fs::read_to_string(entry.path().join(container).join("0.log")).ok()
    }

    /// Whether the agent's data dir holds logs of pod `pod`.
    pub fn has_logs_of(&self, pod: &str) -> bool {
        has_entry_with(&self.dir.path().join("agent/logs"), &format!("_{pod}_"))
    }
}

impl Drop for RemoteAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        end_left_runs(&self.dir.path().join("run"));
        unmount_under(self.dir.path());
    }
}

/// Whether directory `dir` has an entry whose name contains `part`.
pub fn has_entry_with(dir: &Path, part: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(part))
    })
}
