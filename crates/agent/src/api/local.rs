//! [`NodeApi`] over the in-process registry: the embedded agent of `kbatch server` and
//! `kbatch run`. Each call is the registry call the agent made before it had a trait.

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::Pod;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{
    DeleteOptions, EventSpec, ListParams, Preconditions, Registry, WatchParams, WatchStream,
    WriteOptions,
};
use kbatch_core::object::{Kind, Object, POD};
use kbatch_core::selector::FieldSelector;

use super::{FIELD_MANAGER, List, NodeApi, Result, StatusChange};

/// The registry of the process the agent runs in.
#[derive(Debug, Clone)]
pub struct LocalApi {
    registry: Registry,
}

impl LocalApi {
    pub fn new(registry: Registry) -> LocalApi {
        LocalApi { registry }
    }
}

fn write_options(subresource: Option<&str>) -> WriteOptions {
    WriteOptions {
        field_manager: Some(FIELD_MANAGER.into()),
        subresource: subresource.map(str::to_owned),
        ..Default::default()
    }
}

fn selector(field_selector: Option<&str>) -> Result<Option<FieldSelector>> {
    field_selector
        .map(|s| FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()
}

#[async_trait]
impl NodeApi for LocalApi {
    async fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Object> {
        self.registry.get(kind, namespace, name).await
    }

    async fn list(&self, kind: &Kind, field_selector: Option<&str>) -> Result<List> {
        let params = ListParams {
            field_selector: selector(field_selector)?,
            ..Default::default()
        };
        let list = self.registry.list(kind, None, &params).await?;
        Ok(List {
            items: list.items,
            resource_version: list.resource_version.to_string(),
        })
    }

    async fn watch(
        &self,
        kind: &Kind,
        field_selector: Option<&str>,
        resource_version: &str,
    ) -> Result<WatchStream> {
        let params = WatchParams {
            field_selector: selector(field_selector)?,
            resource_version: Some(resource_version.to_owned()),
            ..Default::default()
        };
        let (events, _) = self.registry.watch(kind, None, params).await?;
        Ok(events)
    }

    async fn create(&self, kind: &Kind, namespace: &str, obj: Object) -> Result<Object> {
        let written = self
            .registry
            .create(kind, namespace, obj, &write_options(None), Vec::new())
            .await?;
        Ok(written.object)
    }

    async fn update(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
    ) -> Result<Object> {
        let written = self
            .registry
            .update(kind, namespace, name, obj, &write_options(None), Vec::new())
            .await?;
        Ok(written.object)
    }

    async fn update_status(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
    ) -> Result<Object> {
        let opts = write_options(Some("status"));
        let written = self
            .registry
            .update(kind, namespace, name, obj, &opts, Vec::new())
            .await?;
        Ok(written.object)
    }

    /// The registry's read-change-write, which changes the version it reads rather than a
    /// copy the agent read before.
    async fn write_pod_status(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        status: &StatusChange<'_>,
    ) -> Result<Option<Pod>> {
        let ours = |pod: &Pod| pod.metadata.uid.as_deref().unwrap_or_default() == uid;
        let opts = write_options(Some("status"));
        let written = self
            .registry
            .edit(&POD, namespace, name, &opts, |obj| match obj {
                Object::Pod(pod) if ours(pod) => {
                    pod.status = Some(status(pod.status.as_ref()));
                    true
                }
                _ => false,
            })
            .await;
        match written {
            Ok(w) => match w.object {
                Object::Pod(pod) if ours(&pod) => Ok(Some(pod)),
                _ => Ok(None),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete_pod(&self, namespace: &str, name: &str, uid: Option<&str>) -> Result<()> {
        let opts = DeleteOptions {
            grace_period_seconds: Some(0),
            preconditions: Preconditions {
                uid: uid.map(str::to_owned),
                resource_version: None,
            },
            ..Default::default()
        };
        self.registry.delete(&POD, namespace, name, &opts).await?;
        Ok(())
    }

    async fn record_event(&self, spec: EventSpec) -> Result<()> {
        self.registry.record_event(spec).await?;
        Ok(())
    }

    async fn create_token(
        &self,
        namespace: &str,
        name: &str,
        request: TokenRequest,
    ) -> Result<TokenRequest> {
        self.registry.create_token(namespace, name, request).await
    }
}
