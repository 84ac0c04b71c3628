//! `SetDefaults_PersistentVolumeClaim`, `SetDefaults_PersistentVolumeClaimSpec`
//! (pkg/apis/core/v1/defaults.go) and `SetDefaults_StorageClass`
//! (pkg/apis/storage/v1/defaults.go).

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimStatus};
use k8s_openapi::api::storage::v1::StorageClass;

/// A claim's volume mode defaults to Filesystem and its phase to Pending.
pub fn default_persistent_volume_claim(pvc: &mut PersistentVolumeClaim) {
    let spec = pvc.spec.get_or_insert_with(Default::default);
    if spec.volume_mode.is_none() {
        spec.volume_mode = Some("Filesystem".to_owned());
    }
    let status = pvc
        .status
        .get_or_insert_with(PersistentVolumeClaimStatus::default);
    if status.phase.as_deref().unwrap_or("").is_empty() {
        status.phase = Some("Pending".to_owned());
    }
}

/// Reclaim policy Delete, binding mode Immediate.
pub fn default_storage_class(sc: &mut StorageClass) {
    if sc.reclaim_policy.is_none() {
        sc.reclaim_policy = Some("Delete".to_owned());
    }
    if sc.volume_binding_mode.is_none() {
        sc.volume_binding_mode = Some("Immediate".to_owned());
    }
}
