//! A Job's pods: how they are read from the pod informer's indexes, classified (J-14,
//! J-15), claimed, adopted and released by selector and controllerRef (J-13,
//! `PodControllerRefManager.ClaimPods`), freed of the tracking finalizer when orphaned (J-13,
//! J-101, `syncOrphanPod`), and built from the template (J-11, J-12, `GetPodFromTemplate`
//! plus the Indexed additions).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kbatch_api::error::ApiError;
use kbatch_api::registry::{PatchType, WriteOptions};
use kbatch_core::object::{JOB, Object, POD};
use kbatch_core::selector::LabelSelector;
use serde_json::json;

use super::failure_policy;
use super::indexes::{
    COMPLETION_INDEX_ANNOTATION, COMPLETION_INDEX_ENV, INDEX_FAILURE_COUNT_ANNOTATION,
    INDEX_IGNORED_FAILURE_COUNT_ANNOTATION, generate_name, index_failure_count,
    index_ignored_failure_count,
};
use super::spec;
use super::status::is_finished;
use super::{FIELD_MANAGER, JobController};

/// `batch.kubernetes.io/job-tracking`: a terminated pod keeps it until the Job counted it
/// (J-91).
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// The pod informer's index of pods by their controller's uid, pods without a controller
/// under [`orphan_key`] of their namespace (upstream's `PodControllerUIDIndex`).
pub const CONTROLLER_UID_INDEX: &str = "job-controller/controller-uid";

/// The pod informer's index of the pods that hold the tracking finalizer and whose controller
/// is a Job, by that Job's `namespace/name`: what an orphan cleanup looks for (J-13, J-101),
/// whichever incarnation of the Job created them.
pub const TRACKED_INDEX: &str = "job-controller/tracked-by-job-name";

/// The [`CONTROLLER_UID_INDEX`] key of a namespace's pods without a controller (no uid can
/// contain a `/`).
pub fn orphan_key(namespace: &str) -> String {
    format!("orphan/{namespace}")
}

/// [`CONTROLLER_UID_INDEX`]'s function.
pub fn controller_uid_index(obj: &Object) -> Vec<String> {
    let Object::Pod(pod) = obj else {
        return Vec::new();
    };
    vec![match controller_of(pod) {
        Some(r) => r.uid.clone(),
        None => orphan_key(pod.metadata.namespace.as_deref().unwrap_or("")),
    }]
}

/// [`TRACKED_INDEX`]'s function.
pub fn tracked_index(obj: &Object) -> Vec<String> {
    let Object::Pod(pod) = obj else {
        return Vec::new();
    };
    match controller_of(pod) {
        Some(r) if r.kind == JOB.kind && has_tracking_finalizer(pod) => {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
            vec![format!("{namespace}/{}", r.name)]
        }
        _ => Vec::new(),
    }
}

/// A pod as the pod informer caches it: shared with the cache, never copied.
#[derive(Clone, Debug)]
pub struct SharedPod(Arc<Object>);

impl SharedPod {
    /// `None` for an object that is not a pod.
    pub fn new(obj: Arc<Object>) -> Option<SharedPod> {
        matches!(*obj, Object::Pod(_)).then_some(SharedPod(obj))
    }

    /// A pod the controller just wrote.
    pub fn owned(pod: Pod) -> SharedPod {
        SharedPod(Arc::new(Object::Pod(pod)))
    }
}

impl Deref for SharedPod {
    type Target = Pod;

    fn deref(&self) -> &Pod {
        match &*self.0 {
            Object::Pod(pod) => pod,
            // Both constructors admit pods only.
            _ => unreachable!("a SharedPod holds a pod"),
        }
    }
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `podutil.IsPodReady`.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// J-14 `IsPodActive`: not terminal and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// J-14 `IsPodTerminating`: being deleted but not terminal yet.
pub fn is_terminating(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// J-15 `isPodFailed`: phase Failed; or, unless only failed pods are replaced, a pod being
/// deleted that did not succeed (orphans may never reach Failed).
pub fn is_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    if spec::only_replace_failed(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// `metav1.GetControllerOf`.
pub fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The deletion grace period the pod was given, 0 when none.
pub fn grace_period(pod: &Pod) -> i64 {
    pod.metadata.deletion_grace_period_seconds.unwrap_or(0)
}

/// Restarts of all containers and init containers, for J-23(4) and J-33.
pub fn restart_counts(pod: &Pod) -> impl Iterator<Item = i32> + '_ {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_deref());
    let main = status.and_then(|s| s.container_statuses.as_deref());
    init.into_iter()
        .chain(main)
        .flatten()
        .map(|c| c.restart_count)
}

/// `metav1.NewControllerRef(job, batch/v1 Job)` (J-11, J-100).
pub fn controller_ref(job: &Job) -> OwnerReference {
    OwnerReference {
        api_version: JOB.api_version(),
        kind: JOB.kind.to_owned(),
        name: spec::name(job).to_owned(),
        uid: spec::uid(job).to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn is_job_ref(r: &OwnerReference) -> bool {
    r.kind == JOB.kind && r.api_version == JOB.api_version()
}

/// A pod to create for `job` (J-11): the template's labels, annotations, finalizers and spec,
/// the tracking finalizer, the controller reference and the generateName `<job>-`. Indexed
/// pods (J-12) also get their index as annotation, label, hostname, generateName part and
/// `JOB_COMPLETION_INDEX`; with backoffLimitPerIndex, the failure counts carried over from
/// `replaced`, the last failed pod of the index (J-54).
pub fn new_pod(job: &Job, index: Option<i64>, replaced: Option<&Pod>) -> Pod {
    let template = job.spec.as_ref().map(|s| &s.template);
    let meta = template.and_then(|t| t.metadata.as_ref());
    let mut labels = meta.and_then(|m| m.labels.clone());
    let mut annotations = meta.and_then(|m| m.annotations.clone());
    let mut finalizers = meta.and_then(|m| m.finalizers.clone()).unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_owned());
    }
    let mut pod_spec = template.and_then(|t| t.spec.clone()).unwrap_or_default();
    let job_name = spec::name(job);
    let mut generate = format!("{job_name}-");
    if let Some(i) = index {
        pod_spec
            .init_containers
            .iter_mut()
            .flatten()
            .for_each(add_completion_index_env);
        pod_spec
            .containers
            .iter_mut()
            .for_each(add_completion_index_env);
        let annotations = annotations.get_or_insert_with(BTreeMap::new);
        annotations.insert(COMPLETION_INDEX_ANNOTATION.to_owned(), i.to_string());
        labels
            .get_or_insert_with(BTreeMap::new)
            .insert(COMPLETION_INDEX_ANNOTATION.to_owned(), i.to_string());
        pod_spec.hostname = Some(format!("{job_name}-{i}"));
        generate = generate_name(job_name, i);
        if spec::has_backoff_limit_per_index(job) {
            let (failures, ignored) = new_index_failure_counts(job, replaced);
            annotations.insert(
                INDEX_FAILURE_COUNT_ANNOTATION.to_owned(),
                failures.to_string(),
            );
            if ignored > 0 {
                annotations.insert(
                    INDEX_IGNORED_FAILURE_COUNT_ANNOTATION.to_owned(),
                    ignored.to_string(),
                );
            }
        }
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate),
            namespace: Some(spec::namespace(job).to_owned()),
            labels,
            annotations,
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

/// `addCompletionIndexEnvVariable`: only for containers that do not define it themselves.
fn add_completion_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|v| v.name == COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"),
            }),
            ..Default::default()
        }),
    });
}

/// `getNewIndexFailureCounts` (J-54): the replaced pod's counts with its own failure added,
/// to the ignored count when an Ignore rule matched it.
fn new_index_failure_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else {
        return (0, 0);
    };
    let (mut failures, mut ignored) = (index_failure_count(pod), index_ignored_failure_count(pod));
    if failure_policy::match_policy(spec::pod_failure_policy(job), pod).count_failed {
        failures = failures.saturating_add(1);
    } else {
        ignored = ignored.saturating_add(1);
    }
    (failures, ignored)
}

/// The pods of a namespace that a sync looked at: those the Job claimed, and the rest.
pub(super) struct Claimed {
    pub mine: Vec<SharedPod>,
    pub others: Vec<SharedPod>,
}

impl JobController {
    /// The pods a sync of `job` looks at (`getPodsForJob`, `FilterPodsByOwner`): those it
    /// controls, whether or not its selector still matches them; the namespace's pods
    /// without a controller, which it may adopt; and those an earlier Job of its name left
    /// with the tracking finalizer (J-101). In the store's order (by name).
    pub(super) fn pods_for_job(&self, job: &Job) -> Vec<SharedPod> {
        let (namespace, job_uid) = (spec::namespace(job), spec::uid(job));
        let mut pods = self.pods.by_index(CONTROLLER_UID_INDEX, job_uid);
        pods.extend(self.orphans_of(namespace, spec::name(job)).filter(|o| {
            let Object::Pod(pod) = &**o else {
                return false;
            };
            controller_of(pod).is_none_or(|r| r.uid != job_uid)
        }));
        sorted(pods)
    }

    /// The pods an orphan cleanup for the Job `namespace/job_name` looks at when no live
    /// Job of that name claims them (J-101): the namespace's pods without a controller, and
    /// the pods that a Job of that name controls and that still hold the tracking finalizer.
    pub(super) fn orphaned_pods(&self, namespace: &str, job_name: &str) -> Vec<SharedPod> {
        sorted(self.orphans_of(namespace, job_name).collect())
    }

    fn orphans_of(&self, namespace: &str, job_name: &str) -> impl Iterator<Item = Arc<Object>> {
        let orphans = self
            .pods
            .by_index(CONTROLLER_UID_INDEX, &orphan_key(namespace));
        let tracked = self
            .pods
            .by_index(TRACKED_INDEX, &format!("{namespace}/{job_name}"));
        orphans.into_iter().chain(tracked)
    }

    /// `ClaimPods` (J-13): keeps the pods the Job controls and its selector matches, releases
    /// controlled pods it no longer matches, and adopts matching orphans (adding the tracking
    /// finalizer). Any failed adoption or release fails the sync, as upstream.
    pub(super) async fn claim_pods(
        &self,
        job: &Job,
        pods: Vec<SharedPod>,
    ) -> Result<Claimed, ApiError> {
        let selector = job
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .map_or(Ok(LabelSelector::nothing()), LabelSelector::from_meta)
            .map_err(|e| ApiError::internal(format!("couldn't convert Job selector: {e}")))?;
        let job_uid = spec::uid(job);
        let deleting = spec::being_deleted(job);
        let mut claimed = Claimed {
            mine: Vec::new(),
            others: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut adoptable: Option<Result<(), String>> = None;
        for pod in pods {
            let matches = selector.matches(pod.metadata.labels.as_ref());
            match controller_of(&pod) {
                Some(r) if r.uid != job_uid => claimed.others.push(pod),
                Some(_) if matches => claimed.mine.push(pod),
                Some(_) if deleting => claimed.others.push(pod),
                Some(_) => match self.release(job, &pod).await {
                    Ok(released) => claimed.others.push(released),
                    Err(e) => errors.push(e),
                },
                None if deleting || !matches || pod.metadata.deletion_timestamp.is_some() => {
                    claimed.others.push(pod)
                }
                None => {
                    // `RecheckDeletionTimestamp`: one fresh read of the Job before the first
                    // adoption, so a Job deleted meanwhile adopts nothing.
                    if adoptable.is_none() {
                        adoptable = Some(self.can_adopt(job).await);
                    }
                    if let Some(Err(why)) = &adoptable {
                        errors.push(ApiError::internal(format!(
                            "can't adopt Pod {}/{} ({}): {why}",
                            spec::namespace(job),
                            name(&pod),
                            uid(&pod)
                        )));
                        continue;
                    }
                    match self.adopt(job, &pod).await {
                        Ok(adopted) => claimed.mine.push(SharedPod::owned(adopted)),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(claimed),
        }
    }

    async fn can_adopt(&self, job: &Job) -> Result<(), String> {
        let (ns, job_name) = (spec::namespace(job), spec::name(job));
        match self.registry.get(&JOB, ns, job_name).await {
            Ok(Object::Job(fresh)) if spec::uid(&fresh) != spec::uid(job) => Err(format!(
                "original Job {ns}/{job_name} is gone: got uid {}, wanted {}",
                spec::uid(&fresh),
                spec::uid(job)
            )),
            Ok(Object::Job(fresh)) => match fresh.metadata.deletion_timestamp {
                Some(t) => Err(format!("{ns}/{job_name} has just been deleted at {}", t.0)),
                None => Ok(()),
            },
            Ok(_) => Err(format!("{ns}/{job_name} is not a Job")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `AdoptPod`: the controller reference and the tracking finalizer, with the pod's uid
    /// as precondition.
    async fn adopt(&self, job: &Job, pod: &Pod) -> Result<Pod, ApiError> {
        let body = json!({"metadata": {
            "ownerReferences": [controller_ref(job)],
            "uid": uid(pod),
            "finalizers": [TRACKING_FINALIZER],
        }});
        self.patch_pod(spec::name(job), pod, &body).await
    }

    /// `ReleasePod`: drops the Job's reference and the tracking finalizer. A pod gone or
    /// replaced meanwhile needs no release.
    async fn release(&self, job: &Job, pod: &SharedPod) -> Result<SharedPod, ApiError> {
        let body = json!({"metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": spec::uid(job)}],
            "uid": uid(pod),
            "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER],
        }});
        match self.patch_pod(spec::name(job), pod, &body).await {
            Ok(released) => Ok(SharedPod::owned(released)),
            Err(e) if e.is_not_found() || e.code() == 422 => Ok(pod.clone()),
            Err(e) => Err(e),
        }
    }

    /// `removeTrackingFinalizerPatch`, applied, in a sync of the Job `job_name`: the same
    /// change to the latest version of the pod, made on the typed object rather than through
    /// a strategic merge patch's JSON.
    pub(super) async fn remove_tracking_finalizer(
        &self,
        job_name: &str,
        pod: &Pod,
    ) -> Result<(), ApiError> {
        if !has_tracking_finalizer(pod) {
            return Ok(());
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let written = self
            .registry
            .edit(&POD, ns, name(pod), &opts, |obj| {
                let Some(finalizers) = obj.metadata_mut().finalizers.as_mut() else {
                    return false;
                };
                let before = finalizers.len();
                finalizers.retain(|f| f != TRACKING_FINALIZER);
                finalizers.len() != before
            })
            .await?;
        self.wrote_pod(ns, job_name, &written.object);
        Ok(())
    }

    /// Patches a pod in a sync of the Job `job_name`, which then waits for the pod informer
    /// to show the patch before its next sync.
    async fn patch_pod(
        &self,
        job_name: &str,
        pod: &Pod,
        body: &serde_json::Value,
    ) -> Result<Pod, ApiError> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let opts = WriteOptions {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let written = self
            .registry
            .patch(&POD, ns, name(pod), PatchType::Strategic, body, &opts)
            .await?;
        self.wrote_pod(ns, job_name, &written.object);
        match written.object {
            Object::Pod(p) => Ok(p),
            _ => Err(ApiError::internal("a pod patch returned another kind")),
        }
    }

    /// `syncOrphanPod` for the pods a sync of `job_name` did not claim (J-13, J-101): the
    /// tracking finalizer goes from pods without a controller, from pods whose controller
    /// is a Job of that name that is gone (or another incarnation), and from the pods of
    /// that Job once it finished. Pods of a Job another controller manages keep it.
    pub(super) async fn release_orphans(
        &self,
        job_name: &str,
        job: Option<&Job>,
        pods: &[SharedPod],
    ) -> Result<(), ApiError> {
        let mut first_error = None;
        for pod in pods.iter().filter(|p| has_tracking_finalizer(p)) {
            let orphaned = match controller_of(pod) {
                None => true,
                Some(r) if !is_job_ref(r) || r.name != job_name => false,
                Some(r) => match job {
                    None => true,
                    Some(j) if spec::uid(j) != r.uid => true,
                    Some(j) => spec::managed_externally(j).is_none() && is_finished(j),
                },
            };
            if !orphaned {
                continue;
            }
            match self.remove_tracking_finalizer(job_name, pod).await {
                Err(e) if !e.is_not_found() => {
                    first_error.get_or_insert(e);
                }
                _ => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Pods in the store's order: by namespace, then name.
fn sorted(objects: Vec<Arc<Object>>) -> Vec<SharedPod> {
    let mut pods: Vec<SharedPod> = objects.into_iter().filter_map(SharedPod::new).collect();
    // Each index read is already in order, so this merges a few sorted runs.
    pods.sort_by(|a, b| {
        (a.metadata.namespace.as_deref(), name(a)).cmp(&(b.metadata.namespace.as_deref(), name(b)))
    });
    pods
}
