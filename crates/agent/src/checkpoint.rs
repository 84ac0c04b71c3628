//! Checkpoints: what the agent writes down about each pod's live runs, so that after a
//! restart it can adopt the runs it still follows and fail the pods whose runs it lost —
//! never leave a pod Running with nothing behind it (kubelet gets the same from the
//! container runtime's own records).
//!
//! One JSON file per pod, `DATA/pods/<uid>.json`, replaced atomically (write, then rename).
//! A run is recorded before the status that reports it is written, and dropped after its
//! exit has been reported.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The process behind a run, as a later agent process can check it: pids are reused, so the
/// start time (clock ticks after boot, `/proc/<pid>/stat` field 22) tells the same process
/// from a newer one with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub pid: i32,
    pub start_ticks: u64,
    /// The run's process group (the pid of its first process).
    pub pgid: i32,
    /// The run's cgroup directories, one per hierarchy.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The run's supervisor, when a shim runs it (`crate::shim`): then the run outlives the
    /// agent's process and a later agent can adopt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim: Option<ShimRecord>,
}

impl ProcessRecord {
    /// Whether the recorded process is still the one running under its pid.
    pub fn is_alive(&self) -> bool {
        start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// The shim that supervises a run: the process that waits for the container and records
/// how it ended in its status file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimRecord {
    pub pid: i32,
    pub start_ticks: u64,
    /// Where the shim records the run and, once it has ended, its exit.
    pub status_file: PathBuf,
}

impl ShimRecord {
    /// Whether the shim still runs: the same process under its pid, and not a zombie (a
    /// zombie has ended; it only waits to be reaped).
    pub fn is_alive(&self) -> bool {
        process_stat(self.pid)
            .is_some_and(|(state, ticks)| ticks == self.start_ticks && state != "Z" && state != "X")
    }
}

/// One live run of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub container: String,
    /// The run's id (see [`crate::runtime::ContainerSpec::id`]).
    pub id: String,
    pub attempt: u32,
    /// RFC 3339.
    pub started_at: String,
    pub process: Option<ProcessRecord>,
}

/// A pod's live runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodCheckpoint {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub runs: Vec<RunRecord>,
}

/// The checkpoint files of one agent.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// The checkpoints under `run_dir` ([`crate::run_dir`]).
    pub fn new(run_dir: &Path) -> Self {
        Checkpoints {
            dir: run_dir.join(crate::run_dir::PODS),
        }
    }

    fn path(&self, uid: &str) -> PathBuf {
        self.dir.join(format!("{uid}.json"))
    }

    /// The pod's checkpoint; `None` if it has none (or it cannot be read: a torn file is
    /// impossible with rename, so an unreadable one is not ours to trust).
    pub fn load(&self, uid: &str) -> Option<PodCheckpoint> {
        let bytes = std::fs::read(self.path(uid)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces the pod's checkpoint; an empty one is removed.
    pub fn save(&self, checkpoint: &PodCheckpoint) -> io::Result<()> {
        if checkpoint.runs.is_empty() {
            return self.remove(&checkpoint.uid);
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&checkpoint.uid);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(checkpoint).map_err(io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }

    pub fn remove(&self, uid: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(uid)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every checkpoint on disk.
    pub fn all(&self) -> Vec<PodCheckpoint> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let uid = name.strip_suffix(".json")?;
                self.load(uid)
            })
            .collect()
    }
}

/// The start time of a process in clock ticks after boot (`/proc/<pid>/stat` field 22).
pub fn start_ticks(pid: i32) -> Option<u64> {
    process_stat(pid).map(|(_, ticks)| ticks)
}

/// A process's state (`/proc/<pid>/stat` field 3: `R`, `S`, `Z`, …) and start time.
pub(crate) fn process_stat(pid: i32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields after it follow
    // the last ')'.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.to_owned();
    // Field 22 is the 19th after the state.
    let ticks = rest.nth(18)?.parse().ok()?;
    Some((state, ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_readable_and_stable() {
        let pid = std::process::id() as i32;
        let first = start_ticks(pid).expect("own stat");
        assert_eq!(start_ticks(pid), Some(first));
        let record = ProcessRecord {
            pid,
            start_ticks: first,
            pgid: pid,
            cgroups: Vec::new(),
            shim: None,
        };
        assert!(record.is_alive());
        let shim = ShimRecord {
            pid,
            start_ticks: first,
            status_file: PathBuf::new(),
        };
        assert!(shim.is_alive());
        let reused = ProcessRecord {
            start_ticks: first + 1,
            ..record
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let cp = PodCheckpoint {
            namespace: "default".into(),
            name: "p".into(),
            uid: "u1".into(),
            runs: vec![RunRecord {
                container: "c".into(),
                id: "abc".into(),
                attempt: 0,
                started_at: "2026-01-01T00:00:00Z".into(),
                process: None,
            }],
        };
        checkpoints.save(&cp).unwrap();
        assert_eq!(checkpoints.load("u1"), Some(cp.clone()));
        assert_eq!(checkpoints.all(), vec![cp.clone()]);
        checkpoints
            .save(&PodCheckpoint {
                runs: Vec::new(),
                ..cp
            })
            .unwrap();
        assert_eq!(checkpoints.load("u1"), None);
    }
}
