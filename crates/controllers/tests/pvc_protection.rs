//! PVC protection over a registry on the in-memory store: the admission plugin's finalizer on
//! every claim, and the controller's syncs, called directly once the informers have caught up
//! (upstream's `TestPVCProtectionController` cases, through the real registry).

use std::sync::Arc;

use kbatch_api::clock::SystemClock;
use kbatch_api::registry::plugins::PVC_PROTECTION_FINALIZER;
use kbatch_api::registry::{DeleteOptions, DeleteOutcome, Registry, WriteOptions};
use kbatch_controllers::pvc_protection::PvcProtectionController;
use kbatch_controllers::runtime::Informer;
use kbatch_core::object::{Kind, Object, PERSISTENTVOLUMECLAIM, POD};
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

async fn create(registry: &Registry, kind: Kind, json: Value) -> Object {
    let obj = Object::from_value(&kind, json).unwrap();
    registry
        .create(&kind, "default", obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap()
        .object
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

fn claim(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}}}})
}

fn pod(name: &str, claim: &str, node: Option<&str>) -> Value {
    let mut pod = json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]
        }
    });
    if let Some(n) = node {
        pod["spec"]["nodeName"] = n.into();
    }
    pod
}

async fn get_claim(registry: &Registry, name: &str) -> Option<Value> {
    match registry.get(&PERSISTENTVOLUMECLAIM, "default", name).await {
        Ok(o) => Some(o.to_json()),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("{e}"),
    }
}

async fn delete(registry: &Registry, kind: Kind, name: &str) -> DeleteOutcome {
    let force = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    registry
        .delete(&kind, "default", name, &force)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_deleted_claim_stays_while_a_bound_pod_uses_it() {
    let registry = registry().await;
    let pods = informer(&registry, POD).await;
    let claims = informer(&registry, PERSISTENTVOLUMECLAIM).await;
    let controller = PvcProtectionController::new(registry.clone(), &pods, &claims);

    // StorageObjectInUseProtection: every new claim has the finalizer, once.
    let data = create(&registry, PERSISTENTVOLUMECLAIM, claim("data")).await;
    assert_eq!(
        data.to_json()["metadata"]["finalizers"],
        json!([PVC_PROTECTION_FINALIZER])
    );
    let mut twice = claim("twice");
    twice["metadata"]["finalizers"] = json!([PVC_PROTECTION_FINALIZER]);
    let twice = create(&registry, PERSISTENTVOLUMECLAIM, twice).await;
    assert_eq!(
        twice.to_json()["metadata"]["finalizers"],
        json!([PVC_PROTECTION_FINALIZER])
    );

    // A finished pod bound to a node still uses it; one not bound yet does not.
    create(&registry, POD, pod("user", "data", Some("node-1"))).await;
    let status = WriteOptions {
        subresource: Some("status".to_owned()),
        ..Default::default()
    };
    let user = registry
        .edit(&POD, "default", "user", &status, |obj| {
            let Object::Pod(pod) = obj else { return false };
            pod.status.get_or_insert_with(Default::default).phase = Some("Succeeded".to_owned());
            true
        })
        .await
        .unwrap()
        .object;
    assert_eq!(user.to_json()["status"]["phase"], "Succeeded");
    let waiting = create(&registry, POD, pod("waiting", "data", None)).await;
    seen(&pods, &user).await;
    seen(&pods, &waiting).await;
    let pending = delete(&registry, PERSISTENTVOLUMECLAIM, "data").await;
    assert!(matches!(pending, DeleteOutcome::Pending(_)));
    seen(&claims, pending.object()).await;
    controller.sync("default", "data").await.unwrap();
    let kept = get_claim(&registry, "data").await.expect("kept");
    assert_eq!(
        kept["metadata"]["finalizers"],
        json!([PVC_PROTECTION_FINALIZER])
    );
    assert!(kept["metadata"]["deletionTimestamp"].is_string());

    // Once the pod is gone, the claim goes.
    let gone = delete(&registry, POD, "user").await;
    assert!(matches!(gone, DeleteOutcome::Deleted(_)));
    seen(&pods, gone.object()).await;
    controller.sync("default", "data").await.unwrap();
    assert_eq!(get_claim(&registry, "data").await, None);

    // A claim not in use goes at once; one without the finalizer (made before the plugin)
    // gets it back.
    let unused = delete(&registry, PERSISTENTVOLUMECLAIM, "twice").await;
    seen(&claims, unused.object()).await;
    controller.sync("default", "twice").await.unwrap();
    assert_eq!(get_claim(&registry, "twice").await, None);
    create(&registry, PERSISTENTVOLUMECLAIM, claim("old")).await;
    let stripped = registry
        .edit(
            &PERSISTENTVOLUMECLAIM,
            "default",
            "old",
            &WriteOptions::default(),
            |obj| {
                obj.metadata_mut().finalizers = None;
                true
            },
        )
        .await
        .unwrap();
    seen(&claims, &stripped.object).await;
    controller.sync("default", "old").await.unwrap();
    assert_eq!(
        get_claim(&registry, "old").await.unwrap()["metadata"]["finalizers"],
        json!([PVC_PROTECTION_FINALIZER])
    );
}

/// The pod cache may not have seen a pod created a moment ago: a list read at the sync finds
/// it (`askAPIServer`).
#[tokio::test]
async fn a_pod_the_cache_has_not_seen_keeps_the_claim() {
    let registry = registry().await;
    // Never run: its cache stays empty.
    let pods = Informer::new(registry.clone(), POD);
    let claims = informer(&registry, PERSISTENTVOLUMECLAIM).await;
    let controller = PvcProtectionController::new(registry.clone(), &pods, &claims);
    create(&registry, PERSISTENTVOLUMECLAIM, claim("data")).await;
    create(&registry, POD, pod("user", "data", Some("node-1"))).await;
    let pending = delete(&registry, PERSISTENTVOLUMECLAIM, "data").await;
    seen(&claims, pending.object()).await;
    controller.sync("default", "data").await.unwrap();
    assert!(get_claim(&registry, "data").await.is_some());
}
