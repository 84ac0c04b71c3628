//! ServiceAccount validation: `ValidateServiceAccount` and `ValidateServiceAccountUpdate` in
//! `pkg/apis/core/validation/validation.go` (the name is a DNS subdomain; nothing else is
//! checked).

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::field::{ErrorList, Path};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::name_is_dns_subdomain;

/// `ValidateServiceAccount` (`ValidateServiceAccountName` is `NameIsDNSSubdomain`).
pub fn validate_service_account(sa: &ServiceAccount) -> ErrorList {
    validate_object_meta(
        &sa.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    )
}

/// `ValidateServiceAccountUpdate`.
pub fn validate_service_account_update(new: &ServiceAccount, old: &ServiceAccount) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_service_account(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_dns_subdomains() {
        let ok: ServiceAccount = serde_json::from_value(
            json!({"metadata": {"name": "build-bot.ci", "namespace": "default"}}),
        )
        .unwrap();
        assert!(validate_service_account(&ok).is_empty());
        let bad: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "Bot", "namespace": "default"}}))
                .unwrap();
        let texts: Vec<String> = validate_service_account(&bad)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            texts,
            [
                "metadata.name: Invalid value: \"Bot\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
    }
}
