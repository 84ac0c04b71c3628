//! Lists (kubectl-wire.md §1 `limit=500`, §5 list metadata): paging with selectors,
//! resourceVersionMatch, and `/metrics`.

use std::collections::BTreeSet;

use kbatch_api::registry::{ListParams, Registry};
use kbatch_core::object::{JOB, Object, POD};
use kbatch_core::selector::{FieldSelector, LabelSelector};
use serde_json::json;

use crate::common::{Next, TestServer, create, job, memory_registry, pod, rv, sqlite_registry};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// 12 pods `p00`..`p11`: tier=x on even numbers, scheduled to node-1 on multiples of 3.
async fn pods(registry: &Registry) {
    for i in 0..12 {
        let mut p = pod("default", &format!("p{i:02}"), &["c"], &[]);
        p["metadata"]["labels"] = json!({"tier": if i % 2 == 0 { "x" } else { "y" }});
        if i % 3 == 0 {
            p["spec"]["nodeName"] = json!("node-1");
        }
        create(registry, &POD, p).await;
    }
}

/// Pages through a list with `limit`, returning each page's names.
async fn page_through(registry: &Registry, mut params: ListParams) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut revisions = BTreeSet::new();
    loop {
        let page = registry.list(&POD, Some("default"), &params).await.unwrap();
        revisions.insert(page.resource_version);
        assert!(page.items.len() <= params.limit.unwrap());
        pages.push(page.items.iter().map(|o| o.name().to_owned()).collect());
        match page.continue_token {
            Some(t) => params.continue_token = Some(t),
            None => break,
        }
        assert!(pages.len() < 50, "paging does not end");
    }
    assert_eq!(revisions.len(), 1, "all pages are read at one revision");
    pages
}

fn all_once(pages: &[Vec<String>]) -> Vec<String> {
    let flat: Vec<String> = pages.iter().flatten().cloned().collect();
    let unique: BTreeSet<&String> = flat.iter().collect();
    assert_eq!(unique.len(), flat.len(), "an item came twice: {pages:?}");
    flat
}

#[tokio::test]
async fn limit_and_continue_give_every_matching_item_exactly_once() {
    let (registry, _) = memory_registry().await;
    pods(&registry).await;
    for limit in [1, 2, 4, 5, 100] {
        let pages = page_through(
            &registry,
            ListParams {
                label_selector: Some(LabelSelector::parse("tier=x").unwrap()),
                limit: Some(limit),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            all_once(&pages),
            ["p00", "p02", "p04", "p06", "p08", "p10"],
            "limit {limit}"
        );
        // Pages fill through the predicate: only the last page may be short (even empty,
        // as etcd3's GetList answers when keys that do not match follow a full page).
        let (last, full) = pages.split_last().unwrap();
        assert!(full.iter().all(|p| p.len() == limit), "{pages:?}");
        assert!(last.len() <= limit);
        let pages = page_through(
            &registry,
            ListParams {
                label_selector: Some(LabelSelector::parse("tier=x").unwrap()),
                field_selector: Some(FieldSelector::parse("spec.nodeName=node-1").unwrap()),
                limit: Some(limit),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(all_once(&pages), ["p00", "p06"], "limit {limit}");
        let pages = page_through(
            &registry,
            ListParams {
                field_selector: Some(FieldSelector::parse("spec.nodeName!=node-1").unwrap()),
                limit: Some(limit),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(all_once(&pages).len(), 8, "limit {limit}");
    }
}

#[tokio::test]
async fn continued_pages_are_one_snapshot() {
    // The continue token reads at the first page's revision: writes in between are not seen
    // and nothing is seen twice.
    let (registry, _) = memory_registry().await;
    pods(&registry).await;
    let first = registry
        .list(
            &POD,
            Some("default"),
            &ListParams {
                label_selector: Some(LabelSelector::parse("tier=x").unwrap()),
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let names: Vec<&str> = first.items.iter().map(Object::name).collect();
    assert_eq!(names, ["p00", "p02"]);
    let mut extra = pod("default", "p05a", &["c"], &[]);
    extra["metadata"]["labels"] = json!({"tier": "x"});
    create(&registry, &POD, extra).await;
    let rest = page_through(
        &registry,
        ListParams {
            label_selector: Some(LabelSelector::parse("tier=x").unwrap()),
            limit: Some(2),
            continue_token: first.continue_token.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all_once(&rest), ["p04", "p06", "p08", "p10"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_paging_with_selectors() {
    // §1: kubectl's `limit=500`; a page carries `metadata.continue` when more follow.
    let s = TestServer::start(None).await;
    pods(s.registry()).await;
    let mut seen = Vec::new();
    let mut path = format!("{PODS}?labelSelector=tier%3Dy&limit=2");
    let mut pages = 0;
    loop {
        let r = s.get(&path).await;
        r.expect(200);
        let list = r.json();
        assert_eq!(list["kind"], "PodList");
        pages += 1;
        for item in list["items"].as_array().unwrap() {
            seen.push(item["metadata"]["name"].as_str().unwrap().to_owned());
        }
        match list["metadata"]["continue"].as_str() {
            Some(c) => {
                path = format!("{PODS}?labelSelector=tier%3Dy&limit=2&continue={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ["p01", "p03", "p05", "p07", "p09", "p11"]);
    assert_eq!(pages, 3);
    // Table pages carry the token too.
    let r = s
        .request(
            "GET",
            &format!("{PODS}?limit=5"),
            &[("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 5);
    assert!(r.json()["metadata"]["continue"].is_string());
    let r = s.get(&format!("{PODS}?limit=500")).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 12);
    assert!(r.json()["metadata"].get("continue").is_none());
}

async fn exact_reads_an_older_revision(registry: &Registry) {
    let created = create(registry, &JOB, job("pi", json!({"v": "1"}))).await;
    let old = rv(&created);
    registry
        .patch(
            &JOB,
            "default",
            "pi",
            kbatch_api::registry::PatchType::Merge,
            &json!({"metadata": {"labels": {"v": "2"}}}),
            &Default::default(),
        )
        .await
        .unwrap();
    create(registry, &JOB, job("later", json!({}))).await;
    let list = registry
        .list(
            &JOB,
            Some("default"),
            &ListParams {
                resource_version: Some(old.to_string()),
                resource_version_match: Some("Exact".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.resource_version, old);
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata().labels.as_ref().unwrap()["v"], "1");
    assert_eq!(rv(&list.items[0]), old);
    // NotOlderThan (and no match) read the latest.
    for matching in [None, Some("NotOlderThan")] {
        let list = registry
            .list(
                &JOB,
                Some("default"),
                &ListParams {
                    resource_version: Some(old.to_string()),
                    resource_version_match: matching.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let names: Vec<&str> = list.items.iter().map(Object::name).collect();
        assert_eq!(names, ["later", "pi"]);
        assert_eq!(list.items[1].metadata().labels.as_ref().unwrap()["v"], "2");
    }
}

#[tokio::test]
async fn resource_version_match_exact_reads_an_older_revision() {
    let (registry, _) = memory_registry().await;
    exact_reads_an_older_revision(&registry).await;
}

#[tokio::test]
async fn resource_version_match_exact_reads_an_older_revision_over_sqlite() {
    let (registry, _, _dir) = sqlite_registry().await;
    exact_reads_an_older_revision(&registry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_resource_version_match() {
    let s = TestServer::start(None).await;
    let created = s
        .json("POST", JOBS, &job("pi", json!({"v": "1"})))
        .await
        .json();
    let old = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    s.patch(
        &format!("{JOBS}/pi"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"v": "2"}}}),
    )
    .await
    .expect(200);
    let r = s
        .get(&format!(
            "{JOBS}?resourceVersion={old}&resourceVersionMatch=Exact"
        ))
        .await;
    r.expect(200);
    assert_eq!(r.json()["metadata"]["resourceVersion"], old.as_str());
    assert_eq!(r.json()["items"][0]["metadata"]["labels"]["v"], "1");
    // Apimachinery's list option validation.
    for (q, message) in [
        (
            "resourceVersionMatch=Exact".to_owned(),
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact".to_owned(),
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ),
    ] {
        let r = s.get(&format!("{JOBS}?{q}")).await;
        r.expect(400);
        assert_eq!(r.json()["message"], message, "{q}");
    }
    let r = s
        .get(&format!(
            "{JOBS}?resourceVersion={old}&resourceVersionMatch=Newest"
        ))
        .await;
    r.expect(400);
}

#[tokio::test]
async fn a_list_at_a_compacted_revision_is_410_expired() {
    let (registry, _) = memory_registry().await;
    let created = create(&registry, &JOB, job("pi", json!({}))).await;
    create(&registry, &JOB, job("other", json!({}))).await;
    registry
        .delete(
            &JOB,
            "default",
            "other",
            &kbatch_api::registry::DeleteOptions {
                propagation: Some(kbatch_api::registry::Propagation::Background),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let current = registry.store().current_revision().await.unwrap();
    registry.store().compact(current).await.unwrap();
    let err = registry
        .list(
            &JOB,
            Some("default"),
            &ListParams {
                resource_version: Some(rv(&created).to_string()),
                resource_version_match: Some("Exact".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 410);
    assert_eq!(err.reason(), "Expired");
}

#[tokio::test]
async fn a_list_at_a_compacted_revision_uses_the_list_wording() {
    // Upstream etcd3/errors.go interpretListError: "The resourceVersion for the provided list
    // is too old."
    let (registry, _) = memory_registry().await;
    let created = create(&registry, &JOB, job("pi", json!({}))).await;
    create(&registry, &JOB, job("other", json!({}))).await;
    let current = registry.store().current_revision().await.unwrap();
    registry.store().compact(current).await.unwrap();
    let err = registry
        .list(
            &JOB,
            Some("default"),
            &ListParams {
                resource_version: Some(rv(&created).to_string()),
                resource_version_match: Some("Exact".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The resourceVersion for the provided list is too old."
    );
}

#[tokio::test]
async fn an_expired_continue_token_is_410_expired() {
    let (registry, _) = memory_registry().await;
    pods(&registry).await;
    let first = registry
        .list(
            &POD,
            Some("default"),
            &ListParams {
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut p = registry.get(&POD, "default", "p11").await.unwrap();
    p.metadata_mut().labels = Some([("tier".to_owned(), "z".to_owned())].into());
    registry
        .update(&POD, "default", "p11", p, &Default::default(), Vec::new())
        .await
        .unwrap();
    let current = registry.store().current_revision().await.unwrap();
    registry.store().compact(current).await.unwrap();
    let err = registry
        .list(
            &POD,
            Some("default"),
            &ListParams {
                limit: Some(2),
                continue_token: first.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 410);
    assert_eq!(err.reason(), "Expired");
}

#[tokio::test]
async fn an_expired_continue_token_uses_the_continue_wording() {
    // Upstream etcd3 interpretListError with paging: "The provided continue parameter is too
    // old to display a consistent list result. You can start a new list without the continue
    // parameter[, or use the continue token in this response ...]".
    let (registry, _) = memory_registry().await;
    pods(&registry).await;
    let first = registry
        .list(
            &POD,
            Some("default"),
            &ListParams {
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut p = registry.get(&POD, "default", "p11").await.unwrap();
    p.metadata_mut().labels = Some([("tier".to_owned(), "z".to_owned())].into());
    registry
        .update(&POD, "default", "p11", p, &Default::default(), Vec::new())
        .await
        .unwrap();
    let current = registry.store().current_revision().await.unwrap();
    registry.store().compact(current).await.unwrap();
    let err = registry
        .list(
            &POD,
            Some("default"),
            &ListParams {
                limit: Some(2),
                continue_token: first.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ),
        "{err}"
    );
}

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_long_running_watches() {
    let s = TestServer::start(None).await;
    s.get(JOBS).await.expect(200);
    s.get(JOBS).await.expect(200);
    s.get(&format!("{JOBS}/nope")).await.expect(404);
    s.json("POST", JOBS, &job("pi", json!({})))
        .await
        .expect(201);
    s.patch(
        &format!("{JOBS}/pi"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .await
    .expect(200);
    s.get("/api/v1/namespaces/default/pods").await.expect(200);

    let r = s.get("/metrics").await;
    r.expect(200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    for (series, value) in [
        (
            r#"apiserver_request_total{verb="LIST",resource="jobs",code="200"}"#,
            2.0,
        ),
        (
            r#"apiserver_request_total{verb="GET",resource="jobs",code="404"}"#,
            1.0,
        ),
        (
            r#"apiserver_request_total{verb="POST",resource="jobs",code="201"}"#,
            1.0,
        ),
        (
            r#"apiserver_request_total{verb="PATCH",resource="jobs",code="200"}"#,
            1.0,
        ),
        (
            r#"apiserver_request_total{verb="LIST",resource="pods",code="200"}"#,
            1.0,
        ),
    ] {
        assert_eq!(metric(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        text.contains(r#"apiserver_request_duration_seconds_count{verb="LIST",resource="jobs"} 2"#),
        "{text}"
    );

    let mut w = s
        .stream(
            &format!("{JOBS}?watch=true&resourceVersion=0&timeoutSeconds=2"),
            &[],
        )
        .await;
    w.next().await;
    let gauge = r#"apiserver_longrunning_requests{verb="WATCH",resource="jobs"}"#;
    let text = s.get("/metrics").await.text();
    assert_eq!(metric(&text, gauge), Some(1.0), "{text}");
    assert_eq!(
        metric(
            &text,
            r#"apiserver_request_total{verb="WATCH",resource="jobs",code="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
    match w.next_within(std::time::Duration::from_secs(5)).await {
        Next::End => {}
        Next::Line(l) => panic!("unexpected {l}"),
        Next::Quiet => panic!("the watch did not time out"),
    }
    crate::common::eventually("the watch gauge to drop", || async {
        metric(&s.get("/metrics").await.text(), gauge) == Some(0.0)
    })
    .await;
}
