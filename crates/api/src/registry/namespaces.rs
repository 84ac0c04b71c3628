//! Namespace lifecycle: the system namespaces exist, and deleting a namespace deletes what is
//! in it before the namespace itself goes (kube-controller-manager's namespace controller,
//! `NamespacedResourcesDeleter`, and the `kubernetes` finalizer in `spec.finalizers`).

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::object::{ADMITTED_KINDS, NAMESPACE, Object};

use super::{DeleteOptions, ListParams, Propagation, Registry, WriteOptions, encode_stored};
use crate::error::{ApiError, Result};

/// The finalizer the namespace lifecycle owns (`spec.finalizers`).
const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Creates the namespace if it does not exist.
pub(super) async fn ensure(registry: &Registry, name: &str) -> Result<()> {
    match registry.get(&NAMESPACE, "", name).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match registry
                .create(
                    &NAMESPACE,
                    "",
                    Object::Namespace(ns),
                    &WriteOptions::default(),
                    Vec::new(),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.reason() == "AlreadyExists" => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Restarts the deletion of namespaces that were terminating when the server stopped.
pub(super) async fn resume_terminating(registry: &Registry) -> Result<()> {
    let list = registry
        .list(&NAMESPACE, None, &ListParams::default())
        .await?;
    for ns in list.items {
        if ns.metadata().deletion_timestamp.is_some() {
            spawn_finalize(registry.clone(), ns.name().to_owned());
        }
    }
    Ok(())
}

/// Deletes the content of a terminating namespace in the background, then the namespace.
pub(super) fn spawn_finalize(registry: Registry, name: String) {
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(20);
        loop {
            match finalize_once(&registry, &name).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "deleting namespace content")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    });
}

/// One pass: deletes every object in the namespace; when nothing is left, drops the
/// `kubernetes` finalizer and with it the namespace. Returns whether the namespace is done.
async fn finalize_once(registry: &Registry, name: &str) -> Result<bool> {
    let ns = match registry.get(&NAMESPACE, "", name).await {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut remaining = 0;
    for kind in ADMITTED_KINDS.iter().filter(|k| k.namespaced) {
        let list = registry
            .list(kind, Some(name), &ListParams::default())
            .await?;
        for obj in list.items {
            remaining += 1;
            if obj.metadata().deletion_timestamp.is_some() {
                continue;
            }
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                ..Default::default()
            };
            match registry.delete(kind, name, obj.name(), &opts).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        return Ok(false);
    }
    let Object::Namespace(mut updated) = ns.clone() else {
        return Err(ApiError::internal("namespace of another kind"));
    };
    if let Some(spec) = updated.spec.as_mut()
        && let Some(finalizers) = spec.finalizers.as_mut()
    {
        finalizers.retain(|f| f != KUBERNETES_FINALIZER);
    }
    let rev =
        super::parse_resource_version(ns.metadata().resource_version.as_deref().unwrap_or(""))?;
    let key = Registry::key(&NAMESPACE, "", name);
    let others_left = updated
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| !f.is_empty());
    let result = if others_left {
        registry
            .store
            .update(&key, encode_stored(&mut Object::Namespace(updated)), rev)
            .await
            .map(|_| ())
    } else {
        registry.store.delete(&key, Some(rev)).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(!others_left),
        Err(kbatch_store::Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(ApiError::from_store(e, &NAMESPACE, name)),
    }
}
