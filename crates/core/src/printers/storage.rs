//! ServiceAccounts (`NAME SECRETS AGE`), PersistentVolumeClaims (`NAME STATUS VOLUME CAPACITY
//! ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE`, wide `VOLUMEMODE`) and StorageClasses
//! (`NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE`): the column
//! definitions and `printServiceAccount`, `printPersistentVolumeClaim`, `printStorageClass`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;
use crate::validation::storage::{BETA_STORAGE_CLASS_ANNOTATION, is_default_class};

/// `apiv1.ServiceAccount{}.SwaggerDoc()["secrets"]`.
const SECRETS_DESCRIPTION: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
const PHASE_DESCRIPTION: &str = "phase represents the current phase of PersistentVolumeClaim.";
const VOLUME_NAME_DESCRIPTION: &str =
    "volumeName is the binding reference to the PersistentVolume backing this claim.";
const CAPACITY_DESCRIPTION: &str =
    "capacity represents the actual resources of the underlying volume.";
const ACCESS_MODES_DESCRIPTION: &str = "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1";
const VOLUME_MODE_DESCRIPTION: &str = "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.";
const PROVISIONER_DESCRIPTION: &str = "provisioner indicates the type of the provisioner.";
const RECLAIM_POLICY_DESCRIPTION: &str = "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.";
const BINDING_MODE_DESCRIPTION: &str = "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.";
const EXPANSION_DESCRIPTION: &str =
    "allowVolumeExpansion shows whether the storage class allow volume expand.";

pub(super) fn service_account_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Secrets", "string", 0, SECRETS_DESCRIPTION),
        age_column(),
    ]
}

pub(super) fn service_account_cells(sa: &ServiceAccount, now: Timestamp) -> Vec<Value> {
    vec![
        Value::from(sa.metadata.name.as_deref().unwrap_or("")),
        Value::from(sa.secrets.as_ref().map_or(0, Vec::len)),
        Value::from(translate_timestamp_since(
            sa.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

pub(super) fn claim_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Status", "string", 0, PHASE_DESCRIPTION),
        column("Volume", "string", 0, VOLUME_NAME_DESCRIPTION),
        column("Capacity", "string", 0, CAPACITY_DESCRIPTION),
        column("Access Modes", "string", 0, ACCESS_MODES_DESCRIPTION),
        column("StorageClass", "string", 0, "StorageClass of the pvc"),
        column(
            "VolumeAttributesClass",
            "string",
            0,
            "VolumeAttributesClass of the pvc",
        ),
        age_column(),
        column("VolumeMode", "string", 1, VOLUME_MODE_DESCRIPTION),
    ]
}

/// `helper.GetAccessModesAsString`: each mode once, in Kubernetes' order.
fn access_modes(modes: &[String]) -> String {
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if modes.iter().any(|m| m == mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// STATUS is `Terminating` while deleted; VOLUME, CAPACITY and ACCESS MODES come from the bound
/// volume (status), so they stay empty until the claim is bound; STORAGECLASS prefers the beta
/// annotation (`GetPersistentVolumeClaimClass`).
pub(super) fn claim_cells(pvc: &PersistentVolumeClaim, now: Timestamp) -> Vec<Value> {
    let spec = pvc.spec.clone().unwrap_or_default();
    let status = pvc.status.clone().unwrap_or_default();
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        status.phase.clone().unwrap_or_default()
    };
    let class = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
        .cloned()
        .or(spec.storage_class_name.clone())
        .unwrap_or_default();
    let volume = spec.volume_name.clone().unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            status
                .capacity
                .as_ref()
                .and_then(|c| c.get("storage"))
                .map(|q| q.0.clone())
                .unwrap_or_else(|| "0".to_owned()),
            access_modes(status.access_modes.as_deref().unwrap_or(&[])),
        )
    };
    let attributes_class = spec
        .volume_attributes_class_name
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "<unset>".to_owned());
    vec![
        Value::from(pvc.metadata.name.as_deref().unwrap_or("")),
        Value::from(phase),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(class),
        Value::from(attributes_class),
        Value::from(translate_timestamp_since(
            pvc.metadata.creation_timestamp.as_ref(),
            now,
        )),
        Value::from(spec.volume_mode.unwrap_or_else(|| "<unset>".to_owned())),
    ]
}

pub(super) fn storage_class_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Provisioner", "string", 0, PROVISIONER_DESCRIPTION),
        column("ReclaimPolicy", "string", 0, RECLAIM_POLICY_DESCRIPTION),
        column("VolumeBindingMode", "string", 0, BINDING_MODE_DESCRIPTION),
        column("AllowVolumeExpansion", "string", 0, EXPANSION_DESCRIPTION),
        age_column(),
    ]
}

/// NAME carries ` (default)` for the default class.
pub(super) fn storage_class_cells(sc: &StorageClass, now: Timestamp) -> Vec<Value> {
    let mut name = sc.metadata.name.clone().unwrap_or_default();
    if is_default_class(sc) {
        name.push_str(" (default)");
    }
    vec![
        Value::from(name),
        Value::from(sc.provisioner.as_str()),
        Value::from(sc.reclaim_policy.as_deref().unwrap_or("Delete")),
        Value::from(sc.volume_binding_mode.as_deref().unwrap_or("Immediate")),
        Value::from(sc.allow_volume_expansion.unwrap_or(false)),
        Value::from(translate_timestamp_since(
            sc.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn claim_rows_pending_and_bound() {
        let pending: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "creationTimestamp": "2026-03-01T11:59:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                     "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"}
        }))
        .unwrap();
        assert_eq!(
            Value::from(claim_cells(&pending, now())),
            json!([
                "data",
                "Pending",
                "",
                "",
                "",
                "local",
                "<unset>",
                "60s",
                "Filesystem"
            ])
        );
        let bound: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "creationTimestamp": "2026-03-01T11:59:00Z"},
            "spec": {"accessModes": ["ReadWriteMany", "ReadWriteOnce"], "storageClassName": "local",
                     "volumeName": "pvc-1234", "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                       "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}
        }))
        .unwrap();
        assert_eq!(
            Value::from(claim_cells(&bound, now())),
            json!([
                "data", "Bound", "pvc-1234", "1Gi", "RWO,RWX", "local", "<unset>", "60s", "<unset>"
            ])
        );
        let names: Vec<String> = claim_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "VolumeAttributesClass",
                "Age",
                "VolumeMode"
            ]
        );
    }

    #[test]
    fn storage_class_row_marks_the_default() {
        let sc: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": "local", "creationTimestamp": "2026-03-01T11:00:00Z",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kbatch.dev/local-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"
        }))
        .unwrap();
        assert_eq!(
            Value::from(storage_class_cells(&sc, now())),
            json!([
                "local (default)",
                "kbatch.dev/local-path",
                "Delete",
                "WaitForFirstConsumer",
                false,
                "60m"
            ])
        );
    }

    #[test]
    fn service_account_row_counts_secrets() {
        let sa: ServiceAccount = serde_json::from_value(json!({
            "metadata": {"name": "default", "creationTimestamp": "2026-03-01T11:59:59Z"}
        }))
        .unwrap();
        assert_eq!(
            Value::from(service_account_cells(&sa, now())),
            json!(["default", 0, "1s"])
        );
    }
}
