//! The agent's image garbage collection (kubelet's, every five minutes) over a real image
//! store, in paused time with the clock that moves with it: unused images older than the
//! minimum age go, an image a pod on the node names stays until the pod is done.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::Harness;
use kbatch_agent::Images;
use kbatch_agent::runtime::fake::{Behaviour, FakeRuntime};
use kbatch_api::clock::Clock;
use kbatch_api::registry::{DeleteOptions, ListParams};
use kbatch_core::object::{EVENT, Object};
use kbatch_image::{GcPolicy, Platform, PullOptions, Puller, Store};
use serde_json::json;
use sha2::{Digest, Sha256};

/// An OCI image layout of one image without layers, named `name`: all garbage collection
/// needs of an image is its index entry.
fn layout(dir: &Path, name: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = |bytes: Vec<u8>| {
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(blobs.join(&hex), &bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let platform = Platform::host();
    let (config, config_size) = blob(
        serde_json::to_vec(&json!({
            "architecture": platform.architecture, "os": "linux", "author": name,
            "rootfs": {"type": "layers", "diff_ids": []}, "config": {}
        }))
        .unwrap(),
    );
    let (manifest, manifest_size) = blob(
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": config_size},
            "layers": []
        }))
        .unwrap(),
    );
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest, "size": manifest_size,
                "annotations": {"io.containerd.image.name": name}
            }]
        }))
        .unwrap(),
    )
    .unwrap();
}

fn names(store: &Store) -> Vec<String> {
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.reference)
        .collect()
}

/// Waits (in test time, checking every second) until the store's images are `want`.
async fn until_images(store: &Store, want: &[&str]) {
    for _ in 0..3600 {
        if names(store) == want {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the store holds {:?}, not {want:?}", names(store));
}

#[tokio::test(start_paused = true)]
async fn unused_images_go_and_a_pod_s_image_stays_until_it_is_done() {
    let mut h = Harness::new().await;
    let store = Store::open(h.dir.path().join("images")).unwrap();
    for name in ["docker.io/library/used:1", "docker.io/library/idle:1"] {
        let dir = h.dir.path().join(name.replace([':', '/'], "_"));
        layout(&dir, name);
        kbatch_image::import(&store, &dir, None, &Platform::host(), h.clock.now()).unwrap();
    }
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()));
    fake.script("c", [Behaviour::Run]);
    let mut config = h.config(fake.clone());
    config.images = Some(Images {
        store: store.clone(),
        puller: Puller::new(PullOptions::default()),
    });
    // A high threshold of 1 % is always passed on a real disk, and a low one of 0 % can
    // never be reached: every image old enough and unused is removed, and the shortfall
    // reported.
    config.image_gc = GcPolicy {
        high_threshold_percent: 1,
        low_threshold_percent: 0,
        min_age: Duration::from_secs(120),
        max_age: None,
    };
    h.start_agent(config);
    h.run_pod(
        "p",
        json!({"restartPolicy": "Never",
               "containers": [{"name": "c", "image": "used:1", "command": ["run"]}]}),
    )
    .await;
    h.wait_phase("p", "Running").await;

    // The collection at the agent's start found both younger than the minimum age; the
    // next one, five minutes later, removes the unused one only.
    let both = ["docker.io/library/idle:1", "docker.io/library/used:1"];
    assert_eq!(names(&store), both);
    until_images(&store, &["docker.io/library/used:1"]).await;
    let events = h
        .registry
        .list(&EVENT, Some("default"), &ListParams::default())
        .await
        .unwrap();
    let shortfall = events.items.iter().find_map(|o| match o {
        Object::Event(e) if e.reason.as_deref() == Some("FreeDiskSpaceFailed") => Some(e),
        _ => None,
    });
    let shortfall = shortfall.expect("a FreeDiskSpaceFailed event");
    assert_eq!(shortfall.involved_object.kind.as_deref(), Some("Node"));
    assert!(
        shortfall
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("Failed to garbage collect required amount of images."),
        "{shortfall:?}"
    );

    // Once the pod is done on the node, its image goes too.
    h.registry
        .delete(
            &kbatch_core::object::POD,
            "default",
            "p",
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    h.wait("p", |p| p.is_none()).await;
    until_images(&store, &[]).await;
}
