//! Takes the kernel's cgroup migration lock early, so that a run's `runc run` finds it
//! ready.
//!
//! `runc run` moves the container's init into its cgroups by writing its pid to each
//! hierarchy's `cgroup.procs`. Such a write takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing (`cgroup_procs_write_start`), and the first
//! writer after a quiet spell waits for a full RCU grace period (`rcu_sync_enter`); the
//! writers that follow within a grace period of the last one do not. Measured on this
//! project's hosts (docs/benchmarks/runc.md, "The cgroup migration lock"): bare `runc run`s
//! back to back start their process in about 16 ms, the same `runc run` after a 10 ms pause
//! in about 25 ms, and the pause's cost is that wait (`perf record -e sched:sched_switch -g`
//! shows `runc` off the CPU in `cgroup1_procs_write` → `percpu_down_write` →
//! `rcu_sync_enter` → `synchronize_rcu`). A pod start always follows a quiet spell of its
//! own: the API, the scheduler and the agent come between two runs.
//!
//! So the runtime primes the lock as a run begins: a thread of its own moves itself to the
//! cgroup it is already in (a move the kernel skips once it holds the lock), and waits out
//! the grace period while the agent prepares the bundle and runc starts. On cgroup v1 it
//! writes its own thread id to `tasks`, which takes the lock as a `cgroup.procs` write does
//! (any id but 0 does) and would move no other thread of the server even if the server had
//! been moved elsewhere since; v2 moves a thread alone only in a threaded subtree, so there
//! it writes the process's id to `cgroup.procs`. When runc's own write comes, the
//! lock is ready or about to be. The hierarchy mount option `favordynmods` removes the wait
//! altogether (at a cost to every fork and exit), but that is the host's choice to make,
//! not the agent's.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::cgroup::Version;

/// The thread that primes the lock, and how to ask it to.
#[derive(Debug)]
pub struct Primer {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the primer writes: the membership file of a cgroup that already holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A v1 cgroup's `tasks` file: the primer's thread id.
    Thread(PathBuf),
    /// A v2 cgroup's `cgroup.procs` file: the process's id.
    Process(PathBuf),
}

impl Target {
    /// Where this process is, on this host.
    pub fn of_this_process() -> Option<Target> {
        let (dir, version) = crate::cgroup::own_cgroup()?;
        Some(match version {
            Version::V1 => Target::Thread(dir.join("tasks")),
            Version::V2 => Target::Process(dir.join("cgroup.procs")),
        })
    }

    fn write(&self) -> std::io::Result<()> {
        match self {
            Target::Thread(file) => {
                std::fs::write(file, rustix::thread::gettid().as_raw_nonzero().to_string())
            }
            Target::Process(file) => std::fs::write(file, std::process::id().to_string()),
        }
    }
}

impl Primer {
    /// A primer that writes to `target`; with None it does nothing (no cgroup hierarchy
    /// shows this process).
    pub fn new(target: Option<Target>) -> Primer {
        let Some(target) = target else {
            return Primer {
                requests: None,
                thread: None,
            };
        };
        // One request waiting is enough: a request made while the thread writes is
        // served by the write after it, and more would only repeat it.
        let (requests, rx) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("cgroup-primer".into())
            .spawn(move || serve(&rx, &target))
            .map_err(|e| tracing::debug!(error = %e, "starting the cgroup primer's thread"))
            .ok();
        Primer {
            requests: thread.is_some().then_some(requests),
            thread,
        }
    }

    /// Asks for the lock to be taken now; returns at once.
    pub fn prime(&self) {
        if let Some(requests) = &self.requests {
            // Full: a write is already asked for, and serves this request too.
            let _ = requests.try_send(());
        }
    }
}

impl Drop for Primer {
    /// The thread ends once the requests end; it is joined so that no write outlives the
    /// runtime (at most one grace period's wait).
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(requests: &Receiver<()>, target: &Target) {
    let mut failed = false;
    for () in requests {
        // The write waits for the grace period; its outcome does not matter once it has
        // (a cgroup v2 rule may refuse the move after the lock was taken), but it is said
        // once, at debug level, for whoever wonders why starts are slow.
        if let Err(e) = target.write()
            && !failed
        {
            failed = true;
            tracing::debug!(target = ?target, error = %e, "priming the cgroup migration lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_writes_the_process_id_to_cgroup_procs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.procs");
        let primer = Primer::new(Some(Target::Process(file.clone())));
        primer.prime();
        // Dropping the primer joins its thread once the request queued has been served.
        drop(primer);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn on_v1_it_writes_its_own_thread_id_to_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks");
        let primer = Primer::new(Some(Target::Thread(file.clone())));
        primer.prime();
        drop(primer);
        let written: i32 = std::fs::read_to_string(&file).unwrap().parse().unwrap();
        // The primer's own thread: not this test's, nor the process's main thread.
        assert_ne!(written, rustix::thread::gettid().as_raw_nonzero().get());
        assert_ne!(written as u32, std::process::id());
        assert!(
            !std::path::Path::new(&format!("/proc/self/task/{written}")).exists(),
            "the primer's thread has ended with it"
        );
    }

    #[test]
    fn without_a_cgroup_it_does_nothing() {
        let primer = Primer::new(None);
        primer.prime();
        assert!(primer.thread.is_none());
    }

    #[test]
    fn a_file_it_cannot_write_does_not_end_it_in_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut primer = Primer::new(Some(Target::Process(
            dir.path().join("missing/cgroup.procs"),
        )));
        primer.prime();
        primer.prime();
        primer.requests = None;
        assert!(primer.thread.take().unwrap().join().is_ok());
    }
}
