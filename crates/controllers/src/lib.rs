//! kbatch's controllers: reconcile loops that watch the in-process API and write back
//! through it, as kube-controller-manager's do.

pub mod garbage_collector;
pub mod job;

pub use garbage_collector::GarbageCollector;
pub use job::{JobConfig, JobController};
