//! The fields each kind can be selected by (`fieldSelector=`): the per-kind `GetAttrs` /
//! `*ToSelectableFields` functions of the apiserver registries, and the
//! `AddFieldLabelConversionFunc` lists that reject any other field.

use kbatch_core::object::{Kind, Object};
use kbatch_core::selector::FieldSelector;

use crate::error::{ApiError, Result};

/// The selectable fields of a kind besides `metadata.name` and `metadata.namespace`.
fn supported(kind: &Kind) -> &'static [&'static str] {
    match kind.kind {
        "Job" => &["status.successful"],
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        // pkg/registry/core/secret: SelectableFields adds the type.
        "Secret" => &["type"],
        _ => &[],
    }
}

/// Rejects a selector on a field the kind does not offer, as the apiserver's field label
/// conversion does: 400 `field label not supported: spec.foo`.
pub fn check_supported(kind: &Kind, selector: &FieldSelector) -> Result<()> {
    for r in selector.requirements() {
        let f = r.field.as_str();
        if f != "metadata.name" && f != "metadata.namespace" && !supported(kind).contains(&f) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {f}"
            )));
        }
    }
    Ok(())
}

/// The value of a selectable field; absent fields read as "" (Kubernetes' field sets hold
/// every selectable field, empty when unset).
pub fn value(obj: &Object, field: &str) -> Option<String> {
    let meta = obj.metadata();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let v = match field {
        "metadata.name" => s(&meta.name),
        "metadata.namespace" => s(&meta.namespace),
        _ => match obj {
            Object::Job(job) => match field {
                "status.successful" => job
                    .status
                    .as_ref()
                    .and_then(|st| st.succeeded)
                    .unwrap_or(0)
                    .to_string(),
                _ => return None,
            },
            Object::Pod(pod) => {
                let spec = pod.spec.as_ref();
                let st = pod.status.as_ref();
                match field {
                    "spec.nodeName" => spec.and_then(|p| p.node_name.clone()).unwrap_or_default(),
                    "spec.restartPolicy" => spec
                        .and_then(|p| p.restart_policy.clone())
                        .unwrap_or_default(),
                    "spec.schedulerName" => spec
                        .and_then(|p| p.scheduler_name.clone())
                        .unwrap_or_default(),
                    "spec.serviceAccountName" => spec
                        .and_then(|p| p.service_account_name.clone())
                        .unwrap_or_default(),
                    "spec.hostNetwork" => spec
                        .and_then(|p| p.host_network)
                        .unwrap_or(false)
                        .to_string(),
                    "status.phase" => st.and_then(|s| s.phase.clone()).unwrap_or_default(),
                    "status.podIP" => st.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
                    // podIPs selects on the first IP only (pkg/registry/core/pod PodToSelectableFields).
                    "status.podIPs" => st
                        .and_then(|s| s.pod_ips.as_ref())
                        .and_then(|ips| ips.first())
                        .map(|ip| ip.ip.clone())
                        .unwrap_or_default(),
                    "status.nominatedNodeName" => st
                        .and_then(|s| s.nominated_node_name.clone())
                        .unwrap_or_default(),
                    _ => return None,
                }
            }
            Object::Event(ev) => {
                let io = &ev.involved_object;
                match field {
                    "involvedObject.kind" => s(&io.kind),
                    "involvedObject.namespace" => s(&io.namespace),
                    "involvedObject.name" => s(&io.name),
                    "involvedObject.uid" => s(&io.uid),
                    "involvedObject.apiVersion" => s(&io.api_version),
                    "involvedObject.resourceVersion" => s(&io.resource_version),
                    "involvedObject.fieldPath" => s(&io.field_path),
                    "reason" => s(&ev.reason),
                    "reportingComponent" => s(&ev.reporting_component),
                    "source" => ev
                        .source
                        .as_ref()
                        .and_then(|src| src.component.clone())
                        .unwrap_or_default(),
                    "type" => s(&ev.type_),
                    _ => return None,
                }
            }
            Object::Namespace(ns) => match field {
                "status.phase" => ns
                    .status
                    .as_ref()
                    .and_then(|st| st.phase.clone())
                    .unwrap_or_default(),
                _ => return None,
            },
            Object::Node(node) => match field {
                "spec.unschedulable" => node
                    .spec
                    .as_ref()
                    .and_then(|sp| sp.unschedulable)
                    .unwrap_or(false)
                    .to_string(),
                _ => return None,
            },
            Object::Secret(secret) => match field {
                "type" => s(&secret.type_),
                _ => return None,
            },
            Object::CronJob(_)
            | Object::Lease(_)
            | Object::ConfigMap(_)
            | Object::ServiceAccount(_)
            | Object::PersistentVolumeClaim(_)
            | Object::StorageClass(_)
            | Object::RuntimeClass(_) => return None,
        },
    };
    Some(v)
}
