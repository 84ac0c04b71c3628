//! Watch (kubectl-wire.md §0.5, §4.6, §4.9, §8.7): through the registry and over HTTP.

use std::time::Duration;

use futures::StreamExt;
use kbatch_api::registry::{
    DeleteOptions, DeleteOutcome, PatchType, Propagation, Registry, WatchEvent, WatchEventType,
    WatchParams, WatchStream, WriteOptions,
};
use kbatch_core::object::{JOB, Object};
use kbatch_core::selector::{FieldSelector, LabelSelector};
use serde_json::json;

use crate::common::{Next, TestServer, create, job, memory_registry, rv, rv_of};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn next(w: &mut WatchStream) -> (WatchEventType, Object) {
    match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
        Ok(Some(WatchEvent::Object(t, o))) => (t, *o),
        other => panic!("expected an object event, got {other:?}"),
    }
}

async fn quiet(w: &mut WatchStream) {
    if let Ok(e) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
        panic!("expected no event, got {e:?}");
    }
}

async fn label(registry: &Registry, name: &str, labels: serde_json::Value) -> Object {
    registry
        .patch(
            &JOB,
            "default",
            name,
            PatchType::Merge,
            &json!({"metadata": {"labels": labels}}),
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .object
}

fn background() -> DeleteOptions {
    DeleteOptions {
        propagation: Some(Propagation::Background),
        ..Default::default()
    }
}

async fn watch(registry: &Registry, params: WatchParams) -> WatchStream {
    registry
        .watch(&JOB, Some("default"), params)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn rv_empty_and_zero_start_with_synthetic_added_then_follow() {
    // §4.6/§8.7: "" or "0" → ADDED for every existing object, then live changes.
    let (registry, _) = memory_registry().await;
    create(&registry, &JOB, job("a", json!({}))).await;
    let b = create(&registry, &JOB, job("b", json!({}))).await;
    for (step, start) in [None, Some(""), Some("0")].into_iter().enumerate() {
        let a = registry.get(&JOB, "default", "a").await.unwrap();
        let mut w = watch(
            &registry,
            WatchParams {
                resource_version: start.map(str::to_owned),
                ..Default::default()
            },
        )
        .await;
        let (t, o) = next(&mut w).await;
        assert_eq!((t, o.name()), (WatchEventType::Added, "a"));
        assert_eq!(
            rv(&o),
            rv(&a),
            "the synthetic ADDED carries the object's RV"
        );
        let (t, o) = next(&mut w).await;
        assert_eq!((t, o.name()), (WatchEventType::Added, "b"));
        assert_eq!(rv(&o), rv(&b));
        quiet(&mut w).await;
        let changed = label(&registry, "a", json!({"step": step.to_string()})).await;
        let (t, o) = next(&mut w).await;
        assert_eq!((t, o.name()), (WatchEventType::Modified, "a"));
        assert_eq!(rv(&o), rv(&changed));
    }
}

#[tokio::test]
async fn rv_n_gives_only_changes_after_n() {
    // §4.6: "Events must only carry changes after R".
    let (registry, _) = memory_registry().await;
    let a = create(&registry, &JOB, job("a", json!({}))).await;
    let a2 = label(&registry, "a", json!({"v": "2"})).await;
    let b = create(&registry, &JOB, job("b", json!({}))).await;

    let mut w = watch(
        &registry,
        WatchParams {
            resource_version: Some(rv(&a2).to_string()),
            ..Default::default()
        },
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name(), rv(&o)), (WatchEventType::Added, "b", rv(&b)));
    quiet(&mut w).await;

    // From the first create: the history replays in order.
    let mut w = watch(
        &registry,
        WatchParams {
            resource_version: Some(rv(&a).to_string()),
            ..Default::default()
        },
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (t, o.name(), rv(&o)),
        (WatchEventType::Modified, "a", rv(&a2))
    );
    assert_eq!(o.metadata().labels.as_ref().unwrap()["v"], "2");
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Added, "b"));
    quiet(&mut w).await;
}

#[tokio::test]
async fn label_selector_transitions_are_deleted_and_added() {
    // registry/watch.rs contract (the apiserver's cacher): an object that stops matching is
    // DELETED for the watcher, one that starts matching is ADDED.
    let (registry, _) = memory_registry().await;
    let mut w = watch(
        &registry,
        WatchParams {
            label_selector: Some(LabelSelector::parse("app=x").unwrap()),
            resource_version: Some("0".to_owned()),
            ..Default::default()
        },
    )
    .await;
    create(&registry, &JOB, job("other", json!({"app": "y"}))).await;
    create(&registry, &JOB, job("a", json!({"app": "x"}))).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Added, "a"));

    let out = label(&registry, "a", json!({"app": "y"})).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Deleted, "a"));
    assert_eq!(rv(&o), rv(&out), "the DELETED carries the update's RV");

    // Changes to a non-matching object are not seen.
    label(&registry, "a", json!({"app": "z"})).await;
    label(&registry, "other", json!({"app": "w"})).await;
    quiet(&mut w).await;

    let back = label(&registry, "a", json!({"app": "x"})).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (t, o.name(), rv(&o)),
        (WatchEventType::Added, "a", rv(&back))
    );
    label(&registry, "a", json!({"app": "x", "more": "1"})).await;
    let (t, _) = next(&mut w).await;
    assert_eq!(t, WatchEventType::Modified);
}

#[tokio::test]
async fn selector_out_deleted_event_carries_the_last_matching_state() {
    // Upstream (etcd3 watcher.go transform and cacher's convertToWatchEvent): when an update
    // makes an object stop matching, the DELETED event carries the *previous* object (the
    // last state the watcher was entitled to see) stamped with the update's resourceVersion.
    let (registry, _) = memory_registry().await;
    create(&registry, &JOB, job("a", json!({"app": "x"}))).await;
    let mut w = watch(
        &registry,
        WatchParams {
            label_selector: Some(LabelSelector::parse("app=x").unwrap()),
            resource_version: Some("0".to_owned()),
            ..Default::default()
        },
    )
    .await;
    next(&mut w).await;
    let out = label(&registry, "a", json!({"app": "y"})).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, WatchEventType::Deleted);
    assert_eq!(rv(&o), rv(&out));
    assert_eq!(o.metadata().labels.as_ref().unwrap()["app"], "x");
}

#[tokio::test]
async fn field_selector_metadata_name_sees_one_object() {
    // §1, §4.6: `get NAME -w` and `wait` watch with fieldSelector=metadata.name=NAME.
    let (registry, _) = memory_registry().await;
    create(&registry, &JOB, job("a", json!({}))).await;
    create(&registry, &JOB, job("b", json!({}))).await;
    let mut w = watch(
        &registry,
        WatchParams {
            field_selector: Some(FieldSelector::parse("metadata.name=a").unwrap()),
            resource_version: Some("0".to_owned()),
            ..Default::default()
        },
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Added, "a"));
    label(&registry, "b", json!({"x": "1"})).await;
    create(&registry, &JOB, job("c", json!({}))).await;
    quiet(&mut w).await;
    label(&registry, "a", json!({"x": "1"})).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Modified, "a"));
    // A field the kind cannot be selected by is refused up front.
    let err = registry
        .watch(
            &JOB,
            Some("default"),
            WatchParams {
                field_selector: Some(FieldSelector::parse("spec.foo=bar").unwrap()),
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), 400);
    assert_eq!(err.to_string(), "field label not supported: spec.foo");
}

#[tokio::test]
async fn deleted_carries_the_deletes_resource_version() {
    // registry/watch.rs: a DELETED object carries the delete's resourceVersion (§4.12: the
    // watch kubectl's delete --wait runs ends on it).
    let (registry, _) = memory_registry().await;
    let a = create(&registry, &JOB, job("a", json!({}))).await;
    let mut w = watch(
        &registry,
        WatchParams {
            resource_version: Some(rv(&a).to_string()),
            ..Default::default()
        },
    )
    .await;
    let (outcome, _) = registry
        .delete(&JOB, "default", "a", &background())
        .await
        .unwrap();
    let DeleteOutcome::Deleted(gone) = outcome else {
        panic!("a Job without finalizers deleted in the background goes at once");
    };
    assert!(rv(&gone) > rv(&a));
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Deleted, "a"));
    assert_eq!(rv(&o), rv(&gone));
    assert_eq!(
        rv(&gone),
        registry.store().current_revision().await.unwrap(),
        "the delete is the latest write"
    );
}

#[tokio::test]
async fn a_compacted_resource_version_is_an_error_event_410() {
    // §8.7 / the apiserver: a watch from a compacted RV gets one ERROR event holding a 410
    // Expired Status, and the stream ends.
    let (registry, _) = memory_registry().await;
    let a = create(&registry, &JOB, job("a", json!({}))).await;
    for i in 0..3 {
        label(&registry, "a", json!({"i": i.to_string()})).await;
    }
    let current = registry.store().current_revision().await.unwrap();
    registry.store().compact(current).await.unwrap();
    let (mut w, _) = registry
        .watch(
            &JOB,
            Some("default"),
            WatchParams {
                resource_version: Some(rv(&a).to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
        Ok(Some(WatchEvent::Error(status))) => {
            assert_eq!(status.code, Some(410));
            assert_eq!(status.reason.as_deref(), Some("Expired"));
            let message = status.message.clone().unwrap();
            assert!(
                message.starts_with("too old resource version:"),
                "{message}"
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .is_none(),
        "the error ends the watch"
    );
    // From the compacted revision itself the watch works.
    let mut w = watch(
        &registry,
        WatchParams {
            resource_version: Some(current.to_string()),
            ..Default::default()
        },
    )
    .await;
    quiet(&mut w).await;
}

#[tokio::test]
async fn an_unreadable_stored_object_ends_a_watch_from_zero_with_an_error() {
    // The synthetic ADDED events are decoded one at a time as the watcher reads them, so a
    // stored value that does not decode is an ERROR event where it comes, the stream's last.
    let (registry, _) = memory_registry().await;
    create(&registry, &JOB, job("a", json!({}))).await;
    create(&registry, &JOB, job("c", json!({}))).await;
    let key = Registry::key(&JOB, "default", "b");
    registry
        .store()
        .create(&key, b"not json".to_vec())
        .await
        .unwrap();
    let mut w = watch(
        &registry,
        WatchParams {
            resource_version: Some("0".to_owned()),
            ..Default::default()
        },
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t, o.name()), (WatchEventType::Added, "a"));
    match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
        Ok(Some(WatchEvent::Error(status))) => assert_eq!(status.code, Some(500)),
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .is_none(),
        "the error ends the watch"
    );
}

// ---- over HTTP ----

async fn http_server() -> TestServer {
    let s = TestServer::start(None).await;
    create(s.registry(), &JOB, job("a", json!({"app": "x"}))).await;
    create(s.registry(), &JOB, job("b", json!({"app": "y"}))).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_watch_rv_zero_then_live_events_as_ndjson() {
    // §0.5: 200, chunked, newline-delimited {"type","object"} with kind/apiVersion.
    let s = http_server().await;
    let mut w = s
        .stream(&format!("{JOBS}?watch=true&resourceVersion=0"), &[])
        .await;
    assert_eq!(w.status, 200);
    assert_eq!(
        w.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(w.header("transfer-encoding").as_deref(), Some("chunked"));
    let e = w.next().await;
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["kind"], "Job");
    assert_eq!(e["object"]["apiVersion"], "batch/v1");
    assert_eq!(e["object"]["metadata"]["name"], "a");
    let e = w.next().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("b"))
    );
    w.expect_quiet().await;
    let r = s
        .patch(
            &format!("{JOBS}/b"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"new": "1"}}}),
        )
        .await;
    r.expect(200);
    let e = w.next().await;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(rv_of(&e["object"]), rv_of(&r.json()));
    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/b?propagationPolicy=Background"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    let e = w.next().await;
    assert_eq!(e["type"], "DELETED");
    assert_eq!(rv_of(&e["object"]), rv_of(&r.json()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_watch_from_a_list_rv_and_with_selectors() {
    // §4.6 list → RV R → watch from R: only later changes. §1: selectors verbatim.
    let s = http_server().await;
    let list = s.get(JOBS).await;
    list.expect(200);
    let r = list.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut all = s
        .stream(&format!("{JOBS}?watch=true&resourceVersion={r}"), &[])
        .await;
    let mut labelled = s
        .stream(
            &format!("{JOBS}?watch=1&resourceVersion={r}&labelSelector=app%3Dx"),
            &[],
        )
        .await;
    let mut named = s
        .stream(
            &format!("{JOBS}?watch=true&resourceVersion={r}&fieldSelector=metadata.name%3Db"),
            &[],
        )
        .await;
    all.expect_quiet().await;
    s.patch(
        &format!("{JOBS}/a"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "y"}}}),
    )
    .await
    .expect(200);
    s.patch(
        &format!("{JOBS}/b"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "x"}}}),
    )
    .await
    .expect(200);
    let seen: Vec<(String, String)> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            let e = all.next().await;
            v.push((
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["name"].as_str().unwrap().to_owned(),
            ));
        }
        v
    };
    assert_eq!(
        seen,
        [
            ("MODIFIED".to_owned(), "a".to_owned()),
            ("MODIFIED".to_owned(), "b".to_owned())
        ]
    );
    let e = labelled.next().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("a"))
    );
    let e = labelled.next().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("b"))
    );
    let e = named.next().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("MODIFIED"), Some("b"))
    );
    named.expect_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_seconds_closes_the_stream() {
    // §0.5/§4.9: `timeoutSeconds=N` ends the watch (kubectl wait re-establishes it); without
    // it the watch stays open.
    let s = http_server().await;
    let mut w = s
        .stream(
            &format!("{JOBS}?watch=true&resourceVersion=0&timeoutSeconds=1"),
            &[],
        )
        .await;
    assert_eq!(w.status, 200);
    w.next().await;
    w.next().await;
    let started = std::time::Instant::now();
    match w.next_within(Duration::from_secs(5)).await {
        Next::End => {}
        Next::Line(l) => panic!("unexpected event {l}"),
        Next::Quiet => panic!("the watch did not end within 5s of its 1s timeout"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));

    let mut open = s
        .stream(&format!("{JOBS}?watch=true&resourceVersion=0"), &[])
        .await;
    open.next().await;
    open.next().await;
    match open.next_within(Duration::from_millis(1500)).await {
        Next::Quiet => {}
        other => panic!("a watch without timeoutSeconds must stay open, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_watch_events_carry_one_row_and_columns_only_first() {
    // §0.2, §4.6: with the Table Accept each event's object is a Table with one row;
    // columnDefinitions ride on the first event only.
    let s = http_server().await;
    let mut w = s
        .stream(
            &format!("{JOBS}?watch=true&resourceVersion=0"),
            &[("Accept", TABLE_ACCEPT)],
        )
        .await;
    assert_eq!(w.status, 200);
    assert_eq!(
        w.header("content-type").as_deref(),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io")
    );
    let first = w.next().await;
    assert_eq!(first["type"], "ADDED");
    let table = &first["object"];
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cells"][0], "a");
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(rows[0]["object"]["metadata"]["namespace"], "default");
    assert_eq!(
        table["metadata"]["resourceVersion"],
        rows[0]["object"]["metadata"]["resourceVersion"]
    );

    let second = w.next().await;
    assert_eq!(second["object"]["kind"], "Table");
    assert!(
        second["object"]["columnDefinitions"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "{second}"
    );
    assert_eq!(second["object"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(second["object"]["rows"][0]["cells"][0], "b");

    s.patch(
        &format!("{JOBS}/a"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"new": "1"}}}),
    )
    .await
    .expect(200);
    let live = w.next().await;
    assert_eq!(live["type"], "MODIFIED");
    assert!(
        live["object"]["columnDefinitions"]
            .as_array()
            .is_none_or(|c| c.is_empty())
    );
    assert_eq!(live["object"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(
        live["object"]["rows"][0]["object"]["metadata"]["labels"]["new"],
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_watch_from_a_compacted_rv_is_an_error_event_410() {
    let s = http_server().await;
    let old = rv_of(&s.get(&format!("{JOBS}/a")).await.json());
    for i in 0..3 {
        s.patch(
            &format!("{JOBS}/a"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"i": i.to_string()}}}),
        )
        .await
        .expect(200);
    }
    let current = s.store.current_revision().await.unwrap();
    s.store.compact(current).await.unwrap();
    let mut w = s
        .stream(&format!("{JOBS}?watch=true&resourceVersion={old}"), &[])
        .await;
    assert_eq!(w.status, 200);
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["apiVersion"], "v1");
    assert_eq!(e["object"]["status"], "Failure");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    match w.next_within(Duration::from_secs(5)).await {
        Next::End => {}
        other => panic!("the stream ends after the ERROR event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_watch_parameters_are_refused_before_streaming() {
    let s = http_server().await;
    for q in [
        "watch=true&resourceVersion=abc",
        "watch=true&fieldSelector=spec.foo%3Dbar",
        "watch=true&labelSelector=a%20in%20(b",
        "watch=true&timeoutSeconds=-1",
    ] {
        let r = s.get(&format!("{JOBS}?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.json()["kind"], "Status");
    }
}
