//! The runc command line: every call names kbatch's own state directory (`--root`), so
//! kbatch sees and removes only its own containers, never those of another runc user on
//! the host.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;

use super::sealed::SealedBinary;
use crate::cgroup::{Version, mounted_hierarchies};
use crate::runtime::StopSignal;

/// The runc binary and kbatch's state directory for it.
#[derive(Debug, Clone)]
pub struct Runc {
    binary: PathBuf,
    root: PathBuf,
    /// Held open while `binary` is its link.
    _sealed: Option<SealedBinary>,
}

/// One container of `runc list --format json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    pub id: String,
    pub status: String,
}

impl Runc {
    pub fn new(binary: PathBuf, root: PathBuf) -> Runc {
        Runc {
            binary,
            root,
            _sealed: None,
        }
    }

    /// The same runc, executed from a sealed copy linked in `dir` ([`SealedBinary`]); from
    /// the installed binary when no copy can be made (the log says why).
    pub fn sealed(self, dir: &Path) -> Runc {
        match SealedBinary::create(&self.binary, dir) {
            Ok(sealed) => Runc {
                binary: sealed.path().to_owned(),
                _sealed: Some(sealed),
                ..self
            },
            Err(e) => {
                tracing::info!(binary = %self.binary.display(), error = %e, "runc runtime: no sealed copy of runc; each container start copies it instead");
                self
            }
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// The command line that runs container `id` from `bundle` in the foreground: its stdio
    /// is the container's, its exit status the container's, and `--keep` leaves the stopped
    /// container (and its cgroup) for [`oom_killed`] and `runc delete`; `--pid-file` says
    /// when the container's process runs ([`PID_FILE`]). runc's own messages
    /// go to the bundle's `runc.log` ([`start_error`] reads it), not the container's log.
    pub fn run_argv(&self, bundle: &Path, id: &str) -> Vec<String> {
        vec![
            self.binary.display().to_string(),
            "--root".to_owned(),
            self.root.display().to_string(),
            "--log".to_owned(),
            bundle.join(LOG).display().to_string(),
            "--log-format".to_owned(),
            "json".to_owned(),
            "run".to_owned(),
            "--keep".to_owned(),
            "--pid-file".to_owned(),
            bundle.join(PID_FILE).display().to_string(),
            "--bundle".to_owned(),
            bundle.display().to_string(),
            id.to_owned(),
        ]
    }

    /// Sends the container's init a signal (it may have ended already: nothing to do then).
    pub async fn kill(&self, id: &str, signal: StopSignal) {
        let sig = match signal {
            StopSignal::Term => "TERM",
            StopSignal::Kill => "KILL",
        };
        let out = self.command().args(["kill", id, sig]).output().await;
        if let Ok(o) = &out
            && !o.status.success()
        {
            tracing::debug!(container = %id, signal = sig, error = %String::from_utf8_lossy(&o.stderr).trim(), "runc kill");
        }
    }

    /// Removes the container, killing whatever still runs in it, with its cgroup. A
    /// container runc does not know is already gone.
    pub async fn delete(&self, id: &str) {
        match self
            .command()
            .args(["delete", "--force", id])
            .output()
            .await
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                if !err.contains("does not exist") && !err.contains("not exist") {
                    tracing::warn!(container = %id, error = %err.trim(), "runc delete");
                }
            }
            Err(e) => tracing::warn!(container = %id, error = %e, "running runc delete"),
        }
    }

    /// What `runc delete` does for a container that has stopped, done here: its cgroups
    /// (as runc's state lists them) and its state directory are removed. A run's end does
    /// it once `runc run` has returned, which it only does once the container's init has
    /// ended (and with it, in its own PID namespace, every process of the container): that
    /// spares the start of a Go binary (`runc delete`, 10 to 20 ms) on every run's end.
    /// Returns false, having changed nothing that `runc delete --force` would not, when the
    /// container is not one it can remove so: runc has no state for it, its init still
    /// runs, or a cgroup cannot be removed (a process is still in it).
    pub fn remove_stopped(&self, id: &str) -> bool {
        #[derive(Deserialize)]
        struct State {
            init_process_pid: i32,
            init_process_start: u64,
            #[serde(default)]
            cgroup_paths: std::collections::BTreeMap<String, PathBuf>,
        }
        let dir = self.root.join(id);
        let Some(state) = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok())
        else {
            return false;
        };
        // runc's own test of a stopped container: its init's pid no longer names the
        // process that started then (or names a zombie).
        if crate::checkpoint::process_stat(state.init_process_pid)
            .is_some_and(|(st, ticks)| ticks == state.init_process_start && st != "Z" && st != "X")
        {
            return false;
        }
        let mut paths: Vec<&PathBuf> = state.cgroup_paths.values().collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            match std::fs::remove_dir(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::debug!(container = %id, cgroup = %path.display(), error = %e, "removing a stopped container's cgroup: leaving it to runc delete");
                    return false;
                }
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "removing a stopped container's state: leaving it to runc delete");
                false
            }
        }
    }

    /// The containers in kbatch's state directory.
    pub async fn list(&self) -> Vec<Listed> {
        if !self.root.exists() {
            return Vec::new();
        }
        match self
            .command()
            .args(["list", "--format", "json"])
            .output()
            .await
        {
            Ok(o) if o.status.success() => {
                // runc writes `null` when there are none.
                serde_json::from_slice::<Option<Vec<Listed>>>(&o.stdout)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
            Ok(o) => {
                tracing::warn!(error = %String::from_utf8_lossy(&o.stderr).trim(), "runc list");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "running runc list");
                Vec::new()
            }
        }
    }

    /// The ids of the containers in kbatch's state directory, read from the directory
    /// itself (one per container), for the synchronous callers.
    pub fn ids(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// runc's log in a run's bundle.
const LOG: &str = "runc.log";

/// The container's pid, in a run's bundle: runc writes it (under another name, then
/// renamed) once the container's process has been let go to exec, which is when the run
/// counts as started (`ProcessRuntime::with_started_marker`).
pub const PID_FILE: &str = "runc.pid";

/// Why `runc run` could not start the container's process, if that is how it failed: the
/// `runc run failed: …` error it logged (an executable missing from the image, a working
/// directory that cannot be entered, …). A container that ran and failed logs none.
pub fn start_error(bundle: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Entry {
        level: String,
        msg: String,
    }
    std::fs::read_to_string(bundle.join(LOG))
        .ok()?
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .find(|e| e.level == "error" && e.msg.starts_with("runc run failed: "))
        .map(|e| e.msg)
}

/// The directories of `cgroups_path` in every cgroup hierarchy mounted on this host.
pub fn cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    mounted_hierarchies()
        .into_iter()
        .map(|(point, _, _)| point.join(rel))
        .collect()
}

/// The memory cgroup directories of `cgroups_path` on this host: the v1 memory hierarchy's
/// and the unified hierarchy's (runc uses whichever the host has).
fn memory_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    mounted_hierarchies()
        .into_iter()
        .filter(|(_, version, controllers)| {
            *version == Version::V2 || controllers.iter().any(|c| c == "memory")
        })
        .map(|(point, _, _)| point.join(rel))
        .collect()
}

/// Whether the kernel's OOM killer killed a process of the container whose cgroup is
/// `cgroups_path` (v1 `memory.oom_control`, v2 `memory.events`): read after `runc run
/// --keep` has returned, before `runc delete` removes the cgroup.
pub fn oom_killed(cgroups_path: &str) -> bool {
    memory_dirs(cgroups_path).iter().any(|dir| {
        ["memory.oom_control", "memory.events"].iter().any(|file| {
            std::fs::read_to_string(dir.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    })
}
