//! PersistentVolumeClaims (`ValidatePersistentVolumeClaim`, `…Update`, `…StatusUpdate` in
//! `pkg/apis/core/validation/validation.go`) and StorageClasses (`ValidateStorageClass`,
//! `ValidateStorageClassUpdate` in `pkg/apis/storage/validation/validation.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::job::{immutable, validate_label_selector};
use crate::validation::meta::{
    validate_object_meta, validate_object_meta_update, validate_qualified_name,
};
use crate::validation::names::name_is_dns_subdomain;
use crate::validation::pod::parse_quantity;

/// `v1.BetaStorageClassAnnotation`: the class before `spec.storageClassName` existed.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
/// `storageutil.IsDefaultStorageClassAnnotation` and its beta form.
pub const IS_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
pub const BETA_IS_DEFAULT_CLASS_ANNOTATION: &str =
    "storageclass.beta.kubernetes.io/is-default-class";

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];
const RECLAIM_POLICIES: [&str; 2] = ["Delete", "Retain"];
const BINDING_MODES: [&str; 2] = ["Immediate", "WaitForFirstConsumer"];
const MAX_PROVISIONER_PARAMETER_SIZE: usize = 256 * 1024;
const MAX_PROVISIONER_PARAMETER_LEN: usize = 512;

/// `ValidatePersistentVolumeClaim`: the name (`ValidatePersistentVolumeName`, a DNS subdomain)
/// and `ValidatePersistentVolumeClaimSpec`.
pub fn validate_persistent_volume_claim(pvc: &PersistentVolumeClaim) -> ErrorList {
    let mut errs = validate_object_meta(
        &pvc.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    errs.extend(validate_claim_spec(pvc, &Path::new("spec")));
    errs
}

/// `ValidatePersistentVolumeClaimSpec` without the data sources (kbatch provisions empty
/// directories only; a data source is accepted and ignored, as a provisioner without the
/// feature does).
fn validate_claim_spec(pvc: &PersistentVolumeClaim, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let spec = pvc.spec.clone().unwrap_or_default();
    let modes = spec.access_modes.unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if let Some(selector) = &spec.selector {
        errs.extend(validate_label_selector(selector, &path.child("selector")));
    }
    let (mut once_pod, mut others) = (false, false);
    for mode in &modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("accessModes"),
                mode.as_str(),
                &ACCESS_MODES,
            ));
        }
        if mode == "ReadWriteOncePod" {
            once_pod = true;
        } else if ACCESS_MODES.contains(&mode.as_str()) {
            others = true;
        }
    }
    if once_pod && others {
        errs.push(FieldError::forbidden(
            &path.child("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage_path = path.child("resources").key("storage");
    match spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
    {
        None => errs.push(FieldError::required(&storage_path, "")),
        // Decoding has already refused quantities that do not parse.
        Some(q) => {
            if let Ok(q) = parse_quantity(&q.0)
                && (q.is_negative() || q.is_zero())
            {
                // `ValidatePositiveQuantityValue`.
                errs.push(FieldError::invalid(
                    &storage_path,
                    q.canonical(),
                    "must be greater than zero",
                ));
            }
        }
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        for msg in name_is_dns_subdomain(class, false) {
            errs.push(FieldError::invalid(
                &path.child("storageClassName"),
                class,
                msg,
            ));
        }
    }
    if let Some(mode) = &spec.volume_mode
        && !VOLUME_MODES.contains(&mode.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("volumeMode"),
            mode.as_str(),
            &VOLUME_MODES,
        ));
    }
    if let Some(class) = spec
        .volume_attributes_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        for msg in name_is_dns_subdomain(class, false) {
            errs.push(FieldError::invalid(
                &path.child("volumeAttributesClassName"),
                class,
                msg,
            ));
        }
    }
    errs
}

/// `ValidatePersistentVolumeClaimUpdate`: the spec is immutable except that `volumeName` may
/// be set once and the storage request may grow; the beta class annotation is immutable and a
/// nil class may be filled in once.
pub fn validate_persistent_volume_claim_update(
    new: &PersistentVolumeClaim,
    old: &PersistentVolumeClaim,
) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_persistent_volume_claim(new));
    let mut new_spec = new.spec.clone().unwrap_or_default();
    let mut old_spec = old.spec.clone().unwrap_or_default();
    if old_spec.volume_name.as_deref().unwrap_or("").is_empty() {
        old_spec.volume_name = new_spec.volume_name.clone();
    }
    let annotation = |pvc: &PersistentVolumeClaim| {
        pvc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
            .cloned()
    };
    let (old_annotation, new_annotation) = (annotation(old), annotation(new));
    if old_annotation != new_annotation {
        errs.push(FieldError::forbidden(
            &Path::new("metadata")
                .child("annotations")
                .key(BETA_STORAGE_CLASS_ANNOTATION),
            "field is immutable",
        ));
    }
    // validateStorageClassUpgradeFromNil / …FromAnnotation.
    if old_spec.storage_class_name.is_none()
        && let Some(class) = &new_spec.storage_class_name
        && old_annotation.as_ref().is_none_or(|a| a == class)
    {
        old_spec.storage_class_name = new_spec.storage_class_name.clone();
    }
    let bound = new
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Bound");
    let storage = |spec: &k8s_openapi::api::core::v1::PersistentVolumeClaimSpec| {
        spec.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .and_then(|q| parse_quantity(&q.0).ok())
    };
    let (old_size, new_size) = (storage(&old_spec), storage(&new_spec));
    if bound
        && let (Some(requests), Some(old_q)) = (
            new_spec
                .resources
                .as_mut()
                .and_then(|r| r.requests.as_mut()),
            old_spec
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage")),
        )
    {
        requests.insert("storage".to_owned(), old_q.clone());
    }
    new_spec.volume_attributes_class_name = old_spec.volume_attributes_class_name.clone();
    if serde_json::to_value(&new_spec).ok() != serde_json::to_value(&old_spec).ok() {
        errs.push(FieldError::forbidden(
            &Path::new("spec"),
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    if let (Some(o), Some(n)) = (old_size, new_size)
        && n.cmp_value(&o).is_lt()
    {
        errs.push(FieldError::forbidden(
            &Path::new("spec")
                .child("resources")
                .child("requests")
                .child("storage"),
            "field can not be less than previous value",
        ));
    }
    let volume_mode =
        |pvc: &PersistentVolumeClaim| pvc.spec.as_ref().and_then(|s| s.volume_mode.clone());
    errs.extend(immutable(
        &volume_mode(new),
        &volume_mode(old),
        &Path::new("volumeMode"),
    ));
    errs
}

/// `ValidatePersistentVolumeClaimStatusUpdate` after its metadata rules (which the caller
/// runs for every status write): access modes present, capacities not negative.
pub fn validate_persistent_volume_claim_status(new: &PersistentVolumeClaim) -> ErrorList {
    let mut errs = ErrorList::new();
    let modes = new.spec.as_ref().and_then(|s| s.access_modes.as_ref());
    if modes.is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(
            &Path::new("Spec").child("accessModes"),
            "",
        ));
    }
    let cap_path = Path::new("status").child("capacity");
    for (name, q) in new
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .into_iter()
        .flatten()
    {
        if let Ok(q) = parse_quantity(&q.0)
            && q.is_negative()
        {
            errs.push(FieldError::invalid(
                &cap_path.key(name),
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

/// `ValidateStorageClass`: cluster-scoped, a DNS-subdomain name, a provisioner (a qualified
/// name once lower-cased), parameters within bounds, a known reclaim policy and binding mode.
pub fn validate_storage_class(sc: &StorageClass) -> ErrorList {
    let mut errs = validate_object_meta(
        &sc.metadata,
        false,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let provisioner_path = Path::new("provisioner");
    if sc.provisioner.is_empty() {
        errs.push(FieldError::required(&provisioner_path, ""));
    } else {
        errs.extend(validate_qualified_name(
            &sc.provisioner.to_lowercase(),
            &provisioner_path,
        ));
    }
    errs.extend(validate_parameters(sc.parameters.as_ref()));
    if let Some(policy) = sc.reclaim_policy.as_deref().filter(|p| !p.is_empty())
        && !RECLAIM_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            &Path::new("reclaimPolicy"),
            policy,
            &RECLAIM_POLICIES,
        ));
    }
    let mode_path = Path::new("volumeBindingMode");
    match sc.volume_binding_mode.as_deref() {
        None => errs.push(FieldError::required(&mode_path, "")),
        Some(mode) if !BINDING_MODES.contains(&mode) => {
            errs.push(FieldError::not_supported(&mode_path, mode, &BINDING_MODES));
        }
        Some(_) => {}
    }
    for (i, term) in sc.allowed_topologies.iter().flatten().enumerate() {
        let term_path = Path::new("allowedTopologies").index(i);
        let exprs = term.match_label_expressions.as_deref().unwrap_or(&[]);
        if exprs.is_empty() {
            errs.push(FieldError::required(
                &term_path.child("matchLabelExpressions"),
                "must contain at least one key",
            ));
        }
        for (j, req) in exprs.iter().enumerate() {
            let req_path = term_path.child("matchLabelExpressions").index(j);
            for msg in crate::validation::names::is_qualified_name(&req.key) {
                errs.push(FieldError::invalid(
                    &req_path.child("key"),
                    req.key.as_str(),
                    msg,
                ));
            }
            if req.values.is_empty() {
                errs.push(FieldError::required(
                    &req_path.child("values"),
                    "must specify as least one value",
                ));
            }
        }
    }
    errs
}

/// `validateParameters` with `allowEmpty`.
fn validate_parameters(params: Option<&BTreeMap<String, String>>) -> ErrorList {
    let mut errs = ErrorList::new();
    let path = Path::new("parameters");
    let Some(params) = params else {
        return errs;
    };
    if params.len() > MAX_PROVISIONER_PARAMETER_LEN {
        errs.push(FieldError::too_long(&path, MAX_PROVISIONER_PARAMETER_LEN));
        return errs;
    }
    let mut total = 0;
    for (k, v) in params {
        if k.is_empty() {
            errs.push(FieldError::invalid(
                &path,
                k.as_str(),
                "field can not be empty.",
            ));
        }
        total += k.len() + v.len();
    }
    if total > MAX_PROVISIONER_PARAMETER_SIZE {
        errs.push(FieldError::too_long(&path, MAX_PROVISIONER_PARAMETER_SIZE));
    }
    errs
}

/// `ValidateStorageClassUpdate`: parameters, provisioner, reclaim policy and binding mode are
/// fixed at creation.
pub fn validate_storage_class_update(new: &StorageClass, old: &StorageClass) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    if new.parameters.clone().unwrap_or_default() != old.parameters.clone().unwrap_or_default() {
        errs.push(FieldError::forbidden(
            &Path::new("parameters"),
            "updates to parameters are forbidden.",
        ));
    }
    if new.provisioner != old.provisioner {
        errs.push(FieldError::forbidden(
            &Path::new("provisioner"),
            "updates to provisioner are forbidden.",
        ));
    }
    if new.reclaim_policy != old.reclaim_policy {
        errs.push(FieldError::forbidden(
            &Path::new("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    errs.extend(immutable(
        &new.volume_binding_mode,
        &old.volume_binding_mode,
        &Path::new("volumeBindingMode"),
    ));
    errs
}

/// `storageutil.IsDefaultAnnotation`: the GA or the beta annotation is "true".
pub fn is_default_class(sc: &StorageClass) -> bool {
    let annotations = sc.metadata.annotations.as_ref();
    [
        IS_DEFAULT_CLASS_ANNOTATION,
        BETA_IS_DEFAULT_CLASS_ANNOTATION,
    ]
    .iter()
    .any(|a| {
        annotations
            .and_then(|m| m.get(*a))
            .is_some_and(|v| v == "true")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn pvc(spec: serde_json::Value) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "default", "resourceVersion": "3"},
            "spec": spec
        }))
        .unwrap()
    }

    /// `ValidatePersistentVolumeClaimSpec`.
    #[test]
    fn claim_specs() {
        let ok = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        );
        assert!(validate_persistent_volume_claim(&ok).is_empty());
        let bad = pvc(json!({
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce", "Sometimes"],
            "storageClassName": "Fast_SSD",
            "volumeMode": "Tape"
        }));
        assert_eq!(
            texts(&validate_persistent_volume_claim(&bad)),
            [
                "spec.accessModes: Unsupported value: \"Sometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
                "spec.resources[storage]: Required value",
                "spec.storageClassName: Invalid value: \"Fast_SSD\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "spec.volumeMode: Unsupported value: \"Tape\": supported values: \"Block\", \"Filesystem\"",
            ]
        );
        let empty = pvc(json!({"resources": {"requests": {"storage": "0"}}}));
        assert_eq!(
            texts(&validate_persistent_volume_claim(&empty)),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
            ]
        );
    }

    /// `ValidatePersistentVolumeClaimUpdate`: volumeName once, a nil class once, growth only.
    #[test]
    fn claim_updates() {
        let old = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        );
        let mut bound = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                                   "volumeName": "pvc-1", "storageClassName": "local"}),
        );
        assert!(validate_persistent_volume_claim_update(&bound, &old).is_empty());
        let rebound = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                                 "volumeName": "pvc-2", "storageClassName": "local"}),
        );
        assert_eq!(
            texts(&validate_persistent_volume_claim_update(&rebound, &bound)),
            [
                "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
            ]
        );
        let smaller = pvc(
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}},
                                 "volumeName": "pvc-1", "storageClassName": "local"}),
        );
        bound.status = Some(Default::default());
        assert_eq!(
            texts(&validate_persistent_volume_claim_update(&smaller, &bound)),
            [
                "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                "spec.resources.requests.storage: Forbidden: field can not be less than previous value",
            ]
        );
    }

    fn sc(value: serde_json::Value) -> StorageClass {
        let mut v = json!({"metadata": {"name": "local", "resourceVersion": "2"},
                           "provisioner": "kbatch.dev/local-path",
                           "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"});
        if let (Some(o), Some(extra)) = (v.as_object_mut(), value.as_object()) {
            o.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    /// `ValidateStorageClass` and `ValidateStorageClassUpdate`.
    #[test]
    fn storage_classes() {
        assert!(validate_storage_class(&sc(json!({}))).is_empty());
        let bad = sc(
            json!({"provisioner": "", "reclaimPolicy": "Recycle", "volumeBindingMode": "Later"}),
        );
        assert_eq!(
            texts(&validate_storage_class(&bad)),
            [
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
        let changed = sc(
            json!({"provisioner": "example.com/nfs", "reclaimPolicy": "Retain",
                                "volumeBindingMode": "Immediate", "parameters": {"a": "b"}}),
        );
        assert_eq!(
            texts(&validate_storage_class_update(&changed, &sc(json!({})))),
            [
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
                "volumeBindingMode: Invalid value: \"Immediate\": field is immutable",
            ]
        );
        let default = sc(
            json!({"metadata": {"name": "local", "annotations": {IS_DEFAULT_CLASS_ANNOTATION: "true"}}}),
        );
        assert!(is_default_class(&default));
        assert!(!is_default_class(&sc(json!({}))));
    }
}
