//! Pod and pod template validation: the parts of `pkg/apis/core/validation` a Job or CronJob
//! manifest reaches (validation.md §2), plus standalone Pods.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::meta::{
    name_is_dns_subdomain, validate_annotations, validate_labels, validate_object_meta,
    validate_object_meta_update, validate_qualified_name,
};
use crate::validation::names::{inclusive_range_error, is_valid_group_id, is_valid_user_id};

pub mod container;
pub mod quantity;
mod status;

pub use quantity::{Quantity, milli_value, parse_quantity, value};
pub use status::validate_pod_status_update;

use container::{
    PodContext, VolumeKind, dns1123_label, validate_containers, validate_init_containers,
    validate_local_descending_path, validate_path_no_backsteps, validate_seccomp_profile,
    validate_tolerations,
};

const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The spec fields `ValidatePodUpdate` lets change, in Go's wording.
const UPDATABLE_POD_SPEC_FIELDS: [&str; 5] = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// `ValidatePodTemplateSpec`. Go validates the template's labels and annotations at
/// `<path>.labels` / `<path>.annotations` (not under `metadata`); kept.
pub fn validate_pod_template_spec(template: &PodTemplateSpec, path: &Path) -> ErrorList {
    let default_meta = ObjectMeta::default();
    let meta = template.metadata.as_ref().unwrap_or(&default_meta);
    let default_spec = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&default_spec);
    let mut errs = validate_labels(meta.labels.as_ref(), &path.child("labels"));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_pod_specific_annotations(
        meta,
        spec,
        &path.child("annotations"),
    ));
    let spec_path = path.child("spec");
    errs.extend(validate_pod_spec(spec, None, &spec_path, false));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &spec_path.child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// `ValidatePodCreate`: metadata (DNS-subdomain name, namespace required), the spec, and the
/// pod-only rules.
pub fn validate_pod(pod: &Pod) -> ErrorList {
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let mut errs = validate_pod_metadata_and_spec(&pod.metadata, spec);
    let spec_path = Path::new("spec");
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &spec_path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    if !spec.node_name.as_deref().unwrap_or("").is_empty()
        && spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty())
    {
        errs.push(FieldError::forbidden(
            &spec_path.child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

/// `ValidatePodUpdate`: only images, activeDeadlineSeconds (downwards), added tolerations,
/// removed scheduling gates and a negative grace period set to 1 may change. The Forbidden
/// error on `spec` carries Go's text without the trailing spec diff.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> ErrorList {
    let default_spec = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let meta_path = Path::new("metadata");
    let spec_path = Path::new("spec");
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, &meta_path);
    errs.extend(validate_pod_metadata_and_spec(&new.metadata, new_spec));
    errs.extend(validate_mirror_annotation_update(
        &new.metadata,
        &old.metadata,
        &meta_path.child("annotations"),
    ));

    for (field, n, o) in [
        (
            "containers",
            new_spec.containers.as_slice(),
            old_spec.containers.as_slice(),
        ),
        (
            "initContainers",
            new_spec.init_containers.as_deref().unwrap_or(&[]),
            old_spec.init_containers.as_deref().unwrap_or(&[]),
        ),
    ] {
        let p = spec_path.child(field);
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                &p,
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.is_empty() {
                errs.push(FieldError::required(&p.index(i).child("image"), ""));
            }
            if image.trim().len() != image.len() {
                errs.push(FieldError::invalid(
                    &p.index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }

    let ads_path = spec_path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                &ads_path,
                n,
                inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &ads_path,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads_path,
            crate::field::BadValue::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    let new_tolerations = new_spec.tolerations.as_deref().unwrap_or(&[]);
    let tol_path = spec_path.child("tolerations");
    let removed_or_changed = old_spec.tolerations.iter().flatten().any(|o| {
        !new_tolerations.iter().any(|n| {
            k8s_openapi::api::core::v1::Toleration {
                toleration_seconds: n.toleration_seconds,
                ..o.clone()
            } == *n
        })
    });
    if removed_or_changed {
        errs.push(FieldError::forbidden(
            &tol_path,
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        errs.extend(validate_tolerations(new_tolerations, &tol_path));
    }

    let old_gates: BTreeSet<&str> = old_spec
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for (i, gate) in new_spec.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(gate.name.as_str()) {
            errs.push(FieldError::forbidden(
                &spec_path.child("schedulingGates").index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    gate.name
                ),
            ));
        }
    }

    let mut munged = new_spec.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
        c.image.clone_from(&o.image);
    }
    for (c, o) in munged
        .init_containers
        .iter_mut()
        .flatten()
        .zip(old_spec.init_containers.iter().flatten())
    {
        c.image.clone_from(&o.image);
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged
        .scheduling_gates
        .clone_from(&old_spec.scheduling_gates);
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec
        .termination_grace_period_seconds
        .is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    if !semantic_eq(&munged, old_spec) {
        errs.push(FieldError::forbidden(
            &spec_path,
            format!(
                "pod updates may not change fields other than {}",
                UPDATABLE_POD_SPEC_FIELDS.join(",")
            ),
        ));
    }
    errs
}

/// `apiequality.Semantic.DeepEqual` for API objects: unset and empty lists, maps and strings are
/// the same value, as they are for Go's internal types.
fn semantic_eq<T: serde::Serialize>(a: &T, b: &T) -> bool {
    fn prune(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::Array(items) => {
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|i| prune(i).unwrap_or(Value::Null))
                    .collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            Value::Object(map) => {
                let map: serde_json::Map<String, Value> = map
                    .into_iter()
                    .filter_map(|(k, v)| prune(v).map(|v| (k, v)))
                    .collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
            other => Some(other),
        }
    }
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return false;
    };
    prune(a) == prune(b)
}

/// `validatePodMetadataAndSpec`.
fn validate_pod_metadata_and_spec(meta: &ObjectMeta, spec: &PodSpec) -> ErrorList {
    let meta_path = Path::new("metadata");
    let spec_path = Path::new("spec");
    let mut errs = validate_object_meta(meta, true, name_is_dns_subdomain, &meta_path);
    errs.extend(validate_pod_specific_annotations(
        meta,
        spec,
        &meta_path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(spec, Some(meta), &spec_path, true));
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        for (vi, volume) in spec.volumes.iter().flatten().enumerate() {
            for (si, source) in volume
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .enumerate()
            {
                if source.service_account_token.is_some() {
                    let p = spec_path
                        .child("volumes")
                        .index(vi)
                        .child("projected")
                        .child("sources")
                        .index(si)
                        .child("serviceAccountToken");
                    errs.push(FieldError::forbidden(
                        &p,
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    errs
}

/// The part of `ValidatePodSpecificAnnotations` that applies without AppArmor/seccomp
/// annotations: mirror pods need a node, the deletion cost is a 32-bit integer.
fn validate_pod_specific_annotations(meta: &ObjectMeta, spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let annotations = meta.annotations.as_ref();
    if let Some(v) = annotations.and_then(|a| a.get(MIRROR_POD_ANNOTATION))
        && spec.node_name.as_deref().unwrap_or("").is_empty()
    {
        errs.push(FieldError::invalid(
            &path.key(MIRROR_POD_ANNOTATION),
            v.as_str(),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(v) = annotations.and_then(|a| a.get(POD_DELETION_COST_ANNOTATION)) {
        // GetDeletionCostFromPodAnnotations: no '+' and no leading zeros, then a 32-bit integer.
        let first_ok = match v.as_bytes().first() {
            Some(b'-') | Some(b'1'..=b'9') => true,
            Some(b'0') => v == "0",
            _ => false,
        };
        if !first_ok || v.parse::<i32>().is_err() {
            errs.push(FieldError::invalid(
                &path.key(POD_DELETION_COST_ANNOTATION),
                v.as_str(),
                "must be a 32bit integer",
            ));
        }
    }
    errs
}

/// The mirror-pod part of `ValidatePodSpecificAnnotationUpdates`.
fn validate_mirror_annotation_update(new: &ObjectMeta, old: &ObjectMeta, path: &Path) -> ErrorList {
    let get = |m: &ObjectMeta| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get(MIRROR_POD_ANNOTATION))
            .cloned()
    };
    let p = path.key(MIRROR_POD_ANNOTATION);
    match (get(new), get(old)) {
        (n, Some(o)) if n.as_ref() != Some(&o) => {
            vec![FieldError::forbidden(
                &p,
                "may not remove or update mirror pod annotation",
            )]
        }
        (Some(_), None) => vec![FieldError::forbidden(
            &p,
            "may not add mirror pod annotation",
        )],
        _ => Vec::new(),
    }
}

/// `ValidatePodSpec` (V-20…V-26). `pod_meta` is set for a real Pod; `is_pod` is Go's
/// `opts.ResourceIsPod`.
pub fn validate_pod_spec(
    spec: &PodSpec,
    pod_meta: Option<&ObjectMeta>,
    path: &Path,
    is_pod: bool,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(
            &path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let host_users = spec.host_users.unwrap_or(true);
    let (volumes, volume_errs) = validate_volumes(
        spec.volumes.as_deref().unwrap_or(&[]),
        pod_meta,
        &path.child("volumes"),
    );
    errs.extend(volume_errs);
    let claim_names: BTreeSet<String> = spec
        .resource_claims
        .iter()
        .flatten()
        .filter(|c| !c.name.is_empty())
        .map(|c| c.name.clone())
        .collect();
    errs.extend(validate_pod_resource_claims(
        spec,
        &path.child("resourceClaims"),
    ));
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("");
    let ctx = PodContext {
        volumes: &volumes,
        claim_names: &claim_names,
        restart_policy,
        host_users,
        is_pod,
    };
    errs.extend(validate_containers(
        &spec.containers,
        &ctx,
        &path.child("containers"),
    ));
    errs.extend(validate_init_containers(
        spec.init_containers.as_deref().unwrap_or(&[]),
        &spec.containers,
        &ctx,
        &path.child("initContainers"),
    ));

    if spec.host_network.unwrap_or(false) {
        // validatePodHostNetworkDeps: templates may leave hostPort 0, pods may not.
        for (ci, ctr) in spec.containers.iter().enumerate() {
            for (pi, port) in ctr.ports.iter().flatten().enumerate() {
                let hp = port.host_port.unwrap_or(0);
                if (is_pod || hp != 0) && hp != port.container_port {
                    let p = path
                        .child("containers")
                        .index(ci)
                        .child("ports")
                        .index(pi)
                        .child("hostPort");
                    errs.push(FieldError::invalid(
                        &p,
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }

    let rp_path = path.child("restartPolicy");
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&rp_path, "")),
        other => errs.push(FieldError::not_supported(
            &rp_path,
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_path = path.child("dnsPolicy");
    match spec.dns_policy.as_deref().unwrap_or("") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&dns_path, "")),
        other => errs.push(FieldError::not_supported(
            &dns_path,
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    errs.extend(validate_pod_security_context(
        spec,
        &path.child("securityContext"),
    ));
    if spec.dns_policy.as_deref() == Some("None")
        && spec
            .dns_config
            .as_ref()
            .is_none_or(|c| c.nameservers.as_ref().is_none_or(Vec::is_empty))
    {
        let dc_path = path.child("dnsConfig");
        errs.push(match spec.dns_config {
            None => FieldError::required(
                &dc_path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ),
            Some(_) => FieldError::required(
                &dc_path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ),
        });
    }
    for (i, gate) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.extend(validate_qualified_name(&gate.condition_type, &p));
    }
    let mut seen_gates = BTreeSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.extend(validate_qualified_name(&gate.name, &p));
        if !seen_gates.insert(gate.name.as_str()) {
            errs.push(FieldError::duplicate(&p, gate.name.as_str()));
        }
    }
    if !host_users {
        // validateHostUsers, with Go's field names (HostPID, HostIPC) kept as they are.
        for (field, set) in [
            ("hostNetwork", spec.host_network),
            ("HostPID", spec.host_pid),
            ("HostIPC", spec.host_ipc),
        ] {
            if set.unwrap_or(false) {
                errs.push(FieldError::forbidden(
                    &path.child(field),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
    ] {
        let v = value.as_deref().unwrap_or("");
        if !v.is_empty() {
            errs.extend(subdomain(v, &path.child(field)));
        }
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            ads,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        let v = value.as_deref().unwrap_or("");
        if !v.is_empty() {
            errs.extend(dns1123_label(v, &path.child(field)));
        }
    }
    if let Some(tolerations) = spec.tolerations.as_deref().filter(|t| !t.is_empty()) {
        errs.extend(validate_tolerations(
            tolerations,
            &path.child("tolerations"),
        ));
    }
    for (i, alias) in spec.host_aliases.iter().flatten().enumerate() {
        for (j, hostname) in alias.hostnames.iter().flatten().enumerate() {
            errs.extend(subdomain(
                hostname,
                &path
                    .child("hostAliases")
                    .index(i)
                    .child("hostnames")
                    .index(j),
            ));
        }
    }
    let pcn = spec.priority_class_name.as_deref().unwrap_or("");
    if !pcn.is_empty() {
        errs.extend(subdomain(pcn, &path.child("priorityClassName")));
    }
    if let Some(rc) = &spec.runtime_class_name {
        errs.extend(subdomain(rc, &path.child("runtimeClassName")));
    }
    if let Some(pp) = &spec.preemption_policy {
        let p = path.child("preemptionPolicy");
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(&p, "")),
            other => errs.push(FieldError::not_supported(
                &p,
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(os) = &spec.os {
        let p = path.child("os");
        if os.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), "cannot be empty"));
        } else if !matches!(os.name.as_str(), "linux" | "windows") {
            errs.push(FieldError::not_supported(
                &p,
                os.name.as_str(),
                &["linux", "windows"],
            ));
        }
    }
    errs
}

fn subdomain(value: &str, path: &Path) -> ErrorList {
    name_is_dns_subdomain(value, false)
        .into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// `validatePodResourceClaims`: names required, unique, DNS labels; exactly one source.
fn validate_pod_resource_claims(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, claim) in spec.resource_claims.iter().flatten().enumerate() {
        let p = path.index(i);
        if claim.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if names.contains(claim.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), claim.name.as_str()));
        } else {
            errs.extend(dns1123_label(&claim.name, &p.child("name")));
            names.insert(claim.name.as_str());
        }
        let value = serde_json::to_value(claim).unwrap_or(serde_json::Value::Null);
        match (&claim.resource_claim_name, &claim.resource_claim_template_name) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                value,
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errs.push(FieldError::invalid(
                &p,
                value,
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            _ => {}
        }
        if let Some(n) = &claim.resource_claim_name {
            errs.extend(subdomain(n, &p.child("resourceClaimName")));
        }
        if let Some(n) = &claim.resource_claim_template_name {
            errs.extend(subdomain(n, &p.child("resourceClaimTemplateName")));
        }
    }
    errs
}

/// The basic part of `validatePodSpecSecurityContext`: ids, shareProcessNamespace with hostPID,
/// fsGroupChangePolicy, seccomp profile, supplementalGroupsPolicy.
fn validate_pod_security_context(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(sc) = &spec.security_context else {
        return errs;
    };
    let ids = [
        ("fsGroup", sc.fs_group, true),
        ("runAsUser", sc.run_as_user, false),
        ("runAsGroup", sc.run_as_group, true),
    ];
    for (field, value, group) in ids {
        if let Some(v) = value {
            let msgs = if group {
                is_valid_group_id(v)
            } else {
                is_valid_user_id(v)
            };
            errs.extend(
                msgs.into_iter()
                    .map(|m| FieldError::invalid(&path.child(field), v, m)),
            );
        }
    }
    for (i, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        errs.extend(
            is_valid_group_id(*gid)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("supplementalGroups").index(i), *gid, m)),
        );
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid.unwrap_or(false) {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(p) = &sc.fs_group_change_policy
        && !matches!(p.as_str(), "OnRootMismatch" | "Always")
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p.as_str(),
            &["Always", "OnRootMismatch"],
        ));
    }
    if let Some(sp) = &sc.seccomp_profile {
        errs.extend(validate_seccomp_profile(
            &sp.type_,
            sp.localhost_profile.as_deref(),
            &path.child("seccompProfile"),
        ));
    }
    if let Some(p) = &sc.supplemental_groups_policy
        && !matches!(p.as_str(), "Merge" | "Strict")
    {
        errs.push(FieldError::not_supported(
            &path.child("supplementalGroupsPolicy"),
            p.as_str(),
            &["Merge", "Strict"],
        ));
    }
    errs
}

/// The volume sources in the order `validateVolumeSource` checks them, with the field name Go
/// uses in its "more than 1 volume type" error (including its `downwarAPI` typo).
fn volume_sources(v: &Volume) -> [(&'static str, bool); 30] {
    [
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephFS", v.cephfs.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("downwarAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("configMap", v.config_map.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("storageos", v.storageos.is_some()),
        ("projected", v.projected.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ]
}

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// `ValidateVolumes`: names are unique DNS labels, each volume has exactly one source. Only
/// volumes without errors can be mounted (as in Go, a broken volume also fails its mounts).
fn validate_volumes(
    volumes: &[Volume],
    pod_meta: Option<&ObjectMeta>,
    path: &Path,
) -> (BTreeMap<String, VolumeKind>, ErrorList) {
    let mut errs = ErrorList::new();
    let mut known = BTreeMap::new();
    for (i, vol) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name_path = p.child("name");
        let mut el = validate_volume_source(vol, pod_meta, &p);
        if vol.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(dns1123_label(&vol.name, &name_path));
        }
        if known.contains_key(&vol.name) {
            el.push(FieldError::duplicate(&name_path, vol.name.as_str()));
        }
        if el.is_empty() {
            let kind = if vol.persistent_volume_claim.is_some() || vol.ephemeral.is_some() {
                VolumeKind::Claim
            } else if vol.image.is_some() {
                VolumeKind::Image
            } else {
                VolumeKind::Other
            };
            known.insert(vol.name.clone(), kind);
        } else {
            errs.extend(el);
        }
    }
    (known, errs)
}

/// `validateVolumeSource`, with the source-specific checks of the common sources (emptyDir,
/// hostPath, secret, configMap, persistentVolumeClaim, nfs).
fn validate_volume_source(vol: &Volume, pod_meta: Option<&ObjectMeta>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut count = 0;
    for (field, set) in volume_sources(vol) {
        if !set {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        errs.extend(validate_one_source(vol, field, pod_meta, path));
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn validate_mode(mode: Option<i32>, path: &Path) -> ErrorList {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_ERROR)],
        _ => Vec::new(),
    }
}

fn validate_key_to_paths(
    items: &[k8s_openapi::api::core::v1::KeyToPath],
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, kp) in items.iter().enumerate() {
        let p = path.index(i);
        if kp.key.is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        }
        if kp.path.is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        }
        // ValidateLocalNonReservedPath.
        let pp = p.child("path");
        errs.extend(validate_local_descending_path(&kp.path, &pp));
        if kp.path.starts_with("..") && !kp.path.starts_with("../") {
            errs.push(FieldError::invalid(
                &pp,
                kp.path.as_str(),
                "must not start with '..'",
            ));
        }
        errs.extend(validate_mode(kp.mode, &p.child("mode")));
    }
    errs
}

fn validate_one_source(
    vol: &Volume,
    field: &str,
    pod_meta: Option<&ObjectMeta>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let p = path.child(field);
    match field {
        "emptyDir" => {
            let negative = vol
                .empty_dir
                .as_ref()
                .and_then(|e| e.size_limit.as_ref())
                .and_then(|q| parse_quantity(&q.0).ok())
                .is_some_and(|q| q.is_negative());
            if negative {
                errs.push(FieldError::forbidden(
                    &p.child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
        "hostPath" => {
            if let Some(hp) = &vol.host_path {
                if hp.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                    return errs;
                }
                errs.extend(validate_path_no_backsteps(&hp.path, &p.child("path")));
                const TYPES: [&str; 8] = [
                    "",
                    "BlockDevice",
                    "CharDevice",
                    "Directory",
                    "DirectoryOrCreate",
                    "File",
                    "FileOrCreate",
                    "Socket",
                ];
                if let Some(t) = hp.type_.as_deref().filter(|t| !TYPES.contains(t)) {
                    errs.push(FieldError::not_supported(&p.child("type"), t, &TYPES));
                }
            }
        }
        "secret" => {
            if let Some(s) = &vol.secret {
                if s.secret_name.as_deref().unwrap_or("").is_empty() {
                    errs.push(FieldError::required(&p.child("secretName"), ""));
                }
                errs.extend(validate_mode(s.default_mode, &p.child("defaultMode")));
                errs.extend(validate_key_to_paths(
                    s.items.as_deref().unwrap_or(&[]),
                    &p.child("items"),
                ));
            }
        }
        "configMap" => {
            if let Some(c) = &vol.config_map {
                if c.name.is_empty() {
                    errs.push(FieldError::required(&p.child("name"), ""));
                }
                errs.extend(validate_mode(c.default_mode, &p.child("defaultMode")));
                errs.extend(validate_key_to_paths(
                    c.items.as_deref().unwrap_or(&[]),
                    &p.child("items"),
                ));
            }
        }
        "persistentVolumeClaim"
            if vol
                .persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name.is_empty()) =>
        {
            errs.push(FieldError::required(&p.child("claimName"), ""));
        }
        "nfs" => {
            if let Some(n) = &vol.nfs {
                if n.server.is_empty() {
                    errs.push(FieldError::required(&p.child("server"), ""));
                }
                if n.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                }
                if !n.path.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &p.child("path"),
                        n.path.as_str(),
                        "must be an absolute path",
                    ));
                }
            }
        }
        "ephemeral" => {
            if vol
                .ephemeral
                .as_ref()
                .is_some_and(|e| e.volume_claim_template.is_none())
            {
                errs.push(FieldError::required(&p.child("volumeClaimTemplate"), ""));
            }
            // The PVC a generic ephemeral volume creates is named <pod>-<volume>.
            let pod_name = pod_meta.and_then(|m| m.name.as_deref()).unwrap_or("");
            if !pod_name.is_empty() && !vol.name.is_empty() {
                let pvc = format!("{pod_name}-{}", vol.name);
                for msg in name_is_dns_subdomain(&pvc, false) {
                    errs.push(FieldError::invalid(
                        &path.child("name"),
                        vol.name.as_str(),
                        format!("PVC name {}: {msg}", crate::field::go_quote(&pvc)),
                    ));
                }
            }
        }
        _ => {}
    }
    errs
}
