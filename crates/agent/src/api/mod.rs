//! The API as the agent sees it: exactly the calls a node makes (kubelet's, through its
//! node-scoped credential), and nothing else. The agent inside `kbatch server` calls the
//! in-process registry ([`local::LocalApi`]); an agent on another machine calls a server's
//! HTTPS API ([`remote::RemoteApi`]). Every implementation answers with the objects
//! and the meta/v1 Status errors the registry gives, so the agent tells NotFound, Conflict and
//! AlreadyExists apart the same way on each.

pub mod local;
pub mod remote;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kbatch_api::error::ApiError;
use kbatch_api::registry::{EventSpec, WatchStream};
use kbatch_core::object::{Kind, Object, POD};

pub use local::LocalApi;
pub use remote::{Credentials, RemoteApi, RemoteError};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The objects of a list and the resourceVersion it was read at (where a watch continues).
#[derive(Debug, Clone)]
pub struct List {
    pub items: Vec<Object>,
    pub resource_version: String,
}

/// What a node agent reads and writes. Writes are made as field manager `kubelet`.
#[async_trait]
pub trait NodeApi: Send + Sync + std::fmt::Debug {
    /// One object; `namespace` is "" for cluster-scoped kinds.
    async fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Object>;

    /// Every object of `kind` in all namespaces matching the field selector (e.g.
    /// `spec.nodeName=n1`), read at the latest revision.
    async fn list(&self, kind: &Kind, field_selector: Option<&str>) -> Result<List>;

    /// The changes to the objects [`NodeApi::list`] would return, after `resource_version`.
    /// The stream ends (perhaps with an error event, e.g. 410 Expired) when the watch cannot
    /// go on; the caller lists again.
    async fn watch(
        &self,
        kind: &Kind,
        field_selector: Option<&str>,
        resource_version: &str,
    ) -> Result<WatchStream>;

    async fn create(&self, kind: &Kind, namespace: &str, obj: Object) -> Result<Object>;

    /// Replaces the object; its resourceVersion, when set, is a precondition (Conflict).
    async fn update(&self, kind: &Kind, namespace: &str, name: &str, obj: Object)
    -> Result<Object>;

    /// Writes the object's status (the `status` subresource), as [`NodeApi::update`].
    async fn update_status(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
    ) -> Result<Object>;

    /// Writes pod `name`'s status, made by `status` from the status stored, on the pod's
    /// latest version and only while the pod has uid `uid` (kubelet's status manager writes
    /// the pod it knows by uid). A write another writer got ahead of is made again on the
    /// newer version. `None` when the pod is gone or its name belongs to another pod now.
    async fn write_pod_status(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        status: &StatusChange<'_>,
    ) -> Result<Option<Pod>> {
        let mut last = None;
        for _ in 0..STATUS_ATTEMPTS {
            let mut pod = match self.get(&POD, namespace, name).await {
                Ok(Object::Pod(p)) if p.metadata.uid.as_deref().unwrap_or_default() == uid => p,
                Ok(_) => return Ok(None),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            pod.status = Some(status(pod.status.as_ref()));
            match self
                .update_status(&POD, namespace, name, Object::Pod(pod))
                .await
            {
                Ok(Object::Pod(p)) => return Ok(Some(p)),
                Ok(other) => {
                    return Err(ApiError::internal(format!(
                        "a pod's status write was answered with a {}",
                        other.kind().kind
                    )));
                }
                Err(e) if e.is_conflict() => last = Some(e),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError::internal("the pod's status was not written")))
    }

    /// kubelet's final delete of a pod it has stopped: grace period 0, and only while the
    /// pod has uid `uid` (a Conflict otherwise).
    async fn delete_pod(&self, namespace: &str, name: &str, uid: Option<&str>) -> Result<()>;

    /// Records an event; a repeat of a recent one bumps its count instead.
    async fn record_event(&self, spec: EventSpec) -> Result<()>;

    /// A TokenRequest for service account `name` in `namespace`.
    async fn create_token(
        &self,
        namespace: &str,
        name: &str,
        request: TokenRequest,
    ) -> Result<TokenRequest>;
}

/// Makes a pod's status from the one stored ([`NodeApi::write_pod_status`]).
pub type StatusChange<'s> = dyn for<'a> Fn(Option<&'a PodStatus>) -> PodStatus + Send + Sync + 's;

/// How many times a pod status write that conflicts is made again on a newer version.
const STATUS_ATTEMPTS: usize = 5;

/// The field manager of the agent's writes, as kubelet's are named.
pub(crate) const FIELD_MANAGER: &str = "kubelet";
