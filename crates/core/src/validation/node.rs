//! Node validation: the metadata part of `ValidateNode` in `pkg/apis/core/validation`. Nodes
//! are written by kbatch's own agents; the spec fields kubelet sets are not checked further.

use k8s_openapi::api::core::v1::Node;

use crate::field::{ErrorList, Path};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::name_is_dns_subdomain;

/// `ValidateNode`: a cluster-scoped object named as a DNS subdomain (`ValidateNodeName`).
pub fn validate_node(node: &Node) -> ErrorList {
    validate_object_meta(
        &node.metadata,
        false,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    )
}

/// `ValidateNodeUpdate`: the metadata rules.
pub fn validate_node_update(new: &Node, old: &Node) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(validate_node(new));
    errs
}
