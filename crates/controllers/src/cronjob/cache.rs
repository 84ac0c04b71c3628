//! The Jobs a sync looks at (C-52), from the shared Jobs informer as upstream reads them from
//! its lister, through an index by controller name: a sync costs what its own Jobs cost, not
//! what the namespace holds. When 1,000 CronJobs fire together, reading the namespace's Jobs
//! through the registry in each sync would decode half a million Jobs.
//!
//! The cache may lag the store by a few events, as upstream's lister does; the sync already
//! allows for it (upstream's own rules): an active Job missing from the cache is looked up in
//! the registry before it leaves status.active (C-40), and a Job the controller creates is
//! named after its fire time, so one it does not see yet fails its creation with
//! AlreadyExists rather than running twice (C-27).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::batch::v1::Job;
use kbatch_core::object::Object;

use crate::runtime::{Change, Informer};

/// (namespace, name of the controller) → names of the Jobs it controls.
type Index = HashMap<(String, String), HashSet<String>>;

#[derive(Clone)]
pub(super) struct JobCache {
    jobs: Informer,
    by_controller: Arc<Mutex<Index>>,
}

impl std::fmt::Debug for JobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCache")
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// The index entry of a Job: its namespace and the name its controller reference gives.
fn entry(job: &Object) -> Option<((String, String), String)> {
    let meta = job.metadata();
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))?;
    let namespace = meta.namespace.clone().unwrap_or_default();
    Some(((namespace, owner.name.clone()), job.name().to_owned()))
}

impl JobCache {
    /// Indexes `jobs` from now on (the Jobs it already holds included).
    pub fn new(jobs: &Informer) -> JobCache {
        let by_controller: Arc<Mutex<Index>> = Arc::default();
        jobs.add_handler({
            let index = Arc::clone(&by_controller);
            move |change| {
                let mut index = lock(&index);
                let (old, new) = match change {
                    Change::Added(job) => (None, Some(job)),
                    Change::Updated { old, new } => (Some(old), Some(new)),
                    Change::Deleted(job) => (Some(job), None),
                };
                if let Some((owner, name)) = old.and_then(entry)
                    && let Some(names) = index.get_mut(&owner)
                {
                    names.remove(&name);
                    if names.is_empty() {
                        index.remove(&owner);
                    }
                }
                if let Some((owner, name)) = new.and_then(entry) {
                    index.entry(owner).or_default().insert(name);
                }
            }
        });
        JobCache {
            jobs: jobs.clone(),
            by_controller,
        }
    }

    /// The cached Jobs of `namespace` whose controller reference names `controller`.
    pub fn controlled_by(&self, namespace: &str, controller: &str) -> Vec<Job> {
        let names: Vec<String> = lock(&self.by_controller)
            .get(&(namespace.to_owned(), controller.to_owned()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|name| match self.jobs.get(namespace, name).as_deref() {
                Some(Object::Job(job)) => Some(job.clone()),
                _ => None,
            })
            .collect()
    }
}

fn lock(index: &Mutex<Index>) -> MutexGuard<'_, Index> {
    // Each handler call leaves the index consistent, so a poisoned lock is still usable.
    index.lock().unwrap_or_else(|p| p.into_inner())
}
