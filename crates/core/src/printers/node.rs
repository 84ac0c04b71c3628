//! Nodes: `NAME STATUS ROLES AGE VERSION` + wide `INTERNAL-IP EXTERNAL-IP OS-IMAGE
//! KERNEL-VERSION CONTAINER-RUNTIME` (`nodeColumnDefinitions` and `printNode`).

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeSystemInfo};
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

/// `labelNodeRolePrefix`: `node-role.kubernetes.io/<role>` labels name a role each.
const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// `nodeLabelRole`: the older `kubernetes.io/role=<role>` label.
const NODE_LABEL_ROLE: &str = "kubernetes.io/role";

/// `apiv1.NodeSystemInfo{}.SwaggerDoc()[...]` and `apiv1.NodeStatus{}.SwaggerDoc()["addresses"]`.
const KUBELET_VERSION_DESCRIPTION: &str = "Kubelet Version reported by the node.";
const ADDRESSES_DESCRIPTION: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const OS_IMAGE_DESCRIPTION: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const KERNEL_VERSION_DESCRIPTION: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const CONTAINER_RUNTIME_DESCRIPTION: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Status", "string", 0, "The status of the node"),
        column("Roles", "string", 0, "The roles of the node"),
        age_column(),
        column("Version", "string", 0, KUBELET_VERSION_DESCRIPTION),
        column("Internal-IP", "string", 1, ADDRESSES_DESCRIPTION),
        column("External-IP", "string", 1, ADDRESSES_DESCRIPTION),
        column("OS-Image", "string", 1, OS_IMAGE_DESCRIPTION),
        column("Kernel-Version", "string", 1, KERNEL_VERSION_DESCRIPTION),
        column(
            "Container-Runtime",
            "string",
            1,
            CONTAINER_RUNTIME_DESCRIPTION,
        ),
    ]
}

pub(super) fn cells(node: &Node, now: Timestamp) -> Vec<Value> {
    let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
    let info_field = |f: fn(&NodeSystemInfo) -> &str| info.map_or("", f);
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_owned()
        } else {
            s.to_owned()
        }
    };
    vec![
        Value::from(node.metadata.name.as_deref().unwrap_or("")),
        Value::from(status(node)),
        Value::from(roles(node)),
        Value::from(translate_timestamp_since(
            node.metadata.creation_timestamp.as_ref(),
            now,
        )),
        Value::from(info_field(|i| &i.kubelet_version)),
        Value::from(first_address(node, "InternalIP")),
        Value::from(first_address(node, "ExternalIP")),
        Value::from(or_unknown(info_field(|i| &i.os_image))),
        Value::from(or_unknown(info_field(|i| &i.kernel_version))),
        Value::from(or_unknown(info_field(|i| &i.container_runtime_version))),
    ]
}

/// `Ready` / `NotReady` from the Ready condition (the last one listed, as Go's map keeps it),
/// `Unknown` without one, then `SchedulingDisabled` for a cordoned node.
fn status(node: &Node) -> String {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|c| c.type_ == "Ready");
    let mut parts = vec![match ready {
        Some(c) if c.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// `findNodeRoles`: the sorted, distinct roles from both label forms, or `<none>`.
fn roles(node: &Node) -> String {
    let mut roles = BTreeSet::new();
    for (k, v) in node.metadata.labels.iter().flatten() {
        if let Some(role) = k.strip_prefix(NODE_ROLE_PREFIX) {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if k == NODE_LABEL_ROLE && !v.is_empty() {
            roles.insert(v.as_str());
        }
    }
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// `getNodeInternalIP` / `getNodeExternalIP`: the first address of the type, or `<none>`.
fn first_address<'a>(node: &'a Node, type_: &str) -> &'a str {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|a| a.type_ == type_)
        .map_or("<none>", |a| a.address.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn node(v: Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn node_full_row() {
        let n = node(json!({
            "metadata": {
                "name": "kbatch",
                "creationTimestamp": "2026-02-28T12:00:00Z",
                "labels": {
                    "node-role.kubernetes.io/control-plane": "",
                    "node-role.kubernetes.io/worker": "",
                    "node-role.kubernetes.io/": "",
                    "kubernetes.io/role": "worker",
                    "kubernetes.io/hostname": "kbatch"
                }
            },
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [
                    {"type": "Hostname", "address": "kbatch"},
                    {"type": "InternalIP", "address": "10.0.0.1"},
                    {"type": "InternalIP", "address": "10.0.0.2"}
                ],
                "nodeInfo": {
                    "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "kbatch://0.1.0",
                    "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": "v1.35.0",
                    "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": ""
                }
            }
        }));
        assert_eq!(
            Value::from(cells(&n, now())),
            json!([
                "kbatch",
                "Ready",
                "control-plane,worker",
                "24h",
                "v1.35.0",
                "10.0.0.1",
                "<none>",
                "<unknown>",
                "6.1.0",
                "kbatch://0.1.0"
            ])
        );
    }

    #[test]
    fn node_status_and_roles() {
        let n = node(json!({
            "metadata": {"name": "n"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Ready", "status": "Unknown"}
            ]}
        }));
        let c = cells(&n, now());
        assert_eq!(c[1], "NotReady,SchedulingDisabled");
        assert_eq!(c[2], "<none>");
        let bare = node(json!({"metadata": {"name": "b"}}));
        assert_eq!(
            Value::from(cells(&bare, now())),
            json!([
                "b",
                "Unknown",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ])
        );
        let legacy = node(json!({"metadata": {"labels": {"kubernetes.io/role": "master"}}}));
        assert_eq!(cells(&legacy, now())[2], "master");
    }

    #[test]
    fn columns_match_upstream() {
        let c = columns();
        let shape: Vec<(&str, i32)> = c.iter().map(|c| (c.name.as_str(), c.priority)).collect();
        assert_eq!(
            shape,
            [
                ("Name", 0),
                ("Status", 0),
                ("Roles", 0),
                ("Age", 0),
                ("Version", 0),
                ("Internal-IP", 1),
                ("External-IP", 1),
                ("OS-Image", 1),
                ("Kernel-Version", 1),
                ("Container-Runtime", 1)
            ]
        );
    }
}
