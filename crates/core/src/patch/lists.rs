//! How each list of the served types merges: the `patchStrategy`/`patchMergeKey` tags
//! (strategic merge patch) and the `listType`/`listMapKeys` markers (server-side apply) that
//! Kubernetes' Go types carry and k8s-openapi's types do not.
//!
//! A list is found by the path of field names from the object's root, without indices
//! (`["spec", "template", "spec", "containers"]`). Pod specs are reached through Job and CronJob
//! templates, so the pod-spec table is consulted under each template prefix.

use crate::object::Kind;

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (`listType=atomic`; no patch strategy).
    Atomic,
    /// A list of scalars merged as a set (`patchStrategy=merge` on a primitive list,
    /// `listType=set`).
    Set,
    /// A list of objects merged by key.
    Map {
        /// Strategic merge patch's `patchMergeKey`.
        merge_key: &'static str,
        /// Server-side apply's `listMapKeys` (a superset of the merge key for some lists).
        map_keys: &'static [&'static str],
        /// Whether strategic merge patch merges this list (`patchStrategy=merge`). Lists that
        /// server-side apply treats as maps but carry no patch strategy are replaced by
        /// strategic merge patch.
        strategic_merge: bool,
        /// `patchStrategy=merge,retainKeys` (volumes): a union type whose unset members are
        /// cleared when another member is set.
        retain_keys: bool,
    },
}

const fn map(merge_key: &'static str, map_keys: &'static [&'static str]) -> ListType {
    ListType::Map {
        merge_key,
        map_keys,
        strategic_merge: true,
        retain_keys: false,
    }
}

/// The list type of the field at `path` in an object of `kind`; unknown lists are atomic.
pub fn list_type(kind: &Kind, path: &[&str]) -> ListType {
    if let Some(t) = metadata_list(path) {
        return t;
    }
    let pod_spec_prefix: &[&str] = match kind.kind {
        "Pod" => &["spec"],
        "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &[],
    };
    if !pod_spec_prefix.is_empty() && path.starts_with(pod_spec_prefix) {
        return pod_spec_list(&path[pod_spec_prefix.len()..]);
    }
    // Metadata of the templates inside Jobs and CronJobs.
    let template_meta: &[&[&str]] = match kind.kind {
        "Job" => &[&["spec", "template"]],
        "CronJob" => &[
            &["spec", "jobTemplate"],
            &["spec", "jobTemplate", "spec", "template"],
        ],
        _ => &[],
    };
    for prefix in template_meta {
        if path.starts_with(prefix)
            && let Some(t) = metadata_list(&path[prefix.len()..])
        {
            return t;
        }
    }
    match (kind.kind, path) {
        // PodStatus, NodeStatus and NamespaceStatus conditions: patchMergeKey=type.
        ("Pod", ["status", "conditions"])
        | ("Node", ["status", "conditions"])
        | ("Namespace", ["status", "conditions"]) => map("type", &["type"]),
        ("Pod", ["status", "podIPs"]) | ("Pod", ["status", "hostIPs"]) => map("ip", &["ip"]),
        ("Node", ["status", "addresses"]) => map("type", &["type"]),
        // ServiceAccount.secrets: patchMergeKey=name; its imagePullSecrets are atomic.
        ("ServiceAccount", ["secrets"]) => map("name", &["name"]),
        // JobStatus.conditions: patchStrategy=merge by type, but listType=atomic for apply.
        ("Job", ["status", "conditions"]) => ListType::Map {
            merge_key: "type",
            map_keys: &["type"],
            strategic_merge: true,
            retain_keys: false,
        },
        _ => ListType::Atomic,
    }
}

/// ObjectMeta's lists, at `path` relative to a `metadata` parent (`["metadata", ...]`).
fn metadata_list(path: &[&str]) -> Option<ListType> {
    match path {
        ["metadata", "ownerReferences"] => Some(map("uid", &["uid"])),
        ["metadata", "finalizers"] => Some(ListType::Set),
        ["metadata", "managedFields"] => Some(ListType::Atomic),
        _ => None,
    }
}

/// PodSpec's lists (`pkg/apis/core/types.go` tags), at `path` relative to the pod spec.
fn pod_spec_list(path: &[&str]) -> ListType {
    const CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    match path {
        ["volumes"] => ListType::Map {
            merge_key: "name",
            map_keys: &["name"],
            strategic_merge: true,
            retain_keys: true,
        },
        [c] if CONTAINERS.contains(c) => map("name", &["name"]),
        ["imagePullSecrets"] | ["resourceClaims"] | ["schedulingGates"] => map("name", &["name"]),
        ["hostAliases"] => map("ip", &["ip"]),
        ["topologySpreadConstraints"] => map("topologyKey", &["topologyKey", "whenUnsatisfiable"]),
        [c, rest @ ..] if CONTAINERS.contains(c) => container_list(rest),
        _ => ListType::Atomic,
    }
}

/// Container's lists, at `path` relative to a container.
fn container_list(path: &[&str]) -> ListType {
    match path {
        ["ports"] => map("containerPort", &["containerPort", "protocol"]),
        ["env"] => map("name", &["name"]),
        ["volumeMounts"] => map("mountPath", &["mountPath"]),
        ["volumeDevices"] => map("devicePath", &["devicePath"]),
        _ => ListType::Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{CRONJOB, JOB, POD};

    #[test]
    fn containers_merge_by_name_under_every_template() {
        let by_name = map("name", &["name"]);
        assert_eq!(list_type(&POD, &["spec", "containers"]), by_name);
        assert_eq!(
            list_type(&JOB, &["spec", "template", "spec", "containers"]),
            by_name
        );
        assert_eq!(
            list_type(
                &CRONJOB,
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "initContainers"
                ]
            ),
            by_name
        );
        assert_eq!(
            list_type(&JOB, &["spec", "template", "spec", "containers", "env"]),
            by_name
        );
    }

    #[test]
    fn commands_and_unknown_lists_are_atomic() {
        assert_eq!(
            list_type(&JOB, &["spec", "template", "spec", "containers", "command"]),
            ListType::Atomic
        );
        assert_eq!(
            list_type(&JOB, &["spec", "podFailurePolicy", "rules"]),
            ListType::Atomic
        );
        assert_eq!(
            list_type(&crate::object::SERVICEACCOUNT, &["imagePullSecrets"]),
            ListType::Atomic
        );
        assert_eq!(
            list_type(&crate::object::SERVICEACCOUNT, &["secrets"]),
            map("name", &["name"])
        );
    }

    #[test]
    fn metadata_lists_everywhere() {
        assert_eq!(list_type(&JOB, &["metadata", "finalizers"]), ListType::Set);
        assert_eq!(
            list_type(
                &CRONJOB,
                &["spec", "jobTemplate", "metadata", "ownerReferences"]
            ),
            map("uid", &["uid"])
        );
    }
}
