//! Delete: `genericregistry.Store.Delete` with `rest.BeforeDelete` — preconditions, graceful
//! deletion of pods, and the garbage collector's finalizers for Orphan and Foreground
//! propagation. An object with finalizers is only marked (deletionTimestamp); it disappears
//! when its last finalizer is removed.

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_core::field::{FieldError, Path};
use kbatch_core::object::{Kind, Object};
use kbatch_core::status;

use super::{Registry, encode_stored, set_resource_version};
use crate::error::{ApiError, Result};

/// `metav1.DeletionPropagation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(status::invalid(
                &kbatch_core::object::NAMESPACE,
                "",
                &vec![FieldError::not_supported(
                    &Path::new("propagationPolicy"),
                    other,
                    &["Foreground", "Background", "Orphan", "nil"],
                )],
            )
            .into()),
        }
    }
}

/// `metav1.Preconditions`.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// `metav1.DeleteOptions`, as far as kbatch acts on it.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    /// The deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    pub preconditions: Preconditions,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object is gone; this is its last state, at the delete's resourceVersion.
    Deleted(Object),
    /// The object is marked for deletion and waits for finalizers or a graceful stop.
    Pending(Object),
}

impl DeleteOutcome {
    pub fn object(&self) -> &Object {
        match self {
            DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o) => o,
        }
    }
}

pub(crate) const ORPHAN_FINALIZER: &str = "orphan";
pub(crate) const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// The warning the Job REST storage gives when a client relies on batch/v1's legacy default
/// of orphaning a Job's pods.
const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

impl Registry {
    /// Deletes an object, or marks it for deletion. Returns the outcome and warnings.
    pub async fn delete(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(DeleteOutcome, Vec<String>)> {
        let mut warnings = Vec::new();
        let propagation = match (opts.propagation, opts.orphan_dependents) {
            (Some(_), Some(_)) => {
                return Err(status::invalid(
                    kind,
                    name,
                    &vec![FieldError::invalid(
                        &Path::new("propagationPolicy"),
                        format!("{:?}", opts.propagation.unwrap_or(Propagation::Background)),
                        "orphanDependents and deletionPropagation cannot be both set",
                    )],
                )
                .into());
            }
            (Some(p), None) => p,
            (None, Some(true)) => Propagation::Orphan,
            (None, Some(false)) => Propagation::Background,
            // batch/v1 Jobs orphan their pods unless told otherwise (the Job strategy's
            // DefaultGarbageCollectionPolicy); everything else is deleted in the background.
            (None, None) if kind.kind == "Job" => {
                warnings.push(JOB_ORPHAN_WARNING.to_owned());
                Propagation::Orphan
            }
            (None, None) => Propagation::Background,
        };
        for _ in 0..5 {
            let (current, rev) = self.read(kind, namespace, name).await?;
            check_preconditions(kind, name, &current, rev, &opts.preconditions)?;
            let mut marked = current.clone();
            let now = self.clock.now();
            let mut pending = mark_for_deletion(&mut marked, propagation, opts, now);
            if let Object::Namespace(ns) = &mut marked {
                // The namespace REST storage marks the namespace (deletionTimestamp, phase
                // Terminating); the namespace lifecycle finishes the delete once its
                // content is gone.
                if ns.metadata.deletion_timestamp.is_none() {
                    ns.metadata.deletion_timestamp = Some(Time(now));
                    ns.metadata.deletion_grace_period_seconds = Some(0);
                }
                let status = ns.status.get_or_insert_with(Default::default);
                status.phase = Some("Terminating".to_owned());
                pending = true;
            }
            let key = Self::key(kind, namespace, name);
            if opts.dry_run {
                return Ok((
                    if pending {
                        DeleteOutcome::Pending(marked)
                    } else {
                        DeleteOutcome::Deleted(current)
                    },
                    warnings,
                ));
            }
            if pending {
                if marked == current {
                    return Ok((DeleteOutcome::Pending(current), warnings));
                }
                match self
                    .store
                    .update(&key, encode_stored(&mut marked), rev)
                    .await
                {
                    Ok(r) => {
                        self.forget_cached(kind, namespace, name, r);
                        set_resource_version(&mut marked, r);
                        if kind.kind == "Namespace" {
                            super::namespaces::spawn_finalize(self.clone(), name.to_owned());
                        }
                        return Ok((DeleteOutcome::Pending(marked), warnings));
                    }
                    Err(kbatch_store::Error::Conflict { .. }) => continue,
                    Err(e) => return Err(ApiError::from_store(e, kind, name)),
                }
            }
            match self.store.delete(&key, Some(rev)).await {
                Ok(deleted) => {
                    self.forget_cached(kind, namespace, name, deleted.revision);
                    let mut gone = current;
                    set_resource_version(&mut gone, deleted.revision);
                    return Ok((DeleteOutcome::Deleted(gone), warnings));
                }
                Err(kbatch_store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(ApiError::from_store(e, kind, name)),
            }
        }
        Err(status::conflict(kind, name).into())
    }
}

/// `rest.BeforeDelete` for one object: sets deletionTimestamp where the delete must wait
/// (finalizers, graceful pod stop) and adds the garbage collector's finalizer for Orphan and
/// Foreground. Returns whether the object stays for now.
fn mark_for_deletion(
    obj: &mut Object,
    propagation: Propagation,
    opts: &DeleteOptions,
    now: jiff::Timestamp,
) -> bool {
    let grace = graceful_seconds(obj, opts);
    let meta = obj.metadata_mut();
    let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
    match propagation {
        Propagation::Orphan => {
            finalizers.retain(|f| f != FOREGROUND_FINALIZER);
            if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
                finalizers.push(ORPHAN_FINALIZER.to_owned());
            }
        }
        Propagation::Foreground => {
            finalizers.retain(|f| f != ORPHAN_FINALIZER);
            if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                finalizers.push(FOREGROUND_FINALIZER.to_owned());
            }
        }
        Propagation::Background => {
            finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER);
        }
    }
    let has_finalizers = !finalizers.is_empty();
    if finalizers.is_empty() {
        meta.finalizers = None;
    }
    if !has_finalizers && grace == 0 {
        return false;
    }
    // A repeated delete only ever shortens a running grace period, moving the deadline back
    // by the difference (rest.BeforeDelete: old deadline − old grace + new grace).
    match (
        meta.deletion_timestamp.clone(),
        meta.deletion_grace_period_seconds,
    ) {
        (Some(Time(old_deadline)), Some(old_grace)) if grace < old_grace => {
            let deadline = old_deadline
                .checked_sub(SignedDuration::from_secs(old_grace - grace))
                .unwrap_or(old_deadline);
            meta.deletion_timestamp = Some(Time(deadline));
            meta.deletion_grace_period_seconds = Some(grace);
        }
        (Some(_), _) => {}
        (None, _) => {
            let deadline = now
                .checked_add(SignedDuration::from_secs(grace))
                .unwrap_or(now);
            meta.deletion_timestamp = Some(Time(deadline));
            meta.deletion_grace_period_seconds = Some(grace);
        }
    }
    true
}

/// The grace period of a delete: pods on a node stop gracefully (the pod strategy's
/// `CheckGracefulDelete`: the request's period, else the pod's
/// terminationGracePeriodSeconds, else 30); pods never scheduled or already finished, and
/// every other kind, go at once.
fn graceful_seconds(obj: &Object, opts: &DeleteOptions) -> i64 {
    let Object::Pod(pod) = obj else {
        return 0;
    };
    let spec = pod.spec.as_ref();
    let scheduled = spec
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if !scheduled || matches!(phase, Some("Succeeded") | Some("Failed")) {
        return 0;
    }
    opts.grace_period_seconds
        .or_else(|| spec.and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(0)
}

/// `metav1.Preconditions` checked against the stored object (409 on mismatch, with
/// apimachinery's text).
fn check_preconditions(
    kind: &Kind,
    name: &str,
    obj: &Object,
    rev: kbatch_store::Revision,
    pre: &Preconditions,
) -> Result<()> {
    if let Some(uid) = pre.uid.as_deref() {
        let actual = obj.metadata().uid.as_deref().unwrap_or("");
        if uid != actual {
            return Err(status::conflict_with(
                kind,
                name,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            )
            .into());
        }
    }
    if let Some(rv) = pre.resource_version.as_deref()
        && rv != rev.to_string()
    {
        return Err(status::conflict_with(
            kind,
            name,
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {rev}"
            ),
        )
        .into());
    }
    Ok(())
}
