//! The mutating admission plugins kbatch runs on create, between decoding and the registry
//! strategy, as kube-apiserver's admission chain does: they read other objects, which
//! `kbatch_core::admission` (no IO) cannot. Also the default StorageClass every server has.
//!
//! - `ServiceAccount` (plugin/pkg/admission/serviceaccount): a pod names no service account →
//!   `default`; a pod naming a service account that does not exist is refused; unless the pod
//!   or its service account opts out (`automountServiceAccountToken: false`), every container
//!   mounts the `kube-api-access-…` projected volume (token, CA, namespace) at
//!   `/var/run/secrets/kubernetes.io/serviceaccount`, on servers that issue tokens. The one
//!   difference: a missing `default` account is not refused (upstream retries its lookup for a
//!   while, as the ServiceAccounts controller makes it moments after the namespace); the pod
//!   is admitted as if the account had no opinion on automounting.
//! - `DefaultTolerationSeconds` (plugin/pkg/admission/defaulttolerationseconds): a pod that
//!   does not tolerate the `not-ready` and `unreachable` NoExecute taints gets tolerations of
//!   them for 300 s each (flags), which is how long the node lifecycle controller leaves its
//!   pods on a lost node.
//! - `DefaultStorageClass` (plugin/pkg/admission/storage/storageclass/setdefault): a claim
//!   with neither `spec.storageClassName` nor the beta annotation gets the default class.
//! - `StorageObjectInUseProtection` (plugin/pkg/admission/storage/storageobjectinuseprotection):
//!   every claim gets the `kubernetes.io/pvc-protection` finalizer, which the PVC protection
//!   controller (crates/controllers `pvc_protection.rs`) removes once no pod uses the claim.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, PersistentVolumeClaim, Pod, ProjectedVolumeSource, ServiceAccount,
    ServiceAccountTokenProjection, Toleration, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::object::{Object, POD, SERVICEACCOUNT, STORAGECLASS};
use kbatch_core::status;
use kbatch_core::validation::storage::{BETA_STORAGE_CLASS_ANNOTATION, is_default_class};

use super::{ListParams, Registry, WriteOptions};
use crate::error::Result;
use crate::serviceaccount::{
    AUTOMOUNT_EXPIRATION_SECONDS, ROOT_CA_CONFIG_MAP, ROOT_CA_KEY, TOKEN_MOUNT_PATH,
    TOKEN_VOLUME_PREFIX,
};

/// The service account a pod runs as when it names none (`DefaultServiceAccountName`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// The StorageClass every kbatch server has, and its provisioner (the agent's local paths).
pub const DEFAULT_STORAGE_CLASS: &str = "local";
pub const LOCAL_PATH_PROVISIONER: &str = "kbatch.dev/local-path";
/// The finalizer that keeps a claim while pods use it (`volumeutil.PVCProtectionFinalizer`).
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";

impl Registry {
    /// Runs the mutating plugins on an object about to be created in `namespace`.
    pub(super) async fn mutate_on_create(&self, namespace: &str, obj: &mut Object) -> Result<()> {
        match obj {
            Object::Pod(pod) => {
                default_tolerations(pod, self.tolerations);
                default_service_account(pod);
                self.admit_service_account(namespace, pod).await?;
            }
            Object::PersistentVolumeClaim(pvc) => {
                self.default_storage_class(pvc).await?;
                protect_claim(pvc);
            }
            _ => {}
        }
        Ok(())
    }

    /// The rest of `ServiceAccount`'s `Admit`: the account must exist; the token volume.
    async fn admit_service_account(&self, namespace: &str, pod: &mut Pod) -> Result<()> {
        let Some(spec) = pod.spec.as_ref() else {
            return Ok(());
        };
        let name = spec.service_account_name.clone().unwrap_or_default();
        let account = match self.get_cached(&SERVICEACCOUNT, namespace, &name).await {
            Ok(Object::ServiceAccount(sa)) => Some(sa),
            Ok(_) => None,
            Err(e) if e.is_not_found() && name == DEFAULT_SERVICE_ACCOUNT => None,
            Err(e) if e.is_not_found() => {
                let pod_name = pod
                    .metadata
                    .name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .or_else(|| pod.metadata.generate_name.clone())
                    .unwrap_or_default();
                return Err(status::forbidden(
                    &POD,
                    &pod_name,
                    format!(
                        "error looking up service account {namespace}/{name}: serviceaccount {name:?} not found"
                    ),
                )
                .into());
            }
            Err(e) => return Err(e),
        };
        if self.token_issuer().is_some() && should_automount(account.as_ref(), pod) {
            mount_service_account_token(pod);
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

/// How long pods tolerate a node that is not ready or unreachable, unless they say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultTolerations {
    pub not_ready_seconds: i64,
    pub unreachable_seconds: i64,
}

impl Default for DefaultTolerations {
    /// kube-apiserver's defaults: 300 s each.
    fn default() -> Self {
        DefaultTolerations {
            not_ready_seconds: 300,
            unreachable_seconds: 300,
        }
    }
}

/// `DefaultTolerationSeconds`'s `Admit`: for each of the two taints, a toleration unless one
/// already tolerates it with effect NoExecute (or any effect).
fn default_tolerations(pod: &mut Pod, defaults: DefaultTolerations) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, seconds) in [
        ("node.kubernetes.io/not-ready", defaults.not_ready_seconds),
        (
            "node.kubernetes.io/unreachable",
            defaults.unreachable_seconds,
        ),
    ] {
        let tolerated = tolerations.iter().any(|t| {
            let effect = t.effect.as_deref().unwrap_or("");
            let k = t.key.as_deref().unwrap_or("");
            (effect.is_empty() || effect == "NoExecute")
                && (k == key || (k.is_empty() && t.operator.as_deref() == Some("Exists")))
        });
        if !tolerated {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(seconds),
                value: None,
            });
        }
    }
}

/// `shouldAutomount`: the pod's `automountServiceAccountToken`, else the account's, else yes.
fn should_automount(account: Option<&ServiceAccount>, pod: &Pod) -> bool {
    if let Some(wanted) = pod
        .spec
        .as_ref()
        .and_then(|s| s.automount_service_account_token)
    {
        return wanted;
    }
    account
        .and_then(|a| a.automount_service_account_token)
        .unwrap_or(true)
}

/// `mountServiceAccountToken`: every init and regular container without a mount at the token
/// path gets one of the token volume, which is added (as `kube-api-access-<5 random>`) unless
/// the pod has it already.
fn mount_service_account_token(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let existing = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with(TOKEN_VOLUME_PREFIX))
        .map(|v| v.name.clone());
    let has_volume = existing.is_some();
    let volume_name = existing.unwrap_or_else(|| super::write::generated_name(TOKEN_VOLUME_PREFIX));
    let mount = VolumeMount {
        name: volume_name.clone(),
        read_only: Some(true),
        mount_path: TOKEN_MOUNT_PATH.to_owned(),
        ..Default::default()
    };
    let mut needs_volume = false;
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for c in containers {
        let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
        if !mounts.iter().any(|m| m.mount_path == TOKEN_MOUNT_PATH) {
            mounts.push(mount.clone());
            needs_volume = true;
        }
    }
    if !has_volume && needs_volume {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: volume_name,
            projected: Some(token_volume_source()),
            ..Default::default()
        });
    }
}

/// `TokenVolumeSource`: the token, the cluster's CA and the pod's namespace.
fn token_volume_source() -> ProjectedVolumeSource {
    ProjectedVolumeSource {
        // Set explicitly, as upstream does (kubernetes#104464).
        default_mode: Some(0o644),
        sources: Some(vec![
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".to_owned(),
                    expiration_seconds: Some(AUTOMOUNT_EXPIRATION_SECONDS),
                    audience: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: ROOT_CA_CONFIG_MAP.to_owned(),
                    items: Some(vec![KeyToPath {
                        key: ROOT_CA_KEY.to_owned(),
                        path: ROOT_CA_KEY.to_owned(),
                        mode: None,
                    }]),
                    optional: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                downward_api: Some(DownwardAPIProjection {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "namespace".to_owned(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".to_owned()),
                            field_path: "metadata.namespace".to_owned(),
                        }),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            },
        ]),
    }
}
