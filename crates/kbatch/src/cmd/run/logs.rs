//! Every container run's log, streamed as it is written (`kubectl logs --prefix -f` over all
//! of the Job's pods): one follower per run, started as soon as a pod's status names the
//! run, through the same log reader the API's `pods/log` uses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kbatch_api::logs::{LogOptions, PodLogs};
use tokio::task::JoinSet;

use super::console::Console;

/// The followers of the runs seen so far.
#[derive(Debug)]
pub struct Logs {
    source: Arc<dyn PodLogs>,
    console: Arc<Console>,
    /// containerIDs already followed.
    followed: HashSet<String>,
    /// The followers of each Job's pods, by the Job's uid.
    tasks: HashMap<String, JoinSet<()>>,
}

impl Logs {
    pub fn new(source: Arc<dyn PodLogs>, console: Arc<Console>) -> Logs {
        Logs {
            source,
            console,
            followed: HashSet::new(),
            tasks: HashMap::new(),
        }
    }

    /// Follows each run the status of the Job's pod names that is not followed yet: the
    /// current run of every container, and the one before it (a restart can come between
    /// two looks).
    pub fn pod(&mut self, job_uid: &str, pod: &Pod) {
        if self.console.quiet() {
            return;
        }
        let Some(status) = &pod.status else { return };
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for container in containers {
            for (id, previous) in runs(container) {
                if self.followed.insert(id) {
                    self.follow(job_uid, pod, &container.name, previous);
                }
            }
        }
    }

    fn follow(&mut self, job_uid: &str, pod: &Pod, container: &str, previous: bool) {
        let source = self.source.clone();
        let console = self.console.clone();
        let pod = pod.clone();
        let container = container.to_owned();
        let tasks = self.tasks.entry(job_uid.to_owned()).or_default();
        tasks.spawn(async move {
            let options = LogOptions {
                follow: true,
                previous,
                ..Default::default()
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            let mut stream = match source.logs(&pod, &container, &options).await {
                Ok(stream) => stream,
                Err(e) => {
                    console.event(&format!("pod/{name}/{container}: no log: {e}"));
                    return;
                }
            };
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                pending.extend_from_slice(&chunk);
                let mut start = 0;
                while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                    console.log_line(&name, &container, &pending[start..start + end]);
                    start += end + 1;
                }
                pending.drain(..start);
            }
            // An unterminated last line is still a line of the output.
            if !pending.is_empty() {
                console.log_line(&name, &container, &pending);
            }
        });
    }

    /// Waits until every followed run of the Job's pods has ended and its log is written
    /// out.
    pub async fn drain(&mut self, job_uid: &str) {
        if let Some(mut tasks) = self.tasks.remove(job_uid) {
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// The runs a container status names, each with whether it is the previous one.
fn runs(status: &ContainerStatus) -> impl Iterator<Item = (String, bool)> {
    let state = status.state.as_ref();
    let current = state
        .and_then(|s| {
            s.running
                .as_ref()
                .and(status.container_id.clone())
                .or_else(|| s.terminated.as_ref()?.container_id.clone())
        })
        .filter(|id| !id.is_empty())
        .map(|id| (id, false));
    let previous = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref()?.container_id.clone())
        .filter(|id| !id.is_empty())
        .map(|id| (id, true));
    // The previous run first, so that its lines tend to come out before the current one's.
    previous.into_iter().chain(current)
}
