//! The mutating admission plugins kbatch runs on create, between decoding and the registry
//! strategy, as kube-apiserver's admission chain does: they read other objects, which
//! `kbatch_core::admission` (no IO) cannot. Also the default StorageClass every server has.
//!
//! - `ServiceAccount` (plugin/pkg/admission/serviceaccount): a pod names no service account →
//!   `default`. kbatch does not reject a pod whose service account does not exist yet (the
//!   upstream plugin does, which makes the first pods of a new namespace race the
//!   ServiceAccount controller), and mounts no token.
//! - `DefaultStorageClass` (plugin/pkg/admission/storage/storageclass/setdefault): a claim
//!   with neither `spec.storageClassName` nor the beta annotation gets the default class.
//! - `StorageObjectInUseProtection` (plugin/pkg/admission/storage/storageobjectinuseprotection):
//!   every claim gets the `kubernetes.io/pvc-protection` finalizer, which the PVC protection
//!   controller (crates/controllers `pvc_protection.rs`) removes once no pod uses the claim.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::object::{Object, STORAGECLASS};
use kbatch_core::validation::storage::{BETA_STORAGE_CLASS_ANNOTATION, is_default_class};

use super::{ListParams, Registry, WriteOptions};
use crate::error::Result;

/// The service account a pod runs as when it names none (`DefaultServiceAccountName`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// The StorageClass every kbatch server has, and its provisioner (the agent's local paths).
pub const DEFAULT_STORAGE_CLASS: &str = "local";
pub const LOCAL_PATH_PROVISIONER: &str = "kbatch.dev/local-path";
/// The finalizer that keeps a claim while pods use it (`volumeutil.PVCProtectionFinalizer`).
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";

impl Registry {
    /// Runs the mutating plugins on an object about to be created.
    pub(super) async fn mutate_on_create(&self, obj: &mut Object) -> Result<()> {
        match obj {
            Object::Pod(pod) => default_service_account(pod),
            Object::PersistentVolumeClaim(pvc) => {
                self.default_storage_class(pvc).await?;
                protect_claim(pvc);
            }
            _ => {}
        }
        Ok(())
    }

    /// `DefaultStorageClass`'s `Admit`.
    async fn default_storage_class(&self, pvc: &mut PersistentVolumeClaim) -> Result<()> {
        let spec = pvc.spec.get_or_insert_with(Default::default);
        let annotated = pvc
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(BETA_STORAGE_CLASS_ANNOTATION));
        if spec.storage_class_name.is_some() || annotated {
            return Ok(());
        }
        let classes = self
            .list(&STORAGECLASS, None, &ListParams::default())
            .await?;
        // `GetDefaultClass`: of several defaults, the newest (then the name) wins.
        let default = classes
            .items
            .iter()
            .filter_map(|o| match o {
                Object::StorageClass(sc) if is_default_class(sc) => Some(sc),
                _ => None,
            })
            .max_by(|a, b| {
                let created = |sc: &StorageClass| sc.metadata.creation_timestamp.clone();
                created(a)
                    .map(|t| t.0)
                    .cmp(&created(b).map(|t| t.0))
                    .then_with(|| b.metadata.name.cmp(&a.metadata.name))
            });
        if let Some(sc) = default {
            spec.storage_class_name = sc.metadata.name.clone();
        }
        Ok(())
    }

    /// Creates the default StorageClass `local` when it does not exist (k3s deploys its
    /// local-path class the same way at every start).
    pub(super) async fn ensure_default_storage_class(&self) -> Result<()> {
        match self.get(&STORAGECLASS, "", DEFAULT_STORAGE_CLASS).await {
            Ok(_) => return Ok(()),
            Err(e) if !e.is_not_found() => return Err(e),
            Err(_) => {}
        }
        let sc = StorageClass {
            metadata: ObjectMeta {
                name: Some(DEFAULT_STORAGE_CLASS.to_owned()),
                annotations: Some(BTreeMap::from([(
                    kbatch_core::validation::storage::IS_DEFAULT_CLASS_ANNOTATION.to_owned(),
                    "true".to_owned(),
                )])),
                ..Default::default()
            },
            provisioner: LOCAL_PATH_PROVISIONER.to_owned(),
            reclaim_policy: Some("Delete".to_owned()),
            volume_binding_mode: Some("WaitForFirstConsumer".to_owned()),
            ..Default::default()
        };
        match self
            .create(
                &STORAGECLASS,
                "",
                Object::StorageClass(sc),
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
}

/// `StorageObjectInUseProtection`'s `admitPVC`: the finalizer, once.
fn protect_claim(pvc: &mut PersistentVolumeClaim) {
    let finalizers = pvc.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == PVC_PROTECTION_FINALIZER) {
        finalizers.push(PVC_PROTECTION_FINALIZER.to_owned());
    }
}

/// `ServiceAccount`'s `Admit`: `default` when the pod names none. The deprecated
/// `serviceAccount` field is read when `serviceAccountName` is empty and written back equal to
/// it, as the v1 conversion does.
fn default_service_account(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let name = spec
        .service_account_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| spec.service_account.clone().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.to_owned());
    spec.service_account = Some(name.clone());
    spec.service_account_name = Some(name);
}
