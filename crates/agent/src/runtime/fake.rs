//! A runtime for tests: it records every start and signal, and each run behaves as the test
//! scripted it for that container (exit at once with a code, run until signalled, ignore
//! SIGTERM, be OOM-killed, fail to start). It requires a `command` as the process runtime
//! does, so pod workers behave the same over both.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use kbatch_api::clock::Clock;

use super::process::require_command;
use super::{ContainerHandle, ContainerSpec, Exit, ExitCell, Runtime, StartError, StopSignal};
use crate::checkpoint::{ProcessRecord, RunRecord};

/// What one run of a container does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Exits with this code as soon as it starts.
    Exit(i32),
    /// Runs until told to exit ([`FakeRuntime::exit`]) or signalled; SIGTERM ends it with
    /// 143, SIGKILL with 137.
    Run,
    /// Runs and ignores SIGTERM; only SIGKILL (137) ends it.
    IgnoreTerm,
    /// Is killed by the OOM killer at once (137, OOM).
    OomKill,
    /// Cannot be started; the message is the runtime's.
    CannotStart(String),
}

/// Something the runtime was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeEvent {
    Started(Box<ContainerSpec>),
    Signalled {
        container: String,
        attempt: u32,
        signal: StopSignal,
    },
}

#[derive(Debug, Default)]
struct State {
    scripts: HashMap<String, VecDeque<Behaviour>>,
    events: Vec<FakeEvent>,
    runs: HashMap<String, Arc<FakeRun>>,
    reclaimed: Vec<ProcessRecord>,
    next_pid: i32,
}

/// The recording fake.
#[derive(Debug)]
pub struct FakeRuntime {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    images: bool,
}

impl FakeRuntime {
    pub fn new(clock: Arc<dyn Clock>) -> FakeRuntime {
        FakeRuntime {
            clock,
            state: Arc::default(),
            images: false,
        }
    }

    /// The same fake as a runtime that runs images: the agent pulls each container's image
    /// first ([`Runtime::uses_images`]).
    pub fn with_images(self) -> FakeRuntime {
        FakeRuntime {
            images: true,
            ..self
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues what the next runs of `container` (by name, in any pod) do, in order; runs
    /// beyond the script [`Behaviour::Run`].
    pub fn script(&self, container: &str, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.state()
            .scripts
            .entry(container.to_owned())
            .or_default()
            .extend(behaviours);
    }

    /// Everything the runtime was asked, in order.
    pub fn events(&self) -> Vec<FakeEvent> {
        self.state().events.clone()
    }

    /// The runs started so far as (container, attempt), in order.
    pub fn started(&self) -> Vec<(String, u32)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                FakeEvent::Started(spec) => Some((spec.name, spec.attempt)),
                FakeEvent::Signalled { .. } => None,
            })
            .collect()
    }

    /// Makes the running run(s) of `container` exit with `code` now.
    pub fn exit(&self, container: &str, code: i32) {
        let runs: Vec<Arc<FakeRun>> = self
            .state()
            .runs
            .values()
            .filter(|r| r.container == container && r.exit.get().is_none())
            .cloned()
            .collect();
        for run in runs {
            run.finish(code, None, false, self.clock.now());
        }
    }

    /// The records handed to [`Runtime::reclaim`].
    pub fn reclaimed(&self) -> Vec<ProcessRecord> {
        self.state().reclaimed.clone()
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn name(&self) -> &str {
        "fake"
    }

    fn uses_images(&self) -> bool {
        self.images
    }

    fn check(&self, container: &Container) -> Result<(), String> {
        require_command(container)
    }

    async fn start(&self, spec: ContainerSpec) -> Result<Arc<dyn ContainerHandle>, StartError> {
        let mut state = self.state();
        state
            .events
            .push(FakeEvent::Started(Box::new(spec.clone())));
        let behaviour = state
            .scripts
            .get_mut(&spec.name)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Behaviour::Run);
        if let Behaviour::CannotStart(message) = behaviour {
            return Err(StartError(message));
        }
        // Pids no host can have (above the kernel's largest pid_max), so a checkpoint of a
        // fake run never matches a live process.
        state.next_pid += 1;
        let run = Arc::new(FakeRun {
            id: spec.id.clone(),
            pod_uid: spec.pod.uid.clone(),
            container: spec.name.clone(),
            attempt: spec.attempt,
            pid: i32::MAX - state.next_pid,
            started_at: self.clock.now(),
            behaviour: behaviour.clone(),
            exit: ExitCell::new(),
            state: Arc::downgrade(&self.state),
            clock: self.clock.clone(),
        });
        state.runs.insert(spec.id.clone(), run.clone());
        drop(state);
        let now = self.clock.now();
        match behaviour {
            Behaviour::Exit(code) => run.finish(code, None, false, now),
            Behaviour::OomKill => run.finish(137, Some(9), true, now),
            Behaviour::Run | Behaviour::IgnoreTerm | Behaviour::CannotStart(_) => {}
        }
        Ok(run)
    }

    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>> {
        self.state()
            .runs
            .get(id)
            .map(|r| r.clone() as Arc<dyn ContainerHandle>)
    }

    fn forget(&self, id: &str) {
        self.state().runs.remove(id);
    }

    /// Fake runs live and die with the runtime: another runtime cannot follow them.
    async fn adopt(&self, _run: &RunRecord) -> Option<Arc<dyn ContainerHandle>> {
        None
    }

    async fn reclaim(&self, record: &ProcessRecord) -> bool {
        self.state().reclaimed.push(record.clone());
        record.is_alive()
    }

    fn pods(&self) -> Vec<String> {
        let mut pods: Vec<String> = self
            .state()
            .runs
            .values()
            .map(|r| r.pod_uid.clone())
            .collect();
        pods.sort();
        pods.dedup();
        pods
    }

    /// Runs of the pod still held end as SIGKILLed ones do.
    async fn release_pod(&self, uid: &str) {
        let mut state = self.state();
        let left: Vec<Arc<FakeRun>> = state
            .runs
            .values()
            .filter(|r| r.pod_uid == uid)
            .cloned()
            .collect();
        state.runs.retain(|_, r| r.pod_uid != uid);
        drop(state);
        let now = self.clock.now();
        for run in left {
            run.finish(137, Some(9), false, now);
        }
    }
}

#[derive(Debug)]
struct FakeRun {
    id: String,
    pod_uid: String,
    container: String,
    attempt: u32,
    pid: i32,
    started_at: jiff::Timestamp,
    behaviour: Behaviour,
    exit: ExitCell,
    state: std::sync::Weak<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl FakeRun {
    fn finish(&self, code: i32, signal: Option<i32>, oom_killed: bool, at: jiff::Timestamp) {
        if self.exit.get().is_none() {
            self.exit.set(Exit {
                code,
                signal,
                oom_killed,
                finished_at: at,
                lost: None,
                start_error: None,
            });
        }
    }
}

#[async_trait]
impl ContainerHandle for FakeRun {
    fn id(&self) -> &str {
        &self.id
    }

    fn started_at(&self) -> jiff::Timestamp {
        self.started_at
    }

    fn process(&self) -> Option<ProcessRecord> {
        Some(ProcessRecord {
            pid: self.pid,
            start_ticks: 1,
            pgid: self.pid,
            cgroups: Vec::new(),
            shim: None,
        })
    }

    async fn wait(&self) -> Exit {
        self.exit.wait().await
    }

    fn signal(&self, signal: StopSignal) {
        if let Some(state) = self.state.upgrade() {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .events
                .push(FakeEvent::Signalled {
                    container: self.container.clone(),
                    attempt: self.attempt,
                    signal,
                });
        }
        let now = self.clock.now();
        match (signal, &self.behaviour) {
            (StopSignal::Kill, _) => self.finish(137, Some(9), false, now),
            (StopSignal::Term, Behaviour::IgnoreTerm) => {}
            (StopSignal::Term, _) => self.finish(143, Some(15), false, now),
        }
    }
}
