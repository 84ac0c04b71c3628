//! The garbage collector over a registry on the in-memory store: each propagation policy
//! cascades as Kubernetes' does.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kbatch_api::clock::SystemClock;
use kbatch_api::registry::{DeleteOptions, Propagation, Registry, WriteOptions};
use kbatch_controllers::GarbageCollector;
use kbatch_core::object::{JOB, Object, POD};
use kbatch_store::MemoryStore;

async fn registry() -> Registry {
    let registry = Registry::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    registry.bootstrap().await.unwrap();
    registry
}

fn job(name: &str) -> Object {
    let json = serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    });
    Object::Job(serde_json::from_value::<Job>(json).unwrap())
}

fn pod(name: &str, owners: Vec<OwnerReference>) -> Object {
    let json = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    });
    let mut p = serde_json::from_value::<Pod>(json).unwrap();
    p.metadata.owner_references = Some(owners);
    Object::Pod(p)
}

fn owner_ref(owner: &Object, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: owner.name().into(),
        uid: owner.metadata().uid.clone().unwrap(),
        controller: Some(controller),
        block_owner_deletion: Some(true),
    }
}

async fn create(r: &Registry, obj: Object) -> Object {
    let kind = obj.kind();
    r.create(&kind, "default", obj, &WriteOptions::default(), Vec::new())
        .await
        .unwrap()
        .object
}

/// Polls until `check` holds (the collector works in the background).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out: {what}");
}

async fn exists(r: &Registry, kind: &kbatch_core::object::Kind, name: &str) -> bool {
    r.get(kind, "default", name).await.is_ok()
}

async fn setup() -> (Registry, Object) {
    let r = registry().await;
    tokio::spawn(GarbageCollector::new(r.clone()).run());
    let owner = create(&r, job("owner")).await;
    (r, owner)
}

fn delete_opts(p: Propagation) -> DeleteOptions {
    DeleteOptions {
        propagation: Some(p),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletes_dependents_after_the_owner() {
    let (r, owner) = setup().await;
    create(&r, pod("p1", vec![owner_ref(&owner, true)])).await;
    r.delete(
        &JOB,
        "default",
        "owner",
        &delete_opts(Propagation::Background),
    )
    .await
    .unwrap();
    assert!(!exists(&r, &JOB, "owner").await);
    eventually("pod deleted", || async { !exists(&r, &POD, "p1").await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_keeps_dependents_without_the_reference() {
    let (r, owner) = setup().await;
    create(&r, pod("p1", vec![owner_ref(&owner, true)])).await;
    r.delete(&JOB, "default", "owner", &delete_opts(Propagation::Orphan))
        .await
        .unwrap();
    eventually("owner gone", || async { !exists(&r, &JOB, "owner").await }).await;
    let p = r.get(&POD, "default", "p1").await.unwrap();
    assert!(
        p.metadata()
            .owner_references
            .as_ref()
            .is_none_or(|v| v.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_waits_for_blocking_dependents() {
    let (r, owner) = setup().await;
    create(&r, pod("p1", vec![owner_ref(&owner, true)])).await;
    let (outcome, _) = r
        .delete(
            &JOB,
            "default",
            "owner",
            &delete_opts(Propagation::Foreground),
        )
        .await
        .unwrap();
    let marked = outcome.object().metadata();
    assert!(marked.deletion_timestamp.is_some());
    assert_eq!(
        marked.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_owned()][..])
    );
    eventually("pod deleted", || async { !exists(&r, &POD, "p1").await }).await;
    eventually("owner gone", || async { !exists(&r, &JOB, "owner").await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_with_a_live_owner_loses_only_the_dangling_reference() {
    let (r, owner) = setup().await;
    let other = create(&r, job("other")).await;
    create(
        &r,
        pod(
            "p1",
            vec![owner_ref(&owner, true), owner_ref(&other, false)],
        ),
    )
    .await;
    r.delete(
        &JOB,
        "default",
        "owner",
        &delete_opts(Propagation::Background),
    )
    .await
    .unwrap();
    eventually("reference dropped", || async {
        let p = r.get(&POD, "default", "p1").await.unwrap();
        p.metadata().owner_references.as_ref().map(Vec::len) == Some(1)
    })
    .await;
}

/// A dependent created with a reference to an owner that does not exist goes as soon as
/// the collector sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_of_an_owner_that_never_existed_is_deleted() {
    let (r, owner) = setup().await;
    let mut dangling = owner_ref(&owner, true);
    dangling.uid = "no-such-uid".into();
    create(&r, pod("p1", vec![dangling])).await;
    create(&r, pod("p2", vec![owner_ref(&owner, true)])).await;
    eventually("pod deleted", || async { !exists(&r, &POD, "p1").await }).await;
    assert!(exists(&r, &POD, "p2").await);
}

/// Foreground: every dependent goes, blocking or not, dependents that changed after the
/// collector saw them included, and only then the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletes_every_dependent_before_the_owner() {
    let (r, owner) = setup().await;
    let mut loose = owner_ref(&owner, false);
    loose.block_owner_deletion = Some(false);
    create(&r, pod("p1", vec![owner_ref(&owner, true)])).await;
    create(&r, pod("p2", vec![owner_ref(&owner, true)])).await;
    create(&r, pod("p3", vec![loose])).await;
    // A status write the collector sees as nothing new.
    let mut p1 = r.get(&POD, "default", "p1").await.unwrap();
    if let Object::Pod(p) = &mut p1 {
        p.status.get_or_insert_with(Default::default).phase = Some("Running".into());
    }
    let status = WriteOptions {
        subresource: Some("status".into()),
        ..Default::default()
    };
    r.update(&POD, "default", "p1", p1, &status, Vec::new())
        .await
        .unwrap();
    r.delete(
        &JOB,
        "default",
        "owner",
        &delete_opts(Propagation::Foreground),
    )
    .await
    .unwrap();
    for name in ["p1", "p2", "p3"] {
        eventually("pod deleted", || async { !exists(&r, &POD, name).await }).await;
    }
    eventually("owner gone", || async { !exists(&r, &JOB, "owner").await }).await;
}
