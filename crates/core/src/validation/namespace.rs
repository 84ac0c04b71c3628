//! Namespace validation: `ValidateNamespace` and `ValidateNamespaceUpdate` in
//! `pkg/apis/core/validation`.
//!
//! Namespaces are cluster-scoped, so `ValidateObjectMeta` is called with `requiresNamespace`
//! false and forbids `metadata.namespace`. A real apiserver clears that field before validating
//! (`rest.BeforeCreate`), so users never see the error; callers should do the same.

use k8s_openapi::api::core::v1::Namespace;

use crate::field::{ErrorList, Path};
use crate::validation::meta::{
    validate_finalizer_name, validate_kube_finalizer_name, validate_namespace_name,
    validate_object_meta, validate_object_meta_update,
};

/// `ValidateNamespace`: a DNS-1123 label name; `spec.finalizers` are qualified names or standard
/// ones, reported on `spec.finalizers` without an index, as Go does.
pub fn validate_namespace(ns: &Namespace) -> ErrorList {
    let mut errs = validate_object_meta(
        &ns.metadata,
        false,
        validate_namespace_name,
        &Path::new("metadata"),
    );
    let path = Path::new("spec").child("finalizers");
    for f in ns.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
        errs.extend(validate_finalizer_name(f, &path));
        errs.extend(validate_kube_finalizer_name(f, &path));
    }
    errs
}

/// `ValidateNamespaceUpdate`: only the metadata rules apply.
pub fn validate_namespace_update(new: &Namespace, old: &Namespace) -> ErrorList {
    validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ns(name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn name_is_a_dns_label_v2() {
        assert!(validate_namespace(&ns("team-a")).is_empty());
        assert_eq!(
            texts(&validate_namespace(&ns("team.a"))),
            ["metadata.name: Invalid value: \"team.a\": must not contain dots"]
        );
    }

    #[test]
    fn namespace_field_is_forbidden_v2() {
        let mut n = ns("a");
        n.metadata.namespace = Some("b".into());
        assert_eq!(
            texts(&validate_namespace(&n)),
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn spec_finalizers_v7() {
        let mut n = ns("a");
        n.spec = Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".into(), "bad".into()]),
        });
        assert_eq!(
            texts(&validate_namespace(&n)),
            [
                "spec.finalizers: Invalid value: \"bad\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    #[test]
    fn update_needs_resource_version_v6() {
        let old = ns("a");
        assert_eq!(
            texts(&validate_namespace_update(&ns("b"), &old)),
            [
                "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
                "metadata.name: Invalid value: \"b\": field is immutable"
            ]
        );
    }
}
