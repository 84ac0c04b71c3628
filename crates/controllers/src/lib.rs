//! kbatch's controllers: reconcile loops that watch the in-process API and write back
//! through it, as kube-controller-manager's and kube-scheduler's do.

pub mod cronjob;
pub mod garbage_collector;
pub mod job;
pub mod leader;
pub mod manager;
pub mod node_lifecycle;
pub mod pod_gc;
pub mod pvc_protection;
pub mod root_ca_publisher;
pub mod runtime;
pub mod scheduler;
pub mod serviceaccounts;
pub mod ttl_after_finished;
pub mod volume_binding;

pub use cronjob::CronJobController;
pub use garbage_collector::GarbageCollector;
pub use job::{JobConfig, JobController};
pub use leader::{LeaderElectionConfig, LeaderElector};
pub use manager::{Controllers, ControllersConfig};
pub use node_lifecycle::NodeLifecycleConfig;
