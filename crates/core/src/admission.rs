//! Admission: what the apiserver does to an object between decoding and storing it —
//! defaulting, the registry strategy's preparation (`PrepareForCreate`, `PrepareForUpdate`,
//! system fields) and validation. The API server and `kbatch validate` share this one path,
//! so both give the same defaults, errors and hints.

use k8s_openapi::api::batch::v1::{CronJobStatus, JobStatus};
use k8s_openapi::api::core::v1::{NamespaceSpec, NamespaceStatus, PodStatus};
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
            (validation::namespace::validate_namespace(ns), Vec::new())
        }
    };
    finish(obj, errors, warnings)
}

/// Admits a new version of a stored object. `old` is what the store holds.
pub fn admit_update(
    mut new: Object,
    old: &Object,
    _ctx: &AdmitContext,
) -> Result<Admitted, Rejected> {
    apply_defaults(&mut new);
    let errors = match (&mut new, old) {
        (Object::Job(n), Object::Job(o)) => {
            // PrepareForUpdate: status comes from the stored object; generation moves on a
            // spec change (J-3).
            n.status = o.status.clone();
            n.metadata.generation = next_generation(&n.spec, &o.spec, o.metadata.generation);
            validation::job::validate_job_update(n, o)
        }
        (Object::CronJob(n), Object::CronJob(o)) => {
            n.status = o.status.clone();
            n.metadata.generation = next_generation(&n.spec, &o.spec, o.metadata.generation);
            validation::cronjob::validate_cronjob_update(n, o)
        }
        (Object::Pod(n), Object::Pod(o)) => {
            n.status = o.status.clone();
            validation::pod::validate_pod_update(n, o)
        }
        (Object::Namespace(n), Object::Namespace(o)) => {
            n.status = o.status.clone();
            validation::namespace::validate_namespace_update(n, o)
        }
        (n, o) => {
            let path = crate::field::Path::new("kind");
            vec![crate::field::FieldError::invalid(
                &path,
                n.kind().kind,
                format!("cannot change kind from {}", o.kind().kind),
            )]
        }
    };
    finish(new, errors, Vec::new())
}

/// The defaults of `SetObjectDefaults_<Kind>`, applied on every decode of a request body.
pub fn apply_defaults(obj: &mut Object) {
    match obj {
        Object::Job(job) => defaults::job::default_job(job),
        Object::CronJob(cj) => defaults::cronjob::default_cronjob(cj),
        Object::Pod(pod) => defaults::pod::default_pod(pod),
        Object::Namespace(_) => {}
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
