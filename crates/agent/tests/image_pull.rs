//! A pod deleted while its image is being pulled is stopped at once, as kubelet cancels a
//! pod's in-flight sync to kill it, rather than after the pull has ended.

mod common;

use std::sync::Arc;

use common::Harness;
use kbatch_agent::Images;
use kbatch_agent::runtime::fake::FakeRuntime;
use kbatch_api::registry::{DeleteOptions, ListParams};
use kbatch_core::object::{EVENT, Object, POD};
use kbatch_image::{PullOptions, Puller, Store};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn a_pod_deleted_during_its_pull_stops_without_waiting_for_it() {
    // A registry that accepts connections and never answers: the pull waits until its read
    // timeout, which fails it with a `Failed` event.
    let registry = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = registry.local_addr().unwrap().to_string();
    let (accepted, mut connected) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = registry.accept().await {
            held.push(stream);
            let _ = accepted.send(());
        }
    });

    let mut h = Harness::new().await;
    let fake = Arc::new(FakeRuntime::new(h.clock.clone()).with_images());
    let mut config = h.config(fake.clone());
    config.images = Some(Images {
        store: Store::open(h.dir.path().join("images")).unwrap(),
        puller: Puller::new(PullOptions {
            insecure_registries: vec![addr.clone()],
            ..PullOptions::default()
        }),
    });
    h.start_agent(config);
    h.run_pod(
        "p",
        json!({"restartPolicy": "Never",
               "containers": [{"name": "c", "image": format!("{addr}/stuck:1"), "command": ["run"]}]}),
    )
    .await;
    connected.recv().await.expect("the pull connects");

    h.registry
        .delete(&POD, "default", "p", &DeleteOptions::default())
        .await
        .unwrap();
    h.wait("p", |p| p.is_none()).await;
    assert!(fake.events().is_empty(), "nothing ran");
    let events = h
        .registry
        .list(&EVENT, Some("default"), &ListParams::default())
        .await
        .unwrap();
    let reasons: Vec<String> = events
        .items
        .iter()
        .filter_map(|o| match o {
            Object::Event(e) if e.involved_object.name.as_deref() == Some("p") => e.reason.clone(),
            _ => None,
        })
        .collect();
    assert!(reasons.iter().any(|r| r == "Pulling"), "{reasons:?}");
    // The pull was abandoned, not waited for until it failed.
    assert!(!reasons.iter().any(|r| r == "Failed"), "{reasons:?}");
}
