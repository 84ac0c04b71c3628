//! The Node authorizer's graph (upstream `plugin/pkg/auth/authorizer/node/graph.go`), reduced to
//! what kbatch asks of it: which nodes run pods that use a ConfigMap or Secret. It is kept from
//! a watch of every pod, started with the first question, so that a node's read of an object
//! its pod uses costs a map lookup instead of a list of the namespace's pods.
//!
//! Like upstream's, it lags the store by a watch event: a node asking for an object before the
//! graph has seen the pod bound to it is answered by a list of its pods (authz.rs), and an
//! answer of the graph is never a refusal.

use kbatch_core::object::{Object, POD};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::authz::references;
use crate::registry::{Reflection, Registry, WatchEventType, reflect};

/// (kind's plural, namespace, name, node): how many of the node's pods use the object.
type Use = (&'static str, String, String, String);
/// (namespace, name) of a pod.
type PodKey = (String, String);
/// What a bound pod uses: its node and (kind's plural, name) of each object.
type PodUses = (String, Vec<(&'static str, String)>);

#[derive(Debug, Default)]
struct State {
    /// Whether the graph holds a whole list and the events after it.
    ready: bool,
    /// Each pod bound to a node: (namespace, name) → its node and what it uses.
    pods: HashMap<PodKey, PodUses>,
    uses: HashMap<Use, usize>,
}

impl State {
    fn apply(&mut self, reflection: Reflection<'_>) {
        match reflection {
            Reflection::Listed(pods, _) => {
                *self = State::default();
                for obj in pods {
                    self.learn(obj);
                }
                self.ready = true;
            }
            Reflection::Changed(WatchEventType::Deleted, obj) => {
                let meta = obj.metadata();
                let key = (
                    meta.namespace.clone().unwrap_or_default(),
                    meta.name.clone().unwrap_or_default(),
                );
                self.forget(&key);
            }
            Reflection::Changed(WatchEventType::Added | WatchEventType::Modified, obj) => {
                self.learn(obj)
            }
            Reflection::Changed(..) => {}
            Reflection::Lost => self.ready = false,
        }
    }

    fn forget(&mut self, key: &PodKey) {
        let Some((node, refs)) = self.pods.remove(key) else {
            return;
        };
        for (plural, name) in refs {
            let edge = (plural, key.0.clone(), name, node.clone());
            if let Some(n) = self.uses.get_mut(&edge) {
                *n -= 1;
                if *n == 0 {
                    self.uses.remove(&edge);
                }
            }
        }
    }

    fn learn(&mut self, obj: &Object) {
        let Object::Pod(pod) = obj else {
            return;
        };
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        self.forget(&key);
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return;
        };
        let mut refs: Vec<(&'static str, String)> = references(pod)
            .into_iter()
            .map(|(plural, name)| (plural, name.to_owned()))
            .collect();
        refs.sort();
        refs.dedup();
        for (plural, name) in &refs {
            *self
                .uses
                .entry((*plural, key.0.clone(), name.clone(), node.clone()))
                .or_default() += 1;
        }
        self.pods.insert(key, (node, refs));
    }
}

/// The graph; cheap to clone. Starts itself on the first [`NodeGraph::uses`] inside a tokio
/// runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeGraph {
    state: Arc<Mutex<State>>,
    started: Arc<AtomicBool>,
}

impl NodeGraph {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Each critical section is a few map operations.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a pod bound to `node` uses the object, as far as the graph knows; `None` while
    /// it is not ready or knows of no such pod (ask the store then).
    pub fn uses(
        &self,
        registry: &Registry,
        plural: &'static str,
        namespace: &str,
        name: &str,
        node: &str,
    ) -> Option<bool> {
        if !self.started.swap(true, Ordering::SeqCst) {
            let graph = self.clone();
            tokio::spawn(reflect(registry.clone(), POD, move |r| {
                graph.lock().apply(r)
            }));
        }
        let state = self.lock();
        let edge = (
            plural,
            namespace.to_owned(),
            name.to_owned(),
            node.to_owned(),
        );
        (state.ready && state.uses.contains_key(&edge)).then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: Option<&str>, secret: &str) -> Object {
        Object::Pod(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}],
                         "volumes": [{"name": "s", "secret": {"secretName": secret}},
                                     {"name": "t", "secret": {"secretName": secret}}]}
            }))
            .unwrap(),
        )
    }

    fn uses(state: &State, secret: &str, node: &str) -> Option<usize> {
        let edge = (
            "secrets",
            "ns".to_owned(),
            secret.to_owned(),
            node.to_owned(),
        );
        state.uses.get(&edge).copied()
    }

    #[test]
    fn edges_follow_pods_as_they_are_bound_changed_and_deleted() {
        let mut state = State::default();
        state.learn(&pod("a", None, "s1"));
        assert_eq!(
            uses(&state, "s1", "n1"),
            None,
            "an unbound pod uses nothing yet"
        );
        state.learn(&pod("a", Some("n1"), "s1"));
        state.learn(&pod("b", Some("n1"), "s1"));
        // One edge per pod, however often the pod names the object.
        assert_eq!(uses(&state, "s1", "n1"), Some(2));
        state.learn(&pod("b", Some("n1"), "s2"));
        assert_eq!(uses(&state, "s1", "n1"), Some(1));
        assert_eq!(uses(&state, "s2", "n1"), Some(1));
        state.forget(&("ns".to_owned(), "a".to_owned()));
        assert_eq!(uses(&state, "s1", "n1"), None);
        assert_eq!(uses(&state, "s1", "n2"), None);
        state.forget(&("ns".to_owned(), "b".to_owned()));
        assert!(state.uses.is_empty() && state.pods.is_empty());
    }
}
