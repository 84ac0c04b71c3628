//! Every container run's log, streamed as it is written (`kubectl logs --prefix -f` over all
//! of the Job's pods): one follower per run, started as soon as a pod's status names the
//! run, through the same log reader the API's `pods/log` uses.
//!
//! A follower learns that new output has stopped coming only at its reader's next look; the
//! pod's status says it at once. So once a run is reported terminated (its log is complete:
//! the agent reports the end after the output is drained), its follower reads what is left
//! to the end of the file and stops, instead of waiting for that look.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kbatch_api::logs::{LogOptions, LogStream, PodLogs};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::console::Console;

/// The followers of the runs seen so far.
#[derive(Debug)]
pub struct Logs {
    source: Arc<dyn PodLogs>,
    console: Arc<Console>,
    /// By containerID.
    followers: HashMap<String, Follower>,
}

/// The follower of one run.
#[derive(Debug)]
struct Follower {
    job_uid: String,
    pod_uid: String,
    /// Set once the run has ended.
    ended: watch::Sender<bool>,
    /// Until it has been waited for.
    task: Option<JoinHandle<()>>,
}

/// One run of a container as a pod's status names it.
struct RunRef {
    id: String,
    container: String,
    /// It is the container's previous run (`lastState`).
    previous: bool,
    ended: bool,
}

impl Logs {
    pub fn new(source: Arc<dyn PodLogs>, console: Arc<Console>) -> Logs {
        Logs {
            source,
            console,
            followers: HashMap::new(),
        }
    }

    /// Follows each run the status of the Job's pod names that is not followed yet (the
    /// current run of every container, and the one before it: a restart can come between
    /// two looks), and tells the followers of runs that have ended.
    pub fn pod(&mut self, job_uid: &str, pod: &Pod) {
        if self.console.quiet() {
            return;
        }
        for run in runs(pod) {
            match self.followers.get(&run.id) {
                Some(follower) => {
                    if run.ended {
                        follower.ended.send_replace(true);
                    }
                }
                None => {
                    let (tx, rx) = watch::channel(run.ended);
                    let task = self.follow(pod, &run, rx);
                    let follower = Follower {
                        job_uid: job_uid.to_owned(),
                        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
                        ended: tx,
                        task: Some(task),
                    };
                    self.followers.insert(run.id, follower);
                }
            }
        }
    }

    fn follow(&self, pod: &Pod, run: &RunRef, mut ended: watch::Receiver<bool>) -> JoinHandle<()> {
        let source = self.source.clone();
        let console = self.console.clone();
        let pod = pod.clone();
        let container = run.container.clone();
        let options = LogOptions {
            follow: true,
            previous: run.previous,
            ..Default::default()
        };
        tokio::spawn(async move {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let mut out = Printer {
                console: &console,
                pod: &name,
                container: &container,
                pending: Vec::new(),
                printed: 0,
            };
            let open = |follow: bool| {
                let options = LogOptions {
                    follow,
                    ..options.clone()
                };
                let (source, pod, container) = (source.clone(), pod.clone(), container.clone());
                async move { source.logs(&pod, &container, &options).await }
            };
            let already_ended = *ended.borrow();
            if !already_ended {
                let mut stream = match open(true).await {
                    Ok(stream) => stream,
                    Err(e) => return out.no_log(&e.to_string()),
                };
                loop {
                    tokio::select! {
                        chunk = stream.next() => match chunk {
                            Some(Ok(chunk)) => out.chunk(&chunk),
                            Some(Err(_)) | None => return out.flush(),
                        },
                        changed = ended.wait_for(|e| *e) => {
                            if changed.is_err() {
                                return out.flush();
                            }
                            break;
                        }
                    }
                }
            }
            // The run has ended and its log is complete: the rest, read to the end at once.
            match open(false).await {
                Ok(stream) => out.rest(stream).await,
                Err(e) => out.no_log(&e.to_string()),
            }
        })
    }

    /// Waits until the logs of the pod's ended runs are written out, so that they come
    /// before what is said about the pod's end.
    pub async fn pod_ended(&mut self, pod_uid: &str) {
        let ended = |f: &Follower| f.pod_uid == pod_uid && *f.ended.borrow();
        self.wait(ended).await;
    }

    /// Waits until every followed run of the Job's pods has ended and its log is written
    /// out.
    pub async fn drain(&mut self, job_uid: &str) {
        self.wait(|f| f.job_uid == job_uid).await;
    }

    async fn wait(&mut self, which: impl Fn(&Follower) -> bool) {
        let tasks: Vec<JoinHandle<()>> = self
            .followers
            .values_mut()
            .filter(|f| which(f))
            .filter_map(|f| f.task.take())
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// One run's output, line by line, with its prefix.
struct Printer<'a> {
    console: &'a Console,
    pod: &'a str,
    container: &'a str,
    /// The start of a line whose end has not come yet.
    pending: Vec<u8>,
    /// Bytes of the log's output taken so far (a reader that starts over skips them: both
    /// render the same file the same way).
    printed: usize,
}

impl Printer<'_> {
    fn chunk(&mut self, chunk: &[u8]) {
        self.printed += chunk.len();
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            self.console
                .log_line(self.pod, self.container, &self.pending[start..start + end]);
            start += end + 1;
        }
        self.pending.drain(..start);
    }

    /// An unterminated last line is still a line of the output.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.console.log_line(self.pod, self.container, &line);
        }
    }

    /// The output of a complete log past what was taken already.
    async fn rest(&mut self, mut stream: LogStream) {
        let mut skip = self.printed;
        while let Some(Ok(chunk)) = stream.next().await {
            let from = skip.min(chunk.len());
            skip -= from;
            self.chunk(&chunk[from..]);
        }
        self.flush();
    }

    fn no_log(&mut self, why: &str) {
        self.flush();
        self.console.event(&format!(
            "pod/{}/{}: no log: {why}",
            self.pod, self.container
        ));
    }
}

/// The runs a pod's status names, each container's previous one first.
fn runs(pod: &Pod) -> Vec<RunRef> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    let mut runs = Vec::new();
    for c in containers {
        if let Some(id) = previous_run(c) {
            runs.push(RunRef {
                id,
                container: c.name.clone(),
                previous: true,
                ended: true,
            });
        }
        let state = c.state.as_ref();
        let current = state.and_then(|s| {
            if s.running.is_some() {
                c.container_id.clone().map(|id| (id, false))
            } else {
                s.terminated
                    .as_ref()?
                    .container_id
                    .clone()
                    .map(|id| (id, true))
            }
        });
        if let Some((id, ended)) = current.filter(|(id, _)| !id.is_empty()) {
            runs.push(RunRef {
                id,
                container: c.name.clone(),
                previous: false,
                ended,
            });
        }
    }
    runs
}

fn previous_run(c: &ContainerStatus) -> Option<String> {
    c.last_state
        .as_ref()?
        .terminated
        .as_ref()?
        .container_id
        .clone()
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, PodStatus,
    };

    fn terminated(id: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(id.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_restarted_container_names_its_previous_run_and_its_current_one() {
        let pod = Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "main".into(),
                    container_id: Some("process://b".into()),
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning::default()),
                        ..Default::default()
                    }),
                    last_state: Some(terminated("process://a")),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let runs: Vec<(String, bool, bool)> = runs(&pod)
            .into_iter()
            .map(|r| (r.id, r.previous, r.ended))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("process://a".to_owned(), true, true),
                ("process://b".to_owned(), false, false)
            ]
        );
    }
}
