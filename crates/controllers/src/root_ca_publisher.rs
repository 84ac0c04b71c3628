//! The root CA publisher (`pkg/controller/certificates/rootcacertpublisher`): every active
//! namespace has a ConfigMap `kube-root-ca.crt` holding the API server's CA under `ca.crt`,
//! which the token volume of every pod projects, so that in-cluster clients can verify the
//! server. A namespace added or updated is synced, and so is the namespace of a changed or
//! deleted `kube-root-ca.crt`, which is put back as it should be.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_api::serviceaccount::{ROOT_CA_CONFIG_MAP, ROOT_CA_KEY};
use kbatch_core::object::{CONFIGMAP, Object};

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};

/// The annotation upstream puts on the ConfigMap.
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The controller over the namespace informer and an informer of the `kube-root-ca.crt`
/// ConfigMaps. Cheap to clone.
#[derive(Clone)]
pub struct RootCaPublisher {
    registry: Registry,
    /// The PEM bundle to publish.
    root_ca: String,
    namespaces: Informer,
    config_maps: Informer,
    /// Namespace names, as `ObjectKey`s with an empty namespace.
    queue: WorkQueue<ObjectKey>,
}

impl std::fmt::Debug for RootCaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCaPublisher")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl RootCaPublisher {
    /// Registers its handlers on `namespaces` and `config_maps` (an informer of the ConfigMaps
    /// named `kube-root-ca.crt`).
    pub fn new(
        registry: Registry,
        root_ca: String,
        namespaces: &Informer,
        config_maps: &Informer,
    ) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        namespaces.add_handler({
            let queue = queue.clone();
            move |change| {
                if let Change::Added(ns) | Change::Updated { new: ns, .. } = change {
                    queue.add(ObjectKey::new("", ns.name()));
                }
            }
        });
        config_maps.add_handler({
            let queue = queue.clone();
            move |change| {
                // configMapUpdated / configMapDeleted.
                if let Change::Updated { new: cm, .. } | Change::Deleted(cm) = change
                    && cm.name() == ROOT_CA_CONFIG_MAP
                {
                    let ns = cm.metadata().namespace.clone().unwrap_or_default();
                    queue.add(ObjectKey::new("", ns));
                }
            }
        });
        RootCaPublisher {
            registry,
            root_ca,
            namespaces: namespaces.clone(),
            config_maps: config_maps.clone(),
            queue,
        }
    }

    /// Waits for both informers, then runs `workers` workers until the queue is shut down.
    pub async fn run(self, workers: usize) {
        self.namespaces.wait_synced().await;
        self.config_maps.wait_synced().await;
        let queue = self.queue.clone();
        run_workers(
            "root-ca-cert-publisher",
            queue,
            workers,
            move |key: ObjectKey| {
                let controller = self.clone();
                async move { controller.sync(&key.name).await }
            },
        )
        .await;
    }

    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// `syncNamespace`: creates the ConfigMap in an active namespace that lacks it, and puts
    /// back its data and annotation where they differ.
    pub async fn sync(&self, namespace: &str) -> Result<Option<std::time::Duration>, ApiError> {
        let Some(ns) = self.namespaces.get("", namespace) else {
            return Ok(None);
        };
        let Object::Namespace(ns) = ns.as_ref() else {
            return Ok(None);
        };
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let data = BTreeMap::from([(ROOT_CA_KEY.to_owned(), self.root_ca.clone())]);
        let opts = WriteOptions {
            field_manager: Some("kube-controller-manager".to_owned()),
            ..Default::default()
        };
        let Some(existing) = self.config_maps.get(namespace, ROOT_CA_CONFIG_MAP) else {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(ROOT_CA_CONFIG_MAP.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    annotations: Some(BTreeMap::from([(
                        DESCRIPTION_ANNOTATION.to_owned(),
                        DESCRIPTION.to_owned(),
                    )])),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            return match self
                .registry
                .create(
                    &CONFIGMAP,
                    namespace,
                    Object::ConfigMap(cm),
                    &opts,
                    Vec::new(),
                )
                .await
            {
                Ok(_) => Ok(None),
                // Created meanwhile (the informer will show it), or the namespace began
                // terminating: nothing to do.
                Err(e)
                    if matches!(e.reason(), "AlreadyExists" | "Forbidden") || e.is_not_found() =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            };
        };
        let Object::ConfigMap(existing) = existing.as_ref() else {
            return Ok(None);
        };
        let annotated = existing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
            .is_some_and(|d| d == DESCRIPTION);
        if existing.data.as_ref() == Some(&data) && annotated {
            return Ok(None);
        }
        let mut cm = existing.clone();
        cm.data = Some(data);
        cm.binary_data = None;
        cm.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(DESCRIPTION_ANNOTATION.to_owned(), DESCRIPTION.to_owned());
        match self
            .registry
            .update(
                &CONFIGMAP,
                namespace,
                ROOT_CA_CONFIG_MAP,
                Object::ConfigMap(cm),
                &opts,
                Vec::new(),
            )
            .await
        {
            Ok(_) => Ok(None),
            // Changed or deleted meanwhile: the informer brings the namespace back.
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
