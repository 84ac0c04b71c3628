//! `ValidatePodStatusUpdate`: what a write to a Pod's `/status` may not do, whoever makes it
//! (the node agent, or a user's `kubectl patch --subresource=status`). Kubernetes 1.32's rules
//! for the fields kbatch serves; the status strategy has already put the stored spec back, and
//! admission checks the metadata update (`ValidateObjectMetaUpdate`) for every kind.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodSpec, PodStatus};

use super::validate_mirror_annotation_update;
use crate::field::{ErrorList, FieldError, Path};
use crate::validation::job::immutable;
use crate::validation::meta::{name_is_dns_subdomain, validate_qualified_name};

/// The condition types the system owns, whose names are not checked (`validatePodConditions`).
const SYSTEM_CONDITIONS: [&str; 3] = ["PodScheduled", "Ready", "Initialized"];

const NOT_TO_NON_TERMINATED: &str = "may not be transitioned to non-terminated state";

pub fn validate_pod_status_update(new: &Pod, old: &Pod) -> ErrorList {
    let empty_status = PodStatus::default();
    let empty_spec = PodSpec::default();
    let new_status = new.status.as_ref().unwrap_or(&empty_status);
    let old_status = old.status.as_ref().unwrap_or(&empty_status);
    let old_spec = old.spec.as_ref().unwrap_or(&empty_spec);
    let new_spec = new.spec.as_ref().unwrap_or(&empty_spec);

    let meta_path = Path::new("metadata");
    let mut errs = validate_mirror_annotation_update(
        &new.metadata,
        &old.metadata,
        &meta_path.child("annotations"),
    );
    // Upstream builds this path from the metadata one: `metadata.conditions[i].Type`, kept.
    let conditions_path = meta_path.child("conditions");
    for (i, condition) in new_status.conditions.iter().flatten().enumerate() {
        if !SYSTEM_CONDITIONS.contains(&condition.type_.as_str()) {
            errs.extend(validate_qualified_name(
                &condition.type_,
                &conditions_path.index(i).child("Type"),
            ));
        }
    }

    // Upstream's "may not be changed directly" on a changed spec.nodeName cannot fire here:
    // the status strategy has put the stored spec back before validation.
    let path = Path::new("status");
    let nominated = new_status.nominated_node_name.as_deref().unwrap_or("");
    if !nominated.is_empty() && new_status.nominated_node_name != old_status.nominated_node_name {
        for msg in name_is_dns_subdomain(nominated, false) {
            errs.push(FieldError::invalid(
                &path.child("nominatedNodeName"),
                nominated,
                msg,
            ));
        }
    }
    errs.extend(immutable(
        &new_status.qos_class.as_deref().unwrap_or(""),
        &old_status.qos_class.as_deref().unwrap_or(""),
        &path.child("qosClass"),
    ));

    let restart_policy = old_spec.restart_policy.as_deref().unwrap_or("");
    errs.extend(container_state_transition(
        new_status.container_statuses.as_deref().unwrap_or(&[]),
        old_status.container_statuses.as_deref().unwrap_or(&[]),
        &path.child("containerStatuses"),
        restart_policy,
        |_| false,
    ));
    // A sidecar (an init container with `restartPolicy: Always`) may always restart
    // (`ValidateInitContainerStateTransition`).
    let sidecars: BTreeSet<&str> = old_spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    errs.extend(container_state_transition(
        new_status.init_container_statuses.as_deref().unwrap_or(&[]),
        old_status.init_container_statuses.as_deref().unwrap_or(&[]),
        &path.child("initContainerStatuses"),
        restart_policy,
        |name| sidecars.contains(name),
    ));
    // Ephemeral containers never restart: an implicit `Never`.
    errs.extend(container_state_transition(
        new_status
            .ephemeral_container_statuses
            .as_deref()
            .unwrap_or(&[]),
        old_status
            .ephemeral_container_statuses
            .as_deref()
            .unwrap_or(&[]),
        &path.child("ephemeralContainerStatuses"),
        "Never",
        |_| false,
    ));

    errs.extend(resource_claim_statuses(new_status, new_spec, &path));
    errs
}

/// `ValidateContainerStateTransition`: unless the pod always restarts, a terminated container
/// stays terminated, except one that failed under `OnFailure` or that `may_restart` names.
/// The error's index is the old status's, as upstream's.
fn container_state_transition(
    new: &[ContainerStatus],
    old: &[ContainerStatus],
    path: &Path,
    restart_policy: &str,
    may_restart: impl Fn(&str) -> bool,
) -> ErrorList {
    if restart_policy == "Always" {
        return Vec::new();
    }
    let mut errs = Vec::new();
    for (i, old_status) in old.iter().enumerate() {
        let Some(terminated) = old_status
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
        else {
            continue;
        };
        if (terminated.exit_code != 0 && restart_policy == "OnFailure")
            || may_restart(&old_status.name)
        {
            continue;
        }
        for new_status in new.iter().filter(|n| n.name == old_status.name) {
            if new_status
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_none()
            {
                errs.push(FieldError::forbidden(
                    &path.index(i).child("state"),
                    NOT_TO_NON_TERMINATED,
                ));
            }
        }
    }
    errs
}

/// `validatePodResourceClaimStatuses`: each entry names one of the pod's `resourceClaims`,
/// once.
fn resource_claim_statuses(status: &PodStatus, spec: &PodSpec, path: &Path) -> ErrorList {
    let claims: BTreeSet<&str> = spec
        .resource_claims
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut errs = Vec::new();
    for (i, entry) in status.resource_claim_statuses.iter().flatten().enumerate() {
        let name_path = path.child("resourceClaimStatuses").index(i).child("name");
        if !claims.contains(entry.name.as_str()) {
            errs.push(FieldError::invalid(
                &name_path,
                entry.name.as_str(),
                "must match the name of an entry in `spec.resourceClaims`",
            ));
        }
        if !seen.insert(entry.name.as_str()) {
            errs.push(FieldError::duplicate(&name_path, entry.name.as_str()));
        }
    }
    errs
}
