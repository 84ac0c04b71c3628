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
//! So the runtime primes the lock as a run begins: a thread of its own writes this
//! process's pid to the `cgroup.procs` of the cgroup it is already in (a move to where it
//! is, which the kernel skips once it holds the lock), and waits out the grace period
//! while the agent prepares the bundle and runc starts. When runc's own write comes, the
//! lock is ready or about to be. The hierarchy mount option `favordynmods` removes the wait
//! altogether (at a cost to every fork and exit), but that is the host's choice to make,
//! not the agent's.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// The thread that primes the lock, and how to ask it to.
#[derive(Debug)]
pub struct Primer {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Primer {
    /// A primer that moves process `pid` to where it is in the cgroup whose `cgroup.procs`
    /// is `procs_file`; with None it does nothing (no cgroup hierarchy shows this process).
    pub fn new(procs_file: Option<PathBuf>, pid: u32) -> Primer {
        let Some(file) = procs_file else {
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
            .spawn(move || serve(&rx, &file, pid))
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

fn serve(requests: &Receiver<()>, file: &std::path::Path, pid: u32) {
    let mut failed = false;
    for () in requests {
        // The write waits for the grace period; its outcome does not matter once it has
        // (a cgroup v2 rule may refuse the move after the lock was taken), but it is said
        // once, at debug level, for whoever wonders why starts are slow.
        if let Err(e) = std::fs::write(file, pid.to_string())
            && !failed
        {
            failed = true;
            tracing::debug!(file = %file.display(), error = %e, "priming the cgroup migration lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_writes_the_pid_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.procs");
        let primer = Primer::new(Some(file.clone()), 4242);
        primer.prime();
        // Dropping the primer joins its thread once the request queued has been served.
        drop(primer);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "4242");
    }

    #[test]
    fn without_a_cgroup_it_does_nothing() {
        let primer = Primer::new(None, 1);
        primer.prime();
        assert!(primer.thread.is_none());
    }

    #[test]
    fn a_file_it_cannot_write_does_not_end_it_in_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut primer = Primer::new(Some(dir.path().join("missing/cgroup.procs")), 1);
        primer.prime();
        primer.prime();
        primer.requests = None;
        assert!(primer.thread.take().unwrap().join().is_ok());
    }
}
