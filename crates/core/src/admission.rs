//! Admission: what the apiserver does to an object between decoding and storing it —
//! defaulting, the registry strategy's preparation (`PrepareForCreate`, `PrepareForUpdate`,
//! system fields) and validation. The API server and `kbatch validate` share this one path,
//! so both give the same defaults, errors and hints.

use k8s_openapi::api::batch::v1::{CronJobStatus, JobStatus};
use k8s_openapi::api::core::v1::{
    NamespaceSpec, NamespaceStatus, PersistentVolumeClaimStatus, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::defaults;
use crate::field::ErrorList;
use crate::object::{Kind, Object};
use crate::validation;

/// What admission needs from its caller: it reads no clock and generates no identifiers itself.
#[derive(Clone, Debug)]
pub struct AdmitContext {
    /// The uid given to a created object.
    pub uid: String,
    /// The time stamped as creationTimestamp.
    pub now: jiff::Timestamp,
    /// The namespace of the request; used when a namespaced object names none (V-2).
    pub namespace: String,
}

/// An admitted object, ready to store, with the warnings the apiserver would send.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub object: Object,
    pub warnings: Vec<String>,
}

/// A rejected object: every field error found, not only the first.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub kind: Kind,
    pub name: String,
    pub errors: ErrorList,
}

/// Admits a new object: defaults, system fields, strategy preparation, validation.
pub fn admit_create(mut obj: Object, ctx: &AdmitContext) -> Result<Admitted, Rejected> {
    apply_defaults(&mut obj);
    let kind = obj.kind();
    fill_system_fields(obj.metadata_mut(), kind, ctx);
    let (errors, warnings) = match &mut obj {
        Object::Job(job) => {
            // pkg/registry/batch/job/strategy.go: PrepareForCreate resets status and sets
            // generation 1 (J-3); Validate generates the selector before ValidateJob (J-10).
            job.status = Some(JobStatus::default());
            job.metadata.generation = Some(1);
            defaults::job::generate_selector(job);
            (
                validation::job::validate_job(job),
                validation::job::warnings_on_create(job),
            )
        }
        Object::CronJob(cj) => {
            cj.status = Some(CronJobStatus::default());
            cj.metadata.generation = Some(1);
            (
                validation::cronjob::validate_cronjob(cj),
                validation::cronjob::warnings_on_create(cj),
            )
        }
        Object::Pod(pod) => {
            // pkg/registry/core/pod/strategy.go PrepareForCreate: phase Pending, QoS class set.
            pod.status = Some(PodStatus {
                phase: Some("Pending".to_owned()),
                qos_class: pod
                    .spec
                    .as_ref()
                    .map(|spec| crate::qos::compute_pod_qos(spec).to_owned()),
                ..Default::default()
            });
            (validation::pod::validate_pod(pod), Vec::new())
        }
        Object::Namespace(ns) => {
            // pkg/registry/core/namespace/strategy.go PrepareForCreate: phase Active and the
            // kubernetes finalizer.
            ns.status = Some(NamespaceStatus {
                phase: Some("Active".to_owned()),
                ..Default::default()
            });
            let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
            let finalizers = spec.finalizers.get_or_insert_with(Vec::new);
            if !finalizers.iter().any(|f| f == "kubernetes") {
                finalizers.push("kubernetes".to_owned());
            }
            // The apiserver labels every namespace with its own name, so that selectors can
            // pick namespaces by name (kubernetes.io/metadata.name, GA since 1.22).
            if let Some(name) = ns.metadata.name.clone() {
                let labels = ns.metadata.labels.get_or_insert_with(Default::default);
                labels.insert("kubernetes.io/metadata.name".to_owned(), name);
            }
            (validation::namespace::validate_namespace(ns), Vec::new())
        }
        Object::Event(event) => (validation::event::validate_event(event), Vec::new()),
        Object::Node(node) => (validation::node::validate_node(node), Vec::new()),
        Object::Lease(lease) => (validation::lease::validate_lease(lease), Vec::new()),
        Object::ConfigMap(cm) => (validation::configmap::validate_config_map(cm), Vec::new()),
        Object::Secret(secret) => (validation::secret::validate_secret(secret), Vec::new()),
        Object::ServiceAccount(sa) => (
            validation::serviceaccount::validate_service_account(sa),
            Vec::new(),
        ),
        Object::PersistentVolumeClaim(pvc) => {
            // pkg/registry/core/persistentvolumeclaim/strategy.go PrepareForCreate: the status
            // is the system's; a new claim is Pending.
            pvc.status = Some(PersistentVolumeClaimStatus {
                phase: Some("Pending".to_owned()),
                ..Default::default()
            });
            (
                validation::storage::validate_persistent_volume_claim(pvc),
                Vec::new(),
            )
        }
        Object::StorageClass(sc) => (validation::storage::validate_storage_class(sc), Vec::new()),
        Object::RuntimeClass(rc) => (
            validation::runtimeclass::validate_runtime_class(rc),
            Vec::new(),
        ),
    };
    finish(obj, errors, warnings)
}

/// Admits a new version of a stored object. `old` is what the store holds.
pub fn admit_update(
    mut new: Object,
    old: &Object,
    ctx: &AdmitContext,
) -> Result<Admitted, Rejected> {
    apply_defaults(&mut new);
    let kind = new.kind();
    keep_system_fields(new.metadata_mut(), old.metadata(), kind, ctx);
    let (errors, warnings) = match (&mut new, old) {
        (Object::Job(n), Object::Job(o)) => {
            // PrepareForUpdate: status comes from the stored object; generation moves on a
            // spec change (J-3).
            n.status = o.status.clone();
            n.metadata.generation = next_generation(&n.spec, &o.spec, o.metadata.generation);
            (
                validation::job::validate_job_update(n, o),
                validation::job::warnings_on_update(n, o),
            )
        }
        (Object::CronJob(n), Object::CronJob(o)) => {
            n.status = o.status.clone();
            n.metadata.generation = next_generation(&n.spec, &o.spec, o.metadata.generation);
            (
                validation::cronjob::validate_cronjob_update(n, o),
                validation::cronjob::warnings_on_update(n, o),
            )
        }
        (Object::Pod(n), Object::Pod(o)) => {
            n.status = o.status.clone();
            (validation::pod::validate_pod_update(n, o), Vec::new())
        }
        (Object::Namespace(n), Object::Namespace(o)) => {
            n.status = o.status.clone();
            (
                validation::namespace::validate_namespace_update(n, o),
                Vec::new(),
            )
        }
        (Object::Event(n), Object::Event(o)) => {
            (validation::event::validate_event_update(n, o), Vec::new())
        }
        (Object::Node(n), Object::Node(o)) => {
            // Like Pods, a Node's status is written through /status only.
            n.status = o.status.clone();
            (validation::node::validate_node_update(n, o), Vec::new())
        }
        (Object::Lease(n), Object::Lease(o)) => {
            (validation::lease::validate_lease_update(n, o), Vec::new())
        }
        (Object::ConfigMap(n), Object::ConfigMap(o)) => (
            validation::configmap::validate_config_map_update(n, o),
            Vec::new(),
        ),
        (Object::Secret(n), Object::Secret(o)) => {
            (validation::secret::validate_secret_update(n, o), Vec::new())
        }
        (Object::ServiceAccount(n), Object::ServiceAccount(o)) => (
            validation::serviceaccount::validate_service_account_update(n, o),
            Vec::new(),
        ),
        (Object::PersistentVolumeClaim(n), Object::PersistentVolumeClaim(o)) => {
            // pkg/registry/core/persistentvolumeclaim/strategy.go PrepareForUpdate: the status
            // is written through /status only.
            n.status = o.status.clone();
            (
                validation::storage::validate_persistent_volume_claim_update(n, o),
                Vec::new(),
            )
        }
        (Object::StorageClass(n), Object::StorageClass(o)) => (
            validation::storage::validate_storage_class_update(n, o),
            Vec::new(),
        ),
        (Object::RuntimeClass(n), Object::RuntimeClass(o)) => (
            validation::runtimeclass::validate_runtime_class_update(n, o),
            Vec::new(),
        ),
        (n, o) => {
            let path = crate::field::Path::new("kind");
            let error = crate::field::FieldError::invalid(
                &path,
                n.kind().kind,
                format!("cannot change kind from {}", o.kind().kind),
            );
            (vec![error], Vec::new())
        }
    };
    finish(new, errors, warnings)
}

/// Admits a write to the `/status` subresource: the stored spec is kept whatever the request
/// says (the status strategies' `PrepareForUpdate`: `newJob.Spec = oldJob.Spec`), metadata
/// follows the usual update rules, and the status is validated.
pub fn admit_update_status(
    mut new: Object,
    old: &Object,
    ctx: &AdmitContext,
) -> Result<Admitted, Rejected> {
    apply_defaults(&mut new);
    let kind = new.kind();
    keep_system_fields(new.metadata_mut(), old.metadata(), kind, ctx);
    let meta_path = crate::field::Path::new("metadata");
    let mut errors =
        validation::meta::validate_object_meta_update(new.metadata(), old.metadata(), &meta_path);
    match (&mut new, old) {
        (Object::Job(n), Object::Job(o)) => {
            n.spec = o.spec.clone();
            n.metadata.generation = o.metadata.generation;
            errors.extend(validation::job::validate_job_status_update(n, o));
        }
        (Object::CronJob(n), Object::CronJob(o)) => {
            n.spec = o.spec.clone();
            n.metadata.generation = o.metadata.generation;
        }
        (Object::Pod(n), Object::Pod(o)) => {
            // pkg/registry/core/pod podStatusStrategy: spec, deletion and owners stay.
            n.spec = o.spec.clone();
            n.metadata.owner_references = o.metadata.owner_references.clone();
            errors.extend(validation::pod::validate_pod_status_update(n, o));
        }
        (Object::Namespace(n), Object::Namespace(o)) => n.spec = o.spec.clone(),
        (Object::Node(n), Object::Node(o)) => n.spec = o.spec.clone(),
        (Object::PersistentVolumeClaim(n), Object::PersistentVolumeClaim(o)) => {
            // persistentVolumeClaimStatusStrategy: the spec stays.
            n.spec = o.spec.clone();
            errors.extend(validation::storage::validate_persistent_volume_claim_status(n));
        }
        (n, o) if n.kind() == o.kind() => {}
        (n, o) => {
            let path = crate::field::Path::new("kind");
            errors.push(crate::field::FieldError::invalid(
                &path,
                n.kind().kind,
                format!("cannot change kind from {}", o.kind().kind),
            ));
        }
    }
    finish(new, errors, Vec::new())
}

/// The defaults of `SetObjectDefaults_<Kind>`, applied on every decode of a request body.
pub fn apply_defaults(obj: &mut Object) {
    match obj {
        Object::Job(job) => defaults::job::default_job(job),
        Object::CronJob(cj) => defaults::cronjob::default_cronjob(cj),
        Object::Pod(pod) => defaults::pod::default_pod(pod),
        Object::Secret(secret) => defaults::secret::default_secret(secret),
        Object::PersistentVolumeClaim(pvc) => {
            defaults::storage::default_persistent_volume_claim(pvc)
        }
        Object::StorageClass(sc) => defaults::storage::default_storage_class(sc),
        Object::Namespace(_)
        | Object::Event(_)
        | Object::Node(_)
        | Object::Lease(_)
        | Object::ConfigMap(_)
        | Object::ServiceAccount(_)
        | Object::RuntimeClass(_) => {}
    }
}

/// `rest.FillObjectMetaSystemFields` plus the request namespace (V-2).
fn fill_system_fields(meta: &mut ObjectMeta, kind: Kind, ctx: &AdmitContext) {
    if kind.namespaced {
        if meta.namespace.as_deref().unwrap_or("").is_empty() {
            meta.namespace = Some(ctx.namespace.clone());
        }
    } else {
        meta.namespace = None;
    }
    meta.uid = Some(ctx.uid.clone());
    meta.creation_timestamp = Some(Time(ctx.now));
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.resource_version = None;
    meta.self_link = None;
}

/// `rest.BeforeUpdate`: an update keeps the stored uid (when it names none), creation time and
/// deletion state; the request namespace fills an empty one. Validation then rejects what
/// still differs (V-6).
fn keep_system_fields(meta: &mut ObjectMeta, old: &ObjectMeta, kind: Kind, ctx: &AdmitContext) {
    if kind.namespaced && meta.namespace.as_deref().unwrap_or("").is_empty() {
        meta.namespace = Some(ctx.namespace.clone());
    }
    if meta.uid.as_deref().unwrap_or("").is_empty() {
        meta.uid = old.uid.clone();
    }
    if old.creation_timestamp.is_some() {
        meta.creation_timestamp = old.creation_timestamp.clone();
    }
    if old.deletion_timestamp.is_some() {
        meta.deletion_timestamp = old.deletion_timestamp.clone();
        meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    }
}

fn next_generation<T: PartialEq>(new: &T, old: &T, old_generation: Option<i64>) -> Option<i64> {
    let g = old_generation.unwrap_or(0);
    Some(if new != old { g + 1 } else { g })
}

fn finish(obj: Object, errors: ErrorList, warnings: Vec<String>) -> Result<Admitted, Rejected> {
    if errors.is_empty() {
        Ok(Admitted {
            object: obj,
            warnings,
        })
    } else {
        Err(Rejected {
            kind: obj.kind(),
            name: obj.name().to_owned(),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::Namespace;

    fn ctx() -> AdmitContext {
        AdmitContext {
            uid: "u-1".to_owned(),
            now: "2026-01-02T03:04:05Z".parse().unwrap(),
            namespace: "default".to_owned(),
        }
    }

    fn job(parallelism: i32) -> Object {
        Object::Job(
            serde_json::from_value::<Job>(serde_json::json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "pi"},
                "spec": {"parallelism": parallelism, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "pi", "image": "perl"}]}}}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn create_fills_system_fields() {
        let admitted = admit_create(job(1), &ctx()).unwrap().object;
        let meta = admitted.metadata();
        assert_eq!(meta.uid.as_deref(), Some("u-1"));
        assert_eq!(meta.namespace.as_deref(), Some("default"));
        assert_eq!(meta.generation, Some(1), "J-3");
        assert_eq!(
            meta.creation_timestamp.as_ref().unwrap().0.to_string(),
            "2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn update_keeps_system_fields_and_bumps_generation_on_spec_change() {
        let stored = admit_create(job(1), &ctx()).unwrap().object;
        let mut later = ctx();
        later.uid = "u-2".to_owned();
        later.now = "2026-02-01T00:00:00Z".parse().unwrap();
        // A client that sends back only name and spec, as `kubectl replace` of a trimmed file does.
        let mut update = job(2);
        let Object::Job(j) = &mut update else {
            unreachable!()
        };
        let Object::Job(s) = &stored else {
            unreachable!()
        };
        j.spec.as_mut().unwrap().selector = s.spec.as_ref().unwrap().selector.clone();
        j.spec.as_mut().unwrap().template.metadata =
            s.spec.as_ref().unwrap().template.metadata.clone();
        j.metadata.resource_version = Some("5".to_owned());
        let admitted = admit_update(update, &stored, &later).unwrap().object;
        assert_eq!(admitted.metadata().uid.as_deref(), Some("u-1"));
        assert_eq!(
            admitted.metadata().creation_timestamp,
            stored.metadata().creation_timestamp
        );
        assert_eq!(
            admitted.metadata().generation,
            Some(2),
            "J-3: a spec change moves generation"
        );
        let unchanged = admit_update(admitted.clone(), &admitted, &later)
            .unwrap()
            .object;
        assert_eq!(unchanged.metadata().generation, Some(2));
    }

    #[test]
    fn namespaces_are_labelled_with_their_name() {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}
        }))
        .unwrap();
        let admitted = admit_create(Object::Namespace(ns), &ctx()).unwrap().object;
        let labels = admitted.metadata().labels.clone().unwrap();
        assert_eq!(labels["kubernetes.io/metadata.name"], "team-a");
        assert_eq!(admitted.metadata().namespace, None);
    }
}
