//! Delete (kubectl-wire.md §4.12, §7): finalizers, preconditions, the Job's legacy Orphan
//! default, graceful deletion of pods, and deletecollection.

use std::time::Duration;

use futures::StreamExt;
use kbatch_api::registry::{
    DeleteOptions, DeleteOutcome, Propagation, Registry, WatchEvent, WatchEventType, WatchParams,
    WriteOptions,
};
use kbatch_core::object::{CRONJOB, Object, POD};
use serde_json::{Value, json};

use crate::common::{
    TestServer, at, create, cronjob, job, memory_registry, pod, rv, rv_of, sqlite_registry,
};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// The Job REST storage's warning for a delete that relies on batch/v1's Orphan default.
const ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

fn with_finalizers(mut value: Value, finalizers: &[&str]) -> Value {
    value["metadata"]["finalizers"] = json!(finalizers);
    value
}

fn background() -> DeleteOptions {
    DeleteOptions {
        propagation: Some(Propagation::Background),
        ..Default::default()
    }
}

/// Finalizers hold an object (deletionTimestamp set) until an update removes the last one;
/// that update completes the delete, and a watcher sees DELETED.
async fn finalizers_hold_until_the_last_is_removed(registry: &Registry) {
    let created = create(
        registry,
        &CRONJOB,
        with_finalizers(
            cronjob("held", "@hourly"),
            &["example.com/hold", "example.com/more"],
        ),
    )
    .await;
    let (mut w, _) = registry
        .watch(
            &CRONJOB,
            Some("default"),
            WatchParams {
                resource_version: Some(rv(&created).to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (outcome, warnings) = registry
        .delete(&CRONJOB, "default", "held", &background())
        .await
        .unwrap();
    assert!(warnings.is_empty());
    let DeleteOutcome::Pending(marked) = outcome else {
        panic!("an object with finalizers only gets a deletionTimestamp");
    };
    assert!(marked.metadata().deletion_timestamp.is_some());
    assert_eq!(marked.metadata().deletion_grace_period_seconds, Some(0));
    let stored = registry.get(&CRONJOB, "default", "held").await.unwrap();
    assert_eq!(stored, marked);

    // Another delete changes nothing; no finalizer may be added now.
    let (again, _) = registry
        .delete(&CRONJOB, "default", "held", &background())
        .await
        .unwrap();
    assert_eq!(rv(again.object()), rv(&marked));
    let mut added = stored.clone();
    added
        .metadata_mut()
        .finalizers
        .as_mut()
        .unwrap()
        .push("example.com/late".to_owned());
    let err = registry
        .update(
            &CRONJOB,
            "default",
            "held",
            added,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
    assert!(
        err.to_string()
            .contains("no new finalizers can be added if the object is being deleted"),
        "{err}"
    );
    // An update that keeps the finalizers keeps the object and cannot clear the
    // deletionTimestamp.
    let mut relabelled = stored.clone();
    relabelled.metadata_mut().labels = Some([("step".to_owned(), "two".to_owned())].into());
    relabelled.metadata_mut().deletion_timestamp = None;
    let two = registry
        .update(
            &CRONJOB,
            "default",
            "held",
            relabelled,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap()
        .object;
    assert_eq!(
        two.metadata().deletion_timestamp,
        marked.metadata().deletion_timestamp
    );

    let mut one_left = two.clone();
    one_left.metadata_mut().finalizers = Some(vec!["example.com/more".to_owned()]);
    let one = registry
        .update(
            &CRONJOB,
            "default",
            "held",
            one_left,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap()
        .object;
    registry.get(&CRONJOB, "default", "held").await.unwrap();

    let mut none_left = one.clone();
    none_left.metadata_mut().finalizers = None;
    let last = registry
        .update(
            &CRONJOB,
            "default",
            "held",
            none_left,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap()
        .object;
    let err = registry.get(&CRONJOB, "default", "held").await.unwrap_err();
    assert_eq!(err.code(), 404);

    let mut types = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
            Ok(Some(WatchEvent::Object(t, o))) => {
                types.push(t);
                if t == WatchEventType::Deleted {
                    assert_eq!(rv(&o), rv(&last));
                    break;
                }
            }
            other => panic!("expected events up to DELETED, got {other:?}"),
        }
    }
    assert_eq!(
        types,
        [
            WatchEventType::Modified,
            WatchEventType::Modified,
            WatchEventType::Modified,
            WatchEventType::Deleted
        ]
    );
}

#[tokio::test]
async fn finalizers_hold_an_object_until_the_last_is_removed() {
    let (registry, _) = memory_registry().await;
    finalizers_hold_until_the_last_is_removed(&registry).await;
}

#[tokio::test]
async fn finalizers_hold_an_object_until_the_last_is_removed_over_sqlite() {
    let (registry, _, _dir) = sqlite_registry().await;
    finalizers_hold_until_the_last_is_removed(&registry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions_on_uid_and_resource_version_are_409() {
    // metav1.Preconditions: a mismatch is 409 Conflict with apimachinery's text.
    let s = TestServer::start(None).await;
    let created = s.json("POST", JOBS, &job("pi", json!({}))).await.json();
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    let rv = rv_of(&created);
    let delete = |body: Value| {
        let s = &s;
        async move {
            s.request(
                "DELETE",
                &format!("{JOBS}/pi"),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
        }
    };
    let r =
        delete(json!({"preconditions": {"uid": "not-the-uid"}, "propagationPolicy": "Background"}))
            .await;
    r.expect(409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert_eq!(
        r.json()["message"],
        format!(
            "Operation cannot be fulfilled on jobs.batch \"pi\": Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}"
        )
    );
    let r = delete(
        json!({"preconditions": {"resourceVersion": "1"}, "propagationPolicy": "Background"}),
    )
    .await;
    r.expect(409);
    assert_eq!(
        r.json()["message"],
        format!(
            "Operation cannot be fulfilled on jobs.batch \"pi\": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {rv}"
        )
    );
    s.get(&format!("{JOBS}/pi")).await.expect(200);
    let r = delete(json!({"preconditions": {"uid": uid, "resourceVersion": rv.to_string()}, "propagationPolicy": "Background"})).await;
    r.expect(200);
    s.get(&format!("{JOBS}/pi")).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_delete_defaults_to_orphan_with_a_warning() {
    // §4.12 / the Job strategy's DefaultGarbageCollectionPolicy: batch/v1 Jobs orphan their
    // pods unless told otherwise, and the apiserver says so in a Warning header.
    let s = TestServer::start(None).await;
    for name in ["plain", "orphan", "background", "foreground"] {
        s.json("POST", JOBS, &job(name, json!({})))
            .await
            .expect(201);
    }
    let r = s
        .request("DELETE", &format!("{JOBS}/plain"), &[], None)
        .await;
    r.expect(200);
    assert_eq!(
        r.headers_all("warning"),
        [format!("299 - \"{ORPHAN_WARNING}\"")]
    );
    let out = r.json();
    assert_eq!(out["metadata"]["finalizers"], json!(["orphan"]));
    assert!(out["metadata"]["deletionTimestamp"].is_string());
    // The garbage collector (not running here) finishes it; until then the Job is there.
    let got = s.get(&format!("{JOBS}/plain")).await;
    got.expect(200);
    assert_eq!(got.json()["metadata"]["finalizers"], json!(["orphan"]));

    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/orphan?propagationPolicy=Orphan"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    assert!(
        r.headers_all("warning").is_empty(),
        "an explicit Orphan is not warned about"
    );
    assert_eq!(r.json()["metadata"]["finalizers"], json!(["orphan"]));

    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/background"),
            &[("Content-Type", "application/json")],
            Some(br#"{"propagationPolicy":"Background"}"#.to_vec()),
        )
        .await;
    r.expect(200);
    assert!(r.headers_all("warning").is_empty());
    s.get(&format!("{JOBS}/background")).await.expect(404);

    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/foreground?propagationPolicy=Foreground"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json()["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
}

fn pod_on_node(name: &str, grace: Option<i64>) -> Value {
    let mut p = pod("default", name, &["c"], &[]);
    p["spec"]["nodeName"] = json!("node-1");
    if let Some(g) = grace {
        p["spec"]["terminationGracePeriodSeconds"] = json!(g);
    }
    p
}

fn deletion(obj: &Object) -> (Option<jiff::Timestamp>, Option<i64>) {
    (
        obj.metadata().deletion_timestamp.as_ref().map(|t| t.0),
        obj.metadata().deletion_grace_period_seconds,
    )
}

#[tokio::test]
async fn pods_on_a_node_are_deleted_gracefully_unscheduled_pods_at_once() {
    // The pod strategy's CheckGracefulDelete: a scheduled pod gets deletionTimestamp = now +
    // grace (request, else terminationGracePeriodSeconds, else 30) and stays for its kubelet;
    // an unscheduled or finished pod goes at once.
    let (registry, clock) = memory_registry().await;
    create(&registry, &POD, pod_on_node("default-grace", None)).await;
    create(&registry, &POD, pod_on_node("own-grace", Some(7))).await;
    create(&registry, &POD, pod_on_node("asked-grace", Some(7))).await;
    create(&registry, &POD, pod_on_node("forced", None)).await;
    create(&registry, &POD, pod("default", "unscheduled", &["c"], &[])).await;

    let del = |name: &'static str, grace: Option<i64>| {
        let registry = registry.clone();
        async move {
            registry
                .delete(
                    &POD,
                    "default",
                    name,
                    &DeleteOptions {
                        grace_period_seconds: grace,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .0
        }
    };
    let DeleteOutcome::Pending(p) = del("default-grace", None).await else {
        panic!("a pod on a node stops gracefully");
    };
    assert_eq!(deletion(&p), (Some(at(30)), Some(30)));
    let DeleteOutcome::Pending(p) = del("own-grace", None).await else {
        panic!()
    };
    assert_eq!(deletion(&p), (Some(at(7)), Some(7)));
    let DeleteOutcome::Pending(p) = del("asked-grace", Some(3)).await else {
        panic!()
    };
    assert_eq!(deletion(&p), (Some(at(3)), Some(3)));
    assert!(registry.get(&POD, "default", "default-grace").await.is_ok());

    // gracePeriodSeconds=0 (`--force --grace-period=0`) deletes at once.
    assert!(matches!(
        del("forced", Some(0)).await,
        DeleteOutcome::Deleted(_)
    ));
    assert!(matches!(
        del("unscheduled", None).await,
        DeleteOutcome::Deleted(_)
    ));
    for name in ["forced", "unscheduled"] {
        assert_eq!(
            registry
                .get(&POD, "default", name)
                .await
                .unwrap_err()
                .code(),
            404
        );
    }

    // A longer grace period on a repeated delete does not extend the running one.
    clock.advance(5);
    let p = del("default-grace", Some(60)).await;
    assert!(matches!(p, DeleteOutcome::Pending(_)));
    assert_eq!(deletion(p.object()), (Some(at(30)), Some(30)));
    // A pending pod deleted again with grace 0 goes.
    assert!(matches!(
        del("default-grace", Some(0)).await,
        DeleteOutcome::Deleted(_)
    ));
}

#[tokio::test]
async fn a_shorter_grace_period_moves_the_deadline_back() {
    // Upstream rest.BeforeDelete: "only a shorter grace period may be provided by a user";
    // the new deletionTimestamp is the old one moved back by the old grace period and forward
    // by the new one (not now + new grace): deleted at T0 with 30s → T0+30s; at T0+5s again
    // with 10s → T0+10s.
    let (registry, clock) = memory_registry().await;
    create(&registry, &POD, pod_on_node("p", None)).await;
    let opts = |g| DeleteOptions {
        grace_period_seconds: Some(g),
        ..Default::default()
    };
    registry
        .delete(&POD, "default", "p", &opts(30))
        .await
        .unwrap();
    clock.advance(5);
    let (outcome, _) = registry
        .delete(&POD, "default", "p", &opts(10))
        .await
        .unwrap();
    assert_eq!(deletion(outcome.object()), (Some(at(10)), Some(10)));
}

#[tokio::test]
async fn finished_pods_on_a_node_go_at_once() {
    let (registry, _) = memory_registry().await;
    let created = create(&registry, &POD, pod_on_node("done", None)).await;
    let Object::Pod(mut p) = created else {
        unreachable!()
    };
    p.status.get_or_insert_with(Default::default).phase = Some("Succeeded".to_owned());
    registry
        .update(
            &POD,
            "default",
            "done",
            Object::Pod(p),
            &WriteOptions {
                subresource: Some("status".to_owned()),
                ..Default::default()
            },
            Vec::new(),
        )
        .await
        .unwrap();
    let (outcome, _) = registry
        .delete(&POD, "default", "done", &DeleteOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, DeleteOutcome::Deleted(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletecollection_with_a_label_selector() {
    // DELETE on a collection deletes what the selectors match and answers with the list of
    // what was deleted.
    let s = TestServer::start(None).await;
    for (name, app) in [("p1", "a"), ("p2", "a"), ("p3", "b"), ("p4", "a")] {
        let mut p = pod("default", name, &["c"], &[]);
        p["metadata"]["labels"] = json!({"app": app});
        s.json("POST", PODS, &p).await.expect(201);
    }
    // A pod elsewhere with the label stays.
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .expect(201);
    let mut elsewhere = pod("other", "p1", &["c"], &[]);
    elsewhere["metadata"]["labels"] = json!({"app": "a"});
    s.json("POST", "/api/v1/namespaces/other/pods", &elsewhere)
        .await
        .expect(201);

    let r = s
        .request(
            "DELETE",
            &format!("{PODS}?labelSelector=app%3Da"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    let out = r.json();
    assert_eq!(out["kind"], "PodList");
    let mut deleted: Vec<&str> = out["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["p1", "p2", "p4"]);
    let left = s.get(PODS).await.json();
    let left: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["p3"]);
    s.get("/api/v1/namespaces/other/pods/p1").await.expect(200);

    // Field selectors work too, and dryRun deletes nothing.
    let r = s
        .request(
            "DELETE",
            &format!("{PODS}?fieldSelector=metadata.name%3Dp3&dryRun=All"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    s.get(&format!("{PODS}/p3")).await.expect(200);
    let r = s
        .request(
            "DELETE",
            &format!("{PODS}?fieldSelector=metadata.name%3Dp3"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    s.get(&format!("{PODS}/p3")).await.expect(404);
}
