//! Binding a pod to a node: the `pods/binding` subresource the scheduler writes
//! (`pkg/registry/core/pod/storage` `BindingREST.setPodNodeName`). `spec.nodeName` is
//! immutable for every other writer; binding sets it once and marks the pod scheduled.

use k8s_openapi::api::core::v1::PodCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kbatch_core::object::{Object, POD};
use kbatch_core::status;

use super::{Registry, encode_stored, set_resource_version};
use crate::error::{ApiError, Result};

impl Registry {
    /// Sets `spec.nodeName` of an unbound pod and its `PodScheduled=True` condition. A pod
    /// already bound, or being deleted, is a 409 Conflict, as in Kubernetes.
    pub async fn bind_pod(&self, namespace: &str, name: &str, node: &str) -> Result<Object> {
        for _ in 0..5 {
            let (current, rev) = self.read(&POD, namespace, name).await?;
            let Object::Pod(mut pod) = current else {
                return Err(ApiError::internal("a pod key holds another kind"));
            };
            if pod.metadata.deletion_timestamp.is_some() {
                return Err(status::conflict_with(
                    &POD,
                    name,
                    format!("pod {name} is being deleted, cannot be assigned to a host"),
                )
                .into());
            }
            let spec = pod.spec.get_or_insert_with(Default::default);
            if let Some(bound) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
                return Err(status::conflict_with(
                    &POD,
                    name,
                    format!("pod {name} is already assigned to node {bound:?}"),
                )
                .into());
            }
            spec.node_name = Some(node.to_owned());
            let now = Time(self.clock.now());
            let conditions = pod
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            conditions.retain(|c| c.type_ != "PodScheduled");
            conditions.push(PodCondition {
                type_: "PodScheduled".to_owned(),
                status: "True".to_owned(),
                last_transition_time: Some(now),
                ..Default::default()
            });
            let mut obj = Object::Pod(pod);
            let key = Self::key(&POD, namespace, name);
            match self.store.update(&key, encode_stored(&mut obj), rev).await {
                Ok(r) => {
                    set_resource_version(&mut obj, r);
                    return Ok(obj);
                }
                Err(kbatch_store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(ApiError::from_store(e, &POD, name)),
            }
        }
        Err(status::conflict(&POD, name).into())
    }
}
