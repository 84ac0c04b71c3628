//! Lease validation: `ValidateLease` / `ValidateLeaseSpec` in
//! `pkg/apis/coordination/validation`.

use k8s_openapi::api::coordination::v1::Lease;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::name_is_dns_subdomain;

/// `ValidateLease`: namespaced, named as a DNS subdomain; durations positive, transitions not
/// negative.
pub fn validate_lease(lease: &Lease) -> ErrorList {
    let mut errs = validate_object_meta(
        &lease.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let spec = Path::new("spec");
    if let Some(spec_v) = &lease.spec {
        if let Some(d) = spec_v.lease_duration_seconds
            && d <= 0
        {
            errs.push(FieldError::invalid(
                &spec.child("leaseDurationSeconds"),
                i64::from(d),
                "must be greater than 0",
            ));
        }
        if let Some(t) = spec_v.lease_transitions
            && t < 0
        {
            errs.push(FieldError::invalid(
                &spec.child("leaseTransitions"),
                i64::from(t),
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

/// `ValidateLeaseUpdate`: the metadata rules and the create rules.
pub fn validate_lease_update(new: &Lease, old: &Lease) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_lease(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn duration_must_be_positive() {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some("kbatch-controllers".to_owned()),
                namespace: Some("kube-system".to_owned()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                lease_duration_seconds: Some(0),
                lease_transitions: Some(-1),
                ..Default::default()
            }),
        };
        let texts: Vec<String> = validate_lease(&lease)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            texts,
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
    }
}
