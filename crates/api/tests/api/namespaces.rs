//! Namespaces (kubectl-wire.md §8.10): the system namespaces, the NamespaceLifecycle
//! admission (missing → 404, terminating → 403), and deleting a namespace with its content.

use kbatch_api::registry::{ListParams, Registry, WriteOptions};
use kbatch_core::object::{NAMESPACE, Object, POD};
use serde_json::{Value, json};

use crate::common::{TestServer, cronjob, eventually, job, memory_registry, pod};

#[tokio::test]
async fn bootstrap_creates_the_system_namespaces_once() {
    let (registry, _) = memory_registry().await;
    let list = registry
        .list(&NAMESPACE, None, &ListParams::default())
        .await
        .unwrap();
    let names: Vec<&str> = list.items.iter().map(Object::name).collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    for ns in &list.items {
        let Object::Namespace(n) = ns else {
            unreachable!()
        };
        assert_eq!(n.status.as_ref().unwrap().phase.as_deref(), Some("Active"));
        assert_eq!(
            n.spec.as_ref().unwrap().finalizers.as_deref(),
            Some(&["kubernetes".to_owned()][..])
        );
        assert_eq!(
            n.metadata.labels.as_ref().unwrap()["kubernetes.io/metadata.name"],
            ns.name()
        );
        assert!(n.metadata.uid.is_some() && n.metadata.creation_timestamp.is_some());
    }
    // A restart bootstraps again without writing anything.
    let before = registry.store().current_revision().await.unwrap();
    registry.bootstrap().await.unwrap();
    assert_eq!(registry.store().current_revision().await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_into_a_missing_namespace_is_404() {
    // §8.10: `namespaces "x" not found`.
    let s = TestServer::start(None).await;
    let mut j = job("pi", json!({}));
    j["metadata"]["namespace"] = json!("x");
    let r = s.json("POST", "/apis/batch/v1/namespaces/x/jobs", &j).await;
    r.expect(404);
    let status = r.json();
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "namespaces \"x\" not found");
    assert_eq!(status["details"]["name"], "x");
    assert_eq!(status["details"]["kind"], "namespaces");
    // The same for server-side apply's create.
    let r = s
        .patch(
            "/apis/batch/v1/namespaces/x/jobs/pi?fieldManager=m",
            "application/apply-patch+yaml",
            &j,
        )
        .await;
    r.expect(404);
    assert_eq!(r.json()["message"], "namespaces \"x\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_through_the_api_takes_no_content_at_once() {
    // The registry answers NamespaceLifecycle from a watch-fed copy of the namespaces
    // (registry/lister.rs); its own delete must not be hidden by that copy's lag.
    let s = TestServer::start(None).await;
    for round in 0..5 {
        let ns = format!("brief-{round}");
        s.json(
            "POST",
            "/api/v1/namespaces",
            &json!({"metadata": {"name": ns}}),
        )
        .await
        .expect(201);
        // Creates until the copy has the namespace (a miss reads the store: all succeed).
        for i in 0..20 {
            let mut j = job(&format!("j{i}"), json!({}));
            j["metadata"]["namespace"] = json!(ns);
            s.json("POST", &format!("/apis/batch/v1/namespaces/{ns}/jobs"), &j)
                .await
                .expect(201);
        }
        s.request("DELETE", &format!("/api/v1/namespaces/{ns}"), &[], None)
            .await
            .expect(200);
        let mut j = job("late", json!({}));
        j["metadata"]["namespace"] = json!(ns);
        let r = s
            .json("POST", &format!("/apis/batch/v1/namespaces/{ns}/jobs"), &j)
            .await;
        assert!(
            r.status == 403 || r.status == 404,
            "round {round}: {} {}",
            r.status,
            r.text()
        );
    }
}

/// Marks namespace `name` as terminating directly in the store, as a delete leaves it (and
/// as a stopped server may have left it): deletionTimestamp and phase Terminating.
async fn mark_terminating(s: &TestServer, name: &str) {
    let key = Registry::key(&NAMESPACE, "", name);
    let kv = s.store.get(&key).await.unwrap();
    let mut value: Value = serde_json::from_slice(&kv.value).unwrap();
    value["metadata"]["deletionTimestamp"] = json!("2026-11-27T10:00:00Z");
    value["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    value["status"]["phase"] = json!("Terminating");
    s.store
        .update(&key, serde_json::to_vec(&value).unwrap(), kv.mod_revision)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_namespace_refuses_new_content_and_resumes_after_a_restart() {
    // NamespaceLifecycle: 403 Forbidden `unable to create new content in namespace N because
    // it is being terminated`. A namespace left terminating by a stopped server is finished
    // by the next bootstrap.
    let s = TestServer::start(None).await;
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "doomed"}}),
    )
    .await
    .expect(201);
    let mut j = job("early", json!({}));
    j["metadata"]["namespace"] = json!("doomed");
    s.json("POST", "/apis/batch/v1/namespaces/doomed/jobs", &j)
        .await
        .expect(201);
    mark_terminating(&s, "doomed").await;

    let mut j = job("late", json!({}));
    j["metadata"]["namespace"] = json!("doomed");
    // The mark went to the store behind the registry's back, as another server's would: the
    // registry's copy of the namespaces (registry/lister.rs) sees it one watch event later.
    // Dry runs pass through the same admission without creating anything.
    let mut refused = false;
    for _ in 0..200 {
        let r = s
            .json(
                "POST",
                "/apis/batch/v1/namespaces/doomed/jobs?dryRun=All",
                &j,
            )
            .await;
        if r.status == 403 {
            refused = true;
            break;
        }
        r.expect(201);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the terminating namespace was never seen");
    let r = s
        .json("POST", "/apis/batch/v1/namespaces/doomed/jobs", &j)
        .await;
    r.expect(403);
    let status = r.json();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["code"], 403);
    assert_eq!(
        status["message"],
        "jobs.batch \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    assert_eq!(status["details"]["name"], "late");
    // Server-side apply's create is refused the same way; updates of what is there are not.
    let r = s
        .patch(
            "/apis/batch/v1/namespaces/doomed/jobs/late?fieldManager=m",
            "application/apply-patch+yaml",
            &j,
        )
        .await;
    r.expect(403);
    s.patch(
        "/apis/batch/v1/namespaces/doomed/jobs/early",
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"still": "writable"}}}),
    )
    .await
    .expect(200);

    // "Restart": bootstrap resumes the deletion.
    s.registry().bootstrap().await.unwrap();
    eventually("the namespace to go", || async {
        s.get("/api/v1/namespaces/doomed").await.status == 404
    })
    .await;
    s.get("/apis/batch/v1/namespaces/doomed/jobs/early")
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_sets_its_deletion_timestamp() {
    // Upstream namespace REST Delete: a namespace with spec.finalizers gets
    // deletionTimestamp and phase Terminating; NamespaceLifecycle then refuses new content.
    let s = TestServer::start(None).await;
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "doomed"}}),
    )
    .await
    .expect(201);
    let mut held = pod("doomed", "held", &["c"], &[]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    s.json("POST", "/api/v1/namespaces/doomed/pods", &held)
        .await
        .expect(201);
    let r = s
        .request("DELETE", "/api/v1/namespaces/doomed", &[], None)
        .await;
    r.expect(200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert!(
        r.json()["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.text()
    );
    let mut j = job("late", json!({}));
    j["metadata"]["namespace"] = json!("doomed");
    s.json("POST", "/apis/batch/v1/namespaces/doomed/jobs", &j)
        .await
        .expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_held_by_a_finalizer_keeps_the_namespace_until_released() {
    let s = TestServer::start(None).await;
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "doomed"}}),
    )
    .await
    .expect(201);
    let mut held = pod("doomed", "held", &["c"], &[]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    s.json("POST", "/api/v1/namespaces/doomed/pods", &held)
        .await
        .expect(201);
    let r = s
        .request("DELETE", "/api/v1/namespaces/doomed", &[], None)
        .await;
    r.expect(200);
    assert_eq!(r.json()["kind"], "Namespace");
    assert_eq!(r.json()["status"]["phase"], "Terminating");

    // The held pod is marked; the namespace waits for it.
    let registry = s.registry().clone();
    eventually("the pod to be marked for deletion", || {
        let registry = registry.clone();
        async move {
            registry
                .get(&POD, "doomed", "held")
                .await
                .is_ok_and(|p| p.metadata().deletion_timestamp.is_some())
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = s.get("/api/v1/namespaces/doomed").await;
    r.expect(200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");

    let mut p = registry.get(&POD, "doomed", "held").await.unwrap();
    p.metadata_mut().finalizers = None;
    registry
        .update(
            &POD,
            "doomed",
            "held",
            p,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    eventually("the namespace to go", || async {
        s.get("/api/v1/namespaces/doomed").await.status == 404
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_its_content_then_itself() {
    let s = TestServer::start(None).await;
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team"}}),
    )
    .await
    .expect(201);
    let mut j = job("j", json!({}));
    j["metadata"]["namespace"] = json!("team");
    s.json("POST", "/apis/batch/v1/namespaces/team/jobs", &j)
        .await
        .expect(201);
    let mut cj = cronjob("cj", "@hourly");
    cj["metadata"]["namespace"] = json!("team");
    s.json("POST", "/apis/batch/v1/namespaces/team/cronjobs", &cj)
        .await
        .expect(201);
    s.json(
        "POST",
        "/api/v1/namespaces/team/pods",
        &pod("team", "p", &["c"], &[]),
    )
    .await
    .expect(201);
    // Content of other namespaces stays.
    s.json(
        "POST",
        "/apis/batch/v1/namespaces/default/jobs",
        &job("j", json!({})),
    )
    .await
    .expect(201);

    s.request("DELETE", "/api/v1/namespaces/team", &[], None)
        .await
        .expect(200);
    eventually("the namespace to go", || async {
        s.get("/api/v1/namespaces/team").await.status == 404
    })
    .await;
    for path in [
        "/apis/batch/v1/namespaces/team/jobs",
        "/apis/batch/v1/namespaces/team/cronjobs",
        "/api/v1/namespaces/team/pods",
    ] {
        let r = s.get(path).await;
        r.expect(200);
        assert_eq!(r.json()["items"], json!([]), "{path}");
    }
    s.get("/apis/batch/v1/namespaces/default/jobs/j")
        .await
        .expect(200);
    // The name can be used again.
    s.json(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team"}}),
    )
    .await
    .expect(201);
}
