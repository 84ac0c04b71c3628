//! The ServiceAccounts controller and the volume binder over a registry on the in-memory
//! store, each sync called directly once the informers have caught up.

use std::sync::Arc;

use kbatch_api::clock::SystemClock;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_controllers::runtime::Informer;
use kbatch_controllers::serviceaccounts::ServiceAccountsController;
use kbatch_controllers::volume_binding::{SELECTED_NODE_ANNOTATION, VolumeBinder};
use kbatch_core::object::{
    Kind, NAMESPACE, Object, PERSISTENTVOLUMECLAIM, POD, SERVICEACCOUNT, STORAGECLASS,
};
use kbatch_store::MemoryStore;
use serde_json::{Value, json};

async fn registry() -> Registry {
    let registry = Registry::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    registry.bootstrap().await.unwrap();
    registry
}

async fn informer(registry: &Registry, kind: Kind) -> Informer {
    let informer = Informer::new(registry.clone(), kind);
    tokio::spawn(informer.clone().run());
    informer.wait_synced().await;
    informer
}

async fn create(registry: &Registry, kind: Kind, namespace: &str, json: Value) -> Object {
    let obj = Object::from_value(&kind, json).unwrap();
    let written = registry
        .create(&kind, namespace, obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap();
    written.object
}

/// Waits until `informer` holds `obj` (an informer only sees its own kind's revisions).
async fn seen(informer: &Informer, obj: &Object) {
    let revision: i64 = obj
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    informer.wait_for_revision(revision).await;
}

#[tokio::test]
async fn every_active_namespace_gets_a_default_service_account() {
    let registry = registry().await;
    let namespaces = informer(&registry, NAMESPACE).await;
    let accounts = informer(&registry, SERVICEACCOUNT).await;
    let controller = ServiceAccountsController::new(registry.clone(), &namespaces, &accounts);
    let team = create(
        &registry,
        NAMESPACE,
        "",
        json!({"metadata": {"name": "team-a"}}),
    )
    .await;
    seen(&namespaces, &team).await;
    let mut last = None;
    for ns in ["default", "kube-system", "team-a"] {
        assert_eq!(controller.sync(ns).await.unwrap(), None);
        last = Some(registry.get(&SERVICEACCOUNT, ns, "default").await.unwrap());
    }
    seen(&accounts, &last.unwrap()).await;
    // A second sync finds it and writes nothing.
    let before = registry.store().current_revision().await.unwrap();
    controller.sync("team-a").await.unwrap();
    assert_eq!(registry.store().current_revision().await.unwrap(), before);
    // A namespace that does not exist (or is gone) is nothing to do.
    controller.sync("nowhere").await.unwrap();
    assert!(
        registry
            .get(&SERVICEACCOUNT, "nowhere", "default")
            .await
            .is_err()
    );
}

fn claim(name: &str, class: Option<&str>) -> Value {
    let mut spec =
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}});
    if let Some(c) = class {
        spec["storageClassName"] = c.into();
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

fn pod(name: &str, claim: &str, node: Option<&str>) -> Value {
    let mut pod = json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]
        }
    });
    if let Some(n) = node {
        pod["spec"]["nodeName"] = n.into();
    }
    pod
}

#[tokio::test]
async fn claims_bind_when_a_pod_using_them_is_on_a_node() {
    let registry = registry().await;
    let pods = informer(&registry, POD).await;
    let claims = informer(&registry, PERSISTENTVOLUMECLAIM).await;
    let binder = VolumeBinder::new(registry.clone(), &pods, &claims);
    create(
        &registry,
        STORAGECLASS,
        "",
        json!({"metadata": {"name": "nfs"}, "provisioner": "example.com/nfs"}),
    )
    .await;
    // The DefaultStorageClass plugin gives `data` the class `local`.
    let data = create(
        &registry,
        PERSISTENTVOLUMECLAIM,
        "default",
        claim("data", None),
    )
    .await;
    assert_eq!(data.to_json()["spec"]["storageClassName"], "local");
    let remote = create(
        &registry,
        PERSISTENTVOLUMECLAIM,
        "default",
        claim("remote", Some("nfs")),
    )
    .await;
    create(&registry, POD, "default", pod("waiting", "data", None)).await;
    let elsewhere = create(
        &registry,
        POD,
        "default",
        pod("elsewhere", "remote", Some("node-1")),
    )
    .await;
    seen(&claims, &remote).await;
    seen(&pods, &elsewhere).await;

    // A pod not yet on a node binds nothing; a foreign provisioner's claim stays Pending.
    binder.sync("default", "data").await.unwrap();
    binder.sync("default", "remote").await.unwrap();
    for name in ["data", "remote"] {
        let c = registry
            .get(&PERSISTENTVOLUMECLAIM, "default", name)
            .await
            .unwrap();
        assert_eq!(c.to_json()["status"]["phase"], "Pending", "{name}");
    }

    let user = create(
        &registry,
        POD,
        "default",
        pod("user", "data", Some("node-1")),
    )
    .await;
    seen(&pods, &user).await;
    binder.sync("default", "data").await.unwrap();
    let bound = registry
        .get(&PERSISTENTVOLUMECLAIM, "default", "data")
        .await
        .unwrap()
        .to_json();
    let uid = data.metadata().uid.clone().unwrap();
    assert_eq!(bound["spec"]["volumeName"], format!("pvc-{uid}"));
    assert_eq!(
        bound["metadata"]["annotations"][SELECTED_NODE_ANNOTATION],
        "node-1"
    );
    assert_eq!(
        bound["status"],
        json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}, "phase": "Bound"})
    );
    // Bound is final: another sync writes nothing.
    let bound_obj = registry
        .get(&PERSISTENTVOLUMECLAIM, "default", "data")
        .await
        .unwrap();
    seen(&claims, &bound_obj).await;
    let before = registry.store().current_revision().await.unwrap();
    binder.sync("default", "data").await.unwrap();
    assert_eq!(registry.store().current_revision().await.unwrap(), before);
}
