//! A registry on the in-memory store, an agent on it, and ways to watch what the agent
//! writes.

#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kbatch_agent::api::LocalApi;
use kbatch_agent::runtime::Runtime;
use kbatch_agent::{Agent, AgentConfig};
use kbatch_api::clock::Clock;
use kbatch_api::registry::{Registry, WatchEvent, WatchEventType, WatchParams, WriteOptions};
use kbatch_core::object::{Object, POD};
use kbatch_core::selector::FieldSelector;
use kbatch_store::MemoryStore;
use tokio::task::JoinHandle;

pub const NODE: &str = "node-1";

/// Wall-clock time that moves with tokio's clock, so paused-time tests see timestamps move
/// as the agent's timers fire. Like a real clock, it never reads the same twice: each read
/// adds a nanosecond (events are named after the time they are recorded).
#[derive(Debug)]
pub struct TestClock {
    base: jiff::Timestamp,
    start: tokio::time::Instant,
    reads: AtomicI64,
}

impl TestClock {
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock {
            base: "2026-03-01T10:00:00Z".parse().unwrap(),
            start: tokio::time::Instant::now(),
            reads: AtomicI64::new(0),
        })
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        let elapsed = tokio::time::Instant::now() - self.start;
        let tick = self.reads.fetch_add(1, Ordering::Relaxed);
        self.base
            + jiff::SignedDuration::try_from(elapsed).unwrap()
            + jiff::SignedDuration::from_nanos(tick)
    }
}

pub async fn registry(clock: Arc<TestClock>) -> Registry {
    let registry = Registry::new(Arc::new(MemoryStore::new()), clock);
    registry.bootstrap().await.unwrap();
    registry
}

/// A running agent over a registry.
pub struct Harness {
    pub registry: Registry,
    pub clock: Arc<TestClock>,
    pub dir: tempfile::TempDir,
    agent: Option<JoinHandle<()>>,
}

impl Harness {
    pub async fn new() -> Harness {
        let clock = TestClock::new();
        Harness {
            registry: registry(clock.clone()).await,
            clock,
            dir: tempfile::tempdir().unwrap(),
            agent: None,
        }
    }

    pub fn config(&self, runtime: Arc<dyn Runtime>) -> AgentConfig {
        AgentConfig::new(NODE, self.dir.path(), runtime)
    }

    /// Starts an agent (stopping the one before, if any).
    pub fn start_agent(&mut self, config: AgentConfig) {
        self.stop_agent();
        let agent = Agent::new(
            Arc::new(LocalApi::new(self.registry.clone())),
            self.clock.clone(),
            config,
        );
        self.agent = Some(tokio::spawn(agent.run()));
    }

    /// Stops the agent as a crash of its task would: its workers go with it.
    pub fn stop_agent(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.abort();
        }
    }

    /// Creates a pod from a spec and binds it to the node.
    pub async fn run_pod(&self, name: &str, spec: serde_json::Value) -> Pod {
        self.run_labelled_pod(name, serde_json::json!({}), spec)
            .await
    }

    pub async fn run_labelled_pod(
        &self,
        name: &str,
        labels: serde_json::Value,
        spec: serde_json::Value,
    ) -> Pod {
        self.create_pod(name, labels, spec).await;
        let bound = self.registry.bind_pod("default", name, NODE).await.unwrap();
        let Object::Pod(pod) = bound else {
            unreachable!()
        };
        pod
    }

    pub async fn create_pod(
        &self,
        name: &str,
        labels: serde_json::Value,
        spec: serde_json::Value,
    ) -> Pod {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": spec,
        }))
        .unwrap();
        let created = self
            .registry
            .create(
                &POD,
                "default",
                Object::Pod(pod),
                &WriteOptions::default(),
                Vec::new(),
            )
            .await
            .unwrap();
        let Object::Pod(pod) = created.object else {
            unreachable!()
        };
        pod
    }

    pub async fn get(&self, name: &str) -> Option<Pod> {
        match self.registry.get(&POD, "default", name).await {
            Ok(Object::Pod(p)) => Some(p),
            Ok(_) => None,
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Waits until the pod satisfies `done` (or, with `None`, is gone). Gives up after an
    /// hour of (test) time, so a broken agent fails the test instead of hanging it.
    pub async fn wait(&self, name: &str, done: impl Fn(Option<&Pod>) -> bool) -> Option<Pod> {
        let selector = FieldSelector::parse(&format!("metadata.name={name}")).unwrap();
        let (mut events, _) = self
            .registry
            .watch(
                &POD,
                Some("default"),
                WatchParams {
                    field_selector: Some(selector),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(3600), async {
            loop {
                let now = self.get(name).await;
                if done(now.as_ref()) {
                    return now;
                }
                events.next().await;
            }
        })
        .await;
        match waited {
            Ok(pod) => pod,
            Err(_) => panic!(
                "pod {name} never got there; it is {:#?}",
                self.get(name).await.map(|p| p.status)
            ),
        }
    }

    pub async fn wait_phase(&self, name: &str, phase: &str) -> Pod {
        self.wait(name, |p| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some(phase)
        })
        .await
        .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop_agent();
    }
}

/// Every status a pod is written with, in order.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Vec<PodStatus>>>);

impl History {
    /// Records the statuses of pod `name` from now on.
    pub async fn record(registry: &Registry, name: &str) -> History {
        let history = History::default();
        let selector = FieldSelector::parse(&format!("metadata.name={name}")).unwrap();
        let (mut events, _) = registry
            .watch(
                &POD,
                Some("default"),
                WatchParams {
                    field_selector: Some(selector),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let sink = history.0.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let WatchEvent::Object(WatchEventType::Added | WatchEventType::Modified, obj) =
                    event
                    && let Object::Pod(p) = *obj
                    && let Some(s) = p.status
                {
                    let mut sink = sink.lock().unwrap();
                    if sink.last() != Some(&s) {
                        sink.push(s);
                    }
                }
            }
        });
        history
    }

    pub fn statuses(&self) -> Vec<PodStatus> {
        self.0.lock().unwrap().clone()
    }

    /// The distinct (phase, container summaries) the pod went through.
    pub fn summary(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.statuses() {
            let line = summarize(&s);
            if out.last() != Some(&line) {
                out.push(line);
            }
        }
        out
    }
}

/// `Phase: name=state(detail) …` for one status, init containers first.
pub fn summarize(s: &PodStatus) -> String {
    let containers: Vec<String> = s
        .init_container_statuses
        .iter()
        .flatten()
        .chain(s.container_statuses.iter().flatten())
        .map(|c| {
            let st = c.state.clone().unwrap_or_default();
            let state = if let Some(w) = st.waiting {
                format!("waiting:{}", w.reason.unwrap_or_default())
            } else if st.running.is_some() {
                "running".to_owned()
            } else if let Some(t) = st.terminated {
                format!("{}:{}", t.reason.unwrap_or_default(), t.exit_code)
            } else {
                "?".to_owned()
            };
            format!("{}={state}/{}", c.name, c.restart_count)
        })
        .collect();
    format!(
        "{}: {}",
        s.phase.as_deref().unwrap_or(""),
        containers.join(" ")
    )
}

/// The status of a condition type.
pub fn condition(pod: &Pod, type_: &str) -> Option<(String, Option<String>)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Polls until `check` holds; gives up (failing the test) after an hour of test time.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let polled = tokio::time::timeout(Duration::from_secs(3600), async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "never: {what}");
}
