//! One Job as the run follows it: the Job's latest state, every pod it ever had (a pod
//! deleted on the way keeps its last state for the summary), and the events worth a line —
//! a pod started, a container restarted, a pod finished, a retry after the failure backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kbatch_controllers::job::BackoffRecord;
use kbatch_controllers::job::indexes::completion_index;
use kbatch_controllers::job::pods::{is_terminal, phase};

use super::summary;

/// The Job controller's pod-failure backoff, as the run configured it (J-50).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// A pod of the Job, as last seen.
#[derive(Debug)]
pub struct PodRecord {
    pub pod: Pod,
    /// Deleted from the API.
    pub gone: bool,
    started: bool,
    finished: bool,
    /// Each container's restart count as last reported.
    restarts: HashMap<String, i32>,
}

impl PodRecord {
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or("")
    }

    /// Nothing of it runs or will run: it reached a terminal phase, or it is gone, or it was
    /// deleted before any node took it.
    fn quiet(&self) -> bool {
        let unbound = self
            .pod
            .spec
            .as_ref()
            .is_none_or(|s| s.node_name.as_deref().unwrap_or("").is_empty());
        self.gone
            || is_terminal(&self.pod)
            || (unbound && self.pod.metadata.deletion_timestamp.is_some())
    }
}

/// A Job and its pods.
#[derive(Debug)]
pub struct Tracked {
    pub job: Job,
    pub pods: Vec<PodRecord>,
    /// When the run created (or first saw) the Job.
    pub since: Instant,
    /// When the run saw it finish.
    pub ended: Option<Instant>,
    /// The Job is gone from the API.
    pub deleted: bool,
    /// status.failed when a retry was last announced.
    announced_failed: i32,
}

impl Tracked {
    pub fn new(job: Job, since: Instant) -> Tracked {
        let announced_failed = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
        Tracked {
            job,
            pods: Vec::new(),
            since,
            ended: None,
            deleted: false,
            announced_failed,
        }
    }

    pub fn name(&self) -> &str {
        self.job.metadata.name.as_deref().unwrap_or("")
    }

    pub fn uid(&self) -> &str {
        self.job.metadata.uid.as_deref().unwrap_or("")
    }

    fn condition(&self, type_: &str) -> Option<&JobCondition> {
        self.job
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    }

    /// The terminal condition, Complete or Failed, once the Job has one (J-23).
    pub fn finished(&self) -> Option<&JobCondition> {
        self.condition("Complete")
            .or_else(|| self.condition("Failed"))
    }

    pub fn complete(&self) -> bool {
        self.condition("Complete").is_some()
    }

    /// No pod of the Job runs or will run.
    pub fn pods_quiet(&self) -> bool {
        self.pods.iter().all(PodRecord::quiet)
    }

    /// How long the Job ran, as far as the run saw.
    pub fn elapsed(&self) -> Duration {
        self.ended.unwrap_or_else(Instant::now) - self.since
    }

    /// A new state of the Job; returns the lines it is worth.
    pub fn job_changed(&mut self, job: Job, backoff: Backoff) -> Vec<String> {
        self.job = job;
        if self.finished().is_some() && self.ended.is_none() {
            self.ended = Some(Instant::now());
        }
        let failed = self.counter(|s| s.failed);
        if failed <= self.announced_failed {
            return Vec::new();
        }
        self.announced_failed = failed;
        // A failure the controller has counted without deciding to fail the Job (J-23):
        // a replacement follows once the backoff has passed.
        if self.finished().is_some() || self.condition("FailureTarget").is_some() {
            return Vec::new();
        }
        let limit = self
            .job
            .spec
            .as_ref()
            .and_then(|s| s.backoff_limit)
            .unwrap_or(6);
        let plural = if failed == 1 { "" } else { "s" };
        let wait = match self.backoff_wait(backoff) {
            Some(wait) => format!("retry in {}", summary::wait(wait)),
            None => "retrying".to_owned(),
        };
        vec![format!(
            "job/{}: {failed} failed pod{plural} (backoffLimit {limit}); {wait}",
            self.name()
        )]
    }

    /// A pod was added or changed; returns the lines it is worth.
    pub fn pod_changed(&mut self, pod: Pod) -> Vec<String> {
        let uid = pod.metadata.uid.clone();
        let i = match self.pods.iter().position(|p| p.pod.metadata.uid == uid) {
            Some(i) => i,
            None => {
                self.pods.push(PodRecord {
                    pod: pod.clone(),
                    gone: false,
                    started: false,
                    finished: false,
                    restarts: HashMap::new(),
                });
                self.pods.len() - 1
            }
        };
        let record = &mut self.pods[i];
        record.pod = pod;
        let mut lines = Vec::new();
        let name = record.name().to_owned();
        let index = completion_index(&record.pod)
            .map(|i| format!(" (index {i})"))
            .unwrap_or_default();
        if !record.started && started(&record.pod) {
            record.started = true;
            lines.push(format!("pod/{name} started{index}"));
        }
        for c in record
            .pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            let before = record.restarts.insert(c.name.clone(), c.restart_count);
            if before.is_some_and(|b| c.restart_count > b) {
                let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                let how = last.map(summary::termination).unwrap_or_default();
                lines.push(format!(
                    "pod/{name}: container {} {how}; restart {}",
                    c.name, c.restart_count
                ));
            }
        }
        if !record.finished && is_terminal(&record.pod) {
            record.finished = true;
            let verb = if phase(&record.pod) == "Succeeded" {
                "succeeded"
            } else {
                "failed"
            };
            lines.push(format!(
                "pod/{name} {verb}{index}: {}",
                summary::pod_outcome(&record.pod)
            ));
        }
        lines
    }

    /// A pod was deleted; returns the lines it is worth.
    pub fn pod_deleted(&mut self, pod: Pod) -> Vec<String> {
        let uid = pod.metadata.uid.clone();
        let Some(record) = self.pods.iter_mut().find(|p| p.pod.metadata.uid == uid) else {
            return Vec::new();
        };
        record.gone = true;
        if record.finished {
            return Vec::new();
        }
        // Its last state, with how its containers ended, is the deleted object itself.
        record.pod = pod;
        record.finished = true;
        vec![format!(
            "pod/{} deleted: {}",
            record.name(),
            summary::pod_outcome(&record.pod)
        )]
    }

    /// The time left before the controller replaces a failed pod (J-51), while it waits:
    /// it has counted every failed pod, runs fewer pods than it may, and has not decided to
    /// fail the Job.
    pub fn backoff_wait(&self, backoff: Backoff) -> Option<Duration> {
        if self.finished().is_some() || self.condition("FailureTarget").is_some() {
            return None;
        }
        let parallelism = self
            .job
            .spec
            .as_ref()
            .and_then(|s| s.parallelism)
            .unwrap_or(1);
        let failed = self
            .pods
            .iter()
            .filter(|p| phase(&p.pod) == "Failed")
            .count();
        let counted = usize::try_from(self.counter(|s| s.failed)).unwrap_or(0);
        if counted < failed || self.counter(|s| s.active) >= parallelism {
            return None;
        }
        let of_phase = |wanted: &str| -> Vec<&Pod> {
            self.pods
                .iter()
                .map(|p| &p.pod)
                .filter(|p| phase(p) == wanted)
                .collect()
        };
        let record = BackoffRecord::default().updated(&of_phase("Succeeded"), &of_phase("Failed"));
        let wait = record.remaining(jiff::Timestamp::now(), backoff.base, backoff.max);
        (!wait.is_zero()).then_some(wait)
    }

    /// One of the Job's status counters (0 when unset).
    fn counter(&self, which: impl Fn(&JobStatus) -> Option<i32>) -> i32 {
        self.job.status.as_ref().and_then(which).unwrap_or(0)
    }

    /// The progress line: succeeded, failed and active pods against completions, elapsed
    /// time, the backoff wait.
    pub fn progress(&self, backoff: Backoff) -> String {
        let succeeded = self.counter(|s| s.succeeded);
        let done = match self.job.spec.as_ref().and_then(|s| s.completions) {
            Some(c) => format!("{succeeded}/{c} succeeded"),
            None => format!("{succeeded} succeeded"),
        };
        let mut line = format!(
            "job/{}  {done} · {} failed · {} active · {}",
            self.name(),
            self.counter(|s| s.failed),
            self.counter(|s| s.active),
            summary::elapsed(self.elapsed()),
        );
        if let Some(wait) = self.backoff_wait(backoff) {
            line.push_str(&format!(" · retry in {}", summary::wait(wait)));
        }
        line
    }
}

/// Whether a pod has started a container.
fn started(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
            .any(|c| {
                c.state
                    .as_ref()
                    .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
                    || c.restart_count > 0
            })
    })
}
