//! RuntimeClasses (node.k8s.io/v1): the ones every kbatch server has, one per runtime of its
//! node agent (`process` and `runc`, each the handler of the same name), and the
//! RuntimeClass admission plugin's check that a pod's `runtimeClassName` names one.

use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::object::{Object, POD, RUNTIME_CLASS};
use kbatch_core::status;

use super::{Registry, WriteOptions};
use crate::error::Result;

/// The RuntimeClasses a server creates when they are missing: the agent's runtimes.
pub const DEFAULTS: [&str; 2] = ["process", "runc"];

/// Creates the default RuntimeClasses that do not exist (one deleted by a user comes back
/// with the next server start, as the system namespaces do).
pub(super) async fn ensure_defaults(registry: &Registry) -> Result<()> {
    for name in DEFAULTS {
        match registry.get(&RUNTIME_CLASS, "", name).await {
            Ok(_) => continue,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let rc = RuntimeClass {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            handler: name.to_owned(),
            ..Default::default()
        };
        match registry
            .create(
                &RUNTIME_CLASS,
                "",
                Object::RuntimeClass(rc),
                &WriteOptions::default(),
                Vec::new(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.reason() == "AlreadyExists" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The RuntimeClass admission plugin (`plugin/pkg/admission/runtimeclass`): a pod naming a
/// RuntimeClass that does not exist is rejected.
pub(super) async fn admit_pod(registry: &Registry, obj: &Object) -> Result<()> {
    let Object::Pod(pod) = obj else {
        return Ok(());
    };
    let Some(class) = pod
        .spec
        .as_ref()
        .and_then(|s| s.runtime_class_name.as_deref())
        .filter(|c| !c.is_empty())
    else {
        return Ok(());
    };
    match registry.get_cached(&RUNTIME_CLASS, "", class).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Err(status::forbidden(
            &POD,
            obj.name(),
            format!("pod rejected: RuntimeClass {class:?} not found"),
        )
        .into()),
        Err(e) => Err(e),
    }
}
